//! Colour statistics of a ROI: per-channel mean and standard deviation, brightness, green
//! dominance, the fraction of pixels in an HSV range (grass) and the fraction of dark pixels.
//!
//! Both backends first compute exact integer sums ([`StatsAcc`]); [`StatsAcc::finish`] turns
//! them into [`ColourStats`]. HSV is OpenCV's 8-bit HSV (`cv::cvtColor(..., COLOR_RGB2HSV)`:
//! H in [0, 180), S and V in [0, 255]), bit-exact, including its rounding tables.
#![forbid(unsafe_code)]

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Crop, FrameView};
use crate::image::ChannelOrder;
pub use crate::results::ColourStats;

/// What counts as grass and as dark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// Inclusive HSV range, OpenCV units: H 0..180, S and V 0..255.
    pub green_lower: [u32; 3],
    pub green_upper: [u32; 3],
    /// A pixel is dark when its V (max of R, G, B) is below this.
    pub dark_below: u32,
}

impl Default for StatsConfig {
    /// The grass range the Score Vision validator uses, (35, 40, 40)-(85, 255, 255); dark below 40.
    fn default() -> Self {
        Self { green_lower: [35, 40, 40], green_upper: [85, 255, 255], dark_below: 40 }
    }
}

/// One ROI as the statistics kernel takes it (`struct fv_stats_roi` in kernels/colour.cu).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsRoi {
    pub offset: u64,
    pub stride: u32,
    pub w: u32,
    pub h: u32,
}

impl StatsRoi {
    pub fn new(frame_offset: u64, stride: usize, crop: Crop) -> Self {
        Self { offset: frame_offset + crop.y as u64 * stride as u64 + crop.x as u64 * 3, stride: stride as u32, w: crop.w, h: crop.h }
    }
}

/// Parameters as the kernel takes them (`struct fv_stats_params`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsParams {
    /// Byte of a pixel holding red: 0 for RGB, 2 for BGR.
    pub r_index: u32,
    pub lower: [u32; 3],
    pub upper: [u32; 3],
    pub dark_v: u32,
}

impl StatsParams {
    pub fn new(config: &StatsConfig, order: ChannelOrder) -> Self {
        let r_index = match order {
            ChannelOrder::Rgb => 0,
            ChannelOrder::Bgr => 2,
        };
        Self { r_index, lower: config.green_lower, upper: config.green_upper, dark_v: config.dark_below }
    }
}

/// Exact sums over a ROI's pixels (`struct fv_stats_acc`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsAcc {
    /// R, G, B.
    pub sum: [u64; 3],
    pub sumsq: [u64; 3],
    pub in_range: u64,
    pub dark: u64,
}

impl StatsAcc {
    pub fn finish(&self, pixels: u64) -> ColourStats {
        if pixels == 0 {
            return ColourStats::default();
        }
        let n = pixels as f64;
        let mean = [0, 1, 2].map(|c| self.sum[c] as f64 / n);
        let std = [0, 1, 2].map(|c| (self.sumsq[c] as f64 / n - mean[c] * mean[c]).max(0.0).sqrt());
        ColourStats {
            pixels,
            mean: mean.map(|v| v as f32),
            std: std.map(|v| v as f32),
            brightness: (0.299 * mean[0] + 0.587 * mean[1] + 0.114 * mean[2]) as f32,
            green_dominance: (mean[1] - mean[0].max(mean[2])) as f32,
            green_fraction: (self.in_range as f64 / n) as f32,
            dark_fraction: (self.dark as f64 / n) as f32,
        }
    }
}

pub use crate::image::colour::{hsv, hsv_tables};

/// Sums of one ROI.
pub fn accumulate(frame: &FrameView, crop: Crop, p: &StatsParams, tables: &([i32; 256], [i32; 256])) -> StatsAcc {
    let (sdiv, hdiv) = tables;
    let (ri, bi) = (p.r_index as usize, 2 - p.r_index as usize);
    let mut a = StatsAcc::default();
    for y in crop.y..crop.y + crop.h {
        let row = &frame.data[frame.offset(crop.x, y)..][..crop.w as usize * 3];
        let (mut s, mut q) = ([0u64; 3], [0u64; 3]);
        let (mut inr, mut dark) = (0u64, 0u64);
        for px in row.chunks_exact(3) {
            let (r, g, b) = (px[ri] as i32, px[1] as i32, px[bi] as i32);
            s[0] += r as u64;
            s[1] += g as u64;
            s[2] += b as u64;
            q[0] += (r * r) as u64;
            q[1] += (g * g) as u64;
            q[2] += (b * b) as u64;
            let (h, sat, v) = hsv(r, g, b, sdiv, hdiv);
            let (h, sat, v) = (h as u32, sat as u32, v as u32);
            inr +=
                (h >= p.lower[0] && h <= p.upper[0] && sat >= p.lower[1] && sat <= p.upper[1] && v >= p.lower[2] && v <= p.upper[2]) as u64;
            dark += (v < p.dark_v) as u64;
        }
        for c in 0..3 {
            a.sum[c] += s[c];
            a.sumsq[c] += q[c];
        }
        a.in_range += inr;
        a.dark += dark;
    }
    a
}

/// Statistics of every `(frame, crop)`, in parallel over ROIs.
pub fn colour_stats(frames: &[FrameView], rois: &[(usize, Crop)], p: &StatsParams) -> Vec<ColourStats> {
    let tables = hsv_tables();
    rois.par_iter().map(|&(f, crop)| accumulate(&frames[f], crop, p, &tables).finish(crop.w as u64 * crop.h as u64)).collect()
}

/// Jersey colour of a person's box: the mean R, G, B of the pixels of its upper body (rows 15% to
/// 50% of the box's height, the middle 60% of its width) that are neither grass (the HSV range)
/// nor dark; None when fewer than 8 such pixels.
pub fn jersey_colour(frame: &FrameView, crop: Crop, p: &StatsParams, tables: &([i32; 256], [i32; 256])) -> Option<[f32; 3]> {
    let (sdiv, hdiv) = tables;
    let (ri, bi) = (p.r_index as usize, 2 - p.r_index as usize);
    let y0 = crop.y + crop.h * 15 / 100;
    let y1 = (crop.y + crop.h / 2).max(y0 + 1).min(crop.y + crop.h);
    let x0 = crop.x + crop.w / 5;
    let x1 = (crop.x + crop.w * 4 / 5).max(x0 + 1).min(crop.x + crop.w);
    let (mut s, mut n) = ([0u64; 3], 0u64);
    for y in y0..y1 {
        let row = &frame.data[frame.offset(x0, y)..][..(x1 - x0) as usize * 3];
        for px in row.chunks_exact(3) {
            let (r, g, b) = (px[ri] as i32, px[1] as i32, px[bi] as i32);
            let (h, sat, v) = hsv(r, g, b, sdiv, hdiv);
            let (h, sat, v) = (h as u32, sat as u32, v as u32);
            let grass = h >= p.lower[0] && h <= p.upper[0] && sat >= p.lower[1] && sat <= p.upper[1] && v >= p.lower[2] && v <= p.upper[2];
            if grass || v < p.dark_v {
                continue;
            }
            s[0] += r as u64;
            s[1] += g as u64;
            s[2] += b as u64;
            n += 1;
        }
    }
    (n >= 8).then(|| s.map(|v| v as f32 / n as f32))
}
