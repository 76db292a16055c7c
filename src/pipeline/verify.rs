//! `fovea verify`: the validator's side, as the one stage chain with a boxes file for its source.
//! Given boxes (a miner's Score Vision file or fovea JSONL) and their video, decode only the
//! frames that have boxes and hand them with their boxes to [`FrameStages`]: every box cut out as
//! a ROI, its colours measured, the rules applied, what survives labelled by the classifier slot
//! (with `teams`, colour first and the classifier on what colour left). Each box's result says
//! what was decided and why.
//!
//! ```text
//! decode thread (selected frames only) ──▶ batch of frames + their boxes ──▶ FrameStages
//!   (statistics ▶ rules ▶ ROI tensors ▶ classifier) ──▶ one line per box, in input order
//! ```
//! Bad boxes (non-finite, empty, outside the frame, unknown class, frame past the end of the video)
//! are reported as `invalid` with the reason, never fatal; the other boxes are unaffected.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub use crate::classify::Classifier;
use crate::error::Result;
use crate::filter::FilterConfig;
use crate::image::{ChannelOrder, Fit};
use crate::output::read::{BoxesFile, BoxesFormat, SCOREVISION_LABELS};
use crate::pipeline::{BoxCounts, ChainConfig, FrameResult, FrameStages, RunReport, StageInput};
use crate::results::BoxCheck;
pub use crate::results::BoxResult;
use crate::video::{self, Frame, OutputFormat, Sampling};

/// How a verify run goes: its chain's configuration and where it runs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The chain, as every face configures it: `rules` (none: the built-in Score Vision set, the
    /// validator's), `roi_tensors` (make the ROI tensors of kept boxes even when the classifier
    /// does not read them: the validator's whole crop + resize + normalise workload),
    /// `batch_rois` (a batch is cut at a frame boundary once it holds this many), `teams` (colour
    /// teams per clip: results at its end) and the classifier's `reuse`. Its detector's knobs
    /// (tracking, tiles, interval, pitch) do not apply: the boxes and their ids are given.
    pub chain: ChainConfig,
    /// Run the colour statistics and ROI tensors on this GPU (frames uploaded through a pinned
    /// pool; the ROI batch stays on the device for a GPU classifier).
    pub gpu: Option<Arc<crate::cuda::Device>>,
    /// The boxes' frames are decoded and converted for the stages (colour statistics, ROIs). Off
    /// (when no rule reads colours and nothing classifies): boxes are checked by geometry alone,
    /// only the hook's frames are converted, and frames past the end of the video are not told
    /// apart (the stream is not read to its end).
    pub box_pixels: bool,
}

impl Default for VerifyOptions {
    /// The validator's: its rules, every kept box's ROI tensor.
    fn default() -> Self {
        Self::new(ChainConfig { roi_tensors: true, ..ChainConfig::default() })
    }
}

impl VerifyOptions {
    /// A verify run of the chain `chain` on the CPU, with the boxes' pixels.
    pub fn new(chain: ChainConfig) -> Self {
        Self { chain, gpu: None, box_pixels: true }
    }

    /// The rules the boxes are checked by.
    pub fn rules(&self) -> FilterConfig {
        self.chain.rules.clone().unwrap_or_else(FilterConfig::scorevision)
    }
}

/// Class names of a boxes file (class id -> name): Score Vision's four, or the JSONL file's
/// labels (ids never named are "class_N"); a Score Vision id past its four is an unknown class.
fn class_names(boxes: &BoxesFile) -> Vec<String> {
    match boxes.format {
        BoxesFormat::ScoreVision => SCOREVISION_LABELS.iter().map(|s| s.to_string()).collect(),
        BoxesFormat::Jsonl => {
            let top = boxes.frames.iter().flat_map(|f| f.detections.iter().map(|d| d.class_id as usize + 1)).max().unwrap_or(0);
            (0..top.max(boxes.labels.len())).map(|c| boxes.labels.get(c).cloned().unwrap_or_else(|| format!("class_{c}"))).collect()
        }
    }
}

/// Runs the verification of `boxes` on `video`, handing every box's result to `sink` in input
/// order (frame, then position), and each frame's result to `frames` after its boxes (the
/// annotator). Results made before an error are handed over before it is returned (second
/// element).
pub fn run_verify(
    video_path: &Path,
    boxes: &BoxesFile,
    opts: &VerifyOptions,
    classifier: Option<&mut dyn Classifier>,
    sink: &mut dyn FnMut(&BoxResult) -> Result<()>,
    frames: &mut dyn FnMut(&FrameResult),
) -> (RunReport, Result<()>) {
    verify_frames(video_path, boxes, opts, classifier, &mut |f, names| {
        for k in 0..f.detections.len() {
            sink(&f.box_result(k, names))?;
        }
        frames(f);
        Ok(())
    })
}

/// The verification as frame results (every box with its [`crate::results::BoxCheck`], label,
/// team), handed to `sink` in frame order with the boxes file's class names; what every face
/// (the C ABI, Python, Go) hands out. Frames with boxes past the end of the video come last, their
/// boxes invalid ("frame_out_of_range").
pub fn verify_frames(
    video_path: &Path,
    boxes: &BoxesFile,
    opts: &VerifyOptions,
    classifier: Option<&mut dyn Classifier>,
    sink: &mut dyn FnMut(&FrameResult, &[String]) -> Result<()>,
) -> (RunReport, Result<()>) {
    verify_frames_with(video_path, boxes, opts, classifier, sink, None)
}

/// A step on each decoded frame that has boxes, before the stages (frame index, pixels): the
/// score's pitch-line kernel.
pub type FrameHook<'h> = dyn FnMut(u64, &crate::image::FrameView) -> Result<()> + 'h;

/// [`verify_frames`] with `hook` run on its frames (of those that have boxes) as they are decoded.
pub fn verify_frames_with(
    video_path: &Path,
    boxes: &BoxesFile,
    opts: &VerifyOptions,
    classifier: Option<&mut dyn Classifier>,
    sink: &mut dyn FnMut(&FrameResult, &[String]) -> Result<()>,
    hook: Option<(&BTreeSet<u64>, &mut FrameHook)>,
) -> (RunReport, Result<()>) {
    let mut report =
        RunReport { roi_device: "cpu".into(), roi_size: opts.rules().roi.size, boxes: Some(BoxCounts::default()), ..Default::default() };
    let outcome = verify_inner(video_path, boxes, opts, classifier, sink, hook, &mut report);
    (report, outcome)
}

/// Frames held at once (the pool's extra buffers).
const MAX_BATCH_FRAMES: usize = 16;

/// Queues the boxes' frames from `next` on whose index is below `upto`, without pixels.
fn feed_blind<'a>(upto: u64, next: &mut usize, with_boxes: &[&'a FrameResult], pending: &mut Vec<(Option<Frame>, &'a FrameResult)>) {
    while *next < with_boxes.len() && with_boxes[*next].index < upto {
        pending.push((None, with_boxes[*next]));
        *next += 1;
    }
}

/// Verify's batch as its source fills it.
struct Gather<'a> {
    /// Frames (with their pixels, or none when blind) and their boxes, waiting for the stages.
    pending: Vec<(Option<Frame>, &'a FrameResult)>,
    /// Boxes in `pending`.
    rois: usize,
    /// The last frame decoded.
    last_seen: Option<u64>,
    /// Blind: the next frame with boxes to hand on.
    blind_next: usize,
    /// Results held until the end of the clip (colour teams).
    held: Vec<FrameResult>,
}

/// The frames verify decodes: those with boxes and the hook's frames (with or without boxes) that
/// the boxes file holds; blind (no box pixels), only the hook's.
fn frames_to_decode(boxes: &BoxesFile, with_boxes: &[&FrameResult], hook: Option<&BTreeSet<u64>>, blind: bool) -> BTreeSet<u64> {
    let held: BTreeSet<u64> = boxes.frames.iter().map(|f| f.index).collect();
    let hooked = hook.into_iter().flat_map(|frames| frames.iter().copied().filter(|i| held.contains(i)));
    if blind {
        hooked.collect()
    } else {
        with_boxes.iter().map(|f| f.index).chain(hooked).collect()
    }
}

/// The stream ended: the frames with boxes past its end (or never decoded) are handed on, every
/// box invalid ("frame_out_of_range"), and counted.
fn hand_on_missing(
    with_boxes: &[&FrameResult],
    last_seen: Option<u64>,
    names: &[String],
    sink: &mut dyn FnMut(&FrameResult, &[String]) -> Result<()>,
    report: &mut RunReport,
) -> Result<()> {
    for f in with_boxes.iter().filter(|f| last_seen.is_none_or(|l| f.index > l)) {
        report.boxes.get_or_insert_with(BoxCounts::default).frames_missing += 1;
        let mut r = FrameResult::untracked(f.index, f.pts, f.detections.clone());
        r.track_ids = f.track_ids.clone();
        r.checks = vec![BoxCheck::invalid("frame_out_of_range"); r.detections.len()];
        sink(&r, names)?;
        report.count_boxes(&r);
    }
    Ok(())
}

fn verify_inner(
    video_path: &Path,
    boxes: &BoxesFile,
    opts: &VerifyOptions,
    classifier: Option<&mut dyn Classifier>,
    sink: &mut dyn FnMut(&FrameResult, &[String]) -> Result<()>,
    mut hook: Option<(&BTreeSet<u64>, &mut FrameHook)>,
    report: &mut RunReport,
) -> Result<()> {
    let t0 = Instant::now();
    let names = class_names(boxes);
    report.labels = names.clone();
    let stages = ChainConfig { rules: Some(opts.rules()), tracking: None, tiles: None, pitch: None, interval: 0, ..opts.chain.clone() }
        .stages(classifier)
        .on_gpu(opts.gpu.clone());
    let mut chain = FrameStages::new(stages, 30.0, ChannelOrder::Rgb, names.clone())?;
    report.take_stages(&chain);

    let with_boxes: Vec<&FrameResult> = boxes.frames.iter().filter(|f| !f.detections.is_empty()).collect();
    let counts = report.boxes.get_or_insert_with(BoxCounts::default);
    counts.frames = with_boxes.len() as u64;
    for d in with_boxes.iter().flat_map(|f| &f.detections) {
        *report.per_class.entry(d.class_id).or_default() += 1;
    }
    let blind = !opts.box_pixels && !chain.holds_until_clip_end();
    let select = Arc::new(frames_to_decode(boxes, &with_boxes, hook.as_ref().map(|(frames, _)| *frames), blind));
    let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };
    let dec = video::spawn_selected(video_path, Sampling::default(), out, 4, MAX_BATCH_FRAMES, Some(select))?;
    report.video = Some(dec.info.clone());
    // Without pixels, a frame is only its size and time.
    let size = (dec.info.width, dec.info.height);
    let fps = dec.info.fps.filter(|f| *f > 0.0).unwrap_or(25.0);
    let by_index: BTreeMap<u64, &FrameResult> = with_boxes.iter().map(|f| (f.index, *f)).collect();

    let mut emit = |results: &[FrameResult], report: &mut RunReport| -> Result<()> {
        let t = Instant::now();
        for f in results {
            sink(f, &names)?;
            report.count_boxes(f);
        }
        report.times.output_s += t.elapsed().as_secs_f64();
        Ok(())
    };
    let mut run = |pending: &mut Vec<(Option<Frame>, &FrameResult)>, held: &mut Vec<FrameResult>, report: &mut RunReport| -> Result<()> {
        let frames: Vec<StageInput> = pending
            .iter()
            .map(|(f, fr)| StageInput {
                view: f.as_ref().map_or(crate::image::FrameView { data: &[], width: size.0, height: size.1, stride: 0 }, |f| f.view()),
                index: fr.index,
                pts: f.as_ref().map_or(fr.index as f64 / fps, |f| f.pts),
                detections: fr.detections.clone(),
                ids: Some(fr.track_ids.clone()),
                predicted: false,
            })
            .collect();
        let results = chain.apply_batch(frames)?;
        pending.clear();
        if chain.holds_until_clip_end() {
            held.extend(results);
            Ok(())
        } else {
            emit(&results, report)
        }
    };

    // Verify on the one source contract: the frames with boxes gather into batches of about
    // `batch_rois` boxes (at most MAX_BATCH_FRAMES frames). Blind, each decoded frame passes the
    // boxes' frames up to it to the stages without pixels, in order, as the stream passes them.
    let mut wait_s = 0.0;
    let frames = std::iter::from_fn(|| {
        let t = Instant::now();
        let next = dec.frames.recv().ok();
        wait_s += t.elapsed().as_secs_f64();
        next
    });
    let mut gather = Gather { pending: Vec::new(), rois: 0, last_seen: None, blind_next: 0, held: Vec::new() };
    let mut outcome = super::source::batched(
        frames,
        &mut gather,
        |g, frame| {
            g.last_seen = Some(frame.index);
            if let Some((frames, h)) = hook.as_mut() {
                if frames.contains(&frame.index) {
                    h(frame.index, &frame.view())?;
                }
            }
            if blind {
                feed_blind(frame.index + 1, &mut g.blind_next, &with_boxes, &mut g.pending);
                return Ok(true);
            }
            let Some(fr) = by_index.get(&frame.index) else { return Ok(false) };
            g.rois += fr.detections.len();
            g.pending.push((Some(frame), fr));
            Ok(g.rois >= opts.chain.batch_rois || g.pending.len() >= MAX_BATCH_FRAMES)
        },
        |g| {
            g.rois = 0;
            if g.pending.is_empty() {
                return Ok(());
            }
            run(&mut g.pending, &mut g.held, report)
        },
    );
    if outcome.is_ok() && blind {
        // The boxes' frames past the last decoded one.
        feed_blind(u64::MAX, &mut gather.blind_next, &with_boxes, &mut gather.pending);
        if !gather.pending.is_empty() {
            outcome = run(&mut gather.pending, &mut gather.held, report);
        }
    }
    report.times.wait_s += wait_s;
    let Gather { mut held, last_seen, pending, .. } = gather;
    drop(pending);
    let stats = dec.join();
    if let Ok(s) = &stats {
        report.frames_decoded = s.decoded;
        report.times.decode_s = s.decode_s + s.convert_s;
    }
    if outcome.is_ok() {
        outcome = stats.map(|_| ());
    }
    if chain.holds_until_clip_end() {
        // The second pass's decoding: its wall time less the ROI and classifier time within it.
        let busy = |c: &crate::pipeline::StageCounts| c.roi_s + c.classify_s;
        let (t, before) = (Instant::now(), busy(chain.counts()));
        let clip =
            chain.finish_clip(&mut held, &mut |select, visit| crate::pipeline::decode_again(video_path, ChannelOrder::Rgb, select, visit));
        report.times.decode_s += (t.elapsed().as_secs_f64() - (busy(chain.counts()) - before)).max(0.0);
        let r = clip.and_then(|_| emit(&held, report));
        if outcome.is_ok() {
            outcome = r;
        }
    }
    report.take_stages(&chain);
    if outcome.is_ok() && !blind {
        outcome = hand_on_missing(&with_boxes, last_seen, &names, sink, report);
    }
    report.wall_s = t0.elapsed().as_secs_f64();
    outcome
}
