//! The validator's pitch-line segments, from the line kernel's planes, exactly as OpenCV finds
//! them (score-vision's `detect_pitch_lines_tophat`, steps 4-7):
//!
//! ```text
//! mask (white & grass) ─▶ Gaussian 5x5 ─▶ Canny 30/100 ─▶ probabilistic Hough (1 px, 0.5°, 30 votes,
//!   length 10, gap 15) ─▶ segments wholly on grass ─▶ drawn, 3 px border cleared, midpoints on it
//!   ─▶ segments with at most 80 midpoints within 80 px ─▶ keypoint distances to the nearest segment
//! ```
//! Each step is OpenCV's integer arithmetic written again (its bit-exact 8-bit Gaussian, Canny's
//! L1 magnitude and fixed-point direction test, HoughLinesP's accumulator, float trig table, RNG
//! and fixed-point walk), so the segments equal `cv2.HoughLinesP`'s on the same planes (checked by
//! tests/python/test_score.py against OpenCV). Sequential by nature (the Hough's random order), it
//! runs on the CPU after the line kernel, wherever that ran.
#![forbid(unsafe_code)]

use std::ops::{AddAssign, SubAssign};

/// Hough parameters of the validator.
const THETA_STEPS: usize = 360;
const HOUGH_THRESHOLD: i32 = 30;
const MIN_LINE_LENGTH: i32 = 10;
const MAX_LINE_GAP: i32 = 15;
const CANNY_LOW: i32 = 30;
const CANNY_HIGH: i32 = 100;
/// Segments whose midpoint has more than this many midpoints within `CROWD_REACH` px are dropped.
const CROWD_MAX: usize = 80;
const CROWD_REACH: i32 = 80;
/// Border the validator clears from its drawn line mask (pixels).
pub const BORDER_IGNORE: i32 = 3;
/// Points on a segment the validator checks for grass.
const GRASS_SAMPLES: usize = 30;

/// OpenCV's BORDER_REFLECT_101 index (`gfedcb|abcdefgh|gfedcba`).
fn reflect101(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let mut i = i;
    while i < 0 || i >= n {
        i = if i < 0 { -i } else { 2 * n - 2 - i };
    }
    i as usize
}

/// OpenCV's `GaussianBlur(src, (5, 5), 0)` on 8-bit data: the bit-exact kernel 1 4 6 4 1 / 16 in
/// both directions, BORDER_REFLECT_101, rounded once at the end (sums fit 16 bits: 16 x 16 x 255 +
/// 128 < 65,536).
pub fn gaussian5(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    blur(src, w, h, false)
}

/// [`gaussian5`] of `src`, or of `src != 0` as 0/255 when `binary`.
fn blur(src: &[u8], w: usize, h: usize, binary: bool) -> Vec<u8> {
    if w == 0 || h == 0 || src.len() < w * h {
        return Vec::new();
    }
    // The horizontal pass of the five rows a row needs, in a ring (row t in slot t % 5: the rows
    // within two of one another never share a slot).
    let mut ring = vec![0u16; 5 * w];
    let mut held = [usize::MAX; 5];
    let mut padded = vec![0u8; w + 4];
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let taps = [0isize, 1, 2, 3, 4].map(|k| reflect101(y as isize + k - 2, h));
        for t in taps {
            if held[t % 5] != t {
                let line = &src[t * w..(t + 1) * w];
                padded[2..w + 2].copy_from_slice(line);
                for k in [0, 1, w + 2, w + 3] {
                    padded[k] = line[reflect101(k as isize - 2, w)];
                }
                if binary {
                    padded.iter_mut().for_each(|v| *v = if *v != 0 { 255 } else { 0 });
                }
                gaussian_row(&padded, &mut ring[t % 5 * w..(t % 5 + 1) * w]);
                held[t % 5] = t;
            }
        }
        gaussian_column(taps.map(|t| &ring[t % 5 * w..(t % 5 + 1) * w]), &mut out[y * w..(y + 1) * w]);
    }
    out
}

/// `out[x] = 1 4 6 4 1` over `padded[x..x + 5]`.
#[multiversion::multiversion(targets = "simd")]
fn gaussian_row(padded: &[u8], out: &mut [u16]) {
    let n = out.len().min(padded.len().saturating_sub(4));
    let (p, out) = (&padded[..n + 4], &mut out[..n]);
    for x in 0..n {
        let v = |k: usize| p[x + k] as u16;
        out[x] = v(0) + 4 * v(1) + 6 * v(2) + 4 * v(3) + v(4);
    }
}

/// `out = (1 4 6 4 1 over the rows r + 128) >> 8`.
#[multiversion::multiversion(targets = "simd")]
fn gaussian_column(r: [&[u16]; 5], out: &mut [u8]) {
    let n = r.iter().map(|r| r.len()).fold(out.len(), usize::min);
    let (r0, r1, r2, r3, r4, out) = (&r[0][..n], &r[1][..n], &r[2][..n], &r[3][..n], &r[4][..n], &mut out[..n]);
    for x in 0..n {
        let s = r0[x] + 4 * r1[x] + 6 * r2[x] + 4 * r3[x] + r4[x];
        out[x] = ((s + 128) >> 8) as u8;
    }
}

const SHIFT: i32 = 15;
const TG22: i32 = 13573; // tan(22.5°) << 15, rounded

/// OpenCV's `Canny(src, 30, 100)` (3x3 Sobel with replicated borders, L1 magnitude, its
/// fixed-point non-maximum suppression, 8-connected hysteresis): 255 on edges.
pub fn canny(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h];
    for i in canny_edges(src, w, h) {
        out[i] = 255;
    }
    out
}

/// The indices (`y w + x`, in raster order) of [`canny`]'s edge pixels. Sobel and the suppression
/// are row kernels without branches (they vectorise) over rings of three rows; hysteresis follows
/// the strong edges (its order does not change the result: every weak pixel joined to a strong
/// one).
fn canny_edges(src: &[u8], w: usize, h: usize) -> Vec<usize> {
    if w == 0 || h == 0 || src.len() < w * h {
        return Vec::new();
    }
    // Map with a border of one: 0 a weak candidate, 1 not an edge, 2 an edge.
    let mw = w + 2;
    let mut map = vec![1u8; mw * (h + 2)];
    // Rings of three rows: Sobel of rows y - 1, y, y + 1 (magnitudes with a zero border).
    let mut mag = [vec![0i16; mw], vec![0i16; mw], vec![0i16; mw]];
    let mut dx = [vec![0i16; w], vec![0i16; w], vec![0i16; w]];
    let mut dy = [vec![0i16; w], vec![0i16; w], vec![0i16; w]];
    let zero = vec![0i16; mw];
    let mut rows = [vec![0u8; w + 2], vec![0u8; w + 2], vec![0u8; w + 2]];
    let mut sobel = |y: usize, mag: &mut [i16], dx: &mut [i16], dy: &mut [i16]| {
        // The rows above and below, each with its ends replicated.
        for (row, t) in rows.iter_mut().zip([y.saturating_sub(1), y, (y + 1).min(h - 1)]) {
            let line = &src[t * w..(t + 1) * w];
            row[1..w + 1].copy_from_slice(line);
            row[0] = line[0];
            row[w + 1] = line[w - 1];
        }
        sobel_row([&rows[0], &rows[1], &rows[2]], dx, dy, &mut mag[1..w + 1]);
    };
    sobel(0, &mut mag[0], &mut dx[0], &mut dy[0]);
    for y in 0..h {
        if y + 1 < h {
            let k = (y + 1) % 3;
            sobel(y + 1, &mut mag[k], &mut dx[k], &mut dy[k]);
        }
        let up = if y > 0 { &mag[(y + 2) % 3] } else { &zero };
        let down = if y + 1 < h { &mag[(y + 1) % 3] } else { &zero };
        let k = y % 3;
        suppress_row([up, &mag[k], down], &dx[k], &dy[k], &mut map[(y + 1) * mw + 1..(y + 2) * mw - 1]);
    }
    let mut stack = positions(&map, |v| v == 2);
    while let Some(i) = stack.pop() {
        for n in [i - mw - 1, i - mw, i - mw + 1, i - 1, i + 1, i + mw - 1, i + mw, i + mw + 1] {
            if map[n] == 0 {
                map[n] = 2;
                stack.push(n);
            }
        }
    }
    positions(&map, |v| v == 2).into_iter().map(|i| (i / mw - 1) * w + i % mw - 1).collect()
}

/// Sobel of one row from the rows above, at and below it (each `w + 2`, ends replicated).
#[multiversion::multiversion(targets = "simd")]
fn sobel_row(r: [&[u8]; 3], gx: &mut [i16], gy: &mut [i16], mag: &mut [i16]) {
    let n = [gx.len(), gy.len(), mag.len()].into_iter().chain(r.iter().map(|r| r.len().saturating_sub(2))).min().unwrap_or(0);
    let (up, mid, down) = (&r[0][..n + 2], &r[1][..n + 2], &r[2][..n + 2]);
    let (gx, gy, mag) = (&mut gx[..n], &mut gy[..n], &mut mag[..n]);
    for x in 0..n {
        let (l, c, r) = (x, x + 1, x + 2);
        let v = |row: &[u8], k: usize| row[k] as i16;
        let sx = v(up, r) + 2 * v(mid, r) + v(down, r) - v(up, l) - 2 * v(mid, l) - v(down, l);
        let sy = v(down, l) + 2 * v(down, c) + v(down, r) - v(up, l) - 2 * v(up, c) - v(up, r);
        gx[x] = sx;
        gy[x] = sy;
        mag[x] = sx.abs() + sy.abs();
    }
}

/// Non-maximum suppression of one row: `m` are the magnitude rows above, at and below it (with
/// their zero borders, `w + 2`); `out` gets 2 (strong edge), 0 (weak candidate) or 1 (neither).
/// Runs of [`RUN`] pixels with no magnitude above the low threshold (most of a line mask's
/// blur) are written as 1 at once.
#[multiversion::multiversion(targets = "simd")]
fn suppress_row(m: [&[i16]; 3], dx: &[i16], dy: &[i16], out: &mut [u8]) {
    let n = [out.len(), dx.len(), dy.len()].into_iter().chain(m.iter().map(|r| r.len().saturating_sub(2))).min().unwrap_or(0);
    let (up, mid, down) = (&m[0][..n + 2], &m[1][..n + 2], &m[2][..n + 2]);
    for x0 in (0..n).step_by(RUN) {
        let x1 = (x0 + RUN).min(n);
        if mid[x0 + 1..x1 + 1].iter().fold(0, |a, &v| a.max(v)) as i32 <= CANNY_LOW {
            out[x0..x1].fill(1);
            continue;
        }
        for x in x0..x1 {
            let c = x + 1;
            let v = mid[c] as i32;
            let (xs, ys) = (dx[x] as i32, dy[x] as i32);
            let ax = xs.abs();
            let ay = ys.abs() << SHIFT;
            let tg22x = ax * TG22;
            let tg67x = tg22x + (ax << (SHIFT + 1));
            let horizontal = (v > mid[c - 1] as i32) & (v >= mid[c + 1] as i32);
            let vertical = (v > up[c] as i32) & (v >= down[c] as i32);
            // Diagonals: up-left and down-right when the signs agree, else up-right and down-left.
            let same = (xs ^ ys) >= 0;
            let a = if same { up[c - 1] } else { up[c + 1] } as i32;
            let b = if same { down[c + 1] } else { down[c - 1] } as i32;
            let diagonal = (v > a) & (v > b);
            let near_h = ay < tg22x;
            let near_v = !near_h & (ay > tg67x);
            let is_max = (near_h & horizontal) | (near_v & vertical) | (!near_h & !near_v & diagonal);
            let edge = (v > CANNY_LOW) & is_max;
            out[x] = (!edge) as u8 + 2 * (edge & (v > CANNY_HIGH)) as u8;
        }
    }
}

/// Pixels a row kernel looks at together before it decides to pass them over.
const RUN: usize = 64;

/// Rounds as `cvRound` does (to nearest, ties to even) for |v| < 2^22: adding 1.5 x 2^23 leaves
/// the float rounded in the default rounding mode with the integer in its low bits (integer
/// operations only, so that a loop of them vectorises; no call into libm).
#[inline(always)]
pub(super) fn cv_round(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// OpenCV's `HoughLinesP(edges, rho=1, theta=pi/360, threshold=30, minLineLength=10,
/// maxLineGap=15)`: segments `[x1, y1, x2, y2]` in its order.
///
/// The same walk as OpenCV's, on a smaller accumulator: each angle's row spans only the rho values
/// the frame can give at that angle (OpenCV's rows span -(w + h)..=(w + h)), and the counts are
/// 16-bit while no count can pass 16 bits (at most 32,767 edge points). Both keep the
/// accumulator close to the core's cache, where the votes' scattered increments spend their time.
pub fn hough_lines_p(edges: &[u8], w: usize, h: usize) -> Vec<[i32; 4]> {
    hough_points(&positions(&edges[..(w * h).min(edges.len())], |v| v != 0), w, h)
}

/// [`hough_lines_p`] of the edge pixels at `points` (`y w + x`, raster order).
fn hough_points(points: &[usize], w: usize, h: usize) -> Vec<[i32; 4]> {
    if points.len() <= i16::MAX as usize {
        hough_with::<i16>(points, w, h)
    } else {
        hough_with::<i32>(points, w, h)
    }
}

/// The indices of `plane`'s cells that `hit`, in order (runs without one are passed over a
/// vector at a time).
fn positions(plane: &[u8], hit: impl Fn(u8) -> bool + Copy) -> Vec<usize> {
    let mut at = Vec::new();
    for (k, chunk) in plane.chunks(RUN).enumerate() {
        if chunk.iter().fold(false, |a, &v| a | hit(v)) {
            at.extend(chunk.iter().enumerate().filter(|(_, &v)| hit(v)).map(|(i, _)| k * RUN + i));
        }
    }
    at
}

/// The edge pixels not yet taken, a bit each (an eighth of a byte plane: the accumulator keeps
/// more of the cache).
struct Bits(Vec<u64>);

impl Bits {
    /// Of the cells at `points` of a plane of `len`.
    fn of(points: &[usize], len: usize) -> Self {
        let mut b = Bits(vec![0; len.div_ceil(64)]);
        for &i in points {
            b.0[i / 64] |= 1 << (i % 64);
        }
        b
    }

    #[inline]
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 != 0
    }

    #[inline]
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// The accumulator cells of a point: `round(x cos + y sin) + row` for each angle, OpenCV's float
/// arithmetic (a multiply, a multiply, an add: no fused multiply-add), a vector at a time.
#[multiversion::multiversion(targets = "simd")]
fn cells_at(x: f32, y: f32, cos: &[f32], sin: &[f32], rows: &[i32], cells: &mut [i32]) {
    let n = cells.len().min(cos.len()).min(sin.len()).min(rows.len());
    let (cos, sin, rows, cells) = (&cos[..n], &sin[..n], &rows[..n], &mut cells[..n]);
    for k in 0..n {
        cells[k] = cv_round(x * cos[k] + y * sin[k]) + rows[k];
    }
}

/// An accumulator count (`i16` or `i32`). OpenCV's counts are `int`s and go below zero (a found
/// segment takes back the votes of all its points, also of those that have not voted yet), but
/// never further from zero than there are edge points.
trait Votes: Copy + Default + Ord + From<i16> + Into<i32> + AddAssign + SubAssign {}

impl<V: Copy + Default + Ord + From<i16> + Into<i32> + AddAssign + SubAssign> Votes for V {}

fn hough_with<V: Votes>(edge_points: &[usize], w: usize, h: usize) -> Vec<[i32; 4]> {
    // OpenCV takes theta as a float: its table is made from the float's value.
    let theta = (std::f64::consts::PI / THETA_STEPS as f64) as f32 as f64;
    let cos: Vec<f32> = (0..THETA_STEPS).map(|n| (n as f64 * theta).cos() as f32).collect();
    let sin: Vec<f32> = (0..THETA_STEPS).map(|n| (n as f64 * theta).sin() as f32).collect();
    let rho = |x: f32, y: f32, n: usize| cv_round(x * cos[n] + y * sin[n]);
    // Each angle's row in the accumulator: the rounded rho is monotonic in x and in y, so the
    // frame's corners bound it.
    let (xm, ym) = ((w.max(1) - 1) as f32, (h.max(1) - 1) as f32);
    let mut rows = Vec::with_capacity(THETA_STEPS);
    let mut size = 0i32;
    for n in 0..THETA_STEPS {
        let corners = [rho(0.0, 0.0, n), rho(xm, 0.0, n), rho(0.0, ym, n), rho(xm, ym, n)];
        let (lo, hi) = (*corners.iter().min().unwrap(), *corners.iter().max().unwrap());
        rows.push(size - lo);
        size += hi - lo + 1;
    }
    let mut accum = vec![V::default(); size as usize];
    let mut points: Vec<(i32, i32)> = edge_points.iter().map(|&i| ((i % w) as i32, (i / w) as i32)).collect();
    let mut mask = Bits::of(edge_points, w * h);
    // The accumulator cells of a point, one per angle (a loop the compiler vectorises; the
    // increments are then scattered).
    let mut cells = [0i32; THETA_STEPS];
    let mut votes = [V::default(); THETA_STEPS];
    let cells_of = |cells: &mut [i32], x: i32, y: i32| cells_at(x as f32, y as f32, &cos, &sin, &rows, cells);
    let (wi, hi) = (w as i32, h as i32);
    let mut rng = super::opencv::Rng::new(u64::MAX);
    let mut lines = Vec::new();
    const SHIFT: i32 = 16;
    let mut count = points.len() as i32;
    while count > 0 {
        let idx = rng.uniform(0, count) as usize;
        let (j, i) = points[idx];
        points[idx] = points[count as usize - 1];
        count -= 1;
        if !mask.get(i as usize * w + j as usize) {
            continue;
        }
        cells_of(&mut cells, j, i);
        // The votes, then the first angle with the most (the first above the threshold's -1
        // that is not passed later: OpenCV's running maximum).
        for (&c, v) in cells.iter().zip(votes.iter_mut()) {
            let a = &mut accum[c as usize];
            *a += V::from(1);
            *v = *a;
        }
        let max_val = votes.iter().copied().fold(V::from(HOUGH_THRESHOLD as i16 - 1), V::max);
        if max_val.into() < HOUGH_THRESHOLD {
            continue;
        }
        let max_n = votes.iter().position(|&v| v == max_val).unwrap_or(0);
        let a = -sin[max_n];
        let b = cos[max_n];
        let xflag = a.abs() > b.abs();
        let (mut x0, mut y0) = (j, i);
        let (dx0, dy0) = if xflag {
            y0 = (y0 << SHIFT) + (1 << (SHIFT - 1));
            (if a > 0.0 { 1 } else { -1 }, cv_round(b * (1 << SHIFT) as f32 / a.abs()))
        } else {
            x0 = (x0 << SHIFT) + (1 << (SHIFT - 1));
            (cv_round(a * (1 << SHIFT) as f32 / b.abs()), if b > 0.0 { 1 } else { -1 })
        };
        let at = |x: i32, y: i32| if xflag { (x, y >> SHIFT) } else { (x >> SHIFT, y) };
        let mut ends = [(j, i); 2];
        for (k, end) in ends.iter_mut().enumerate() {
            let (mut x, mut y, mut gap) = (x0, y0, 0);
            let (dx, dy) = if k > 0 { (-dx0, -dy0) } else { (dx0, dy0) };
            loop {
                let (j1, i1) = at(x, y);
                if j1 < 0 || j1 >= wi || i1 < 0 || i1 >= hi {
                    break;
                }
                if mask.get(i1 as usize * w + j1 as usize) {
                    gap = 0;
                    *end = (j1, i1);
                } else {
                    gap += 1;
                    if gap > MAX_LINE_GAP {
                        break;
                    }
                }
                x += dx;
                y += dy;
            }
        }
        let good = (ends[1].0 - ends[0].0).abs() >= MIN_LINE_LENGTH || (ends[1].1 - ends[0].1).abs() >= MIN_LINE_LENGTH;
        for (k, end) in ends.iter().enumerate() {
            let (mut x, mut y) = (x0, y0);
            let (dx, dy) = if k > 0 { (-dx0, -dy0) } else { (dx0, dy0) };
            loop {
                let (j1, i1) = at(x, y);
                let at = i1 as usize * w + j1 as usize;
                if mask.get(at) {
                    if good {
                        cells_of(&mut cells, j1, i1);
                        for &c in &cells {
                            accum[c as usize] -= V::from(1);
                        }
                    }
                    mask.clear(at);
                }
                if (j1, i1) == *end {
                    break;
                }
                x += dx;
                y += dy;
            }
        }
        if good {
            lines.push([ends[0].0, ends[0].1, ends[1].0, ends[1].1]);
        }
    }
    lines
}

/// The validator's choice among the Hough segments: every one of 30 points along it (truncated
/// coordinates) on grass; its midpoint away from the 3-pixel border; at most 80 midpoints
/// (itself included) within 80 px in x and in y.
pub fn keep_segments(segments: &[[i32; 4]], grass: &[u8], w: usize, h: usize) -> Vec<[i32; 4]> {
    let on_grass = |s: &[i32; 4]| {
        // numpy's linspace(0, 1, 30): k x (1 / 29), the last exactly 1.
        let step = 1.0 / (GRASS_SAMPLES - 1) as f64;
        (0..GRASS_SAMPLES).all(|k| {
            let t = if k + 1 == GRASS_SAMPLES { 1.0 } else { k as f64 * step };
            let y = (s[1] as f64 + (s[3] - s[1]) as f64 * t) as usize;
            let x = (s[0] as f64 + (s[2] - s[0]) as f64 * t) as usize;
            grass[y * w + x] != 0
        })
    };
    let (wi, hi) = (w as i32, h as i32);
    let b = BORDER_IGNORE;
    let kept: Vec<[i32; 4]> = segments
        .iter()
        .filter(|s| on_grass(s))
        .filter(|s| {
            let (mx, my) = ((s[0] + s[2]).div_euclid(2), (s[1] + s[3]).div_euclid(2));
            mx >= b && mx < wi - b && my >= b && my < hi - b
        })
        .copied()
        .collect();
    let mids: Vec<(f64, f64)> = kept.iter().map(|s| ((s[0] + s[2]) as f64 / 2.0, (s[1] + s[3]) as f64 / 2.0)).collect();
    let reach = CROWD_REACH as f64;
    kept.iter()
        .zip(&mids)
        .filter(|(_, (mx, my))| mids.iter().filter(|(ux, uy)| (ux - mx).abs() < reach && (uy - my).abs() < reach).count() <= CROWD_MAX)
        .map(|(s, _)| *s)
        .collect()
}

/// A frame's pitch-line segments as the validator finds them, and what the keypoint score reads.
#[derive(Debug, Clone)]
pub struct PitchLines {
    pub width: u32,
    pub height: u32,
    pub segments: Vec<[i32; 4]>,
    /// Line-mask pixels, Canny edge pixels and Hough segments before the validator's choice.
    pub mask_pixels: u64,
    pub edge_pixels: u64,
    pub hough_segments: usize,
}

impl PitchLines {
    /// From the line kernel's planes: `mask` (white line on grass, non-zero) and `grass` (the
    /// opened grass mask), both `width x height`.
    pub fn from_planes(mask: &[u8], grass: &[u8], width: u32, height: u32) -> Self {
        let (w, h) = (width as usize, height as usize);
        if w == 0 || h == 0 || mask.len() < w * h || grass.len() < w * h {
            return Self { width, height, segments: Vec::new(), mask_pixels: 0, edge_pixels: 0, hough_segments: 0 };
        }
        let edges = canny_edges(&blur(&mask[..w * h], w, h, true), w, h);
        let hough = hough_points(&edges, w, h);
        let segments = keep_segments(&hough, grass, w, h);
        Self {
            width,
            height,
            segments,
            mask_pixels: mask.iter().filter(|&&m| m != 0).count() as u64,
            edge_pixels: edges.len() as u64,
            hough_segments: hough.len(),
        }
    }

    /// The distance from (x, y) (pixels) to the nearest segment, in the validator's
    /// frame-normalised units (coordinates divided by width and height); None without segments.
    pub fn distance(&self, x: f64, y: f64) -> Option<f64> {
        let (w, h) = (self.width as f64, self.height as f64);
        let (px, py) = (x / w, y / h);
        self.segments
            .iter()
            .map(|s| {
                let (x1, y1, x2, y2) = (s[0] as f64 / w, s[1] as f64 / h, s[2] as f64 / w, s[3] as f64 / h);
                let (vx, vy, wx, wy) = (x2 - x1, y2 - y1, px - x1, py - y1);
                let len2 = vx * vx + vy * vy;
                let t = if len2 > 0.0 { ((wx * vx + wy * vy) / len2).clamp(0.0, 1.0) } else { 0.0 };
                (px - (x1 + t * vx)).hypot(py - (y1 + t * vy))
            })
            .min_by(f64::total_cmp)
    }
}
