//! The ROI stage on real frames: against an independent OpenCV reference (scripts/roi_reference.py,
//! committed outputs), and the CUDA kernels (run on the CPU by the host harness) against the Rust
//! implementation.
use crate::common;

use common::*;
use fovea::roi::stats::{accumulate, hsv_tables};
use fovea::roi::{
    self, crop_of, Crop, FrameView, RoiBatch, RoiDesc, RoiDtype, RoiRef, RoiSpec, StatsAcc, StatsConfig, StatsParams, StatsRoi,
};
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};
use fovea_kernel_harness as h;
use half::f16;
use serde_json::Value;

const RGB: OutputFormat = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };

/// The first `n` frames of `path` (every `stride`-th), RGB at source size.
fn frames(path: &std::path::Path, n: usize, stride: u32) -> Vec<(Vec<u8>, u32, u32)> {
    let pool = FramePool::new(2);
    let mut d = Decoder::open(path, Sampling { stride, ..Sampling::default() }, RGB).unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let Some(f) = d.next_frame(&pool).unwrap() else { break };
        out.push((f.data.to_vec(), f.width, f.height));
    }
    out
}

#[test]
fn rois_and_stats_match_opencv_on_real_images() {
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(data("roi_reference.json")).unwrap()).unwrap();
    let size = reference["size"].as_u64().unwrap() as u32;
    let arr3 = |v: &Value| [0, 1, 2].map(|i| v[i].as_f64().unwrap() as f32);
    let (mean, std) = (arr3(&reference["mean"]), arr3(&reference["std"]));
    let params = StatsParams::new(&StatsConfig::default(), ChannelOrder::Rgb);
    let mut checked = 0;
    for (name, img) in reference["images"].as_object().unwrap() {
        // The pixels come from the ffmpeg CLI, as the reference's did: this test is about the ROI
        // stage, not the decoder.
        let (w, hgt) = (img["width"].as_u64().unwrap() as u32, img["height"].as_u64().unwrap() as u32);
        let raw = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(media(name))
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .expect("ffmpeg runs");
        assert_eq!(raw.stdout.len(), (w * hgt * 3) as usize, "{name}: ffmpeg output size");
        let f = (raw.stdout, w, hgt);
        let sum: u64 = f.0.iter().map(|&v| v as u64).sum();
        assert_eq!(sum, img["pixel_sum"].as_u64().unwrap(), "{name}: the ffmpeg CLI decodes other pixels than when the reference was made");
        let view = FrameView { data: &f.0, width: f.1, height: f.2, stride: f.1 as usize * 3 };
        let want = fovea::classify::zeroshot::read_npy_f32(&data(img["tensor"].as_str().unwrap())).unwrap().1;
        let len = 3 * (size * size) as usize;
        for (i, b) in img["boxes"].as_array().unwrap().iter().enumerate() {
            let bbox = [0, 1, 2, 3].map(|k| b["bbox"][k].as_f64().unwrap() as f32);
            let (crop, _) = crop_of(bbox, b["expand"].as_f64().unwrap() as f32, f.1, f.2).unwrap();
            let c = &b["crop"];
            assert_eq!([crop.x, crop.y, crop.w, crop.h], [0, 1, 2, 3].map(|k| c[k].as_u64().unwrap() as u32), "{name} box {i}: crop");
            let fit = b["pad"].as_u64().map_or(Fit::Stretch, |p| Fit::Letterbox { pad: p as u8 });
            let spec = RoiSpec { size, mean, std, fit, dtype: RoiDtype::F32, swap_rb: false };
            let mut out = RoiBatch::default();
            roi::extract(&[view], &[RoiRef { frame: 0, crop }], &spec, &mut out);
            let diff = out.f32.iter().zip(&want[i * len..(i + 1) * len]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(diff <= 1e-4, "{name} box {i}: ROI differs from OpenCV by {diff}");

            let (scrop, _) = crop_of(bbox, 1.0, f.1, f.2).unwrap();
            let s = roi::colour_stats(&[view], &[(0, scrop)], &params)[0];
            let rs = &b["stats"];
            for c in 0..3 {
                assert!((s.mean[c] as f64 - rs["mean"][c].as_f64().unwrap()).abs() < 1e-3, "{name} box {i}: mean");
                assert!((s.std[c] as f64 - rs["std"][c].as_f64().unwrap()).abs() < 1e-3, "{name} box {i}: std");
            }
            assert!((s.green_dominance as f64 - rs["green_dominance"].as_f64().unwrap()).abs() < 1e-3);
            // Fractions of the same pixel set: exactly OpenCV's HSV, so equal up to float printing.
            assert!((s.green_fraction as f64 - rs["green_fraction"].as_f64().unwrap()).abs() < 1e-6, "{name} box {i}: green fraction");
            assert!((s.dark_fraction as f64 - rs["dark_fraction"].as_f64().unwrap()).abs() < 1e-6, "{name} box {i}: dark fraction");
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

/// A deterministic spread of boxes over `n` frames of `w x h`: all sizes, some crossing the
/// border, some expanded, some letterboxed (by index parity, set by the caller).
fn boxes(n_frames: usize, w: u32, h: u32, count: usize) -> Vec<(usize, [f32; 4], f32)> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..count)
        .map(|i| {
            let bw = 2.0 + next() * w as f64 * 0.6;
            let bh = 2.0 + next() * h as f64 * 0.6;
            let x = next() * (w as f64 + 20.0) - 10.0 - bw / 2.0;
            let y = next() * (h as f64 + 20.0) - 10.0 - bh / 2.0;
            let expand = if i % 5 == 0 { 4.0 } else { 1.0 };
            (i % n_frames, [x as f32, y as f32, (x + bw) as f32, (y + bh) as f32], expand)
        })
        .collect()
}

struct Batch {
    buffer: Vec<u8>,
    offsets: Vec<u64>,
    dims: Vec<(u32, u32)>,
}

fn batch_of(frames: &[(Vec<u8>, u32, u32)]) -> Batch {
    let mut b = Batch { buffer: Vec::new(), offsets: Vec::new(), dims: Vec::new() };
    for f in frames {
        b.offsets.push(b.buffer.len() as u64);
        b.dims.push((f.1, f.2));
        b.buffer.extend_from_slice(&f.0);
    }
    b
}

fn kernel_parity(path: &str, n_frames: usize, size: u32, fit: Fit, swap_rb: bool) {
    let fr = frames(&media(path), n_frames, 7);
    let b = batch_of(&fr);
    let views: Vec<FrameView> = fr.iter().map(|f| FrameView { data: &f.0, width: f.1, height: f.2, stride: f.1 as usize * 3 }).collect();
    let (w, hh) = b.dims[0];
    let mut rois = Vec::new();
    let mut descs = Vec::new();
    let spec = RoiSpec { size, fit, swap_rb, mean: [100.0, 120.0, 140.0], ..RoiSpec::default() };
    for (fi, bbox, expand) in boxes(fr.len(), w, hh, 40) {
        let Ok((crop, _)) = crop_of(bbox, expand, w, hh) else { continue };
        rois.push(RoiRef { frame: fi, crop });
        descs.push(spec.desc(b.offsets[fi], w as usize * 3, crop));
    }
    assert!(rois.len() >= 30, "too few boxes inside the frames: {}", rois.len());
    let n = rois.len();

    let mut cpu = RoiBatch::default();
    roi::extract(&views, &rois, &spec, &mut cpu);
    let norm = spec.norm();
    let mut gpu = vec![f32::NAN; n * spec.roi_len()];
    // An odd block shape on purpose: the grid overhangs the image on both axes.
    let block = h::Dim3 { x: 16, y: 8, z: 1 };
    let grid = h::Dim3 { x: size.div_ceil(16), y: size.div_ceil(8), z: n as u32 };
    // SAFETY: the descriptors point inside `buffer` (crops inside their frames), `gpu` holds
    // n x 3 x size x size floats, and the structs are fovea's #[repr(C)] mirrors of the kernel's.
    unsafe {
        h::harness_roi_batch_f32(
            grid,
            block,
            b.buffer.as_ptr(),
            descs.as_ptr() as *const u8,
            size,
            &norm as *const _ as *const u8,
            gpu.as_mut_ptr(),
        )
    };
    let diff = cpu.f32.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(gpu.iter().all(|v| v.is_finite()), "the kernel left outputs unwritten");
    assert!(diff <= 1e-4, "{path}: kernel vs Rust ROI differ by {diff}");

    let mut gpu16 = vec![0u16; n * spec.roi_len()];
    // SAFETY: as above, with n x 3 x size x size halves.
    unsafe {
        h::harness_roi_batch_f16(
            grid,
            block,
            b.buffer.as_ptr(),
            descs.as_ptr() as *const u8,
            size,
            &norm as *const _ as *const u8,
            gpu16.as_mut_ptr(),
        )
    };
    let mut cpu16 = RoiBatch::default();
    roi::extract(&views, &rois, &RoiSpec { dtype: RoiDtype::F16, ..spec.clone() }, &mut cpu16);
    // The f32 values agree to 1e-4, so their halves agree to that plus one rounding step.
    for (a, b) in cpu16.f16.iter().zip(&gpu16) {
        let (a, b) = (a.to_f32(), f16::from_bits(*b).to_f32());
        assert!((a - b).abs() <= 1e-4 + a.abs() / 1024.0, "{path}: f16 kernel {b} vs Rust {a}");
    }

    // Statistics over the unexpanded boxes: the integer sums are exactly equal.
    let params = StatsParams::new(&StatsConfig::default(), ChannelOrder::Rgb);
    let tables = hsv_tables();
    let srois: Vec<(usize, Crop)> = rois.iter().map(|r| (r.frame, r.crop)).collect();
    let sdescs: Vec<StatsRoi> = srois.iter().map(|&(f, c)| StatsRoi::new(b.offsets[f], w as usize * 3, c)).collect();
    let mut acc = vec![StatsAcc::default(); n];
    // SAFETY: descriptors inside `buffer`, one accumulator per ROI, tables of 256 entries.
    unsafe {
        h::harness_colour_stats(
            h::Dim3 { x: 3, y: n as u32, z: 1 },
            h::Dim3 { x: 64, y: 1, z: 1 },
            b.buffer.as_ptr(),
            sdescs.as_ptr() as *const u8,
            &params as *const _ as *const u8,
            tables.0.as_ptr(),
            tables.1.as_ptr(),
            acc.as_mut_ptr() as *mut u8,
        )
    };
    for (i, &(f, c)) in srois.iter().enumerate() {
        assert_eq!(acc[i], accumulate(&views[f], c, &params, &tables), "{path}: stats of ROI {i}");
    }
    assert!(acc.iter().filter(|a| a.sum[1] > 0).count() > n / 2, "the kernel accumulated nothing");
}

#[test]
fn kernels_equal_rust_on_vtest_frames_stretched() {
    kernel_parity("vtest.avi", 3, 224, Fit::Stretch, false);
}

#[test]
fn kernels_equal_rust_on_market_street_frames_letterboxed() {
    kernel_parity("market_street_1906.mp4", 2, 64, Fit::Letterbox { pad: 114 }, false);
}

#[test]
fn kernels_equal_rust_with_swapped_channels() {
    kernel_parity("vtest.avi", 2, 48, Fit::Letterbox { pad: 0 }, true);
}

#[test]
fn kernel_half_conversion_is_round_to_nearest_even() {
    let mut vals =
        vec![0.0f32, -0.0, 1.0, -2.5, 65504.0, 65520.0, 1e-8, 6.0e-8, 5.9604645e-8, 3.0e-5, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
    let mut x = 1e-9f32;
    while x < 1e6 {
        vals.push(x);
        vals.push(-x * 1.37);
        x *= 1.0137;
    }
    for v in vals {
        // SAFETY: a pure function.
        let k = unsafe { h::harness_f16(v) };
        let r = f16::from_f32(v);
        if v.is_nan() {
            assert!(f16::from_bits(k).is_nan());
        } else {
            assert_eq!(k, r.to_bits(), "{v}");
        }
    }
}

#[test]
fn descriptors_have_the_kernels_layout() {
    assert_eq!(std::mem::size_of::<RoiDesc>(), 40);
    assert_eq!(std::mem::size_of::<StatsRoi>(), 24);
    assert_eq!(std::mem::size_of::<StatsParams>(), 32);
    assert_eq!(std::mem::size_of::<StatsAcc>(), 64);
    assert_eq!(std::mem::size_of::<roi::Norm>(), 40);
}

/// The GPU path's detector preprocessing: the ROI kernel given whole frames (the model's fit,
/// mean/std, channel order) makes the same input tensor as the CPU preprocessor. Real frames of
/// two sizes (768x576 shrunk, 1920x1080 shrunk) for NanoDet-g's stretched 416 input and a
/// letterboxed variant.
#[test]
fn the_kernel_makes_the_detectors_input_as_the_cpu_does() {
    use fovea::infer::manifest::Manifest;
    use fovea::infer::preprocess::Preprocessor;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("engines");
    let stretched = Manifest::load(&dir.join("nanodet-g-416.toml")).unwrap().input;
    let letterboxed = fovea::infer::manifest::InputSpec { fit: Fit::Letterbox { pad: 114 }, ..stretched.clone() };
    let bgr = OutputFormat { order: ChannelOrder::Bgr, ..RGB };
    let mut worst = 0.0f32;
    for clip in ["vtest.avi", "market_street_1906.mp4"] {
        let pool = FramePool::new(2);
        let mut d = Decoder::open(&media(clip), Sampling::default(), bgr).unwrap();
        let f = d.next_frame(&pool).unwrap().unwrap();
        let (w, h) = (f.width, f.height);
        for input in [&stretched, &letterboxed] {
            let spec = input.roi_spec().expect("square NCHW input");
            let desc = spec.desc(0, w as usize * 3, Crop { x: 0, y: 0, w, h });
            let mut cpu = vec![0.0f32; 3 * 416 * 416];
            Preprocessor::new(input.clone()).run(&f.data, w, h, w as usize * 3, &mut cpu);
            let mut gpu = vec![f32::NAN; cpu.len()];
            let norm = spec.norm();
            // SAFETY: one whole-frame descriptor inside `f.data`; `gpu` holds 3 x 416 x 416.
            unsafe {
                h::harness_roi_batch_f32(
                    h::Dim3 { x: 26, y: 26, z: 1 },
                    h::Dim3 { x: 16, y: 16, z: 1 },
                    f.data.as_ptr(),
                    &desc as *const RoiDesc as *const u8,
                    spec.size,
                    &norm as *const _ as *const u8,
                    gpu.as_mut_ptr(),
                )
            };
            let diff = cpu.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(diff <= 1e-5, "{clip} {:?}: kernel vs CPU preprocessor differ by {diff}", input.fit);
            worst = worst.max(diff);
        }
    }
    eprintln!("detector input: kernel vs CPU preprocessor, max difference {worst:e} (normalised units)");
}
