//! The `fovea` command line, end to end: outputs, the summary, and one clear error line (and a
//! non-zero exit, never a panic) for each kind of bad input.

use crate::common;

use common::*;

/// The single error line of a failed run: exit code 1, no panic, the message contains `want`.
fn fails_with(o: &std::process::Output, want: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr:\n{err}");
    assert!(!err.contains("panicked"), "no panic:\n{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("fovea: error:")).collect();
    assert_eq!(lines.len(), 1, "exactly one error line:\n{err}");
    assert!(lines[0].contains(want), "error line {:?} should contain {want:?}", lines[0]);
    lines[0].to_string()
}

fn read_jsonl(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

#[test]
fn detect_writes_jsonl_and_a_summary() {
    let dir = tempdir();
    let out = dir.path().join("r.jsonl");
    let o = fovea(&["detect", "tests/data/market_street_10s.mp4", "-o", out.to_str().unwrap(), "--stride", "10"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The default model and runtime, chosen by measurement (issue 20), and the summary says which.
    let ran = if fovea::infer::defaults::cpu_has_vnni() { "OpenVINO 2026.4.1 CPU plugin" } else { "CPUExecutionProvider" };
    for want in ["decoded, 31 processed", ran, "default: ", "nanodet-g-416", "ms/frame", "decode", "inference", "FPS end to end", "person"]
    {
        assert!(err.contains(want), "summary lacks {want:?}:\n{err}");
    }
    // Stride 10 is decoded sparsely (issue 33): fewer than the clip's 302 frames out of the decoder.
    let decoded: u64 = err.split(" decoded, 31 processed").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!((31..302).contains(&decoded), "{decoded} frames decoded");
    let lines = read_jsonl(&out);
    assert_eq!(lines.len(), 31);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"], (i * 10) as u64);
        assert!(l["pts"].as_f64().unwrap() >= 0.0);
        for d in l["detections"].as_array().unwrap() {
            assert_eq!(d["bbox"].as_array().unwrap().len(), 4);
            assert!(d["score"].as_f64().unwrap() >= 0.35);
            assert!(d["label"].is_string() && d["class_id"].is_u64());
            assert!(d["track_id"].is_null() || d["track_id"].is_u64());
            assert_eq!(d["source"], "detector");
        }
    }
    let tracked = lines.iter().flat_map(|l| l["detections"].as_array().unwrap().clone()).filter(|d| d["track_id"].is_u64()).count();
    assert!(tracked > 30, "tracking is on by default: {tracked} detections with a track id");
    assert!(err.contains("ByteTrack per class"), "{err}");
    assert!(lines.iter().filter(|l| l["detections"].as_array().unwrap().iter().any(|d| d["label"] == "person")).count() >= 25);
}

#[test]
fn detect_to_stdout_with_class_filter() {
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--classes", "person,sports_ball", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let labels: Vec<&str> = v["detections"].as_array().unwrap().iter().map(|d| d["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"person") && labels.contains(&"sports_ball"), "{labels:?}");
    assert!(labels.iter().all(|l| *l == "person" || *l == "sports_ball"));
}

#[test]
fn scorevision_format_maps_person_and_ball() {
    let dir = tempdir();
    let out = dir.path().join("sv.json");
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--format", "scorevision", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let objs = v["frames"]["0"]["objects"].as_array().unwrap();
    let classes: Vec<u64> = objs.iter().map(|o| o["class_id"].as_u64().unwrap()).collect();
    assert!(classes.contains(&2) && classes.contains(&0), "player and football: {classes:?}");
    assert!(objs.iter().all(|o| o["bbox"].as_array().unwrap().iter().all(|x| x.is_i64())));
    assert_eq!(v["frames"]["0"]["keypoints"], serde_json::json!([]));
}

#[test]
fn missing_file() {
    let o = fovea(&["detect", "/no/such/video.mp4", "-o", "/dev/null"]);
    fails_with(&o, "/no/such/video.mp4: no such file");
}

#[test]
fn not_a_video() {
    let dir = tempdir();
    let p = dir.path().join("random.bin");
    let mut x = 12345u32;
    std::fs::write(
        &p,
        (0..50000)
            .map(|_| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                (x >> 24) as u8
            })
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let o = fovea(&["detect", p.to_str().unwrap(), "-o", "/dev/null"]);
    fails_with(&o, "not a video or image FFmpeg can read");
}

#[test]
fn undecodable_stream() {
    let dir = tempdir();
    let p = dir.path().join("unknown.avi");
    let mut b = std::fs::read(media("vtest.avi")).unwrap();
    for i in 0..65536 {
        if &b[i..i + 4] == b"div3" {
            b[i..i + 4].copy_from_slice(b"QQ99");
        }
    }
    std::fs::write(&p, b).unwrap();
    let o = fovea(&["detect", p.to_str().unwrap(), "-o", "/dev/null"]);
    fails_with(&o, "cannot decode video stream #0 (unknown codec, FourCC 'QQ99')");
}

#[test]
fn truncated_file_keeps_frames_before_the_damage() {
    let dir = tempdir();
    let p = dir.path().join("half.avi");
    truncate_copy(&media("vtest.avi"), &p, 4_000_000);
    let out = dir.path().join("r.jsonl");
    let o = fovea(&["detect", p.to_str().unwrap(), "-o", out.to_str().unwrap(), "--stride", "10"]);
    fails_with(&o, "corrupt or truncated after frame");
    let lines = read_jsonl(&out);
    assert!(lines.len() >= 30, "frames before the damage are written: {}", lines.len());
    assert!(stderr(&o).contains("processed"), "the summary is still printed");
}

#[test]
fn missing_onnx_runtime() {
    // A model for ONNX Runtime (the default may run on OpenVINO, which needs no ONNX Runtime).
    let args = ["detect", "../shared/media/messi5.jpg", "--runtime", "onnxruntime", "-o", "/dev/null"];
    let o = fovea_env(&args, &[("FOVEA_ORT_LIB", "/nonexistent/libonnxruntime.so")]);
    let line = fails_with(&o, "ONNX Runtime library not available");
    assert!(line.contains("/nonexistent/libonnxruntime.so") && line.contains("make setup"), "{line}");

    // A file that exists but is not the library is an error too, not a reason to look elsewhere.
    let o = fovea_env(&args, &[("FOVEA_ORT_LIB", "Cargo.toml")]);
    fails_with(&o, "Cargo.toml does not load");
}

fn manifest_variant(dir: &std::path::Path, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(model()).unwrap();
    let onnx = root().join("engines/nanodet-g-416.onnx");
    let text = text.replace("file = \"nanodet-g-416.onnx\"", &format!("file = \"{}\"", onnx.display()));
    let trt = root().join("engines/trt");
    let text = text.replace("\"trt/", &format!("\"{}/", trt.display()));
    let p = dir.join("variant.toml");
    std::fs::write(&p, edit(text)).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn model_that_does_not_match_its_manifest() {
    let dir = tempdir();
    let m = manifest_variant(dir.path(), |t| t.replace("\"toothbrush\",", "\"toothbrush\", \"extra\","));
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--model", &m, "-o", "/dev/null"]);
    fails_with(&o, "output tensor 'Identity:0' has shape [1,2704,80], the manifest's nanodet decoder with 81 labels expects [*,2704,81]");
}

#[test]
fn malformed_manifest_names_the_field() {
    let dir = tempdir();
    let m = manifest_variant(dir.path(), |t| t.replace("reg_max = 10", "reg_max = \"ten\""));
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--model", &m, "-o", "/dev/null"]);
    let line = fails_with(&o, "variant.toml: line 19 `reg_max = \"ten\"`");
    assert!(line.contains("invalid type"), "{line}");

    let m = manifest_variant(dir.path(), |t| t.replace("nms_iou = 0.6\n", ""));
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--model", &m, "-o", "/dev/null"]);
    fails_with(&o, "missing field `nms_iou`");

    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--model", "/no/such.toml", "-o", "/dev/null"]);
    fails_with(&o, "manifest /no/such.toml: no such file");
}

#[test]
fn bad_option_values() {
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--stride", "0", "-o", "/dev/null"]);
    fails_with(&o, "invalid option --stride: must be >= 1");
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--score", "1.5", "-o", "/dev/null"]);
    fails_with(&o, "invalid option --score");
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--classes", "unicorn", "-o", "/dev/null"]);
    fails_with(&o, "no class 'unicorn'");
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "-o", "/no/such/dir/out.jsonl"]);
    fails_with(&o, "/no/such/dir/out.jsonl: cannot write output");
}

/// Regression: counts taken on trust allocated without bound (or spawned 1000 threads).
#[test]
fn counts_past_their_limits_are_refused_with_the_limit() {
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--batch", "10000000", "-o", "/dev/null"]);
    fails_with(&o, "invalid option --batch: must be within 1..=256 frames, got 10000000");
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--threads", "1000", "-o", "/dev/null"]);
    fails_with(&o, "invalid option --threads: must be within 0..=256");
    let dir = tempdir();
    let boxes = dir.path().join("b.json");
    std::fs::write(&boxes, r#"{"frames": {"0": {"objects": [{"id": 1, "bbox": [10, 10, 60, 120], "class_id": 2}]}}}"#).unwrap();
    let o =
        fovea(&["verify", "../shared/media/messi5.jpg", "--boxes", boxes.to_str().unwrap(), "--batch-rois", "100000", "-o", "/dev/null"]);
    fails_with(&o, "invalid option --batch-rois: 100000 ROIs of 224x224");
    let rules = dir.path().join("r.toml");
    std::fs::write(&rules, "[roi]\nsize = 4096\n").unwrap();
    let o = fovea(&["verify", "../shared/media/messi5.jpg", "--boxes", boxes.to_str().unwrap(), "--rules", rules.to_str().unwrap()]);
    fails_with(&o, "roi.size must be within 1..=1024, got 4096");
}

/// Per frame: (frame, [(bbox, track id)]).
type FrameIds = (u64, Vec<(Vec<f64>, Option<u64>)>);

fn ids_by_frame(lines: &[serde_json::Value]) -> Vec<FrameIds> {
    lines
        .iter()
        .map(|l| {
            let dets = l["detections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| (d["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect(), d["track_id"].as_u64()))
                .collect();
            (l["frame"].as_u64().unwrap(), dets)
        })
        .collect()
}

/// `fovea track` on detections made without tracking gives the ids `fovea detect` gives with
/// tracking; and tracking the even frames of a stride-1 run gives the ids of a `--stride 2` run
/// (the tracker counts time in decode frames, however the frames arrive).
#[test]
fn track_command_matches_detect_and_stride_is_time() {
    let dir = tempdir();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let clip = "tests/data/market_street_10s.mp4";
    let o = fovea(&["detect", clip, "--duration", "4", "--no-track", "-o", &p("plain.jsonl"), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read_jsonl(std::path::Path::new(&p("plain.jsonl"))).iter().all(|l| l["detections"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["track_id"].is_null())));
    let o = fovea(&["detect", clip, "--duration", "4", "-o", &p("tracked.jsonl"), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = fovea(&["track", "--boxes", &p("plain.jsonl"), "-o", &p("retracked.jsonl")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("29.97 fps"), "fps from the file's pts: {}", stderr(&o));
    let a = ids_by_frame(&read_jsonl(std::path::Path::new(&p("tracked.jsonl"))));
    let b = ids_by_frame(&read_jsonl(std::path::Path::new(&p("retracked.jsonl"))));
    assert_eq!(a, b);
    assert!(a.iter().flat_map(|f| f.1.iter()).filter(|d| d.1.is_some()).count() > 100);

    // Stride 2 in the pipeline vs the even frames of the stride-1 detections.
    let even: String = std::fs::read_to_string(p("plain.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["frame"].as_u64().unwrap() % 2 == 0)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(p("even.jsonl"), even).unwrap();
    let o = fovea(&["track", "--boxes", &p("even.jsonl"), "-o", &p("even_tracked.jsonl")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = fovea(&["detect", clip, "--duration", "4", "--stride", "2", "-o", &p("stride2.jsonl"), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = ids_by_frame(&read_jsonl(std::path::Path::new(&p("stride2.jsonl"))));
    let b = ids_by_frame(&read_jsonl(std::path::Path::new(&p("even_tracked.jsonl"))));
    assert_eq!(a.len(), 60);
    assert_eq!(a, b);
}

/// `fovea track --interval 1` on a clip's detections of every frame gives what
/// `fovea detect --interval 1` gives on the clip: the same boxes, ids and predicted frames (the
/// boxes source applies the chain's interval as the file source does).
#[test]
fn track_interval_equals_detect_interval() {
    let dir = tempdir();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let clip = "tests/data/market_street_10s.mp4";
    let o = fovea(&["detect", clip, "--duration", "3", "--no-track", "-o", &p("plain.jsonl"), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = fovea(&["detect", clip, "--duration", "3", "--interval", "1", "-o", &p("detect_i1.jsonl")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let detect_summary = stderr(&o);
    let o = fovea(&["track", "--boxes", &p("plain.jsonl"), "--interval", "1", "-o", &p("track_i1.jsonl")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("the boxes of one frame in 2 tracked"), "{}", stderr(&o));
    let a = read_jsonl(std::path::Path::new(&p("detect_i1.jsonl")));
    let b = read_jsonl(std::path::Path::new(&p("track_i1.jsonl")));
    assert_eq!(ids_by_frame(&a), ids_by_frame(&b));
    let predicted = |l: &[serde_json::Value]| -> Vec<bool> { l.iter().map(|f| f["predicted"].as_bool().unwrap_or(false)).collect() };
    assert_eq!(predicted(&a), predicted(&b));
    assert_eq!(predicted(&b), (0..b.len()).map(|i| i % 2 == 1).collect::<Vec<_>>(), "odd frames predicted");
    let carried = b.iter().filter(|f| f["predicted"] == true).map(|f| f["detections"].as_array().unwrap().len()).sum::<usize>();
    assert!(carried > 50, "{carried} boxes carried on the predicted frames");
    let k = predicted(&a).iter().filter(|p| **p).count();
    let says = format!("{} processed ({} by the detector, {k} predicted by the tracker)", a.len(), a.len() - k);
    assert!(detect_summary.contains(&says), "the summary says what ran: {says}\n{detect_summary}");

    let o = fovea(&["track", "--boxes", &p("plain.jsonl"), "--interval", "100000", "-o", "/dev/null"]);
    fails_with(&o, "invalid option --interval: must be within 0..=");
}

#[test]
fn track_command_reads_scorevision_and_reports_bad_files() {
    let dir = tempdir();
    let sv = dir.path().join("sv.json");
    // Two players walking right, 40 frames.
    let frames: Vec<String> = (0..40)
        .map(|f| {
            let x = 100 + 3 * f;
            format!(r#""{f}": {{"objects": [{{"id": 1, "bbox": [{x}, 100, {}, 200], "class_id": 2}}, {{"id": 2, "bbox": [{}, 300, {}, 400], "class_id": 2}}], "keypoints": []}}"#, x + 40, x + 200, x + 240)
        })
        .collect();
    std::fs::write(&sv, format!("{{\"frames\": {{{}}}}}", frames.join(", "))).unwrap();
    let out = dir.path().join("t.json");
    let o = fovea(&["track", "--boxes", sv.to_str().unwrap(), "--format", "scorevision", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let ids: std::collections::BTreeSet<u64> = (0..40)
        .flat_map(|f| {
            v["frames"][f.to_string()]["objects"].as_array().unwrap().iter().map(|o| o["id"].as_u64().unwrap()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, [1u64, 2].into_iter().collect(), "two identities, first frame confirmed at once");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"frame\": 0, \"detections\": []}\n{\"frame\": 1, \"detections\": [{\"bbox\": [1, 2], \"score\": 0.9, \"class_id\": 0}]}\n",
    )
    .unwrap();
    let o = fovea(&["track", "--boxes", bad.to_str().unwrap(), "-o", "/dev/null"]);
    fails_with(&o, "line 2, detection 0: \"bbox\" has 2 numbers, expected 4");
    let o = fovea(&["track", "--boxes", "/no/boxes.json", "-o", "/dev/null"]);
    fails_with(&o, "/no/boxes.json: no such file");
}

#[test]
fn an_unavailable_device_or_provider_is_an_error_unless_fallback_is_allowed() {
    let img = media("messi5.jpg");
    let img = img.to_str().unwrap();
    let o = fovea(&["detect", img, "--provider", "tensorrt", "-q", "-o", "/dev/null"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--provider tensorrt") && stderr(&o).contains("--allow-fallback"), "{}", stderr(&o));
    let o = fovea(&["detect", img, "--device", "cuda:0", "-q", "-o", "/dev/null"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--device cuda:0"), "{}", stderr(&o));
    let o = fovea(&["detect", img, "--device", "gpu", "-q", "-o", "/dev/null"]);
    assert!(stderr(&o).contains("expected cpu, cuda or cuda:N, got 'gpu'"), "{}", stderr(&o));
    let o = fovea(&["detect", img, "--device", "cpu", "--provider", "tensorrt", "-q", "-o", "/dev/null"]);
    assert!(stderr(&o).contains("runs on a GPU: use --device cuda"), "{}", stderr(&o));
    // Allowed: it runs on the CPU and the summary says so and why.
    let o = fovea(&["detect", img, "--provider", "tensorrt", "--allow-fallback", "-q", "-o", "/dev/null"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("CPU fallback, as allowed: tensorrt on cuda:0") && err.contains("runtime      CPUExecutionProvider"), "{err}");
}

#[test]
fn engines_build_checks_everything_it_can_before_needing_a_gpu() {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("engines");
    let fp32 = models.join("nanodet-g-416.toml");
    let fp32 = fp32.to_str().unwrap();
    // A quantised model is refused: TensorRT builds its own INT8 from the fp32 model.
    let int8 = models.join("nanodet-g-416-int8.toml");
    let o = fovea(&["engines", "build", "--model", int8.to_str().unwrap(), "--int8"]);
    fails_with(&o, "already quantised (int8)");
    // --calib that names nothing usable.
    let o = fovea(&["engines", "build", "--model", fp32, "--int8", "--calib", "/no/table"]);
    fails_with(&o, "/no/table does not exist");
    let empty = tempfile::tempdir().unwrap();
    let o = fovea(&["engines", "build", "--model", fp32, "--int8", "--calib", empty.path().to_str().unwrap()]);
    fails_with(&o, "expected nanodet-g-416.calibration.flatbuffers, .cache or .json");
    let o = fovea(&["engines", "build", "--model", fp32, "--device", "cpu"]);
    fails_with(&o, "runs on a GPU");
    // A good request gets as far as this machine allows, and says what is missing.
    let o = fovea(&["engines", "build", "--model", fp32, "--int8", "--calib", models.join("trt").to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("[1/3] engine cache") && err.contains("nanodet-g-416.int8.b1.ctx.onnx"), "{err}");
    let why = ["built without the `cuda` feature", "TensorrtExecutionProvider is not in the ONNX Runtime", "no CUDA driver"];
    assert!(why.iter().any(|w| err.contains(w)), "{err}");
}

/// Regression: a FIFO as input hung (the CLI opened it once to probe and once to decode), and a
/// path that is not UTF-8 panicked inside a dependency. Both now run like a regular file.
#[test]
fn a_fifo_and_a_non_utf8_path_are_read_like_files() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempdir();
    // An MPEG-TS copy (readable without seeking) of the demo clip's first 2 s.
    let ts = dir.path().join("clip.ts");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i", "tests/data/market_street_10s.mp4", "-t", "2", "-c", "copy", "-f", "mpegts"])
        .arg(&ts)
        .current_dir(root())
        .status()
        .unwrap();
    assert!(ok.success());
    let direct = dir.path().join("direct.jsonl");
    let o = fovea(&["detect", ts.to_str().unwrap(), "-o", direct.to_str().unwrap(), "--no-track"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = read_jsonl(&direct);
    assert!(want.len() >= 40, "{} frames", want.len());
    let fifo = dir.path().join("in.fifo");
    let ok = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(ok.success());
    let (ts2, fifo2) = (ts.clone(), fifo.clone());
    // The writer blocks until fovea opens the FIFO, then streams the file once.
    let writer = std::thread::spawn(move || std::fs::write(&fifo2, std::fs::read(&ts2).unwrap()));
    let out = dir.path().join("fifo.jsonl");
    let o = fovea(&["detect", fifo.to_str().unwrap(), "-o", out.to_str().unwrap(), "--no-track"]);
    assert!(o.status.success(), "{}", stderr(&o));
    writer.join().unwrap().unwrap();
    assert_eq!(read_jsonl(&out), want, "the FIFO gives what the file gives");

    let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"clip-\xff\xfe.jpg"));
    std::fs::copy(media("messi5.jpg"), &odd).unwrap();
    let out = dir.path().join("odd.jsonl");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_fovea"))
        .arg("detect")
        .arg(&odd)
        .args(["-o", out.to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_jsonl(&out).len(), 1);
}

/// `fovea compare` (two models through the chain on the same frames) of a model with itself:
/// every reference box matched, nothing extra, and the restoring threshold is the model's own.
/// `fovea bench`: detector-only (the chain's in-memory source) and end to end on the same frames.
#[test]
fn compare_and_bench_run_the_chain() {
    let dir = tempdir();
    let json = dir.path().join("compare.json");
    let vtest = media("vtest.avi");
    let m = "engines/nanodet-g-416.toml";
    let o =
        fovea(&["compare", vtest.to_str().unwrap(), "--reference", m, "--candidate", m, "--every", "40", "--json", json.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v["frames"].as_u64().unwrap() >= 10, "{v}");
    let strict = v["strict_at_candidate_threshold"].as_object().unwrap();
    assert!(strict.contains_key("person"), "{v}");
    for (class, c) in strict {
        assert_eq!(c["recall"].as_f64(), Some(1.0), "{class}: {c}");
        assert_eq!(c["extra"].as_f64(), Some(0.0), "{class}: {c}");
    }
    let (t, t_ref) = (v["restoring_threshold"].as_f64().unwrap(), v["reference_threshold"].as_f64().unwrap());
    assert!(t <= t_ref + 0.011, "restoring {t} vs the model's own {t_ref}");

    let json = dir.path().join("bench.json");
    let clip = data("market_street_10s.mp4");
    let o = fovea(&["bench", clip.to_str().unwrap(), "--model", m, "--frames", "20", "--rounds", "1", "--json", json.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let row = &v[0];
    assert_eq!(row["frames"].as_u64(), Some(20), "{v}");
    assert!(row["detector_only_fps"].as_f64().unwrap() > 0.0 && row["end_to_end_fps"].as_f64().unwrap() > 0.0, "{v}");
}
