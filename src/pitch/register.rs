//! Pitch keypoints without a keypoint model: the 32-point template registered to a frame's white
//! pitch lines (the line mask the validator itself reads, [`super::lines`]).
//!
//! ```text
//! line mask ─▶ max-pooled to at most 640 px wide ─▶ distance field (exact Euclidean)
//!   ├─ tracked: the last frame's homography, moved on by the last frame-to-frame motion ─▶ refine
//!   └─ first frame, a cut, lost: a search over broadcast cameras ─▶ the best few ─▶ refine
//! refine: Gauss-Newton on the homography's 8 parameters, pulling points along the template's
//!   lines onto the nearest line pixels (robust, with a shrinking reach)
//! fit: F1 of the template's points in view that lie on a line and the line pixels the template
//!   explains; below the bar, no keypoints (a cut, a close-up, the crowd)
//! ─▶ the 32 keypoints projected, (0, 0) outside the frame
//! ```
//! The search's cameras stand where a broadcast's main camera stands (beyond the touchline of the
//! template's y = 7000 side, above the halfway line) and look at points of the pitch with fields
//! of view from 6 to 64 degrees; the refinement frees all 8 parameters, so a camera elsewhere is
//! found when one of those views is near enough to it.
#![forbid(unsafe_code)]

use super::{mul, solve, Homography, LENGTH, WIDTH};

/// The widest distance field (frame pixels are max-pooled down to it).
const FIELD_WIDTH: u32 = 640;

/// What the registration accepts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterConfig {
    /// The least fit (0..1) that keeps a tracked homography.
    pub keep: f64,
    /// The least fit (0..1) that accepts a homography found by the search.
    pub accept: f64,
    /// Frames without a search after one found nothing (unless the frame's lines change by half):
    /// a clip's close-ups and crowd shots do not pay a search each.
    pub retry: u32,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        Self { keep: 0.6, accept: 0.7, retry: 12 }
    }
}

/// A frame's registration.
#[derive(Debug, Clone, PartialEq)]
pub struct PitchFix {
    /// Template centimetres -> frame pixels.
    pub homography: Homography,
    /// The fit (0..1): F1 of the template points in view on a line and the line pixels explained.
    pub fit: f64,
    /// Whether the frame was registered by the search (the first frame, after a cut, when lost)
    /// rather than tracked from the frame before.
    pub searched: bool,
}

/// The 32 template keypoints through `h` (template cm -> pixels), (0, 0) where outside the
/// `w x h` frame or behind the camera, as miners send them.
pub fn keypoints(h: &Homography, w: u32, height: u32) -> Vec<[f64; 2]> {
    super::template()
        .iter()
        .map(|&p| match front(h, p) {
            Some(q) if q[0] >= 0.0 && q[0] < w as f64 && q[1] >= 0.0 && q[1] < height as f64 => q,
            _ => [0.0, 0.0],
        })
        .collect()
}

/// `p` through `h` when it lies in front of the camera.
fn front(h: &Homography, p: [f64; 2]) -> Option<[f64; 2]> {
    let c = h[6] * p[0] + h[7] * p[1] + h[8];
    (c > 1e-12).then(|| [(h[0] * p[0] + h[1] * p[1] + h[2]) / c, (h[3] * p[0] + h[4] * p[1] + h[5]) / c])
}

/// The template's lines as polylines (cm): touchlines, goal lines, halfway line, penalty and goal
/// areas, the centre circle. (The template's penalty area is 2015 cm deep, so its arc would only
/// touch it: there is none.)
fn polylines() -> Vec<Vec<[f64; 2]>> {
    let (l, w) = (LENGTH, WIDTH);
    let (pbw, pbl, gbw, gbl, ccr) = (4100.0, 2015.0, 1832.0, 550.0, 915.0);
    let mut out = vec![
        vec![[0.0, 0.0], [l, 0.0]],
        vec![[0.0, w], [l, w]],
        vec![[0.0, 0.0], [0.0, w]],
        vec![[l, 0.0], [l, w]],
        vec![[l / 2.0, 0.0], [l / 2.0, w]],
    ];
    for (depth, width) in [(pbl, pbw), (gbl, gbw)] {
        let (y0, y1) = ((w - width) / 2.0, (w + width) / 2.0);
        out.push(vec![[0.0, y0], [depth, y0], [depth, y1], [0.0, y1]]);
        out.push(vec![[l, y0], [l - depth, y0], [l - depth, y1], [l, y1]]);
    }
    let n = 48;
    out.push(
        (0..=n).map(|k| k as f64 * std::f64::consts::TAU / n as f64).map(|a| [l / 2.0 + ccr * a.cos(), w / 2.0 + ccr * a.sin()]).collect(),
    );
    out
}

/// Points along the template's lines, `step` cm apart; runs of consecutive points (one per
/// polyline piece) as index ranges.
fn samples(step: f64) -> (Vec<[f64; 2]>, Vec<std::ops::Range<usize>>) {
    let (mut pts, mut runs) = (Vec::new(), Vec::new());
    for line in polylines() {
        for w in line.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
            let n = (len / step).ceil().max(1.0) as usize;
            let start = pts.len();
            pts.extend((0..=n).map(|k| k as f64 / n as f64).map(|t| [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]));
            runs.push(start..pts.len());
        }
    }
    (pts, runs)
}

/// A frame's line mask as a distance field: per cell of the max-pooled mask, the Euclidean
/// distance to the nearest line cell.
pub struct LineField {
    w: usize,
    h: usize,
    /// Frame pixels per field cell.
    scale: f64,
    dist: Vec<f32>,
    /// Line cells (at most [`MAX_LINE_CELLS`], spread evenly), for the share the template explains.
    cells: Vec<[u32; 2]>,
}

const MAX_LINE_CELLS: usize = 4096;

/// Where the search's cameras stand (template cm, height): low near the touchline, a usual main
/// camera, high and far back; all above the halfway line.
const SEARCH_CAMERAS: [[f64; 3]; 3] =
    [[LENGTH / 2.0, WIDTH + 1800.0, 800.0], [LENGTH / 2.0, WIDTH + 3000.0, 1400.0], [LENGTH / 2.0, WIDTH + 5500.0, 2400.0]];

/// Cameras of the search refined quickly.
const SEARCH_KEEP: usize = 150;
/// The search's best refined cameras polished again.
const POLISH: usize = 5;
const SEARCH_MISS: f64 = 0.45;
/// The fit's tolerances (field cells): a template point on a line, a line cell explained.
const ON_LINE: f64 = 1.5;
const NEAR: i64 = 2;

/// A fit that ends the search.
const GOOD_FIT: f64 = 0.985;

impl LineField {
    /// From a `width x height` line mask (non-zero: line).
    pub fn new(mask: &[u8], width: u32, height: u32) -> Self {
        let s = width.div_ceil(FIELD_WIDTH).max(1) as usize;
        let (fw, fh) = (width as usize, height as usize);
        let (w, h) = (fw.div_ceil(s), fh.div_ceil(s));
        let mut line = vec![false; w * h];
        if mask.len() >= fw * fh {
            for y in 0..fh {
                let row = &mask[y * fw..(y + 1) * fw];
                let out = &mut line[(y / s) * w..(y / s + 1) * w];
                for (x, &m) in row.iter().enumerate() {
                    out[x / s] |= m != 0;
                }
            }
        }
        thin(&mut line, w, h);
        let all: Vec<[u32; 2]> = (0..w * h).filter(|&i| line[i]).map(|i| [(i % w) as u32, (i / w) as u32]).collect();
        let every = all.len().div_ceil(MAX_LINE_CELLS).max(1);
        let cells = all.iter().step_by(every).copied().collect();
        Self { w, h, scale: s as f64, dist: distance_field(&line, w, h), cells }
    }

    /// Line cells in the field.
    pub fn line_cells(&self) -> usize {
        self.cells.len()
    }

    /// The distance at (x, y) (field cells, bilinear); None outside.
    fn at(&self, x: f64, y: f64) -> Option<f64> {
        if !(x >= 0.0 && y >= 0.0 && x <= (self.w - 1) as f64 && y <= (self.h - 1) as f64) {
            return None;
        }
        let (x0, y0) = ((x as usize).min(self.w.saturating_sub(2)), (y as usize).min(self.h.saturating_sub(2)));
        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
        let i = y0 * self.w + x0;
        let (x1, y1) = (usize::from(self.w > 1), if self.h > 1 { self.w } else { 0 });
        let d = |k: usize| self.dist[k] as f64;
        let top = d(i) * (1.0 - fx) + d(i + x1) * fx;
        let bottom = d(i + y1) * (1.0 - fx) + d(i + y1 + x1) * fx;
        Some(top * (1.0 - fy) + bottom * fy)
    }

    /// The distance's gradient at (x, y) (central differences, half a cell each side).
    fn gradient(&self, x: f64, y: f64) -> [f64; 2] {
        let g = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        [g(self.at(x - 0.5, y), self.at(x + 0.5, y)), g(self.at(x, y - 0.5), self.at(x, y + 0.5))]
    }
}

/// Thins the lines of `line` to their centres, one cell wide (Zhang and Suen's two
/// sub-iterations until nothing changes), so that the distance field pulls onto a line's middle.
fn thin(line: &mut [bool], w: usize, h: usize) {
    if w < 3 || h < 3 {
        return;
    }
    let mut cells: Vec<usize> = (0..w * h).filter(|&i| line[i] && i % w > 0 && i % w < w - 1 && i / w > 0 && i / w < h - 1).collect();
    let mut gone = Vec::new();
    loop {
        let mut changed = false;
        for step in 0..2 {
            gone.clear();
            for &i in &cells {
                // P2..P9: north, north-east, east, south-east, south, south-west, west, north-west.
                let p = [i - w, i - w + 1, i + 1, i + w + 1, i + w, i + w - 1, i - 1, i - w - 1].map(|k| line[k]);
                let b = p.iter().filter(|&&v| v).count();
                let a = (0..8).filter(|&k| !p[k] && p[(k + 1) % 8]).count();
                let (n, e, s, west) = (p[0], p[2], p[4], p[6]);
                // Step 0: P2 P4 P6 = 0 and P4 P6 P8 = 0; step 1: P2 P4 P8 = 0 and P2 P6 P8 = 0.
                let clear = if step == 0 { !(e && s && (n || west)) } else { !(n && west && (e || s)) };
                if (2..=6).contains(&b) && a == 1 && clear {
                    gone.push(i);
                }
            }
            for &i in &gone {
                line[i] = false;
            }
            changed |= !gone.is_empty();
            cells.retain(|&i| line[i]);
        }
        if !changed {
            break;
        }
    }
}

/// The exact Euclidean distance to the nearest `true` cell (Felzenszwalb and Huttenlocher's two
/// passes of lower envelopes of parabolas); a large value everywhere when there is none.
fn distance_field(line: &[bool], w: usize, h: usize) -> Vec<f32> {
    const FAR: f32 = 1e12;
    let mut sq: Vec<f32> = line.iter().map(|&l| if l { 0.0 } else { FAR }).collect();
    let n = w.max(h);
    let (mut f, mut d, mut v, mut z) = (vec![0f32; n], vec![0f32; n], vec![0usize; n], vec![0f32; n + 1]);
    for x in 0..w {
        (0..h).for_each(|y| f[y] = sq[y * w + x]);
        envelope(&f[..h], &mut d[..h], &mut v, &mut z);
        (0..h).for_each(|y| sq[y * w + x] = d[y]);
    }
    for y in 0..h {
        f[..w].copy_from_slice(&sq[y * w..(y + 1) * w]);
        envelope(&f[..w], &mut d[..w], &mut v, &mut z);
        sq[y * w..(y + 1) * w].copy_from_slice(&d[..w]);
    }
    sq.iter().map(|&s| s.sqrt()).collect()
}

/// One pass: `d[q] = min_p (q - p)^2 + f[p]`.
fn envelope(f: &[f32], d: &mut [f32], v: &mut [usize], z: &mut [f32]) {
    let n = f.len();
    if n == 0 {
        return;
    }
    let (mut k, inf) = (0usize, f32::INFINITY);
    v[0] = 0;
    z[0] = -inf;
    z[1] = inf;
    let cross = |q: usize, p: usize| ((f[q] + (q * q) as f32) - (f[p] + (p * p) as f32)) / (2.0 * q as f32 - 2.0 * p as f32);
    for q in 1..n {
        let mut s = cross(q, v[k]);
        while s <= z[k] && k > 0 {
            k -= 1;
            s = cross(q, v[k]);
        }
        if s <= z[k] {
            // k == 0 and the new parabola is below the first everywhere.
            v[0] = q;
            z[1] = inf;
            continue;
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = inf;
    }
    k = 0;
    for (q, out) in d.iter_mut().enumerate() {
        while z[k + 1] < q as f32 {
            k += 1;
        }
        let p = v[k];
        *out = (q as f32 - p as f32).powi(2) + f[p];
    }
}

/// A broadcast camera at `pos` (template cm, height up) looking at `look` on the pitch with a
/// horizontal field of view of `fov` degrees: its homography onto a `w x h` frame.
fn camera(pos: [f64; 3], look: [f64; 2], fov: f64, w: f64, h: f64) -> Homography {
    let norm = |v: [f64; 3]| {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        v.map(|c| c / n)
    };
    let cross = |a: [f64; 3], b: [f64; 3]| [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    let f = norm([look[0] - pos[0], look[1] - pos[1], -pos[2]]);
    // The template's x runs left to right and its y top to bottom as the camera sees them.
    let r = norm(cross([0.0, 0.0, 1.0], f));
    let d = cross(r, f);
    let fpx = w / 2.0 / (fov.to_radians() / 2.0).tan();
    let row = |a: [f64; 3]| [a[0], a[1], -(a[0] * pos[0] + a[1] * pos[1] + a[2] * pos[2])];
    let (r, d, f) = (row(r), row(d), row(f));
    let k = |i: usize| [fpx * r[i] + w / 2.0 * f[i], fpx * d[i] + h / 2.0 * f[i], f[i]];
    let (c0, c1, c2) = (k(0), k(1), k(2));
    [c0[0], c1[0], c2[0], c0[1], c1[1], c2[1], c0[2], c1[2], c2[2]]
}

/// Template cm -> field cells -> coordinates centred on the field and scaled by its half width
/// (for a well-conditioned refinement), and back.
fn to_unit(field: &LineField) -> (Homography, Homography) {
    let (hw, cx, cy, s) = (field.w as f64 / 2.0, field.w as f64 / 2.0, field.h as f64 / 2.0, field.scale);
    let to = [1.0 / (s * hw), 0.0, -cx / hw, 0.0, 1.0 / (s * hw), -cy / hw, 0.0, 0.0, 1.0];
    let back = [s * hw, 0.0, s * cx, 0.0, s * hw, s * cy, 0.0, 0.0, 1.0];
    (to, back)
}

/// `g` (template -> unit coordinates) scaled to unit Frobenius norm, its sign such that the
/// ground seen low in the middle of the frame (unit point (0, 0.4)) lies in front of the camera:
/// then every template point in view has a positive depth, whichever way the camera looks.
fn normalised(g: Homography) -> Homography {
    let n = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    // The depth of g^-1 (0, 0.4, 1) under g is 1 / (the third component of g^-1 (0, 0.4, 1)).
    let sign = match invert(&g) {
        Some(inv) if inv[7] * 0.4 + inv[8] < 0.0 => -1.0,
        _ => 1.0,
    };
    g.map(|v| sign * v / n)
}

/// `h` scaled to unit Frobenius norm (its sign kept).
fn unit(h: Homography) -> Homography {
    let n = h.iter().map(|v| v * v).sum::<f64>().sqrt();
    h.map(|v| v / n)
}

/// The template points of `pts` that `g` (template -> unit coordinates) puts in the field, with
/// their field cells.
fn in_view<'a>(g: &'a Homography, field: &'a LineField, pts: &'a [[f64; 2]]) -> impl Iterator<Item = ([f64; 2], [f64; 2])> + 'a {
    let hw = field.w as f64 / 2.0;
    let (cx, cy) = (hw, field.h as f64 / 2.0);
    pts.iter().filter_map(move |&p| {
        let u = front(g, p)?;
        let (x, y) = (u[0] * hw + cx, u[1] * hw + cy);
        (x >= 0.0 && y >= 0.0 && x <= (field.w - 1) as f64 && y <= (field.h - 1) as f64).then_some((u, [x, y]))
    })
}

/// The search's score of `g`: per point in view, how close it is to a line (1 on one, 0 at
/// `reach` or farther) less `miss`.
fn soft_score(g: &Homography, field: &LineField, pts: &[[f64; 2]], reach: f64, miss: f64) -> (f64, usize) {
    let (mut s, mut n) = (0.0, 0);
    for (_, c) in in_view(g, field, pts) {
        let d = field.at(c[0], c[1]).unwrap_or(reach);
        s += (1.0 - d / reach).max(0.0) - miss;
        n += 1;
    }
    (s, n)
}

/// Gauss-Newton on `g`'s 8 parameters (an update `(I + D) g`), pulling the points in view that are
/// within `reach` of a line onto it (Huber's loss), for each reach in turn.
fn refine(g: Homography, field: &LineField, pts: &[[f64; 2]], reaches: &[f64]) -> Homography {
    refine_with(g, field, pts, reaches, 8)
}

fn refine_with(mut g: Homography, field: &LineField, pts: &[[f64; 2]], reaches: &[f64], iterations: usize) -> Homography {
    let hw = field.w as f64 / 2.0;
    // Huber's loss (linear past 1.5 cells), capped at the reach.
    let huber = |d: f64| if d <= 1.5 { d * d / 2.0 } else { 1.5 * (d - 0.75) };
    for &reach in reaches {
        // The points in view when this reach begins: a point that leaves the view costs as
        // much as one out of reach, so that pushing the template out of view gains nothing.
        let set: Vec<[f64; 2]> = pts
            .iter()
            .copied()
            .filter(|&p| front(&g, p).is_some_and(|u| field.at(u[0] * hw + hw, u[1] * hw + field.h as f64 / 2.0).is_some()))
            .collect();
        let cap = huber(reach);
        let cost = |g: &Homography| -> f64 {
            set.iter()
                .map(|&p| {
                    front(g, p).and_then(|u| field.at(u[0] * hw + hw, u[1] * hw + field.h as f64 / 2.0)).map_or(cap, |d| huber(d).min(cap))
                })
                .sum()
        };
        let mut best = cost(&g);
        let mut lambda = 1e-3;
        for _ in 0..iterations {
            let (mut jtj, mut jtr) = ([[0.0f64; 8]; 8], [0.0f64; 8]);
            for (u, c) in in_view(&g, field, &set) {
                let Some(d) = field.at(c[0], c[1]) else { continue };
                if d >= reach {
                    continue;
                }
                let gr = field.gradient(c[0], c[1]);
                let (gx, gy) = (gr[0] * hw, gr[1] * hw);
                let (x, y) = (u[0], u[1]);
                let j = [gx * x, gx * y, gx, gy * x, gy * y, gy, -(gx * x + gy * y) * x, -(gx * x + gy * y) * y];
                // Huber's weights: points farther than 1.5 cells count linearly.
                let wgt = if d > 1.5 { 1.5 / d } else { 1.0 };
                for a in 0..8 {
                    for b in a..8 {
                        jtj[a][b] += wgt * j[a] * j[b];
                    }
                    jtr[a] += wgt * j[a] * d;
                }
            }
            let upper = jtj;
            for (a, row) in jtj.iter_mut().enumerate() {
                for (b, v) in row.iter_mut().enumerate().take(a) {
                    *v = upper[b][a];
                }
            }
            let mut moved = false;
            for _ in 0..6 {
                let mut m = jtj;
                (0..8).for_each(|i| m[i][i] += lambda * jtj[i][i].max(1e-9));
                let Some(step) = solve(m, jtr.map(|v| -v)) else { break };
                let dm = [1.0 + step[0], step[1], step[2], step[3], 1.0 + step[4], step[5], step[6], step[7], 1.0];
                let next = normalised(mul(&dm, &g));
                let c = cost(&next);
                if c < best {
                    moved = best - c > 1e-4 * best;
                    (g, best, lambda) = (next, c, (lambda / 4.0).max(1e-7));
                    break;
                }
                lambda *= 8.0;
            }
            if !moved {
                break;
            }
        }
    }
    g
}

/// Whether `g` (sign as [`normalised`] makes it) shows the pitch the right way round (its x to
/// the right, its y downwards as seen, not mirrored): the projection's Jacobian determinant,
/// det(g) / depth^3, is positive where the depth is.
fn plausible(g: &Homography) -> bool {
    let det = super::opencv::det3([[g[0], g[1], g[2]], [g[3], g[4], g[5]], [g[6], g[7], g[8]]]);
    det.is_finite() && det > 1e-12
}

/// The fit of `g` (see [`PitchFix::fit`]).
fn fit(g: &Homography, field: &LineField, pts: &[[f64; 2]], runs: &[std::ops::Range<usize>]) -> f64 {
    let (mut on, mut n) = (0usize, 0usize);
    // Lines the frame shows along the template's length and across it (the centre circle counts
    // for both): without two of one and one of the other, a homography is not determined.
    let (mut along, mut across) = (0usize, 0usize);
    let mut circle = 0usize;
    for run in runs {
        let (a, b) = (pts[run.start], pts[run.end - 1]);
        let (mut r_on, mut r_n) = (0usize, 0usize);
        for (_, c) in in_view(g, field, &pts[run.clone()]) {
            r_n += 1;
            r_on += (field.at(c[0], c[1]).unwrap_or(f64::MAX) <= ON_LINE) as usize;
        }
        (on, n) = (on + r_on, n + r_n);
        let straight = (b[0] - a[0]).abs() + (b[1] - a[1]).abs() > 400.0;
        if !straight {
            circle += r_on;
        } else if r_n >= 3 && 2 * r_on >= r_n {
            if (b[1] - a[1]).abs() < 1.0 {
                along += 1;
            } else {
                across += 1;
            }
        }
    }
    let determined = (along >= 2 && across >= 1) || (along >= 1 && across >= 2) || (circle >= 8 && along + across >= 1);
    if n < 8 || field.cells.is_empty() || !determined {
        return 0.0;
    }
    // The template drawn at field resolution, widened by 3 cells, against the line cells.
    let (w, h) = (field.w as i64, field.h as i64);
    let hw = field.w as f64 / 2.0;
    let mut near = vec![false; field.w * field.h];
    let mut mark = |x: f64, y: f64| {
        let (xi, yi) = (x.round() as i64, y.round() as i64);
        for yy in (yi - NEAR).max(0)..=(yi + NEAR).min(h - 1) {
            for xx in (xi - NEAR).max(0)..=(xi + NEAR).min(w - 1) {
                near[(yy * w + xx) as usize] = true;
            }
        }
    };
    let cell = |p: [f64; 2]| front(g, p).map(|u| [u[0] * hw + hw, u[1] * hw + field.h as f64 / 2.0]);
    for run in runs {
        for k in run.start..run.end.saturating_sub(1) {
            let (Some(a), Some(b)) = (cell(pts[k]), cell(pts[k + 1])) else { continue };
            let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
            // Pieces far outside the field are skipped (and bound the steps).
            let out = |p: [f64; 2]| p[0] < -3.0 * w as f64 || p[0] > 4.0 * w as f64 || p[1] < -3.0 * h as f64 || p[1] > 4.0 * h as f64;
            if out(a) || out(b) {
                continue;
            }
            let steps = (len / 3.0).ceil().max(1.0) as usize;
            for t in 0..=steps {
                let t = t as f64 / steps as f64;
                let (x, y) = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]));
                if x >= -3.0 && y >= -3.0 && x <= w as f64 + 3.0 && y <= h as f64 + 3.0 {
                    mark(x, y);
                }
            }
        }
    }
    let explained = field.cells.iter().filter(|c| near[c[1] as usize * field.w + c[0] as usize]).count();
    let (p, r) = (on as f64 / n as f64, explained as f64 / field.cells.len() as f64);
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// The inverse of a 3 x 3 matrix (None when singular).
fn invert(m: &Homography) -> Option<Homography> {
    let c = |a: usize, b: usize, c: usize, d: usize| m[a] * m[b] - m[c] * m[d];
    let inv = [
        c(4, 8, 5, 7),
        c(2, 7, 1, 8),
        c(1, 5, 2, 4),
        c(5, 6, 3, 8),
        c(0, 8, 2, 6),
        c(2, 3, 0, 5),
        c(3, 7, 4, 6),
        c(1, 6, 0, 7),
        c(0, 4, 1, 3),
    ];
    let det = m[0] * inv[0] + m[1] * inv[3] + m[2] * inv[6];
    (det.abs() > 1e-300).then(|| inv.map(|v| v / det))
}

mod registrar;
#[cfg(test)]
mod tests;

pub use registrar::Registrar;
