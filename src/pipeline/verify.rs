//! `fovea verify`: the validator's side. Given boxes (a miner's Score Vision file or fovea JSONL)
//! and their video, decode only the frames that have boxes, cut every box out as a ROI, measure
//! its colours, apply the rules, hand what survives to the classifier slot, and say per box what
//! was decided and why.
//!
//! ```text
//! decode thread (selected frames only) ──▶ batch of frames ──▶ crops ──▶ colour stats (parallel)
//!        ──▶ rules ──▶ ROI tensor of the kept boxes (parallel) ──▶ classifier slot ──▶ sink, in order
//! ```
//! Bad boxes (non-finite, empty, outside the frame, unknown class, frame past the end of the video)
//! are reported as `invalid` with the reason, never fatal; the other boxes are unaffected.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub use crate::classify::{PassThrough, RoiClassifier};
use crate::error::Result;
use crate::filter::{Candidate, FilterConfig, Verdict};
use crate::image::{ChannelOrder, Fit};
use crate::output::read::{BoxesFile, BoxesFormat, SCOREVISION_LABELS};
use crate::pipeline::FrameResult;
pub use crate::results::BoxResult;
use crate::roi::{self, crop_of, ColourStats, Crop, FrameView, RoiBatch, RoiRef, StatsParams};
use crate::video::{self, Frame, OutputFormat, Sampling, VideoInfo};

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub filter: FilterConfig,
    /// Make the ROI tensors of kept boxes even when the classifier does not read them (the
    /// validator's whole crop + resize + normalise workload, e.g. to measure it).
    pub roi_tensors: bool,
    /// ROIs per batch (a batch is cut at a frame boundary once it holds this many).
    pub batch_rois: usize,
    /// Assign colour teams to people (per clip: results are written at the end).
    pub teams: bool,
    /// Run the colour statistics and ROI tensors on this GPU (frames uploaded through a pinned
    /// pool; the ROI batch stays on the device for a GPU classifier).
    #[cfg(feature = "cuda")]
    pub gpu: Option<Arc<crate::cuda::Device>>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            filter: FilterConfig::scorevision(),
            roi_tensors: true,
            batch_rois: 256,
            teams: false,
            #[cfg(feature = "cuda")]
            gpu: None,
        }
    }
}

/// Counts and times of a verify run.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub video: Option<VideoInfo>,
    pub boxes: u64,
    pub kept: u64,
    pub rejected: BTreeMap<String, u64>,
    pub invalid: BTreeMap<String, u64>,
    pub clamped: u64,
    /// Frames of the input that have boxes, and how many of them the video lacks.
    pub frames: u64,
    pub frames_missing: u64,
    pub frames_decoded: u64,
    /// ROIs measured (colour statistics) and ROI tensors made.
    pub stats_rois: u64,
    pub tensor_rois: u64,
    pub roi_size: u32,
    pub classifier: String,
    /// Where the statistics and ROI tensors were made ("cpu" or "cuda:N"), and how many ROI
    /// batches had to come back to the host for a classifier that runs there.
    pub roi_device: String,
    pub roi_downloads: u64,
    /// Seconds: waiting for decoded frames, statistics, rules, ROI tensors, classifier, sink.
    pub wait_s: f64,
    pub decode_s: f64,
    pub stats_s: f64,
    pub rules_s: f64,
    pub roi_s: f64,
    pub classify_s: f64,
    pub sink_s: f64,
    pub wall_s: f64,
    /// With teams: boxes given team 0, team 1, goalkeeper, referee, unknown.
    pub teams: Option<[u64; 5]>,
    /// Boxes the classifier decided, and boxes it would have seen that colour decided first.
    pub classified: u64,
    pub colour_saved: u64,
    /// Frames decoded again for the classifier (teams only).
    pub second_pass_frames: u64,
}

impl VerifyReport {
    /// ROIs per second through statistics and tensors (their busy time).
    pub fn rois_per_s(&self) -> f64 {
        let t = self.stats_s + self.roi_s;
        if t > 0.0 {
            self.stats_rois as f64 / t
        } else {
            0.0
        }
    }

    fn count(&mut self, r: &BoxResult) {
        self.boxes += 1;
        match r.verdict {
            "keep" => self.kept += 1,
            "reject" => *self.rejected.entry(r.rule.clone().unwrap_or_default()).or_default() += 1,
            _ => *self.invalid.entry(r.rule.clone().unwrap_or_default()).or_default() += 1,
        }
        if r.flags.contains(&"clamped") {
            self.clamped += 1;
        }
    }
}

fn label_of(boxes: &BoxesFile, class_id: u32) -> Option<String> {
    match boxes.format {
        BoxesFormat::ScoreVision => SCOREVISION_LABELS.get(class_id as usize).map(|s| s.to_string()),
        BoxesFormat::Jsonl => Some(boxes.labels.get(class_id as usize).cloned().unwrap_or_else(|| format!("class_{class_id}"))),
    }
}

fn base_result(boxes: &BoxesFile, f: &FrameResult, k: usize) -> BoxResult {
    let d = &f.detections[k];
    BoxResult {
        frame: f.index,
        index: k,
        id: f.track_ids.get(k).copied().flatten(),
        class_id: d.class_id,
        label: label_of(boxes, d.class_id).unwrap_or_else(|| format!("class_{}", d.class_id)),
        bbox: d.bbox,
        score: d.score,
        verdict: "keep",
        rule: None,
        value: None,
        limit: None,
        flags: Vec::new(),
        stats: None,
        source: "filter",
        scores: None,
        team: None,
        jersey: None,
    }
}

fn invalid(mut r: BoxResult, why: &str) -> BoxResult {
    r.verdict = "invalid";
    r.rule = Some(why.to_string());
    r
}

/// Runs the verification of `boxes` on `video`, handing every box's result to `sink` in input
/// order (frame, then position). Results made before an error are handed over before it is
/// returned (second element).
pub fn run_verify(
    video_path: &Path,
    boxes: &BoxesFile,
    opts: &VerifyOptions,
    classifier: &mut dyn RoiClassifier,
    sink: &mut dyn FnMut(&BoxResult) -> Result<()>,
) -> (VerifyReport, Result<()>) {
    let mut report = VerifyReport { classifier: classifier.name().to_string(), roi_device: "cpu".into(), ..Default::default() };
    let outcome = verify_inner(video_path, boxes, opts, classifier, sink, &mut report);
    (report, outcome)
}

/// Largest ROI batch (`--batch-rois x 3 x S x S` float32) verify makes at once.
pub const MAX_ROI_BATCH_BYTES: u64 = 1 << 30;

/// Frames held at once (the pool's extra buffers).
const MAX_BATCH_FRAMES: usize = 16;

fn verify_inner(
    video_path: &Path,
    boxes: &BoxesFile,
    opts: &VerifyOptions,
    classifier: &mut dyn RoiClassifier,
    sink: &mut dyn FnMut(&BoxResult) -> Result<()>,
    report: &mut VerifyReport,
) -> Result<()> {
    let t0 = Instant::now();
    let spec = classifier.roi_spec().unwrap_or_else(|| opts.filter.roi.spec());
    let bytes = opts.batch_rois as u64 * 3 * spec.size as u64 * spec.size as u64 * 4;
    if opts.batch_rois == 0 || bytes > MAX_ROI_BATCH_BYTES {
        return Err(crate::Error::InvalidOption {
            option: "--batch-rois",
            reason: format!(
                "{} ROIs of {}x{} make a {:.1} GiB batch; at least 1, and at most {} GiB (lower --batch-rois or roi.size)",
                opts.batch_rois,
                spec.size,
                spec.size,
                bytes as f64 / (1u64 << 30) as f64,
                MAX_ROI_BATCH_BYTES >> 30
            ),
        });
    }
    let with_boxes: Vec<&FrameResult> = boxes.frames.iter().filter(|f| !f.detections.is_empty()).collect();
    report.frames = with_boxes.len() as u64;
    let select: Arc<BTreeSet<u64>> = Arc::new(with_boxes.iter().map(|f| f.index).collect());
    let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };
    let dec = video::spawn_selected(video_path, Sampling::default(), out, 4, MAX_BATCH_FRAMES, Some(select))?;
    report.video = Some(dec.info.clone());
    let by_index: BTreeMap<u64, &FrameResult> = with_boxes.iter().map(|f| (f.index, *f)).collect();
    let mut stage = Stage {
        boxes,
        opts,
        classifier,
        params: StatsParams::new(&opts.filter.stats, ChannelOrder::Rgb),
        rois: RoiSide {
            batch: RoiBatch::default(),
            #[cfg(feature = "cuda")]
            gpu: match &opts.gpu {
                Some(dev) => {
                    report.roi_device = format!("cuda:{}", dev.ctx.ordinal());
                    Some(crate::cuda::rois::DeviceRois::new(dev.clone(), MAX_BATCH_FRAMES, 1920 * 1080 * 3)?)
                }
                None => None,
            },
        },
        held: Vec::new(),
    };
    report.roi_size = stage.classifier.roi_spec().map_or(opts.filter.roi.size, |s| s.size);

    let mut pending: Vec<(Frame, &FrameResult)> = Vec::new();
    let mut pending_rois = 0usize;
    let mut last_seen: Option<u64> = None;
    let mut outcome = Ok(());
    loop {
        let tw = Instant::now();
        let next = dec.frames.recv();
        report.wait_s += tw.elapsed().as_secs_f64();
        match next {
            Ok(Ok(frame)) => {
                last_seen = Some(frame.index);
                let Some(fr) = by_index.get(&frame.index) else { continue };
                pending_rois += fr.detections.len();
                pending.push((frame, fr));
                if pending_rois >= opts.batch_rois || pending.len() >= MAX_BATCH_FRAMES {
                    if let Err(e) = stage.process(std::mem::take(&mut pending), sink, report) {
                        outcome = Err(e);
                        break;
                    }
                    pending_rois = 0;
                }
            }
            Ok(Err(e)) => {
                outcome = Err(e);
                break;
            }
            Err(_) => break,
        }
    }
    // Frames decoded before an error are still processed and reported.
    if !pending.is_empty() {
        let r = stage.process(std::mem::take(&mut pending), sink, report);
        if outcome.is_ok() {
            outcome = r;
        }
    }
    let stats = dec.join();
    if let Ok(s) = &stats {
        report.frames_decoded = s.decoded;
        report.decode_s = s.decode_s + s.convert_s;
    }
    if outcome.is_ok() {
        outcome = stats.map(|_| ());
    }
    if opts.teams {
        let r = stage.release_with_teams(video_path, sink, report);
        if outcome.is_ok() {
            outcome = r;
        }
    }
    if outcome.is_ok() {
        // The stream ended: frames with boxes past its end (or never decoded) are reported.
        for f in with_boxes.iter().filter(|f| last_seen.is_none_or(|l| f.index > l)) {
            report.frames_missing += 1;
            for k in 0..f.detections.len() {
                let r = invalid(base_result(boxes, f, k), "frame_out_of_range");
                report.count(&r);
                if let Err(e) = sink(&r) {
                    outcome = Err(e);
                    break;
                }
            }
        }
    }
    report.wall_s = t0.elapsed().as_secs_f64();
    outcome
}

struct Stage<'a> {
    boxes: &'a BoxesFile,
    opts: &'a VerifyOptions,
    classifier: &'a mut dyn RoiClassifier,
    params: StatsParams,
    rois: RoiSide,
    /// With teams: every result, held until the clip's teams are known.
    held: Vec<BoxResult>,
}

/// Where statistics and ROI tensors are made: the CPU, or the GPU's reused buffers.
struct RoiSide {
    /// The host ROI batch (the CPU's, or a download of the GPU's for a CPU classifier).
    batch: RoiBatch,
    #[cfg(feature = "cuda")]
    gpu: Option<crate::cuda::rois::DeviceRois>,
}

impl RoiSide {
    fn stats(&mut self, views: &[FrameView], measured: &[(usize, Crop)], params: &StatsParams) -> Result<Vec<ColourStats>> {
        #[cfg(feature = "cuda")]
        if let Some(g) = self.gpu.as_mut() {
            g.upload_frames(views)?;
            return g.colour_stats(measured, params);
        }
        Ok(roi::colour_stats(views, measured, params))
    }

    /// The ROI batch of `refs` (on the GPU, over the frames `stats` uploaded, or the same `views`).
    fn make(&mut self, views: &[FrameView], refs: &[RoiRef], spec: &crate::roi::RoiSpec, uploaded: bool) -> Result<()> {
        #[cfg(feature = "cuda")]
        if let Some(g) = self.gpu.as_mut() {
            if !uploaded {
                g.upload_frames(views)?;
            }
            g.extract(refs, spec)?;
            return Ok(());
        }
        let _ = uploaded;
        roi::extract(views, refs, spec, &mut self.batch);
        Ok(())
    }

    /// The classifier on `boxes`: from the device ROI batch when both are on the GPU, else from
    /// the host batch (downloaded first when the ROIs were made on the GPU; counted).
    fn classify(&mut self, classifier: &mut dyn RoiClassifier, boxes: &mut [&mut BoxResult], report: &mut VerifyReport) -> Result<()> {
        #[cfg(feature = "cuda")]
        if let Some(g) = self.gpu.as_ref() {
            if let Some(r) = classifier.classify_device(g.batch_ptr(), boxes) {
                return r;
            }
            if classifier.needs_tensors() {
                g.download(&mut self.batch)?;
                report.roi_downloads += 1;
            }
        }
        let _ = &report;
        classifier.classify(&self.batch, boxes)
    }
}

/// Box labels that team assignment looks at.
const PEOPLE: [&str; 4] = ["player", "goalkeeper", "referee", "person"];

impl Stage<'_> {
    fn process(
        &mut self,
        frames: Vec<(Frame, &FrameResult)>,
        sink: &mut dyn FnMut(&BoxResult) -> Result<()>,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let views: Vec<FrameView> = frames.iter().map(|(f, _)| f.view()).collect();
        let filter = &self.opts.filter;
        // Crops, and the boxes that have none.
        let mut results: Vec<BoxResult> = Vec::new();
        let mut measured: Vec<(usize, Crop)> = Vec::new();
        let mut slot: Vec<Option<usize>> = Vec::new();
        for (fi, (f, fr)) in frames.iter().enumerate() {
            for k in 0..fr.detections.len() {
                let mut r = base_result(self.boxes, fr, k);
                if label_of(self.boxes, r.class_id).is_none() {
                    results.push(invalid(r, "unknown_class"));
                    slot.push(None);
                    continue;
                }
                if !r.score.is_finite() {
                    results.push(invalid(r, "non_finite_score"));
                    slot.push(None);
                    continue;
                }
                match crop_of(r.bbox, 1.0, f.width, f.height) {
                    Err(bad) => {
                        results.push(invalid(r, bad.as_str()));
                        slot.push(None);
                    }
                    Ok((crop, clamped)) => {
                        if clamped {
                            r.flags.push("clamped");
                        }
                        slot.push(Some(measured.len()));
                        measured.push((fi, crop));
                        results.push(r);
                    }
                }
            }
        }
        let t = Instant::now();
        let stats = self.rois.stats(&views, &measured, &self.params)?;
        report.stats_s += t.elapsed().as_secs_f64();
        report.stats_rois += measured.len() as u64;

        // Rules, frame by frame, on the boxes clamped to the frame.
        let t = Instant::now();
        let mut at = 0;
        for (f, fr) in &frames {
            let n = fr.detections.len();
            let (w, h) = (f.width as f32, f.height as f32);
            let idx: Vec<usize> = (at..at + n).filter(|&i| slot[i].is_some()).collect();
            let clamped: Vec<[f32; 4]> = idx
                .iter()
                .map(|&i| {
                    let b = results[i].bbox;
                    [b[0].clamp(0.0, w), b[1].clamp(0.0, h), b[2].clamp(0.0, w), b[3].clamp(0.0, h)]
                })
                .collect();
            let cands: Vec<Candidate> = idx
                .iter()
                .zip(&clamped)
                .map(|(&i, b)| Candidate { bbox: *b, score: results[i].score, label: &results[i].label, stats: &stats[slot[i].unwrap()] })
                .collect();
            let verdicts: Vec<Verdict> = filter.rules.check_frame(&cands, f.width, f.height);
            for (&i, v) in idx.iter().zip(verdicts) {
                let r = &mut results[i];
                r.stats = Some(stats[slot[i].unwrap()]);
                if !v.kept() {
                    r.verdict = "reject";
                }
                r.rule = v.rule;
                r.value = v.value;
                r.limit = v.limit;
            }
            at += n;
        }
        report.rules_s += t.elapsed().as_secs_f64();

        // ROI tensors of the kept boxes, then the classifier slot; with teams the colour step
        // decides first and the classifier sees only what it left undecided (second pass).
        let kept: Vec<usize> =
            if self.opts.teams { Vec::new() } else { (0..results.len()).filter(|&i| results[i].verdict == "keep").collect() };
        // In chunks of at most `batch_rois`, so that memory stays bounded however many boxes a
        // frame holds.
        let make = !kept.is_empty() && (self.opts.roi_tensors || self.classifier.needs_tensors());
        let spec = self.classifier.roi_spec().unwrap_or_else(|| filter.roi.spec());
        for chunk in kept.chunks(self.opts.batch_rois.max(1)) {
            let t = Instant::now();
            self.rois.batch.n = 0;
            if make {
                let refs: Vec<RoiRef> = chunk
                    .iter()
                    .map(|&i| {
                        let (fi, _) = measured[slot[i].unwrap()];
                        let f = &views[fi];
                        let r = &results[i];
                        let (crop, _) =
                            crop_of(r.bbox, filter.roi.expansion(&r.label), f.width, f.height).expect("a measured box has a crop");
                        RoiRef { frame: fi, crop }
                    })
                    .collect();
                self.rois.make(&views, &refs, &spec, true)?;
                report.tensor_rois += refs.len() as u64;
            }
            report.roi_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            // `chunk` is ascending: the chunk's results in order.
            let mut keep_refs: Vec<&mut BoxResult> =
                results.iter_mut().enumerate().filter(|(i, _)| chunk.binary_search(i).is_ok()).map(|(_, r)| r).collect();
            report.classified += keep_refs.len() as u64;
            self.rois.classify(&mut *self.classifier, &mut keep_refs, report)?;
            report.classify_s += t.elapsed().as_secs_f64();
        }

        if self.opts.teams {
            let tables = crate::roi::stats::hsv_tables();
            for (i, r) in results.iter_mut().enumerate() {
                if let (Some(k), true) = (slot[i], r.verdict == "keep" && PEOPLE.contains(&r.label.as_str())) {
                    let (fi, crop) = measured[k];
                    r.jersey = crate::roi::stats::jersey_colour(&views[fi], crop, &self.params, &tables);
                }
            }
            self.held.extend(results);
            return Ok(());
        }
        let t = Instant::now();
        for r in &results {
            report.count(r);
            sink(r)?;
        }
        report.sink_s += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// Assigns the clip's teams to the held results, runs the classifier on what colour left
    /// undecided (decoding those frames again), and hands every result to the sink, in order.
    fn release_with_teams(
        &mut self,
        video_path: &Path,
        sink: &mut dyn FnMut(&BoxResult) -> Result<()>,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let decided = self.assign_teams(report);
        let needs: Vec<bool> =
            self.held.iter().zip(&decided).map(|(r, d)| r.verdict == "keep" && !*d && self.classifier.wants(&r.label)).collect();
        report.colour_saved =
            self.held.iter().zip(&decided).filter(|(r, d)| r.verdict == "keep" && **d && self.classifier.wants(&r.label)).count() as u64;
        if needs.iter().any(|n| *n) {
            self.second_pass(video_path, &needs, report)?;
        }
        let t = Instant::now();
        for r in std::mem::take(&mut self.held) {
            report.count(&r);
            sink(&r)?;
        }
        report.sink_s += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// Decodes the frames of the boxes in `needs` again and runs the classifier on them.
    fn second_pass(&mut self, video_path: &Path, needs: &[bool], report: &mut VerifyReport) -> Result<()> {
        let mut by_frame: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, r) in self.held.iter().enumerate().filter(|(i, _)| needs[*i]) {
            by_frame.entry(r.frame).or_default().push(i);
        }
        let select: Arc<BTreeSet<u64>> = Arc::new(by_frame.keys().copied().collect());
        let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };
        let dec = video::spawn_selected(video_path, Sampling::default(), out, 4, 2, Some(select))?;
        let filter = &self.opts.filter;
        let spec = self.classifier.roi_spec().unwrap_or_else(|| filter.roi.spec());
        let mut outcome = Ok(());
        for item in dec.frames.iter() {
            let frame = match item {
                Ok(f) => f,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            let Some(idx) = by_frame.get(&frame.index) else { continue };
            let view = frame.view();
            let t = Instant::now();
            let refs: Vec<RoiRef> = idx
                .iter()
                .map(|&i| {
                    let r = &self.held[i];
                    let (crop, _) =
                        crop_of(r.bbox, filter.roi.expansion(&r.label), frame.width, frame.height).expect("a kept box has a crop");
                    RoiRef { frame: 0, crop }
                })
                .collect();
            if let Err(e) = self.rois.make(&[view], &refs, &spec, false) {
                outcome = Err(e);
                break;
            }
            report.tensor_rois += refs.len() as u64;
            report.roi_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut boxes: Vec<&mut BoxResult> =
                self.held.iter_mut().enumerate().filter(|(i, _)| idx.contains(i)).map(|(_, r)| r).collect();
            report.classified += boxes.len() as u64;
            if let Err(e) = self.rois.classify(&mut *self.classifier, &mut boxes, report) {
                outcome = Err(e);
                break;
            }
            report.classify_s += t.elapsed().as_secs_f64();
        }
        let stats = dec.join();
        if let Ok(s) = &stats {
            report.decode_s += s.decode_s + s.convert_s;
            report.second_pass_frames = s.kept;
        }
        outcome.and(stats.map(|_| ()))
    }

    /// Colour teams for the held people; returns per held result whether colour decided it
    /// (a team player). Goalkeeper/referee candidates and boxes without a jersey colour are
    /// left for the classifier (labelled by colour meanwhile).
    fn assign_teams(&mut self, report: &mut VerifyReport) -> Vec<bool> {
        use crate::classify::teams::{assign, TeamLabel};
        let people: Vec<usize> = (0..self.held.len()).filter(|&i| self.held[i].jersey.is_some()).collect();
        let feats: Vec<Option<[f32; 3]>> = people.iter().map(|&i| self.held[i].jersey).collect();
        let ids: Vec<Option<u64>> = people.iter().map(|&i| self.held[i].id).collect();
        let labels = assign(&feats, &ids, 2.5, 40.0);
        let mut counts = [0u64; 5];
        let mut decided = vec![false; self.held.len()];
        for (&i, l) in people.iter().zip(labels) {
            let r = &mut self.held[i];
            let relabel = |r: &mut BoxResult, name: &str| {
                r.label = name.to_string();
                if let Some(id) = SCOREVISION_LABELS.iter().position(|s| *s == name) {
                    r.class_id = id as u32;
                }
                r.source = "colour";
            };
            match l {
                TeamLabel::Team(t) => {
                    r.team = Some(t);
                    counts[t as usize] += 1;
                    relabel(r, "player");
                }
                TeamLabel::Goalkeeper => {
                    counts[2] += 1;
                    relabel(r, "goalkeeper");
                }
                TeamLabel::Referee => {
                    counts[3] += 1;
                    relabel(r, "referee");
                }
                TeamLabel::Unknown => counts[4] += 1,
            }
            decided[i] = matches!(l, TeamLabel::Team(_));
        }
        report.teams = Some(counts);
        decided
    }
}
