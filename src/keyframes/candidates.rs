//! Stage 1's decision: the quality scores (normalised by the video's percentiles), the gates and
//! the spacing that make a shot's candidates. The choice and the holder of stage 1's pictures
//! ([`super::hold`]) both work candidates out here.
#![forbid(unsafe_code)]

use super::policy::{self, Policy};
use super::{shots, QualityScore, ShotReport};
use crate::pipeline::quality::Measured;
use crate::quality::FrameQuality;

pub(super) fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Normalises the measures of the whole video into quality scores.
pub(super) struct Scorer {
    pub(super) sharp95: f64,
    pub(super) colour95: f64,
    pub(super) w: policy::QualityWeights,
}

impl Scorer {
    pub(super) fn new(frames: &[Measured], w: &policy::QualityWeights) -> Self {
        let sharp95 = percentile(frames.iter().map(|m| m.quality.sharpness.ln_1p()).collect(), 0.95).max(1e-9);
        let colour95 = percentile(frames.iter().map(|m| m.quality.colourfulness).collect(), 0.95).max(1e-9);
        Self { sharp95, colour95, w: w.clone() }
    }

    pub(super) fn score(&self, q: &FrameQuality) -> QualityScore {
        let sharpness = (q.sharpness.ln_1p() / self.sharp95).min(1.0);
        let contrast = (q.contrast / 64.0).min(1.0);
        let colourfulness = (q.colourfulness / self.colour95).min(1.0);
        let exposure = (1.0 - q.underexposed - q.overexposed).clamp(0.0, 1.0) * (1.0 - 0.5 * (q.brightness - 128.0).abs() / 128.0);
        let w = &self.w;
        let total = w.sharpness + w.contrast + w.colourfulness + w.exposure;
        let score = (w.sharpness * sharpness + w.contrast * contrast + w.colourfulness * colourfulness + w.exposure * exposure) / total;
        QualityScore { sharpness, contrast, colourfulness, exposure, score }
    }
}

/// Picks up to `k` frames of `pool` (measured index, score), best first (ties: the earlier), at
/// least `gap` measured frames apart.
pub(super) fn spaced_best(mut pool: Vec<(usize, f64)>, k: usize, gap: usize) -> Vec<usize> {
    let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    // The picks come from the head of the order unless the spacing reaches past it: sort the
    // head only, and the whole pool when the head does not hold `k` picks (the same picks: the
    // order is total, so the head sorted is the sorted pool's head).
    let head = (16 * k).max(64);
    if pool.len() > head {
        pool.select_nth_unstable_by(head - 1, order);
        pool[..head].sort_by(order);
        let picks = spaced_in_order(&pool[..head], k, gap);
        if picks.len() == k {
            return picks;
        }
    }
    pool.sort_by(order);
    spaced_in_order(&pool, k, gap)
}

/// The greedy pass of [`spaced_best`] over frames already in order, best first.
pub(super) fn spaced_in_order(sorted: &[(usize, f64)], k: usize, gap: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for &(i, _) in sorted {
        if out.len() == k {
            break;
        }
        if out.iter().all(|&j| i.abs_diff(j) >= gap) {
            out.push(i);
        }
    }
    out
}

/// The frames of shot `s` that may be its candidates: away from the cut by the guard, past the
/// exposure and relative-sharpness gates. Also the counts kept out (blurred, exposure).
pub(super) fn gated(measured: &[Measured], s: &shots::Shot, policy: &Policy) -> (Vec<usize>, usize, usize) {
    let len = s.end - s.start;
    let guard = policy.quality.boundary_guard;
    let median_sharp = percentile(measured[s.start..s.end].iter().map(|m| m.quality.sharpness).collect(), 0.5);
    let (lo, hi) = if len > 2 * guard + 1 { (s.start + guard, s.end - guard) } else { (s.start, s.end) };
    let (mut blur, mut exposure) = (0, 0);
    let mut pool = Vec::new();
    for (i, m) in measured.iter().enumerate().take(hi).skip(lo) {
        let fq = &m.quality;
        if fq.underexposed > policy.quality.max_underexposed || fq.overexposed > policy.quality.max_overexposed {
            exposure += 1;
            continue;
        }
        if fq.sharpness < policy.quality.min_relative_sharpness * median_sharp {
            blur += 1;
            continue;
        }
        pool.push(i);
    }
    (pool, blur, exposure)
}

/// The measured frames between a shot's candidates: half its length over one more than the
/// candidates a shot has, at least 1.
pub(super) fn candidate_gap(len: usize, policy: &Policy) -> usize {
    ((len / (policy.candidates.per_shot + 1)).max(1) / 2).max(1)
}

/// Each shot's candidates: its [`gated`] frames, the best few spread over the shot. The shots'
/// reports (without candidates yet) and the picks as (measured index, shot).
pub(super) fn candidates_per_shot(
    measured: &[Measured],
    found: &[shots::Shot],
    scorer: &Scorer,
    policy: &Policy,
) -> (Vec<ShotReport>, Vec<(usize, usize)>) {
    let mut shot_reports = Vec::with_capacity(found.len());
    let mut picks: Vec<(usize, usize)> = Vec::new();
    for (si, s) in found.iter().enumerate() {
        let len = s.end - s.start;
        let (pool, blur, exposure) = gated(measured, s, policy);
        let pool = pool.into_iter().map(|i| (i, scorer.score(&measured[i].quality).score)).collect();
        let chosen = spaced_best(pool, policy.candidates.per_shot, candidate_gap(len, policy));
        picks.extend(chosen.iter().map(|&i| (i, si)));
        let (first, last) = (&measured[s.start], &measured[s.end - 1]);
        shot_reports.push(ShotReport {
            index: si,
            start_frame: first.index,
            end_frame: last.index,
            start_time: first.pts,
            end_time: last.pts,
            change: s.change,
            threshold: s.threshold,
            frames_measured: len,
            rejected_blur: blur,
            rejected_exposure: exposure,
            candidates: Vec::new(),
        });
    }
    (shot_reports, picks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_best_keeps_distance() {
        let pool = vec![(10, 0.9), (11, 0.89), (12, 0.88), (20, 0.5), (30, 0.7)];
        assert_eq!(spaced_best(pool.clone(), 3, 5), vec![10, 30, 20]);
        assert_eq!(spaced_best(pool, 2, 1), vec![10, 11]);
    }

    #[test]
    fn spaced_best_on_a_large_pool_equals_sorting_it_whole() {
        // Scores with many ties (three decimals), pools past the sorted head, every spacing.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in [65, 200, 2048] {
            let pool: Vec<(usize, f64)> = (0..len).map(|i| (i * 3, (next() % 1000) as f64 / 1000.0)).collect();
            for (k, gap) in [(1, 1), (3, 1), (3, 40), (3, 700), (6, 300), (3, 5000)] {
                let mut whole = pool.clone();
                whole.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                assert_eq!(spaced_best(pool.clone(), k, gap), spaced_in_order(&whole, k, gap), "len {len}, k {k}, gap {gap}");
            }
        }
    }
}
