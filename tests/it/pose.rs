//! Pose models (issue 32): fovea's decoder of Ultralytics pose heads against Ultralytics' own
//! post-processing, on graphs built and exported by Ultralytics (tests/data/pose_*.onnx, made by
//! scripts/make_pose_models.py with random weights: the layout is what is checked). YOLOv8 and
//! YOLO11 heads, with and without keypoint confidence, within 1e-4.
#![forbid(unsafe_code)]

use crate::common;

use common::*;
use fovea::infer::manifest::{KeypointTemplate, Manifest};
use fovea::infer::{Detector, DetectorOptions};
use fovea::results::Detection;

const SIZE: u32 = 160;

/// The script's pattern image, RGB: pixel (y, x) of channel c is (7 y + 13 x + 29 c) mod 256.
fn image() -> Vec<u8> {
    let mut v = Vec::with_capacity((SIZE * SIZE * 3) as usize);
    for y in 0..SIZE {
        for x in 0..SIZE {
            for c in 0..3 {
                v.push(((7 * y + 13 * x + 29 * c) % 256) as u8);
            }
        }
    }
    v
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data("pose_reference.json")).unwrap()).unwrap()
}

fn detect(name: &str) -> Vec<Detection> {
    let m = Manifest::load(&data(&format!("{name}.toml"))).unwrap();
    let mut det = Detector::load(&m, &DetectorOptions { threads: 1, batch: 1, ..DetectorOptions::default() }).unwrap();
    // The script's input tensor exactly (uint8 / 255 in float32, channel-major), so that the
    // decoders are compared on the same model outputs; `fill` is checked against it below.
    let img = image();
    let plane = (SIZE * SIZE) as usize;
    let tensor: Vec<f32> = (0..3 * plane).map(|i| img[(i % plane) * 3 + i / plane] as f32 / 255.0).collect();
    det.fill_preprocessed(0, &tensor).unwrap();
    let params = det.default_params();
    let exact = det.run(1, &[fovea::image::Transform::identity(SIZE, SIZE)], &params).unwrap().0.remove(0);
    let tf = det.fill(0, &img, SIZE, SIZE, SIZE as usize * 3).unwrap();
    let filled = det.run(1, &[tf], &params).unwrap().0.remove(0);
    assert_eq!(filled.len(), exact.len(), "{name}: fill() and the exact tensor give the same boxes");
    for (a, b) in filled.iter().zip(&exact) {
        assert!(a.bbox.iter().zip(&b.bbox).all(|(x, y)| (x - y).abs() < 1e-3), "{name}: {a:?} vs {b:?}");
    }
    exact
}

thread_local!(static WORST: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) });

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-4, "{what}: fovea {a}, Ultralytics {b}");
    WORST.with(|w| w.set(w.get().max((a - b).abs())));
}

#[test]
fn pose_heads_decode_as_ultralytics_does() {
    let r = reference();
    for (name, dims) in [("pose_v8_k3", 3), ("pose_11_k3", 3), ("pose_11_k2", 2)] {
        let want = r["models"][name]["detections"].as_array().unwrap();
        let got = detect(name);
        assert!(want.len() >= 50, "{name}: the reference has work for NMS ({} boxes)", want.len());
        assert_eq!(got.len(), want.len(), "{name}: boxes after NMS");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let at = |what: &str| format!("{name} box {i} {what}");
            assert_eq!(g.class_id as u64, w["class"].as_u64().unwrap(), "{}", at("class"));
            close(g.score as f64, w["score"].as_f64().unwrap(), &at("score"));
            for (k, v) in w["box"].as_array().unwrap().iter().enumerate() {
                close(g.bbox[k] as f64, v.as_f64().unwrap(), &at(&format!("box[{k}]")));
            }
            let kp = g.keypoints.as_ref().expect("a pose model's detections carry keypoints");
            let wk = w["keypoints"].as_array().unwrap();
            assert_eq!(kp.len(), 32, "{}", at("keypoints"));
            for (j, (p, q)) in kp.iter().zip(wk).enumerate() {
                let q = q.as_array().unwrap();
                assert_eq!(q.len(), dims);
                close(p[0] as f64, q[0].as_f64().unwrap(), &at(&format!("keypoint {j} x")));
                close(p[1] as f64, q[1].as_f64().unwrap(), &at(&format!("keypoint {j} y")));
                let conf = if dims == 3 { q[2].as_f64().unwrap() } else { 1.0 };
                close(p[2] as f64, conf, &at(&format!("keypoint {j} confidence")));
            }
        }
    }
    eprintln!("largest difference from Ultralytics: {:.2e}", WORST.with(|w| w.get()));
}

#[test]
fn pose_manifests_are_checked() {
    let m = Manifest::load(&data("pose_v8_k3.toml")).unwrap();
    let map = m.keypoints.as_ref().unwrap();
    assert_eq!(map.template, KeypointTemplate::SoccerPitch32);
    assert_eq!(map.map, (0..32).map(Some).collect::<Vec<_>>());
    let text = std::fs::read_to_string(data("pose_v8_k3.toml")).unwrap();
    let bad = |from: &str, to: &str| {
        let t = text.replace(from, to);
        assert_ne!(t, text, "{from}");
        Manifest::parse(&t, &data("pose_v8_k3.toml")).unwrap_err().to_string()
    };
    let e = bad("keypoint_dims = 3", "keypoint_dims = 4");
    assert!(e.contains("decoder.keypoint_dims must be 2 (x, y) or 3 (x, y, confidence), got 4"), "{e}");
    let e = bad("keypoints = 32\n", "keypoints = 0\n");
    assert!(e.contains("decoder.keypoints must be within 1..=1024, got 0"), "{e}");
    let e = bad("keypoints = 32\n", "keypoints = 17\n");
    assert!(e.contains("keypoints.map is required: the model gives 17 keypoints, the template has 32"), "{e}");
    let e = bad("template = \"soccer-pitch-32\"", "template = \"soccer-pitch-32\"\nmap = [0, 1]");
    assert!(e.contains("keypoints.map has 2 entries, the model gives 32 keypoints"), "{e}");
    let many = format!(
        "template = \"soccer-pitch-32\"\nmap = [{}]",
        (0..32).map(|i| if i == 5 { "40".into() } else { (i - 1).to_string() }).collect::<Vec<_>>().join(", ")
    );
    let e = bad("template = \"soccer-pitch-32\"", &many);
    assert!(e.contains("keypoints.map[5] = 40: expected a template point 0..32 or -1"), "{e}");
    let e = bad("template = \"soccer-pitch-32\"", "template = \"tennis\"");
    assert!(e.contains("keypoints.template") || e.contains("tennis"), "{e}");
    let e = bad("kind = \"yolov8\"", "kind = \"yolov5\"");
    assert!(e.contains("decoder.keypoints is not a parameter of kind \"yolov5\""), "{e}");
    // A map with -1 (a model keypoint that is no template point) and a 17-point model.
    let t = text
        .replace("keypoints = 32\n", "keypoints = 3\n")
        .replace("template = \"soccer-pitch-32\"", "template = \"soccer-pitch-32\"\nmap = [4, -1, 31]");
    let m = Manifest::parse(&t, &data("pose_v8_k3.toml")).unwrap();
    assert_eq!(m.keypoints.unwrap().map, vec![Some(4), None, Some(31)]);
}

/// A manifest whose keypoint layout is not the graph's is refused with both shapes named.
#[test]
fn a_wrong_keypoint_layout_is_a_clear_error() {
    let text = std::fs::read_to_string(data("pose_11_k2.toml")).unwrap().replace("keypoint_dims = 2", "keypoint_dims = 3");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong.toml");
    std::fs::write(&path, text.replace("file = \"pose_11_k2.onnx\"", &format!("file = \"{}\"", data("pose_11_k2.onnx").display())))
        .unwrap();
    let m = Manifest::load(&path).unwrap();
    let e = match Detector::load(&m, &DetectorOptions { threads: 1, batch: 1, ..DetectorOptions::default() }) {
        Err(e) => e.to_string(),
        Ok(mut det) => {
            let tf = det.fill(0, &image(), SIZE, SIZE, SIZE as usize * 3).unwrap();
            let params = det.default_params();
            det.run(1, &[tf], &params).unwrap_err().to_string()
        }
    };
    assert!(e.contains("[1,69,525]") && e.contains("[*,101,*]"), "{e}");
}
