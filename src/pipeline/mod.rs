//! The detect pipeline: stages on threads joined by bounded channels, timed per stage.
//!
//! ```text
//!  decode thread ──frames──▶ preprocess thread ──model images──▶ detect: batch ▶ infer ▶ decode+NMS
//!  (FFmpeg, pool)  bounded   (resize+normalise)     bounded          ──▶ sink (JSONL, Score Vision, C callback)
//! ```
//! Frames reach the tracker and the sink strictly in decode order whatever the batch size. Frames decoded before
//! an input error are processed and handed to the sink before the error is returned.
#![forbid(unsafe_code)]

pub mod batcher;
mod blackout;
pub mod calib;
mod chain;
pub mod clip;
pub mod pairing;
pub mod pitch;
pub mod quality;
mod report;
mod roi_side;
pub mod source;
mod stages;
pub mod tiles;
pub mod verify;

pub use batcher::{Batcher, Infer, Share};
pub use chain::{ChainConfig, Stages, DEFAULT_BATCH_ROIS};
pub use report::{BoxCounts, DetectorRun, Progress, RunReport, StageTimes};
pub use stages::{FrameStages, Refetch, StageCounts, StageInput, MAX_ROI_BATCH_BYTES, PEOPLE};

use std::path::Path;
use std::time::Instant;

use crate::detect::DecodeParams;
use crate::error::{Error, Result};
use crate::image::{Fit, Transform};
use crate::infer::preprocess::Preprocessor;
pub use crate::results::FrameResult;
use crate::video::{self, Frame, OutputFormat, Sampling, VideoInfo};

/// A frame with its model input image, made by the preprocess stage.
struct Prepared {
    frame: Frame,
    tensor: Vec<f32>,
    transform: Transform,
    /// The detector sees the frame (`interval`).
    due: bool,
}

/// The detect stage's batch as the preprocessed frames fill it.
struct DetectBatch<'d> {
    detector: &'d mut dyn Infer,
    /// Frames waiting for the batch to run: the frame, its transform, whether the detector sees it.
    pending: Vec<(Frame, Transform, bool)>,
    /// The detector's slots filled.
    filled: usize,
    /// Seconds copying images into the detector's batch.
    copy_s: f64,
}

/// Detects objects in every sampled frame of `input`, handing each frame's result to `sink` in
/// decode order. Returns the report and the run's outcome: on an input error the report still
/// covers the frames processed before it.
pub fn run_detect(
    input: &Path,
    detector: &mut dyn Infer,
    params: &DecodeParams,
    sampling: Sampling,
    stages: Stages<'_>,
    sink: &mut dyn FnMut(&FrameResult) -> Result<()>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(RunReport, Result<()>)> {
    run_detect_selected(input, None, detector, params, sampling, stages, sink, progress)
}

/// [`run_detect`] on only the decode indices in `select` when given (the file is decoded up to
/// the last of them; the others are not converted or analysed): key-frame selection's second
/// stage, the detector on the candidates the quality stage chose.
#[allow(clippy::too_many_arguments)]
pub fn run_detect_selected(
    input: &Path,
    select: Option<std::sync::Arc<std::collections::BTreeSet<u64>>>,
    detector: &mut dyn Infer,
    params: &DecodeParams,
    sampling: Sampling,
    stages: Stages<'_>,
    sink: &mut dyn FnMut(&FrameResult) -> Result<()>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(RunReport, Result<()>)> {
    let start = Instant::now();
    let spec = &detector.manifest().input;
    // Frames stay at source size (later stages crop ROIs from them); the detector resizes.
    let out = OutputFormat { width: 0, height: 0, order: spec.channels, fit: Fit::Stretch };
    let batch = detector.batch();
    // Channel capacities: decoded frames, preprocessed frames. The frame pool covers both, the
    // frames the detect stage holds for its batch, and one being decoded.
    let (dec_cap, pre_cap) = (2 * batch.max(2), batch + 1);
    let mut stages = stages;
    // `interval`: the detector sees every `every`th frame; the tracker predicts the rest.
    let every = interval_period(&stages)?;
    let mut tap = stages.frames.take();
    let mut tiler = stages.tiles.take().map(|c| tiles::Tiler::new(c, &detector.manifest().labels)).transpose()?;
    if tap.is_some() && stages.teams {
        return Err(Error::State("frames cannot be handed on while results wait for the end of the clip (colour teams)".into()));
    }
    // Frames handed on are held by their taker for a while: the pool has room for them.
    let tapped = if tap.is_some() { TAP_FRAMES } else { 0 };
    // A batch fills the detector's slots: with `interval` it holds the frames between too.
    let batch_frames = batch * every as usize;
    let dec = video::spawn_selected(input, sampling, out, dec_cap, pre_cap + batch_frames + 1 + tapped, select)?;
    let mut report = RunReport::new(dec.info.clone(), detector);
    let mut post = FrameStages::new(stages, dec.info.fps.unwrap_or(30.0), spec.channels, detector.manifest().labels.clone())?;
    // With colour teams, results wait for the end of the clip.
    let mut held: Vec<FrameResult> = Vec::new();
    let hold = post.holds_until_clip_end();
    let mut sink_or_hold = |r: FrameResult| -> Result<()> {
        if hold {
            held.push(r);
            Ok(())
        } else {
            sink(&r)
        }
    };

    let on_device = detector.device_preprocessing();
    let pre = spawn_preprocess(dec.frames.clone(), detector.manifest().input.clone(), on_device, every, pre_cap)?;
    let (pre_rx, free_tx) = (&pre.rx, &pre.free);

    // The detect stage on the one source contract: each prepared frame is copied into the
    // detector's batch as it comes (the frames between, with `interval`, are only held); a batch
    // runs when the detector's slots are full (or the frames between fill it) and at the end; on
    // an input error the frames before it are detected and handed on first.
    let mut gather = DetectBatch { detector: &mut *detector, pending: Vec::with_capacity(batch), filled: 0, copy_s: 0.0 };
    let mut outcome = source::batched(
        pre_rx.iter(),
        &mut gather,
        |g, p: Prepared| {
            let t = Instant::now();
            let fill = match (p.due, on_device) {
                (false, _) => Ok(()),
                (true, true) => {
                    let f = &p.frame;
                    g.detector.fill(g.filled, &f.data, f.width, f.height, f.width as usize * 3).map(|_| ())
                }
                (true, false) => g.detector.fill_preprocessed(g.filled, &p.tensor),
            };
            g.copy_s += t.elapsed().as_secs_f64();
            fill?;
            let _ = free_tx.send(p.tensor);
            g.filled += p.due as usize;
            g.pending.push((p.frame, p.transform, p.due));
            Ok(g.filled >= batch || g.pending.len() >= batch_frames)
        },
        |g| {
            if g.pending.is_empty() {
                return Ok(());
            }
            g.filled = 0;
            run_batch(g.detector, params, &mut g.pending, &mut post, &mut tiler, &mut report, &mut sink_or_hold, progress, &mut tap)
        },
    );
    let DetectBatch { pending, copy_s, .. } = gather;
    drop(pending);
    let pre_s = pre.join()?;
    let stats = dec.join()?;
    report.frames_decoded = stats.decoded;
    report.frames_dropped = stats.frames_dropped;
    report.times.decode_s = stats.decode_s;
    report.times.preprocess_s += stats.convert_s + pre_s + copy_s;
    report.pool_buffers = stats.pool_allocations;
    if hold {
        // The clip-level steps on what was decoded (also before an input error), then the sink.
        let order = detector.manifest().input.channels;
        let clip = post.finish_clip(&mut held, &mut |select, visit| decode_again(input, order, select, visit));
        let t = Instant::now();
        let handed = held.iter().try_for_each(&mut *sink);
        report.times.output_s += t.elapsed().as_secs_f64();
        // The first error is the outcome: the input's, the clip-level steps', the sink's.
        outcome = outcome.and(clip).and(handed);
    }
    report.take_stages(&post);
    report.wall_s = start.elapsed().as_secs_f64();
    Ok((report, outcome))
}

/// The preprocess stage of the file source: resize and normalise on its own thread into recycled
/// tensor buffers, so that the detect stage only copies a finished image into its batch and runs
/// the model. Frames the detector skips (`interval`: all but every `every`th) and frames for a
/// detector that resizes on its device get only their transform.
struct PreprocessStage {
    rx: crossbeam_channel::Receiver<Result<Prepared>>,
    /// Tensor buffers back to the stage once copied into the batch.
    free: crossbeam_channel::Sender<Vec<f32>>,
    thread: std::thread::JoinHandle<f64>,
}

impl PreprocessStage {
    /// Ends the stage and returns its seconds. If the detect stage stopped early, the thread may
    /// wait to send a frame or for a free tensor buffer: closing both channels ends either wait.
    fn join(self) -> Result<f64> {
        drop(self.rx);
        drop(self.free);
        self.thread.join().map_err(|_| Error::Pipeline("preprocess thread panicked".into()))
    }
}

fn spawn_preprocess(
    frames: crossbeam_channel::Receiver<Result<Frame>>,
    spec: crate::infer::manifest::InputSpec,
    on_device: bool,
    every: u64,
    cap: usize,
) -> Result<PreprocessStage> {
    let (pre_tx, rx) = crossbeam_channel::bounded::<Result<Prepared>>(cap);
    let (free, free_rx) = crossbeam_channel::bounded::<Vec<f32>>(cap + 2);
    let (spec_w, spec_h, fit) = (spec.width, spec.height, spec.fit);
    let mut pre = Preprocessor::new(spec);
    // On the GPU the frames go to the detector as they are: the tensor buffers stay empty.
    let tensor_len = if on_device { 0 } else { pre.len() };
    for _ in 0..cap + 2 {
        free.send(vec![0.0; tensor_len]).expect("room for every buffer");
    }
    let thread = std::thread::Builder::new()
        .name("fovea-preprocess".into())
        .spawn(move || {
            let mut seconds = 0.0;
            let mut seen = 0u64;
            for item in frames.iter() {
                let item = item.and_then(|frame| {
                    let mut tensor = free_rx.recv().map_err(|_| Error::Pipeline("detect stage stopped".into()))?;
                    let t = Instant::now();
                    let due = seen % every == 0;
                    seen += 1;
                    // On the GPU the resize kernel does this work; only the transform is needed
                    // (and none for a frame the detector skips).
                    let transform = if on_device || !due {
                        Transform::new(frame.width, frame.height, spec_w, spec_h, fit)
                    } else {
                        pre.run(&frame.data, frame.width, frame.height, frame.width as usize * 3, &mut tensor)
                    };
                    seconds += t.elapsed().as_secs_f64();
                    Ok(Prepared { frame, tensor, transform, due })
                });
                let stop = item.is_err();
                if pre_tx.send(item).is_err() || stop {
                    break;
                }
            }
            seconds
        })
        .map_err(|e| Error::Pipeline(format!("cannot start preprocess thread: {e}")))?;
    Ok(PreprocessStage { rx, free, thread })
}

/// The chain's boxes-only source: the frames of a boxes file without their pixels (re-tracking
/// another detector's boxes, `fovea track`), through the stages that need no pixels (tracking),
/// each result to `sink` in order; the stage counts and the track ids issued come back. Stages
/// that read pixels (rules, a classifier, teams) are an [`Error::InvalidOption`]: they need the
/// video (`verify`). With `interval`, the tracker takes the boxes of every (N + 1)th frame of the
/// file only and predicts the frames between, as a detector interval would have given them: what
/// an interval costs the tracking, given another detector's boxes.
pub fn run_boxes(
    frames: Vec<FrameResult>,
    labels: Vec<String>,
    fps: f64,
    stages: Stages<'_>,
    sink: &mut dyn FnMut(&FrameResult) -> Result<()>,
) -> Result<(StageCounts, Option<u64>)> {
    if stages.rules.is_some() || stages.classifier.is_some() || stages.teams || stages.pitch.is_some() {
        return Err(Error::InvalidOption {
            option: "stages",
            reason: "rules, a classifier, teams and the pitch keypoints read pixels: a boxes file alone has none (give its video to `fovea verify`)".into(),
        });
    }
    let every = interval_period(&stages)?;
    let mut post = FrameStages::new(stages, fps, crate::image::ChannelOrder::Rgb, labels)?;
    let none = crate::image::FrameView { data: &[], width: 0, height: 0, stride: 0 };
    for (seen, f) in (0u64..).zip(frames) {
        // Counted in the file's frames, as the detector's interval counts the frames decoded.
        let due = seen % every == 0;
        let (detections, ids) = if due { (f.detections, f.track_ids) } else { (Vec::new(), Vec::new()) };
        let input = stages::StageInput { view: none, index: f.index, pts: f.pts, detections, ids: Some(ids), predicted: !due };
        for r in post.apply_batch(vec![input])? {
            sink(&r)?;
        }
    }
    Ok((post.counts().clone(), post.tracks_issued()))
}

/// The file source without threads: decodes `path` with `sampling` (and, when given, only the
/// frames `select`), frames in `order` at source size, handing each to `visit` until it answers
/// false; returns how many it was handed. What the clip-level steps' second pass, the in-memory
/// source's frames and the calibration set read.
pub fn decode_each(
    path: &Path,
    sampling: Sampling,
    order: crate::image::ChannelOrder,
    select: Option<&std::collections::BTreeSet<u64>>,
    pool: &video::FramePool,
    visit: &mut dyn FnMut(Frame) -> Result<bool>,
) -> Result<u64> {
    let fmt = OutputFormat { width: 0, height: 0, order, fit: Fit::Stretch };
    let mut dec = video::Decoder::open(path, sampling, fmt)?;
    if let Some(select) = select {
        dec.select(std::sync::Arc::new(select.clone()));
    }
    // The decoder hands over only the selected frames.
    visit_frames(&mut dec, pool, &mut |frame| visit(frame).map(Some))
}

/// The file source's loop over an opened decoder: each frame to `visit` until it answers
/// `Some(false)` (stop) or the frames end; `None` skips a frame without counting it. Returns how
/// many frames were counted. For callers that open the decoder themselves (the annotator, which
/// must report open errors before it starts).
pub fn visit_frames(
    dec: &mut video::Decoder,
    pool: &video::FramePool,
    visit: &mut dyn FnMut(Frame) -> Result<Option<bool>>,
) -> Result<u64> {
    let mut n = 0;
    while let Some(frame) = dec.next_frame(pool)? {
        match visit(frame)? {
            None => {}
            Some(more) => {
                n += 1;
                if !more {
                    break;
                }
            }
        }
    }
    Ok(n)
}

/// The source of a sink whose results came without their frames (the annotator after verify, or
/// after colour teams held the results to the clip's end): the opened decoder's frames, each
/// handed to `visit` with its result when it has one ([`pairing::InOrder`]). Results come from
/// `next` in decode order, each with its frame's decode index (None: no more); a frame without
/// one goes on alone. Returns how many frames were decoded.
pub fn frames_with_results<R>(
    dec: &mut video::Decoder,
    pool: &video::FramePool,
    next: &mut dyn FnMut() -> Option<(u64, R)>,
    visit: &mut pairing::Visit<'_, R>,
) -> Result<u64> {
    let mut paired = pairing::InOrder::default();
    let mut open = true;
    let n = visit_frames(dec, pool, &mut |f| {
        paired.frame(f, visit)?;
        while open && paired.waiting() {
            match next() {
                Some((index, r)) => paired.result(index, r, visit)?,
                None => open = false,
            }
        }
        if !open {
            paired.finish(visit)?;
        }
        Ok(Some(true))
    })?;
    paired.finish(visit)?;
    Ok(n)
}

/// Decodes the frames `select` of `path` again (frames in `order`, at source size), handing each
/// to `visit`; returns how many were decoded. The clip-level steps' [`Refetch`] for a file.
pub fn decode_again(
    path: &Path,
    order: crate::image::ChannelOrder,
    select: &std::collections::BTreeSet<u64>,
    visit: &mut dyn FnMut(u64, &crate::image::FrameView) -> Result<()>,
) -> Result<u64> {
    let pool = video::FramePool::new(1);
    decode_each(path, Sampling::default(), order, Some(select), &pool, &mut |frame| {
        visit(frame.index, &frame.view())?;
        Ok(true)
    })
}

/// The frames of `path` with `sampling`, in `order`, held in memory (at most `max`), for the
/// in-memory source [`run_frames`].
pub fn decode_frames(path: &Path, sampling: Sampling, order: crate::image::ChannelOrder, max: usize) -> Result<Vec<Frame>> {
    let pool = video::FramePool::new(max + 1);
    let mut frames = Vec::new();
    decode_each(path, sampling, order, None, &pool, &mut |f| {
        frames.push(f);
        Ok(frames.len() < max)
    })?;
    Ok(frames)
}

/// Frames a tap ([`Stages::frames`]) may hold at once beyond the pipeline's own.
pub const TAP_FRAMES: usize = 8;

#[allow(clippy::too_many_arguments)]
fn run_batch(
    detector: &mut dyn Infer,
    params: &DecodeParams,
    pending: &mut Vec<(Frame, Transform, bool)>,
    post: &mut FrameStages<'_>,
    tiler: &mut Option<tiles::Tiler>,
    report: &mut RunReport,
    sink: &mut dyn FnMut(FrameResult) -> Result<()>,
    progress: &mut dyn FnMut(Progress),
    tap: &mut Option<&mut dyn FnMut(Frame)>,
) -> Result<()> {
    let frames: Vec<FrameIn> = pending.iter().map(|(f, t, due)| (f.view(), f.index, f.pts, *t, *due)).collect();
    let results = detect_batch(detector, params, &frames, post, tiler, report)?;
    drop(frames);
    // The buffers go back to the pool (or on to the tap) before the sink runs.
    match tap {
        Some(t) => pending.drain(..).for_each(|(f, _, _)| t(f)),
        None => pending.clear(),
    }
    deliver(results, report, sink, progress)
}

/// A frame of a detector batch: view, index, pts, transform, and whether the detector sees it
/// (its slot filled, in order) or skips it (`interval`: the tracker predicts its boxes).
type FrameIn<'f> = (crate::image::FrameView<'f>, u64, f64, Transform, bool);

/// One batch of frames (the detector's slots filled with those it sees, in order) through the
/// model (and, with a tiler, its tiles) and the stages: the results, in order. Every file source
/// of the chain runs its batches through here; streams run [`detect`] and the stages themselves
/// (the stages outside the engine's model lock).
fn detect_batch(
    detector: &mut dyn Infer,
    params: &DecodeParams,
    frames: &[FrameIn<'_>],
    post: &mut FrameStages<'_>,
    tiler: &mut Option<tiles::Tiler>,
    report: &mut RunReport,
) -> Result<Vec<FrameResult>> {
    let seen: Vec<&FrameIn> = frames.iter().filter(|f| f.4).collect();
    let transforms: Vec<Transform> = seen.iter().map(|f| f.3).collect();
    let views: Vec<(crate::image::FrameView, u64)> = seen.iter().map(|f| (f.0, f.1)).collect();
    let before = tiler.as_ref().map_or(0, |t| t.tiles);
    let mut dets =
        if seen.is_empty() { Vec::new() } else { detect(detector, params, &views, &transforms, tiler, &mut report.times)? }.into_iter();
    report.tiles += tiler.as_ref().map_or(0, |t| t.tiles) - before;
    let mut inputs: Vec<stages::StageInput> = Vec::with_capacity(frames.len());
    for &(view, index, pts, _, due) in frames {
        let detections = if due { dets.next().unwrap_or_default() } else { Vec::new() };
        for d in &detections {
            *report.per_class.entry(d.class_id).or_default() += 1;
        }
        inputs.push(stages::StageInput { view, index, pts, detections, ids: None, predicted: !due });
    }
    post.apply_batch(inputs)
}

/// The detector's period under `interval`: it sees every `interval + 1`th frame and the tracker
/// predicts the rest. `interval` without tracking is an [`Error::InvalidOption`]: nothing would
/// show the skipped frames' objects.
pub(crate) fn interval_period(stages: &Stages<'_>) -> Result<u64> {
    if stages.interval > 0 && stages.tracking.is_none() {
        return Err(Error::InvalidOption {
            option: "interval",
            reason: "needs tracking: the tracker predicts the boxes of the frames the detector skips".into(),
        });
    }
    Ok(u64::from(stages.interval) + 1)
}

/// The detector on one batch of filled slots (`frames`: view and frame index, `transforms` their
/// letterboxes) and, with a tiler, on their tiles: each frame's detections. Inference and
/// postprocessing seconds are added to `times`; the tiler counts its tiles.
pub(crate) fn detect(
    detector: &mut dyn Infer,
    params: &DecodeParams,
    frames: &[(crate::image::FrameView, u64)],
    transforms: &[Transform],
    tiler: &mut Option<tiles::Tiler>,
    times: &mut StageTimes,
) -> Result<Vec<Vec<crate::results::Detection>>> {
    let (mut dets, t) = detector.run(frames.len(), transforms, params)?;
    times.inference_s += t.inference_s;
    times.postprocess_s += t.postprocess_s;
    if let Some(tiler) = tiler.as_mut() {
        let t = tiles::tile_pass(detector, params, frames, &mut dets, tiler)?;
        times.inference_s += t.inference_s;
        times.postprocess_s += t.postprocess_s;
    }
    Ok(dets)
}

/// Hands `results` to the sink in order, timed and counted.
fn deliver(
    results: Vec<FrameResult>,
    report: &mut RunReport,
    sink: &mut dyn FnMut(FrameResult) -> Result<()>,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    for r in results {
        let (index, pts) = (r.index, r.pts);
        report.frames_predicted += u64::from(r.predicted);
        let t = Instant::now();
        sink(r)?;
        report.times.output_s += t.elapsed().as_secs_f64();
        report.frames_processed += 1;
        progress(Progress { frame_index: index, pts, processed: report.frames_processed });
    }
    Ok(())
}

/// The chain's in-memory source: `frames` decoded beforehand (of the video `info`), in batches
/// through the detector and the stages, each result to `sink` in order. What `fovea bench`
/// measures as "detector only" (no decoding, no threads).
pub fn run_frames(
    info: &VideoInfo,
    frames: &[Frame],
    detector: &mut dyn Infer,
    params: &DecodeParams,
    stages: Stages<'_>,
    sink: &mut dyn FnMut(&FrameResult) -> Result<()>,
) -> Result<RunReport> {
    let start = Instant::now();
    let mut report = RunReport::new(info.clone(), detector);
    let channels = detector.manifest().input.channels;
    let mut stages = stages;
    let every = interval_period(&stages)?;
    let mut tiler = stages.tiles.take().map(|c| tiles::Tiler::new(c, &detector.manifest().labels)).transpose()?;
    let mut post = FrameStages::new(stages, info.fps.unwrap_or(30.0), channels, detector.manifest().labels.clone())?;
    if post.holds_until_clip_end() {
        return Err(Error::InvalidOption { option: "teams", reason: "colour teams need a file source (run_detect)".into() });
    }
    let mut seen = 0u64;
    for chunk in frames.chunks(detector.batch()) {
        let t = Instant::now();
        let mut batch = Vec::with_capacity(chunk.len());
        let mut slot = 0;
        for f in chunk {
            let due = seen % every == 0;
            seen += 1;
            let tf = if due {
                slot += 1;
                detector.fill(slot - 1, &f.data, f.width, f.height, f.width as usize * 3)?
            } else {
                Transform::identity(f.width, f.height)
            };
            batch.push((f.view(), f.index, f.pts, tf, due));
        }
        report.times.preprocess_s += t.elapsed().as_secs_f64();
        let results = detect_batch(detector, params, &batch, &mut post, &mut tiler, &mut report)?;
        deliver(results, &mut report, &mut |r| sink(&r), &mut |_| {})?;
    }
    report.frames_decoded = frames.len() as u64;
    report.take_stages(&post);
    report.wall_s = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Builds decode parameters from a detector's defaults and optional overrides; class names are
/// checked against the model's labels.
pub fn decode_params(detector: &dyn Infer, score: Option<f32>, nms_iou: Option<f32>, classes: Option<&[String]>) -> Result<DecodeParams> {
    decode_params_for(detector.manifest(), score, nms_iou, classes)
}

/// [`decode_params`] from a model's manifest.
pub fn decode_params_for(
    manifest: &crate::infer::manifest::Manifest,
    score: Option<f32>,
    nms_iou: Option<f32>,
    classes: Option<&[String]>,
) -> Result<DecodeParams> {
    let t = manifest.thresholds;
    let mut p = DecodeParams { score_threshold: t.score, nms_iou: t.nms_iou, max_detections: t.max_detections, class_filter: None };
    if let Some(s) = score {
        if !(0.0..=1.0).contains(&s) {
            return Err(Error::InvalidOption { option: "--score", reason: format!("must be within 0..1, got {s}") });
        }
        p.score_threshold = s;
    }
    if let Some(s) = nms_iou {
        if !(0.0..=1.0).contains(&s) {
            return Err(Error::InvalidOption { option: "--nms-iou", reason: format!("must be within 0..1, got {s}") });
        }
        p.nms_iou = s;
    }
    if let Some(names) = classes {
        if names.is_empty() {
            return Err(Error::InvalidOption { option: "--classes", reason: "names no class: leave it out to keep every class".into() });
        }
        let m = manifest;
        let mut filter = vec![false; m.labels.len()];
        for n in names {
            let id = m.class_id(n).ok_or_else(|| Error::InvalidOption {
                option: "--classes",
                reason: format!("model {} has no class '{n}' (its labels are in {})", m.name, m.path.display()),
            })?;
            filter[id as usize] = true;
        }
        p.class_filter = Some(filter);
    }
    Ok(p)
}
