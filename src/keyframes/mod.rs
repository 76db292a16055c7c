//! Key-frame selection in two stages: a cheap kernel on every frame, models on few (feature `video`).
//!
//! ```text
//!  file ─▶ stage 1: decode, scaled (swscale, 256 px) ─▶ quality kernel (CPU or GPU) on every sampled frame
//!       │          └─ the decoded pictures of frames that may still become candidates, held (hold.rs)
//!       ─▶ shots (hard cuts, adaptive threshold) ─▶ per shot, the best-quality candidates (gates: blur, exposure)
//!       ─▶ stage 2: the held candidates converted (the chain's in-memory source), the others decoded again
//!          (the chain's file source on them only) ─▶ detector (people, size, centred, cut by the border)
//!          [─▶ image encoder] ─▶ final score
//!       ─▶ one frame per shot (near-duplicates across shots dropped, a minimum gap, --max) ─▶ images + JSON
//! ```
//! Stage 1 runs [`crate::pipeline::quality::run_quality`], stage 2 [`crate::pipeline::run_frames`]
//! and [`crate::pipeline::run_detect_selected`]: the one chain's sources and stages; this module
//! only decides (and what to hold).
#![forbid(unsafe_code)]

mod candidates;
mod choose;
mod hold;
pub mod policy;
pub mod shots;
mod stage2;
mod write;

use candidates::{candidates_per_shot, Scorer};
use stage2::{images, stage2, Pixels};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

pub use policy::Policy;
pub use shots::Shot;
pub use write::{write, ImageFormat};

use crate::detect::DecodeParams;
use crate::error::{Error, Result};
use crate::infer::encoder::ImageEncoder;
use crate::infer::Detector;
use crate::pipeline::quality::{run_quality, Measured, QualityOptions, QualityReport};
use crate::pipeline::FrameResult;
use crate::quality::FrameQuality;
use crate::video::{FramePool, Sampling};

/// What a run is asked for.
pub struct Options<'a> {
    pub policy: Policy,
    /// At most this many key frames; None: one per shot.
    pub max: Option<usize>,
    /// Chosen frames are at least this many seconds apart.
    pub min_gap: f64,
    /// Which frames stage 1 measures (every `stride`-th, a time range).
    pub sampling: Sampling,
    pub format: ImageFormat,
    /// Run the quality kernel on this GPU.
    pub gpu: Option<Arc<crate::cuda::Device>>,
    /// An image encoder: near-duplicates by the cosine of its embeddings (else by hash).
    pub encoder: Option<&'a mut ImageEncoder>,
    /// Longest side of the contact sheet's thumbnails.
    pub thumb: u32,
    /// Told of every frame stage 1 measured (for a progress display).
    pub progress: Option<&'a mut dyn FnMut(crate::pipeline::Progress)>,
}

impl Options<'_> {
    pub fn new(policy: Policy) -> Self {
        Options {
            policy,
            max: None,
            min_gap: 1.0,
            sampling: Sampling::default(),
            format: ImageFormat::Jpeg,
            gpu: None,
            encoder: None,
            thumb: 320,
            progress: None,
        }
    }
}

/// The normalised parts of a frame's quality score, and the score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityScore {
    pub sharpness: f64,
    pub contrast: f64,
    pub colourfulness: f64,
    pub exposure: f64,
    pub score: f64,
}

/// What the detector saw in a candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct People {
    pub count: usize,
    /// Area of the largest person box / the frame's.
    pub largest: f64,
    /// Share of person boxes touching the frame's border.
    pub cut: f64,
    /// Distance of the largest person's centre from the nearest of the centre and the thirds'
    /// crossings, over half the diagonal (0 = on one).
    pub offset: f64,
    /// The people and composition terms, 0..1.
    pub people_score: f64,
    pub composition: f64,
}

/// A frame stage 2 analysed.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Decode index and time.
    pub frame: u64,
    pub time: f64,
    pub shot: usize,
    /// The raw measures (the histogram is not reported).
    #[serde(flatten)]
    pub measures: FrameQuality,
    pub quality: QualityScore,
    pub people: Option<People>,
    pub score: f64,
    pub chosen: bool,
    /// Why it was or was not chosen.
    pub why: String,
    #[serde(skip)]
    pub image: Option<Vec<u8>>,
    /// BGR thumbnail (data, width, height) for the contact sheet.
    #[serde(skip)]
    pub thumb: Option<(Vec<u8>, u32, u32)>,
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
    /// The detector's result on the frame.
    #[serde(skip)]
    pub result: Option<FrameResult>,
}

/// A measured frame: decode index, time, shot, quality score.
#[derive(Debug, Clone, Copy)]
pub struct MeasuredFrame {
    pub index: u64,
    pub time: f64,
    pub shot: usize,
    pub quality: f64,
}

/// One shot and its candidates (indices into [`KeyframeSelection::candidates`]).
#[derive(Debug, Clone, Serialize)]
pub struct ShotReport {
    pub index: usize,
    pub start_frame: u64,
    pub end_frame: u64,
    pub start_time: f64,
    pub end_time: f64,
    /// The cut's change and the threshold it beat (0 for the first shot).
    pub change: f64,
    pub threshold: f64,
    pub frames_measured: usize,
    /// Frames kept out of the candidates: blurred (relative sharpness), under- or over-exposed.
    pub rejected_blur: usize,
    pub rejected_exposure: usize,
    pub candidates: Vec<usize>,
}

/// Frames and seconds per stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub frames_decoded: u64,
    pub stage1_frames: u64,
    pub stage1_device: String,
    pub stage1_size: [u32; 2],
    pub shots: usize,
    pub stage2_frames: u64,
    /// Frames stage 2 decoded again (candidates whose pictures stage 1 did not hold, and the
    /// frames they need).
    pub stage2_frames_decoded: u64,
    /// Candidates stage 2 took from the pictures stage 1 held.
    pub stage2_frames_held: u64,
    /// The most MiB of pictures held at once, and pictures let go for room while their frames
    /// could still become candidates (the policy's `candidates.hold_mib`).
    pub held_peak_mib: f64,
    pub held_dropped_for_room: u64,
    pub duplicates_dropped: usize,
    pub chosen: usize,
    /// Why no frame was chosen, when none was (every frame kept out by the quality gates, or
    /// no frame decoded).
    pub nothing_chosen: Option<String>,
    pub seconds: BTreeMap<&'static str, f64>,
}

/// The outcome of a run.
#[derive(Debug)]
pub struct KeyframeSelection {
    pub video: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: Option<f64>,
    pub duration: Option<f64>,
    pub model: String,
    pub encoder: Option<String>,
    pub shots: Vec<ShotReport>,
    /// Every frame stage 1 measured.
    pub frames: Vec<MeasuredFrame>,
    pub candidates: Vec<Candidate>,
    /// Indices into `candidates`, in time order.
    pub chosen: Vec<usize>,
    pub stages: StageReport,
    pub policy: Policy,
    pub format: ImageFormat,
}

/// The people and composition terms of a candidate from its detections.
fn people_of(r: &FrameResult, person: Option<u32>, w: u32, h: u32) -> People {
    let boxes: Vec<[f32; 4]> = r.detections.iter().filter(|d| Some(d.class_id) == person).map(|d| d.bbox).collect();
    let area = (w as f64 * h as f64).max(1.0);
    let (fw, fh) = (w as f32, h as f32);
    let touches = |b: &[f32; 4]| b[0] <= 2.0 || b[1] <= 2.0 || b[2] >= fw - 2.0 || b[3] >= fh - 2.0;
    let cut = if boxes.is_empty() { 0.0 } else { boxes.iter().filter(|b| touches(b)).count() as f64 / boxes.len() as f64 };
    let largest = boxes.iter().max_by(|a, b| ((a[2] - a[0]) * (a[3] - a[1])).total_cmp(&((b[2] - b[0]) * (b[3] - b[1]))));
    let (largest_share, offset) = match largest {
        Some(b) => {
            let (cx, cy) = (0.5 * (b[0] + b[2]) as f64, 0.5 * (b[1] + b[3]) as f64);
            let (w, h) = (w as f64, h as f64);
            let spots = [(0.5, 0.5), (1.0 / 3.0, 1.0 / 3.0), (2.0 / 3.0, 1.0 / 3.0), (1.0 / 3.0, 2.0 / 3.0), (2.0 / 3.0, 2.0 / 3.0)];
            let d = spots.iter().map(|(sx, sy)| ((cx - sx * w).powi(2) + (cy - sy * h).powi(2)).sqrt()).fold(f64::INFINITY, f64::min);
            (((b[2] - b[0]) * (b[3] - b[1])) as f64 / area, d / (0.5 * (w * w + h * h).sqrt()))
        }
        None => (0.0, 1.0),
    };
    let n = boxes.len();
    let people_score =
        if n == 0 { 0.0 } else { 0.3 * (n as f64 / 3.0).min(1.0) + 0.4 * (largest_share / 0.1).min(1.0) + 0.3 * (1.0 - cut) };
    // Without people the composition is neutral.
    let composition = if n == 0 { 0.5 } else { (1.0 - offset).clamp(0.0, 1.0) * (1.0 - 0.5 * cut) };
    People { count: n, largest: largest_share, cut, offset, people_score, composition }
}

/// Runs both stages on `input` and decides; nothing is written (see [`write`]). On an input error
/// in stage 1 the frames measured before it are used, and the error is returned with the
/// selection (a damaged file still gets its key frames from the part that decoded).
pub fn select(
    input: &Path,
    detector: &mut Detector,
    params: &DecodeParams,
    mut opts: Options<'_>,
) -> Result<(KeyframeSelection, Result<()>)> {
    let start = Instant::now();
    let policy = opts.policy.clone();
    check_options(&opts)?;
    let mut seconds = BTreeMap::new();

    // Stage 1: every sampled frame, measured small.
    let Stage1 { measured, mut holder, report: q, outcome: stage1_outcome } = measure(input, &mut opts)?;
    seconds.insert("stage1_decode", q.decode_s + q.convert_s);
    seconds.insert("stage1_measure", q.measure_s);
    seconds.insert("stage1_wall", start.elapsed().as_secs_f64());

    // Shots and candidates.
    let t = Instant::now();
    let rate = q.video.fps.unwrap_or(25.0) / f64::from(opts.sampling.stride.max(1));
    let found = shots::detect(&measured, rate, &policy.shots);
    let scorer = Scorer::new(&measured, &policy.quality);
    let (mut shot_reports, picks) = candidates_per_shot(&measured, &found, &scorer, &policy);
    seconds.insert("shots_and_candidates", t.elapsed().as_secs_f64());

    // Stage 2: the detector (and encoder) on the candidates only: those whose pictures stage 1
    // held from memory, the others decoded again.
    let t = Instant::now();
    let by_index: BTreeMap<u64, (usize, usize)> = picks.iter().map(|&(i, s)| (measured[i].index, (i, s))).collect();
    let mut held = Vec::new();
    let mut again = BTreeSet::new();
    for (&index, &(mi, _)) in &by_index {
        match holder.take(mi) {
            Some(p) => held.push((index, measured[mi].pts, p)),
            None => {
                again.insert(index);
            }
        }
    }
    let hold_stats = holder.stats;
    drop(holder);
    let encoder = opts.encoder.take();
    let encoder_name = encoder.as_ref().map(|e| e.model().name.clone());
    let mut seen = stage2(input, &q.video, detector, params, &opts, held, again, encoder)?;
    seconds.insert("stage2_wall", t.elapsed().as_secs_f64());
    seconds.insert("stage2_decode", seen.decode_s);
    seconds.insert("stage2_convert", seen.convert_s);
    seconds.insert("stage2_detector", seen.detector_s);

    // Final scores, then the choice.
    let t = Instant::now();
    let person = detector.manifest().class_id("person");
    let mut candidates =
        final_scores(&by_index, &measured, seen.results, std::mem::take(&mut seen.pixels), &scorer, &policy, person, &mut shot_reports);
    let duplicates = choose::choose(&mut candidates, &shot_reports, &policy.duplicates, opts.min_gap, opts.max);
    let mut chosen: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].chosen).collect();
    chosen.sort_by(|&a, &b| candidates[a].time.total_cmp(&candidates[b].time));
    seconds.insert("choice", t.elapsed().as_secs_f64());
    // The images of chosen candidates whose pictures were held.
    let t = Instant::now();
    let pool = FramePool::new(1);
    for &i in &chosen {
        let c = &mut candidates[i];
        if let (None, Some(p)) = (&c.image, seen.pictures.remove(&c.frame)) {
            let f = seen.converter.picture(&p, &pool, c.frame, c.time)?;
            let (image, thumb) = images(&f, detector.manifest().input.channels, opts.format, opts.thumb)?;
            c.image = Some(image);
            c.thumb = Some(thumb);
        }
    }
    drop(seen.pictures);
    // Pixels of frames not chosen are not kept.
    for c in candidates.iter_mut().filter(|c| !c.chosen) {
        c.image = None;
        c.thumb = None;
    }
    seconds.insert("images", t.elapsed().as_secs_f64());
    seconds.insert("wall", start.elapsed().as_secs_f64());

    let stages = StageReport {
        frames_decoded: q.frames_decoded,
        stage1_frames: q.frames_measured,
        stage1_device: q.device.clone(),
        stage1_size: [q.width, q.height],
        shots: shot_reports.len(),
        stage2_frames: candidates.len() as u64,
        stage2_frames_decoded: seen.frames_decoded,
        stage2_frames_held: seen.frames_held,
        held_peak_mib: hold_stats.peak_bytes as f64 / f64::from(1 << 20),
        held_dropped_for_room: hold_stats.dropped_for_room,
        duplicates_dropped: duplicates,
        chosen: chosen.len(),
        nothing_chosen: chosen.is_empty().then(|| why_nothing_chosen(q.frames_measured, candidates.len(), &shot_reports)),
        seconds,
    };
    let mut frames = Vec::with_capacity(measured.len());
    for (si, s) in found.iter().enumerate() {
        for m in &measured[s.start..s.end] {
            frames.push(MeasuredFrame { index: m.index, time: m.pts, shot: si, quality: scorer.score(&m.quality).score });
        }
    }
    let selection = KeyframeSelection {
        video: input.to_path_buf(),
        width: q.video.width,
        height: q.video.height,
        fps: q.video.fps,
        duration: q.video.duration,
        model: detector.manifest().name.clone(),
        encoder: encoder_name,
        shots: shot_reports,
        frames,
        candidates,
        chosen,
        stages,
        policy,
        format: opts.format,
    };
    Ok((selection, stage1_outcome.and(seen.outcome)))
}

/// What stage 1 measured: every sampled frame and its measures, the pictures held for stage 2,
/// the quality source's report, and the input error that ended it, if any.
struct Stage1 {
    measured: Vec<Measured>,
    holder: hold::Holder,
    report: QualityReport,
    outcome: Result<()>,
}

/// Stage 1: every sampled frame of `input` measured small (the quality source), progress told,
/// the pictures of frames that may become candidates held at full size.
fn measure(input: &Path, opts: &mut Options<'_>) -> Result<Stage1> {
    let info = crate::video::probe(input)?;
    let rate = info.fps.unwrap_or(25.0) / f64::from(opts.sampling.stride.max(1));
    let expected = info.duration.map(|d| d * rate).or(info.declared_frames.map(|f| f as f64 / f64::from(opts.sampling.stride.max(1))));
    let mut holder = hold::Holder::new(&opts.policy, rate, expected.map(|e| e as usize));
    let analysis = &opts.policy.analysis;
    // Pictures decoded without the loop filter are not what stage 2 must see: none are held then.
    let keep_pictures = holder.holds() && !analysis.skip_loop_filter;
    let source =
        QualityOptions { width: analysis.width, skip_loop_filter: analysis.skip_loop_filter, keep_pictures, gpu: opts.gpu.clone() };
    let mut measured: Vec<Measured> = Vec::new();
    let progress = &mut opts.progress;
    let (report, outcome) = run_quality(input, opts.sampling, &source, &mut |mut m| {
        if let Some(p) = progress.as_mut() {
            p(crate::pipeline::Progress { frame_index: m.index, pts: m.pts, processed: measured.len() as u64 + 1 });
        }
        let picture = m.picture.take();
        measured.push(m);
        if let Some(p) = picture {
            holder.push(&measured, p);
        }
        Ok(())
    })?;
    Ok(Stage1 { measured, holder, report, outcome })
}

/// The candidates stage 2 saw (`by_index`: decode index to measured index and shot), with their
/// final scores (quality, people, composition), each listed in its shot's report.
#[allow(clippy::too_many_arguments)]
fn final_scores(
    by_index: &BTreeMap<u64, (usize, usize)>,
    measured: &[Measured],
    results: BTreeMap<u64, FrameResult>,
    mut pixels: BTreeMap<u64, Pixels>,
    scorer: &Scorer,
    policy: &Policy,
    person: Option<u32>,
    shot_reports: &mut [ShotReport],
) -> Vec<Candidate> {
    let mut candidates = Vec::with_capacity(by_index.len());
    for (&index, &(mi, si)) in by_index {
        let Some(r) = results.get(&index) else { continue };
        let Some(px) = pixels.remove(&index) else { continue };
        let m = &measured[mi];
        let qs = scorer.score(&m.quality);
        let people = people_of(r, person, px.size.0, px.size.1);
        let w = &policy.score;
        let total = w.quality + w.people + w.composition;
        let score = (w.quality * qs.score + w.people * people.people_score + w.composition * people.composition) / total;
        shot_reports[si].candidates.push(candidates.len());
        candidates.push(Candidate {
            frame: index,
            time: m.pts,
            shot: si,
            measures: m.quality.clone(),
            quality: qs,
            people: person.map(|_| people),
            score,
            chosen: false,
            why: String::new(),
            image: px.image,
            thumb: px.thumb,
            embedding: px.embedding,
            result: Some(r.clone()),
        });
    }
    candidates
}

/// The options `select` refuses before decoding anything.
fn check_options(opts: &Options<'_>) -> Result<()> {
    if !(opts.min_gap.is_finite() && opts.min_gap >= 0.0) {
        return Err(Error::InvalidOption { option: "--min-gap", reason: format!("must be >= 0 seconds, got {}", opts.min_gap) });
    }
    if opts.max == Some(0) {
        return Err(Error::InvalidOption { option: "--max", reason: "must be >= 1".into() });
    }
    if !(16..=4096).contains(&opts.thumb) {
        return Err(Error::InvalidOption { option: "thumbnail size", reason: format!("must be within 16..=4096, got {}", opts.thumb) });
    }
    opts.sampling.validate()
}

/// Why no frame was chosen (for the report and the summary).
fn why_nothing_chosen(measured: u64, candidates: usize, shots: &[ShotReport]) -> String {
    let (exposure, blur): (usize, usize) = shots.iter().fold((0, 0), |(e, b), s| (e + s.rejected_exposure, b + s.rejected_blur));
    if measured == 0 {
        "no frame was decoded".to_string()
    } else if candidates == 0 {
        format!(
            "no frame passed the quality gates: of {measured} measured, {exposure} under- or over-exposed (e.g. black or \
             white), {blur} blurred, the rest within the guard at a cut (see the policy's [quality])"
        )
    } else {
        format!("the {candidates} candidates were all dropped (near-duplicates or under the policy's bars)")
    }
}

/// What a face asks of [`run_file`] (JSON: every field optional).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Request {
    pub max: Option<usize>,
    pub min_gap: Option<f64>,
    /// A policy file (TOML); else the built-in one.
    pub policy: Option<PathBuf>,
    pub stride: Option<u32>,
    /// "jpg" (default) or "png".
    pub image_format: Option<String>,
}

impl Request {
    /// Parses a face's options (`None` or empty: the defaults); errors name the option.
    pub fn parse(json: Option<&str>) -> Result<Self> {
        match json.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(Self::default()),
            Some(s) => serde_json::from_str(s).map_err(|e| Error::InvalidOption { option: "keyframes options", reason: e.to_string() }),
        }
    }
}

/// Key frames of `video` into `out_dir` with `engine`'s model (its detector and thresholds),
/// as `fovea keyframes` does: the C ABI's, Python's and Go's call. Returns the keyframes.json
/// document, which is also the engine's last report.
pub fn run_file(engine: &crate::engine::Engine, video: &Path, out_dir: &Path, req: &Request) -> Result<serde_json::Value> {
    let policy = Policy::load_or_default(req.policy.as_deref())?;
    let mut opts = Options::new(policy);
    opts.max = req.max;
    if let Some(g) = req.min_gap {
        opts.min_gap = g;
    }
    opts.sampling = Sampling { stride: req.stride.unwrap_or(1), ..Sampling::default() };
    if let Some(f) = &req.image_format {
        opts.format = f.parse()?;
    }
    engine.with_detector(|det, params| {
        opts.gpu = det.device();
        let (selection, outcome) = select(video, det, params, opts)?;
        let (_, doc) = write(&selection, out_dir)?;
        // A damaged input still has its key frames and report; the error comes after them.
        Ok((outcome.map(|_| doc.clone()), Some(doc)))
    })?
}

/// What an annotated video of the run shows, per measured frame in decode order: the detector's
/// boxes on candidates, and a note with the shot, the quality score and, on candidates, the
/// verdict.
pub fn annotations(s: &KeyframeSelection) -> Vec<(FrameResult, String)> {
    let by_frame: BTreeMap<u64, usize> = s.candidates.iter().enumerate().map(|(i, c)| (c.frame, i)).collect();
    let rank: BTreeMap<usize, usize> = s.chosen.iter().enumerate().map(|(k, &i)| (i, k + 1)).collect();
    s.frames
        .iter()
        .map(|f| match by_frame.get(&f.index) {
            Some(&i) => {
                let c = &s.candidates[i];
                let r = c.result.clone().unwrap_or_else(|| FrameResult::untracked(f.index, f.time, Vec::new()));
                let note = match rank.get(&i) {
                    Some(k) => format!("KEY FRAME #{k}  shot {}  score {:.2}", f.shot, c.score),
                    None => format!("candidate  shot {}  score {:.2}  ({})", f.shot, c.score, c.why),
                };
                (r, note)
            }
            None => (FrameResult::untracked(f.index, f.time, Vec::new()), format!("shot {}  quality {:.2}", f.shot, f.quality)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_terms() {
        let det = |b: [f32; 4]| crate::results::Detection::new(b, 0.9, 0);
        let r = FrameResult::untracked(0, 0.0, vec![det([270.0, 150.0, 370.0, 330.0]), det([0.0, 100.0, 40.0, 200.0])]);
        let p = people_of(&r, Some(0), 640, 480);
        assert_eq!(p.count, 2);
        assert!((p.cut - 0.5).abs() < 1e-12);
        assert!(p.offset < 0.05, "the largest is centred: {}", p.offset);
        let none = people_of(&r, None, 640, 480);
        assert_eq!((none.count, none.people_score, none.composition), (0, 0.0, 0.5));
    }
}
