//! Agreement between two detectors on the same frames (for example INT8 vs fp32): per class,
//! how many reference boxes the candidate reproduces at an IoU threshold, boxes only one side
//! has, and the score shift of matched boxes.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::{iou, Detection};

/// Counts for one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ClassAgreement {
    /// Reference boxes.
    pub reference: u64,
    /// Candidate boxes.
    pub candidate: u64,
    /// Reference boxes matched by a candidate box of the class at IoU >= the threshold.
    pub matched: u64,
    /// Candidate boxes that match no reference box.
    pub candidate_unmatched: u64,
    /// Sum of (candidate score - reference score) over matched pairs.
    pub score_shift_sum: f64,
}

impl ClassAgreement {
    /// Share of reference boxes matched (1 when there are none).
    pub fn recall(&self) -> f64 {
        if self.reference == 0 {
            1.0
        } else {
            self.matched as f64 / self.reference as f64
        }
    }

    /// Candidate boxes without a reference box, as a share of the reference count.
    pub fn extra(&self) -> f64 {
        self.candidate_unmatched as f64 / self.reference.max(1) as f64
    }

    pub fn mean_score_shift(&self) -> f64 {
        if self.matched == 0 {
            0.0
        } else {
            self.score_shift_sum / self.matched as f64
        }
    }
}

/// The bar a model must clear against fp32 to be a default: at the same threshold, at least this
/// share of the reference's boxes matched and at most this share extra.
pub const DEFAULT_MIN_MATCHED: f64 = 0.98;
pub const DEFAULT_MAX_EXTRA: f64 = 0.02;

/// All classes together.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub reference: u64,
    pub candidate: u64,
    pub matched: u64,
}

impl Totals {
    pub fn of(acc: &BTreeMap<u32, ClassAgreement>) -> Self {
        acc.values().fold(Self::default(), |t, c| Self {
            reference: t.reference + c.reference,
            candidate: t.candidate + c.candidate,
            matched: t.matched + c.matched,
        })
    }

    /// Matched boxes per reference box.
    pub fn matched_share(&self) -> f64 {
        self.matched as f64 / self.reference.max(1) as f64
    }

    /// Unmatched candidate boxes per reference box.
    pub fn extra_share(&self) -> f64 {
        self.candidate.saturating_sub(self.matched) as f64 / self.reference.max(1) as f64
    }

    /// Whether [`DEFAULT_MIN_MATCHED`] and [`DEFAULT_MAX_EXTRA`] are met.
    pub fn meets_default_bar(&self) -> bool {
        self.matched_share() >= DEFAULT_MIN_MATCHED && self.extra_share() <= DEFAULT_MAX_EXTRA
    }
}

/// Greedy one-to-one matching within each class: reference boxes by descending score take the
/// unmatched candidate box of their class with the highest IoU, if it reaches `min_iou`.
pub fn match_boxes(reference: &[Detection], candidate: &[Detection], min_iou: f32) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..reference.len()).collect();
    order.sort_by(|&a, &b| reference[b].score.total_cmp(&reference[a].score));
    let mut used = vec![false; candidate.len()];
    let mut pairs = Vec::new();
    for r in order {
        let best = candidate
            .iter()
            .enumerate()
            .filter(|(c, d)| !used[*c] && d.class_id == reference[r].class_id)
            .map(|(c, d)| (c, iou(&reference[r].bbox, &d.bbox)))
            .filter(|(_, v)| *v >= min_iou)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((c, _)) = best {
            used[c] = true;
            pairs.push((r, c));
        }
    }
    pairs
}

/// Adds one frame's comparison to `acc` (per class id): both sides at their operating thresholds.
pub fn accumulate(acc: &mut BTreeMap<u32, ClassAgreement>, reference: &[Detection], candidate: &[Detection], min_iou: f32) {
    accumulate_tolerant(acc, reference, candidate, 0.0, 0.0, 0.0, min_iou)
}

/// Adds one frame's comparison at object level. `reference` and `candidate` hold each model's
/// boxes down to a low `floor` score. A reference box at or above `t_ref` is found when the
/// candidate has a box of its class at IoU >= `min_iou` at any score >= `floor`; a candidate box
/// at or above `t_cand` is extra when no reference box >= `floor` matches it. So a box whose
/// score merely crosses the threshold between the two models is neither missed nor extra.
pub fn accumulate_tolerant(
    acc: &mut BTreeMap<u32, ClassAgreement>,
    reference: &[Detection],
    candidate: &[Detection],
    t_ref: f32,
    t_cand: f32,
    floor: f32,
    min_iou: f32,
) {
    let keep = |v: &[Detection], t: f32| v.iter().filter(|d| d.score >= t).cloned().collect::<Vec<_>>();
    let (r_op, r_all) = (keep(reference, t_ref), keep(reference, floor));
    let (c_op, c_all) = (keep(candidate, t_cand), keep(candidate, floor));
    for d in &r_op {
        acc.entry(d.class_id).or_default().reference += 1;
    }
    for d in &c_op {
        acc.entry(d.class_id).or_default().candidate += 1;
    }
    for (r, c) in match_boxes(&r_op, &c_all, min_iou) {
        let e = acc.entry(r_op[r].class_id).or_default();
        e.matched += 1;
        e.score_shift_sum += (c_all[c].score - r_op[r].score) as f64;
    }
    let mut found = vec![false; c_op.len()];
    for (_, c) in match_boxes(&r_all, &c_op, min_iou) {
        found[c] = true;
    }
    for (d, f) in c_op.iter().zip(found) {
        if !f {
            acc.entry(d.class_id).or_default().candidate_unmatched += 1;
        }
    }
}

/// Agreement over frame pairs (reference boxes, candidate boxes, both found down to a low
/// `floor`) with the reference at `t_ref` and the candidate at `t`: `tolerant` counts at object
/// level (a box found at any score >= `floor` counts, see [`accumulate_tolerant`]); otherwise
/// both sides strictly at their thresholds.
pub fn agreement(
    pairs: &[(Vec<Detection>, Vec<Detection>)],
    t_ref: f32,
    t: f32,
    floor: f32,
    tolerant: bool,
    min_iou: f32,
) -> std::collections::BTreeMap<u32, ClassAgreement> {
    let mut acc = std::collections::BTreeMap::new();
    let f = if tolerant { floor } else { 0.0 };
    for (r, c) in pairs {
        if tolerant {
            accumulate_tolerant(&mut acc, r, c, t_ref, t, f, min_iou);
        } else {
            let r: Vec<Detection> = r.iter().filter(|d| d.score >= t_ref).cloned().collect();
            let c: Vec<Detection> = c.iter().filter(|d| d.score >= t).cloned().collect();
            accumulate_tolerant(&mut acc, &r, &c, t_ref, t, f, min_iou);
        }
    }
    acc
}

/// The smallest candidate threshold (0.20, 0.21, ... 1.00) at which the candidate has no more
/// boxes than the reference has at `t_ref` (strictly counted): the threshold that restores the
/// reference's box count. 1.0 when none does.
pub fn restoring_threshold(pairs: &[(Vec<Detection>, Vec<Detection>)], t_ref: f32, min_iou: f32) -> f32 {
    let total = |acc: &std::collections::BTreeMap<u32, ClassAgreement>| {
        acc.values().fold((0u64, 0u64), |s, c| (s.0 + c.reference, s.1 + c.candidate))
    };
    let (ref_total, _) = total(&agreement(pairs, t_ref, 1.0, 0.0, false, min_iou));
    (0..=80)
        .map(|k| (20 + k) as f32 / 100.0)
        .find(|&t| total(&agreement(pairs, t_ref, t, 0.0, false, min_iou)).1 <= ref_total)
        .unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: f32, s: f32, c: u32) -> Detection {
        Detection::new([x, 0.0, x + 10.0, 10.0], s, c)
    }

    #[test]
    fn matches_one_to_one_within_classes() {
        let r = [d(0.0, 0.9, 0), d(1.0, 0.8, 0), d(50.0, 0.7, 1)];
        let c = [d(0.5, 0.85, 0), d(50.0, 0.6, 0), d(100.0, 0.5, 1)];
        let pairs = match_boxes(&r, &c, 0.5);
        assert_eq!(pairs, vec![(0, 0)], "one candidate per reference box; class 1 box has no match");
        let mut acc = BTreeMap::new();
        accumulate(&mut acc, &r, &c, 0.5);
        assert_eq!(acc[&0].reference, 2);
        assert_eq!(acc[&0].candidate, 2);
        assert_eq!(acc[&0].matched, 1);
        assert!((acc[&0].mean_score_shift() + 0.05).abs() < 1e-6);
        assert_eq!(acc[&0].recall(), 0.5);
        assert_eq!(acc[&1].extra(), 1.0);
    }

    #[test]
    fn tolerant_matching_ignores_threshold_crossings() {
        // The same object at 0.36 (reference) and 0.33 (candidate), operating threshold 0.35.
        let r = [d(0.0, 0.36, 0)];
        let c = [d(0.5, 0.33, 0)];
        let mut strict = BTreeMap::new();
        accumulate(&mut strict, &r, &c.iter().filter(|x| x.score >= 0.35).cloned().collect::<Vec<_>>(), 0.5);
        assert_eq!(strict[&0].recall(), 0.0);
        let mut tol = BTreeMap::new();
        accumulate_tolerant(&mut tol, &r, &c, 0.35, 0.35, 0.2, 0.5);
        assert_eq!((tol[&0].recall(), tol[&0].extra()), (1.0, 0.0));
        // A candidate box with no reference counterpart at any score is extra.
        let mut tol = BTreeMap::new();
        accumulate_tolerant(&mut tol, &r, &[d(0.5, 0.33, 0), d(80.0, 0.5, 0)], 0.35, 0.35, 0.2, 0.5);
        assert_eq!(tol[&0].candidate_unmatched, 1);
    }
}
