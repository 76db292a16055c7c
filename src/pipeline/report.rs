//! What a run of the chain did: counts, what ran, seconds per stage (the one run report every face hands out).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::{FrameStages, Infer, StageCounts};
use crate::results::{BoxCheck, Verdict};
use crate::track::reuse::ReuseStats;
use crate::video::VideoInfo;

/// Seconds spent per stage over a run (summed over frames); the chain's own stages' seconds are
/// in [`StageCounts`].
#[derive(Debug, Clone, Default)]
pub struct StageTimes {
    /// Demux + decode (decode thread).
    pub decode_s: f64,
    /// A caller's frames converted to the detector's pixel layout (streams).
    pub convert_s: f64,
    /// Colour conversion with swscale (decode thread), resize and normalisation (preprocess
    /// thread) and the copy into the batch tensor (detect thread).
    pub preprocess_s: f64,
    /// Waiting: for decoded frames (verify), for the engine's shared model (streams).
    pub wait_s: f64,
    pub inference_s: f64,
    /// Output decoding and NMS.
    pub postprocess_s: f64,
    /// The sink: serialising and writing results.
    pub output_s: f64,
}

/// The detector that ran: what every report of a detecting run names.
#[derive(Debug, Clone)]
pub struct DetectorRun {
    pub model: String,
    pub provider: String,
    /// Inference threads per worker, and workers.
    pub threads: usize,
    pub workers: usize,
    pub batch_note: String,
}

impl DetectorRun {
    pub fn of(detector: &dyn Infer) -> Self {
        let (provider, threads, workers, batch_note) = detector.describe();
        DetectorRun { model: detector.manifest().name.clone(), provider, threads, workers, batch_note }
    }
}

/// Boxes handed in and checked (verify, score): how many of each verdict, and the frames they
/// were on.
#[derive(Debug, Clone, Default)]
pub struct BoxCounts {
    pub boxes: u64,
    pub kept: u64,
    /// Rejected boxes by the rule that rejected them; invalid ones by why.
    pub rejected: BTreeMap<String, u64>,
    pub invalid: BTreeMap<String, u64>,
    /// Boxes that reached outside the frame.
    pub clamped: u64,
    /// Frames of the input that have boxes, and how many of them the video lacks.
    pub frames: u64,
    pub frames_missing: u64,
}

impl BoxCounts {
    /// Counts one box's check (none: kept, as a box no rule looked at).
    pub fn count(&mut self, check: Option<&BoxCheck>) {
        self.boxes += 1;
        let Some(c) = check else {
            self.kept += 1;
            return;
        };
        let rule = || c.rule.clone().unwrap_or_default();
        match c.verdict {
            Verdict::Keep => self.kept += 1,
            Verdict::Reject => *self.rejected.entry(rule()).or_default() += 1,
            Verdict::Invalid => *self.invalid.entry(rule()).or_default() += 1,
        }
        self.clamped += u64::from(c.clamped);
    }
}

/// What a run of the chain did, whatever its source (a file or frames the detector ran on, a
/// caller's stream, boxes a file or a caller handed in): counts, what ran, seconds per stage.
/// The one report every face hands out, as [`RunReport::to_json`] writes it.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// The input, once it was opened (none for a caller's stream).
    pub video: Option<VideoInfo>,
    /// The detector, when one ran (not when the boxes were handed in).
    pub detector: Option<DetectorRun>,
    pub frames_decoded: u64,
    pub frames_processed: u64,
    /// Frames of those processed whose boxes the tracker predicted, the detector skipping them
    /// (`interval`).
    pub frames_predicted: u64,
    /// Frames of a live source dropped because the pipeline was behind (never for files).
    pub frames_dropped: u64,
    /// Detections (or boxes handed in) per class id, and the class names (the model's labels, or
    /// the boxes file's classes).
    pub per_class: BTreeMap<u32, u64>,
    pub labels: Vec<String>,
    pub times: StageTimes,
    /// Wall-clock seconds from opening the input to the last result.
    pub wall_s: f64,
    /// Frame buffers the decoder's pool allocated over the whole run (its fixed size).
    pub pool_buffers: usize,
    /// Track ids handed out, when tracking was on.
    pub tracks: Option<u64>,
    /// The classifier that ran, and its calls made and saved by track reuse.
    pub classifier: Option<String>,
    pub reuse: Option<ReuseStats>,
    /// What the stages after detection did (ROIs, teams, the classifier's second pass, pitch,
    /// seconds).
    pub stages: StageCounts,
    /// Where ROI statistics and tensors were made ("cpu" or "cuda:N") and their size, when made.
    pub roi_device: String,
    pub roi_size: u32,
    /// Tiles the detector ran on besides the whole frames (tiled detection).
    pub tiles: u64,
    /// Boxes handed in and checked (verify, score).
    pub boxes: Option<BoxCounts>,
}

impl RunReport {
    /// An empty report of a run of `detector` on `video`.
    pub(crate) fn new(video: VideoInfo, detector: &dyn Infer) -> Self {
        let labels = detector.manifest().labels.clone();
        RunReport { video: Some(video), detector: Some(DetectorRun::of(detector)), labels, ..Default::default() }
    }

    /// Takes what the chain's stages did: tracks, classifier, counts and seconds, ROIs.
    pub(crate) fn take_stages(&mut self, stages: &FrameStages<'_>) {
        self.tracks = stages.tracks_issued();
        self.classifier = stages.classifier_name().map(str::to_string);
        self.reuse = stages.reuse_stats();
        self.stages = stages.counts().clone();
        if let Some(spec) = stages.roi_spec() {
            self.roi_size = spec.size;
        }
        self.roi_device = stages.roi_device();
    }

    /// The report as JSON, as every face hands it out (the C ABI's `fovea_engine_last_report`
    /// and `fovea_stream_report`, Python's `Engine.last_report()` and `Stream.report()`, Go's
    /// `Engine.LastReport()` and `Stream.Report()`, the score report's `verify`): the input and
    /// the detector (null when none ran), frames, detections per class (`labels` names them),
    /// seconds per stage, tracks, ROIs, the classifier's calls made and saved, teams, pitch, and
    /// the boxes checked (null unless boxes were handed in).
    pub fn to_json(&self) -> serde_json::Value {
        let per_class: serde_json::Map<String, serde_json::Value> = self
            .per_class
            .iter()
            .map(|(c, n)| (self.labels.get(*c as usize).cloned().unwrap_or_else(|| format!("class_{c}")), (*n).into()))
            .collect();
        let (t, c) = (&self.times, &self.stages);
        let d = self.detector.as_ref();
        serde_json::json!({
            "video": self.video.as_ref().map(|v| serde_json::json!({
                "path": v.path.display().to_string(),
                "codec": v.codec,
                "width": v.width,
                "height": v.height,
                "fps": v.fps,
            })),
            "model": d.map(|d| &d.model),
            "provider": d.map(|d| &d.provider),
            "threads": d.map(|d| d.threads),
            "workers": d.map(|d| d.workers),
            "batch": d.map(|d| &d.batch_note),
            "frames_decoded": self.frames_decoded,
            "frames_processed": self.frames_processed,
            "frames_predicted": self.frames_predicted,
            "frames_dropped": self.frames_dropped,
            "detections": self.detections(),
            "per_class": per_class,
            "seconds": {
                "decode": t.decode_s,
                "convert": t.convert_s,
                "preprocess": t.preprocess_s,
                "wait": t.wait_s,
                "inference": t.inference_s,
                "postprocess": t.postprocess_s,
                "track": c.track_s,
                "stats": c.stats_s,
                "rules": c.rules_s,
                "roi_tensors": c.roi_s,
                "classifier": c.classify_s,
                "pitch": c.pitch_s,
                "output": t.output_s,
                "wall": self.wall_s,
            },
            "fps": self.fps(),
            "pool_buffers": self.pool_buffers,
            "tiles": self.tiles,
            "tracks": self.tracks,
            "rois": {
                "measured": c.stats_rois,
                "tensors": c.tensor_rois,
                "size": self.roi_size,
                "device": self.roi_device,
                "downloaded_batches": c.roi_downloads,
            },
            "classifier": self.classifier.as_ref().map(|name| serde_json::json!({
                "name": name,
                "classified": c.classified,
                "from_track": c.from_track,
                "calls_made": self.reuse.map_or(c.classified, |r| r.calls_made),
                "calls_saved": self.reuse.map_or(0, |r| r.calls_saved),
            })),
            "teams": c.teams.map(|t| t.json(serde_json::json!({
                "classifier_calls_saved_by_colour": c.colour_saved,
                "frames_decoded_again": c.second_pass_frames,
            }))),
            "pitch": (c.pitch_frames > 0).then(|| serde_json::json!({
                "frames": c.pitch_frames, "found": c.pitch_found, "model_runs": c.pitch_model_runs,
            })),
            "boxes": self.boxes.as_ref().map(|b| serde_json::json!({
                "boxes": b.boxes,
                "kept": b.kept,
                "rejected": b.rejected,
                "invalid": b.invalid,
                "clamped": b.clamped,
                "frames": b.frames,
                "frames_missing": b.frames_missing,
            })),
        })
    }

    /// Counts a frame handed on with its boxes checked: the frame, each box's verdict.
    pub(crate) fn count_boxes(&mut self, f: &crate::pipeline::FrameResult) {
        self.frames_processed += 1;
        let counts = self.boxes.get_or_insert_with(BoxCounts::default);
        for k in 0..f.detections.len() {
            counts.count(f.checks.get(k));
        }
    }

    /// Detections (or boxes handed in) over every class.
    pub fn detections(&self) -> u64 {
        self.per_class.values().sum()
    }

    /// End-to-end processed frames per second.
    pub fn fps(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.frames_processed as f64 / self.wall_s
        } else {
            0.0
        }
    }

    /// ROIs per second through statistics and tensors (their busy time).
    pub fn rois_per_s(&self) -> f64 {
        let t = self.stages.stats_s + self.stages.roi_s;
        if t > 0.0 {
            self.stages.stats_rois as f64 / t
        } else {
            0.0
        }
    }
}

/// Progress callback data.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub frame_index: u64,
    pub pts: f64,
    pub processed: u64,
}
