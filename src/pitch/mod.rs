//! The soccer pitch as the Score Vision validator measures keypoints against it: the 32-point
//! template (roboflow/sports' `SoccerPitchConfiguration`, 12000 x 7000 cm), a homography from
//! image keypoints to it by RANSAC (as OpenCV's `findHomography(..., RANSAC, t)`: minimal 4-point
//! models, inliers by reprojection distance, then the inliers refitted and refined by
//! Levenberg-Marquardt on the reprojection error), the pitch-line kernel ([`lines`]) and the
//! validator's line segments ([`segments`]).
#![forbid(unsafe_code)]

pub mod lines;
pub mod opencv;
pub mod register;
pub mod segments;

/// The pitch's length and width (cm).
pub const LENGTH: f64 = 12000.0;
pub const WIDTH: f64 = 7000.0;

/// The 32 template keypoints (cm), in Score Vision's order.
pub fn template() -> [[f64; 2]; 32] {
    let (l, w) = (LENGTH, WIDTH);
    let (pbw, pbl, gbw, gbl, ccr, psd) = (4100.0, 2015.0, 1832.0, 550.0, 915.0, 1100.0);
    [
        [0.0, 0.0],
        [0.0, (w - pbw) / 2.0],
        [0.0, (w - gbw) / 2.0],
        [0.0, (w + gbw) / 2.0],
        [0.0, (w + pbw) / 2.0],
        [0.0, w],
        [gbl, (w - gbw) / 2.0],
        [gbl, (w + gbw) / 2.0],
        [psd, w / 2.0],
        [pbl, (w - pbw) / 2.0],
        [pbl, (w - gbw) / 2.0],
        [pbl, (w + gbw) / 2.0],
        [pbl, (w + pbw) / 2.0],
        [l / 2.0, 0.0],
        [l / 2.0, w / 2.0 - ccr],
        [l / 2.0, w / 2.0 + ccr],
        [l / 2.0, w],
        [l - pbl, (w - pbw) / 2.0],
        [l - pbl, (w - gbw) / 2.0],
        [l - pbl, (w + gbw) / 2.0],
        [l - pbl, (w + pbw) / 2.0],
        [l - psd, w / 2.0],
        [l - gbl, (w - gbw) / 2.0],
        [l - gbl, (w + gbw) / 2.0],
        [l, 0.0],
        [l, (w - pbw) / 2.0],
        [l, (w - gbw) / 2.0],
        [l, (w + gbw) / 2.0],
        [l, (w + pbw) / 2.0],
        [l, w],
        [l / 2.0 - ccr, w / 2.0],
        [l / 2.0 + ccr, w / 2.0],
    ]
}

/// A 3 x 3 homography, row-major, `h[8] = 1` once normalised.
pub type Homography = [f64; 9];

/// Maps `p` through `h` (None when it goes to infinity).
pub fn project(h: &Homography, p: [f64; 2]) -> Option<[f64; 2]> {
    let c = h[6] * p[0] + h[7] * p[1] + h[8];
    if c.abs() < f64::EPSILON {
        return None;
    }
    Some([(h[0] * p[0] + h[1] * p[1] + h[2]) / c, (h[3] * p[0] + h[4] * p[1] + h[5]) / c])
}

/// Solves `a x = b` (n x n, partial pivoting); None when singular.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for c in 0..N {
        let p = (c..N).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        let (pivot, pb) = (a[c], b[c]);
        for r in c + 1..N {
            let f = a[r][c] / pivot[c];
            a[r].iter_mut().zip(&pivot).skip(c).for_each(|(x, p)| *x -= f * p);
            b[r] -= f * pb;
        }
    }
    let mut x = [0.0; N];
    for r in (0..N).rev() {
        let s: f64 = (r + 1..N).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// Hartley's normalisation: translate to the centroid, scale to a mean distance of sqrt(2).
fn normaliser(p: &[[f64; 2]]) -> [f64; 3] {
    let n = p.len() as f64;
    let (cx, cy) = (p.iter().map(|q| q[0]).sum::<f64>() / n, p.iter().map(|q| q[1]).sum::<f64>() / n);
    let d = p.iter().map(|q| ((q[0] - cx).powi(2) + (q[1] - cy).powi(2)).sqrt()).sum::<f64>() / n;
    let s = if d > 0.0 { std::f64::consts::SQRT_2 / d } else { 1.0 };
    [s, -s * cx, -s * cy]
}

/// The homography taking `src` to `dst` by least squares on the linear equations (h[8] = 1),
/// on normalised coordinates; exact for 4 points in general position.
pub fn fit(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Homography> {
    if src.len() < 4 || src.len() != dst.len() {
        return None;
    }
    let (ns, nd) = (normaliser(src), normaliser(dst));
    let mut ata = [[0.0; 8]; 8];
    let mut atb = [0.0; 8];
    for (s, d) in src.iter().zip(dst) {
        let (x, y) = (ns[0] * s[0] + ns[1], ns[0] * s[1] + ns[2]);
        let (u, v) = (nd[0] * d[0] + nd[1], nd[0] * d[1] + nd[2]);
        for (row, rhs) in [([x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u], u), ([0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v], v)] {
            for i in 0..8 {
                for j in 0..8 {
                    ata[i][j] += row[i] * row[j];
                }
                atb[i] += row[i] * rhs;
            }
        }
    }
    let h = solve(ata, atb)?;
    let hn = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0];
    // H = Td^-1 Hn Ts.
    let ts = [ns[0], 0.0, ns[1], 0.0, ns[0], ns[2], 0.0, 0.0, 1.0];
    let td_inv = [1.0 / nd[0], 0.0, -nd[1] / nd[0], 0.0, 1.0 / nd[0], -nd[2] / nd[0], 0.0, 0.0, 1.0];
    let m = mul(&td_inv, &mul(&hn, &ts));
    (m[8].abs() > 1e-15).then(|| m.map(|v| v / m[8]))
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

/// Levenberg-Marquardt on the reprojection error of `src -> dst` (8 parameters, h[8] = 1).
pub fn refine(h: Homography, src: &[[f64; 2]], dst: &[[f64; 2]]) -> Homography {
    let cost = |h: &Homography| -> f64 {
        src.iter().zip(dst).map(|(s, d)| project(h, *s).map_or(f64::INFINITY, |p| (p[0] - d[0]).powi(2) + (p[1] - d[1]).powi(2))).sum()
    };
    let (mut h, mut lambda) = (h, 1e-3);
    let mut c = cost(&h);
    for _ in 0..20 {
        let mut jtj = [[0.0; 8]; 8];
        let mut jtr = [0.0; 8];
        for (s, d) in src.iter().zip(dst) {
            let (x, y) = (s[0], s[1]);
            let a = h[0] * x + h[1] * y + h[2];
            let b = h[3] * x + h[4] * y + h[5];
            let w = h[6] * x + h[7] * y + 1.0;
            let (u, v) = (a / w, b / w);
            let ju = [x / w, y / w, 1.0 / w, 0.0, 0.0, 0.0, -x * u / w, -y * u / w];
            let jv = [0.0, 0.0, 0.0, x / w, y / w, 1.0 / w, -x * v / w, -y * v / w];
            for (j, r) in [(ju, u - d[0]), (jv, v - d[1])] {
                for i in 0..8 {
                    for k in 0..8 {
                        jtj[i][k] += j[i] * j[k];
                    }
                    jtr[i] += j[i] * r;
                }
            }
        }
        let mut improved = false;
        for _ in 0..10 {
            let mut a = jtj;
            (0..8).for_each(|i| a[i][i] += lambda * jtj[i][i].max(1e-12));
            let Some(step) = solve(a, jtr.map(|v| -v)) else { break };
            let mut next = h;
            (0..8).for_each(|i| next[i] += step[i]);
            let nc = cost(&next);
            if nc < c {
                let small = (c - nc) <= 1e-12 * c.max(1e-300);
                (h, c, lambda) = (next, nc, (lambda / 10.0).max(1e-12));
                improved = !small;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    h
}

/// What [`find_homography`] found.
#[derive(Debug, Clone)]
pub struct HomographyFit {
    pub h: Homography,
    /// Per point: an inlier of the RANSAC model.
    pub inliers: Vec<bool>,
}

/// Whether the 4 points of a sample keep their orientation (OpenCV's check that rejects
/// samples no homography can map without folding).
fn consistent(src: &[[f64; 2]; 4], dst: &[[f64; 2]; 4]) -> bool {
    let det = |p: &[[f64; 2]; 4], a: usize, b: usize, c: usize| {
        (p[b][0] - p[a][0]) * (p[c][1] - p[a][1]) - (p[b][1] - p[a][1]) * (p[c][0] - p[a][0])
    };
    let tri = [(0, 1, 2), (1, 2, 3), (0, 1, 3), (0, 2, 3)];
    let mut neg = 0;
    for (a, b, c) in tri {
        let (s, d) = (det(src, a, b, c), det(dst, a, b, c));
        if s == 0.0 || d == 0.0 {
            return false;
        }
        neg += ((s < 0.0) != (d < 0.0)) as u32;
    }
    neg == 0 || neg == 4
}

/// Most 4-point samples RANSAC draws (a keypoint set is a few dozen points: a sample costs about
/// a microsecond).
const MAX_SAMPLES: usize = 2000;

/// Every 4-point subset of `n` points in a fixed shuffled order, when there are at most
/// [`MAX_SAMPLES`] of them.
fn combinations4(n: usize) -> Option<Vec<[usize; 4]>> {
    let count = n * (n - 1) * (n - 2) * (n - 3) / 24;
    if count > MAX_SAMPLES {
        return None;
    }
    let mut all = Vec::with_capacity(count);
    for a in 0..n {
        for b in a + 1..n {
            for c in b + 1..n {
                for d in c + 1..n {
                    all.push([a, b, c, d]);
                }
            }
        }
    }
    // Spread the draws over the points (a fixed permutation), so that a clean set stops early.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in (1..all.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        all.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    Some(all)
}

/// RANSAC homography from `src` to `dst` with inlier distance `threshold`, as OpenCV's
/// `findHomography(src, dst, RANSAC, threshold)` but searching to the end: every 4-point sample
/// up to 2000 of them (else 2000 drawn from a fixed seed, so results repeat), stopping early only
/// when every point is an inlier; each new best sample refitted on its inliers while that gains
/// inliers (local optimisation); then the inliers refitted and refined. The inliers are the
/// largest consistent set rather than the luck of the draw (OpenCV stops at confidence 0.995 and
/// can report fewer). None with fewer than 4 points or no consistent model.
pub fn find_homography(src: &[[f64; 2]], dst: &[[f64; 2]], threshold: f64) -> Option<HomographyFit> {
    let n = src.len();
    if n < 4 || dst.len() != n {
        return None;
    }
    let t2 = threshold * threshold;
    let inliers_of = |h: &Homography| -> Vec<bool> {
        src.iter().zip(dst).map(|(s, d)| project(h, *s).is_some_and(|p| (p[0] - d[0]).powi(2) + (p[1] - d[1]).powi(2) <= t2)).collect()
    };
    let mut best: Option<Homography> = None;
    if n == 4 {
        best = fit(src, dst);
    } else {
        let (mut best_n, mut best_cost) = (0usize, f64::INFINITY);
        let inlier_cost = |h: &Homography| -> f64 {
            src.iter()
                .zip(dst)
                .filter_map(|(s, d)| project(h, *s).map(|p| (p[0] - d[0]).powi(2) + (p[1] - d[1]).powi(2)))
                .filter(|e| *e <= t2)
                .sum()
        };
        // Every 4-point sample when there are at most MAX_SAMPLES of them, else random ones (a
        // fixed seed); either way stopping early only once every point is an inlier.
        let samples = combinations4(n);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |k: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % k as u64) as usize
        };
        for i in 0..samples.as_ref().map_or(MAX_SAMPLES, Vec::len) {
            let idx = match &samples {
                Some(all) => all[i],
                None => {
                    let mut idx = [0usize; 4];
                    for k in 0..4 {
                        idx[k] = loop {
                            let c = rnd(n);
                            if !idx[..k].contains(&c) {
                                break c;
                            }
                        };
                    }
                    idx
                }
            };
            let s4 = idx.map(|k| src[k]);
            let d4 = idx.map(|k| dst[k]);
            if !consistent(&s4, &d4) {
                continue;
            }
            let Some(mut h) = fit(&s4, &d4) else { continue };
            let mut count = inliers_of(&h).iter().filter(|&&b| b).count();
            if count < best_n || count == 0 {
                continue;
            }
            // Local optimisation: refit on the inliers while that gains inliers, so that noise
            // near the threshold does not leave the result to the luck of the sample.
            for _ in 0..4 {
                let mask = inliers_of(&h);
                let (si, di): (Vec<[f64; 2]>, Vec<[f64; 2]>) =
                    src.iter().zip(dst).zip(&mask).filter(|(_, &k)| k).map(|((s, d), _)| (*s, *d)).unzip();
                let Some(g) = (si.len() > 4).then(|| fit(&si, &di)).flatten().map(|g| refine(g, &si, &di)) else { break };
                let c = inliers_of(&g).iter().filter(|&&b| b).count();
                if c <= count {
                    break;
                }
                (h, count) = (g, c);
            }
            // More inliers win; among as many, the smaller squared error of the inliers.
            let cost = inlier_cost(&h);
            if count > best_n || (count == best_n && cost < best_cost) {
                (best, best_n, best_cost) = (Some(h), count, cost);
            }
            if best_n == n {
                break;
            }
        }
    }
    // The inliers refitted and refined, again while the refined model gains inliers; the
    // inliers reported are the refined model's (as OpenCV 4 reports them).
    let mut h = best?;
    let mut count = inliers_of(&h).iter().filter(|&&b| b).count();
    for _ in 0..5 {
        let mask = inliers_of(&h);
        let (s_in, d_in): (Vec<[f64; 2]>, Vec<[f64; 2]>) =
            src.iter().zip(dst).zip(&mask).filter(|(_, &k)| k).map(|((s, d), _)| (*s, *d)).unzip();
        let Some(g) = (s_in.len() >= 4).then(|| fit(&s_in, &d_in)).flatten().map(|g| refine(g, &s_in, &d_in)) else { break };
        let c = inliers_of(&g).iter().filter(|&&b| b).count();
        let grew = c > count;
        if c >= count {
            (h, count) = (g, c);
        }
        if !grew {
            break;
        }
    }
    Some(HomographyFit { inliers: inliers_of(&h), h })
}

/// Whether `p` lies inside or on the polygon `poly` (as OpenCV's `pointPolygonTest(...) >= 0`).
pub fn inside_polygon(poly: &[[f64; 2]], p: [f64; 2]) -> bool {
    let n = poly.len();
    let mut inside = false;
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        // On the edge.
        let cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
        if cross.abs() < 1e-9 && p[0] >= a[0].min(b[0]) && p[0] <= a[0].max(b[0]) && p[1] >= a[1].min(b[1]) && p[1] <= a[1].max(b[1]) {
            return true;
        }
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(h: &Homography, pts: &[[f64; 2]]) -> Vec<[f64; 2]> {
        pts.iter().map(|p| project(h, *p).unwrap()).collect()
    }

    /// A known camera's homography recovered from exact points, with outliers and noise.
    #[test]
    fn homographies_are_recovered() {
        let truth: Homography = [0.08, 0.03, 100.0, -0.004, 0.11, 80.0, 1e-6, 2e-5, 1.0];
        let tpl = template();
        let img: Vec<[f64; 2]> = through(&truth, &tpl);
        // Image -> template.
        let fitres = find_homography(&img, &tpl, 12.0).unwrap();
        assert!(fitres.inliers.iter().all(|&b| b));
        for (p, q) in img.iter().zip(&tpl) {
            let r = project(&fitres.h, *p).unwrap();
            assert!((r[0] - q[0]).abs() < 1e-4 && (r[1] - q[1]).abs() < 1e-4, "{r:?} {q:?}");
        }
        // Six points moved far away are outliers; the rest still give the truth.
        let mut bad = img.clone();
        for k in [0, 5, 9, 14, 20, 31] {
            bad[k][0] += 150.0;
        }
        let f = find_homography(&bad, &tpl, 12.0).unwrap();
        let out: Vec<usize> = (0..32).filter(|&k| !f.inliers[k]).collect();
        assert_eq!(out, [0, 5, 9, 14, 20, 31]);
        let r = project(&f.h, img[3]).unwrap();
        assert!((r[0] - tpl[3][0]).abs() < 1e-3 && (r[1] - tpl[3][1]).abs() < 1e-3, "{r:?}");
    }

    #[test]
    fn polygons_and_degenerate_input() {
        let sq = [[0.0, 0.0], [0.0, 7000.0], [12000.0, 7000.0], [12000.0, 0.0]];
        assert!(inside_polygon(&sq, [5.0, 5.0]));
        assert!(inside_polygon(&sq, [0.0, 100.0]), "on the edge counts");
        assert!(!inside_polygon(&sq, [-1.0, 5.0]));
        let line = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]];
        assert!(find_homography(&line, &line, 1.0).is_none(), "collinear points have no homography");
        assert!(find_homography(&line[..3], &line[..3], 1.0).is_none());
    }
}
