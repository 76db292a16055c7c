//! Cross-stream batching (issue 14): several jobs on their own threads share one detector
//! through the batcher, and each job's results (frames, boxes, track ids) equal running its video
//! alone, whatever the other jobs do; frames of several jobs share model calls.

use crate::common;

use std::time::Duration;

use common::*;
use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};
use fovea::pipeline::{self, Batcher, FrameResult, Infer, Stages};
use fovea::video::Sampling;

fn alone(det: &mut dyn Infer, clip: &std::path::Path, params: &fovea::detect::DecodeParams, s: Sampling) -> Vec<FrameResult> {
    let mut out = Vec::new();
    let (_, outcome) = pipeline::run_detect(
        clip,
        det,
        params,
        s,
        Stages::tracked(),
        &mut |r| {
            out.push(r.clone());
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    outcome.unwrap();
    out
}

/// A job: its clip, score threshold and classes.
type JobSpec = (std::path::PathBuf, Option<f32>, Option<Vec<String>>);

/// Jobs, each (clip, score, classes), run at once through one batcher; each compared with the
/// same clip and parameters on a detector of its own.
fn jobs_equal_alone(manifest: &str, opts: DetectorOptions, job_batch: usize, jobs: &[JobSpec]) -> u64 {
    let m = Manifest::load(&root().join(manifest)).unwrap();
    // Every other frame of the first 8 seconds (the whole clips took 27 s of `make test`).
    let s = Sampling { stride: 2, duration: Some(8.0), ..Sampling::default() };
    let mut own = Detector::load(&m, &opts).unwrap();
    let params: Vec<_> =
        jobs.iter().map(|(_, score, classes)| pipeline::decode_params(&own, *score, None, classes.as_deref()).unwrap()).collect();
    let expected: Vec<Vec<FrameResult>> = jobs.iter().zip(&params).map(|((clip, _, _), p)| alone(&mut own, clip, p, s)).collect();
    let batcher = Batcher::new(Detector::load(&m, &opts).unwrap(), job_batch, Duration::from_millis(5)).unwrap();
    let got: Vec<Vec<FrameResult>> = std::thread::scope(|sc| {
        let hs: Vec<_> = jobs
            .iter()
            .zip(&params)
            .map(|((clip, _, _), p)| {
                let mut share = batcher.share();
                sc.spawn(move || alone(&mut share, clip, p, s))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(!e.is_empty());
        assert_eq!(g, e, "job {i} ({}) through the batcher vs alone", jobs[i].0.display());
    }
    let st = batcher.stats();
    let frames: usize = expected.iter().map(Vec::len).sum();
    assert_eq!(st.frames.load(std::sync::atomic::Ordering::Relaxed), frames as u64, "every frame through the model once");
    st.shared_calls.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn jobs_through_the_batcher_equal_their_videos_alone() {
    let people = Some(vec!["person".to_string()]);
    let jobs = [
        (data("market_street_10s.mp4"), None, None),
        (media("vtest.avi"), Some(0.5), people.clone()),
        (data("market_street_10s.mp4"), Some(0.3), None),
    ];
    let opts = DetectorOptions { threads: 2, ..DetectorOptions::default() };
    jobs_equal_alone("engines/nanodet-g-416-int8.toml", opts, 0, &jobs);
}

/// A dynamic-batch model: calls of up to 8 frames filled from 4 jobs sending 2 at a time.
#[test]
fn a_dynamic_batch_model_fills_calls_from_several_jobs() {
    let clip = data("market_street_10s.mp4");
    let jobs: Vec<_> = (0..4).map(|i| (clip.clone(), Some(0.3 + 0.05 * i as f32), None)).collect();
    let opts = DetectorOptions { threads: 1, batch: 8, ..DetectorOptions::default() };
    let shared = jobs_equal_alone("tests/data/tiny_yolov8_dyn.toml", opts, 2, &jobs);
    assert!(shared > 0, "some calls carried frames of several jobs");
}

#[test]
fn a_job_batch_above_the_detectors_is_refused() {
    let m = Manifest::load(&data("tiny_yolov8_dyn.toml")).unwrap();
    let det = Detector::load(&m, &DetectorOptions { threads: 1, batch: 4, ..DetectorOptions::default() }).unwrap();
    let e = Batcher::new(det, 5, Duration::from_millis(1)).unwrap_err().to_string();
    assert!(e.contains("within 0..=4") && e.contains("got 5"), "{e}");
}
