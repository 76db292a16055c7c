//! Tracking and label reuse in the pipeline on a real clip with the real model.

use crate::common;

use common::*;
use fovea::classify::{Classifier, Object};
use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};
use fovea::pipeline::{self, FrameResult, Stages};
use fovea::roi::{RoiBatch, RoiSpec};
use fovea::track::reuse::{Label, LabelSource, ReuseConfig};
use fovea::video::Sampling;

/// A classifier deterministic per object: the label follows from the track id.
#[derive(Default)]
struct PerObject {
    calls: u64,
}

impl Classifier for PerObject {
    fn name(&self) -> &str {
        "per object"
    }
    fn roi_spec(&self) -> Option<RoiSpec> {
        None
    }
    fn wants(&self, _label: &str) -> bool {
        true
    }
    fn classify(&mut self, _rois: &RoiBatch, r: &[Object]) -> fovea::Result<Vec<Label>> {
        self.calls += r.len() as u64;
        Ok(r.iter().map(|q| Label::new(q.track_id.map_or("untracked".into(), |t| format!("team{}", t % 2)), 0.9)).collect())
    }
}

fn run(det: &mut Detector, reuse: ReuseConfig, classifier: &mut PerObject) -> (Vec<FrameResult>, pipeline::RunReport) {
    let params = det.default_params();
    // The model's own tracking thresholds (its manifest's [tracking]), as users get them.
    let stages = Stages { tracking: Some(det.manifest().tracking), classifier: Some(classifier), reuse, ..Stages::default() };
    let s = Sampling { duration: Some(4.0), ..Sampling::default() };
    run_collect(&data("market_street_10s.mp4"), det, &params, s, stages)
}

#[test]
fn reuse_saves_calls_and_keeps_the_labels_of_classifying_every_frame() {
    let m = Manifest::load(&model()).unwrap();
    let mut det = Detector::load(&m, &DetectorOptions { threads: 2, batch: 1, ..DetectorOptions::default() }).unwrap();
    let mut every = PerObject::default();
    let (a, ra) = run(&mut det, ReuseConfig { max_age_frames: 0, ..ReuseConfig::default() }, &mut every);
    let mut reused = PerObject::default();
    let (b, rb) = run(&mut det, ReuseConfig::default(), &mut reused);

    let objects: u64 = a.iter().map(|f| f.detections.len() as u64).sum();
    let sa = ra.reuse.unwrap();
    let sb = rb.reuse.unwrap();
    assert_eq!(sa.calls_made, objects, "max_age 0: every object classified in every frame");
    assert_eq!(sa.calls_saved, 0);
    assert_eq!(sb.calls_made + sb.calls_saved, objects);
    assert_eq!(reused.calls, sb.calls_made, "the report counts what the classifier saw");
    let tracked = a.iter().flat_map(|f| f.track_ids.iter()).filter(|t| t.is_some()).count() as u64;
    println!("{objects} objects, {tracked} tracked, {} classified, {} answered from their track", sb.calls_made, sb.calls_saved);
    assert!(sb.calls_saved * 10 > tracked * 7, "most tracked objects answered from their track: {sb:?}, {tracked} tracked of {objects}");

    // Same detections, same tracks, same labels; only the source differs.
    assert_eq!(a.len(), b.len());
    for (fa, fb) in a.iter().zip(&b) {
        assert_eq!(fa.detections, fb.detections);
        assert_eq!(fa.track_ids, fb.track_ids);
        let la: Vec<_> = fa.labels.iter().map(|l| l.as_ref().unwrap().label.clone()).collect();
        let lb: Vec<_> = fb.labels.iter().map(|l| l.as_ref().unwrap().label.clone()).collect();
        assert_eq!(la, lb, "frame {}", fa.index);
    }
    let from_track = b.iter().flat_map(|f| f.labels.iter()).filter(|l| l.as_ref().unwrap().source == LabelSource::Track).count() as u64;
    assert_eq!(from_track, sb.calls_saved);
}
