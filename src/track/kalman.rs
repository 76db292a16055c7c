//! The constant-velocity Kalman filter of SORT/DeepSORT/ByteTrack on (cx, cy, aspect, height),
//! with the reference implementation's noise model (std weights 1/20 for position, 1/160 for
//! velocity, scaled by the box height). Time is counted in frames; `predict(dt)` advances `dt`
//! frames as `dt` single steps, so a tracker fed every K-th frame moves boxes as far as one fed
//! every frame.
#![forbid(unsafe_code)]
// Small fixed-size matrix algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

/// State: mean `[cx, cy, a, h, vcx, vcy, va, vh]` and its 8x8 covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct KalmanState {
    pub mean: [f64; 8],
    pub cov: [[f64; 8]; 8],
}

const W_POS: f64 = 1.0 / 20.0;
const W_VEL: f64 = 1.0 / 160.0;

/// A box `[x1, y1, x2, y2]` as a measurement `[cx, cy, w/h, h]`.
pub fn xyah(b: [f32; 4]) -> [f64; 4] {
    let (w, h) = ((b[2] - b[0]) as f64, (b[3] - b[1]) as f64);
    [b[0] as f64 + w / 2.0, b[1] as f64 + h / 2.0, w / h.max(1e-6), h]
}

/// The box `[x1, y1, x2, y2]` of a state.
pub fn to_xyxy(m: &[f64; 8]) -> [f32; 4] {
    let (h, w) = (m[3], m[2] * m[3]);
    [(m[0] - w / 2.0) as f32, (m[1] - h / 2.0) as f32, (m[0] + w / 2.0) as f32, (m[1] + h / 2.0) as f32]
}

impl KalmanState {
    /// A new track from its first measurement, velocities zero.
    pub fn initiate(z: [f64; 4]) -> Self {
        let h = z[3];
        let std = [2.0 * W_POS * h, 2.0 * W_POS * h, 1e-2, 2.0 * W_POS * h, 10.0 * W_VEL * h, 10.0 * W_VEL * h, 1e-5, 10.0 * W_VEL * h];
        let mut cov = [[0.0; 8]; 8];
        for i in 0..8 {
            cov[i][i] = std[i] * std[i];
        }
        Self { mean: [z[0], z[1], z[2], z[3], 0.0, 0.0, 0.0, 0.0], cov }
    }

    /// Advances one frame.
    pub fn predict_one(&mut self) {
        let h = self.mean[3];
        let q = [W_POS * h, W_POS * h, 1e-2, W_POS * h, W_VEL * h, W_VEL * h, 1e-5, W_VEL * h];
        for i in 0..4 {
            self.mean[i] += self.mean[i + 4];
        }
        // cov = F cov F^T + Q with F = [[I, I], [0, I]].
        let c = self.cov;
        let mut fc = c;
        for i in 0..4 {
            for j in 0..8 {
                fc[i][j] = c[i][j] + c[i + 4][j];
            }
        }
        let mut out = fc;
        for i in 0..8 {
            for j in 0..4 {
                out[i][j] = fc[i][j] + fc[i][j + 4];
            }
        }
        for (i, qi) in q.iter().enumerate() {
            out[i][i] += qi * qi;
        }
        self.cov = out;
    }

    /// Advances `dt` frames.
    pub fn predict(&mut self, dt: u64) {
        for _ in 0..dt.max(1) {
            self.predict_one();
        }
    }

    /// Corrects with a measurement `[cx, cy, a, h]`.
    pub fn update(&mut self, z: [f64; 4]) {
        let h = self.mean[3];
        let r = [W_POS * h, W_POS * h, 1e-1, W_POS * h];
        // S = H P H^T + R: the top-left 4x4 block of P plus R.
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = self.cov[i][j];
            }
            s[i][i] += r[i] * r[i];
        }
        let Some(si) = invert4(&s) else { return };
        // K = P H^T S^-1: (8x4) = P[:, 0..4] * S^-1.
        let mut k = [[0.0; 4]; 8];
        for i in 0..8 {
            for j in 0..4 {
                k[i][j] = (0..4).map(|m| self.cov[i][m] * si[m][j]).sum();
            }
        }
        let innov: [f64; 4] = std::array::from_fn(|i| z[i] - self.mean[i]);
        for i in 0..8 {
            self.mean[i] += (0..4).map(|j| k[i][j] * innov[j]).sum::<f64>();
        }
        // P = P - K S K^T = P - K (H P) since K S = P H^T.
        let p = self.cov;
        for i in 0..8 {
            for j in 0..8 {
                self.cov[i][j] = p[i][j] - (0..4).map(|m| k[i][m] * p[m][j]).sum::<f64>();
            }
        }
    }
}

/// Inverse of a symmetric positive-definite 4x4 matrix (Gauss-Jordan with partial pivoting).
fn invert4(a: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut m = [[0.0; 8]; 4];
    for i in 0..4 {
        m[i][..4].copy_from_slice(&a[i]);
        m[i][4 + i] = 1.0;
    }
    for col in 0..4 {
        let piv = (col..4).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))?;
        if m[piv][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, piv);
        let d = m[col][col];
        m[col].iter_mut().for_each(|v| *v /= d);
        for r in 0..4 {
            if r != col {
                let f = m[r][col];
                let row = m[col];
                m[r].iter_mut().zip(row).for_each(|(v, p)| *v -= f * p);
            }
        }
    }
    Some(std::array::from_fn(|i| std::array::from_fn(|j| m[i][4 + j])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_round_trip() {
        let b = [10.0, 20.0, 50.0, 100.0];
        let z = xyah(b);
        assert_eq!(z, [30.0, 60.0, 0.5, 80.0]);
        let s = KalmanState::initiate(z);
        assert_eq!(to_xyxy(&s.mean), b);
    }

    #[test]
    fn learns_a_constant_velocity() {
        let mut s = KalmanState::initiate(xyah([0.0, 0.0, 20.0, 40.0]));
        for t in 1..30 {
            s.predict(1);
            let x = 3.0 * t as f32;
            s.update(xyah([x, 0.0, x + 20.0, 40.0]));
        }
        assert!((s.mean[4] - 3.0).abs() < 0.1, "vx {}", s.mean[4]);
        // Two frames ahead without measurements.
        s.predict(2);
        let b = to_xyxy(&s.mean);
        assert!((b[0] - 93.0).abs() < 1.0, "{b:?}");
    }

    #[test]
    fn predict_dt_equals_repeated_steps() {
        let mut a = KalmanState::initiate(xyah([0.0, 0.0, 20.0, 40.0]));
        a.update(xyah([1.0, 0.0, 21.0, 40.0]));
        let mut b = a.clone();
        a.predict(3);
        b.predict_one();
        b.predict_one();
        b.predict_one();
        assert_eq!(a, b);
    }

    #[test]
    fn inverse_is_an_inverse() {
        let a = [[4.0, 1.0, 0.5, 0.0], [1.0, 3.0, 0.2, 0.1], [0.5, 0.2, 2.0, 0.3], [0.0, 0.1, 0.3, 1.5]];
        let i = invert4(&a).unwrap();
        for r in 0..4 {
            for c in 0..4 {
                let v: f64 = (0..4).map(|k| a[r][k] * i[k][c]).sum();
                assert!((v - if r == c { 1.0 } else { 0.0 }).abs() < 1e-9);
            }
        }
    }
}
