//! OpenCV 4.x's `findHomography(src, dst, RANSAC, threshold)` written again (the Score Vision
//! validator's homography), quirks included, so that fovea's keypoint score is the validator's:
//!
//! - the points are converted to `float` first;
//! - the random samples come from OpenCV's `RNG` (multiply-with-carry) seeded with `(uint64)-1` on
//!   every call, so the result is deterministic; a sample's points are drawn with
//!   `uniform(0, count)`, repeats drawn again;
//! - a sample is refused when its last point lies on a line through two earlier ones (only the
//!   last: OpenCV checks no other triple) or when its four triangles do not all keep or all flip
//!   their orientation;
//! - the model is the normalised DLT (centroid and mean absolute deviation per axis, the
//!   eigenvector of the smallest eigenvalue of LᵀL, scaled so that h33 = 1);
//! - a point is an inlier when its squared error, computed in `float` with the model rounded to
//!   `float`, is at most threshold² (in `float`); a model is kept when it has more inliers than the
//!   best so far, and the number of iterations (at most 2000) is then lowered for confidence 0.995;
//! - exactly 4 points: the DLT alone, every point an inlier;
//! - more: the inliers' DLT, then 10 iterations of OpenCV's Levenberg-Marquardt (Balda's LMSolve)
//!   on their reprojection error; the inliers reported are then the refined model's, of all the
//!   points (so a point the best sample missed can be one).
#![forbid(unsafe_code)]
// The loops follow OpenCV's index arithmetic one to one (the order of operations is the result).
#![allow(clippy::needless_range_loop)]

use super::{Homography, HomographyFit};

/// OpenCV's `cv::RNG`: a multiply-with-carry generator (also the Hough's, [`super::segments`]).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// `RNG(state)`; a zero state is replaced by 0xffffffff, as OpenCV does.
    pub fn new(state: u64) -> Self {
        Rng(if state == 0 { 0xffff_ffff } else { state })
    }

    /// The next 32 random bits (`RNG::next`).
    pub fn next_u32(&mut self) -> u32 {
        self.0 = (self.0 as u32 as u64).wrapping_mul(4_164_903_690).wrapping_add(self.0 >> 32);
        self.0 as u32
    }

    /// `RNG::uniform(a, b)` for integers: a + next() % (b - a).
    pub fn uniform(&mut self, a: i32, b: i32) -> i32 {
        if a == b {
            a
        } else {
            (self.next_u32() % (b - a) as u32) as i32 + a
        }
    }
}

type P = [f32; 2];

/// Whether the last of `p` lies on a line through two earlier points (OpenCV's
/// `haveCollinearPoints`, which checks only the last point).
fn last_collinear(p: &[P]) -> bool {
    let i = p.len() - 1;
    for j in 0..i {
        // The differences in float, widened (as OpenCV writes them).
        let dx1 = (p[j][0] - p[i][0]) as f64;
        let dy1 = (p[j][1] - p[i][1]) as f64;
        for k in 0..j {
            let dx2 = (p[k][0] - p[i][0]) as f64;
            let dy2 = (p[k][1] - p[i][1]) as f64;
            if (dx2 * dy1 - dy2 * dx1).abs() <= f32::EPSILON as f64 * (dx1.abs() + dy1.abs() + dx2.abs() + dy2.abs()) {
                return true;
            }
        }
    }
    false
}

pub(super) fn det3(a: [[f64; 3]; 3]) -> f64 {
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
}

/// OpenCV's `checkSubset` for a 4-point sample.
fn check_subset(s: &[P; 4], d: &[P; 4]) -> bool {
    if last_collinear(s) || last_collinear(d) {
        return false;
    }
    const TT: [[usize; 3]; 4] = [[0, 1, 2], [1, 2, 3], [0, 2, 3], [0, 1, 3]];
    let mut negative = 0;
    for t in TT {
        let m = |p: &[P; 4]| t.map(|i| [p[i][0] as f64, p[i][1] as f64, 1.0]);
        negative += (det3(m(s)) * det3(m(d)) < 0.0) as u32;
    }
    negative == 0 || negative == 4
}

/// OpenCV's own `hypot` (lapack.cpp), not libm's.
fn cv_hypot(a: f64, b: f64) -> f64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    if a > b {
        b /= a;
        return a * (1.0 + b * b).sqrt();
    }
    if b > 0.0 {
        a /= b;
        return b * (1.0 + a * a).sqrt();
    }
    0.0
}

/// The column of the largest |a[k][i]| right of the diagonal (OpenCV's `indR`).
fn row_max<const N: usize>(a: &[[f64; N]; N], k: usize) -> usize {
    let (mut m, mut mv) = (k + 1, a[k][k + 1].abs());
    for i in k + 2..N {
        let val = a[k][i].abs();
        if mv < val {
            (mv, m) = (val, i);
        }
    }
    m
}

/// The row of the largest |a[i][k]| above the diagonal (OpenCV's `indC`).
fn col_max<const N: usize>(a: &[[f64; N]; N], k: usize) -> usize {
    let (mut m, mut mv) = (0, a[0][k].abs());
    for i in 1..k {
        let val = a[i][k].abs();
        if mv < val {
            (mv, m) = (val, i);
        }
    }
    m
}

/// OpenCV's `JacobiImpl_`: the eigenvalues of a symmetric matrix in descending order and its
/// eigenvectors as rows (classical Jacobi: the largest off-diagonal element rotated away first,
/// until it is at most the type's epsilon).
fn jacobi<const N: usize>(mut a: [[f64; N]; N]) -> ([f64; N], [[f64; N]; N]) {
    let eps = f64::EPSILON;
    let mut v = [[0.0; N]; N];
    (0..N).for_each(|i| v[i][i] = 1.0);
    let mut w: [f64; N] = std::array::from_fn(|k| a[k][k]);
    let mut ind_r = [0usize; N];
    let mut ind_c = [0usize; N];
    for k in 0..N {
        if k + 1 < N {
            ind_r[k] = row_max(&a, k);
        }
        if k > 0 {
            ind_c[k] = col_max(&a, k);
        }
    }
    if N > 1 {
        for _ in 0..N * N * 30 {
            let (mut k, mut mv) = (0, a[0][ind_r[0]].abs());
            for i in 1..N - 1 {
                let val = a[i][ind_r[i]].abs();
                if mv < val {
                    (mv, k) = (val, i);
                }
            }
            let mut l = ind_r[k];
            for i in 1..N {
                let val = a[ind_c[i]][i].abs();
                if mv < val {
                    (mv, k, l) = (val, ind_c[i], i);
                }
            }
            let p = a[k][l];
            if p.abs() <= eps {
                break;
            }
            let y = (w[l] - w[k]) * 0.5;
            let mut t = y.abs() + cv_hypot(p, y);
            let mut s = cv_hypot(p, t);
            let c = t / s;
            s = p / s;
            t = (p / t) * p;
            if y < 0.0 {
                s = -s;
                t = -t;
            }
            a[k][l] = 0.0;
            w[k] -= t;
            w[l] += t;
            let rot = |x: &mut f64, y: &mut f64| {
                let (a0, b0) = (*x, *y);
                *x = a0 * c - b0 * s;
                *y = a0 * s + b0 * c;
            };
            for i in 0..k {
                let (x, y) = (a[i][k], a[i][l]);
                let (mut x, mut y) = (x, y);
                rot(&mut x, &mut y);
                (a[i][k], a[i][l]) = (x, y);
            }
            for i in k + 1..l {
                let (mut x, mut y) = (a[k][i], a[i][l]);
                rot(&mut x, &mut y);
                (a[k][i], a[i][l]) = (x, y);
            }
            for i in l + 1..N {
                let (mut x, mut y) = (a[k][i], a[l][i]);
                rot(&mut x, &mut y);
                (a[k][i], a[l][i]) = (x, y);
            }
            for i in 0..N {
                let (mut x, mut y) = (v[k][i], v[l][i]);
                rot(&mut x, &mut y);
                (v[k][i], v[l][i]) = (x, y);
            }
            for idx in [k, l] {
                if idx + 1 < N {
                    ind_r[idx] = row_max(&a, idx);
                }
                if idx > 0 {
                    ind_c[idx] = col_max(&a, idx);
                }
            }
        }
    }
    // Sort eigenvalues (and their vectors) in descending order, as OpenCV does.
    for k in 0..N.saturating_sub(1) {
        let mut m = k;
        for i in k + 1..N {
            if w[m] < w[i] {
                m = i;
            }
        }
        if k != m {
            w.swap(m, k);
            v.swap(m, k);
        }
    }
    (w, v)
}

/// OpenCV's `SVBkSb` threshold: eigenvalues at most 2 DBL_EPSILON times their sum are left out.
fn threshold<const N: usize>(w: &[f64; N]) -> f64 {
    w.iter().sum::<f64>() * (f64::EPSILON * 2.0)
}

/// `solve(a, b, x, DECOMP_EIG)` for a symmetric `a`: Jacobi, then the back substitution that
/// leaves out the eigenvalues under the threshold.
fn solve_eig<const N: usize>(a: [[f64; N]; N], b: [f64; N]) -> [f64; N] {
    let (w, v) = jacobi(a);
    let thr = threshold(&w);
    let mut x = [0.0; N];
    for k in 0..N {
        if w[k].abs() <= thr {
            continue;
        }
        let s = (0..N).map(|j| v[k][j] * b[j]).sum::<f64>() * (1.0 / w[k]);
        (0..N).for_each(|j| x[j] += s * v[k][j]);
    }
    x
}

/// The diagonal of `invert(a, DECOMP_EIG)` for a symmetric `a`.
fn inverse_diagonal_eig<const N: usize>(a: [[f64; N]; N]) -> [f64; N] {
    let (w, v) = jacobi(a);
    let thr = threshold(&w);
    std::array::from_fn(|i| {
        let mut d = 0.0;
        for k in 0..N {
            if w[k].abs() > thr {
                d += v[k][i] * (1.0 / w[k]) * v[k][i];
            }
        }
        d
    })
}

/// OpenCV's `scaleFor`: 1/x unless x is within FLT_EPSILON of 0.
fn scale_for(x: f64) -> f64 {
    if x.abs() > f32::EPSILON as f64 {
        1.0 / x
    } else {
        1.0
    }
}

fn mul(a: &Homography, b: &Homography) -> Homography {
    let mut c = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            c[i * 3 + j] = (0..3).map(|k| a[i * 3 + k] * b[k * 3 + j]).sum();
        }
    }
    c
}

/// OpenCV's `HomographyEstimatorCallback::runKernel`: the normalised DLT of `src -> dst`.
fn run_kernel(src: &[P], dst: &[P]) -> Option<Homography> {
    let n = src.len() as f64;
    let (mut cm, mut c_m) = ([0.0f64; 2], [0.0f64; 2]);
    for (s, d) in src.iter().zip(dst) {
        cm[0] += d[0] as f64;
        cm[1] += d[1] as f64;
        c_m[0] += s[0] as f64;
        c_m[1] += s[1] as f64;
    }
    cm = cm.map(|v| v / n);
    c_m = c_m.map(|v| v / n);
    let (mut sm, mut s_m) = ([0.0f64; 2], [0.0f64; 2]);
    for (s, d) in src.iter().zip(dst) {
        sm[0] += (d[0] as f64 - cm[0]).abs();
        sm[1] += (d[1] as f64 - cm[1]).abs();
        s_m[0] += (s[0] as f64 - c_m[0]).abs();
        s_m[1] += (s[1] as f64 - c_m[1]).abs();
    }
    if sm.iter().chain(&s_m).any(|v| v.abs() < f64::EPSILON) {
        return None;
    }
    sm = sm.map(|v| n / v);
    s_m = s_m.map(|v| n / v);
    let inv_hnorm = [1.0 / sm[0], 0.0, cm[0], 0.0, 1.0 / sm[1], cm[1], 0.0, 0.0, 1.0];
    let hnorm2 = [s_m[0], 0.0, -c_m[0] * s_m[0], 0.0, s_m[1], -c_m[1] * s_m[1], 0.0, 0.0, 1.0];
    let mut ltl = [[0.0f64; 9]; 9];
    for (s, d) in src.iter().zip(dst) {
        let (x, y) = ((d[0] as f64 - cm[0]) * sm[0], (d[1] as f64 - cm[1]) * sm[1]);
        let (xx, yy) = ((s[0] as f64 - c_m[0]) * s_m[0], (s[1] as f64 - c_m[1]) * s_m[1]);
        let lx = [xx, yy, 1.0, 0.0, 0.0, 0.0, -x * xx, -x * yy, -x];
        let ly = [0.0, 0.0, 0.0, xx, yy, 1.0, -y * xx, -y * yy, -y];
        for j in 0..9 {
            for k in j..9 {
                ltl[j][k] += lx[j] * lx[k] + ly[j] * ly[k];
            }
        }
    }
    for j in 0..9 {
        for k in 0..j {
            ltl[j][k] = ltl[k][j];
        }
    }
    let (_, v) = jacobi(ltl);
    let h0 = v[8];
    let h = mul(&mul(&inv_hnorm, &h0), &hnorm2);
    let k = scale_for(h[8]);
    h.iter().all(|v| v.is_finite()).then(|| h.map(|v| v * k))
}

/// OpenCV's `computeError`: squared reprojection errors in `float`.
fn errors(src: &[P], dst: &[P], h: &Homography, out: &mut Vec<f32>) {
    let f: [f32; 9] = std::array::from_fn(|i| h[i] as f32);
    out.clear();
    out.extend(src.iter().zip(dst).map(|(s, d)| {
        let ww = 1.0f32 / (f[6] * s[0] + f[7] * s[1] + f[8]);
        let dx = (f[0] * s[0] + f[1] * s[1] + f[2]) * ww - d[0];
        let dy = (f[3] * s[0] + f[4] * s[1] + f[5]) * ww - d[1];
        dx * dx + dy * dy
    }));
}

/// OpenCV's `RANSACUpdateNumIters`.
fn update_num_iters(p: f64, ep: f64, model_points: i32, max_iters: i32) -> i32 {
    let p = p.clamp(0.0, 1.0);
    let ep = ep.clamp(0.0, 1.0);
    let num = (1.0 - p).max(f64::MIN_POSITIVE);
    let denom = 1.0 - (1.0 - ep).powi(model_points);
    if denom < f64::MIN_POSITIVE {
        return 0;
    }
    let (num, denom) = (num.ln(), denom.ln());
    if denom >= 0.0 || -num >= max_iters as f64 * -denom {
        max_iters
    } else {
        // cvRound: to nearest, ties to even.
        (num / denom).round_ties_even() as i32
    }
}

/// `HomographyRefineCallback::compute` (OpenCV 4.12: all 9 entries are parameters): the sum of
/// squared residuals, their largest magnitude, and (optionally) Jᵀ J and Jᵀ r.
fn residuals(src: &[P], dst: &[P], h: &[f64; 9], with_jacobian: bool) -> (f64, f64, [[f64; 9]; 9], [f64; 9]) {
    let (mut s2, mut rmax) = (0.0, 0.0f64);
    let mut a = [[0.0; 9]; 9];
    let mut v = [0.0; 9];
    for (s, d) in src.iter().zip(dst) {
        let (mx, my) = (s[0] as f64, s[1] as f64);
        let ww = h[6] * mx + h[7] * my + h[8];
        let ww = if ww.abs() > f64::EPSILON { 1.0 / ww } else { 0.0 };
        let xi = (h[0] * mx + h[1] * my + h[2]) * ww;
        let yi = (h[3] * mx + h[4] * my + h[5]) * ww;
        let (ex, ey) = (xi - d[0] as f64, yi - d[1] as f64);
        s2 += ex * ex + ey * ey;
        rmax = rmax.max(ex.abs()).max(ey.abs());
        if with_jacobian {
            let jx = [mx * ww, my * ww, ww, 0.0, 0.0, 0.0, -mx * ww * xi, -my * ww * xi, -ww * xi];
            let jy = [0.0, 0.0, 0.0, mx * ww, my * ww, ww, -mx * ww * yi, -my * ww * yi, -ww * yi];
            for (j, e) in [(jx, ex), (jy, ey)] {
                for i in 0..9 {
                    for k in 0..9 {
                        a[i][k] += j[i] * j[k];
                    }
                    v[i] += j[i] * e;
                }
            }
        }
    }
    (s2, rmax, a, v)
}

/// OpenCV 4.x's `LMSolverImpl::run` (Balda's LMSolve) for `max_iters` iterations on the 9
/// entries of `h`, then `h` scaled so that h33 = 1 (`scaleFor`).
fn levenberg_marquardt(src: &[P], dst: &[P], h: &mut Homography, max_iters: usize) {
    let mut x: [f64; 9] = *h;
    let (mut s, mut rmax, mut a, mut v) = residuals(src, dst, &x, true);
    let diag: [f64; 9] = std::array::from_fn(|i| a[i][i]);
    let (rlo, rhi) = (0.25, 0.75);
    let (mut lambda, mut lc) = (1.0f64, 0.75f64);
    let eps = f32::EPSILON as f64;
    let mut iter = 0;
    loop {
        let mut ap = a;
        (0..9).for_each(|i| ap[i][i] += lambda * diag[i]);
        let d = solve_eig(ap, v);
        let xd: [f64; 9] = std::array::from_fn(|i| x[i] - d[i]);
        let (sd, _, _, _) = residuals(src, dst, &xd, false);
        // temp_d = -A d + 2 v; dS = d . temp_d
        let ds: f64 = (0..9).map(|i| d[i] * (2.0 * v[i] - (0..9).map(|k| a[i][k] * d[k]).sum::<f64>())).sum();
        let r = (s - sd) / if ds.abs() > f64::EPSILON { ds } else { 1.0 };
        if r > rhi {
            lambda *= 0.5;
            if lambda < lc {
                lambda = 0.0;
            }
        } else if r < rlo {
            let t: f64 = (0..9).map(|i| d[i] * v[i]).sum();
            let mut nu = (sd - s) / if t.abs() > f64::EPSILON { t } else { 1.0 } + 2.0;
            nu = nu.clamp(2.0, 10.0);
            if lambda == 0.0 {
                let maxval = inverse_diagonal_eig(a).iter().fold(f64::EPSILON, |m, v| m.max(v.abs()));
                lambda = 1.0 / maxval;
                lc = lambda;
                nu *= 0.5;
            }
            lambda *= nu;
        }
        if sd < s {
            s = sd;
            x = xd;
            (_, rmax, a, v) = residuals(src, dst, &x, true);
        }
        iter += 1;
        let dmax = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if !(iter < max_iters && dmax >= eps && rmax >= eps) {
            break;
        }
    }
    let k = scale_for(x[8]);
    *h = x.map(|v| v * k);
}

/// `cv::findHomography(src, dst, cv::RANSAC, threshold)` with OpenCV's defaults (2000
/// iterations, confidence 0.995): the homography and the inlier mask, or None (fewer than 4
/// points, or no model).
pub fn find_homography(src: &[[f64; 2]], dst: &[[f64; 2]], threshold: f64) -> Option<HomographyFit> {
    find_homography_with(src, dst, threshold, 2000, 0.995)
}

/// [`find_homography`] with OpenCV's `maxIters` and `confidence`.
pub fn find_homography_with(src: &[[f64; 2]], dst: &[[f64; 2]], threshold: f64, max_iters: i32, confidence: f64) -> Option<HomographyFit> {
    let n = src.len();
    if n < 4 || dst.len() != n {
        return None;
    }
    let threshold = if threshold <= 0.0 { 3.0 } else { threshold };
    let s: Vec<P> = src.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    let d: Vec<P> = dst.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    if n == 4 {
        let h = run_kernel(&s, &d)?;
        return Some(HomographyFit { h, inliers: vec![true; 4] });
    }
    let mut rng = Rng::new(u64::MAX);
    let t = (threshold * threshold) as f32;
    let (mut niters, mut max_good) = (max_iters.max(1), 0usize);
    let mut best: Option<(Homography, Vec<bool>)> = None;
    let mut err = Vec::with_capacity(n);
    let mut iter = 0;
    while iter < niters {
        // getSubset with 10000 attempts.
        let mut sample: Option<[usize; 4]> = None;
        for _ in 0..10_000 {
            let mut idx = [0usize; 4];
            for i in 0..4 {
                idx[i] = loop {
                    let c = rng.uniform(0, n as i32) as usize;
                    if !idx[..i].contains(&c) {
                        break c;
                    }
                };
            }
            if check_subset(&idx.map(|i| s[i]), &idx.map(|i| d[i])) {
                sample = Some(idx);
                break;
            }
        }
        let Some(idx) = sample else {
            if iter == 0 {
                return None;
            }
            break;
        };
        iter += 1;
        let Some(h) = run_kernel(&idx.map(|i| s[i]), &idx.map(|i| d[i])) else { continue };
        errors(&s, &d, &h, &mut err);
        let good = err.iter().filter(|e| **e <= t).count();
        if good > max_good.max(3) {
            max_good = good;
            niters = update_num_iters(confidence, (n - good) as f64 / n as f64, 4, niters);
            best = Some((h, err.iter().map(|e| *e <= t).collect()));
        }
    }
    let (mut h, mask) = best?;
    let si: Vec<P> = s.iter().zip(&mask).filter(|(_, &k)| k).map(|(p, _)| *p).collect();
    let di: Vec<P> = d.iter().zip(&mask).filter(|(_, &k)| k).map(|(p, _)| *p).collect();
    if let Some(g) = run_kernel(&si, &di) {
        h = g;
    }
    levenberg_marquardt(&si, &di, &mut h, 10);
    // OpenCV 4.x reports the refined model's inliers (of all the points), not the sample's.
    errors(&s, &d, &h, &mut err);
    Some(HomographyFit { h, inliers: err.iter().map(|e| *e <= t).collect() })
}

#[cfg(test)]
mod tests {
    use super::super::project;
    use super::*;

    #[test]
    fn the_rng_is_opencvs() {
        // cv::RNG((uint64)-1): state = 0xffffffff * 4164903690 + 0xffffffff.
        let mut r = Rng::new(u64::MAX);
        let first = r.next_u32();
        let state = 0xffff_ffffu64 * 4_164_903_690 + 0xffff_ffff;
        assert_eq!(first, state as u32);
        assert_eq!(Rng::new(0).0, 0xffff_ffff);
        let mut r = Rng::new(7);
        assert!((0..1000).all(|_| (0..5).contains(&r.uniform(0, 5))));
    }

    #[test]
    fn exact_points_give_the_homography_back() {
        let h = [1.2, 0.1, 30.0, -0.05, 0.9, 12.0, 1e-4, -2e-4, 1.0];
        let src: Vec<[f64; 2]> = (0..12).map(|i| [50.0 + 61.0 * (i % 4) as f64, 40.0 + 83.0 * (i / 4) as f64 + (i * i) as f64]).collect();
        let dst: Vec<[f64; 2]> = src.iter().map(|p| project(&h, *p).unwrap()).collect();
        let fit = find_homography(&src, &dst, 3.0).unwrap();
        assert!(fit.inliers.iter().all(|&b| b));
        for (a, b) in fit.h.iter().zip(&h) {
            assert!((a - b).abs() < 1e-4 * b.abs().max(1e-3), "{:?} vs {:?}", fit.h, h);
        }
        assert_eq!(update_num_iters(0.995, 0.0, 4, 2000), 0);
        assert_eq!(update_num_iters(0.995, 1.0, 4, 2000), 2000);
        assert_eq!(update_num_iters(0.995, 0.5, 4, 2000), 82);
    }
}
