//! `fovea score`: a miner's Score Vision submission scored offline as the validator scores it.
//!
//! ```text
//! miner file + video ─▶ verify chain (validator's rules ▶ classifier slot) ─▶ box score per frame
//!                     └▶ pitch-line kernel on sampled frames ─┐
//! keypoints per frame ─▶ homography (RANSAC) ▶ lines, inside, stability, players ─▶ keypoint score
//! box score, keypoint score, --time ─▶ quality = 0.5 box + 0.5 keypoints / 100 ─▶ final = 0.65 quality + 0.35 speed
//! ```
//! The boxes go through the one stage chain ([`crate::pipeline::verify`]) with the validator's
//! rule file (filter/scorevision-validator.toml): the rules decide what the validator drops, the
//! classifier slot what each kept box is. Without a classifier the box score is an upper bound
//! (every kept box taken as what the miner said), and the report says how many boxes need one.
//! The speed score is `exp(-5 (t - t_min) / (15 - t_min))`, 0 when the box score is at most 0.2
//! or t >= 15 s; `t_min` is the fastest miner's time (unknown offline: `--fastest`, else 0).
#![forbid(unsafe_code)]

pub mod boxes;
pub mod keypoints;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::classify::Classifier;
use crate::error::{Error, Result};
use crate::filter::FilterConfig;
use crate::image::ChannelOrder;
use crate::output::read::{read_boxes, BoxesFormat};
use crate::pipeline::verify::{verify_frames_with, VerifyOptions};
use crate::pipeline::{ChainConfig, RunReport};
use crate::pitch::lines::{line_planes, LineParams};
use crate::pitch::segments::PitchLines;

use boxes::FrameBoxScore;
use keypoints::{KeypointScore, KpFrame};

/// The validator's time limit (seconds): no speed score at or past it.
pub const MAX_TIME: f64 = 15.0;

#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// The rules deciding what the validator drops (default: its own, exactly).
    pub filter: FilterConfig,
    /// Frames whose pitch lines are measured (evenly spread over the frames with boxes and at
    /// least 4 keypoints); 0: none.
    pub line_frames: usize,
    /// The miner's processing time (seconds), for the speed score.
    pub time: Option<f64>,
    /// The fastest valid miner's time (seconds); 0 when not given.
    pub fastest: Option<f64>,
    pub batch_rois: usize,
    /// Run the line kernel (and the ROI stage) on this GPU.
    pub gpu: Option<Arc<crate::cuda::Device>>,
    /// Set by another thread to stop the run at its next frame (the report so far is kept, the
    /// outcome says it was cancelled): the service's job cancellation.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Counts the frames with boxes scored so far (the service's job progress).
    pub progress: Option<Arc<AtomicU64>>,
    /// The frames to validate: the validator's list (its pitch filter's choice), to reproduce its
    /// score exactly; None: every frame of the video (the expectation of its choice). Boxes and
    /// keypoints are scored on these frames only.
    pub frames: Option<BTreeSet<u64>>,
    /// Whose homography the keypoint score uses: the validator's (OpenCV's RANSAC, the default)
    /// or fovea's largest consistent set.
    pub homography: keypoints::HomographyMethod,
}

/// Most frames a frame list may name.
pub const MAX_FRAME_LIST: usize = 1_000_000;

/// Checks a list of frames to validate (numbers below 10^9, at most [`MAX_FRAME_LIST`]).
pub fn frame_set(list: &[u64]) -> Result<BTreeSet<u64>> {
    if list.len() > MAX_FRAME_LIST {
        return Err(Error::InvalidOption { option: "frames", reason: format!("at most {MAX_FRAME_LIST} frames, got {}", list.len()) });
    }
    if let Some(f) = list.iter().find(|f| **f >= 1_000_000_000) {
        return Err(Error::InvalidOption { option: "frames", reason: format!("frame numbers below 10^9, got {f}") });
    }
    Ok(list.iter().copied().collect())
}

/// Reads the frames to validate from a file: a JSON list of frame numbers, or numbers separated
/// by spaces, commas or new lines.
pub fn read_frame_list(path: &std::path::Path) -> Result<BTreeSet<u64>> {
    let bad = |reason: String| Error::Input { path: path.to_path_buf(), reason };
    let meta = std::fs::metadata(path).map_err(|_| Error::FileNotFound { path: path.to_path_buf() })?;
    if meta.len() > 16 << 20 {
        return Err(bad(format!("{} bytes: a frame list is at most 16 MiB", meta.len())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let t = text.trim();
    let list: Vec<u64> = if t.starts_with('[') {
        serde_json::from_str(t).map_err(|e| bad(format!("expected a JSON list of frame numbers: {e}")))?
    } else {
        t.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .enumerate()
            .map(|(i, w)| {
                w.parse::<u64>()
                    .map_err(|_| bad(format!("item {}: expected a frame number, got '{}'", i + 1, w.chars().take(20).collect::<String>())))
            })
            .collect::<Result<_>>()?
    };
    frame_set(&list)
}

impl Default for ScoreOptions {
    fn default() -> Self {
        Self {
            filter: FilterConfig::scorevision_validator(),
            line_frames: 30,
            time: None,
            fastest: None,
            batch_rois: crate::pipeline::DEFAULT_BATCH_ROIS,
            gpu: None,
            cancel: None,
            progress: None,
            frames: None,
            homography: keypoints::HomographyMethod::Opencv,
        }
    }
}

/// The box part of the score.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BoxPart {
    /// The validator's box score (rounded to 2 decimals, as it rounds), and unrounded.
    pub score: f64,
    pub raw: f64,
    /// Some boxes were not classified (no classifier, or rejected by a rule that does not say what
    /// the validator sees): the score takes them as what the miner said (an upper bound).
    pub upper_bound: bool,
    pub frames: usize,
    pub boxes: usize,
    /// Boxes the validator's rules drop before scoring, per rule.
    pub dropped: BTreeMap<String, u64>,
    /// Kept boxes only a classifier can confirm.
    pub unknown: usize,
    /// Points lost per class the validator would see (after the repeat weights).
    pub lost: BTreeMap<String, f64>,
    /// Mean area factor over the frames.
    pub area_factor: f64,
}

/// A whole score.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub video: String,
    pub width: u32,
    pub height: u32,
    pub video_frames: u64,
    pub boxes: BoxPart,
    pub keypoints: KeypointScore,
    /// The speed score (None without --time) and the fastest time it assumed.
    pub speed: Option<f64>,
    pub fastest: f64,
    pub quality: f64,
    /// 0.65 quality + 0.35 speed (speed 0 without --time).
    pub final_score: f64,
    /// Where the line kernel ran, and its seconds.
    pub lines_device: String,
    pub lines_s: f64,
    pub wall_s: f64,
    /// What cost points, in words, largest first.
    pub costs: Vec<String>,
    #[serde(skip)]
    pub per_frame: Vec<FrameBoxScore>,
    #[serde(skip)]
    pub verify: RunReport,
}

impl ScoreReport {
    /// The report as JSON, with every frame's box details when `per_frame` (what `fovea score
    /// --json` prints and `fovea_last_score_report` returns).
    pub fn to_json(&self, per_frame: bool) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if per_frame {
            v["per_frame"] = serde_json::to_value(&self.per_frame).unwrap_or_default();
        } else if let Some(k) = v.get_mut("keypoints") {
            k["per_frame"] = serde_json::Value::Array(Vec::new());
        }
        v["verify"] = self.verify.to_json();
        v
    }
}

/// Options of a score run as the C ABI, Python and Go give them (JSON, every field optional).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    /// A rule file (default: the validator's).
    pub rules: Option<std::path::PathBuf>,
    pub line_frames: Option<usize>,
    pub time: Option<f64>,
    pub fastest: Option<f64>,
    /// A zero-shot image-encoder manifest for the classifier slot, and its policy.
    pub classifier: Option<std::path::PathBuf>,
    pub policy: Option<std::path::PathBuf>,
    pub threads: Option<usize>,
    /// Every frame's details in the report (default true).
    pub per_frame: Option<bool>,
    /// The frames to validate (the validator's list); default every frame of the video.
    pub frames: Option<Vec<u64>>,
    /// `opencv` (the validator's homography, default) or `consensus` (fovea's).
    pub homography: Option<String>,
}

impl ScoreRequest {
    /// Checks the numbers (times are seconds >= 0).
    pub fn check(&self) -> Result<()> {
        check_times(self.time, self.fastest, ["time", "fastest"])?;
        self.homography_method()?;
        if let Some(f) = &self.frames {
            frame_set(f)?;
        }
        Ok(())
    }

    /// The homography asked for (default the validator's).
    pub fn homography_method(&self) -> Result<keypoints::HomographyMethod> {
        self.homography
            .as_deref()
            .map_or(Ok(keypoints::HomographyMethod::Opencv), str::parse)
            .map_err(|reason| Error::InvalidOption { option: "homography", reason })
    }

    /// The options, the classifier loaded (on the CPU), checked.
    pub fn options(&self) -> Result<(ScoreOptions, Option<crate::classify::ZeroShotClassifier>)> {
        self.check()?;
        let filter = match &self.rules {
            Some(p) => FilterConfig::load(p)?,
            None => FilterConfig::scorevision_validator(),
        };
        let d = ScoreOptions::default();
        let frames = self.frames.as_deref().map(frame_set).transpose()?;
        let opts = ScoreOptions {
            filter,
            line_frames: self.line_frames.unwrap_or(d.line_frames),
            time: self.time,
            fastest: self.fastest,
            frames,
            homography: self.homography_method()?,
            ..d
        };
        let classifier = match &self.classifier {
            Some(m) => Some(crate::classify::object_classifier(
                &crate::infer::defaults::resolve_model(m),
                self.policy.as_deref(),
                self.threads.unwrap_or(0),
                None,
            )?),
            None => None,
        };
        Ok((opts, classifier))
    }
}

/// Checks a miner's time and the fastest miner's time (seconds >= 0; the fastest below the
/// validator's limit and at most this miner's), reporting them under `names` (the face's own:
/// `--time` on the command line, `time` in JSON).
pub fn check_times(time: Option<f64>, fastest: Option<f64>, names: [&'static str; 2]) -> Result<()> {
    for (name, v) in names.into_iter().zip([time, fastest]) {
        if let Some(t) = v.filter(|t| !(t.is_finite() && *t >= 0.0)) {
            return Err(Error::InvalidOption { option: name, reason: format!("seconds >= 0, got {t}") });
        }
    }
    if let Some(f) = fastest.filter(|f| *f >= MAX_TIME) {
        return Err(Error::InvalidOption {
            option: names[1],
            reason: format!("the fastest miner's time must be below the validator's {MAX_TIME} s limit, got {f}"),
        });
    }
    if let (Some(t), Some(f)) = (time, fastest) {
        if f > t {
            return Err(Error::InvalidOption {
                option: names[1],
                reason: format!("the fastest miner's time {f} s is above this miner's time {t} s (the fastest is at most as slow)"),
            });
        }
    }
    Ok(())
}

/// The speed score of `time` against the fastest `fastest`, as the validator computes it.
pub fn speed_score(time: f64, fastest: f64, box_score: f64) -> f64 {
    if box_score <= 0.2 || time >= MAX_TIME {
        return 0.0;
    }
    if (time - fastest).abs() < f64::EPSILON {
        return 1.0;
    }
    (-5.0 * (time - fastest) / (MAX_TIME - fastest)).exp().clamp(0.0, 1.0)
}

/// The frames whose lines are measured: `n` spread evenly over `candidates` (sorted).
fn spread(candidates: &[u64], n: usize) -> BTreeSet<u64> {
    if n == 0 || candidates.is_empty() {
        return BTreeSet::new();
    }
    if n >= candidates.len() {
        return candidates.iter().copied().collect();
    }
    (0..n).map(|k| candidates[(2 * k + 1) * candidates.len() / (2 * n)]).collect()
}

/// Scores the miner file `boxes_path` made on `video`. Results made before an error are kept in
/// the report (second element).
pub fn run_score(
    video: &Path,
    boxes_path: &Path,
    opts: &ScoreOptions,
    classifier: Option<&mut dyn Classifier>,
) -> Result<(ScoreReport, Result<()>)> {
    let t0 = Instant::now();
    let mut file = read_boxes(boxes_path)?;
    if file.format != BoxesFormat::ScoreVision {
        return Err(Error::Input {
            path: boxes_path.to_path_buf(),
            reason: "fovea score reads a Score Vision miner file ({\"frames\": {...}}), not JSONL".into(),
        });
    }
    let info = crate::video::probe(video)?;
    let (w, h) = (info.width, info.height);
    let video_frames = info
        .declared_frames
        .or_else(|| info.duration.zip(info.fps).map(|(d, f)| (d * f).round() as u64))
        .unwrap_or_else(|| file.frames.last().map_or(0, |f| f.index + 1));
    // The frames to validate: the validator's list, or every frame of the video. The miner's other
    // frames are not scored.
    // A container's declared frame count is input: the default list is bounded as a given one is.
    let validate: BTreeSet<u64> = opts.frames.clone().unwrap_or_else(|| (0..video_frames.min(MAX_FRAME_LIST as u64)).collect());
    file.frames.retain(|f| validate.contains(&f.index));
    // Lines are measured on frames with at least 4 valid keypoints, with or without boxes.
    let candidates: Vec<u64> = file
        .frames
        .iter()
        .filter(|f| file.keypoints.get(&f.index).is_some_and(|k| keypoints::valid(k, Some((w, h))).0.len() >= 4))
        .map(|f| f.index)
        .collect();
    let line_set = spread(&candidates, opts.line_frames);
    let classified = classifier.is_some();
    let vopts = VerifyOptions {
        box_pixels: classified || opts.filter.reads_pixels(),
        gpu: opts.gpu.clone(),
        ..VerifyOptions::new(ChainConfig { rules: Some(opts.filter.clone()), batch_rois: opts.batch_rois, ..ChainConfig::default() })
    };
    let mut lines: BTreeMap<u64, PitchLines> = BTreeMap::new();
    let mut lines_s = 0.0;
    let params = LineParams { lower: opts.filter.stats.green_lower, upper: opts.filter.stats.green_upper, ..LineParams::default() };
    let gpu = opts.gpu.clone();
    let mut hook = |index: u64, view: &crate::image::FrameView| -> Result<()> {
        let t = Instant::now();
        let (mask, grass) = match &gpu {
            Some(d) => d.pitch_line_planes(view, ChannelOrder::Rgb, &params)?,
            None => line_planes(view, ChannelOrder::Rgb, &params),
        };
        lines.insert(index, PitchLines::from_planes(&mask, &grass, view.width, view.height));
        lines_s += t.elapsed().as_secs_f64();
        Ok(())
    };
    let mut per_frame: Vec<FrameBoxScore> = Vec::new();
    let (verify, outcome) = verify_frames_with(
        video,
        &file,
        &vopts,
        classifier,
        &mut |r, _| {
            if opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Error::Cancelled);
            }
            per_frame.push(boxes::score_frame(r, w, h, classified));
            if let Some(p) = &opts.progress {
                p.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        },
        Some((&line_set, &mut hook)),
    );
    let (score, raw) = boxes::challenge_score(&per_frame, video_frames);
    let mut part = BoxPart { score, raw, frames: per_frame.len(), ..BoxPart::default() };
    for f in &per_frame {
        part.boxes += f.boxes;
        part.unknown += f.unknown;
        for b in &f.details {
            if let Some(n) = b.note.as_deref().and_then(|n| n.strip_prefix("dropped: ")) {
                *part.dropped.entry(n.to_string()).or_default() += 1;
            }
        }
    }
    part.upper_bound = part.unknown > 0;
    part.area_factor =
        if per_frame.is_empty() { 1.0 } else { per_frame.iter().map(|f| f.area_factor).sum::<f64>() / per_frame.len() as f64 };
    lost_points(&per_frame, &mut part.lost);

    let kp_frames: Vec<KpFrame> = file
        .frames
        .iter()
        .map(|f| KpFrame {
            index: f.index,
            keypoints: file.keypoints.get(&f.index).cloned().unwrap_or_default(),
            objects: f.detections.iter().zip(&f.track_ids).map(|(d, id)| (*id, d.bbox.map(f64::from), d.class_id)).collect(),
        })
        .collect();
    let kp = keypoints::score(&kp_frames, w, h, &lines, &validate, opts.homography);
    let fastest = opts.fastest.unwrap_or(0.0);
    let speed = opts.time.map(|t| speed_score(t, fastest, part.score));
    let quality = 0.5 * part.score + 0.5 * kp.score / 100.0;
    let final_score = 0.65 * quality + 0.35 * speed.unwrap_or(0.0);
    let costs = costs(&part, &kp, speed, opts.time);
    let report = ScoreReport {
        video: video.display().to_string(),
        width: w,
        height: h,
        video_frames,
        boxes: part,
        keypoints: kp,
        speed,
        fastest,
        quality,
        final_score,
        lines_device: opts.gpu.as_ref().map_or_else(|| "cpu".to_string(), |d| format!("cuda:{}", d.ordinal())),
        lines_s,
        wall_s: t0.elapsed().as_secs_f64(),
        costs,
        per_frame,
        verify,
    };
    Ok((report, outcome))
}

/// Points lost per class the validator would see, over all frames (each frame's loss divided
/// as its score is: by its classes + 1, times its area factor, over the frames).
fn lost_points(frames: &[FrameBoxScore], out: &mut BTreeMap<String, f64>) {
    let n = frames.len().max(1) as f64;
    for f in frames {
        let classes = f.details.iter().filter_map(|b| b.expected.clone()).collect::<BTreeSet<_>>().len().max(1) as f64;
        for b in &f.details {
            if let (Some(e), Some(p)) = (&b.expected, b.points) {
                if p < 0.0 || (b.predicted != e.as_str()) {
                    *out.entry(e.clone()).or_default() += (1.0 - p as f64).min(2.0) / (classes + 1.0) * f.area_factor / n;
                }
            }
        }
    }
}

/// What cost points, in words.
fn costs(b: &BoxPart, k: &KeypointScore, speed: Option<f64>, time: Option<f64>) -> Vec<String> {
    let mut c: Vec<(f64, String)> = Vec::new();
    if b.upper_bound {
        c.push((1.0, format!("{} boxes need a classifier to be confirmed (--classifier): the box score is an upper bound", b.unknown)));
    }
    if b.area_factor < 0.999 {
        c.push((1.0 - b.area_factor, format!("boxes too large or too many: mean area factor {:.3}", b.area_factor)));
    }
    for (class, lost) in &b.lost {
        c.push((*lost, format!("boxes the validator sees as {class}: {lost:.3} of the box score")));
    }
    let dropped: u64 = b.dropped.values().sum();
    if dropped > 0 {
        let list: Vec<String> = b.dropped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        c.push((0.0, format!("{dropped} boxes dropped by the validator's rules ({})", list.join(", "))));
    }
    let kp_lost = [
        (0.25 * (100.0 - k.keypoint_score), "keypoint homography (inliers, reprojection error)"),
        (0.4 * (1.0 - k.on_line) * 100.0, "keypoints off the pitch lines"),
        (0.2 * (1.0 - k.inside) * 100.0, "objects projected outside the pitch"),
        (0.05 * (1.0 - k.stability) * 100.0, "keypoint stability"),
        (0.1 * (100.0 - (k.plausibility * 100.0 + k.player_score) / 2.0), "player movement"),
    ];
    for (lost, what) in kp_lost {
        if lost > 0.5 {
            c.push((lost / 200.0, format!("{what}: {lost:.1} of 100 keypoint points")));
        }
    }
    if k.scale < 1.0 || k.scale_valid < 1.0 {
        c.push((
            0.1,
            format!(
                "keypoint score scaled by {:.3} (spread ratio {:.3}, frames with a homography {:.3})",
                (k.scale + k.scale_valid) / 2.0,
                k.scale,
                k.scale_valid
            ),
        ));
    }
    match (speed, time) {
        (Some(s), Some(t)) if s < 1.0 => c.push((0.35 * (1.0 - s), format!("speed: {t:.2} s gives a speed score of {s:.3}"))),
        (None, _) => c.push((0.35, "no --time: the speed score (35% of the final score) is left out".into())),
        _ => {}
    }
    c.sort_by(|a, b| b.0.total_cmp(&a.0));
    c.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_follows_the_validator() {
        assert_eq!(speed_score(3.0, 3.0, 0.5), 1.0);
        assert!((speed_score(9.0, 3.0, 0.5) - (-5.0f64 * 6.0 / 12.0).exp()).abs() < 1e-12);
        assert_eq!(speed_score(15.0, 3.0, 0.5), 0.0, "at the limit");
        assert_eq!(speed_score(5.0, 3.0, 0.2), 0.0, "a box score of 0.2 or less earns no speed");
    }

    #[test]
    fn line_frames_are_spread() {
        let c: Vec<u64> = (0..100).collect();
        let s = spread(&c, 4);
        assert_eq!(s.into_iter().collect::<Vec<_>>(), [12, 37, 62, 87]);
        assert_eq!(spread(&c[..3], 10).len(), 3);
        assert!(spread(&c, 0).is_empty());
    }

    /// Regression (issue 34): a fastest time above this miner's, or at the 15 s limit, gave
    /// speed scores that mean nothing; both are refused.
    #[test]
    fn a_fastest_time_that_cannot_be_is_refused() {
        let r = |time, fastest| ScoreRequest { time, fastest, ..ScoreRequest::default() }.check();
        assert!(r(Some(4.0), Some(2.0)).is_ok() && r(None, Some(2.0)).is_ok() && r(Some(20.0), Some(14.9)).is_ok());
        assert!(r(Some(2.0), Some(4.0)).unwrap_err().to_string().contains("above this miner's time"));
        assert!(r(None, Some(15.0)).unwrap_err().to_string().contains("below the validator's 15 s limit"));
    }
}
