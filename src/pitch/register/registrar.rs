//! The registrar: the template registered frame after frame (tracked between frames, searched
//! for after a cut), or tracked on from a homography given (a keypoint model's).
#![forbid(unsafe_code)]

use super::*;

/// Registers the template frame after frame, tracking it between frames and searching for it
/// after a cut.
pub struct Registrar {
    config: RegisterConfig,
    coarse: Vec<[f64; 2]>,
    fine: Vec<[f64; 2]>,
    runs: Vec<std::ops::Range<usize>>,
    /// The last two frames' homographies (template -> frame pixels), newest last.
    last: Vec<Homography>,
    /// After a search found nothing: frames left before the next, and the line cells it saw.
    wait: u32,
    failed_cells: usize,
}

impl Registrar {
    pub fn new(config: RegisterConfig) -> Self {
        let (coarse, _) = samples(350.0);
        let (fine, runs) = samples(50.0);
        Self { config, coarse, fine, runs, last: Vec::new(), wait: 0, failed_cells: 0 }
    }

    /// Forgets the frames before (the next frame is searched for).
    pub fn reset(&mut self) {
        self.last.clear();
        self.wait = 0;
    }

    /// The next frame's registration from its `width x height` line mask; None (and the
    /// tracking forgotten) when no homography fits well enough.
    pub fn next(&mut self, mask: &[u8], width: u32, height: u32) -> Option<PitchFix> {
        let field = LineField::new(mask, width, height);
        let cells = field.line_cells();
        let changed = 2 * cells > 3 * self.failed_cells || 2 * cells < self.failed_cells;
        if self.last.is_empty() && self.wait > 0 && !changed {
            self.wait -= 1;
            return None;
        }
        let fix = self.register(&field);
        if fix.is_none() && self.last.is_empty() {
            (self.wait, self.failed_cells) = (self.config.retry, cells);
        }
        self.remember(&fix);
        fix
    }

    /// Tracking goes on from `h` (template -> frame pixels), as the frame before's homography
    /// (a keypoint model's, say).
    pub fn seed(&mut self, h: Homography) {
        (self.last, self.wait) = (vec![h], 0);
    }

    /// The next frame tracked from the frames before only (no search): None, and the tracking
    /// forgotten, when it is lost or there was nothing to track.
    pub fn track(&mut self, mask: &[u8], width: u32, height: u32) -> Option<PitchFix> {
        let field = LineField::new(mask, width, height);
        let fix = if field.line_cells() < 16 { None } else { self.tracked(&field, &to_unit(&field)) };
        self.remember(&fix);
        fix
    }

    fn remember(&mut self, fix: &Option<PitchFix>) {
        match fix {
            Some(f) => {
                self.last.push(f.homography);
                if self.last.len() > 2 {
                    self.last.remove(0);
                }
            }
            None => self.last.clear(),
        }
    }

    /// The fix of `g` (unit frame) on `field` when plausible.
    fn finish(&self, g: Homography, field: &LineField, back: &Homography, searched: bool) -> Option<PitchFix> {
        let q = fit(&g, field, &self.fine, &self.runs);
        (plausible(&g) && q.is_finite()).then(|| PitchFix { homography: unit(mul(back, &g)), fit: q, searched })
    }

    /// The frame tracked from the last ones (motion carried on, else the last as it was).
    fn tracked(&self, field: &LineField, (to, back): &(Homography, Homography)) -> Option<PitchFix> {
        let &last = self.last.last()?;
        // The last motion carried on: H_t = (H_t-1 H_t-2^-1) H_t-1.
        let guess = match self.last.first() {
            Some(&before) if self.last.len() == 2 => invert(&before).map(|inv| mul(&mul(&last, &inv), &last)).unwrap_or(last),
            _ => last,
        };
        [guess, last].into_iter().find_map(|start| {
            let g = refine(normalised(mul(to, &start)), field, &self.fine, &[12.0, 6.0, 3.0, 2.0]);
            self.finish(g, field, back, false).filter(|f| f.fit >= self.config.keep)
        })
    }

    fn register(&self, field: &LineField) -> Option<PitchFix> {
        if field.line_cells() < 16 {
            return None;
        }
        let (to, back) = to_unit(field);
        if let Some(f) = self.tracked(field, &(to, back)) {
            return Some(f);
        }
        let finish = |g: Homography, searched: bool| self.finish(g, field, &back, searched);
        // The search's cameras in order, each refined in full; the first that fits very well ends it.
        let mut found: Vec<(PitchFix, Homography)> = Vec::new();
        for g in self.candidates(field, &to) {
            let g = refine(refine_with(g, field, &self.coarse, &[24.0, 12.0], 8), field, &self.fine, &[6.0, 3.0, 2.0]);
            let Some(f) = finish(g, true) else { continue };
            let done = f.fit >= GOOD_FIT;
            found.push((f, g));
            if done {
                break;
            }
        }
        // The best few polished with every point and the whole reach again: lines the coarse
        // points left out of reach (the near field of a low camera) pull them the rest of the way.
        found.sort_by(|a, b| b.0.fit.total_cmp(&a.0.fit));
        found.truncate(POLISH);
        let best = found
            .into_iter()
            .map(|(f, g)| match finish(refine(g, field, &self.fine, &[24.0, 12.0, 6.0, 3.0, 2.0]), true) {
                Some(p) if p.fit > f.fit => p,
                _ => f,
            })
            .max_by(|a, b| a.fit.total_cmp(&b.fit))?;
        (best.fit >= self.config.accept).then_some(best)
    }

    /// The search: broadcast cameras over the pitch, the best distinct few by the soft score.
    fn candidates(&self, field: &LineField, to: &Homography) -> Vec<Homography> {
        self.candidates_with(field, to, SEARCH_MISS, SEARCH_KEEP)
    }

    fn candidates_with(&self, field: &LineField, to: &Homography, miss: f64, n_keep: usize) -> Vec<Homography> {
        let (fw, fh) = (field.w as f64 * field.scale, field.h as f64 * field.scale);
        let mut scored: Vec<(f64, Homography, [f64; 2])> = Vec::new();
        for pos in SEARCH_CAMERAS {
            for fov in (0..15).map(|k| 6.0f64 * 2f64.powf(k as f64 / 4.0)) {
                let vfov = 2.0 * ((fov.to_radians() / 2.0).tan() * fh / fw).atan();
                let mut y = -500.0;
                while y <= WIDTH + 500.0 {
                    let dist = ((LENGTH / 2.0 - pos[0]).powi(2) + (y - pos[1]).powi(2)).sqrt();
                    let tilt = (pos[2] / dist).atan();
                    let step_x = (2.0 * dist * (fov.to_radians() / 2.0).tan() / 12.0).max(50.0);
                    let step_y = (dist * vfov / tilt.sin().max(0.05) / 8.0).max(50.0);
                    let mut x = -1000.0;
                    while x <= LENGTH + 1000.0 {
                        let h = camera(pos, [x, y], fov, fw, fh);
                        let g = normalised(mul(to, &h));
                        let (s, n) = soft_score(&g, field, &self.coarse, 24.0, miss);
                        if n >= 6 {
                            scored.push((s, g, [x, y]));
                        }
                        x += step_x;
                    }
                    y += step_y;
                }
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        // The best few that look at different places.
        let mut keep: Vec<(f64, Homography, [f64; 2])> = Vec::new();
        for c in scored {
            if keep.len() == n_keep {
                break;
            }
            if keep.iter().all(|k| (k.2[0] - c.2[0]).abs() > 300.0 || (k.2[1] - c.2[1]).abs() > 600.0) {
                keep.push(c);
            }
        }
        keep.into_iter().map(|k| k.1).collect()
    }
}
