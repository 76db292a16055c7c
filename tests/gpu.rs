//! GPU tests (feature `cuda`). The GPU checks are `#[ignore]`d so that a machine without a GPU
//! reports them as ignored, never as passed; `make test-gpu` runs them (`--include-ignored`) and
//! they fail there without a driver. What runs everywhere: asking for a device without a driver
//! is a clear error, not a panic, and so is asking for TensorRT from a CPU-only ONNX Runtime
//! (or a fallback the detector reports).
//!
//! `make test-gpu` runs them on a GPU machine set up by scripts/setup-gpu.sh (FOVEA_ORT_LIB
//! pointing at onnxruntime-gpu's library). Tolerances: kernels 1e-4 (f32) as against the host
//! harness; the detector's input 1e-5; TensorRT FP16 boxes IoU >= 0.9 and scores within 0.05 of
//! the CPU's, >= 95% of the CPU's confident boxes found.
#![cfg(feature = "cuda")]
mod common;

use common::*;
use fovea::cuda::{driver_present, Device};
use fovea::roi::stats::{accumulate, hsv_tables};
use fovea::roi::{self, crop_of, FrameView, RoiBatch, RoiRef, RoiSpec, StatsAcc, StatsConfig, StatsParams, StatsRoi};
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};

use fovea::detect::{iou, Detection};
use fovea::infer::manifest::{Manifest, Precision};
use fovea::infer::provider::{DeviceSel, ProviderKind, Selection, TrtBuild};
use fovea::infer::{Detector, DetectorOptions};

fn nanodet() -> Manifest {
    Manifest::load(&model()).unwrap()
}

fn gpu_opts(precision: Precision, allow_fallback: bool) -> DetectorOptions {
    DetectorOptions {
        threads: 2,
        workers: 1,
        runtime: None,
        batch: 1,
        selection: Selection::resolve(Some(DeviceSel::Cuda(0)), Some(ProviderKind::TensorRt), allow_fallback).unwrap(),
        trt: TrtBuild { precision, ..TrtBuild::default() },
    }
}

/// BGR frames (NanoDet's order) at source size, decoded from the shared media; or, where
/// `FOVEA_GPU_FRAMES` names a folder (the GPU check bundle, built without FFmpeg:
/// scripts/gpu-check-bundle.sh), read from its raw `<clip>.<W>x<H>.bgr` file, whose frames are
/// consecutive (`stride` is not applied there) and may be fewer than `n`.
fn bgr_frames(clip: &str, n: usize, stride: u32) -> Vec<fovea::video::Frame> {
    let pool = FramePool::new(n + 1);
    if let Some(dir) = std::env::var_os("FOVEA_GPU_FRAMES") {
        return raw_frames(std::path::Path::new(&dir), clip, n, &pool);
    }
    let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Bgr, fit: Fit::Stretch };
    let mut d = Decoder::open(&media(clip), Sampling { stride, ..Sampling::default() }, out).unwrap();
    let mut v = Vec::new();
    while v.len() < n {
        match d.next_frame(&pool).unwrap() {
            Some(f) => v.push(f),
            None => break,
        }
    }
    v
}

fn raw_frames(dir: &std::path::Path, clip: &str, n: usize, pool: &FramePool) -> Vec<fovea::video::Frame> {
    let file = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("FOVEA_GPU_FRAMES {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{clip}.")) && n.ends_with(".bgr")))
        .unwrap_or_else(|| panic!("no {clip}.<W>x<H>.bgr in {}", dir.display()));
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let size = name[clip.len() + 1..name.len() - 4].to_string();
    let (w, h) = size.split_once('x').and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?))).expect("WxH in the name");
    let bytes = std::fs::read(&file).unwrap();
    let len = w as usize * h as usize * 3;
    assert!(
        bytes.len() >= len && bytes.len() % len == 0,
        "{}: {} bytes is not a whole number of {w}x{h} frames",
        file.display(),
        bytes.len()
    );
    bytes
        .chunks_exact(len)
        .take(n)
        .enumerate()
        .map(|(i, px)| {
            let mut data = pool.take(len);
            data.copy_from_slice(px);
            fovea::video::Frame {
                index: i as u64,
                pts: i as f64 / 25.0,
                data,
                width: w,
                height: h,
                order: ChannelOrder::Bgr,
                transform: fovea::video::Transform::identity(w, h),
                picture: None,
            }
        })
        .collect()
}

/// A figure for the GPU check's report (scripts/gpu-check.sh collects these lines).
fn figure(name: &str, value: impl std::fmt::Display) {
    eprintln!("FIGURE {name}: {value}");
}

/// The TensorRT engine files built in the engine cache for `prefix` (`<name>.<precision>.b<batch>`):
/// a TensorRT test must see one, or the CUDA provider may have run everything.
fn engines_built(cache: &std::path::Path, prefix: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(".engine")))
                .collect()
        })
        .unwrap_or_default()
}

fn detect_all(det: &mut Detector, frames: &[fovea::video::Frame]) -> Vec<Vec<Detection>> {
    let params = det.default_params();
    frames
        .iter()
        .map(|f| {
            let tf = det.fill(0, &f.data, f.width, f.height, f.width as usize * 3).unwrap();
            det.run(1, &[tf], &params).unwrap().0.remove(0)
        })
        .collect()
}

/// Greedy matches (same class, IoU >= 0.5, CPU boxes by descending score): (cpu, gpu) pairs and
/// the CPU boxes left unmatched.
fn matches<'a>(cpu: &'a [Detection], gpu: &'a [Detection]) -> (Vec<(&'a Detection, &'a Detection)>, Vec<&'a Detection>) {
    let mut used = vec![false; gpu.len()];
    let mut order: Vec<&Detection> = cpu.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let (mut pairs, mut missed) = (Vec::new(), Vec::new());
    for c in order {
        let best = gpu
            .iter()
            .enumerate()
            .filter(|(i, g)| !used[*i] && g.class_id == c.class_id)
            .map(|(i, g)| (i, iou(&c.bbox, &g.bbox)))
            .filter(|(_, v)| *v >= 0.5)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, _)) => {
                used[i] = true;
                pairs.push((c, &gpu[i]));
            }
            None => missed.push(c),
        }
    }
    (pairs, missed)
}

#[test]
fn matching_pairs_boxes_by_class_and_overlap() {
    let d = |class_id, score, bbox| Detection::new(bbox, score, class_id);
    let cpu = [d(0, 0.9, [0.0, 0.0, 10.0, 10.0]), d(0, 0.8, [50.0, 50.0, 60.0, 60.0]), d(1, 0.7, [0.0, 0.0, 10.0, 10.0])];
    let gpu = [d(0, 0.88, [0.0, 0.0, 10.0, 11.0]), d(1, 0.5, [100.0, 100.0, 110.0, 110.0])];
    let (pairs, missed) = matches(&cpu, &gpu);
    assert_eq!(pairs.len(), 1);
    assert!((iou(&pairs[0].0.bbox, &pairs[0].1.bbox) - 100.0 / 110.0).abs() < 1e-6);
    assert_eq!(missed.len(), 2, "another place and another class are not matches");
}

#[test]
fn without_a_gpu_runtime_tensorrt_is_an_error_or_a_reported_fallback() {
    if driver_present() {
        eprintln!("a CUDA driver is present: the ignored GPU tests are the checks (make test-gpu)");
        return;
    }
    let e = Detector::load(&nanodet(), &gpu_opts(Precision::Fp16, false)).unwrap_err();
    assert!(matches!(e, fovea::Error::Unsupported { .. } | fovea::Error::RuntimeMissing { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("TensorrtExecutionProvider is not in the ONNX Runtime loaded from") || e.contains("no CUDA driver"), "{e}");
    // Allowed: the CPU runs it, and the detector says so and why.
    let mut det = Detector::load(&nanodet(), &gpu_opts(Precision::Fp16, true)).unwrap();
    assert!(det.provider().starts_with("CPUExecutionProvider (CPU fallback, as allowed: tensorrt on cuda:0"), "{}", det.provider());
    assert!(!det.device_preprocessing() && det.device_allocations() == 0);
    let frames = bgr_frames("vtest.avi", 1, 1);
    assert!(!detect_all(&mut det, &frames)[0].is_empty(), "the fallback detector finds the people of vtest.avi");
}

#[test]
fn without_a_driver_the_device_is_a_clear_error() {
    if driver_present() {
        return; // a GPU machine: the ignored tests below are the checks
    }
    let e = Device::new(0).unwrap_err().to_string();
    assert!(e.contains("no CUDA driver") && e.contains("NVIDIA driver"), "{e}");
    assert!(!e.contains("ONNX Runtime"), "a missing driver is not a missing ONNX Runtime: {e}");
}

#[test]
#[ignore = "needs an NVIDIA GPU and driver: make test-gpu"]
fn kernels_on_the_gpu_equal_the_cpu() {
    assert!(driver_present(), "no CUDA driver: these checks need a GPU");
    let dev = Device::new(0).expect("GPU 0");
    figure("device", dev.describe());
    // vtest.avi's first frame in RGB order (the kernels take either order).
    let bgr = bgr_frames("vtest.avi", 1, 1).remove(0);
    let mut f = bgr;
    f.data.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
    let (w, h) = (f.width, f.height);
    let view = FrameView { data: &f.data, width: w, height: h, stride: w as usize * 3 };
    let spec = RoiSpec { size: 224, fit: Fit::Letterbox { pad: 114 }, ..RoiSpec::default() };
    let boxes = [[10.0, 20.0, 60.0, 140.0], [300.5, 200.2, 340.7, 290.9], [700.0, 500.0, 768.0, 576.0], [0.0, 0.0, 768.0, 576.0]];
    let crops: Vec<_> = boxes.iter().map(|b| crop_of(*b, 1.0, w, h).unwrap().0).collect();
    let descs: Vec<_> = crops.iter().map(|c| spec.desc(0, w as usize * 3, *c)).collect();
    let frames = dev.upload(&f.data[..]).unwrap();
    let rois = dev.upload(&descs).unwrap();
    let mut out = dev.zeros::<f32>(descs.len() * spec.roi_len()).unwrap();
    // SAFETY: descriptors from crop_of/desc over this frame; `out` sized for them; 4 ROIs.
    unsafe { dev.roi_batch_f32(&frames, &rois.as_view(), spec.size, spec.norm(), &mut out) }.unwrap();
    let gpu = dev.download(&out).unwrap();
    let mut cpu = RoiBatch::default();
    let refs: Vec<RoiRef> = crops.iter().map(|c| RoiRef { frame: 0, crop: *c }).collect();
    roi::extract(&[view], &refs, &spec, &mut cpu);
    let diff = gpu.iter().zip(&cpu.f32).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff <= 1e-4, "GPU vs CPU ROI batch: {diff}");

    let params = StatsParams::new(&StatsConfig::default(), ChannelOrder::Rgb);
    let tables = hsv_tables();
    let sroi: Vec<StatsRoi> = crops.iter().map(|c| StatsRoi::new(0, w as usize * 3, *c)).collect();
    let (sd, hd) = (dev.upload(&tables.0[..]).unwrap(), dev.upload(&tables.1[..]).unwrap());
    let sr = dev.upload(&sroi).unwrap();
    let mut acc = dev.zeros::<StatsAcc>(sroi.len()).unwrap();
    // SAFETY: ROIs inside the frame, one accumulator each, 256-entry tables.
    unsafe { dev.colour_stats(&frames, &sr.as_view(), params, &sd, &hd, &mut acc.as_view_mut()) }.unwrap();
    let got = dev.download(&acc).unwrap();
    for (i, c) in crops.iter().enumerate() {
        assert_eq!(got[i], accumulate(&view, *c, &params, &tables), "ROI {i}");
    }
    figure(
        "kernels vs CPU",
        format!(
            "equal on {} ROIs of a real frame (f32 max diff {diff:.2e}, statistics exact), kernels from {}",
            crops.len(),
            dev.kernels_from
        ),
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU and driver: make test-gpu, scripts/gpu-check.sh"]
fn the_detectors_device_input_equals_the_cpu_preprocessor() {
    use fovea::cuda::input::DeviceInput;
    use fovea::infer::preprocess::Preprocessor;
    let dev = std::sync::Arc::new(Device::new(0).expect("GPU 0"));
    let input = nanodet().input;
    // 320x180 slots: the clip's 640x360 frame below re-provisions them once (issue 21: with
    // 640x360 slots nothing was re-provisioned and the count below could not hold).
    let slot_bytes = 320 * 180 * 3;
    let mut di = DeviceInput::new(dev, input.roi_spec(), input.image_len(), 2, slot_bytes).unwrap();
    assert!(di.device_preprocessing());
    let frames = bgr_frames("market_street_1906.mp4", 1, 1);
    let f = &frames[0];
    assert!(f.width as usize * f.height as usize * 3 > slot_bytes, "the frame must outgrow the slots: {}x{}", f.width, f.height);
    let before = di.allocations();
    di.stage_frame(0, &f.data, f.width, f.height, f.width as usize * 3).unwrap();
    di.stage_frame(1, &f.data, f.width, f.height, f.width as usize * 3).unwrap();
    assert_eq!(di.allocations(), before + 5, "4 pinned slots and the device frames buffer, once");
    di.upload(2).unwrap();
    let got = di.download_tensor().unwrap();
    let mut cpu = vec![0.0f32; 3 * 416 * 416];
    Preprocessor::new(input).run(&f.data, f.width, f.height, f.width as usize * 3, &mut cpu);
    for slot in 0..2 {
        let g = &got[slot * cpu.len()..(slot + 1) * cpu.len()];
        let diff = cpu.iter().zip(g).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-5, "slot {slot}: device input vs CPU preprocessor differ by {diff}");
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU, driver and onnxruntime-gpu with TensorRT: make test-gpu"]
fn tensorrt_fp16_detections_match_the_cpu() {
    let m = nanodet();
    let mut cpu = Detector::load(&m, &DetectorOptions { threads: 2, batch: 1, ..DetectorOptions::default() }).unwrap();
    let t = std::time::Instant::now();
    let mut gpu = Detector::load(&m, &gpu_opts(Precision::Fp16, false)).expect("TensorRT FP16 on GPU 0");
    eprintln!("TensorRT FP16 session in {:.1} s: {}", t.elapsed().as_secs_f64(), gpu.provider());
    assert!(gpu.provider().starts_with("TensorrtExecutionProvider (fp16, device 0"), "{}", gpu.provider());
    assert!(gpu.device_preprocessing(), "NanoDet's square NCHW input is made on the GPU");
    let built = engines_built(&root().join("engines/trt/cache"), "nanodet-g-416.fp16.b1");
    assert!(!built.is_empty(), "no TensorRT engine in engines/trt/cache: did the CUDA provider run everything?");
    let thr = cpu.default_params().score_threshold + 0.05;
    let (mut pairs_n, mut confident, mut found) = (0usize, 0usize, 0usize);
    for (clip, n, stride) in [("vtest.avi", 40, 5), ("market_street_1906.mp4", 20, 5)] {
        let frames = bgr_frames(clip, n, stride);
        let (c, g) = (detect_all(&mut cpu, &frames), detect_all(&mut gpu, &frames));
        for (i, (c, g)) in c.iter().zip(&g).enumerate() {
            let (pairs, missed) = matches(c, g);
            for (a, b) in &pairs {
                let v = iou(&a.bbox, &b.bbox);
                assert!(v >= 0.9, "{clip} frame {i}: matched boxes IoU {v:.3} < 0.9 ({:?} vs {:?})", a.bbox, b.bbox);
                assert!((a.score - b.score).abs() <= 0.05, "{clip} frame {i}: scores {} vs {}", a.score, b.score);
            }
            pairs_n += pairs.len();
            // Boxes well above the threshold must be found; marginal ones may cross it.
            let sure = c.iter().filter(|d| d.score >= thr).count();
            confident += sure;
            found += sure - missed.iter().filter(|d| d.score >= thr).count();
        }
    }
    assert!(confident > 50, "too few boxes to judge: {confident}");
    assert!(found as f64 >= 0.95 * confident as f64, "TensorRT FP16 found {found} of {confident} confident CPU boxes");
    eprintln!("TensorRT FP16 vs CPU: {pairs_n} matched boxes, {found}/{confident} confident ones found");
}

#[test]
#[ignore = "needs an NVIDIA GPU, driver and onnxruntime-gpu with TensorRT: make test-gpu"]
fn the_pinned_pool_never_allocates_in_steady_state() {
    let mut gpu = Detector::load(&nanodet(), &gpu_opts(Precision::Fp16, false)).expect("TensorRT FP16 on GPU 0");
    let frames = bgr_frames("vtest.avi", 200, 1);
    detect_all(&mut gpu, &frames[..5]);
    let after_start = gpu.device_allocations();
    assert!(after_start > 0);
    detect_all(&mut gpu, &frames[5..]);
    assert_eq!(gpu.device_allocations(), after_start, "195 more frames allocated staging or device buffers");
}

#[test]
#[ignore = "needs an NVIDIA GPU, driver and onnxruntime-gpu with TensorRT: make test-gpu"]
fn an_engine_is_built_once_and_its_ep_context_model_is_loaded_after() {
    // A private copy of the model folder, so the repository's engines/ stays clean.
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("engines");
    for f in ["nanodet-g-416.toml", "nanodet-g-416.onnx"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("trt")).unwrap();
    let table = "trt/nanodet-g-416.calibration.flatbuffers";
    std::fs::copy(src.join(table), dir.path().join(table)).unwrap();
    let m = Manifest::load(&dir.path().join("nanodet-g-416.toml")).unwrap();
    let frames = bgr_frames("vtest.avi", 10, 10);
    for precision in [Precision::Fp16, Precision::Int8] {
        let mut build = gpu_opts(precision, false);
        build.trt.dump_ep_context = true;
        let t = std::time::Instant::now();
        let mut fresh = Detector::load(&m, &build).expect("engine build");
        let built_s = t.elapsed().as_secs_f64();
        let a = detect_all(&mut fresh, &frames);
        let ctx = dir.path().join(format!("nanodet-g-416.{precision}.b1.ctx.onnx"));
        assert!(ctx.is_file(), "no EPContext model at {}", ctx.display());
        let built = engines_built(&dir.path().join("trt/cache"), &format!("nanodet-g-416.{precision}.b1"));
        assert!(!built.is_empty(), "{precision}: no TensorRT engine file was built");
        drop(fresh);
        let t = std::time::Instant::now();
        let mut again = Detector::load(&m, &gpu_opts(precision, false)).expect("prebuilt engine");
        let load_s = t.elapsed().as_secs_f64();
        assert!(again.provider().ends_with("prebuilt engine)"), "{}", again.provider());
        let b = detect_all(&mut again, &frames);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.len(), y.len(), "the prebuilt engine gives the built engine's boxes");
        }
        eprintln!("{precision}: built in {built_s:.1} s, prebuilt engine loaded in {load_s:.1} s");
    }
}

/// The benchmark the README quotes on a GPU: 750 frames of 1080p (bigbuckbunny looped and scaled
/// by the ffmpeg CLI, made once into .deps/bench), decode -> pinned pool -> resize kernel ->
/// TensorRT FP16 -> NMS -> tracking -> results.
#[test]
#[ignore = "needs an NVIDIA GPU, driver and onnxruntime-gpu with TensorRT: make test-gpu"]
fn a_750_frame_1080p_clip_end_to_end_with_stage_timings() {
    let clip = root().join(".deps/bench/gpu_1080p_750.mp4");
    if !clip.exists() {
        std::fs::create_dir_all(clip.parent().unwrap()).unwrap();
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-stream_loop", "6", "-i"])
            .arg(media("bigbuckbunny.mp4"))
            .args(["-frames:v", "750", "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-an"])
            .arg(&clip)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ffmpeg could not make the 1080p clip");
    }
    let mut det = Detector::load(&nanodet(), &gpu_opts(Precision::Fp16, false)).expect("TensorRT FP16 on GPU 0");
    let params = det.default_params();
    let mut n = 0u64;
    let (report, outcome) = fovea::pipeline::run_detect(
        &clip,
        &mut det,
        &params,
        Sampling::default(),
        fovea::pipeline::Stages::tracked(),
        &mut |_| {
            n += 1;
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    outcome.unwrap();
    let provider = &report.detector.as_ref().expect("a detector ran").provider;
    assert!(provider.starts_with("TensorrtExecutionProvider (fp16"), "{provider}");
    assert_eq!((report.frames_processed, n), (750, 750));
    let t = &report.times;
    let ms = |s: f64| 1000.0 * s / 750.0;
    eprintln!(
        "750 x 1080p, {}: {:.1} FPS end to end ({:.2} s); ms/frame: decode {:.2}, preprocess {:.2}, inference {:.2}, postprocess {:.2}, output {:.3}",
        provider,
        report.fps(),
        report.wall_s,
        ms(t.decode_s),
        ms(t.preprocess_s),
        ms(t.inference_s),
        ms(t.postprocess_s),
        ms(t.output_s)
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU and driver: make test-gpu"]
fn device_rois_equal_the_cpu_and_stop_allocating() {
    use fovea::cuda::rois::DeviceRois;
    let dev = std::sync::Arc::new(Device::new(0).expect("GPU 0"));
    let mut g = DeviceRois::new(dev, 4, 640 * 360 * 3).unwrap();
    let frames = bgr_frames("vtest.avi", 40, 3);
    let params = StatsParams::new(&StatsConfig::default(), ChannelOrder::Bgr);
    let spec = RoiSpec { size: 224, fit: Fit::Letterbox { pad: 114 }, ..RoiSpec::default() };
    let boxes = [[10.0, 20.0, 60.0, 140.0], [300.5, 200.2, 340.7, 290.9], [700.0, 500.0, 768.0, 576.0], [0.0, 0.0, 768.0, 576.0]];
    let mut steady = None;
    for (k, chunk) in frames.chunks(4).enumerate() {
        let views: Vec<FrameView> = chunk.iter().map(|f| f.view()).collect();
        let rois: Vec<(usize, roi::Crop)> =
            (0..views.len()).flat_map(|fi| boxes.iter().map(move |b| (fi, crop_of(*b, 1.0, 768, 576).unwrap().0))).collect();
        g.upload_frames(&views).unwrap();
        assert_eq!(g.colour_stats(&rois, &params).unwrap(), roi::colour_stats(&views, &rois, &params), "batch {k}: statistics");
        let refs: Vec<RoiRef> = rois.iter().map(|&(frame, crop)| RoiRef { frame, crop }).collect();
        assert_eq!(g.extract(&refs, &spec).unwrap(), refs.len());
        let (mut gpu, mut cpu) = (RoiBatch::default(), RoiBatch::default());
        g.download(&mut gpu).unwrap();
        roi::extract(&views, &refs, &spec, &mut cpu);
        let diff = gpu.f32.iter().zip(&cpu.f32).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-4, "batch {k}: ROI batch differs by {diff}");
        if k == 1 {
            steady = Some(g.allocations());
        }
    }
    assert_eq!(Some(g.allocations()), steady, "batches after the second allocated");
}

/// The frame quality kernel on the GPU (through the ROI stage's device buffers, as key-frame
/// selection's stage 1 runs it) gives the CPU's exact sums on real frames of two sizes.
#[test]
#[ignore = "needs an NVIDIA GPU and driver: make test-gpu"]
fn the_quality_kernel_on_the_gpu_equals_the_cpu() {
    use fovea::cuda::rois::DeviceRois;
    use fovea::quality::{accumulate as quality_sums, QualityParams};
    let dev = std::sync::Arc::new(Device::new(0).expect("GPU 0"));
    let mut g = DeviceRois::new(dev, 16, 256 * 192 * 3).unwrap();
    let params = QualityParams::new(ChannelOrder::Bgr);
    let mut frames = 0;
    for clip in ["vtest.avi", "market_street_1906.mp4"] {
        let fs = bgr_frames(clip, 12, 7);
        let views: Vec<FrameView> = fs.iter().map(|f| f.view()).collect();
        g.upload_frames(&views).unwrap();
        let got = g.frame_quality(&params).unwrap();
        assert_eq!(got.len(), views.len());
        for (i, (a, v)) in got.iter().zip(&views).enumerate() {
            assert_eq!(*a, quality_sums(v, &params), "{clip} frame {i}: GPU and CPU quality sums differ");
        }
        frames += views.len();
    }
    figure("quality kernel vs CPU", format!("exact on {frames} real frames (768x576, 640x360)"));
}

/// `fovea verify` with the ROI stage and the zero-shot encoder on the GPU (CUDA provider, fp32)
/// gives the CPU run's verdicts, identical colour statistics and classifier scores within 1e-3.
#[test]
#[ignore = "needs an NVIDIA GPU, driver and onnxruntime-gpu: make test-gpu"]
fn verify_on_the_gpu_equals_verify_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let vtest = media("vtest.avi");
    let boxes = dir.path().join("boxes.jsonl");
    let o = fovea(&[
        "detect",
        vtest.to_str().unwrap(),
        "--duration",
        "2",
        "--model",
        "engines/nanodet-g-416.toml",
        "-q",
        "-o",
        boxes.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = |extra: &[&str], name: &str| -> (Vec<serde_json::Value>, String) {
        let out = dir.path().join(name);
        let mut args = vec!["verify", vtest.to_str().unwrap(), "--boxes", boxes.to_str().unwrap(), "-o", out.to_str().unwrap()];
        args.extend_from_slice(&["--classifier", "tests/data/tiny_clip.toml"]);
        args.extend_from_slice(extra);
        let o = fovea(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(&out).unwrap();
        (text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(), stderr(&o))
    };
    let (cpu, _) = run(&[], "cpu.jsonl");
    let (gpu, err) = run(&["--device", "cuda:0", "--provider", "cuda"], "gpu.jsonl");
    assert!(err.contains("(16x16, cuda:0)") && err.contains("on CUDAExecutionProvider"), "{err}");
    assert!(!err.contains("downloaded"), "the ROI batches stay on the device: {err}");
    assert_eq!(cpu.len(), gpu.len());
    assert!(cpu.len() > 50, "too few boxes: {}", cpu.len());
    let mut scored = 0;
    for (c, g) in cpu.iter().zip(&gpu) {
        assert_eq!((&c["verdict"], &c["rule"], &c["label"]), (&g["verdict"], &g["rule"], &g["label"]), "{c}\nvs\n{g}");
        assert_eq!(c["stats"], g["stats"], "colour statistics are exact integer sums on both");
        // scores: [[label, probability], ...]
        if let (Some(a), Some(b)) = (c["scores"].as_array(), g["scores"].as_array()) {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert_eq!(x[0], y[0]);
                let (p, q) = (x[1].as_f64().unwrap(), y[1].as_f64().unwrap());
                assert!((p - q).abs() <= 1e-3, "classifier scores {x} vs {y}");
            }
            scored += 1;
        }
    }
    assert!(scored > 20, "too few classified boxes compared: {scored}");
}

#[test]
fn without_a_driver_a_shared_device_is_the_same_clear_error() {
    if driver_present() {
        let (a, b) = (Device::shared(0).expect("GPU 0"), Device::shared(0).unwrap());
        assert!(std::sync::Arc::ptr_eq(&a, &b), "one Device (context, stream, modules) per GPU");
        return;
    }
    let e = Device::shared(0).unwrap_err().to_string();
    assert!(e.contains("no CUDA driver"), "{e}");
}

/// The embeddable engine (what the C, Python and Go bindings call) on a GPU: a stream's frames
/// go to the detector as they are, and its boxes match the CPU engine's.
#[test]
#[ignore = "needs an NVIDIA GPU, driver and onnxruntime-gpu with TensorRT: make test-gpu"]
fn the_engine_on_a_gpu_matches_the_cpu_engine() {
    use fovea::engine::{Engine, EngineConfig, FrameIn, PixelFormat, Received, Stream};
    let config = |extra: &str| EngineConfig::parse(&format!("model = 'engines/nanodet-g-416.toml'\n{extra}"), &root()).unwrap();
    let cpu = Engine::new(&config("")).unwrap();
    let gpu = Engine::new(&config("provider = 'tensorrt'\nprecision = 'fp16'")).unwrap();
    assert!(gpu.provider().starts_with("TensorrtExecutionProvider (fp16"), "{}", gpu.provider());
    assert!(!engines_built(&root().join("engines/trt/cache"), "nanodet-g-416.fp16.b1").is_empty(), "no TensorRT engine was built");
    let frames = bgr_frames("vtest.avi", 20, 5);
    let found = |engine: &std::sync::Arc<Engine>| -> Vec<Vec<Detection>> {
        let mut s = Stream::new(engine.clone(), 25.0).unwrap();
        let mut out = Vec::new();
        for f in &frames {
            let fin = FrameIn {
                data: &f.data,
                width: f.width,
                height: f.height,
                stride: f.width as usize * 3,
                format: PixelFormat::Bgr24,
                pts: 0.0,
            };
            s.send_frame(&fin).unwrap();
            while let Received::Frame(r) = s.receive() {
                out.push(r.detections);
            }
        }
        out
    };
    let (c, g) = (found(&cpu), found(&gpu));
    assert_eq!(c.len(), frames.len());
    assert_eq!(g.len(), frames.len());
    let (mut n, mut missed) = (0, 0);
    for (c, g) in c.iter().zip(&g) {
        let (pairs, miss) = matches(c, g);
        for (a, b) in pairs {
            assert!(iou(&a.bbox, &b.bbox) >= 0.9 && (a.score - b.score).abs() <= 0.05, "{a:?} vs {b:?}");
        }
        n += c.iter().filter(|d| d.score >= 0.4).count();
        missed += miss.iter().filter(|d| d.score >= 0.4).count();
    }
    assert!(n > 20 && missed * 20 <= n, "{missed} of {n} confident CPU boxes not found on the GPU");
}

/// cudarc is bound for CUDA 13: NVRTC is looked up as `libnvrtc.so.13` (and `.so.12`), and a
/// machine without it gets an error naming the files, not cudarc's panic. Runs everywhere:
/// `make kernels-check` runs it with NVRTC 12 on the library path (the compile branch), the
/// rest of CI without (the error branch).
#[test]
fn nvrtc_is_looked_up_for_cuda_13_and_a_missing_one_is_an_error() {
    let names = fovea::cuda::nvrtc_library_names();
    for want in ["libnvrtc.so.13", "libnvrtc.so.12"] {
        assert!(names.iter().any(|n| n == want), "{want} not among {names:?}");
    }
    match fovea::cuda::nvrtc_compile("roi") {
        Ok(ptx) => {
            assert!(fovea::cuda::nvrtc_present());
            let src = ptx.to_src();
            assert!(
                src.contains(".entry fovea_roi_batch_f32") && src.contains(".entry fovea_roi_batch_f16"),
                "NVRTC's PTX lacks the kernels"
            );
            eprintln!("NVRTC found: roi.cu compiled to {} bytes of PTX", src.len());
        }
        Err(e) => {
            assert!(!fovea::cuda::nvrtc_present(), "NVRTC is present but failed: {e}");
            let e = e.to_string();
            assert!(e.contains("libnvrtc.so.13") && e.contains("NVRTC") && e.contains("LD_LIBRARY_PATH"), "{e}");
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU and driver: make test-gpu, scripts/gpu-check.sh"]
fn the_device_is_named() {
    assert!(driver_present(), "no CUDA driver (libcuda.so) on this machine: it has no usable NVIDIA GPU");
    let dev = Device::new(0).expect("GPU 0");
    let d = dev.describe();
    assert!(!d.contains("(name:") && d.contains("compute capability"), "{d}");
    figure("device", d);
}

/// The detector's device input without a model: frames staged through the pinned pool,
/// uploaded and letterboxed by the kernel, batch after batch of a real clip: no allocation after
/// the first batch, the tensor equal to the CPU preprocessor's, and the rate.
#[test]
#[ignore = "needs an NVIDIA GPU and driver: make test-gpu, scripts/gpu-check.sh"]
fn the_pinned_pool_stays_still_through_a_clip_and_the_input_equals_the_cpu() {
    use fovea::cuda::input::DeviceInput;
    use fovea::infer::preprocess::Preprocessor;
    let dev = std::sync::Arc::new(Device::new(0).expect("GPU 0"));
    let input = nanodet().input;
    let frames = bgr_frames("vtest.avi", 12, 1);
    assert!(frames.len() >= 4, "too few frames: {}", frames.len());
    let bytes = frames[0].data.len();
    let batch = 4;
    let mut di = DeviceInput::new(dev, input.roi_spec(), input.image_len(), batch, bytes).unwrap();
    let feed = |di: &mut DeviceInput, k: usize| {
        for slot in 0..batch {
            let f = &frames[(k * batch + slot) % frames.len()];
            di.stage_frame(slot, &f.data, f.width, f.height, f.width as usize * 3).unwrap();
        }
        di.upload(batch).unwrap();
    };
    feed(&mut di, 0);
    let _ = di.download_tensor().unwrap();
    let after_first = di.allocations();
    let rounds = 250;
    let t = std::time::Instant::now();
    for k in 1..=rounds {
        feed(&mut di, k);
    }
    let got = di.download_tensor().unwrap(); // waits for the stream
    let s = t.elapsed().as_secs_f64();
    assert_eq!(di.allocations(), after_first, "{rounds} batches after the first allocated");
    let mut cpu = vec![0.0f32; input.image_len()];
    let mut pre = Preprocessor::new(input);
    for slot in 0..batch {
        let f = &frames[(rounds * batch + slot) % frames.len()];
        pre.run(&f.data, f.width, f.height, f.width as usize * 3, &mut cpu);
        let g = &got[slot * cpu.len()..(slot + 1) * cpu.len()];
        let diff = cpu.iter().zip(g).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-5, "slot {slot}: device input vs CPU preprocessor differ by {diff}");
    }
    let (w, h) = (frames[0].width, frames[0].height);
    figure("pinned pool", format!("{} allocations at start, 0 more over {rounds} batches of {batch} frames", after_first));
    figure(
        "detector input on the GPU",
        format!("{:.0} frames/s ({w}x{h} BGR -> pinned slot -> upload -> letterbox 416x416 kernel)", (rounds * batch) as f64 / s),
    );
}

/// ROI stage throughput on the GPU against the CPU on the same work: 4 frames per batch, 16
/// person-sized boxes per frame, colour statistics and a 224x224 letterboxed ROI batch each.
#[test]
#[ignore = "needs an NVIDIA GPU and driver: make test-gpu, scripts/gpu-check.sh"]
fn roi_stage_throughput_on_the_gpu_and_the_cpu() {
    use fovea::cuda::rois::DeviceRois;
    let dev = std::sync::Arc::new(Device::new(0).expect("GPU 0"));
    let frames = bgr_frames("vtest.avi", 12, 1);
    assert!(frames.len() >= 4, "too few frames: {}", frames.len());
    let (w, h) = (frames[0].width, frames[0].height);
    let per = 4;
    let mut g = DeviceRois::new(dev.clone(), per, frames[0].data.len()).unwrap();
    let params = StatsParams::new(&StatsConfig::default(), ChannelOrder::Bgr);
    let spec = RoiSpec { size: 224, fit: Fit::Letterbox { pad: 114 }, ..RoiSpec::default() };
    let (bw, bh) = (w as f32 / 8.0, h as f32 / 3.0);
    let boxes: Vec<[f32; 4]> = (0..16)
        .map(|i| {
            let (x, y) = ((i % 4) as f32 * w as f32 / 4.0 + 5.0, (i / 4) as f32 * h as f32 / 6.0 + 3.0);
            [x, y, (x + bw).min(w as f32), (y + bh).min(h as f32)]
        })
        .collect();
    let batch_of = |k: usize| -> Vec<FrameView> { (0..per).map(|i| frames[(k * per + i) % frames.len()].view()).collect() };
    let rois: Vec<(usize, roi::Crop)> =
        (0..per).flat_map(|fi| boxes.iter().map(move |b| (fi, crop_of(*b, 1.0, w, h).unwrap().0))).collect();
    let refs: Vec<RoiRef> = rois.iter().map(|&(frame, crop)| RoiRef { frame, crop }).collect();
    let run = |g: &mut DeviceRois, k: usize| {
        g.upload_frames(&batch_of(k)).unwrap();
        let st = g.colour_stats(&rois, &params).unwrap();
        assert_eq!(g.extract(&refs, &spec).unwrap(), refs.len());
        st
    };
    for k in 0..3 {
        run(&mut g, k);
    }
    let steady = g.allocations();
    let rounds = 300;
    let t = std::time::Instant::now();
    for k in 0..rounds {
        run(&mut g, k);
    }
    dev.stream.synchronize().unwrap();
    let gpu_s = t.elapsed().as_secs_f64();
    assert_eq!(g.allocations(), steady, "the ROI stage allocated in steady state");
    // The same work on the CPU (fewer rounds).
    let cpu_rounds = 20;
    let mut out = RoiBatch::default();
    let t = std::time::Instant::now();
    for k in 0..cpu_rounds {
        let views = batch_of(k);
        let st = roi::colour_stats(&views, &rois, &params);
        roi::extract(&views, &refs, &spec, &mut out);
        assert_eq!(st.len(), rois.len());
    }
    let cpu_s = t.elapsed().as_secs_f64();
    let (gf, cf) = ((rounds * per) as f64 / gpu_s, (cpu_rounds * per) as f64 / cpu_s);
    figure(
        "ROI stage on the GPU",
        format!(
            "{gf:.0} frames/s, {:.0} ROIs/s ({w}x{h}, {} ROIs per frame: upload, colour statistics, 224x224 batch)",
            gf * boxes.len() as f64,
            boxes.len()
        ),
    );
    figure(
        "ROI stage on this machine's CPU",
        format!("{cf:.0} frames/s, {:.0} ROIs/s (the same work, {} threads)", cf * boxes.len() as f64, rayon_threads()),
    );
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
