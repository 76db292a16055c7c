//! The pitch-line kernel's CPU implementation (it defines the semantics; kernels/lines.cu is the
//! same on CUDA, compared with this in every test run through the host harness): a white-line
//! mask as the Score Vision validator makes one before fitting segments to it,
//!
//! ```text
//! frame ─▶ gray (OpenCV luma), grass (HSV range) ─▶ top-hat(gray, 31x31) > 30  &  opening(grass, 5x5) ─▶ mask
//! ```
//! The segments the keypoint score reads are found in the mask by [`super::segments`].
#![forbid(unsafe_code)]

use crate::image::colour::{hsv, hsv_tables, luma};
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
    let (sdiv, hdiv) = hsv_tables();
    let ri = f.r_index as usize;
    let mut gray = vec![0u8; w * h];
    let mut grass = vec![0u8; w * h];
    for y in 0..h {
        let row = &view.data[y * view.stride..y * view.stride + w * 3];
        for x in 0..w {
            let q = &row[x * 3..x * 3 + 3];
            let (r, g, b) = (q[ri] as i32, q[1] as i32, q[2 - ri] as i32);
            gray[y * w + x] = luma(r as u32, g as u32, b as u32) as u8;
            let (hh, s, v) = hsv(r, g, b, &sdiv, &hdiv);
            let inside = |v: i32, c: usize| (v as u32) >= p.lower[c] && (v as u32) <= p.upper[c];
            grass[y * w + x] = (inside(hh, 0) && inside(s, 1) && inside(v, 2)) as u8;
        }
    }
    (gray, grass)
}

/// `fovea_line_window`: min (or max) of `src` over `[i - radius, i + radius]` along rows
/// (`columns` false) or columns, inside the plane. Written as whole-row operations so that the
/// compiler vectorises them.
pub fn window(src: &[u8], w: usize, h: usize, radius: usize, columns: bool, is_max: bool) -> Vec<u8> {
    let pick = |a: u8, b: u8| if is_max { a.max(b) } else { a.min(b) };
    let mut dst = src.to_vec();
    if columns {
        for y in 0..h {
            let (lo, hi) = (y.saturating_sub(radius), (y + radius).min(h - 1));
            let out = &mut dst[y * w..(y + 1) * w];
            for k in lo..=hi {
                let row = &src[k * w..(k + 1) * w];
                out.iter_mut().zip(row).for_each(|(o, v)| *o = pick(*o, *v));
            }
        }
    } else {
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            let out = &mut dst[y * w..(y + 1) * w];
            for d in 1..=radius.min(w.saturating_sub(1)) {
                // Neighbours d to the right and d to the left.
                out[..w - d].iter_mut().zip(&row[d..]).for_each(|(o, v)| *o = pick(*o, *v));
                out[d..].iter_mut().zip(&row[..w - d]).for_each(|(o, v)| *o = pick(*o, *v));
            }
        }
    }
    dst
}

/// OpenCV's opening (erode, then dilate) with a square of side `2 radius + 1`.
pub fn opening(src: &[u8], w: usize, h: usize, radius: usize) -> Vec<u8> {
    let e = window(&window(src, w, h, radius, false, false), w, h, radius, true, false);
    window(&window(&e, w, h, radius, false, true), w, h, radius, true, true)
}

/// `fovea_line_mask`: white line pixels on grass (0/1).
pub fn mask_of(gray: &[u8], opened: &[u8], grass: &[u8], white: u32) -> Vec<u8> {
    gray.iter().zip(opened).zip(grass).map(|((g, o), s)| ((g - o) as u32 > white && *s != 0) as u8).collect()
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
    let opened = opening(&gray, w, h, TOPHAT_RADIUS as usize);
    let grass = opening(&grass, w, h, GRASS_RADIUS as usize);
    (mask_of(&gray, &opened, &grass, p.white), grass)
}
