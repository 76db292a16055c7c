//! Video input: FFmpeg demux + decode, sampling, conversion with swscale into pooled buffers.
//!
//! ```text
//!  file ──▶ demux ──▶ decode (frame threads) ──▶ sample (start/duration/stride/max-fps)
//!        ──▶ swscale (colour conversion + resize, straight into a pooled buffer) ──▶ Frame
//! ```
//!
//! [`Decoder`] is the synchronous core; [`spawn`] runs it on its own thread feeding a bounded
//! channel, which is how the pipeline uses it. Raw FFmpeg pointers never leave this module.

#[cfg(feature = "video")]
mod decode;
pub mod guard;
#[cfg(feature = "video")]
mod open;
mod pool;
pub mod rotate;
#[cfg(feature = "video")]
mod sparse;
#[cfg(not(feature = "video"))]
mod stand_in;
mod thread;

#[cfg(feature = "video")]
pub use decode::{Converter, Decoder, Nv12, Picture};
#[cfg(feature = "video")]
pub use open::{init, is_url, probe, reads_once};
#[cfg(not(feature = "video"))]
pub use stand_in::{init, is_url, probe, reads_once, Converter, Decoder, Nv12, Picture};
pub use thread::{spawn, spawn_selected, spawn_with, DecodeThread};

pub use pool::{FramePool, PooledBuf};

use std::path::PathBuf;

use crate::error::{Error, Result};
pub use crate::image::{ChannelOrder, Fit, FrameView, Transform};

/// What the decoder converts each kept frame into: packed 8-bit, 3 channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputFormat {
    /// Output width; 0 keeps the source width (and then `height` must be 0 too).
    pub width: u32,
    /// Output height; 0 keeps the source height.
    pub height: u32,
    pub order: ChannelOrder,
    pub fit: Fit,
}

/// Which decoded frames are kept. Times are in seconds of presentation time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Keep every `stride`-th frame of the selected range (>= 1).
    pub stride: u32,
    /// Keep at most this many frames per second of video time.
    pub max_fps: Option<f64>,
    /// Skip frames before this time.
    pub start: f64,
    /// Stop after this much video time from `start`.
    pub duration: Option<f64>,
    /// Only the stream's key frames (I-frames, its random-access points; the stride and the rate
    /// then count key frames). Where the packets number the frames, only those frames are
    /// decoded (a seek to each); elsewhere every frame is decoded and the key frames kept. Decode
    /// indices stay those of a full decode.
    pub iframes: bool,
}

impl Default for Sampling {
    fn default() -> Self {
        Self { stride: 1, max_fps: None, start: 0.0, duration: None, iframes: false }
    }
}

impl Sampling {
    /// Checks the values; each wrong one is an [`Error::InvalidOption`] naming the option.
    pub fn validate(&self) -> Result<()> {
        if self.stride == 0 {
            return Err(Error::InvalidOption { option: "--stride", reason: "must be >= 1".into() });
        }
        if let Some(f) = self.max_fps {
            if !(f.is_finite() && f > 0.0) {
                return Err(Error::InvalidOption { option: "--max-fps", reason: format!("must be > 0, got {f}") });
            }
        }
        if !(self.start.is_finite() && self.start >= 0.0) {
            return Err(Error::InvalidOption { option: "--start", reason: format!("must be >= 0 seconds, got {}", self.start) });
        }
        if let Some(d) = self.duration {
            if !(d.is_finite() && d > 0.0) {
                return Err(Error::InvalidOption { option: "--duration", reason: format!("must be > 0 seconds, got {d}") });
            }
        }
        Ok(())
    }
}

/// Facts about the input's video stream.
#[derive(Debug, Clone)]
pub struct VideoInfo {
    pub path: PathBuf,
    pub container: String,
    pub codec: String,
    pub stream_index: usize,
    /// Displayed size (after `rotation`).
    pub width: u32,
    pub height: u32,
    /// Clockwise degrees (0, 90, 180, 270) frames are rotated by for display, from the stream's
    /// display matrix; fovea's frames and boxes are in the displayed orientation.
    pub rotation: u32,
    /// Average frame rate, if the container states one.
    pub fps: Option<f64>,
    /// Stream duration in seconds, if known.
    pub duration: Option<f64>,
    /// Frame count declared by the container (not always present or exact).
    pub declared_frames: Option<u64>,
}

/// One kept frame, converted into a pooled buffer. Dropping it returns the buffer to the pool.
#[derive(Debug)]
pub struct Frame {
    /// Decode index of the frame in the stream, from 0, counting every decoded frame.
    pub index: u64,
    /// Presentation time in seconds.
    pub pts: f64,
    /// Packed 8-bit pixels, `width * height * 3` bytes, rows without padding.
    pub data: PooledBuf,
    pub width: u32,
    pub height: u32,
    pub order: ChannelOrder,
    /// From `data` pixels back to source pixels.
    pub transform: Transform,
    /// The decoded picture `data` was converted from, when the decoder was asked to keep it
    /// ([`Decoder::keep_pictures`]).
    pub picture: Option<Picture>,
}

/// Counters of one decode run.
#[derive(Debug, Clone, Default)]
pub struct DecodeStats {
    /// Frames that came out of the decoder.
    pub decoded: u64,
    /// Frames kept by sampling and converted.
    pub kept: u64,
    /// Seconds spent demuxing and decoding (excluding waits on a full channel).
    pub decode_s: f64,
    /// Seconds spent converting kept frames (swscale).
    pub convert_s: f64,
    /// Frame buffers the pool allocated over the run (its size once warm: constant).
    pub pool_allocations: usize,
    /// Frames lost to damaged data in the middle of the stream (their numbers are skipped, so
    /// later frames keep their true decode index).
    pub frames_missing: u64,
    /// Seeks sparse decoding made to a key frame before a wanted frame (see [`Decoder::select`]).
    pub seeks: u64,
    /// Frames of a live source (a URL) dropped, oldest first, because the pipeline was behind
    /// (never for files, whose decoding waits instead).
    pub frames_dropped: u64,
}

impl Frame {
    /// The frame's pixels as a borrowed view (rows without padding).
    pub fn view(&self) -> FrameView<'_> {
        FrameView { data: &self.data, width: self.width, height: self.height, stride: self.width as usize * 3 }
    }
}
