//! The per-frame stages after detection, in frame order: tracking, labels through the per-track
//! reuse cache, and jersey colours for the clip's teams. One [`FrameStages`] per video: the file
//! pipeline ([`super::run_detect`]) and the embeddable engine's streams (C, Python, Go) both hand
//! every frame's detections to it, so what one face computes per frame, every face does.
#![forbid(unsafe_code)]

use crate::detect::Detection;
use crate::error::Result;
use crate::image::{ChannelOrder, FrameView};
use crate::results::FrameResult;
use crate::roi::{StatsConfig, StatsParams};
use crate::track::reuse::{Classifier, ClassifyRequest, LabelCache, ReuseStats};
use crate::track::Tracker;

use super::Stages;

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
}

/// Tracker, classifier (through the reuse cache) and jersey colours of one video.
pub struct FrameStages<'c> {
    tracker: Option<Tracker>,
    classifier: Option<Slot<'c>>,
    cache: LabelCache,
    /// Labels (of the classifier, else of the detector) whose jersey colour is measured.
    jerseys: Option<Vec<String>>,
    jersey_params: StatsParams,
    hsv_tables: ([i32; 256], [i32; 256]),
    /// The detector's class names.
    labels: Vec<String>,
}

impl<'c> FrameStages<'c> {
    /// The stages of `stages` for a video at `fps`, frames in `order`, detections named by
    /// `labels` (class id -> name).
    pub fn new(stages: Stages<'c>, fps: f64, order: ChannelOrder, labels: Vec<String>) -> Self {
        let Stages { tracking, classifier, reuse, jerseys } = stages;
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { 30.0 };
        Self {
            tracker: tracking.map(|cfg| Tracker::new(cfg, fps)),
            classifier: classifier.map(Slot::Borrowed),
            cache: LabelCache::new(reuse),
            jerseys,
            jersey_params: StatsParams::new(&StatsConfig::default(), order),
            hsv_tables: crate::roi::stats::hsv_tables(),
            labels,
        }
    }

    /// Runs frame `index` (shown at `pts`, pixels `view`) with its `detections` through the
    /// stages. Frames must come in increasing index order.
    pub fn apply(&mut self, view: &FrameView<'_>, index: u64, pts: f64, detections: Vec<Detection>) -> Result<FrameResult> {
        let mut r = FrameResult::untracked(index, pts, detections);
        if let Some(t) = self.tracker.as_mut() {
            r.track_ids = t.update(r.index, &r.detections);
        }
        if let Some(c) = self.classifier.as_mut().map(Slot::get) {
            let requests: Vec<ClassifyRequest> = r
                .detections
                .iter()
                .zip(&r.track_ids)
                .map(|(d, &track_id)| ClassifyRequest { frame: r.index, track_id, bbox: d.bbox, class_id: d.class_id })
                .collect();
            r.labels = self.cache.resolve_frame(view, &requests, c)?.into_iter().map(Some).collect();
        }
        if let Some(people) = &self.jerseys {
            let (params, tables) = (&self.jersey_params, &self.hsv_tables);
            r.jerseys = r
                .detections
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let label = r.labels[i]
                        .as_ref()
                        .map_or_else(|| self.labels.get(d.class_id as usize).cloned().unwrap_or_default(), |l| l.label.clone());
                    if !people.contains(&label) {
                        return None;
                    }
                    let (crop, _) = crate::roi::crop_of(d.bbox, 1.0, view.width, view.height).ok()?;
                    crate::roi::stats::jersey_colour(view, crop, params, tables)
                })
                .collect();
        }
        Ok(r)
    }

    /// The same stages with `classifier` (owned) in the classifier slot.
    pub fn with_owned_classifier(mut self, classifier: Box<dyn Classifier + Send>) -> Self {
        self.classifier = Some(Slot::Owned(classifier));
        self
    }

    /// Track ids handed out so far, when tracking is on.
    pub fn tracks_issued(&self) -> Option<u64> {
        self.tracker.as_ref().map(|t| t.ids_issued())
    }

    /// Classifier calls made and saved by track reuse, when a classifier runs.
    pub fn reuse_stats(&self) -> Option<ReuseStats> {
        self.classifier.is_some().then(|| self.cache.stats())
    }
}
