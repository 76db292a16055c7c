//! The sampled-clip source: a few frames of a clip (K spread over the frames it really holds, or
//! one every S seconds), decoded sparsely where its packets allow, handed on one at a time; what
//! `fovea embed` and its queries read clips with.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::video::{FramePool, OutputFormat};

/// Which frames of a clip (JSON: `{"frames": K}` or `{"every": S}`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipSample {
    /// K frames spread evenly over the clip (the middle of K equal parts).
    Frames(u32),
    /// One frame every S seconds.
    Every(f64),
}

/// The decode indices to keep of a clip of `n` frames: the middle frame of each of `k` equal parts.
pub fn spread(n: u64, k: u32) -> BTreeSet<u64> {
    let k = u64::from(k);
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|i| ((2 * i + 1) * n) / (2 * k)).collect()
}

/// Decodes the frames `sample` asks of the clip at `path` (in `out`'s size and order, from
/// `pool`), handing each to `hand` (false: stop), until the samples are in, the clip ends, `stop`
/// is set or `limit` frames were handed (`Every`). Where only the header's frame count is known
/// and `K <= hold_up_to`, the samples are held until the clip's end shows how many frames it
/// holds (a constant-rate AVI with dropped frames declares them all), then spread again over
/// those. Returns the frames handed, the clip's duration and the outcome: frames handed before
/// an error are kept (held ones are handed first).
#[allow(clippy::too_many_arguments)]
pub fn sample_clip(
    path: &Path,
    sample: ClipSample,
    out: OutputFormat,
    hold_up_to: u32,
    limit: usize,
    pool: &FramePool,
    stop: &AtomicBool,
    hand: &dyn Fn(crate::video::Frame) -> bool,
) -> (usize, Option<f64>, Result<()>) {
    let mut sent = 0;
    let mut duration = None;
    let result = (|| -> Result<()> {
        let mut sampling = crate::video::Sampling::default();
        if let ClipSample::Every(s) = sample {
            sampling.max_fps = Some(1.0 / s);
        }
        let mut dec = crate::video::Decoder::open_threads(path, sampling, out, 1)?;
        let info = dec.info().clone();
        duration = info.duration;
        // The frames a header's count promised: when the clip holds fewer (a constant-rate AVI
        // with dropped frames declares them all), the samples are spread again over what it holds.
        let mut promised = None;
        if let ClipSample::Frames(k) = sample {
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
                        path.display()
                    );
                }
            }
            match counted.or(declared) {
                Some(n) if n > 0 => {
                    dec.select(Arc::new(spread(n, k)));
                    promised = (counted.is_none() && k <= hold_up_to).then_some((n, k));
                }
                // Length unknown: the first K frames one second apart.
                _ => {
                    dec = {
                        let s = crate::video::Sampling { max_fps: Some(1.0), ..crate::video::Sampling::default() };
                        crate::video::Decoder::open_threads(path, s, out, 1)?
                    }
                }
            }
        }
        let limit = match sample {
            ClipSample::Frames(k) => k as usize,
            ClipSample::Every(_) => limit,
        };
        // With a promised count the samples are held until the clip is known to hold it.
        let mut held: Vec<crate::video::Frame> = Vec::new();
        let send = |frame: crate::video::Frame, sent: &mut usize| -> bool {
            let ok = hand(frame);
            *sent += ok as usize;
            ok
        };
        // An error part way: the samples held are sent (kept), then the error.
        let fail = |held: &mut Vec<crate::video::Frame>, sent: &mut usize, e: Error| -> Result<()> {
            held.drain(..).for_each(|f| _ = send(f, sent));
            Err(e)
        };
        // The file source's one frame loop (`visit_frames`), until the samples are in,
        // the clip ends (then `ended`), or the job stops.
        let mut stopped = stop.load(Ordering::Relaxed) || limit == 0;
        let visited = if stopped {
            Ok(0)
        } else {
            super::visit_frames(&mut dec, pool, &mut |frame| {
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
                log::warn!("{}: its header declares {n} frames, it holds {holds}: the {k} samples are spread over those", path.display());
                held.clear();
                let mut again = crate::video::Decoder::open_threads(path, crate::video::Sampling::default(), out, 1)?;
                again.select(Arc::new(spread(holds, k)));
                let mut keep = |frame: crate::video::Frame| {
                    held.push(frame);
                    Ok(Some(held.len() < k as usize))
                };
                if let Err(e) = super::visit_frames(&mut again, pool, &mut keep) {
                    return fail(&mut held, &mut sent, e);
                }
            }
        }
        for frame in held {
            if !send(frame, &mut sent) {
                break;
            }
        }
        if let ClipSample::Frames(k) = sample {
            if sent < k as usize && !stop.load(Ordering::Relaxed) {
                log::warn!("{}: {sent} frames sampled of the {k} asked (the clip holds no more)", path.display());
            }
        }
        Ok(())
    })();
    (sent, duration, result)
}
