//! GPU tests (feature `cuda`). The GPU checks are `#[ignore]`d so that a machine without a GPU
//! reports them as ignored, never as passed; `make test-gpu` runs them (`--include-ignored`) and
//! they fail there without a driver. What runs everywhere: asking for a device without a driver
//! is a clear error, not a panic.
#![cfg(feature = "cuda")]
mod common;

use common::*;
use fovea::cuda::{driver_present, Device};
use fovea::roi::stats::{accumulate, hsv_tables};
use fovea::roi::{self, crop_of, FrameView, RoiBatch, RoiRef, RoiSpec, StatsAcc, StatsConfig, StatsParams, StatsRoi};
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};

#[test]
fn without_a_driver_the_device_is_a_clear_error() {
    if driver_present() {
        return; // a GPU machine: the ignored tests below are the checks
    }
    let e = Device::new(0).unwrap_err().to_string();
    assert!(e.contains("no CUDA driver") && e.contains("NVIDIA driver"), "{e}");
}

#[test]
#[ignore = "needs an NVIDIA GPU and driver: make test-gpu"]
fn kernels_on_the_gpu_equal_the_cpu() {
    assert!(driver_present(), "no CUDA driver: these checks need a GPU");
    let dev = Device::new(0).expect("GPU 0");
    let pool = FramePool::new(2);
    let mut d = Decoder::open(
        &media("vtest.avi"),
        Sampling::default(),
        OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch },
    )
    .unwrap();
    let f = d.next_frame(&pool).unwrap().unwrap();
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
    unsafe { dev.colour_stats(&frames, &sr, params, &sd, &hd, &mut acc) }.unwrap();
    let got = dev.download(&acc).unwrap();
    for (i, c) in crops.iter().enumerate() {
        assert_eq!(got[i], accumulate(&view, *c, &params, &tables), "ROI {i}");
    }
    eprintln!("GPU kernels equal the CPU on {} ROIs ({})", crops.len(), dev.kernels_from);
}
