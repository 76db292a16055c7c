//! A clip's samples, read by the sampled-clip source ([`crate::pipeline::clip`]: `--frames K`
//! spread over what the clip holds, or one every `--every S` seconds) and sent to the encoder's
//! thread.

#![forbid(unsafe_code)]

use std::sync::atomic::AtomicBool;

use super::{ClipInput, Sample, MAX_HELD_PER_CLIP, MAX_SAMPLED_PER_CLIP};
use crate::error::Error;
use crate::image::{ChannelOrder, Fit};
use crate::pipeline::clip::sample_clip;
pub use crate::pipeline::clip::spread;

/// A decoded, sampled frame of clip `clip`, at the encoder's size.
pub(super) struct Sampled {
    pub clip: usize,
    pub index: u64,
    pub pts: f64,
    pub frame: crate::video::Frame,
}

pub(super) enum Msg {
    Frame(Sampled),
    /// The clip's decoding ended: how many frames it sent, its duration, its error.
    Done {
        clip: usize,
        sent: usize,
        duration: Option<f64>,
        error: Option<String>,
    },
}

/// Decodes clip `i`'s sampled frames into `tx` (the sampled-clip source,
/// [`crate::pipeline::clip::sample_clip`]): (frames sent, duration, error). A clip that fails part
/// way keeps the frames sent before the error, and the error says where.
#[allow(clippy::too_many_arguments)]
pub(super) fn decode_clip(
    i: usize,
    clip: &ClipInput,
    sample: Sample,
    size: u32,
    order: ChannelOrder,
    fit: Fit,
    pool: &crate::video::FramePool,
    tx: &crossbeam_channel::Sender<Msg>,
    stop: &AtomicBool,
) -> (usize, Option<f64>, Option<String>) {
    let out = crate::video::OutputFormat { width: size, height: size, order, fit };
    let hand = |frame: crate::video::Frame| tx.send(Msg::Frame(Sampled { clip: i, index: frame.index, pts: frame.pts, frame })).is_ok();
    let (sent, duration, result) = sample_clip(&clip.path, sample, out, MAX_HELD_PER_CLIP, MAX_SAMPLED_PER_CLIP, pool, stop, &hand);
    let result = result.and_then(|_| {
        if sent == MAX_SAMPLED_PER_CLIP {
            return Err(Error::InvalidOption {
                option: "--every",
                reason: format!(
                    "{}: stopped at {MAX_SAMPLED_PER_CLIP} sampled frames (the frames before are kept); use a longer interval",
                    clip.path.display()
                ),
            });
        }
        Ok(())
    });
    (sent, duration, result.err().map(|e| e.to_string()))
}
