//! Parallel inference workers: a detector's batch split into per-worker calls that run at once,
//! each on its own model instance (an ONNX Runtime session, or an OpenVINO infer request on its own
//! CPU stream) with its share of the threads, the results joined back in slot order. Results
//! equal one worker's, frame by frame, whatever the split (tests/it/workers.rs).
//!
//! Measured on this project's 2-core machines (NanoDet-g 416, the README's table): two workers of
//! one thread make 1.3-1.5x the frames per second of one worker of two threads, for fp32 and INT8
//! alike, because one small model call does not keep two threads busy.
#![forbid(unsafe_code)]

use std::path::Path;

use super::backend::{Backend, OutputView};
use crate::detect::{nms, DecodeParams, Detection, OutputDecoder, TensorView};
use crate::error::{Error, Result};
use crate::image::Transform;

/// Most inference workers a model may be given.
pub const MAX_WORKERS: usize = 64;
/// Workers chosen automatically at most (one per thread up to this many).
pub const AUTO_WORKERS: usize = 4;

/// How many workers and threads per worker for `threads` inference threads in all (0: one per
/// core) and `workers` (0: automatic, one per thread up to [`AUTO_WORKERS`]).
pub fn plan(threads: usize, workers: usize) -> (usize, usize) {
    let total = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let n = if workers == 0 { total.clamp(1, AUTO_WORKERS) } else { workers };
    (n, (total / n).max(1))
}

/// One worker: its model instance and its candidate buffer.
pub(crate) struct Worker {
    pub backend: Backend,
    candidates: Vec<Detection>,
}

impl Worker {
    pub(crate) fn new(backend: Backend) -> Self {
        Self { backend, candidates: Vec::new() }
    }
}

/// What every worker of a detector shares for one call.
pub(crate) struct Call<'a> {
    pub model: &'a Path,
    pub input: &'a str,
    /// Floats per frame, and the per-frame shape after the batch dimension.
    pub frame_len: usize,
    pub frame_shape: [usize; 3],
    pub outputs: &'a [String],
    pub decoder: &'a OutputDecoder,
    /// Decode parameters per slot (frames of different jobs may differ).
    pub params: &'a [&'a DecodeParams],
    /// Frames per worker call; with `fixed`, every call feeds exactly that many.
    pub per_call: usize,
    pub fixed: bool,
}

/// Seconds of one call: inference and output decoding (+ NMS), the longest worker's.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seconds {
    pub inference: f64,
    pub decode: f64,
}

/// Runs the first `n` frames of the host batch `buf` (slot-major) on `workers`, `call.per_call`
/// frames per worker, and returns each frame's detections mapped by `transforms`, in slot order.
pub(crate) fn run_host(
    workers: &mut [Worker],
    call: &Call,
    buf: &[f32],
    n: usize,
    transforms: &[Transform],
) -> Result<(Vec<Vec<Detection>>, Seconds)> {
    let per = call.per_call.max(1);
    let chunks: Vec<(usize, usize)> = (0..n).step_by(per).map(|s| (s, per.min(n - s))).collect();
    if chunks.len() > workers.len() {
        return Err(Error::State(format!("{n} frames for {} workers of {per} frames each", workers.len())));
    }
    let one = |w: &mut Worker, (start, k): (usize, usize)| -> Result<(Vec<Vec<Detection>>, Seconds)> {
        let fed = if call.fixed { per } else { k };
        let data = &buf[start * call.frame_len..(start + fed) * call.frame_len];
        let [a, b, c] = call.frame_shape;
        let t0 = std::time::Instant::now();
        let mut t1 = t0;
        let Worker { backend, candidates } = w;
        let dets = backend.run(call.model, call.input, &[fed, a, b, c], data, call.outputs, |views| {
            t1 = std::time::Instant::now();
            decode(call.model, call.decoder, views, k, &transforms[start..start + k], &call.params[start..start + k], candidates)
        })?;
        let secs = Seconds { inference: (t1 - t0).as_secs_f64(), decode: t1.elapsed().as_secs_f64() };
        Ok((dets, secs))
    };
    let (first, rest) = workers.split_first_mut().expect("a detector has a worker");
    if chunks.len() == 1 {
        return one(first, chunks[0]);
    }
    let parts: Vec<Result<(Vec<Vec<Detection>>, Seconds)>> = std::thread::scope(|s| {
        let handles: Vec<_> = rest.iter_mut().zip(&chunks[1..]).map(|(w, &c)| s.spawn(move || one(w, c))).collect();
        let mut parts = vec![one(first, chunks[0])];
        for h in handles {
            parts.push(h.join().unwrap_or_else(|_| Err(Error::Pipeline("an inference worker panicked".into()))));
        }
        parts
    });
    let mut all = Vec::with_capacity(n);
    let mut secs = Seconds::default();
    for p in parts {
        let (dets, s) = p?;
        all.extend(dets);
        secs.inference = secs.inference.max(s.inference);
        secs.decode = secs.decode.max(s.decode);
    }
    Ok((all, secs))
}

/// The detections of the first `transforms.len()` frames of one call's outputs, checked against
/// the decoder's shapes, decoded, NMS'd and mapped back to source pixels.
pub(crate) fn decode(
    model: &Path,
    decoder: &OutputDecoder,
    views: &[OutputView],
    k: usize,
    transforms: &[Transform],
    params: &[&DecodeParams],
    candidates: &mut Vec<Detection>,
) -> Result<Vec<Vec<Detection>>> {
    decoder
        .check_shapes(views.iter().map(|v| (v.name, v.shape)), false)
        .map_err(|reason| Error::ModelMismatch { path: model.to_path_buf(), reason })?;
    let tv: Vec<TensorView> = views.iter().map(|v| TensorView { shape: v.shape, data: v.data }).collect();
    let mut results = Vec::with_capacity(k);
    for ((b, tf), params) in transforms.iter().enumerate().take(k).zip(params) {
        candidates.clear();
        decoder.decode(&tv, b, params, candidates);
        if decoder.needs_nms() {
            nms(candidates, params.nms_iou, params.max_detections);
        } else {
            candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
            candidates.truncate(params.max_detections);
        }
        let dets: Vec<Detection> = candidates
            .iter()
            .map(|d| Detection {
                bbox: tf.apply(d.bbox),
                keypoints: d.keypoints.as_ref().map(|k| {
                    k.iter()
                        .map(|&[x, y, c]| {
                            let [x, y] = tf.apply_point(x, y);
                            [x, y, c]
                        })
                        .collect()
                }),
                ..*d
            })
            .filter(|d| d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1])
            .collect();
        results.push(dets);
    }
    Ok(results)
}
