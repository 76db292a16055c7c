//! Detection with the real model on real media, checked against an independent reference
//! (scripts/reference.py: OpenCV + onnxruntime + NumPy) and for determinism.

use crate::common;

use common::*;
use fovea::detect::{iou, Detection};
use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};
use fovea::pipeline::{self, FrameResult};
use fovea::video::Sampling;

fn detector() -> Detector {
    let m = Manifest::load(&model()).unwrap();
    Detector::load(&m, &DetectorOptions { threads: 2, batch: 1, ..DetectorOptions::default() }).unwrap()
}

/// Runs the whole pipeline on `path`, returning every frame's result.
fn run(det: &mut Detector, path: &std::path::Path, s: Sampling, classes: Option<&[String]>) -> Vec<FrameResult> {
    let params = pipeline::decode_params(det, None, None, classes).unwrap();
    run_collect(path, det, &params, s, pipeline::Stages::default()).0
}

struct Ref {
    bbox: [f32; 4],
    score: f32,
    class_id: u32,
}

fn reference(name: &str) -> Vec<Ref> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(data(name)).unwrap()).unwrap();
    v["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b: Vec<f32> = d["bbox"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            Ref {
                bbox: [b[0], b[1], b[2], b[3]],
                score: d["score"].as_f64().unwrap() as f32,
                class_id: d["class_id"].as_u64().unwrap() as u32,
            }
        })
        .collect()
}

/// Every reference box clearly above the threshold has a fovea box of its class whose corners are
/// within `px` pixels and whose score is within 0.05.
fn matches_reference(dets: &[Detection], refs: &[Ref], px: f32) {
    for r in refs.iter().filter(|r| r.score >= 0.40) {
        let best = dets
            .iter()
            .filter(|d| d.class_id == r.class_id)
            .max_by(|a, b| iou(&a.bbox, &r.bbox).total_cmp(&iou(&b.bbox, &r.bbox)))
            .unwrap_or_else(|| panic!("no detection of class {} (reference {:?})", r.class_id, r.bbox));
        let err = (0..4).map(|k| (best.bbox[k] - r.bbox[k]).abs()).fold(0.0, f32::max);
        assert!(err <= px, "box {:?} vs reference {:?}: corner error {err:.2} px > {px}", best.bbox, r.bbox);
        assert!((best.score - r.score).abs() <= 0.05, "score {} vs reference {}", best.score, r.score);
    }
}

#[test]
fn messi5_person_and_ball_match_the_reference() {
    let mut d = detector();
    let res = run(&mut d, &media("messi5.jpg"), Sampling::default(), None);
    assert_eq!(res.len(), 1);
    let dets = &res[0].detections;
    let person = dets.iter().filter(|d| d.class_id == 0).map(|d| d.score).fold(0.0, f32::max);
    let ball = dets.iter().filter(|d| d.class_id == 32).map(|d| d.score).fold(0.0, f32::max);
    assert!(person >= 0.7, "person score {person}");
    assert!(ball >= 0.4, "sports ball score {ball}");
    matches_reference(dets, &reference("messi5.reference.json"), 4.0);
}

#[test]
fn parkour_matches_the_reference() {
    let mut d = detector();
    let res = run(&mut d, &media("parkour.jpg"), Sampling::default(), None);
    let refs = reference("parkour.reference.json");
    assert!(refs.iter().filter(|r| r.score >= 0.4).count() >= 3);
    matches_reference(&res[0].detections, &refs, 4.0);
}

#[test]
fn class_filter_keeps_only_named_classes() {
    let mut d = detector();
    let classes = vec!["sports_ball".to_string()];
    let res = run(&mut d, &media("messi5.jpg"), Sampling::default(), Some(&classes));
    assert!(!res[0].detections.is_empty());
    assert!(res[0].detections.iter().all(|d| d.class_id == 32));
    let e = pipeline::decode_params(&d, None, None, Some(&["unicorn".to_string()])).unwrap_err();
    assert!(e.to_string().contains("no class 'unicorn'"), "{e}");
}

#[test]
fn vtest_finds_people_in_most_frames_deterministically() {
    let mut d = detector();
    let s = Sampling { stride: 8, ..Sampling::default() };
    let a = run(&mut d, &media("vtest.avi"), s, None);
    assert_eq!(a.len(), 100, "795 frames, every 8th");
    let with_person = a.iter().filter(|f| f.detections.iter().any(|d| d.class_id == 0 && d.score >= 0.5)).count();
    assert!(with_person * 10 >= a.len() * 9, "people in {with_person} of {} frames", a.len());
    for f in &a {
        for det in &f.detections {
            let [x1, y1, x2, y2] = det.bbox;
            assert!(
                0.0 <= x1 && x1 < x2 && x2 <= 768.0 && 0.0 <= y1 && y1 < y2 && y2 <= 576.0,
                "box {:?} inside the 768x576 frame",
                det.bbox
            );
        }
    }
    let b = run(&mut d, &media("vtest.avi"), s, None);
    assert_eq!(a, b, "two runs give identical results");
}

#[test]
fn report_counts_frames_classes_and_a_fixed_pool() {
    let mut d = detector();
    let params = d.default_params();
    let mut n = 0;
    let run_clip = |d: &mut Detector, dur: f64, n: &mut usize| {
        let s = Sampling { duration: Some(dur), stride: 5, ..Sampling::default() };
        let (r, o) = pipeline::run_detect(
            &data("market_street_10s.mp4"),
            d,
            &params,
            s,
            pipeline::Stages::tracked(),
            &mut |_| {
                *n += 1;
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        o.unwrap();
        r
    };
    let short = run_clip(&mut d, 1.0, &mut n);
    let long = run_clip(&mut d, 11.0, &mut n);
    // Stride 5 is decoded sparsely (issue 33): frames out of the decoder are at least those
    // processed and fewer than the clip's 302 (its unwanted non-reference frames are skipped).
    assert!((61..302).contains(&long.frames_decoded), "{} frames decoded", long.frames_decoded);
    assert_eq!(long.frames_processed, 61);
    assert_eq!(short.frames_processed, 6);
    assert_eq!(n, 67);
    assert!(long.per_class.get(&0).copied().unwrap_or(0) > 61, "several people per frame on Market Street");
    // Decode channel 2 x max(batch, 2) + preprocess channel batch + 1 + the batch + 2 in hand (batch
    // 1: 9 buffers; 2 inference workers run batches of 2: 11).
    let b = d.batch();
    let bound = 2 * b.max(2) + (b + 1) + b + 2;
    assert!(
        short.pool_buffers <= bound && long.pool_buffers <= bound,
        "frame buffers do not grow with the number of frames: {} / {}",
        short.pool_buffers,
        long.pool_buffers
    );
    let ran = long.detector.as_ref().expect("a detector ran");
    assert_eq!(ran.provider, "CPUExecutionProvider");
    assert!(long.tracks.unwrap() >= 3, "several people tracked: {:?}", long.tracks);
    assert!(ran.batch_note.contains("fixed at 1"), "{}", ran.batch_note);
    assert!(long.times.inference_s > 0.0 && long.times.decode_s > 0.0 && long.wall_s > 0.0);
}

#[test]
fn a_manifest_that_disagrees_with_the_model_names_the_tensor() {
    let text = std::fs::read_to_string(model()).unwrap();
    let onnx = root().join("engines/nanodet-g-416.onnx");
    let text = text.replace("file = \"nanodet-g-416.onnx\"", &format!("file = \"{}\"", onnx.display()));
    let trt = root().join("engines/trt");
    let text = text.replace("\"trt/", &format!("\"{}/", trt.display()));
    let dir = tempdir();
    let load = |t: &str| {
        let p = dir.path().join("m.toml");
        std::fs::write(&p, t).unwrap();
        let m = Manifest::load(&p).unwrap();
        Detector::load(&m, &DetectorOptions::default()).expect_err("mismatch is an error").to_string()
    };
    let e = load(&text.replace("\"toothbrush\",", "\"toothbrush\", \"extra\","));
    assert!(e.contains("output tensor 'Identity:0' has shape [1,2704,80]") && e.contains("81 labels expects [*,2704,81]"), "{e}");
    let e = load(&text.replace("width = 416", "width = 320"));
    assert!(e.contains("input tensor 'input_1:0' has shape [1,3,416,416], manifest expects [1,3,416,320]"), "{e}");
    let e = load(&text.replace("name = \"input_1:0\"", "name = \"images\""));
    assert!(e.contains("input tensor 'images' not found (the model's inputs: 'input_1:0')"), "{e}");
    let e = load(&text.replace("\"Identity_5:0\"]", "\"boxes32\"]"));
    assert!(e.contains("output tensor 'boxes32' not found"), "{e}");
    let e = load(&text.replace("reg_max = 10", "reg_max = 7"));
    assert!(e.contains("'Identity_3:0' has shape [1,2704,44]") && e.contains("[*,2704,32]"), "{e}");
}

/// The whole detect pipeline (decode, preprocess, model, mapping back, tracking) on every width
/// from 1 to 64 and the usual real-world sizes: each frame gives a result, and every box lies
/// inside its frame (the size matrix of the decoder, detected on; `tests/it/memcheck.rs` runs the
/// decoding part under valgrind).
#[test]
fn every_size_is_detected_on_with_boxes_inside_the_frame() {
    let dir = tempdir();
    let mut det = detector();
    let params = det.default_params();
    let mut sizes: Vec<(u32, u32)> = (1..=64).map(|w| (w, 1 + (w * 7) % 23)).collect();
    sizes.extend([(426, 240), (360, 640), (200, 200), (854, 480), (1080, 1920)]);
    let specs: Vec<(String, &str, &str, &str)> = sizes
        .iter()
        .map(|&(w, h)| {
            let (codec, ext) = if w % 2 == 0 && h % 2 == 0 { ("libx264", "mp4") } else { ("rawvideo", "nut") };
            (format!("{w}x{h}"), "yuv420p", codec, ext)
        })
        .collect();
    for ((w, h), p) in sizes.into_iter().zip(make_clips(dir.path(), &specs, 2)) {
        let stages = pipeline::Stages::tracked();
        let (frames, report) = run_collect(&p, &mut det, &params, Sampling::default(), stages);
        assert_eq!(frames.len(), 2, "{w}x{h}");
        assert_eq!(report.frames_processed, 2);
        for f in &frames {
            for d in &f.detections {
                let b = d.bbox;
                assert!(b.iter().all(|v| v.is_finite()), "{w}x{h}: {b:?}");
                assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= w as f32 && b[3] <= h as f32 && b[0] < b[2] && b[1] < b[3], "{w}x{h}: {b:?}");
            }
        }
    }
}
