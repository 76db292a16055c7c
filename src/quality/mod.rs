//! Frame quality for key-frame selection: brightness, contrast, sharpness (variance of the
//! Laplacian), colourfulness (Hasler and Suesstrunk), exposure, a colour histogram and a 64-bit
//! difference hash, per frame.
//!
//! Both backends (this module's Rust, kernels/quality.cu on a GPU) compute the same exact integer
//! sums ([`QualityAcc`], `struct fv_quality_acc`); [`QualityAcc::finish`] turns them into
//! [`FrameQuality`]. Luma is OpenCV's 8-bit `RGB2GRAY`, bit-exact; the Laplacian is
//! `cv::Laplacian(gray, CV_64F, 1)` over the interior pixels (the frame's one-pixel border, whose
//! value depends on a border rule, is left out).
#![forbid(unsafe_code)]

use rayon::prelude::*;
use serde::Serialize;

use crate::image::{ChannelOrder, FrameView};

/// Bins of the colour histogram: 4 per channel, R-major (`(r >> 6) * 16 + (g >> 6) * 4 + (b >> 6)`).
pub const BINS: usize = 64;
/// The difference hash's grid: 9 x 8 cells of mean luma, compared left to right.
pub const HASH_W: usize = 9;
pub const HASH_H: usize = 8;

/// One frame as the kernel takes it (`struct fv_quality_frame`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QualityFrame {
    pub offset: u64,
    pub stride: u32,
    pub w: u32,
    pub h: u32,
}

/// Parameters as the kernel takes them (`struct fv_quality_params`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualityParams {
    /// Byte of a pixel holding red: 0 for RGB, 2 for BGR.
    pub r_index: u32,
    /// A pixel is under-exposed when its luma is below this, over-exposed above `over`.
    pub under: u32,
    pub over: u32,
}

impl QualityParams {
    /// Under-exposed below luma 16, over-exposed above 239 (the video range's ends).
    pub fn new(order: ChannelOrder) -> Self {
        let r_index = match order {
            ChannelOrder::Rgb => 0,
            ChannelOrder::Bgr => 2,
        };
        Self { r_index, under: 16, over: 239 }
    }
}

/// Exact sums over a frame (`struct fv_quality_acc`). The `sum_lap`, `sum_rg` and `sum_yb`
/// fields are signed sums in two's complement.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualityAcc {
    pub sum_y: u64,
    pub sumsq_y: u64,
    pub sum_lap: u64,
    pub sumsq_lap: u64,
    pub sum_rg: u64,
    pub sumsq_rg: u64,
    pub sum_yb: u64,
    pub sumsq_yb: u64,
    pub under: u64,
    pub over: u64,
    pub hist: [u64; BINS],
    pub cells: [u64; HASH_W * HASH_H],
}

impl Default for QualityAcc {
    fn default() -> Self {
        Self {
            sum_y: 0,
            sumsq_y: 0,
            sum_lap: 0,
            sumsq_lap: 0,
            sum_rg: 0,
            sumsq_rg: 0,
            sum_yb: 0,
            sumsq_yb: 0,
            under: 0,
            over: 0,
            hist: [0; BINS],
            cells: [0; HASH_W * HASH_H],
        }
    }
}

/// The quality measures of one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameQuality {
    /// Mean luma, 0..255.
    pub brightness: f64,
    /// Standard deviation of luma.
    pub contrast: f64,
    /// Variance of the Laplacian of luma (higher is sharper).
    pub sharpness: f64,
    /// Hasler and Suesstrunk's colourfulness: sigma_rgyb + 0.3 mu_rgyb.
    pub colourfulness: f64,
    /// Fractions of pixels with luma below 16 and above 239.
    pub underexposed: f64,
    pub overexposed: f64,
    /// The colour histogram, normalised to sum 1.
    #[serde(skip)]
    pub hist: [f32; BINS],
    /// The 64-bit difference hash: bit `8 r + c` is set when cell (r, c) is brighter than (r, c + 1).
    pub dhash: u64,
}

impl AsRef<FrameQuality> for FrameQuality {
    fn as_ref(&self) -> &FrameQuality {
        self
    }
}

/// OpenCV's 8-bit RGB to grey, bit-exact ([`crate::image::colour::luma`]), for signed sums.
#[inline]
fn luma(r: u32, g: u32, b: u32) -> i64 {
    crate::image::colour::luma(r, g, b) as i64
}

/// The sums of one frame (the Rust twin of `fovea_frame_quality`).
pub fn accumulate(frame: &FrameView, p: &QualityParams) -> QualityAcc {
    let (ri, bi) = (p.r_index as usize, 2 - p.r_index as usize);
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut a = QualityAcc::default();
    if w == 0 || h == 0 {
        return a;
    }
    let luma_row = |y: usize, out: &mut Vec<i64>| {
        out.clear();
        let row = &frame.data[y * frame.stride..][..w * 3];
        out.extend(row.chunks_exact(3).map(|px| luma(px[ri] as u32, px[1] as u32, px[bi] as u32)));
    };
    let (mut above, mut here, mut below) = (Vec::with_capacity(w), Vec::with_capacity(w), Vec::with_capacity(w));
    luma_row(0, &mut here);
    let (mut sum_lap, mut sum_rg, mut sum_yb) = (0i64, 0i64, 0i64);
    let col_cell: Vec<usize> = (0..w).map(|x| x * HASH_W / w).collect();
    for y in 0..h {
        if y + 1 < h {
            luma_row(y + 1, &mut below);
        }
        let row = &frame.data[y * frame.stride..][..w * 3];
        let cy = y * HASH_H / h;
        for (x, px) in row.chunks_exact(3).enumerate() {
            let (r, g, b) = (px[ri] as i64, px[1] as i64, px[bi] as i64);
            let lum = here[x];
            a.sum_y += lum as u64;
            a.sumsq_y += (lum * lum) as u64;
            a.under += ((lum as u32) < p.under) as u64;
            a.over += ((lum as u32) > p.over) as u64;
            let (rg, yb) = (r - g, r + g - 2 * b);
            sum_rg += rg;
            a.sumsq_rg += (rg * rg) as u64;
            sum_yb += yb;
            a.sumsq_yb += (yb * yb) as u64;
            if x > 0 && y > 0 && x + 1 < w && y + 1 < h {
                let lap = here[x - 1] + here[x + 1] + above[x] + below[x] - 4 * lum;
                sum_lap += lap;
                a.sumsq_lap += (lap * lap) as u64;
            }
            a.hist[((r >> 6) * 16 + (g >> 6) * 4 + (b >> 6)) as usize] += 1;
            a.cells[cy * HASH_W + col_cell[x]] += lum as u64;
        }
        std::mem::swap(&mut above, &mut here);
        std::mem::swap(&mut here, &mut below);
    }
    a.sum_lap = sum_lap as u64;
    a.sum_rg = sum_rg as u64;
    a.sum_yb = sum_yb as u64;
    a
}

/// The measures of every frame, in parallel over frames.
pub fn measure(frames: &[FrameView], p: &QualityParams) -> Vec<FrameQuality> {
    frames.par_iter().map(|f| accumulate(f, p).finish(f.width, f.height)).collect()
}

/// Pixels of each hash cell of a `w` x `h` frame (cell of pixel x is `x * 9 / w`).
fn cell_counts(w: u32, h: u32) -> [u64; HASH_W * HASH_H] {
    let mut cols = [0u64; HASH_W];
    for x in 0..w as usize {
        cols[x * HASH_W / w as usize] += 1;
    }
    let mut rows = [0u64; HASH_H];
    for y in 0..h as usize {
        rows[y * HASH_H / h as usize] += 1;
    }
    let mut n = [0u64; HASH_W * HASH_H];
    for (r, nr) in rows.iter().enumerate() {
        for (c, nc) in cols.iter().enumerate() {
            n[r * HASH_W + c] = nr * nc;
        }
    }
    n
}

impl QualityAcc {
    /// The measures of a `w` x `h` frame from its sums.
    pub fn finish(&self, w: u32, h: u32) -> FrameQuality {
        let n = w as f64 * h as f64;
        if n == 0.0 {
            return FrameQuality {
                brightness: 0.0,
                contrast: 0.0,
                sharpness: 0.0,
                colourfulness: 0.0,
                underexposed: 0.0,
                overexposed: 0.0,
                hist: [0.0; BINS],
                dhash: 0,
            };
        }
        let var = |sum: f64, sumsq: f64, n: f64| (sumsq / n - (sum / n) * (sum / n)).max(0.0);
        let brightness = self.sum_y as f64 / n;
        let contrast = var(self.sum_y as f64, self.sumsq_y as f64, n).sqrt();
        let interior = (w.saturating_sub(2) as f64) * (h.saturating_sub(2) as f64);
        let sharpness = if interior > 0.0 { var(self.sum_lap as i64 as f64, self.sumsq_lap as f64, interior) } else { 0.0 };
        // yb = (R + G) / 2 - B = yb2 / 2.
        let (mrg, myb) = (self.sum_rg as i64 as f64 / n, self.sum_yb as i64 as f64 / n / 2.0);
        let vrg = var(self.sum_rg as i64 as f64, self.sumsq_rg as f64, n);
        let vyb = var(self.sum_yb as i64 as f64, self.sumsq_yb as f64, n) / 4.0;
        let colourfulness = (vrg + vyb).sqrt() + 0.3 * (mrg * mrg + myb * myb).sqrt();
        let mut hist = [0f32; BINS];
        for (o, &c) in hist.iter_mut().zip(&self.hist) {
            *o = (c as f64 / n) as f32;
        }
        let counts = cell_counts(w, h);
        let mut dhash = 0u64;
        for r in 0..HASH_H {
            for c in 0..HASH_W - 1 {
                let (i, j) = (r * HASH_W + c, r * HASH_W + c + 1);
                // mean_i > mean_j, exactly: sum_i * n_j > sum_j * n_i (u128: no overflow).
                if (self.cells[i] as u128) * (counts[j] as u128) > (self.cells[j] as u128) * (counts[i] as u128) {
                    dhash |= 1 << (r * (HASH_W - 1) + c);
                }
            }
        }
        FrameQuality {
            brightness,
            contrast,
            sharpness,
            colourfulness,
            underexposed: self.under as f64 / n,
            overexposed: self.over as f64 / n,
            hist,
            dhash,
        }
    }
}

/// Hamming distance of two difference hashes (0 = same structure, 64 = opposite).
pub fn hash_distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Chi-square-like distance of two normalised histograms, in 0..=1 (0 = same colours, 1 = no
/// colour in common): half the L1 distance.
pub fn hist_distance(a: &[f32; BINS], b: &[f32; BINS]) -> f64 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::test_frame as frame;

    #[test]
    fn a_flat_grey_frame_has_no_contrast_sharpness_or_colour() {
        let data = frame(32, 20, |_, _| [128, 128, 128]);
        let v = FrameView { data: &data, width: 32, height: 20, stride: 96 };
        let q = accumulate(&v, &QualityParams::new(ChannelOrder::Rgb)).finish(32, 20);
        assert_eq!(q.brightness, 128.0);
        assert_eq!((q.contrast, q.sharpness, q.colourfulness), (0.0, 0.0, 0.0));
        assert_eq!((q.underexposed, q.overexposed), (0.0, 0.0));
        assert_eq!(q.dhash, 0);
        assert_eq!(q.hist[2 * 16 + 2 * 4 + 2], 1.0);
    }

    #[test]
    fn a_checkerboard_is_sharp_and_its_hash_follows_a_gradient() {
        let data = frame(40, 30, |x, y| if (x + y) % 2 == 0 { [255, 255, 255] } else { [0, 0, 0] });
        let v = FrameView { data: &data, width: 40, height: 30, stride: 120 };
        let q = accumulate(&v, &QualityParams::new(ChannelOrder::Rgb)).finish(40, 30);
        // Every interior Laplacian is +-1020: variance 1020^2.
        assert!((q.sharpness - 1020.0 * 1020.0).abs() < 1e-6, "{}", q.sharpness);
        assert!((q.underexposed - 0.5).abs() < 1e-12 && (q.overexposed - 0.5).abs() < 1e-12);
        // A left-to-right darkening ramp sets every hash bit; the mirror image none.
        let ramp = frame(90, 16, |x, _| [255 - (x as u8) * 2; 3]);
        let v = FrameView { data: &ramp, width: 90, height: 16, stride: 270 };
        assert_eq!(accumulate(&v, &QualityParams::new(ChannelOrder::Rgb)).finish(90, 16).dhash, u64::MAX);
        let ramp = frame(90, 16, |x, _| [(x as u8) * 2; 3]);
        let v = FrameView { data: &ramp, width: 90, height: 16, stride: 270 };
        assert_eq!(accumulate(&v, &QualityParams::new(ChannelOrder::Rgb)).finish(90, 16).dhash, 0);
    }

    #[test]
    fn colourfulness_is_hasler_suesstrunk_and_channel_order_is_honoured() {
        // Half pure red, half pure blue: rg in {255, 0}, yb in {127.5, -255}.
        let data = frame(10, 10, |x, _| if x < 5 { [255, 0, 0] } else { [0, 0, 255] });
        let v = FrameView { data: &data, width: 10, height: 10, stride: 30 };
        let q = accumulate(&v, &QualityParams::new(ChannelOrder::Rgb)).finish(10, 10);
        let (rg, yb) = ([255.0f64, 0.0], [127.5f64, -255.0]);
        let m = |a: [f64; 2]| (a[0] + a[1]) / 2.0;
        let var = |a: [f64; 2]| ((a[0] - m(a)).powi(2) + (a[1] - m(a)).powi(2)) / 2.0;
        let expect = (var(rg) + var(yb)).sqrt() + 0.3 * (m(rg).powi(2) + m(yb).powi(2)).sqrt();
        assert!((q.colourfulness - expect).abs() < 1e-9, "{} vs {expect}", q.colourfulness);
        // Read as BGR, the red half is blue: its pixels land in the blue bin.
        let b = accumulate(&v, &QualityParams::new(ChannelOrder::Bgr)).finish(10, 10);
        assert_eq!(b.hist[3], q.hist[3 * 16]);
    }

    #[test]
    fn distances() {
        assert_eq!(hash_distance(0, u64::MAX), 64);
        let mut a = [0f32; BINS];
        let mut b = [0f32; BINS];
        a[0] = 1.0;
        b[1] = 1.0;
        assert_eq!(hist_distance(&a, &b), 1.0);
        assert_eq!(hist_distance(&a, &a), 0.0);
    }
}
