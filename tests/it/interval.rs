//! `interval` (issue 33): the detector on every (N + 1)th frame, ByteTrack's predicted boxes on
//! the frames between. The frames the detector sees get exactly the results of a run that samples
//! only them (`stride` N + 1: the tracker counts time in decode frames, and predicting a frame
//! leaves it unchanged); the frames between keep their decode index, are flagged predicted and
//! carry the confirmed tracks' boxes with their ids.
#![forbid(unsafe_code)]

use crate::common;

use common::*;
use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};
use fovea::pipeline::{self, FrameResult};
use fovea::track::TrackerConfig;
use fovea::video::Sampling;

fn run(interval: u32, stride: u32, tracking: bool) -> Result<Vec<FrameResult>, String> {
    let m = Manifest::load(&root().join("engines/nanodet-g-416.toml")).unwrap();
    let mut det = Detector::load(&m, &DetectorOptions { threads: 2, batch: 2, ..DetectorOptions::default() }).unwrap();
    let params = det.default_params();
    let s = Sampling { stride, duration: Some(4.0), ..Sampling::default() };
    let tracking = tracking.then_some(TrackerConfig { track_thresh: 0.4, new_track_thresh: 0.45, ..TrackerConfig::default() });
    let mut out = Vec::new();
    let (_, outcome) = pipeline::run_detect(
        &data("market_street_10s.mp4"),
        &mut det,
        &params,
        s,
        pipeline::Stages { tracking, interval, ..Default::default() },
        &mut |r| {
            out.push(r.clone());
            Ok(())
        },
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    outcome.map_err(|e| e.to_string())?;
    Ok(out)
}

#[test]
fn the_detector_sees_every_n_plus_first_frame_and_the_tracks_carry_the_rest() {
    for n in [1u32, 2] {
        let every = n as u64 + 1;
        let all = run(n, 1, true).unwrap();
        let sampled = run(0, n + 1, true).unwrap();
        assert_eq!(all.len(), 120, "4 s at 29.97 fps: every frame has a result");
        assert!(all.iter().enumerate().all(|(i, r)| r.index == i as u64), "decode indices, in order");
        for r in &all {
            assert_eq!(r.predicted, r.index % every != 0, "frame {}", r.index);
        }
        let seen: Vec<&FrameResult> = all.iter().filter(|r| !r.predicted).collect();
        assert_eq!(seen.len(), sampled.len());
        for (a, b) in seen.iter().zip(&sampled) {
            assert_eq!(**a, *b, "interval {n}: the frame the detector saw equals stride {every}'s");
        }
        let mut carried = 0;
        for w in all.windows(2).filter(|w| w[1].predicted) {
            let (before, now) = (&w[0], &w[1]);
            assert_eq!(now.detections.len(), now.track_ids.len());
            assert!(now.track_ids.iter().all(Option::is_some), "a predicted box is a confirmed track's");
            // Each predicted box is a track of the frame before, moved by at most a few pixels.
            for (d, id) in now.detections.iter().zip(&now.track_ids) {
                let k = before.track_ids.iter().position(|t| t == id).expect("the track was there the frame before");
                let b = before.detections[k].bbox;
                assert!(d.bbox.iter().zip(b).all(|(x, y)| (x - y).abs() < 20.0), "{:?} vs {:?}", d.bbox, b);
                assert_eq!(d.class_id, before.detections[k].class_id);
                carried += 1;
            }
        }
        assert!(carried > 500, "interval {n}: {carried} boxes carried");
    }
}

#[test]
fn interval_without_tracking_is_refused() {
    let e = run(1, 1, false).unwrap_err();
    assert!(e.contains("interval") && e.contains("needs tracking"), "{e}");
}
