//! The one stage chain after the source and the detector, in frame order:
//!
//! ```text
//! frames + boxes ──▶ tracker (or the input's ids) ──▶ pitch keypoints (the template registered to
//!   the frame's white lines) ──▶ ROI + colour statistics ──▶ rules
//!   ──▶ classifier (through the per-track reuse cache; ROIs batched across frames) ──▶ results
//!   clip-level steps at the end: colour teams, then the classifier on what colour left (second pass)
//! ```
//! Every stage is optional, configured by [`Stages`]. `fovea detect`, `fovea verify`, the engine's
//! file calls and its streams (C, Python, Go) all hand their frames to one [`FrameStages`], so what
//! one face computes, every face does; the clip-level steps ([`FrameStages::finish_clip`]) exist
//! once.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::pitch::PitchStage;
use super::roi_side::RoiSide;
use super::Stages;
use crate::classify::{Classifier, Object};
use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::filter::{Candidate, FilterConfig};
use crate::image::{ChannelOrder, FrameView};
use crate::results::{BoxCheck, FrameResult, Label, Verdict};
use crate::roi::{self, ColourStats, Crop, RoiBatch, RoiRef, RoiSpec, StatsConfig, StatsParams};
use crate::track::{
    reuse::{ClassifyRequest, LabelCache, ReuseStats},
    Tracker,
};

/// Labels whose jersey colour is measured for colour teams.
pub const PEOPLE: [&str; 4] = ["person", "player", "goalkeeper", "referee"];

/// Largest ROI batch (`batch_rois x 3 x S x S` float32) the chain makes at once.
pub const MAX_ROI_BATCH_BYTES: u64 = 1 << 30;

/// What the stages did over a run: ROIs, classifier calls, teams, seconds per stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageCounts {
    /// ROIs measured (colour statistics) and ROI tensors made.
    pub stats_rois: u64,
    pub tensor_rois: u64,
    /// Objects the classifier decided (calls made), and objects answered from their track.
    pub classified: u64,
    pub from_track: u64,
    /// ROI batches made on the GPU and downloaded for a classifier that runs on the CPU.
    pub roi_downloads: u64,
    /// With teams: boxes given team 0, team 1, goalkeeper, referee, no jersey colour.
    pub teams: Option<crate::results::TeamCounts>,
    /// With teams and a classifier: objects it would have seen that colour decided first, and
    /// frames decoded again for it.
    pub colour_saved: u64,
    pub second_pass_frames: u64,
    /// Seconds: tracking, statistics, rules, ROI tensors, classifier (with its reuse cache).
    pub track_s: f64,
    pub stats_s: f64,
    pub rules_s: f64,
    pub roi_s: f64,
    pub classify_s: f64,
    /// With the pitch stage: frames registered (keypoints found) of those seen, and seconds.
    pub pitch_found: u64,
    pub pitch_frames: u64,
    /// Frames the pitch keypoint model ran on (`model` mode).
    pub pitch_model_runs: u64,
    pub pitch_s: f64,
}

/// One frame handed to the stages (a source's frame with its detections; `engine::FrameIn` is a caller's frame).
pub struct StageInput<'f> {
    pub view: FrameView<'f>,
    pub index: u64,
    pub pts: f64,
    pub detections: Vec<Detection>,
    /// The objects' ids from the input (a boxes file), one per detection, when not tracking.
    pub ids: Option<Vec<Option<u64>>>,
    /// The detector skipped the frame (`interval`): the tracker predicts its boxes.
    pub predicted: bool,
}

/// Frames again, for the clip-level steps: `refetch(frames, visit)` calls `visit(index, view)`
/// for each frame index of `frames` it can produce (in order) and returns how many it produced.
pub type Refetch<'r> = dyn FnMut(&BTreeSet<u64>, &mut dyn FnMut(u64, &FrameView) -> Result<()>) -> Result<u64> + 'r;

/// A classifier lent by the caller, or owned (e.g. a handle on an engine's shared one).
enum Slot<'c> {
    Borrowed(&'c mut dyn Classifier),
    Owned(Box<dyn Classifier + Send>),
}

impl Slot<'_> {
    fn get(&mut self) -> &mut dyn Classifier {
        match self {
            Slot::Borrowed(c) => &mut **c,
            Slot::Owned(c) => c.as_mut(),
        }
    }

    fn peek(&self) -> &dyn Classifier {
        match self {
            Slot::Borrowed(c) => &**c,
            Slot::Owned(c) => c.as_ref(),
        }
    }
}

/// The stages of one video.
pub struct FrameStages<'c> {
    tracker: Option<Tracker>,
    classifier: Option<Slot<'c>>,
    cache: LabelCache,
    rules: Option<FilterConfig>,
    roi_tensors: bool,
    batch_rois: usize,
    teams: bool,
    stats_params: StatsParams,
    hsv_tables: ([i32; 256], [i32; 256]),
    /// The channel order of the frames.
    order: ChannelOrder,
    /// Class names (class id -> name): the detector's, or the boxes file's.
    labels: Vec<String>,
    rois: RoiSide,
    /// The ROI tensors made ([`FrameStages::roi_spec`]), fixed once the slot is filled.
    spec: Option<RoiSpec>,
    counts: StageCounts,
    /// The pitch stage: the template's keypoints from each frame's lines or a keypoint model.
    pitch: Option<PitchStage>,
}

/// Frames held at once by the GPU ROI stage's pool (grows on demand).
const GPU_FRAMES: usize = 16;

impl<'c> FrameStages<'c> {
    /// The stages of `stages` for a video at `fps`, frames in `order`, detections named by
    /// `labels` (class id -> name; a class id past the end is an unknown class for the rules).
    pub fn new(stages: Stages<'c>, fps: f64, order: ChannelOrder, labels: Vec<String>) -> Result<Self> {
        // `frames` is the file source's (run_detect takes it before the chain is made).
        let Stages { tracking, classifier, reuse, rules, roi_tensors, batch_rois, teams, gpu, frames: _, tiles: _, pitch, interval: _ } =
            stages;
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { 30.0 };
        let stats_cfg = rules.as_ref().map_or_else(StatsConfig::default, |r| r.stats);
        if gpu.is_some() && rules.as_ref().is_some_and(|r| r.roi.blackout) {
            return Err(Error::InvalidOption {
                option: "roi.blackout",
                reason: "the validator's blacked-out crops are made on the CPU only; run without --device or set blackout = false".into(),
            });
        }
        let gpu = match gpu {
            Some(dev) => Some(crate::cuda::rois::DeviceRois::new(dev, GPU_FRAMES, 1920 * 1080 * 3)?),
            None => None,
        };
        let mut s = Self {
            tracker: tracking.map(|cfg| Tracker::new(cfg, fps)),
            classifier: classifier.map(Slot::Borrowed),
            cache: LabelCache::new(reuse),
            rules,
            roi_tensors,
            batch_rois,
            teams,
            stats_params: StatsParams::new(&stats_cfg, order),
            hsv_tables: crate::roi::stats::hsv_tables(),
            order,
            labels,
            rois: RoiSide { batch: RoiBatch::default(), gpu, uploaded: false },
            spec: None,
            counts: StageCounts::default(),
            pitch: pitch.as_ref().map(PitchStage::new).transpose()?,
        };
        s.spec = s.compute_spec();
        s.check_batch_size()?;
        Ok(s)
    }

    /// The same stages with `classifier` (owned) in the classifier slot.
    pub fn with_owned_classifier(mut self, classifier: Box<dyn Classifier + Send>) -> Result<Self> {
        self.classifier = Some(Slot::Owned(classifier));
        self.spec = self.compute_spec();
        self.check_batch_size()?;
        Ok(self)
    }

    /// The ROI tensors the classifier reads (or, without one, the rules' `[roi]` when tensors
    /// are asked for), for frames in this chain's channel order.
    pub fn roi_spec(&self) -> Option<RoiSpec> {
        self.spec.clone()
    }

    fn compute_spec(&self) -> Option<RoiSpec> {
        let spec = match self.classifier.as_ref() {
            Some(c) => c.peek().roi_spec(),
            None if self.roi_tensors => self.rules.as_ref().map(|r| r.roi.spec()),
            None => None,
        };
        spec.map(|mut s| {
            // Specs are relative to RGB frames; BGR frames flip them.
            s.swap_rb ^= self.order == ChannelOrder::Bgr;
            s
        })
    }

    fn check_batch_size(&self) -> Result<()> {
        let size = self.roi_spec().map_or(0, |s| s.size as u64);
        let bytes = self.batch_rois as u64 * 3 * size * size * 4;
        if self.batch_rois == 0 || bytes > MAX_ROI_BATCH_BYTES {
            return Err(Error::InvalidOption {
                option: "--batch-rois",
                reason: format!(
                    "{} ROIs of {size}x{size} make a {:.1} GiB batch; at least 1, and at most {} GiB (lower --batch-rois or roi.size)",
                    self.batch_rois,
                    bytes as f64 / (1u64 << 30) as f64,
                    MAX_ROI_BATCH_BYTES >> 30
                ),
            });
        }
        Ok(())
    }

    /// Name of the classifier in the slot, for reports.
    pub fn classifier_name(&self) -> Option<&str> {
        self.classifier.as_ref().map(|c| c.peek().name())
    }

    /// Where the statistics and ROI tensors are made: "cpu" or "cuda:N".
    pub fn roi_device(&self) -> String {
        match &self.rois.gpu {
            Some(g) => format!("cuda:{}", g.device().ordinal()),
            None => "cpu".into(),
        }
    }

    /// Whether results must wait for the end of the clip (colour teams).
    pub fn holds_until_clip_end(&self) -> bool {
        self.teams
    }

    /// Counts and seconds so far.
    pub fn counts(&self) -> &StageCounts {
        &self.counts
    }

    /// Track ids handed out so far, when tracking is on.
    pub fn tracks_issued(&self) -> Option<u64> {
        self.tracker.as_ref().map(|t| t.ids_issued())
    }

    /// Classifier calls made and saved by track reuse, when a classifier runs.
    pub fn reuse_stats(&self) -> Option<ReuseStats> {
        self.classifier.is_some().then(|| self.cache.stats())
    }

    /// Runs frame `index` (shown at `pts`, pixels `view`) with its `detections` through the
    /// stages. Frames must come in increasing index order.
    pub fn apply(&mut self, view: &FrameView<'_>, index: u64, pts: f64, detections: Vec<Detection>) -> Result<FrameResult> {
        let mut out = self.apply_batch(vec![StageInput { view: *view, index, pts, detections, ids: None, predicted: false }])?;
        Ok(out.pop().expect("one result per frame"))
    }

    /// Runs a batch of frames (increasing index order) through the stages; one result per frame.
    /// The ROIs of frames whose objects have no track go to the classifier together.
    pub fn apply_batch(&mut self, frames: Vec<StageInput<'_>>) -> Result<Vec<FrameResult>> {
        let views: Vec<FrameView> = frames.iter().map(|f| f.view).collect();
        self.rois.uploaded = false;
        let mut out = Vec::with_capacity(frames.len());
        let t = Instant::now();
        let given = frames.iter().any(|f| f.ids.is_some());
        for f in frames {
            let mut r = FrameResult::untracked(f.index, f.pts, f.detections);
            if let (Some(t), true) = (self.tracker.as_ref(), f.predicted) {
                (r.detections, r.track_ids) = t.predicted(r.index);
                (r.labels, r.predicted) = (vec![None; r.detections.len()], true);
            } else if let Some(t) = self.tracker.as_mut() {
                r.track_ids = t.update(r.index, &r.detections);
            } else if let Some(ids) = f.ids {
                if ids.len() != r.detections.len() {
                    return Err(Error::Pipeline(format!("frame {}: {} ids for {} boxes", r.index, ids.len(), r.detections.len())));
                }
                r.track_ids = ids;
            }
            out.push(r);
        }
        self.counts.track_s += t.elapsed().as_secs_f64();
        if let Some(reg) = self.pitch.as_mut() {
            let t = Instant::now();
            for (r, view) in out.iter_mut().zip(&views) {
                reg.apply(r, view, self.order, &mut self.counts)?;
            }
            self.counts.pitch_s += t.elapsed().as_secs_f64();
        }
        if self.rules.is_some() {
            self.check(&views, &mut out)?;
        } else if given {
            // Boxes from the caller are checked as a boxes file is, with or without rules.
            self.geometry(&views, &mut out);
        }
        if self.teams {
            self.measure_jerseys(&views, &mut out);
        } else if self.classifier.is_some() {
            self.classify_frames(&views, &mut out, None)?;
        } else if self.roi_spec().is_some() {
            self.tensors_only(&views, &out)?;
        }
        Ok(out)
    }

    /// The name of class `id` (None: unknown).
    fn class_name(&self, id: u32) -> Option<&str> {
        self.labels.get(id as usize).map(String::as_str)
    }

    /// The label of detection `i` now: what colour said, else its class name.
    fn current_label(&self, r: &FrameResult, i: usize) -> String {
        match &r.labels[i] {
            Some(l) => l.label.clone(),
            None => {
                let c = r.detections[i].class_id;
                self.class_name(c).map_or_else(|| format!("class_{c}"), str::to_string)
            }
        }
    }

    /// The checks of every box that need no pixels (class known, score finite, box finite,
    /// ordered and inside the frame): sets `checks` (keep, or invalid with the reason) and
    /// returns the crop of each valid box.
    fn geometry(&self, views: &[FrameView], out: &mut [FrameResult]) -> Vec<Vec<Option<Crop>>> {
        let mut crops = Vec::with_capacity(out.len());
        for (r, view) in out.iter_mut().zip(views) {
            let mut frame = Vec::with_capacity(r.detections.len());
            r.checks = r
                .detections
                .iter()
                .map(|d| {
                    frame.push(None);
                    if (d.class_id as usize) >= self.labels.len() {
                        return BoxCheck::invalid("unknown_class");
                    }
                    if !d.score.is_finite() {
                        return BoxCheck::invalid("non_finite_score");
                    }
                    match roi::crop_of(d.bbox, 1.0, view.width, view.height) {
                        Err(bad) => BoxCheck::invalid(bad.as_str()),
                        Ok((crop, clamped)) => {
                            *frame.last_mut().expect("pushed") = Some(crop);
                            BoxCheck { clamped, ..BoxCheck::default() }
                        }
                    }
                })
                .collect();
            crops.push(frame);
        }
        crops
    }

    /// ROI + colour statistics + rules: a [`BoxCheck`] for every box (no statistics on frames
    /// without pixels: boxes checked by geometry alone).
    fn check(&mut self, views: &[FrameView], out: &mut [FrameResult]) -> Result<()> {
        let crops = self.geometry(views, out);
        let mut measured: Vec<(usize, Crop)> = Vec::new();
        let mut slots: Vec<Vec<Option<usize>>> = Vec::with_capacity(out.len());
        for (fi, frame) in crops.into_iter().enumerate() {
            slots.push(
                frame
                    .into_iter()
                    .map(|c| {
                        c.map(|crop| {
                            measured.push((fi, crop));
                            measured.len() - 1
                        })
                    })
                    .collect(),
            );
        }
        let t = Instant::now();
        let seen: Vec<(usize, Crop)> = measured.iter().copied().filter(|(fi, _)| !views[*fi].data.is_empty()).collect();
        let mut got = self.rois.stats(views, &seen, &self.stats_params)?.into_iter();
        let stats: Vec<Option<ColourStats>> =
            measured.iter().map(|(fi, _)| (!views[*fi].data.is_empty()).then(|| got.next()).flatten()).collect();
        let blank = ColourStats::default();
        self.counts.stats_s += t.elapsed().as_secs_f64();
        self.counts.stats_rois += seen.len() as u64;

        // Rules, frame by frame, on the boxes clamped to the frame.
        let t = Instant::now();
        let rules = &self.rules.as_ref().expect("called with rules").rules;
        for ((r, slot), v) in out.iter_mut().zip(&slots).zip(views) {
            let (w, h) = (v.width as f32, v.height as f32);
            let idx: Vec<usize> = (0..slot.len()).filter(|&i| slot[i].is_some()).collect();
            let clamped: Vec<[f32; 4]> = idx
                .iter()
                .map(|&i| {
                    let b = r.detections[i].bbox;
                    [b[0].clamp(0.0, w), b[1].clamp(0.0, h), b[2].clamp(0.0, w), b[3].clamp(0.0, h)]
                })
                .collect();
            let cands: Vec<Candidate> = idx
                .iter()
                .zip(&clamped)
                .map(|(&i, b)| Candidate {
                    bbox: *b,
                    raw: r.detections[i].bbox,
                    score: r.detections[i].score,
                    label: self.labels[r.detections[i].class_id as usize].as_str(),
                    stats: stats[slot[i].expect("measured")].as_ref().unwrap_or(&blank),
                    id: r.track_ids.get(i).copied().flatten(),
                })
                .collect();
            let verdicts = rules.check_frame(&cands, v.width, v.height);
            for (&i, verdict) in idx.iter().zip(verdicts) {
                let c = &mut r.checks[i];
                c.stats = stats[slot[i].expect("measured")];
                if !verdict.kept() {
                    c.verdict = Verdict::Reject;
                }
                c.rule = verdict.rule;
                c.value = verdict.value;
                c.limit = verdict.limit;
            }
        }
        self.counts.rules_s += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// Jersey colours of the kept people, for the clip's colour teams.
    fn measure_jerseys(&mut self, views: &[FrameView], out: &mut [FrameResult]) {
        let (params, tables) = (&self.stats_params, &self.hsv_tables);
        for (r, view) in out.iter_mut().zip(views) {
            r.jerseys = (0..r.detections.len())
                .map(|i| {
                    let d = &r.detections[i];
                    let person = self.class_name(d.class_id).is_some_and(|l| PEOPLE.contains(&l));
                    if !person || !r.kept(i) {
                        return None;
                    }
                    let (crop, _) = roi::crop_of(d.bbox, 1.0, view.width, view.height).ok()?;
                    roi::stats::jersey_colour(view, crop, params, tables)
                })
                .collect();
        }
    }

    /// The ROI tensors of the kept boxes without a classifier (the validator's workload), in
    /// chunks of at most `batch_rois`.
    fn tensors_only(&mut self, views: &[FrameView], out: &[FrameResult]) -> Result<()> {
        let spec = self.roi_spec().expect("called with a spec");
        let mut refs = Vec::new();
        for (fi, r) in out.iter().enumerate() {
            for i in (0..r.detections.len()).filter(|&i| r.kept(i)) {
                let e = self.expansion(&self.current_label(r, i));
                if let Ok((crop, _)) = roi::crop_of(r.detections[i].bbox, e, views[fi].width, views[fi].height) {
                    refs.push(RoiRef { frame: fi, crop });
                }
            }
        }
        for chunk in refs.chunks(self.batch_rois) {
            let t = Instant::now();
            self.rois.make(views, chunk, &spec)?;
            self.counts.tensor_rois += chunk.len() as u64;
            self.counts.roi_s += t.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// Context expansion of a crop: the rules' `[roi]` when rules run, else the classifier's.
    fn expansion(&self, label: &str) -> f32 {
        match (&self.rules, &self.classifier) {
            (Some(r), _) => r.roi.expansion(label),
            (None, Some(c)) => c.peek().expansion(label),
            (None, None) => 1.0,
        }
    }

    /// The classifier stage on the kept boxes it wants (of `only`, per frame, when given), through
    /// the reuse cache. Frames whose objects have no track are classified together, in calls of
    /// at most `batch_rois`; a frame with tracked objects alone, in order, so that its tracks
    /// reuse what the frames before it decided.
    fn classify_frames(&mut self, views: &[FrameView], out: &mut [FrameResult], only: Option<&[Vec<usize>]>) -> Result<()> {
        let spec = self.roi_spec();
        let tracked = self.tracker.is_some();
        // Per frame: (box index, current label, crop) of the objects to label.
        let mut todo: Vec<Vec<(usize, String, Option<Crop>)>> = Vec::with_capacity(out.len());
        {
            let c = self.classifier.as_ref().expect("called with a classifier").peek();
            for (fi, r) in out.iter().enumerate() {
                let mut objs = Vec::new();
                let candidates: Vec<usize> = match only {
                    Some(o) => o[fi].clone(),
                    None => (0..r.detections.len()).collect(),
                };
                for i in candidates {
                    let label = self.current_label(r, i);
                    if !r.kept(i) || !c.wants(&label) {
                        continue;
                    }
                    let crop = match &spec {
                        Some(_) => match roi::crop_of(r.detections[i].bbox, self.expansion(&label), views[fi].width, views[fi].height) {
                            Ok((crop, _)) => Some(crop),
                            Err(_) => continue,
                        },
                        None => None,
                    };
                    objs.push((i, label, crop));
                }
                todo.push(objs);
            }
        }
        // The validator's blacked-out crops: each object's crop becomes a patch of its own.
        let blackout = spec.is_some() && self.rules.as_ref().is_some_and(|r| r.roi.blackout);
        let (patches, source) = if blackout {
            super::blackout::patches(views, out, &mut todo, |l| self.expansion(l) != 1.0)
        } else {
            (Vec::new(), todo.iter().enumerate().map(|(fi, o)| vec![fi; o.len()]).collect())
        };
        let patch_views: Vec<FrameView> =
            patches.iter().map(|(d, c)| FrameView { data: d, width: c.w, height: c.h, stride: c.w as usize * 3 }).collect();
        let views: &[FrameView] = if blackout { &patch_views } else { views };
        let requests: Vec<Vec<ClassifyRequest>> = out
            .iter()
            .zip(&todo)
            .map(|(r, objs)| {
                objs.iter()
                    .map(|(i, label, _)| ClassifyRequest {
                        frame: r.index,
                        // Only the tracker's ids are reused: a boxes file's ids are the input's claim.
                        track_id: if tracked { r.track_ids[*i] } else { None },
                        bbox: r.detections[*i].bbox,
                        class_id: r.detections[*i].class_id,
                        label,
                    })
                    .collect()
            })
            .collect();
        let t = Instant::now();
        let Self { classifier, cache, rois, counts, batch_rois, .. } = self;
        let c = classifier.as_mut().expect("called with a classifier").get();
        let mut resolved: Vec<Vec<crate::results::Resolved>> = Vec::with_capacity(out.len());
        if requests.iter().all(|r| LabelCache::all_fresh(r)) {
            // One call for all frames (chunked), then the cache counts each frame's objects.
            let flat: Vec<(usize, ClassifyRequest, Option<Crop>)> = requests
                .iter()
                .zip(&todo)
                .zip(&source)
                .flat_map(|((reqs, objs), at)| reqs.iter().zip(objs).zip(at).map(move |((q, o), v)| (*v, *q, o.2)))
                .collect();
            let mut labels = Vec::with_capacity(flat.len());
            for chunk in flat.chunks(*batch_rois) {
                labels.extend(run_classifier(rois, c, spec.as_ref(), views, chunk, counts)?);
            }
            let mut at = 0;
            for reqs in &requests {
                let n = reqs.len();
                let mine = &labels[at..at + n];
                resolved.push(cache.resolve(reqs, &mut |_| Ok(mine.to_vec()))?);
                at += n;
            }
        } else {
            for (fi, (reqs, objs)) in requests.iter().zip(&todo).enumerate() {
                let r = cache.resolve_indexed(reqs, &mut |asked| {
                    // The cache asks for a subset of this frame's objects, by position.
                    let asked: Vec<(usize, ClassifyRequest, Option<Crop>)> =
                        asked.iter().map(|&k| (source[fi][k], reqs[k], objs[k].2)).collect();
                    let mut labels = Vec::with_capacity(asked.len());
                    for chunk in asked.chunks(*batch_rois) {
                        labels.extend(run_classifier(rois, c, spec.as_ref(), views, chunk, counts)?);
                    }
                    Ok(labels)
                })?;
                resolved.push(r);
            }
        }
        for ((r, objs), res) in out.iter_mut().zip(&todo).zip(resolved) {
            for ((i, _, _), l) in objs.iter().zip(res) {
                r.labels[*i] = Some(l);
            }
        }
        let s = cache.stats();
        (counts.classified, counts.from_track) = (s.calls_made, s.calls_saved);
        counts.classify_s += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// The clip-level steps, once the clip's `frames` are all in: colour teams (goalkeepers and
    /// referees labelled by colour), then the classifier on the objects it wants that colour left
    /// undecided, on their frames produced again by `refetch`.
    pub fn finish_clip(&mut self, frames: &mut [FrameResult], refetch: &mut Refetch<'_>) -> Result<()> {
        if !self.teams {
            return Ok(());
        }
        self.counts.teams = Some(crate::classify::teams::assign_frames(frames));
        let Some(slot) = self.classifier.as_ref() else { return Ok(()) };
        let c = slot.peek();
        let mut todo: BTreeMap<u64, (usize, Vec<usize>)> = BTreeMap::new();
        let mut saved = 0;
        for (fi, f) in frames.iter().enumerate() {
            for i in 0..f.detections.len() {
                if !f.kept(i) || !c.wants(&self.current_label(f, i)) {
                    continue;
                }
                if f.teams.get(i).copied().flatten().is_some() {
                    saved += 1;
                } else {
                    todo.entry(f.index).or_insert_with(|| (fi, Vec::new())).1.push(i);
                }
            }
        }
        self.counts.colour_saved += saved;
        if todo.is_empty() {
            return Ok(());
        }
        let select: BTreeSet<u64> = todo.keys().copied().collect();
        let produced = refetch(&select, &mut |index, view| {
            let Some((fi, idx)) = todo.get(&index) else { return Ok(()) };
            self.rois.uploaded = false;
            self.classify_frames(std::slice::from_ref(view), std::slice::from_mut(&mut frames[*fi]), Some(std::slice::from_ref(idx)))
        })?;
        self.counts.second_pass_frames += produced;
        Ok(())
    }
}

/// Makes the ROIs of `objects` (frame in `views`, request, crop) when the classifier reads
/// pixels, and runs it on them.
fn run_classifier(
    rois: &mut RoiSide,
    c: &mut dyn Classifier,
    spec: Option<&RoiSpec>,
    views: &[FrameView],
    objects: &[(usize, ClassifyRequest, Option<Crop>)],
    counts: &mut StageCounts,
) -> Result<Vec<Label>> {
    if let Some(spec) = spec {
        let t = Instant::now();
        let refs: Vec<RoiRef> = objects
            .iter()
            .map(|(fi, _, crop)| RoiRef { frame: *fi, crop: crop.expect("objects of a pixel classifier have a crop") })
            .collect();
        rois.make(views, &refs, spec)?;
        counts.tensor_rois += refs.len() as u64;
        counts.roi_s += t.elapsed().as_secs_f64();
    }
    let asked: Vec<Object> = objects.iter().map(|o| o.1).collect();
    let labels = rois.classify(c, &asked, spec.is_some(), counts)?;
    if labels.len() != asked.len() {
        return Err(Error::Pipeline(format!("classifier {} returned {} labels for {} objects", c.name(), labels.len(), asked.len())));
    }
    Ok(labels)
}
