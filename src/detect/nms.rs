//! Greedy class-aware non-maximum suppression.
#![forbid(unsafe_code)]

use super::Detection;

/// Intersection over union of two `[x1, y1, x2, y2]` boxes (0 for empty boxes).
#[inline]
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Keeps, best score first, each box that overlaps no better-scored kept box of the same class by
/// more than `iou_threshold`; at most `max_keep` boxes. Ties in score keep their input order, so
/// the result is deterministic. Only the best [`super::MAX_CANDIDATES`] inputs are considered.
pub fn nms(dets: &mut Vec<Detection>, iou_threshold: f32, max_keep: usize) {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    dets.truncate(super::MAX_CANDIDATES);
    let n = dets.len();
    let mut keep = vec![true; n];
    let mut kept = 0;
    for i in 0..n {
        if !keep[i] {
            continue;
        }
        if kept == max_keep {
            keep[i..].iter_mut().for_each(|k| *k = false);
            break;
        }
        kept += 1;
        let (a_bbox, a_class) = (dets[i].bbox, dets[i].class_id);
        for j in i + 1..n {
            if keep[j] && dets[j].class_id == a_class && iou(&a_bbox, &dets[j].bbox) > iou_threshold {
                keep[j] = false;
            }
        }
    }
    let mut it = keep.iter();
    dets.retain(|_| *it.next().unwrap());
}
