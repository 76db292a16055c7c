//! The INT8 detector (engines/nanodet-g-416-int8.toml, made by scripts/quantize_int8.py from a
//! `fovea calib` set): loads through its manifest, finds what the fp32 model finds.

use crate::common;

use std::collections::{BTreeMap, HashSet};

use common::*;
use fovea::detect::compare::{accumulate_tolerant, ClassAgreement};
use fovea::detect::{iou, DecodeParams, Detection};
use fovea::infer::calib::CalibFrame;
use fovea::infer::manifest::{Manifest, Precision};
use fovea::infer::{Detector, DetectorOptions};
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};

fn load(name: &str) -> Detector {
    let m = Manifest::load(&root().join("engines").join(name)).unwrap();
    Detector::load(&m, &DetectorOptions { threads: 2, batch: 1, ..DetectorOptions::default() }).unwrap()
}

fn detect_all(det: &mut Detector, path: &std::path::Path, s: Sampling, params: &DecodeParams, skip: &HashSet<u64>) -> Vec<Vec<Detection>> {
    let fmt = OutputFormat { width: 0, height: 0, order: ChannelOrder::Bgr, fit: Fit::Stretch };
    let mut dec = Decoder::open(path, s, fmt).unwrap();
    let pool = FramePool::new(1);
    let mut out = Vec::new();
    while let Some(f) = dec.next_frame(&pool).unwrap() {
        if skip.contains(&f.index) {
            continue;
        }
        let tf = det.fill(0, &f.data, f.width, f.height, f.width as usize * 3).unwrap();
        out.push(det.run(1, &[tf], params).unwrap().0.remove(0));
    }
    out
}

#[test]
fn int8_manifest_loads_and_finds_person_and_ball() {
    let mut d = load("nanodet-g-416-int8.toml");
    assert_eq!(d.manifest().precision, Precision::Int8);
    let p = d.default_params();
    let dets = detect_all(&mut d, &media("messi5.jpg"), Sampling::default(), &p, &HashSet::new()).remove(0);
    let best = |c: u32| dets.iter().filter(|d| d.class_id == c).map(|d| d.score).fold(0.0, f32::max);
    assert!(best(0) >= 0.7, "person {}", best(0));
    assert!(best(32) >= 0.4, "sports ball {}", best(32));
}

/// Every person and ball of the independent fp32 references is found by the INT8 model (same
/// class, IoU >= 0.5, at any score >= 0.2).
#[test]
fn int8_finds_the_reference_objects() {
    let mut d = load("nanodet-g-416-int8.toml");
    let p = DecodeParams { score_threshold: 0.2, ..d.default_params() };
    for (img, reference) in [("messi5.jpg", "messi5.reference.json"), ("parkour.jpg", "parkour.reference.json")] {
        let dets = detect_all(&mut d, &media(img), Sampling::default(), &p, &HashSet::new()).remove(0);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(data(reference)).unwrap()).unwrap();
        for r in v["detections"].as_array().unwrap() {
            let class = r["class_id"].as_u64().unwrap() as u32;
            if class != 0 && class != 32 {
                continue;
            }
            let b: Vec<f32> = r["bbox"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            let b = [b[0], b[1], b[2], b[3]];
            let best = dets.iter().filter(|d| d.class_id == class).map(|d| iou(&d.bbox, &b)).fold(0.0, f32::max);
            assert!(best >= 0.5, "{img}: reference {class} {b:?} found at IoU {best}");
        }
    }
}

/// Held-out frames (not in the calibration set) of a real clip: at the manifests' thresholds,
/// at least 98% of fp32 person boxes are found by INT8 and at most 3% of INT8 person boxes have
/// no fp32 counterpart (object level: a score crossing the threshold is not a miss).
#[test]
fn int8_agrees_with_fp32_on_held_out_frames() {
    let calib: Vec<CalibFrame> =
        serde_json::from_slice(&std::fs::read(root().join("engines/calib/nanodet-g-416.frames.json")).unwrap()).unwrap();
    let skip: HashSet<u64> = calib.iter().filter(|f| f.video == "vtest.avi").map(|f| f.frame).collect();
    assert!(!skip.is_empty());
    let mut fp = load("nanodet-g-416.toml");
    let mut q = load("nanodet-g-416-int8.toml");
    let s = Sampling { stride: 11, ..Sampling::default() };
    let (tr, tc) = (fp.default_params().score_threshold, q.default_params().score_threshold);
    let low = |d: &Detector| DecodeParams { score_threshold: 0.2, ..d.default_params() };
    let (lf, lq) = (low(&fp), low(&q));
    let a = detect_all(&mut fp, &media("vtest.avi"), s, &lf, &skip);
    let b = detect_all(&mut q, &media("vtest.avi"), s, &lq, &skip);
    assert!(a.len() >= 60, "{} held-out frames", a.len());
    let mut acc: BTreeMap<u32, ClassAgreement> = BTreeMap::new();
    for (r, c) in a.iter().zip(&b) {
        accumulate_tolerant(&mut acc, r, c, tr, tc, 0.2, 0.5);
    }
    let person = acc[&0];
    assert!(person.reference > 300, "{person:?}");
    assert!(person.recall() >= 0.98, "recall {:.3} ({person:?})", person.recall());
    assert!(person.extra() <= 0.03, "extra {:.3} ({person:?})", person.extra());
}

#[test]
fn fp32_manifest_carries_the_tensorrt_calibration_table() {
    let m = Manifest::load(&model()).unwrap();
    let t = m.tensorrt_int8_calibration_table.expect("the fp32 manifest names its TensorRT INT8 table");
    assert!(t.ends_with("trt/nanodet-g-416.calibration.flatbuffers"));
    assert!(std::fs::metadata(&t).unwrap().len() > 1000);
    // The same ranges as text (TensorRT's cache format): "tensor range" per line, all finite.
    let cache = std::fs::read_to_string(t.with_extension("cache")).unwrap();
    let ranges: BTreeMap<&str, f64> = cache.lines().filter_map(|l| l.rsplit_once(' ')).map(|(k, v)| (k, v.parse().unwrap())).collect();
    assert!(ranges.len() > 100, "ranges of every tensor: {}", ranges.len());
    assert!(ranges.values().all(|v| v.is_finite() && *v >= 0.0));
    assert!(ranges.contains_key("input_1:0"), "the input's range is in the table");
}
