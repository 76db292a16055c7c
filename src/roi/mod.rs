//! ROI extraction: every box cut out of its frame, resized to `S x S`, normalised and written into
//! one batch tensor for a classifier, plus cheap colour statistics per box for the rules.
//!
//! ```text
//! frames + boxes ──▶ crop geometry (Crop) ──▶ RoiBatch (N x 3 x S x S, f32/f16) ──▶ classifier
//!                                        └──▶ colour statistics (stats.rs)     ──▶ filter rules
//! ```
//! This Rust implementation defines the semantics and is the CPU backend (parallel over ROIs).
//! kernels/roi.cu and kernels/colour.cu implement the same on CUDA; the host harness
//! (kernels/harness) runs those kernels on the CPU in every test run and compares.
//!
//! Semantics: the box (optionally expanded around its centre by a context factor) is clamped to
//! the frame and rounded outwards to whole pixels (`floor` of the left/top, `ceil` of the
//! right/bottom edge); that crop is resized with OpenCV's `INTER_LINEAR` rules (half-pixel centres,
//! clamp-to-edge at the crop's border, no antialias), stretched to `S x S` or letterboxed inside
//! it, then normalised as `(pixel - mean) / std` per channel.
#![forbid(unsafe_code)]

pub mod stats;

use half::f16;
use rayon::prelude::*;

pub use crate::image::FrameView;
use crate::image::{Fit, Layout, Plan, Transform};

/// Largest ROI side (`S`): a batch of N ROIs takes `N x 3 x S x S` floats.
pub const MAX_ROI_SIZE: u32 = 1024;

pub use stats::{colour_stats, ColourStats, StatsAcc, StatsConfig, StatsParams, StatsRoi};

/// A rectangle of whole pixels inside a frame (`w`, `h` >= 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Why a box has no crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadBox {
    /// A coordinate is NaN or infinite.
    NotFinite,
    /// `x2 <= x1` or `y2 <= y1`.
    Empty,
    /// No pixel of the box lies inside the frame.
    Outside,
}

impl BadBox {
    pub fn as_str(self) -> &'static str {
        match self {
            BadBox::NotFinite => "non_finite_box",
            BadBox::Empty => "empty_box",
            BadBox::Outside => "outside_frame",
        }
    }
}

/// The crop of `bbox` ([x1, y1, x2, y2], frame pixels) expanded `expand` times around its centre
/// (1.0 = the box itself), and whether the (unexpanded) box reached outside the frame.
pub fn crop_of(bbox: [f32; 4], expand: f32, width: u32, height: u32) -> Result<(Crop, bool), BadBox> {
    if bbox.iter().any(|v| !v.is_finite()) {
        return Err(BadBox::NotFinite);
    }
    let [x1, y1, x2, y2] = bbox;
    if x2 <= x1 || y2 <= y1 {
        return Err(BadBox::Empty);
    }
    let (w, h) = (width as f32, height as f32);
    let clamped = x1 < 0.0 || y1 < 0.0 || x2 > w || y2 > h;
    let (cx, cy) = ((x1 + x2) * 0.5, (y1 + y2) * 0.5);
    let (hw, hh) = ((x2 - x1) * 0.5 * expand, (y2 - y1) * 0.5 * expand);
    let l = (cx - hw).max(0.0).floor();
    let t = (cy - hh).max(0.0).floor();
    let r = (cx + hw).min(w).ceil();
    let b = (cy + hh).min(h).ceil();
    if r <= l || b <= t || l >= w || t >= h {
        return Err(BadBox::Outside);
    }
    Ok((Crop { x: l as u32, y: t as u32, w: (r - l) as u32, h: (b - t) as u32 }, clamped))
}

/// Element type of the ROI tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoiDtype {
    #[default]
    F32,
    F16,
}

/// How ROIs are turned into classifier input.
#[derive(Debug, Clone, PartialEq)]
pub struct RoiSpec {
    /// Output side `S` (pixels).
    pub size: u32,
    /// Per tensor channel, pixel units (0..255).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub fit: Fit,
    pub dtype: RoiDtype,
    /// Swap the first and third channels between frame and tensor (RGB frames into a BGR
    /// tensor, or the reverse).
    pub swap_rb: bool,
}

impl Default for RoiSpec {
    /// CLIP's input: 224 x 224, its mean/std (RGB), stretched, float32.
    fn default() -> Self {
        Self {
            size: 224,
            mean: [0.48145466 * 255.0, 0.4578275 * 255.0, 0.40821073 * 255.0],
            std: [0.268_629_55 * 255.0, 0.261_302_6 * 255.0, 0.275_777_1 * 255.0],
            fit: Fit::Stretch,
            dtype: RoiDtype::F32,
            swap_rb: false,
        }
    }
}

/// One ROI as the CUDA kernels take it (`struct fv_roi` in kernels/roi.cu).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoiDesc {
    /// Byte offset of the crop's top-left pixel in the frames buffer.
    pub offset: u64,
    pub stride: u32,
    pub w: u32,
    pub h: u32,
    pub fit_x: u32,
    pub fit_y: u32,
    pub fit_w: u32,
    pub fit_h: u32,
}

/// Normalisation as the kernels take it (`struct fv_norm`): `out = pixel * scale + bias`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Norm {
    pub scale: [f32; 3],
    pub bias: [f32; 3],
    /// The padding's value after normalisation.
    pub pad: [f32; 3],
    /// 1: tensor channel c comes from frame channel 2 - c.
    pub swap_rb: u32,
}

impl RoiSpec {
    /// Elements per ROI in the tensor: `3 * S * S`.
    pub fn roi_len(&self) -> usize {
        3 * self.size as usize * self.size as usize
    }

    pub fn norm(&self) -> Norm {
        let scale = self.std.map(|s| 1.0 / s);
        let bias = [0, 1, 2].map(|c| -self.mean[c] * scale[c]);
        let p = match self.fit {
            Fit::Letterbox { pad } => pad as f32,
            Fit::Stretch => 0.0,
        };
        Norm { scale, bias, pad: [0, 1, 2].map(|c| p * scale[c] + bias[c]), swap_rb: self.swap_rb as u32 }
    }

    /// Where a `w x h` crop lands in the output: (fit_w, fit_h, fit_x, fit_y).
    pub fn placement(&self, w: u32, h: u32) -> (u32, u32, u32, u32) {
        Transform::placement(w, h, self.size, self.size, self.fit)
    }

    /// The kernel descriptor of `crop` in a frame whose first byte is at `frame_offset` of the
    /// frames buffer.
    pub fn desc(&self, frame_offset: u64, stride: usize, crop: Crop) -> RoiDesc {
        let (fit_w, fit_h, fit_x, fit_y) = self.placement(crop.w, crop.h);
        RoiDesc {
            offset: frame_offset + crop.y as u64 * stride as u64 + crop.x as u64 * 3,
            stride: stride as u32,
            w: crop.w,
            h: crop.h,
            fit_x,
            fit_y,
            fit_w,
            fit_h,
        }
    }
}

/// A batch of ROI tensors, `N x 3 x S x S`, reused across batches (it only grows).
#[derive(Debug, Clone, Default)]
pub struct RoiBatch {
    pub n: usize,
    pub size: u32,
    pub f32: Vec<f32>,
    /// Filled instead of `f32` when the spec asks for float16.
    pub f16: Vec<f16>,
}

impl RoiBatch {
    /// ROI `i` as float32 (converted when the batch holds float16).
    pub fn roi_f32(&self, i: usize) -> Vec<f32> {
        let len = 3 * self.size as usize * self.size as usize;
        if self.f16.len() >= (i + 1) * len && self.f32.len() < (i + 1) * len {
            self.f16[i * len..(i + 1) * len].iter().map(|v| v.to_f32()).collect()
        } else {
            self.f32[i * len..(i + 1) * len].to_vec()
        }
    }
}

/// One ROI to extract: which frame of the batch's frames, and its crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoiRef {
    pub frame: usize,
    pub crop: Crop,
}

/// Extracts every ROI into `out` (resized to `rois.len()` ROIs), in parallel over ROIs.
pub fn extract(frames: &[FrameView], rois: &[RoiRef], spec: &RoiSpec, out: &mut RoiBatch) {
    let len = spec.roi_len();
    out.n = rois.len();
    out.size = spec.size;
    // With swap_rb, plane k is made from frame channel k with tensor channel 2 - k's mean/std,
    // then planes 0 and 2 trade places.
    let (mean, std) = if spec.swap_rb {
        ([spec.mean[2], spec.mean[1], spec.mean[0]], [spec.std[2], spec.std[1], spec.std[0]])
    } else {
        (spec.mean, spec.std)
    };
    let plane = (spec.size * spec.size) as usize;
    let plan_of = |r: &RoiRef| {
        let (fit_w, fit_h, fit_x, fit_y) = spec.placement(r.crop.w, r.crop.h);
        let pad = match spec.fit {
            Fit::Letterbox { pad } => pad,
            Fit::Stretch => 0,
        };
        Plan::new(r.crop.w, r.crop.h, spec.size, spec.size, (fit_w, fit_h, fit_x, fit_y), Layout::Nchw, mean, std, pad)
    };
    let src_of = |r: &RoiRef| {
        let f = &frames[r.frame];
        (&f.data[f.offset(r.crop.x, r.crop.y)..], f.stride)
    };
    match spec.dtype {
        RoiDtype::F32 => {
            out.f32.resize(rois.len() * len, 0.0);
            out.f32[..rois.len() * len].par_chunks_mut(len).zip(rois).for_each(|(dst, r)| {
                let (src, stride) = src_of(r);
                plan_of(r).run(src, stride, dst);
                if spec.swap_rb {
                    let (p0, rest) = dst.split_at_mut(plane);
                    p0.swap_with_slice(&mut rest[plane..]);
                }
            });
        }
        RoiDtype::F16 => {
            out.f16.resize(rois.len() * len, f16::ZERO);
            out.f16[..rois.len() * len].par_chunks_mut(len).zip(rois).for_each_init(
                || vec![0.0f32; len],
                |tmp, (dst, r)| {
                    let (src, stride) = src_of(r);
                    plan_of(r).run(src, stride, tmp);
                    if spec.swap_rb {
                        let (p0, rest) = tmp.split_at_mut(plane);
                        p0.swap_with_slice(&mut rest[plane..]);
                    }
                    for (d, s) in dst.iter_mut().zip(tmp.iter()) {
                        *d = f16::from_f32(*s);
                    }
                },
            );
        }
    }
}

#[cfg(test)]
mod tests;
