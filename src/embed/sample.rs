//! A clip's samples: which frames (`--frames K` spread over what the clip holds, or one every
//! `--every S` seconds), decoded (sparsely where the clip's packets allow) into the pool and sent
//! to the encoder's thread.

#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{ClipInput, Sample, MAX_HELD_PER_CLIP, MAX_SAMPLED_PER_CLIP};
use crate::error::{Error, Result};
use crate::image::{ChannelOrder, Fit};

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

/// The decode indices to keep of a clip of `n` frames: the middle frame of each of `k` equal parts.
pub fn spread(n: u64, k: u32) -> BTreeSet<u64> {
    let k = u64::from(k);
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|i| ((2 * i + 1) * n) / (2 * k)).collect()
}

/// Decodes clip `i`'s sampled frames into `tx`: (frames sent, duration, error). A clip that
/// fails part way keeps the frames sent before the error, and the error says where.
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
    let mut sent = 0;
    let mut duration = None;
    let out = crate::video::OutputFormat { width: size, height: size, order, fit };
    let result = (|| -> Result<()> {
        let mut sampling = crate::video::Sampling::default();
        if let Sample::Every(s) = sample {
            sampling.max_fps = Some(1.0 / s);
        }
        let mut dec = crate::video::Decoder::open_threads(&clip.path, sampling, out, 1)?;
        let info = dec.info().clone();
        duration = info.duration;
        // The frames a header's count promised: when the clip holds fewer (a constant-rate AVI
        // with dropped frames declares them all), the samples are spread again over what it holds.
        let mut promised = None;
        if let Sample::Frames(k) = sample {
            // The frames the clip holds, counted from its packets (the decoding that follows is
            // sparse: see `Decoder::select`); where they cannot say, its header's count.
            let declared = info.declared_frames.or_else(|| match (info.duration, info.fps) {
                (Some(d), Some(f)) if d > 0.0 && f > 0.0 => Some((d * f).floor() as u64),
                _ => None,
            });
            let counted = dec.count_frames();
            if let (Some(holds), Some(n)) = (counted, declared) {
                if holds < n && (spread(n, k).range(..holds).count() as u64) < u64::from(k).min(holds) {
                    log::warn!(
                        "{}: its header declares {n} frames, it holds {holds}: the {k} samples are spread over those",
                        clip.path.display()
                    );
                }
            }
            match counted.or(declared) {
                Some(n) if n > 0 => {
                    dec.select(Arc::new(spread(n, k)));
                    promised = (counted.is_none() && k <= MAX_HELD_PER_CLIP).then_some((n, k));
                }
                // Length unknown: the first K frames one second apart.
                _ => {
                    dec = {
                        let s = crate::video::Sampling { max_fps: Some(1.0), ..crate::video::Sampling::default() };
                        crate::video::Decoder::open_threads(&clip.path, s, out, 1)?
                    }
                }
            }
        }
        let limit = match sample {
            Sample::Frames(k) => k as usize,
            Sample::Every(_) => MAX_SAMPLED_PER_CLIP,
        };
        // With a promised count the samples are held until the clip is known to hold it.
        let mut held: Vec<crate::video::Frame> = Vec::new();
        let send = |frame: crate::video::Frame, sent: &mut usize| -> bool {
            let s = Sampled { clip: i, index: frame.index, pts: frame.pts, frame };
            let ok = tx.send(Msg::Frame(s)).is_ok();
            *sent += ok as usize;
            ok
        };
        // An error part way: the samples held are sent (kept), then the error.
        let fail = |held: &mut Vec<crate::video::Frame>, sent: &mut usize, e: Error| -> Result<()> {
            held.drain(..).for_each(|f| _ = send(f, sent));
            Err(e)
        };
        // The file source's one frame loop (`pipeline::visit_frames`), until the samples are in,
        // the clip ends (then `ended`), or the job stops.
        let mut stopped = stop.load(Ordering::Relaxed) || limit == 0;
        let visited = if stopped {
            Ok(0)
        } else {
            crate::pipeline::visit_frames(&mut dec, pool, &mut |frame| {
                if promised.is_some() {
                    held.push(frame);
                } else if !send(frame, &mut sent) {
                    stopped = true;
                    return Ok(Some(false));
                }
                let more = sent + held.len() < limit && !stop.load(Ordering::Relaxed);
                stopped |= !more;
                Ok(Some(more))
            })
        };
        if let Err(e) = visited {
            return fail(&mut held, &mut sent, e);
        }
        let ended = !stopped;
        if let (Some((n, k)), true) = (promised, ended) {
            let holds = dec.stats().decoded;
            if holds < n && (held.len() as u64) < u64::from(k).min(holds) {
                log::warn!(
                    "{}: its header declares {n} frames, it holds {holds}: the {k} samples are spread over those",
                    clip.path.display()
                );
                held.clear();
                let mut again = crate::video::Decoder::open_threads(&clip.path, crate::video::Sampling::default(), out, 1)?;
                again.select(Arc::new(spread(holds, k)));
                let mut keep = |frame: crate::video::Frame| {
                    held.push(frame);
                    Ok(Some(held.len() < k as usize))
                };
                if let Err(e) = crate::pipeline::visit_frames(&mut again, pool, &mut keep) {
                    return fail(&mut held, &mut sent, e);
                }
            }
        }
        for frame in held {
            if !send(frame, &mut sent) {
                break;
            }
        }
        if let Sample::Frames(k) = sample {
            if sent < k as usize && !stop.load(Ordering::Relaxed) {
                log::warn!("{}: {sent} frames sampled of the {k} asked (the clip holds no more)", clip.path.display());
            }
        }
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
    })();
    (sent, duration, result.err().map(|e| e.to_string()))
}
