//! Parallel inference workers and the OpenVINO runtime, on the real model and real media:
//! N workers give one worker's results (boxes and track ids, in order); OpenVINO's fp32 outputs
//! equal ONNX Runtime's; every shipped manifest/runtime finds the person and the ball in
//! messi5.jpg; a missing OpenVINO library is a clear error naming the setup step.

use crate::common;

use common::*;
use fovea::infer::manifest::{Manifest, RuntimeKind};
use fovea::infer::{Detector, DetectorOptions};
use fovea::pipeline::{self, FrameResult, Stages};
use fovea::video::Sampling;

fn load(manifest: &str, threads: usize, workers: usize, runtime: Option<RuntimeKind>) -> Detector {
    let m = Manifest::load(&root().join(manifest)).unwrap();
    Detector::load(&m, &DetectorOptions { threads, workers, runtime, batch: 1, ..DetectorOptions::default() }).unwrap()
}

/// The first 8 seconds of `clip` detected and tracked (80 frames of vtest.avi, 240 of the
/// market clip: every frame of both took 43 s of `make test` for three worker counts).
fn tracked(det: &mut Detector, clip: &std::path::Path) -> Vec<FrameResult> {
    let params = det.default_params();
    run_collect(clip, det, &params, Sampling { duration: Some(8.0), ..Sampling::default() }, Stages::tracked()).0
}

fn assert_same(a: &[FrameResult], b: &[FrameResult], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: frame counts");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.index, x.pts), (y.index, y.pts), "{what}: frame order");
        assert_eq!(x.detections, y.detections, "{what}: detections of frame {}", x.index);
        assert_eq!(x.track_ids, y.track_ids, "{what}: track ids of frame {}", x.index);
    }
}

#[test]
fn n_workers_give_one_workers_results_in_order() {
    let clips = [data("market_street_10s.mp4"), media("vtest.avi")];
    for clip in &clips {
        let one = tracked(&mut load("engines/nanodet-g-416-int8.toml", 1, 1, None), clip);
        assert!(one.iter().map(|f| f.detections.len()).sum::<usize>() > 100, "{}: the clip has people", clip.display());
        assert!(one.iter().any(|f| f.track_ids.iter().any(Option::is_some)), "tracks were made");
        for workers in [2, 3] {
            let mut det = load("engines/nanodet-g-416-int8.toml", workers, workers, None);
            assert_eq!((det.workers(), det.threads(), det.batch()), (workers, 1, workers));
            let many = tracked(&mut det, clip);
            assert_same(&one, &many, &format!("{} with {workers} workers", clip.display()));
        }
    }
}

#[test]
fn automatic_workers_share_the_threads_out() {
    let det = load("engines/nanodet-g-416-int8.toml", 2, 0, None);
    assert_eq!((det.workers(), det.threads()), (2, 1), "2 threads: two workers of one thread");
    let det = load("engines/nanodet-g-416-int8.toml", 1, 0, None);
    assert_eq!((det.workers(), det.threads()), (1, 1));
    assert_eq!(fovea::infer::workers::plan(16, 0), (4, 4), "one worker per thread up to 4");
    assert_eq!(fovea::infer::workers::plan(3, 2), (2, 1));
    let m = Manifest::load(&root().join("engines/nanodet-g-416.toml")).unwrap();
    let e = Detector::load(&m, &DetectorOptions { workers: 65, ..DetectorOptions::default() }).unwrap_err().to_string();
    assert!(e.contains("--workers") && e.contains("65"), "{e}");
}

/// The frames of a clip, each filled into slot 0 of both detectors, raw outputs compared.
#[test]
fn openvino_fp32_outputs_equal_onnx_runtime_within_1e_3() {
    let mut ort = load("engines/nanodet-g-416.toml", 1, 1, None);
    let mut ov = load("engines/nanodet-g-416.toml", 1, 1, Some(RuntimeKind::OpenVino));
    assert_eq!((ort.runtime(), ov.runtime()), (RuntimeKind::OnnxRuntime, RuntimeKind::OpenVino));
    assert!(ov.provider().contains("OpenVINO") && ov.provider().contains("f32"), "{}", ov.provider());
    let order = ort.manifest().input.channels;
    let frames =
        pipeline::decode_frames(&media("market_street_1906.mp4"), Sampling { stride: 40, ..Sampling::default() }, order, 8).unwrap();
    assert_eq!(frames.len(), 8);
    let mut worst = 0.0f32;
    for f in &frames {
        ort.fill(0, &f.data, f.width, f.height, f.width as usize * 3).unwrap();
        ov.fill(0, &f.data, f.width, f.height, f.width as usize * 3).unwrap();
        let (a, b) = (ort.raw_outputs().unwrap(), ov.raw_outputs().unwrap());
        assert_eq!(a.len(), 6);
        for ((na, sa, va), (nb, sb, vb)) in a.iter().zip(&b) {
            assert_eq!((na, sa), (nb, sb));
            let d = va.iter().zip(vb).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            worst = worst.max(d);
            assert!(d <= 1e-3, "frame {} output {na}: max difference {d}", f.index);
        }
    }
    assert!(worst > 0.0, "two runtimes, not one run twice");
}

#[test]
fn every_manifest_and_runtime_finds_the_person_and_the_ball_in_messi5() {
    let combos: [(&str, Option<RuntimeKind>); 5] = [
        ("engines/nanodet-g-416.toml", None),
        ("engines/nanodet-g-416-int8.toml", None),
        ("engines/nanodet-g-416.toml", Some(RuntimeKind::OpenVino)),
        ("engines/nanodet-g-416-ov-bf16.toml", None),
        ("engines/nanodet-g-416-ov-int8.toml", None),
    ];
    for (manifest, runtime) in combos {
        let mut det = load(manifest, 2, 0, runtime);
        let params = det.default_params();
        let r = run_collect(&media("messi5.jpg"), &mut det, &params, Sampling::default(), Stages::default()).0;
        let labels = &det.manifest().labels;
        let names: Vec<&str> = r[0].detections.iter().map(|d| labels[d.class_id as usize].as_str()).collect();
        for want in ["person", "sports_ball"] {
            assert!(names.contains(&want), "{manifest} on {:?}: no {want} in messi5.jpg (found {names:?})", det.runtime());
        }
    }
}

#[test]
fn a_model_for_another_runtime_is_refused_by_name() {
    let m = Manifest::load(&root().join("engines/nanodet-g-416-int8.toml")).unwrap();
    let opts = DetectorOptions { runtime: Some(RuntimeKind::OpenVino), ..DetectorOptions::default() };
    let e = Detector::load(&m, &opts).unwrap_err().to_string();
    assert!(e.contains("--runtime") && e.contains("made for onnxruntime") && e.contains("nanodet-g-416-ov-int8.toml"), "{e}");
    let m = Manifest::load(&root().join("engines/nanodet-g-416-ov-int8.toml")).unwrap();
    let opts = DetectorOptions { runtime: Some(RuntimeKind::OnnxRuntime), ..DetectorOptions::default() };
    let e = Detector::load(&m, &opts).unwrap_err().to_string();
    assert!(e.contains("made for openvino"), "{e}");
}

#[test]
fn a_missing_openvino_library_is_a_clear_error_naming_the_setup_step() {
    let o = fovea_env(
        &["detect", "../shared/media/messi5.jpg", "--runtime", "openvino", "-o", "/dev/null"],
        &[("FOVEA_OPENVINO_LIB", "/nonexistent/libopenvino_c.so.2641")],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("OpenVINO runtime not available") && e.contains("/nonexistent/libopenvino_c.so.2641"), "{e}");
    assert!(e.contains("make setup") && e.contains("FOVEA_OPENVINO_LIB"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    // A runtime name fovea does not know.
    let o = fovea(&["detect", "../shared/media/messi5.jpg", "--runtime", "tvm", "-o", "/dev/null"]);
    assert!(!o.status.success() && stderr(&o).contains("expected onnxruntime or openvino, got 'tvm'"), "{}", stderr(&o));
}

/// The engine configuration every face reads (C, Python, Go, the CLI's --config) chooses the
/// runtime and the workers; without a model, `runtime` picks that runtime's default model.
#[test]
fn an_engine_configuration_chooses_the_runtime_and_the_workers() {
    use fovea::engine::{Engine, EngineConfig};
    let fp32 = root().join("engines/nanodet-g-416.toml");
    let cfg = EngineConfig::parse(&format!("model = \"{}\"\nruntime = \"openvino\"\nworkers = 2\nthreads = 2\n", fp32.display()), &root())
        .unwrap();
    let e = Engine::new(&cfg).unwrap();
    assert!(e.provider().starts_with("OpenVINO 2026.4.1 CPU plugin (f32"), "{}", e.provider());
    let cfg = EngineConfig::parse("runtime = \"onnxruntime\"\n", &root()).unwrap();
    let (model, why) = cfg.model_choice().unwrap();
    assert!(
        model.ends_with("engines/nanodet-g-416.toml") && why.contains("ONNX Runtime"),
        "ONNX Runtime's default is fp32: {}",
        model.display()
    );
    assert_eq!(Engine::new(&cfg).unwrap().provider(), "CPUExecutionProvider");
    let e = EngineConfig::parse("runtime = \"tvm\"\n", &root()).unwrap_err().to_string();
    assert!(e.contains("expected onnxruntime or openvino, got 'tvm'"), "{e}");
    let cfg = EngineConfig::parse(&format!("model = \"{}\"\nworkers = 99\n", fp32.display()), &root()).unwrap();
    let e = Engine::new(&cfg).unwrap_err().to_string();
    assert!(e.contains("--workers") && e.contains("99"), "{e}");
}
