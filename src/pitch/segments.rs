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

/// The indices of `0..n` within `r` of an end (where a window needs the border rule).
fn near_ends(n: usize, r: usize) -> impl Iterator<Item = usize> {
    (0..r.min(n)).chain(r.max(n.saturating_sub(r))..n)
}

/// OpenCV's `GaussianBlur(src, (5, 5), 0)` on 8-bit data: the bit-exact kernel 1 4 6 4 1 / 16 in
/// both directions, BORDER_REFLECT_101, rounded once at the end.
pub fn gaussian5(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    const K: [u32; 5] = [1, 4, 6, 4, 1];
    let mut rows = vec![0u32; w * h];
    for (line, out) in src.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        for x in 2..w.saturating_sub(2) {
            let v = &line[x - 2..x + 3];
            out[x] = v[0] as u32 + 4 * v[1] as u32 + 6 * v[2] as u32 + 4 * v[3] as u32 + v[4] as u32;
        }
        for x in near_ends(w, 2) {
            out[x] = (0..5).map(|k| K[k] * line[reflect101(x as isize + k as isize - 2, w)] as u32).sum();
        }
    }
    let mut out = vec![0u8; w * h];
    let mut column = |y: usize, taps: [usize; 5]| {
        let r: [&[u32]; 5] = taps.map(|t| &rows[t * w..(t + 1) * w]);
        for (x, o) in out[y * w..(y + 1) * w].iter_mut().enumerate() {
            let s = r[0][x] + 4 * r[1][x] + 6 * r[2][x] + 4 * r[3][x] + r[4][x];
            *o = ((s + 128) >> 8) as u8;
        }
    };
    for y in 2..h.saturating_sub(2) {
        column(y, [y - 2, y - 1, y, y + 1, y + 2]);
    }
    for y in near_ends(h, 2) {
        column(y, [0, 1, 2, 3, 4].map(|k| reflect101(y as isize + k - 2, h)));
    }
    out
}

/// OpenCV's `Canny(src, 30, 100)` (3x3 Sobel with replicated borders, L1 magnitude, its
/// fixed-point non-maximum suppression, 8-connected hysteresis): 255 on edges.
pub fn canny(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut dx = vec![0i32; w * h];
    let mut dy = vec![0i32; w * h];
    // Magnitudes with a zero border of one pixel: (w + 2) x (h + 2).
    let mw = w + 2;
    let mut mag = vec![0i32; mw * (h + 2)];
    let px = |x: isize, y: isize| src[y.clamp(0, h as isize - 1) as usize * w + x.clamp(0, w as isize - 1) as usize] as i32;
    let mut sobel = |x: usize, y: usize, gx: i32, gy: i32| {
        dx[y * w + x] = gx;
        dy[y * w + x] = gy;
        mag[(y + 1) * mw + x + 1] = gx.abs() + gy.abs();
    };
    for y in 0..h {
        // Rows above and below (replicated at the ends).
        let (up, mid, down) = (&src[y.saturating_sub(1) * w..][..w], &src[y * w..][..w], &src[(y + 1).min(h - 1) * w..][..w]);
        for x in 1..w.saturating_sub(1) {
            let (l, r) = (x - 1, x + 1);
            let gx = up[r] as i32 + 2 * mid[r] as i32 + down[r] as i32 - up[l] as i32 - 2 * mid[l] as i32 - down[l] as i32;
            let gy = down[l] as i32 + 2 * down[x] as i32 + down[r] as i32 - up[l] as i32 - 2 * up[x] as i32 - up[r] as i32;
            sobel(x, y, gx, gy);
        }
        for x in near_ends(w, 1) {
            let (x, yi) = (x as isize, y as isize);
            let gx = px(x + 1, yi - 1) + 2 * px(x + 1, yi) + px(x + 1, yi + 1) - px(x - 1, yi - 1) - 2 * px(x - 1, yi) - px(x - 1, yi + 1);
            let gy = px(x - 1, yi + 1) + 2 * px(x, yi + 1) + px(x + 1, yi + 1) - px(x - 1, yi - 1) - 2 * px(x, yi - 1) - px(x + 1, yi - 1);
            sobel(x as usize, y, gx, gy);
        }
    }
    const SHIFT: i32 = 15;
    const TG22: i32 = 13573; // tan(22.5°) << 15, rounded
                             // Map with a border of one: 0 a weak candidate, 1 not an edge, 2 an edge.
    let mut map = vec![1u8; mw * (h + 2)];
    let mut stack: Vec<usize> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let mi = (y + 1) * mw + x + 1;
            let m = mag[mi];
            if m <= CANNY_LOW {
                continue;
            }
            let (xs, ys) = (dx[y * w + x], dy[y * w + x]);
            let ax = xs.abs();
            let ay = ys.abs() << SHIFT;
            let tg22x = ax * TG22;
            let max = if ay < tg22x {
                m > mag[mi - 1] && m >= mag[mi + 1]
            } else {
                let tg67x = tg22x + (ax << (SHIFT + 1));
                if ay > tg67x {
                    m > mag[mi - mw] && m >= mag[mi + mw]
                } else {
                    let s: isize = if (xs ^ ys) < 0 { -1 } else { 1 };
                    m > mag[(mi - mw).wrapping_add_signed(-s)] && m > mag[(mi + mw).wrapping_add_signed(s)]
                }
            };
            if max {
                if m > CANNY_HIGH {
                    map[mi] = 2;
                    stack.push(mi);
                } else {
                    map[mi] = 0;
                }
            }
        }
    }
    while let Some(i) = stack.pop() {
        for n in [i - mw - 1, i - mw, i - mw + 1, i - 1, i + 1, i + mw - 1, i + mw, i + mw + 1] {
            if map[n] == 0 {
                map[n] = 2;
                stack.push(n);
            }
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            if map[(y + 1) * mw + x + 1] == 2 {
                out[y * w + x] = 255;
            }
        }
    }
    out
}

/// Rounds as `cvRound` does (to nearest, ties to even) for |v| < 2^22: adding and taking away
/// 1.5 x 2^23 leaves the float rounded in the default rounding mode (no call into libm).
#[inline]
fn cv_round(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    ((v + MAGIC) - MAGIC) as i32
}

/// OpenCV's `HoughLinesP(edges, rho=1, theta=pi/360, threshold=30, minLineLength=10,
/// maxLineGap=15)`: segments `[x1, y1, x2, y2]` in its order.
pub fn hough_lines_p(edges: &[u8], w: usize, h: usize) -> Vec<[i32; 4]> {
    // OpenCV takes theta as a float: its table is made from the float's value.
    let theta = (std::f64::consts::PI / THETA_STEPS as f64) as f32 as f64;
    let numrho = ((w + h) * 2 + 1) as i32;
    let half = (numrho - 1) / 2;
    let cos: Vec<f32> = (0..THETA_STEPS).map(|n| (n as f64 * theta).cos() as f32).collect();
    let sin: Vec<f32> = (0..THETA_STEPS).map(|n| (n as f64 * theta).sin() as f32).collect();
    // Each angle's row in the accumulator, with the rho offset.
    let rows: Vec<i32> = (0..THETA_STEPS as i32).map(|n| n * numrho + half).collect();
    let mut accum = vec![0i32; THETA_STEPS * numrho as usize];
    let mut mask: Vec<u8> = edges.iter().map(|&v| (v != 0) as u8).collect();
    let mut points: Vec<(i32, i32)> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| edges[y * w + x] != 0)
        .map(|(x, y)| (x as i32, y as i32))
        .collect();
    // The accumulator cells of a point, one per angle (a loop the compiler vectorises; the
    // increments are then scattered).
    let mut cells = vec![0i32; THETA_STEPS];
    let cells_of = |cells: &mut [i32], x: i32, y: i32| {
        let (xf, yf) = (x as f32, y as f32);
        for (((c, &co), &si), &row) in cells.iter_mut().zip(&cos).zip(&sin).zip(&rows) {
            *c = cv_round(xf * co + yf * si) + row;
        }
    };
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
        if mask[i as usize * w + j as usize] == 0 {
            continue;
        }
        let (mut max_val, mut max_n) = (HOUGH_THRESHOLD - 1, 0usize);
        cells_of(&mut cells, j, i);
        for (n, &c) in cells.iter().enumerate() {
            let a = &mut accum[c as usize];
            *a += 1;
            if max_val < *a {
                max_val = *a;
                max_n = n;
            }
        }
        if max_val < HOUGH_THRESHOLD {
            continue;
        }
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
                if mask[i1 as usize * w + j1 as usize] != 0 {
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
                let m = &mut mask[i1 as usize * w + j1 as usize];
                if *m != 0 {
                    if good {
                        cells_of(&mut cells, j1, i1);
                        for &c in &cells {
                            accum[c as usize] -= 1;
                        }
                    }
                    *m = 0;
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
        let masked: Vec<u8> = mask.iter().map(|&m| if m != 0 { 255 } else { 0 }).collect();
        let edges = canny(&gaussian5(&masked, w, h), w, h);
        let hough = hough_lines_p(&edges, w, h);
        let segments = keep_segments(&hough, grass, w, h);
        Self {
            width,
            height,
            segments,
            mask_pixels: mask.iter().filter(|&&m| m != 0).count() as u64,
            edge_pixels: edges.iter().filter(|&&e| e != 0).count() as u64,
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
