//! The bilinear resize + normalisation plan (OpenCV `INTER_LINEAR` rules) shared by the
//! detector's CPU preprocessing and the ROI stage.
#![forbid(unsafe_code)]

use super::Layout;

/// Per output coordinate: first source index, second source index, weight of the second.
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    idx0: Vec<u32>,
    idx1: Vec<u32>,
    w1: Vec<f32>,
}

impl Taps {
    /// Taps mapping `dst` output samples onto `src` input samples.
    pub fn new(src: u32, dst: u32) -> Self {
        let scale = src as f64 / dst as f64;
        let mut t =
            Taps { idx0: Vec::with_capacity(dst as usize), idx1: Vec::with_capacity(dst as usize), w1: Vec::with_capacity(dst as usize) };
        for d in 0..dst {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let mut s = f.floor();
            let mut w = f - s;
            if s < 0.0 {
                s = 0.0;
                w = 0.0;
            }
            let last = src.saturating_sub(1) as f64;
            if s >= last {
                s = last;
                w = 0.0;
            }
            let s = s as u32;
            t.idx0.push(s);
            t.idx1.push((s + 1).min(src.saturating_sub(1)));
            t.w1.push(w as f32);
        }
        t
    }
}

/// Where the resized image goes inside the output tensor image and how it is normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub src_w: u32,
    pub src_h: u32,
    /// Output image size (the tensor's spatial size).
    pub dst_w: u32,
    pub dst_h: u32,
    /// The resized image's size and offset inside the output (letterbox); the rest is padding.
    pub fit_w: u32,
    pub fit_h: u32,
    pub off_x: u32,
    pub off_y: u32,
    pub layout: Layout,
    /// `out = pixel * scale[c] + bias[c]`, i.e. `(pixel - mean) / std`.
    pub scale: [f32; 3],
    pub bias: [f32; 3],
    /// Raw pixel value of the padding (0..255).
    pub pad: u8,
    xt: Taps,
    yt: Taps,
}

impl Plan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        src_w: u32,
        src_h: u32,
        dst_w: u32,
        dst_h: u32,
        placement: (u32, u32, u32, u32),
        layout: Layout,
        mean: [f32; 3],
        std: [f32; 3],
        pad: u8,
    ) -> Self {
        let (fit_w, fit_h, off_x, off_y) = placement;
        let scale = std.map(|s| 1.0 / s);
        let bias = [0, 1, 2].map(|c| -mean[c] * scale[c]);
        Self {
            src_w,
            src_h,
            dst_w,
            dst_h,
            fit_w,
            fit_h,
            off_x,
            off_y,
            layout,
            scale,
            bias,
            pad,
            xt: Taps::new(src_w, fit_w),
            yt: Taps::new(src_h, fit_h),
        }
    }

    /// Resizes and normalises `src` (packed 3-channel rows of `src_stride` bytes) into `dst`
    /// (`3 * dst_w * dst_h` floats in the plan's layout).
    ///
    /// Separable, in the cheaper order for the shape. Enlarging vertically (ROIs): horizontal
    /// pass first, each source row interpolated once into a planar float row (two cached as
    /// output rows walk down), then every output row is one contiguous, vectorised blend of two
    /// such rows. Shrinking vertically (detector input): vertical pass first, the two source rows
    /// of an output row blended over the whole width in one vectorised loop, then horizontal
    /// interpolation within that row. Bilinear interpolation is separable, so the order changes
    /// the result only by float rounding (kernels/roi.cu interpolates horizontally first).
    pub fn run(&self, src: &[u8], src_stride: usize, dst: &mut [f32]) {
        let (dw, dh) = (self.dst_w as usize, self.dst_h as usize);
        let hw = dw * dh;
        let sw3 = self.src_w as usize * 3;
        assert_eq!(dst.len(), 3 * hw, "destination is not 3x{dw}x{dh}");
        assert!(src_stride >= sw3, "row stride {src_stride} < {sw3} bytes");
        assert!(src.len() >= (self.src_h as usize - 1) * src_stride + sw3, "source smaller than {}x{}", self.src_w, self.src_h);
        let letterboxed = self.fit_w != self.dst_w || self.fit_h != self.dst_h;
        if letterboxed {
            let p = self.pad as f32;
            match self.layout {
                Layout::Nchw => (0..3).for_each(|c| dst[c * hw..(c + 1) * hw].fill(p * self.scale[c] + self.bias[c])),
                Layout::Nhwc => dst.chunks_exact_mut(3).for_each(|px| (0..3).for_each(|c| px[c] = p * self.scale[c] + self.bias[c])),
            }
        }
        if self.src_h <= self.fit_h {
            self.horizontal_first(src, src_stride, dst);
        } else {
            self.vertical_first(src, src_stride, dst);
        }
    }

    fn horizontal_first(&self, src: &[u8], src_stride: usize, dst: &mut [f32]) {
        let (dw, dh) = (self.dst_w as usize, self.dst_h as usize);
        let hw = dw * dh;
        let sw3 = self.src_w as usize * 3;
        let fw = self.fit_w as usize;
        let (s, b) = (self.scale, self.bias);
        let taps: Vec<(usize, usize, f32)> =
            self.xt.idx0.iter().zip(&self.xt.idx1).zip(&self.xt.w1).map(|((&i0, &i1), &w)| (i0 as usize * 3, i1 as usize * 3, w)).collect();
        // Two cached source rows, interpolated horizontally, planar: [c * fw + x].
        let mut rows = [vec![0.0f32; 3 * fw], vec![0.0f32; 3 * fw]];
        let mut tags: [Option<usize>; 2] = [None, None];
        let horizontal = |y: usize, out: &mut [f32]| {
            let r = &src[y * src_stride..][..sw3];
            let (o0, rest) = out.split_at_mut(fw);
            let (o1, o2) = rest.split_at_mut(fw);
            for (x, &(i0, i1, w)) in taps.iter().enumerate() {
                let (p, q) = (&r[i0..i0 + 3], &r[i1..i1 + 3]);
                let a = p[0] as f32;
                o0[x] = a + (q[0] as f32 - a) * w;
                let a = p[1] as f32;
                o1[x] = a + (q[1] as f32 - a) * w;
                let a = p[2] as f32;
                o2[x] = a + (q[2] as f32 - a) * w;
            }
        };
        for fy in 0..self.fit_h as usize {
            let (y0, y1, wy) = (self.yt.idx0[fy] as usize, self.yt.idx1[fy] as usize, self.yt.w1[fy]);
            for (y, other) in [(y0, y1), (y1, y0)] {
                if !tags.contains(&Some(y)) {
                    let slot = if tags[0] == Some(other) { 1 } else { 0 };
                    horizontal(y, &mut rows[slot]);
                    tags[slot] = Some(y);
                }
            }
            let h0 = &rows[if tags[0] == Some(y0) { 0 } else { 1 }];
            let h1 = &rows[if tags[0] == Some(y1) { 0 } else { 1 }];
            let oy = self.off_y as usize + fy;
            let ox = self.off_x as usize;
            match self.layout {
                Layout::Nchw => {
                    for c in 0..3 {
                        let out = &mut dst[c * hw + oy * dw + ox..][..fw];
                        let (a, q) = (&h0[c * fw..(c + 1) * fw], &h1[c * fw..(c + 1) * fw]);
                        let (sc, bc) = (s[c], b[c]);
                        for ((o, &a), &q) in out.iter_mut().zip(a).zip(q) {
                            *o = (a + (q - a) * wy) * sc + bc;
                        }
                    }
                }
                Layout::Nhwc => {
                    let out = &mut dst[(oy * dw + ox) * 3..][..fw * 3];
                    for (x, o) in out.chunks_exact_mut(3).enumerate() {
                        for c in 0..3 {
                            let (a, q) = (h0[c * fw + x], h1[c * fw + x]);
                            o[c] = (a + (q - a) * wy) * s[c] + b[c];
                        }
                    }
                }
            }
        }
    }

    fn vertical_first(&self, src: &[u8], src_stride: usize, dst: &mut [f32]) {
        let (dw, dh) = (self.dst_w as usize, self.dst_h as usize);
        let hw = dw * dh;
        let sw3 = self.src_w as usize * 3;
        let fw = self.fit_w as usize;
        let (s, b) = (self.scale, self.bias);
        let mut vrow = vec![0.0f32; sw3];
        let taps: Vec<(usize, usize, f32)> =
            self.xt.idx0.iter().zip(&self.xt.idx1).zip(&self.xt.w1).map(|((&i0, &i1), &w)| (i0 as usize * 3, i1 as usize * 3, w)).collect();
        for fy in 0..self.fit_h as usize {
            let (y0, y1, wy) = (self.yt.idx0[fy] as usize, self.yt.idx1[fy] as usize, self.yt.w1[fy]);
            let r0 = &src[y0 * src_stride..][..sw3];
            let r1 = &src[y1 * src_stride..][..sw3];
            for ((v, &p), &q) in vrow.iter_mut().zip(r0).zip(r1) {
                let p = p as f32;
                *v = p + (q as f32 - p) * wy;
            }
            let oy = self.off_y as usize + fy;
            let ox = self.off_x as usize;
            let lerp = |i0: usize, i1: usize, w: f32, c: usize| {
                let a = vrow[i0 + c];
                a + (vrow[i1 + c] - a) * w
            };
            match self.layout {
                Layout::Nchw => {
                    let at = oy * dw + ox;
                    let (d0, rest) = dst.split_at_mut(hw);
                    let (d1, d2) = rest.split_at_mut(hw);
                    let rows = d0[at..][..fw].iter_mut().zip(&mut d1[at..][..fw]).zip(&mut d2[at..][..fw]);
                    for (((o0, o1), o2), &(i0, i1, w)) in rows.zip(&taps) {
                        *o0 = lerp(i0, i1, w, 0) * s[0] + b[0];
                        *o1 = lerp(i0, i1, w, 1) * s[1] + b[1];
                        *o2 = lerp(i0, i1, w, 2) * s[2] + b[2];
                    }
                }
                Layout::Nhwc => {
                    let out = &mut dst[(oy * dw + ox) * 3..][..fw * 3];
                    for (o, &(i0, i1, w)) in out.chunks_exact_mut(3).zip(&taps) {
                        for c in 0..3 {
                            o[c] = lerp(i0, i1, w, c) * s[c] + b[c];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sw: u32, sh: u32, dw: u32, dh: u32) -> Plan {
        Plan::new(sw, sh, dw, dh, (dw, dh, 0, 0), Layout::Nhwc, [0.0; 3], [1.0; 3], 0)
    }

    #[test]
    fn identity_size_copies_pixels() {
        let src: Vec<u8> = (0..4 * 3 * 3).map(|v| v as u8).collect();
        let mut dst = vec![0.0; src.len()];
        plan(4, 3, 4, 3).run(&src, 12, &mut dst);
        assert!(src.iter().zip(&dst).all(|(a, b)| *a as f32 == *b));
    }

    #[test]
    fn upscale_2x_follows_half_pixel_centres() {
        // One row, two pixels 0 and 100 (all channels) -> 4 pixels: 0, 25, 75, 100 (OpenCV).
        let src = [0u8, 0, 0, 100, 100, 100];
        let mut dst = vec![0.0; 12];
        plan(2, 1, 4, 1).run(&src, 6, &mut dst);
        let r: Vec<f32> = dst.chunks(3).map(|p| p[0]).collect();
        assert_eq!(r, vec![0.0, 25.0, 75.0, 100.0]);
    }

    #[test]
    fn downscale_picks_between_pixels_without_area_averaging() {
        // 6 pixels -> 2: centres at 1.0 and 4.0 exactly (scale 3).
        let src: Vec<u8> = [0u8, 10, 20, 30, 40, 50].iter().flat_map(|v| [*v; 3]).collect();
        let mut dst = vec![0.0; 6];
        plan(6, 1, 2, 1).run(&src, 18, &mut dst);
        assert_eq!((dst[0], dst[3]), (10.0, 40.0));
    }

    #[test]
    fn nchw_normalises_and_letterbox_pads() {
        // 2x1 source into a 2x2 output, fitted to 2x1 at y offset 1; pad 114.
        let src = [10u8, 20, 30, 40, 50, 60];
        let mut dst = vec![0.0; 12];
        let p = Plan::new(2, 1, 2, 2, (2, 1, 0, 1), Layout::Nchw, [10.0, 20.0, 30.0], [2.0, 4.0, 5.0], 114);
        p.run(&src, 6, &mut dst);
        // channel 0: pad row then (10-10)/2, (40-10)/2
        assert_eq!(&dst[0..4], &[52.0, 52.0, 0.0, 15.0]);
        // channel 2: pad (114-30)/5 then (30-30)/5, (60-30)/5
        let want = [16.8, 16.8, 0.0, 6.0];
        assert!(dst[8..12].iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "{:?}", &dst[8..12]);
    }

    #[test]
    fn both_pass_orders_agree() {
        // A textured 37x23 image, enlarged and shrunk, stretched and letterboxed, both layouts.
        let src: Vec<u8> = (0..37 * 23 * 3).map(|i| ((i * 7919) % 251) as u8).collect();
        for (dw, dh, place) in [(80, 60, (80, 60, 0, 0)), (16, 9, (16, 9, 0, 0)), (64, 64, (64, 40, 0, 12))] {
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let p = Plan::new(37, 23, dw, dh, place, layout, [120.0, 110.0, 100.0], [60.0, 61.0, 62.0], 114);
                let (mut a, mut b) = (vec![0.0; (3 * dw * dh) as usize], vec![0.0; (3 * dw * dh) as usize]);
                p.horizontal_first(&src, 37 * 3, &mut a);
                p.vertical_first(&src, 37 * 3, &mut b);
                let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
                assert!(d < 1e-5, "{dw}x{dh} {layout:?}: {d}");
            }
        }
    }
}
