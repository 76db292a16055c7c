//! Batched inference through ONNX Runtime with a generated model whose batch dimension is dynamic
//! (tests/data/tiny_yolov8_dyn.onnx, scripts/make_test_models.py): each frame's scores depend on
//! its own pixels, so results (boxes, scores and track ids) must not change with the batch size,
//! including a short last batch.

use crate::common;

use common::*;
use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};
use fovea::pipeline::{self, FrameResult};
use fovea::track::TrackerConfig;
use fovea::video::Sampling;

fn run(batch: usize) -> (Vec<FrameResult>, String) {
    let m = Manifest::load(&data("tiny_yolov8_dyn.toml")).unwrap();
    let mut det = Detector::load(&m, &DetectorOptions { threads: 1, batch, ..DetectorOptions::default() }).unwrap();
    assert_eq!(det.batch(), batch);
    let params = det.default_params();
    let s = Sampling { stride: 2, ..Sampling::default() };
    // The tiny model's scores sit around 0.5: start tracks from 0.4.
    let tracking = Some(TrackerConfig { track_thresh: 0.3, new_track_thresh: 0.4, ..TrackerConfig::default() });
    let (out, report) =
        run_collect(&data("market_street_10s.mp4"), &mut det, &params, s, pipeline::Stages { tracking, ..Default::default() });
    (out, report.detector.expect("a detector ran").batch_note)
}

#[test]
fn results_do_not_depend_on_the_batch_size() {
    let (one, note1) = run(1);
    assert_eq!(one.len(), 151, "302 frames, every 2nd");
    assert!(note1.contains("batched: 1 frames per call (dynamic batch dimension)"), "{note1}");
    for b in [3, 4, 8] {
        let (many, note) = run(b);
        assert!(note.contains(&format!("batched: {b} frames per call")), "{note}");
        assert_eq!(many, one, "batch {b} (151 frames: last batch short) vs batch 1");
    }
    // Inference workers (issue 20): a dynamic batch of 4 shared out as 2 calls of 2 that run at
    // once, and a batch of 3 as calls of 2 and 1: the same results.
    for b in [3, 4] {
        let m = Manifest::load(&data("tiny_yolov8_dyn.toml")).unwrap();
        let mut det = Detector::load(&m, &DetectorOptions { threads: 2, workers: 2, batch: b, ..DetectorOptions::default() }).unwrap();
        assert_eq!((det.workers(), det.batch()), (2, b.div_ceil(2) * 2));
        assert!(det.batch_note().contains("2 workers at once, 2 frames per call (dynamic"), "{}", det.batch_note());
        let params = det.default_params();
        let tracking = Some(TrackerConfig { track_thresh: 0.3, new_track_thresh: 0.4, ..TrackerConfig::default() });
        let s = Sampling { stride: 2, ..Sampling::default() };
        let (many, _) =
            run_collect(&data("market_street_10s.mp4"), &mut det, &params, s, pipeline::Stages { tracking, ..Default::default() });
        assert_eq!(many, one, "batch {b} on 2 workers vs batch 1 on one");
    }
    // Tracks (ids included) are the same whatever the batch size.
    let tracked = one.iter().flat_map(|f| f.track_ids.iter()).filter(|t| t.is_some()).count();
    assert!(tracked > 150, "boxes are tracked: {tracked}");
    // The scores follow each frame's content: they vary over the clip.
    let scores: Vec<f32> = one.iter().map(|f| f.detections[0].score).collect();
    let (lo, hi) = scores.iter().fold((f32::MAX, f32::MIN), |(l, h), &s| (l.min(s), h.max(s)));
    assert!(hi - lo > 0.01, "scores vary between frames: {lo}..{hi}");
}

/// The first box, (cx, cy, w, h) = (8, 8, 8, 8) in the 32x32 letterboxed input, maps back to
/// source pixels through the letterbox: 640x360 -> 32x18 at y offset 7, scale 20.
#[test]
fn letterbox_boxes_map_back_to_source_pixels() {
    let (one, _) = run(1);
    for f in &one {
        assert_eq!(f.detections.len(), 3, "three boxes per frame");
        let want = [80.0, 0.0, 240.0, 100.0];
        let got = f.detections.iter().find(|d| (d.bbox[0] - want[0]).abs() < 0.01).expect("box 0 present");
        for k in 0..4 {
            assert!((got.bbox[k] - want[k]).abs() < 1e-3, "{:?} vs {want:?}", got.bbox);
        }
    }
}

/// A sink that fails stops the run promptly with its error: the stage threads wind down, frames
/// before the failure were delivered, and nothing hangs.
#[test]
fn a_failing_sink_stops_the_run() {
    for batch in [1, 4] {
        let m = Manifest::load(&data("tiny_yolov8_dyn.toml")).unwrap();
        let mut det = Detector::load(&m, &DetectorOptions { threads: 1, batch, ..DetectorOptions::default() }).unwrap();
        let params = det.default_params();
        let mut seen = 0;
        let (report, outcome) = pipeline::run_detect(
            &data("market_street_10s.mp4"),
            &mut det,
            &params,
            Sampling::default(),
            pipeline::Stages::tracked(),
            &mut |_| {
                seen += 1;
                if seen == 5 {
                    Err(fovea::Error::Pipeline("sink full".into()))
                } else {
                    Ok(())
                }
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(outcome.unwrap_err().to_string(), "pipeline: sink full");
        assert_eq!(seen, 5);
        assert_eq!(report.frames_processed, 4);
        assert!(report.frames_decoded < 302, "decoding stopped early: {}", report.frames_decoded);
    }
}
