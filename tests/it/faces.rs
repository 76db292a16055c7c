//! Every face runs the one stage chain: a C program's verify (a file and a boxes file, and the
//! caller's frames with their boxes) gives `fovea verify`'s verdicts, rules, values, statistics
//! and labels box for box; one engine configuration drives the CLI and the C ABI to the same
//! results.
use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const W: u32 = 768;
const H: u32 = 576;
/// Frames of vtest.avi the stream mode sends (the boxes are on frames 0, 2, ..., 38).
const FRAMES: u32 = 40;

/// Boxes for vtest.avi: the detector's people on every other frame of 4 s, plus planted grass,
/// a box in the scoreboard zone and one outside the frame on each of those frames.
fn boxes(dir: &Path) -> std::path::PathBuf {
    let detected = dir.join("detected.jsonl");
    let vtest = media("vtest.avi");
    let o = fovea(
        &["detect", vtest.to_str().unwrap(), "--duration", "4", "--stride", "2", "--classes", "person", "-q", "--no-track", "-o"]
            .iter()
            .copied()
            .chain([detected.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut text = String::new();
    for l in std::fs::read_to_string(&detected).unwrap().lines() {
        let mut v: Value = serde_json::from_str(l).unwrap();
        let dets = v["detections"].as_array_mut().unwrap();
        for b in ["[50, 300, 110, 420]", "[20, 5, 60, 55]", "[800, 100, 900, 200]", "[-30, 300, 40, 420]"] {
            dets.push(serde_json::from_str(&format!(r#"{{"bbox": {b}, "score": 0.5, "class_id": 0, "label": "person"}}"#)).unwrap());
        }
        text += &v.to_string();
        text.push('\n');
    }
    let p = dir.join("boxes.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

fn engine_config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("verify.toml");
    let model = root().join("engines/nanodet-g-416.toml");
    std::fs::write(&p, format!("model = \"{}\"\nthreads = 2\n[tracking]\nenabled = false\n[rules]\n", model.display())).unwrap();
    p
}

/// One C line: frame index verdict rule value limit flags team source label label_score pixels
/// green_fraction score_count.
fn c_lines(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| l.split('\t').map(String::from).collect()).collect()
}

fn same_number(c: &str, cli: &Value) -> bool {
    match cli.as_f64() {
        None => c == "nan",
        Some(v) => (c.parse::<f64>().unwrap() - v).abs() <= 1e-4 * v.abs().max(1.0),
    }
}

/// Compares the C program's lines with `fovea verify`'s, box for box; returns how many were
/// rejected.
fn assert_same(c: &[Vec<String>], cli: &[Value], what: &str) -> usize {
    assert_eq!(c.len(), cli.len(), "{what}: one line per box");
    let mut rejected = 0;
    for (l, v) in c.iter().zip(cli) {
        let at = format!("{what}: frame {} box {}", l[0], l[1]);
        assert_eq!(l[0].parse::<u64>().unwrap(), v["frame"].as_u64().unwrap(), "{at}");
        assert_eq!(l[1].parse::<u64>().unwrap(), v["index"].as_u64().unwrap(), "{at}");
        assert_eq!(l[2], v["verdict"].as_str().unwrap(), "{at}: verdict");
        assert_eq!(l[3], v["rule"].as_str().unwrap_or("-"), "{at}: rule");
        assert!(same_number(&l[4], &v["value"]) && same_number(&l[5], &v["limit"]), "{at}: value/limit {l:?} vs {v}");
        let clamped = v["flags"].as_array().unwrap().iter().any(|f| f == "clamped");
        assert_eq!(l[6].parse::<u32>().unwrap() & 1 == 1, clamped, "{at}: flags");
        assert_eq!(l[7].parse::<i64>().unwrap(), v["team"].as_i64().unwrap_or(-1), "{at}: team");
        assert_eq!(l[8], v["source"].as_str().unwrap(), "{at}: source");
        assert_eq!(l[9], v["label"].as_str().unwrap(), "{at}: label");
        let pixels = v["stats"]["pixels"].as_u64().unwrap_or(0);
        assert_eq!(l[11].parse::<u64>().unwrap(), pixels, "{at}: ROI pixels");
        if pixels > 0 {
            assert!(same_number(&l[12], &v["stats"]["green_fraction"]), "{at}: green fraction {} vs {}", l[12], v["stats"]);
        }
        rejected += (l[2] == "reject") as usize;
    }
    rejected
}

#[test]
fn a_c_program_verifies_files_and_its_own_frames_as_the_cli_does() {
    let dir = tempdir();
    let exe = build_c_program(dir.path(), "tests/c/verify.c", "verify");
    let boxes = boxes(dir.path());
    let cfg = engine_config(dir.path());
    let vtest = media("vtest.avi");

    let cli_out = dir.path().join("cli.jsonl");
    let o = fovea(&["verify", vtest.to_str().unwrap(), "--boxes", boxes.to_str().unwrap(), "-o", cli_out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cli: Vec<Value> = std::fs::read_to_string(&cli_out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();

    // A file and a boxes file.
    let c_out = dir.path().join("c_file.tsv");
    let o = Command::new(&exe).arg("file").arg(&cfg).arg(&vtest).arg(&boxes).arg(&c_out).current_dir(root()).output().unwrap();
    assert!(o.status.success(), "verify file failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let rejected = assert_same(&c_lines(&c_out), &cli, "fovea_engine_verify_file");
    let frames = cli.iter().map(|v| v["frame"].as_u64().unwrap()).collect::<std::collections::BTreeSet<_>>().len();
    assert!(rejected >= 2 * frames, "the planted grass and scoreboard boxes are rejected: {rejected} in {frames} frames");

    // The caller's frames (decoded by the ffmpeg CLI) with their boxes.
    let txt = dir.path().join("boxes.txt");
    let mut t = String::new();
    for (f, v) in cli.iter().map(|v| (v["frame"].as_u64().unwrap(), v)) {
        let b: Vec<f64> = (0..4).map(|k| v["bbox"][k].as_f64().unwrap()).collect();
        t += &format!("{f} {} {} {} {} {} {} -1\n", b[0], b[1], b[2], b[3], v["score"], v["class_id"]);
    }
    std::fs::write(&txt, t).unwrap();
    let c_out = dir.path().join("c_stream.tsv");
    let o = Command::new(&exe)
        .arg("stream")
        .arg(&cfg)
        .arg(&vtest)
        .arg(&txt)
        .args([W.to_string(), H.to_string(), FRAMES.to_string()])
        .arg(&c_out)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "verify stream failed:\n{}", String::from_utf8_lossy(&o.stderr));
    assert_same(&c_lines(&c_out), &cli, "fovea_stream_send_frame_with_boxes");
}

/// `fovea detect --config FILE` and the C ABI's file call on one configuration (rules on the
/// detections, tracking, the model's thresholds) give the same boxes, tracks and verdicts.
#[test]
fn one_configuration_drives_the_cli_and_the_library_alike() {
    let dir = tempdir();
    let cfg = dir.path().join("rules.toml");
    let model = root().join("engines/nanodet-g-416.toml");
    std::fs::write(&cfg, format!("model = \"{}\"\nthreads = 2\n[rules]\n", model.display())).unwrap();
    let clip = data("market_street_10s.mp4");
    let out = dir.path().join("cli.jsonl");
    let o =
        fovea(&["detect", clip.to_str().unwrap(), "--config", cfg.to_str().unwrap(), "--duration", "3", "-q", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cli: Vec<Value> = std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();

    let engine = fovea::engine::Engine::new(&fovea::engine::EngineConfig::load(&cfg).unwrap()).unwrap();
    let mut lib = Vec::new();
    let s = fovea::video::Sampling { duration: Some(3.0), ..Default::default() };
    engine
        .process_file(&clip, s, &mut |r| {
            lib.push(r.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!(lib.len(), cli.len());
    let mut checked = 0;
    for (r, v) in lib.iter().zip(&cli) {
        let dets = v["detections"].as_array().unwrap();
        assert_eq!(r.detections.len(), dets.len(), "frame {}", r.index);
        assert_eq!(r.checks.len(), r.detections.len(), "frame {}: every detection has a verdict", r.index);
        for (k, d) in dets.iter().enumerate() {
            assert_eq!(d["bbox"][0].as_f64().unwrap() as f32, r.detections[k].bbox[0]);
            assert_eq!(d["track_id"].as_u64(), r.track_ids[k]);
            assert_eq!(d["verdict"].as_str().unwrap(), r.checks[k].verdict.as_str(), "frame {} box {k}", r.index);
            assert_eq!(d["rule"].as_str(), r.checks[k].rule.as_deref());
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} detections compared");
    let report = engine.last_report().unwrap();
    assert!(report["seconds"]["rules"].as_f64().unwrap() > 0.0, "{report}");

    // Verifying those boxes gives the same report shape, with the boxes' verdicts counted and no
    // detector.
    let mut kept = 0;
    let verified = engine
        .verify_file(&clip, &out, &mut |r, _| {
            kept += r.checks.iter().filter(|c| c.verdict.as_str() == "keep").count() as u64;
            Ok(())
        })
        .unwrap();
    let again = engine.last_report().unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().filter(|k| *k != "chain").cloned().collect::<Vec<_>>();
    assert_eq!(keys(&again), keys(&report), "one report shape");
    let boxes = &again["boxes"];
    assert_eq!(boxes["boxes"].as_u64(), Some(checked as u64), "{again}");
    assert_eq!(boxes["kept"].as_u64(), Some(kept), "{again}");
    assert_eq!(boxes["frames"].as_u64(), Some(cli.iter().filter(|v| !v["detections"].as_array().unwrap().is_empty()).count() as u64));
    assert!(again["model"].is_null() && again["detections"].as_u64() == Some(checked as u64), "{again}");
    assert_eq!(verified.boxes.map(|b| b.kept), Some(kept));
    assert!(report["boxes"].is_null() && report["model"] == "nanodet-g-416", "{report}");
}

/// One road: `fovea detect`'s flags become the engine configuration that says the same, and
/// the flags that do not contradict a configuration apply over it (they were ignored before).
#[test]
fn flags_are_an_engine_configuration() {
    let dir = tempdir();
    let model = root().join("engines/nanodet-g-416.toml");
    let clip = data("market_street_10s.mp4");
    let run = |extra: &[&str], name: &str| {
        let out = dir.path().join(name);
        let mut args = vec!["detect", clip.to_str().unwrap(), "--duration", "2", "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = fovea(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (std::fs::read_to_string(&out).unwrap(), stderr(&o))
    };
    let (flags, err) = run(&["--model", model.to_str().unwrap(), "--threads", "1", "--interval", "1", "--score", "0.4"], "flags.jsonl");
    assert!(err.contains("given with --model") && err.contains("1 workers x 1 threads"), "{err}");
    let full = dir.path().join("full.toml");
    std::fs::write(&full, format!("model = \"{}\"\nthreads = 1\ninterval = 1\nscore = 0.4\n", model.display())).unwrap();
    let (file, err) = run(&["--config", full.to_str().unwrap()], "config.jsonl");
    assert!(err.contains("given in the engine configuration") && err.contains("full.toml"), "{err}");
    assert_eq!(file, flags, "the flags and the configuration that says the same");
    let part = dir.path().join("part.toml");
    std::fs::write(&part, format!("model = \"{}\"\nscore = 0.4\n", model.display())).unwrap();
    let (over, err) = run(&["--config", part.to_str().unwrap(), "--threads", "1", "--interval", "1"], "over.jsonl");
    assert!(err.contains("1 workers x 1 threads"), "{err}");
    assert_eq!(over, flags, "--threads and --interval over a configuration");
    assert!(flags.lines().any(|l| l.contains("\"predicted\":true")), "interval 1 predicts every other frame");
    // A policy without its classifier was ignored; now it is refused by name.
    let o = fovea(&["detect", clip.to_str().unwrap(), "--policy", "classify/scorevision.toml", "-o", "/dev/null"]);
    assert!(!o.status.success() && stderr(&o).contains("--policy") && stderr(&o).contains("--classifier"), "{}", stderr(&o));
}

/// The new result fields (rules, verdicts, statistics, the classifier's probabilities as owned
/// strings and arrays) and verify mode through the C ABI under valgrind: no invalid access, no
/// leak.
#[test]
fn verify_mode_through_the_c_abi_is_clean_under_valgrind() {
    let dir = tempdir();
    let exe = build_c_program(dir.path(), "tests/c/verify.c", "verify");
    let cfg = dir.path().join("leak.toml");
    // The COCO model: class 0 is a person, which the validator's policy sends to the classifier
    // (verify mode runs no detector, so the model is only loaded).
    let model = root().join("engines/nanodet-g-416.toml");
    let enc = root().join("tests/data/tiny_clip.toml");
    std::fs::write(
        &cfg,
        format!(
            "model = \"{}\"\nthreads = 1\n[tracking]\nenabled = false\n[rules]\n[classifier]\nkind = \"zeroshot\"\nencoder = \"{}\"\n",
            model.display(),
            enc.display()
        ),
    )
    .unwrap();
    let txt = dir.path().join("boxes.txt");
    // People-sized boxes, a grass box, one outside the frame and a NaN one, on frames 0 and 2.
    let mut t = String::new();
    for f in [0, 2] {
        t += &format!("{f} 300 180 340 280 0.9 0 1\n{f} 50 300 110 420 0.5 0 2\n{f} 800 100 900 200 0.5 0 3\n{f} nan 1 2 3 0.5 0 4\n");
    }
    std::fs::write(&txt, t).unwrap();
    let out = dir.path().join("out.tsv");
    let o = Command::new("valgrind")
        .args(["--leak-check=full", "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--error-exitcode=99"])
        .arg(format!("--suppressions={}", root().join("tests/valgrind.supp").display()))
        .arg(&exe)
        .arg("stream")
        .arg(&cfg)
        .arg(media("vtest.avi"))
        .arg(&txt)
        .args([W.to_string(), H.to_string(), "3".to_string()])
        .arg(&out)
        .current_dir(root())
        .output()
        .expect("valgrind runs (apt install valgrind; make setup does)");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("ERROR SUMMARY: 0 errors"), "{err}");
    let lines = c_lines(&out);
    assert_eq!(lines.len(), 8, "{lines:?}");
    assert!(lines.iter().any(|l| l[3] == "outside_frame") && lines.iter().any(|l| l[3] == "non_finite_box"), "{lines:?}");
    assert!(lines.iter().any(|l| l[13] != "0"), "the classifier's probabilities came through: {lines:?}");
}

/// Hostile boxes on a stream in verify mode: ids that do not match the boxes and more boxes than
/// the limit are clear errors; NaN and inverted boxes are `invalid` with the reason, never fatal.
#[test]
fn hostile_boxes_on_a_stream_are_clear_errors_or_invalid() {
    use fovea::engine::{Engine, EngineConfig, FrameIn, PixelFormat, Received, Stream};
    use fovea::results::{Detection, Verdict};
    let model = root().join("engines/nanodet-g-416.toml");
    let cfg = EngineConfig::parse(&format!("model = \"{}\"\n[tracking]\nenabled = false\n[rules]\n", model.display()), &root()).unwrap();
    let mut s = Stream::new(Engine::new(&cfg).unwrap(), 25.0).unwrap();
    let (w, h) = (320u32, 240u32);
    let px = vec![90u8; (w * h * 3) as usize];
    let frame = FrameIn { data: &px, width: w, height: h, stride: w as usize * 3, format: PixelFormat::Rgb24, pts: 0.0 };
    let b = |bbox: [f32; 4]| Detection::new(bbox, 0.5, 0);
    let e = s.send_frame_with_boxes(&frame, &[b([100.0, 160.0, 120.0, 210.0])], &[]).unwrap_err();
    assert!(e.to_string().contains("0 ids for 1 boxes"), "{e}");
    let many = vec![b([100.0, 160.0, 120.0, 210.0]); 10_001];
    let e = s.send_frame_with_boxes(&frame, &many, &vec![None; many.len()]).unwrap_err();
    assert!(e.to_string().contains("10001 boxes in one frame, at most 10000"), "{e}");
    let boxes = [
        b([f32::NAN, 1.0, 20.0, 40.0]),
        b([30.0, 40.0, 10.0, 5.0]),
        b([100.0, 160.0, 120.0, 210.0]),
        Detection { class_id: 999, ..b([100.0, 160.0, 120.0, 210.0]) },
    ];
    s.send_frame_with_boxes(&frame, &boxes, &[Some(7), None, Some(9), None]).unwrap();
    let Received::Frame(r) = s.receive() else { panic!("a result") };
    let rules: Vec<(Verdict, Option<&str>)> = r.checks.iter().map(|c| (c.verdict, c.rule.as_deref())).collect();
    assert_eq!(rules[0], (Verdict::Invalid, Some("non_finite_box")));
    assert_eq!(rules[1], (Verdict::Invalid, Some("empty_box")));
    assert_eq!(rules[2].0, Verdict::Keep, "{rules:?}");
    assert_eq!(rules[3], (Verdict::Invalid, Some("unknown_class")));
    assert_eq!(r.track_ids, vec![Some(7), None, Some(9), None], "the caller's ids are the identities without tracking");
}
