//! The frame quality kernel (kernels/quality.cu, run on the CPU by the host harness) against its
//! Rust twin (src/quality), and both against an independent OpenCV/NumPy reference
//! (scripts/quality_reference.py), on real frames of the shared media.

use crate::common;

use common::*;
use fovea::image::FrameView;
use fovea::quality::{accumulate, QualityAcc, QualityFrame, QualityParams};
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};
use fovea_kernel_harness as h;

/// `n` frames of `clip` (every `stride`-th), RGB, at `width` x `height` (0 x 0: source size).
fn frames(clip: &str, n: usize, stride: u32, width: u32, height: u32, order: ChannelOrder) -> Vec<(Vec<u8>, u32, u32)> {
    let pool = FramePool::new(2);
    let fmt = OutputFormat { width, height, order, fit: Fit::Stretch };
    let mut d = Decoder::open(&media(clip), Sampling { stride, ..Sampling::default() }, fmt).unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let Some(f) = d.next_frame(&pool).unwrap() else { break };
        out.push((f.data.to_vec(), f.width, f.height));
    }
    assert_eq!(out.len(), n, "{clip} has fewer than {n} frames");
    out
}

/// The kernel's sums of every frame, packed one after another in one buffer.
fn kernel(frames: &[(Vec<u8>, u32, u32)], p: &QualityParams, blocks: u32, threads: u32) -> Vec<QualityAcc> {
    let mut buffer = Vec::new();
    let mut list = Vec::new();
    for (data, w, hgt) in frames {
        list.push(QualityFrame { offset: buffer.len() as u64, stride: w * 3, w: *w, h: *hgt });
        buffer.extend_from_slice(data);
    }
    let mut acc = vec![QualityAcc::default(); frames.len()];
    // SAFETY: every frame lies inside `buffer` at its offset with stride 3 w; one accumulator per
    // frame; the harness runs the kernel's grid on this thread.
    unsafe {
        h::harness_frame_quality(
            h::Dim3 { x: blocks, y: frames.len() as u32, z: 1 },
            h::Dim3 { x: threads, y: 1, z: 1 },
            buffer.as_ptr(),
            list.as_ptr() as *const u8,
            p as *const _ as *const u8,
            acc.as_mut_ptr() as *mut u8,
        )
    };
    acc
}

fn parity(clip: &str, n: usize, stride: u32, width: u32, height: u32, order: ChannelOrder) {
    let fs = frames(clip, n, stride, width, height, order);
    let p = QualityParams::new(order);
    let acc = kernel(&fs, &p, 5, 64);
    for (i, ((data, w, hgt), a)) in fs.iter().zip(&acc).enumerate() {
        let view = FrameView { data, width: *w, height: *hgt, stride: *w as usize * 3 };
        assert_eq!(*a, accumulate(&view, &p), "{clip} frame {i} ({w}x{hgt}): kernel and Rust sums differ");
        let q = a.finish(*w, *hgt);
        assert!(q.sharpness > 0.0 && q.contrast > 0.0 && q.dhash != 0, "{clip} frame {i}: nothing measured: {q:?}");
    }
}

#[test]
fn kernel_equals_rust_on_scaled_frames() {
    parity("market_street_1906.mp4", 4, 50, 256, 144, ChannelOrder::Rgb);
    parity("bigbuckbunny.mp4", 4, 40, 256, 144, ChannelOrder::Bgr);
}

#[test]
fn kernel_equals_rust_on_full_size_and_odd_sized_frames() {
    parity("vtest.avi", 2, 30, 0, 0, ChannelOrder::Rgb);
    parity("vtest.avi", 2, 30, 97, 31, ChannelOrder::Rgb);
    // Tiny frames: a 1-pixel row, no interior, fewer columns than hash cells.
    parity_tiny();
}

fn parity_tiny() {
    let p = QualityParams::new(ChannelOrder::Rgb);
    for (w, hgt) in [(1u32, 1u32), (3, 1), (5, 4), (2, 9)] {
        let data: Vec<u8> = (0..w * hgt * 3).map(|i| (i * 37 % 251) as u8).collect();
        let acc = kernel(&[(data.clone(), w, hgt)], &p, 2, 32);
        let view = FrameView { data: &data, width: w, height: hgt, stride: w as usize * 3 };
        assert_eq!(acc[0], accumulate(&view, &p), "{w}x{hgt}");
        assert!(acc[0].finish(w, hgt).brightness.is_finite());
    }
}

#[test]
fn the_layout_is_the_kernels() {
    assert_eq!(std::mem::size_of::<QualityFrame>(), 24);
    assert_eq!(std::mem::size_of::<QualityParams>(), 12);
    assert_eq!(std::mem::size_of::<QualityAcc>(), 8 * (10 + 64 + 72));
}

/// Brightness, contrast, sharpness, colourfulness and exposure equal OpenCV/NumPy's within 1e-3
/// relative on real frames at the analysis size and at full size.
#[test]
fn measures_equal_an_opencv_reference() {
    let dir = tempdir();
    let mut index = Vec::new();
    let mut ours = Vec::new();
    let p = QualityParams::new(ChannelOrder::Rgb);
    let sets = [
        frames("market_street_1906.mp4", 3, 60, 256, 144, ChannelOrder::Rgb),
        frames("bigbuckbunny.mp4", 3, 40, 256, 144, ChannelOrder::Rgb),
        frames("vtest.avi", 2, 40, 0, 0, ChannelOrder::Rgb),
    ];
    for (data, w, hgt) in sets.iter().flatten() {
        let name = format!("f{}.rgb", index.len());
        std::fs::write(dir.path().join(&name), data).unwrap();
        index.push(serde_json::json!({"file": name, "width": w, "height": hgt}));
        let view = FrameView { data, width: *w, height: *hgt, stride: *w as usize * 3 };
        ours.push(accumulate(&view, &p).finish(*w, *hgt));
    }
    std::fs::write(dir.path().join("frames.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let py = root().join(".deps/venv/bin/python");
    let out = std::process::Command::new(&py)
        .arg(root().join("scripts/quality_reference.py"))
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{} runs (make setup makes it): {e}", py.display()));
    assert!(out.status.success(), "reference failed: {}", String::from_utf8_lossy(&out.stderr));
    let refs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(refs.len(), ours.len());
    for (i, (q, r)) in ours.iter().zip(&refs).enumerate() {
        for (name, v) in [
            ("brightness", q.brightness),
            ("contrast", q.contrast),
            ("sharpness", q.sharpness),
            ("colourfulness", q.colourfulness),
            ("underexposed", q.underexposed),
            ("overexposed", q.overexposed),
        ] {
            let want = r[name].as_f64().unwrap();
            let tol = 1e-3 * want.abs().max(1e-9);
            assert!((v - want).abs() <= tol, "frame {i} {name}: fovea {v} vs OpenCV/NumPy {want}");
        }
        assert!(q.sharpness > 1.0 && q.colourfulness > 0.0, "frame {i}: {q:?}");
    }
}
