//! `fovea verify` end to end on a real clip: boxes made by `fovea detect`, plus planted false
//! boxes on grass and in the scoreboard zone, plus bad boxes of every kind.
use crate::common;

use common::*;
use serde_json::Value;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn verify_keeps_people_and_rejects_planted_boxes_on_vtest() {
    let dir = tempdir();
    let detected = dir.path().join("detected.jsonl");
    let vtest = media("vtest.avi");
    let o = fovea(&[
        "detect",
        vtest.to_str().unwrap(),
        "--duration",
        "10",
        "--stride",
        "5",
        "--classes",
        "person",
        "-q",
        "-o",
        detected.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Grass in vtest.avi's lower left (768x576, fixed camera), and a box in the top-left
    // scoreboard zone; bad boxes in the first frame; a frame past the end of the video.
    let grass = ["[50, 300, 110, 420]", "[200, 330, 260, 450]", "[20, 380, 70, 480]"];
    let mut text = String::new();
    let mut frames = 0;
    let mut people = 0;
    for (n, l) in std::fs::read_to_string(&detected).unwrap().lines().enumerate() {
        let mut v: Value = serde_json::from_str(l).unwrap();
        let dets = v["detections"].as_array_mut().unwrap();
        people += dets.len();
        for g in grass {
            dets.push(serde_json::from_str(&format!(r#"{{"bbox": {g}, "score": 0.5555, "class_id": 0, "label": "person"}}"#)).unwrap());
        }
        dets.push(serde_json::from_str(r#"{"bbox": [20, 5, 60, 55], "score": 0.5555, "class_id": 0, "label": "person"}"#).unwrap());
        let mut line = v.to_string();
        if n == 0 {
            // NaN written the way Python's json module writes it; zero size; outside; clamped.
            let bad = r#"{"bbox":[NaN,300,110,420],"score":0.5555,"class_id":0,"label":"person"},{"bbox":[300,300,300,400],"score":0.5555,"class_id":0,"label":"person"},{"bbox":[800,100,900,200],"score":0.5555,"class_id":0,"label":"person"},{"bbox":[-30,300,40,420],"score":0.5555,"class_id":0,"label":"person"},"#;
            line = line.replacen("\"detections\":[", &format!("\"detections\":[{bad}"), 1);
        }
        text += &line;
        text.push('\n');
        frames += 1;
    }
    text +=
        r#"{"frame": 100000, "pts": 10000.0, "detections": [{"bbox": [1, 2, 30, 80], "score": 0.5555, "class_id": 0, "label": "person"}]}"#;
    text.push('\n');
    assert_eq!(frames, 20);
    assert!(people >= 60, "detect found {people} people in 20 frames of vtest");
    let boxes = dir.path().join("boxes.jsonl");
    std::fs::write(&boxes, text).unwrap();

    let out = dir.path().join("verdicts.jsonl");
    let o = fovea(&["verify", vtest.to_str().unwrap(), "--boxes", boxes.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let v = lines(&out);
    // Every box has exactly one line, in input order.
    assert_eq!(v.len(), people + frames * 4 + 4 + 1, "{err}");
    let order: Vec<(u64, u64)> = v.iter().map(|r| (r["frame"].as_u64().unwrap(), r["index"].as_u64().unwrap())).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "lines out of order");

    let at = |frame: u64, bbox0: f64| {
        v.iter().filter(move |r| r["frame"].as_u64() == Some(frame) && r["bbox"][0].as_f64() == Some(bbox0)).collect::<Vec<_>>()
    };
    for r in &v {
        let b: Vec<f64> = (0..4).map(|k| r["bbox"][k].as_f64().unwrap_or(f64::NAN)).collect();
        let planted_grass =
            [[50.0, 300.0], [200.0, 330.0], [20.0, 380.0]].iter().any(|g| b[0] == g[0] && b[1] == g[1] && b[2] - b[0] < 61.0);
        if planted_grass {
            assert_eq!(r["rule"], "grass", "{r}");
            assert_eq!(r["verdict"], "reject");
            assert!(r["stats"]["green_fraction"].as_f64().unwrap() >= 0.85);
        }
        if b == [20.0, 5.0, 60.0, 55.0] {
            assert_eq!(r["rule"], "zone:scoreboard_left", "{r}");
        }
    }
    let first = |b0: f64| at(0, b0)[0].clone();
    assert_eq!(v.iter().find(|r| r["frame"] == 0 && r["bbox"][0].is_null()).unwrap()["rule"], "non_finite_box");
    assert_eq!(first(300.0)["rule"], "empty_box");
    assert_eq!(first(800.0)["rule"], "outside_frame");
    assert_eq!(first(800.0)["verdict"], "invalid");
    let clamped = first(-30.0);
    assert!(clamped["flags"].as_array().unwrap().iter().any(|f| f == "clamped"), "{clamped}");
    assert_eq!(clamped["rule"], "grass", "the clamped box is grass too: {clamped}");
    let past = v.last().unwrap();
    assert_eq!(
        (past["frame"].as_u64(), past["verdict"].as_str(), past["rule"].as_str()),
        (Some(100000), Some("invalid"), Some("frame_out_of_range"))
    );

    // The people the detector found (planted boxes score 0.5555): those of the validator's
    // minimum size are kept (>= 90%).
    let real: Vec<&Value> = v
        .iter()
        .filter(|r| r["score"].as_f64() != Some(0.5555) && r["frame"].as_u64() != Some(100000))
        .filter(|r| {
            let b: Vec<f64> = (0..4).map(|k| r["bbox"][k].as_f64().unwrap()).collect();
            b[2] - b[0] >= 15.0 && b[3] - b[1] >= 40.0
        })
        .collect();
    let kept = real.iter().filter(|r| r["verdict"] == "keep").count();
    assert!(real.len() >= 40, "{} sizeable detections", real.len());
    assert!(kept * 10 >= real.len() * 9, "only {kept} of {} detected people kept", real.len());
    for r in &real {
        assert!(r["stats"]["pixels"].as_u64().unwrap() > 0);
    }

    // The summary names the counts per rule and the throughput.
    assert!(err.contains(&format!("grass {}", frames * 3 + 1)), "{err}");
    assert!(err.contains(&format!("zone:scoreboard_left {frames}")), "{err}");
    assert!(err.contains("frame_out_of_range 1") && err.contains("non_finite_box 1") && err.contains("outside_frame 1"), "{err}");
    assert!(err.contains("ROIs/s") && err.contains("1 frames with boxes are past the end"), "{err}");
}

#[test]
fn verify_reads_a_scorevision_file_and_reports_unknown_classes() {
    let dir = tempdir();
    let boxes = dir.path().join("miner.json");
    // messi5.jpg: the ball near (337..388, 288..336); class 7 does not exist in Score Vision.
    std::fs::write(
        &boxes,
        r#"{"frames": {"0": {"objects": [
            {"id": 1, "bbox": [337, 288, 388, 336], "class_id": 0},
            {"id": 2, "bbox": [10, 200, 60, 330], "class_id": 7},
            {"id": 3, "bbox": [0, 94, 56, 150], "class_id": 3}
        ], "keypoints": []}}}"#,
    )
    .unwrap();
    let out = dir.path().join("v.jsonl");
    let o = fovea(&[
        "verify",
        media("messi5.jpg").to_str().unwrap(),
        "--boxes",
        boxes.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--no-roi-tensors",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = lines(&out);
    assert_eq!(v.len(), 3);
    assert_eq!((v[0]["label"].as_str(), v[0]["verdict"].as_str(), v[0]["id"].as_u64()), (Some("football"), Some("keep"), Some(1)));
    assert_eq!((v[1]["verdict"].as_str(), v[1]["rule"].as_str()), (Some("invalid"), Some("unknown_class")));
    assert_eq!(v[2]["label"], "referee");
    assert!(stderr(&o).contains("0 tensors"), "{}", stderr(&o));
}

#[test]
fn verify_bad_inputs_are_clear_errors() {
    let dir = tempdir();
    let boxes = dir.path().join("b.jsonl");
    std::fs::write(&boxes, "{\"frame\": 0, \"detections\": []}\n{\"frame\": 1, \"detections\": [oops]}\n").unwrap();
    let o = fovea(&["verify", media("messi5.jpg").to_str().unwrap(), "--boxes", boxes.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
    let sv = dir.path().join("sv.json");
    std::fs::write(&sv, r#"{"frames": {"0": {"objects": [{"id": 1, "bbox": [1, 2], "class_id": 2}]}}}"#).unwrap();
    let o = fovea(&["verify", media("messi5.jpg").to_str().unwrap(), "--boxes", sv.to_str().unwrap()]);
    assert!(stderr(&o).contains("frames.0.objects[0]: \"bbox\" has 2 numbers"), "{}", stderr(&o));
    let rules = dir.path().join("r.toml");
    std::fs::write(&rules, "[rules.grass]\nmin_green_fraction = 0.8\n").unwrap();
    let o = fovea(&["verify", media("messi5.jpg").to_str().unwrap(), "--boxes", sv.to_str().unwrap(), "--rules", rules.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("r.toml") && stderr(&o).contains("min_green_dominance"), "{}", stderr(&o));
    let o = fovea(&["verify", "/nonexistent.mp4", "--boxes", sv.to_str().unwrap()]);
    assert!(stderr(&o).contains("/nonexistent.mp4"), "{}", stderr(&o));
}

#[test]
fn verify_with_the_zero_shot_classifier_and_the_validator_policy() {
    let dir = tempdir();
    let boxes = dir.path().join("miner.json");
    // messi5.jpg: a player (mostly white/grey kit), the ball, a patch of grass, a patch in the
    // dark crowd band at the top.
    std::fs::write(
        &boxes,
        r#"{"frames": {"0": {"objects": [
            {"id": 1, "bbox": [200, 40, 280, 200], "class_id": 2},
            {"id": 2, "bbox": [337, 288, 388, 336], "class_id": 0},
            {"id": 3, "bbox": [20, 250, 60, 335], "class_id": 2},
            {"id": 4, "bbox": [60, 2, 100, 60], "class_id": 3}
        ], "keypoints": []}}}"#,
    )
    .unwrap();
    let out = dir.path().join("v.jsonl");
    let o = fovea(&[
        "verify",
        media("messi5.jpg").to_str().unwrap(),
        "--boxes",
        boxes.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--classifier",
        "tests/data/tiny_clip.toml",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let v = lines(&out);
    assert_eq!(v.len(), 4);
    // Every box the rules kept went through the classifier: a label or a classifier rejection,
    // with the probabilities of its last step.
    let mut classified = 0;
    for r in &v {
        if r["source"] == "classifier" {
            classified += 1;
            let scores = r["scores"].as_array().unwrap();
            let sum: f64 = scores.iter().map(|s| s[1].as_f64().unwrap()).sum();
            assert!((sum - 1.0).abs() < 1e-4, "{r}");
            assert!(r["verdict"] == "keep" || r["rule"].as_str().unwrap().starts_with("classifier:"), "{r}");
        } else {
            assert_eq!(r["verdict"], "reject", "a kept box skipped the classifier: {r}");
        }
    }
    assert!(classified >= 2, "{err}");
    assert!(err.contains("zero-shot tiny_clip") && err.contains("encoder calls") && err.contains("(16x16"), "{err}");

    // A policy naming a label the table lacks stops at start-up, naming both.
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        "[[groups]]\nclasses = [\"player\"]\n[[groups.steps]]\nlabels = [\"person\", \"linesman\"]\nassign = { person = \"player\" }\n",
    )
    .unwrap();
    let o = fovea(&[
        "verify",
        media("messi5.jpg").to_str().unwrap(),
        "--boxes",
        boxes.to_str().unwrap(),
        "--classifier",
        "tests/data/tiny_clip.toml",
        "--policy",
        p.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("linesman"), "{}", stderr(&o));
}

#[test]
fn verify_on_a_gpu_is_an_error_here_unless_fallback_is_allowed() {
    let dir = tempdir();
    let boxes = dir.path().join("miner.json");
    std::fs::write(&boxes, r#"{"frames": {"0": {"objects": [{"id": 1, "bbox": [200, 40, 280, 200], "class_id": 2}]}}}"#).unwrap();
    let img = media("messi5.jpg");
    let args = ["verify", img.to_str().unwrap(), "--boxes", boxes.to_str().unwrap(), "-o", "/dev/null", "--device", "cuda:0"];
    let o = fovea(&args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    // Without the `cuda` feature or without a driver: the error says which, and how to go on.
    assert!(err.contains("--allow-fallback") && (err.contains("`cuda` feature") || err.contains("no CUDA driver")), "{err}");
    let o = fovea(&[&args[..], &["--allow-fallback"]].concat());
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("(224x224, cpu)") && err.contains("note         CPU fallback, as allowed"), "{err}");
    let o = fovea(&["verify", img.to_str().unwrap(), "--boxes", boxes.to_str().unwrap(), "--device", "cpu", "--provider", "tensorrt"]);
    assert!(stderr(&o).contains("runs on a GPU: use --device cuda"), "{}", stderr(&o));
}

/// Regression: the ROI tensors of a frame were made in one piece, however many boxes it held
/// (20,000 boxes: 12 GB, an abort). They are now made and classified in chunks of
/// `--batch-rois`: a frame of 7,950 overlapping but distinct boxes is verified box by box in
/// bounded memory (the whole frame's tensors would take 4.8 GB).
#[test]
fn a_frame_with_thousands_of_boxes_is_verified_in_bounded_memory() {
    let dir = tempdir();
    let boxes = dir.path().join("many.jsonl");
    let mut dets = Vec::new();
    for y in 0..53 {
        for x in 0..150 {
            let (x1, y1) = (x as f32 * 5.0, y as f32 * 10.0);
            dets.push(format!(r#"{{"bbox":[{x1},{y1},{},{}],"score":0.9,"class_id":0,"label":"person"}}"#, x1 + 20.0, y1 + 45.0));
        }
    }
    std::fs::write(&boxes, format!("{{\"frame\":0,\"pts\":0.0,\"detections\":[{}]}}\n", dets.join(","))).unwrap();
    let out = dir.path().join("v.jsonl");
    let vtest = media("vtest.avi");
    let o =
        fovea(&["verify", vtest.to_str().unwrap(), "--boxes", boxes.to_str().unwrap(), "--batch-rois", "128", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = lines(&out);
    assert_eq!(got.len(), 7950, "one line per box");
    let kept = got.iter().filter(|l| l["verdict"] == "keep").count();
    assert!(kept > 1000, "enough kept boxes for tensors to matter: {kept}");
    // The largest child this test process waited for (fovea verify above; `fovea` runs no
    // other children here) stayed far below the unchunked tensors' 600 KB per kept box.
    // SAFETY: getrusage fills the struct it is given; all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a writable rusage.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) }, 0);
    let max_rss_mib = ru.ru_maxrss as f64 / 1024.0;
    assert!(max_rss_mib < 1024.0, "verify peaked at {max_rss_mib:.0} MiB for {kept} kept boxes");
    assert!(stderr(&o).contains("7950"), "{}", stderr(&o));
}

/// A classifier that keeps the ROIs it is given (their smallest and largest value).
struct Recorder {
    seen: Vec<(String, f32, f32)>,
}

impl fovea::classify::Classifier for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn roi_spec(&self) -> Option<fovea::roi::RoiSpec> {
        Some(fovea::roi::RoiSpec { size: 16, mean: [0.0; 3], std: [1.0; 3], ..Default::default() })
    }
    fn wants(&self, _label: &str) -> bool {
        true
    }
    fn classify(&mut self, rois: &fovea::roi::RoiBatch, objects: &[fovea::classify::Object]) -> fovea::Result<Vec<fovea::results::Label>> {
        for (i, o) in objects.iter().enumerate() {
            let r = rois.roi_f32(i);
            self.seen.push((o.label.to_string(), r.iter().copied().fold(f32::INFINITY, f32::min), r.iter().copied().fold(0.0, f32::max)));
        }
        Ok(objects.iter().map(|o| fovea::results::Label { label: o.label.to_string(), confidence: 1.0, ..Default::default() }).collect())
    }
}

/// `[roi] blackout = true` cuts ROIs as the Score Vision validator does: the first box sees a white
/// frame, a later box overlapping it sees it black, the ball's enlarged crop (cut after every box)
/// sees black; without it every crop is white. A GPU ROI stage refuses the option.
#[test]
fn blackout_cuts_rois_as_the_validator_does() {
    use fovea::detect::Detection;
    use fovea::pipeline::{FrameStages, StageInput, Stages};
    let (w, h) = (120u32, 80u32);
    let data = vec![255u8; (w * h * 3) as usize];
    let view = fovea::image::FrameView { data: &data, width: w, height: h, stride: w as usize * 3 };
    let labels: Vec<String> = fovea::results::SCOREVISION_LABELS.iter().map(|s| s.to_string()).collect();
    let dets = vec![
        Detection::new([10.0, 10.0, 40.0, 70.0], 1.0, 2),
        Detection::new([30.0, 10.0, 60.0, 70.0], 1.0, 2),
        Detection::new([80.0, 40.0, 86.0, 46.0], 1.0, 0),
    ];
    let run = |blackout: bool| {
        let mut filter = fovea::filter::FilterConfig::scorevision_validator();
        filter.rules.top_band = None; // a small frame: keep everything in it
        filter.roi.blackout = blackout;
        let mut rec = Recorder { seen: Vec::new() };
        {
            let stages = Stages { classifier: Some(&mut rec), rules: Some(filter), ..Stages::default() };
            let mut chain = FrameStages::new(stages, 25.0, fovea::image::ChannelOrder::Rgb, labels.clone()).unwrap();
            let r = chain
                .apply_batch(vec![StageInput { view, index: 0, pts: 0.0, detections: dets.clone(), ids: None, predicted: false }])
                .unwrap();
            assert!(r[0].checks.iter().all(|c| c.verdict == fovea::results::Verdict::Keep), "{:?}", r[0].checks);
        }
        rec.seen
    };
    let on = run(true);
    let mins: Vec<f32> = on.iter().map(|s| s.1).collect();
    assert_eq!(on.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["player", "player", "football"]);
    assert_eq!(mins, [255.0, 0.0, 0.0], "{on:?}");
    assert!(on.iter().all(|s| s.2 == 255.0), "{on:?}");
    // The ball's crop shows its own box black (the validator cuts it after blacking every box).
    assert_eq!(on[2].1, 0.0);
    let off = run(false);
    assert!(off.iter().all(|s| s.1 == 255.0 && s.2 == 255.0), "{off:?}");
}

#[test]
fn a_score_run_counts_its_frames_and_stops_when_cancelled_keeping_its_report() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let dir = tempdir();
    let boxes = dir.path().join("miner.json");
    // vtest.avi: a box on each of its first 40 frames.
    let frames: Vec<String> = (0..40)
        .map(|i| {
            format!(r#""{i}": {{"objects": [{{"id": 1, "bbox": [{}, 200, {}, 280], "class_id": 2}}], "keypoints": []}}"#, 100 + i, 130 + i)
        })
        .collect();
    std::fs::write(&boxes, format!(r#"{{"frames": {{{}}}}}"#, frames.join(","))).unwrap();
    let video = media("vtest.avi");
    let progress = Arc::new(AtomicU64::new(0));
    let opts = fovea::score::ScoreOptions { progress: Some(progress.clone()), line_frames: 0, ..Default::default() };
    let (report, outcome) = fovea::score::run_score(&video, &boxes, &opts, None).unwrap();
    outcome.unwrap();
    assert_eq!((report.boxes.frames, progress.load(Ordering::SeqCst)), (40, 40));

    let cancel = Arc::new(AtomicBool::new(true));
    let opts = fovea::score::ScoreOptions { cancel: Some(cancel), line_frames: 0, ..Default::default() };
    let (report, outcome) = fovea::score::run_score(&video, &boxes, &opts, None).unwrap();
    let err = outcome.unwrap_err().to_string();
    assert!(err.contains("cancelled"), "{err}");
    assert_eq!(report.boxes.frames, 0, "nothing scored after the cancel");
}
