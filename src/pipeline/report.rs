//! What a detect run did: counts, what ran, seconds per stage (the run report every face hands out).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::{Infer, StageCounts};
use crate::track::reuse::ReuseStats;
use crate::video::VideoInfo;

/// Seconds spent per stage over a run (summed over frames).
#[derive(Debug, Clone, Default)]
pub struct StageTimes {
    /// Demux + decode (decode thread).
    pub decode_s: f64,
    /// Colour conversion with swscale (decode thread), resize and normalisation (preprocess
    /// thread) and the copy into the batch tensor (detect thread).
    pub preprocess_s: f64,
    pub inference_s: f64,
    /// Output decoding and NMS.
    pub postprocess_s: f64,
    /// The sink: serialising and writing results.
    pub output_s: f64,
}

/// What a run did, for the summary.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub video: VideoInfo,
    pub model: String,
    pub provider: String,
    /// Inference threads per worker, and workers.
    pub threads: usize,
    pub workers: usize,
    pub batch_note: String,
    pub frames_decoded: u64,
    pub frames_processed: u64,
    /// Frames of a live source dropped because the pipeline was behind (never for files).
    pub frames_dropped: u64,
    /// Detections per class id.
    pub per_class: BTreeMap<u32, u64>,
    pub times: StageTimes,
    /// Wall-clock seconds from opening the input to the last result.
    pub wall_s: f64,
    /// Frame buffers the decoder's pool allocated over the whole run (its fixed size).
    pub pool_buffers: usize,
    /// Track ids handed out, when tracking was on.
    pub tracks: Option<u64>,
    /// Classifier calls made and saved by track reuse, when a classifier ran.
    pub reuse: Option<ReuseStats>,
    /// What the stages after detection did (ROIs, teams, the classifier's second pass, seconds).
    pub stages: StageCounts,
    /// Tiles the detector ran on besides the whole frames (tiled detection).
    pub tiles: u64,
}

impl RunReport {
    /// An empty report of a run of `detector` on `video`.
    pub(super) fn new(video: VideoInfo, detector: &dyn Infer) -> Self {
        let (provider, threads, workers, batch_note) = detector.describe();
        RunReport {
            video,
            model: detector.manifest().name.clone(),
            provider,
            threads,
            workers,
            batch_note,
            frames_decoded: 0,
            frames_processed: 0,
            frames_dropped: 0,
            per_class: BTreeMap::new(),
            times: StageTimes::default(),
            wall_s: 0.0,
            pool_buffers: 0,
            tracks: None,
            reuse: None,
            stages: StageCounts::default(),
            tiles: 0,
        }
    }

    /// The report as JSON, as every face hands it out (the C ABI's `fovea_engine_last_report`,
    /// Python's `Engine.last_report()`, Go's `Engine.LastReport()`): counts, per-stage seconds,
    /// tracks, classifier calls made and saved, and what ran.
    pub fn to_json(&self, labels: &[String]) -> serde_json::Value {
        let per_class: serde_json::Map<String, serde_json::Value> = self
            .per_class
            .iter()
            .map(|(c, n)| (labels.get(*c as usize).cloned().unwrap_or_else(|| format!("class_{c}")), (*n).into()))
            .collect();
        let t = &self.times;
        serde_json::json!({
            "video": {
                "path": self.video.path.display().to_string(),
                "codec": self.video.codec,
                "width": self.video.width,
                "height": self.video.height,
                "fps": self.video.fps,
            },
            "model": self.model,
            "provider": self.provider,
            "threads": self.threads,
            "workers": self.workers,
            "batch": self.batch_note,
            "frames_decoded": self.frames_decoded,
            "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped,
            "detections": self.detections(),
            "per_class": per_class,
            "seconds": {
                "decode": t.decode_s,
                "preprocess": t.preprocess_s,
                "inference": t.inference_s,
                "postprocess": t.postprocess_s,
                "output": t.output_s,
                "wall": self.wall_s,
            },
            "fps": self.fps(),
            "pool_buffers": self.pool_buffers,
            "tiles": self.tiles,
            "tracks": self.tracks,
            "classifier": self.reuse.map(|r| serde_json::json!({"calls_made": r.calls_made, "calls_saved": r.calls_saved})),
            "teams": self.stages.teams.map(|t| t.json(serde_json::json!({
                "classifier_calls_saved_by_colour": self.stages.colour_saved,
                "frames_decoded_again": self.stages.second_pass_frames,
            }))),
            "stage_seconds": {
                "track": self.stages.track_s,
                "stats": self.stages.stats_s,
                "rules": self.stages.rules_s,
                "roi_tensors": self.stages.roi_s,
                "classifier": self.stages.classify_s,
            },
        })
    }

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
}

/// Progress callback data.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub frame_index: u64,
    pub pts: f64,
    pub processed: u64,
}
