//! Temporal reuse of labels: a per-track cache in front of any classifier (the pipeline's
//! classifier stage puts it before [`crate::classify::Classifier`]). A track is
//! classified when it is new, when its box has moved or changed size enough since its last
//! classification, when its last classification is older than `max_age_frames`, or when that
//! result was uncertain; otherwise its label is reused. The label reported is a vote over the
//! track's history (summed confidence), so one odd result does not flip it.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use crate::detect::iou;
pub use crate::results::{Decided, Label, LabelSource, Resolved};

/// One object to classify.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifyRequest<'a> {
    /// Decode frame index.
    pub frame: u64,
    pub track_id: Option<u64>,
    /// Box in source pixels.
    pub bbox: [f32; 4],
    /// Detector class.
    pub class_id: u32,
    /// The object's label now (its class name, or what colour said).
    pub label: &'a str,
}

/// When to classify again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReuseConfig {
    /// Classify again when the IoU between the box now and at the last classification is below.
    pub min_iou: f32,
    /// ... or when the box area changed by more than this fraction.
    pub max_area_change: f32,
    /// ... or when the last classification is this many frames old (M).
    pub max_age_frames: u64,
    /// ... or when the last result's confidence was below this.
    pub uncertain_below: f32,
    /// Tracks not seen for this many frames are forgotten.
    pub forget_after_frames: u64,
}

impl Default for ReuseConfig {
    fn default() -> Self {
        Self { min_iou: 0.5, max_area_change: 0.5, max_age_frames: 30, uncertain_below: 0.5, forget_after_frames: 300 }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    last_box: [f32; 4],
    last_frame: u64,
    last_confidence: f32,
    last_decided: crate::results::Decided,
    seen: u64,
    votes: Vec<(String, f32, u64)>,
}

impl Entry {
    fn stable(&self) -> (&str, f32) {
        // Highest summed confidence; ties go to the label seen most recently.
        let best = self.votes.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2))).expect("an entry has at least one vote");
        let total: f32 = self.votes.iter().map(|v| v.1).sum();
        (&best.0, if total > 0.0 { best.1 / total } else { 0.0 })
    }
}

/// Counters of a [`LabelCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseStats {
    /// Objects sent to the classifier.
    pub calls_made: u64,
    /// Objects answered from their track instead.
    pub calls_saved: u64,
}

/// The per-track label cache.
#[derive(Debug)]
pub struct LabelCache {
    cfg: ReuseConfig,
    entries: HashMap<u64, Entry>,
    stats: ReuseStats,
}

impl LabelCache {
    pub fn new(cfg: ReuseConfig) -> Self {
        Self { cfg, entries: HashMap::new(), stats: ReuseStats::default() }
    }

    pub fn stats(&self) -> ReuseStats {
        self.stats
    }

    fn needs_classifying(&self, r: &ClassifyRequest) -> bool {
        let Some(id) = r.track_id else { return true };
        let Some(e) = self.entries.get(&id) else { return true };
        let area = |b: &[f32; 4]| ((b[2] - b[0]) * (b[3] - b[1])).max(1e-6);
        let change = (area(&r.bbox) / area(&e.last_box) - 1.0).abs();
        iou(&r.bbox, &e.last_box) < self.cfg.min_iou
            || change > self.cfg.max_area_change
            || r.frame.saturating_sub(e.last_frame) >= self.cfg.max_age_frames
            || e.last_confidence < self.cfg.uncertain_below
    }

    /// Whether every request of a frame will be classified whatever the cache holds (none has a
    /// track), so that frames of such objects may be classified together in one call.
    pub fn all_fresh(requests: &[ClassifyRequest]) -> bool {
        requests.iter().all(|r| r.track_id.is_none())
    }

    /// Labels one frame's objects, calling `classify` once with only those that need it.
    pub fn resolve(
        &mut self,
        requests: &[ClassifyRequest],
        classify: &mut dyn FnMut(&[ClassifyRequest]) -> crate::Result<Vec<Label>>,
    ) -> crate::Result<Vec<Resolved>> {
        self.resolve_indexed(requests, &mut |todo| classify(&todo.iter().map(|&i| requests[i]).collect::<Vec<_>>()))
    }

    /// As [`LabelCache::resolve`], `classify` given the positions in `requests` of the objects
    /// that need it (in order).
    pub fn resolve_indexed(
        &mut self,
        requests: &[ClassifyRequest],
        classify: &mut dyn FnMut(&[usize]) -> crate::Result<Vec<Label>>,
    ) -> crate::Result<Vec<Resolved>> {
        let todo: Vec<usize> = (0..requests.len()).filter(|&i| self.needs_classifying(&requests[i])).collect();
        let batch = &todo;
        let fresh = if batch.is_empty() { Vec::new() } else { classify(batch)? };
        if fresh.len() != batch.len() {
            return Err(crate::Error::Pipeline(format!("classifier returned {} labels for {} objects", fresh.len(), batch.len())));
        }
        self.stats.calls_made += batch.len() as u64;
        self.stats.calls_saved += (requests.len() - batch.len()) as u64;
        let mut fresh_of = vec![None; requests.len()];
        for (k, &i) in todo.iter().enumerate() {
            fresh_of[i] = Some(&fresh[k]);
        }
        let mut out = Vec::with_capacity(requests.len());
        for (r, f) in requests.iter().zip(fresh_of) {
            let resolved = match (r.track_id, f) {
                (None, Some(l)) => Resolved {
                    label: l.label.clone(),
                    confidence: l.confidence,
                    source: LabelSource::Classifier,
                    decided: l.decided,
                    scores: l.scores.clone(),
                },
                (Some(id), Some(l)) => {
                    let e = self.entries.entry(id).or_insert_with(|| Entry {
                        last_box: r.bbox,
                        last_frame: r.frame,
                        last_confidence: 0.0,
                        last_decided: Default::default(),
                        seen: r.frame,
                        votes: Vec::new(),
                    });
                    e.last_box = r.bbox;
                    e.last_frame = r.frame;
                    e.last_confidence = l.confidence;
                    e.last_decided = l.decided;
                    e.seen = r.frame;
                    match e.votes.iter_mut().find(|v| v.0 == l.label) {
                        Some(v) => {
                            v.1 += l.confidence;
                            v.2 = r.frame;
                        }
                        None => e.votes.push((l.label.clone(), l.confidence, r.frame)),
                    }
                    let (label, conf) = e.stable();
                    Resolved {
                        label: label.to_string(),
                        confidence: conf,
                        source: LabelSource::Classifier,
                        decided: l.decided,
                        scores: l.scores.clone(),
                    }
                }
                (Some(id), None) => {
                    let e = self.entries.get_mut(&id).expect("reuse only for known tracks");
                    e.seen = r.frame;
                    let (label, conf) = e.stable();
                    Resolved {
                        label: label.to_string(),
                        confidence: conf,
                        source: LabelSource::Track,
                        decided: e.last_decided,
                        scores: Vec::new(),
                    }
                }
                (None, None) => unreachable!("objects without a track are always classified"),
            };
            out.push(resolved);
        }
        if let Some(now) = requests.iter().map(|r| r.frame).max() {
            let horizon = self.cfg.forget_after_frames;
            self.entries.retain(|_, e| now.saturating_sub(e.seen) <= horizon);
        }
        Ok(out)
    }
}
