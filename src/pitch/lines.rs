//! The pitch-line kernel's CPU implementation (it defines the semantics; kernels/lines.cu is the
//! same on CUDA, compared with this in every test run through the host harness): a white-line
//! mask as the Score Vision validator makes one before fitting segments to it,
//!
//! ```text
//! frame ─▶ gray (OpenCV luma), grass (HSV range) ─▶ top-hat(gray, 31x31) > 30  &  opening(grass, 5x5) ─▶ mask
//! ```
//! The segments the keypoint score reads are found in the mask by [`super::segments`].
#![forbid(unsafe_code)]

use super::segments::cv_round;
use crate::image::colour::{hsv_by, luma};
use crate::image::{ChannelOrder, FrameView};

/// The frame as the kernel takes it (`struct fv_line_frame`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineFrame {
    pub stride: u32,
    pub w: u32,
    pub h: u32,
    pub r_index: u32,
}

/// Parameters as the kernel takes them (`struct fv_line_params`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineParams {
    pub lower: [u32; 3],
    pub upper: [u32; 3],
    /// White when the top-hat is above this.
    pub white: u32,
}

impl Default for LineParams {
    /// The validator's: grass (35, 40, 40)..(85, 255, 255), white above 30.
    fn default() -> Self {
        Self { lower: [35, 40, 40], upper: [85, 255, 255], white: 30 }
    }
}

/// The top-hat's square (31 x 31) and the grass opening's (5 x 5), as radii.
pub const TOPHAT_RADIUS: u32 = 15;
pub const GRASS_RADIUS: u32 = 2;

impl LineFrame {
    pub fn of(view: &FrameView, order: ChannelOrder) -> Self {
        let r_index = if order == ChannelOrder::Bgr { 2 } else { 0 };
        Self { stride: view.stride as u32, w: view.width, h: view.height, r_index }
    }
}

/// `fovea_line_prep`: the gray and grass planes.
pub fn prep(view: &FrameView, order: ChannelOrder, p: &LineParams) -> (Vec<u8>, Vec<u8>) {
    let f = LineFrame::of(view, order);
    let (w, h) = (f.w as usize, f.h as usize);
    let ri = f.r_index as usize;
    let mut gray = vec![0u8; w * h];
    let mut grass = vec![0u8; w * h];
    let (lo, hi) = (p.lower.map(|v| v.min(i32::MAX as u32) as i32), p.upper.map(|v| v.min(i32::MAX as u32) as i32));
    for y in 0..h {
        let row = &view.data[y * view.stride..y * view.stride + w * 3];
        prep_row(row, ri == 0, lo, hi, &mut gray[y * w..(y + 1) * w], &mut grass[y * w..(y + 1) * w]);
    }
    (gray, grass)
}

/// One row of [`prep`], pixel by pixel without a branch or a table read, so that it vectorises:
/// OpenCV's HSV division tables are the float quotients `1044480 / v` and `122880 / d` rounded
/// (equal to [`crate::image::colour::hsv_tables`] on all 255 entries, checked by a test).
#[multiversion::multiversion(targets = "simd")]
fn prep_row(px: &[u8], rgb: bool, lo: [i32; 3], hi: [i32; 3], gray: &mut [u8], grass: &mut [u8]) {
    let n = gray.len().min(grass.len()).min(px.len() / 3);
    let (px, gray, grass) = (&px[..n * 3], &mut gray[..n], &mut grass[..n]);
    for k in 0..n {
        let (c0, c1, c2) = (px[k * 3] as i32, px[k * 3 + 1] as i32, px[k * 3 + 2] as i32);
        let (r, g, b) = if rgb { (c0, c1, c2) } else { (c2, c1, c0) };
        gray[k] = luma(r as u32, g as u32, b as u32) as u8;
        let sdiv = |v: i32| if v == 0 { 0 } else { cv_round(1_044_480.0 / v as f32) };
        let hdiv = |d: i32| if d == 0 { 0 } else { cv_round(122_880.0 / d as f32) };
        let (hh, s, v) = hsv_by(r, g, b, sdiv, hdiv);
        grass[k] = ((hh >= lo[0]) & (hh <= hi[0]) & (s >= lo[1]) & (s <= hi[1]) & (v >= lo[2]) & (v <= hi[2])) as u8;
    }
}

/// `fovea_line_window`: min (or max) of `src` over `[i - radius, i + radius]` along rows
/// (`columns` false) or columns, inside the plane.
pub fn window(src: &[u8], w: usize, h: usize, radius: usize, columns: bool, is_max: bool) -> Vec<u8> {
    let mut dst = vec![0u8; w * h];
    window_with(src, &mut dst, &mut Vec::new(), w, h, radius, columns, is_max);
    dst
}

/// [`window`] into `dst`, with `pad` for the column pass's rows.
#[allow(clippy::too_many_arguments)]
fn window_with(src: &[u8], dst: &mut [u8], pad: &mut Vec<u8>, w: usize, h: usize, radius: usize, columns: bool, is_max: bool) {
    match is_max {
        true => window_into(src, dst, pad, w, h, radius, columns, 0, u8::max),
        false => window_into(src, dst, pad, w, h, radius, columns, u8::MAX, u8::min),
    }
}

/// The window as a doubling: after k steps a cell holds the extremum of the 2^k cells from it on,
/// and the window of `2 radius + 1` is two such spans that overlap; outside the plane counts as
/// `ident` (ignored). About log2(radius) operations a pixel instead of `radius`, in whole-row
/// loops that the compiler vectorises (they are bound by memory).
#[allow(clippy::too_many_arguments)]
fn window_into(
    src: &[u8],
    dst: &mut [u8],
    pad: &mut Vec<u8>,
    w: usize,
    h: usize,
    radius: usize,
    columns: bool,
    ident: u8,
    pick: impl Fn(u8, u8) -> u8 + Copy,
) {
    let span = 2 * radius + 1;
    let mut p = 1;
    while 2 * p <= span {
        p *= 2;
    }
    let both = |out: &mut [u8], a: &[u8], b: &[u8]| out.iter_mut().zip(a).zip(b).for_each(|((o, a), b)| *o = pick(*a, *b));
    if columns {
        // The plane between `radius` rows of `ident` above and below, rows as whole vectors; the
        // first step reads the plane itself (row i: plane row i - radius).
        let rows = h + 2 * radius;
        if p == 1 {
            dst[..w * h].copy_from_slice(&src[..w * h]);
            return;
        }
        let buf = pad;
        buf.resize(rows * w, ident);
        let plane = |i: usize| (i >= radius && i - radius < h).then(|| &src[(i - radius) * w..][..w]);
        for i in 0..rows {
            let out = &mut buf[i * w..(i + 1) * w];
            match (plane(i), if i + 1 < rows { plane(i + 1) } else { None }) {
                (Some(a), Some(b)) => both(out, a, b),
                // Beside `ident` a row is itself (and the last row has no next).
                (Some(a), None) | (None, Some(a)) => out.copy_from_slice(a),
                (None, None) => out.fill(ident),
            }
        }
        let mut q = 2;
        while q < p {
            for i in 0..rows - q {
                let (a, b) = buf.split_at_mut((i + q) * w);
                extremum(&mut a[i * w..], &b[..w], pick);
            }
            q *= 2;
        }
        for y in 0..h {
            both(&mut dst[y * w..(y + 1) * w], &buf[y * w..][..w], &buf[(y + span - p) * w..][..w]);
        }
    } else {
        let (mut buf, mut next) = (vec![ident; w + 2 * radius], vec![ident; w + 2 * radius]);
        for y in 0..h {
            buf[radius..radius + w].copy_from_slice(&src[y * w..(y + 1) * w]);
            buf[..radius].fill(ident);
            buf[radius + w..].fill(ident);
            let len = buf.len();
            let mut q = 1;
            while q < p {
                both(&mut next[..len - q], &buf[..len - q], &buf[q..]);
                std::mem::swap(&mut buf, &mut next);
                q *= 2;
            }
            both(&mut dst[y * w..(y + 1) * w], &buf[..w], &buf[span - p..span - p + w]);
        }
    }
}

/// `out[k] = pick(out[k], other[k])` over the shorter of the two (a function of its own: its
/// arguments cannot overlap, and the loop vectorises).
#[inline(always)]
fn extremum(out: &mut [u8], other: &[u8], pick: impl Fn(u8, u8) -> u8) {
    let n = out.len().min(other.len());
    let (out, other) = (&mut out[..n], &other[..n]);
    for k in 0..n {
        out[k] = pick(out[k], other[k]);
    }
}

/// OpenCV's opening (erode, then dilate) with a square of side `2 radius + 1`.
pub fn opening(src: &[u8], w: usize, h: usize, radius: usize) -> Vec<u8> {
    let (mut out, mut tmp) = (vec![0u8; w * h], vec![0u8; w * h]);
    opening_into(src, &mut out, &mut tmp, &mut Vec::new(), w, h, radius);
    out
}

/// [`opening`] into `out`, with `tmp` (a plane) and `pad` as working space.
fn opening_into(src: &[u8], out: &mut [u8], tmp: &mut [u8], pad: &mut Vec<u8>, w: usize, h: usize, radius: usize) {
    window_with(src, tmp, pad, w, h, radius, false, false);
    window_with(tmp, out, pad, w, h, radius, true, false);
    window_with(out, tmp, pad, w, h, radius, false, true);
    window_with(tmp, out, pad, w, h, radius, true, true);
}

/// `fovea_line_mask`: white line pixels on grass (0/1).
pub fn mask_of(gray: &[u8], opened: &[u8], grass: &[u8], white: u32) -> Vec<u8> {
    let mut mask = vec![0u8; gray.len().min(opened.len()).min(grass.len())];
    mask_into(gray, opened, grass, white.min(255) as u8, &mut mask);
    mask
}

/// `mask = (gray - opened > white) & grass` (an opening is never above its plane).
#[multiversion::multiversion(targets = "simd")]
fn mask_into(gray: &[u8], opened: &[u8], grass: &[u8], white: u8, mask: &mut [u8]) {
    let n = mask.len();
    let (gray, opened, grass) = (&gray[..n], &opened[..n], &grass[..n]);
    for k in 0..n {
        mask[k] = ((gray[k].wrapping_sub(opened[k]) > white) & (grass[k] != 0)) as u8;
    }
}

/// The whole line mask of a frame on the CPU.
pub fn line_mask(view: &FrameView, order: ChannelOrder, p: &LineParams) -> Vec<u8> {
    line_planes(view, order, p).0
}

/// The line mask and the opened grass mask (the validator checks its segments against the
/// latter) of a frame on the CPU.
pub fn line_planes(view: &FrameView, order: ChannelOrder, p: &LineParams) -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (view.width as usize, view.height as usize);
    let (gray, grass) = prep(view, order, p);
    let (mut opened, mut tmp, mut pad) = (vec![0u8; w * h], vec![0u8; w * h], Vec::new());
    opening_into(&gray, &mut opened, &mut tmp, &mut pad, w, h, TOPHAT_RADIUS as usize);
    let mut grass_opened = vec![0u8; w * h];
    opening_into(&grass, &mut grass_opened, &mut tmp, &mut pad, w, h, GRASS_RADIUS as usize);
    // The top-hat's working plane becomes the mask.
    mask_into(&gray, &opened, &grass_opened, p.white.min(255) as u8, &mut tmp);
    (tmp, grass_opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::colour::{hsv, hsv_tables};

    #[test]
    fn the_float_quotients_are_opencvs_division_tables() {
        let (sdiv, hdiv) = hsv_tables();
        for i in 1..256 {
            assert_eq!(cv_round(1_044_480.0 / i as f32), sdiv[i], "sdiv[{i}]");
            assert_eq!(cv_round(122_880.0 / i as f32), hdiv[i], "hdiv[{i}]");
        }
    }

    #[test]
    fn a_row_is_opencvs_gray_and_hsv_range_on_every_colour_class() {
        // Every (r, g, b) on a 6-step lattice plus the range's edges, in both channel orders.
        let (sdiv, hdiv) = hsv_tables();
        let steps: Vec<i32> = (0..=255).step_by(6).chain([34, 35, 36, 39, 40, 41, 84, 85, 86, 254, 255]).collect();
        let mut px = Vec::new();
        for &r in &steps {
            for &g in &steps {
                for &b in &steps {
                    px.extend([r as u8, g as u8, b as u8]);
                }
            }
        }
        let p = LineParams::default();
        let (lo, hi) = (p.lower.map(|v| v as i32), p.upper.map(|v| v as i32));
        let n = px.len() / 3;
        for rgb in [true, false] {
            let (mut gray, mut grass) = (vec![0u8; n], vec![0u8; n]);
            prep_row(&px, rgb, lo, hi, &mut gray, &mut grass);
            for k in 0..n {
                let q = &px[k * 3..k * 3 + 3];
                let (r, g, b) = if rgb { (q[0], q[1], q[2]) } else { (q[2], q[1], q[0]) };
                assert_eq!(gray[k] as u32, luma(r as u32, g as u32, b as u32));
                let (hh, s, v) = hsv(r as i32, g as i32, b as i32, &sdiv, &hdiv);
                let inside = (0..3).all(|c| [hh, s, v][c] >= lo[c] && [hh, s, v][c] <= hi[c]);
                assert_eq!(grass[k] != 0, inside, "({r}, {g}, {b})");
            }
        }
    }
}
