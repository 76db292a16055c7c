//! Without the `video` feature (a build with no FFmpeg: the GPU check bundle): the decoder's names
//! exist so the rest of the crate is written once, but no video opens: [`Decoder::open`] and
//! [`probe`] answer a clear error, and no `Decoder` can be constructed.
#![forbid(unsafe_code)]

use std::path::Path;

use super::{ChannelOrder, DecodeStats, Frame, FramePool, OutputFormat, Sampling, VideoInfo};
use crate::error::{Error, Result};

fn unbuilt(path: &Path) -> Error {
    Error::Unsupported {
        what: "video",
        reason: format!("{}: this fovea was built without FFmpeg (the `video` feature): it cannot decode video", path.display()),
    }
}

/// Nothing to initialise without FFmpeg.
pub fn init() {}

/// Always an error: no FFmpeg in this build.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    Err(unbuilt(path))
}

/// Without FFmpeg nothing is read at all.
pub fn reads_once(_path: &Path) -> bool {
    false
}

/// Without FFmpeg no URL is read either.
pub fn is_url(_path: &Path) -> bool {
    false
}

/// The decoder's stand-in: cannot be constructed.
pub struct Decoder {
    never: std::convert::Infallible,
}

impl Decoder {
    /// Always an error: no FFmpeg in this build.
    pub fn open(path: &Path, _sampling: Sampling, _out: OutputFormat) -> Result<Self> {
        Err(unbuilt(path))
    }

    pub fn open_threads(path: &Path, _sampling: Sampling, _out: OutputFormat, _threads: usize) -> Result<Self> {
        Err(unbuilt(path))
    }

    pub fn skip_loop_filter(&mut self) {
        match self.never {}
    }

    pub fn keep_pictures(&mut self) {
        match self.never {}
    }

    pub fn select(&mut self, _frames: std::sync::Arc<std::collections::BTreeSet<u64>>) {
        match self.never {}
    }

    pub fn count_frames(&mut self) -> Option<u64> {
        match self.never {}
    }

    pub fn info(&self) -> &VideoInfo {
        match self.never {}
    }

    pub fn stats(&self) -> &DecodeStats {
        match self.never {}
    }

    pub fn output_size(&self) -> (u32, u32) {
        match self.never {}
    }

    pub fn next_frame(&mut self, _pool: &FramePool) -> Result<Option<Frame>> {
        match self.never {}
    }
}

/// A decoded picture: none exists without FFmpeg.
#[derive(Debug)]
pub struct Picture {
    never: std::convert::Infallible,
}

impl Picture {
    pub fn bytes(&self) -> usize {
        match self.never {}
    }
}

/// The picture converter's stand-in: nothing to convert without FFmpeg.
pub struct Converter {
    _none: (),
}

impl Converter {
    pub fn new(_out: OutputFormat, _rotation: u32) -> Self {
        Self { _none: () }
    }

    pub fn picture(&mut self, picture: &Picture, _pool: &FramePool, _index: u64, _pts: f64) -> Result<Frame> {
        match picture.never {}
    }
}

/// NV12 conversion needs swscale: an error in this build.
#[derive(Default)]
pub struct Nv12 {
    _none: (),
}

impl Nv12 {
    pub fn to_packed(&mut self, _data: &[u8], _w: u32, _h: u32, _stride: usize, _order: ChannelOrder, _out: &mut Vec<u8>) -> Result<()> {
        Err(Error::Unsupported {
            what: "pixel format",
            reason: "NV12 frames need swscale: this fovea was built without FFmpeg (the `video` feature)".into(),
        })
    }
}
