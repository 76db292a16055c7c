//! The validator's box score of one frame (bbox_clip.py `evaluate_frame`), from the verify
//! chain's result of that frame: which boxes the validator keeps (its size and scoreboard rules),
//! what each kept box is (the classifier slot's label, or unknown without one), the points per box
//! (+1 right class, +0.5 a person given the wrong person role, -1 grass, crowd, other, a ball that
//! is not one, later balls), repeats of a class weighted 1/2^n, normalised by the number of classes
//! seen plus one, times the area factor (mean box over 1.5% or all boxes over 15% of the frame).
#![forbid(unsafe_code)]

use std::collections::HashMap;

use serde::Serialize;

use crate::results::{FrameResult, Verdict};

/// What the validator thinks a box is (its `BoundingBoxObject`, by its text).
pub fn validator_class(label: &str) -> &'static str {
    match label.trim().to_ascii_lowercase().replace('_', " ").as_str() {
        "football" | "ball" | "soccer ball" | "sports ball" | "a small soccer ball on the field" => "football",
        "goalkeeper" | "goalie" => "goalkeeper",
        "player" | "football player" | "soccer player" => "football player",
        "referee" => "referee",
        "grass" | "just grass without any ball" => "grass",
        "crowd" => "crowd",
        "background" => "background",
        "goal" => "goal",
        "blank" => "blank",
        "not a football" => "not a football",
        "black shape" => "black shape",
        _ => "other",
    }
}

/// The miner's class id as the validator names it.
pub fn predicted_class(class_id: u32) -> &'static str {
    match class_id {
        0 => "football",
        1 => "goalkeeper",
        2 => "football player",
        3 => "referee",
        _ => "other",
    }
}

const PEOPLE: [&str; 3] = ["football player", "goalkeeper", "referee"];

/// The validator's points for a box (before the repeat weight).
pub fn points(predicted: &str, expected: &str) -> f32 {
    if PEOPLE.contains(&expected) {
        if predicted == expected {
            1.0
        } else if PEOPLE.contains(&predicted) {
            0.5
        } else {
            -1.0
        }
    } else if expected == "football" && predicted == "football" {
        1.0
    } else {
        -1.0
    }
}

/// The area factor: 1 while the mean box covers at most 1.5% of the frame and all boxes at most
/// 15%; exp(-3 (total - 0.15)) past the total; exp(-80 (mean - 0.015)) past the mean.
pub fn area_factor(areas: &[f64], frame_area: f64) -> f64 {
    if areas.is_empty() || frame_area <= 0.0 {
        return 1.0;
    }
    let total = areas.iter().sum::<f64>() / frame_area;
    let mean = total / areas.len() as f64;
    if mean <= 0.015 {
        if total <= 0.15 {
            1.0
        } else {
            (-3.0 * (total - 0.15)).exp()
        }
    } else {
        (-80.0 * (mean - 0.015)).exp()
    }
}

/// One box as scored.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredBox {
    /// Position in the frame's input.
    pub index: usize,
    pub predicted: &'static str,
    /// What the validator would see (None: it needs the classifier, which did not run).
    pub expected: Option<String>,
    /// Points after the repeat weight (None when `expected` is).
    pub points: Option<f32>,
    /// Dropped before scoring (the rule), or why it scores -1 without a classifier.
    pub note: Option<String>,
}

/// One frame's box score.
#[derive(Debug, Clone, Serialize)]
pub struct FrameBoxScore {
    pub frame: u64,
    pub boxes: usize,
    /// Boxes the validator's rules drop before scoring.
    pub dropped: usize,
    pub scored: usize,
    /// Boxes whose class only a classifier can tell (no classifier ran).
    pub unknown: usize,
    pub area_factor: f64,
    /// The score; without a classifier, with every unknown box taken as confirmed (an upper bound).
    pub score: f64,
    /// Points lost to boxes that are not what the miner said (confirmed wrong or certain -1).
    pub lost: f64,
    pub details: Vec<ScoredBox>,
}

/// What the validator sees in a box a rule rejected, where the rule tells: a later ball is "not a
/// football"; grass, dark and crowd boxes are what CLIP calls grass, a black shape and crowd.
fn seen_as(rule: &str) -> Option<&'static str> {
    match rule {
        "first_only" => Some("not a football"),
        "grass" => Some("grass"),
        r if r.starts_with("dark") => Some("black shape"),
        "zone:crowd" => Some("crowd"),
        _ => None,
    }
}

/// Whether the rule that rejected a box makes the validator drop it before scoring (its size and
/// scoreboard filter, or a box it cannot read); any other rejection is a box the validator scores.
fn dropped_by_validator(rule: Option<&str>, verdict: Verdict) -> bool {
    verdict == Verdict::Invalid || rule.is_some_and(|r| r.starts_with("min_size") || r == "top_band" || r.starts_with("zone:scoreboard"))
}

/// Scores frame `r` of a `width x height` video, its boxes named by the miner's class ids.
/// `classified`: whether a classifier ran (its labels are what the validator would see).
pub fn score_frame(r: &FrameResult, width: u32, height: u32, classified: bool) -> FrameBoxScore {
    let mut details = Vec::with_capacity(r.detections.len());
    let mut areas = Vec::new();
    for (i, d) in r.detections.iter().enumerate() {
        let predicted = predicted_class(d.class_id);
        let check = r.checks.get(i);
        let rule = check.and_then(|c| c.rule.as_deref());
        let verdict = check.map_or(Verdict::Keep, |c| c.verdict);
        if dropped_by_validator(rule, verdict) {
            details.push(ScoredBox {
                index: i,
                predicted,
                expected: None,
                points: None,
                note: Some(format!("dropped: {}", rule.unwrap_or("invalid"))),
            });
            continue;
        }
        let b = d.bbox;
        areas.push(((b[2].trunc() - b[0].trunc()).abs() * (b[3].trunc() - b[1].trunc()).abs()) as f64);
        let (expected, note) = match (verdict, rule) {
            (Verdict::Reject, Some(rule)) => match seen_as(rule) {
                Some(e) => (Some(e.to_string()), Some(format!("rejected by {rule}: the validator sees {e}"))),
                None => (None, Some(format!("rejected by {rule}: not classified"))),
            },
            _ => match r.labels.get(i).and_then(|l| l.as_ref()) {
                Some(l) => (Some(validator_class(&l.label).to_string()), None),
                None if classified => (Some(predicted.to_string()), Some("not asked of the classifier: taken as confirmed".into())),
                None => (None, None),
            },
        };
        details.push(ScoredBox { index: i, predicted, expected, points: None, note });
    }
    let scored = details.iter().filter(|b| b.note.as_deref().is_none_or(|n| !n.starts_with("dropped"))).count();
    let unknown = details.iter().filter(|b| b.expected.is_none() && b.note.as_deref().is_none_or(|n| !n.starts_with("dropped"))).count();
    // Points in input order; an unknown box is taken as what the miner said (the upper bound).
    let mut seen: HashMap<String, u32> = HashMap::new();
    let (mut total, mut lost) = (0.0f64, 0.0f64);
    for b in details.iter_mut().filter(|b| b.note.as_deref().is_none_or(|n| !n.starts_with("dropped"))) {
        let expected = b.expected.clone().unwrap_or_else(|| b.predicted.to_string());
        let n = seen.entry(expected.clone()).or_default();
        let weight = 0.5f64.powi(*n as i32);
        *n += 1;
        let p = points(b.predicted, &expected) as f64 * weight;
        total += p;
        if p < weight {
            lost += weight - p;
        }
        if b.expected.is_some() {
            b.points = Some(p as f32);
        }
    }
    let classes = seen.len();
    let normalised = if classes > 0 { total / (classes as f64 + 1.0) } else { 0.0 };
    let factor = area_factor(&areas, width as f64 * height as f64);
    FrameBoxScore {
        frame: r.index,
        boxes: r.detections.len(),
        dropped: r.detections.len() - scored,
        scored,
        unknown,
        area_factor: factor,
        score: if scored == 0 { 0.0 } else { factor * normalised },
        lost,
        details,
    }
}

/// The challenge's box score from its frames' scores: the mean, at most 1, times the share of the
/// video's frames that have boxes (over 70% counts fully), clamped to 0..1 and rounded to 2
/// decimals as the validator does; and unclamped, unrounded (negative for a bad submission).
pub fn challenge_score(frames: &[FrameBoxScore], video_frames: u64) -> (f64, f64) {
    if frames.is_empty() {
        return (0.0, 0.0);
    }
    let mean = frames.iter().map(|f| f.score).sum::<f64>() / frames.len() as f64;
    let share = if video_frames > 0 { frames.len() as f64 / video_frames as f64 } else { 1.0 };
    let scale = (share / 0.7).clamp(0.0, 1.0);
    let raw = mean.min(1.0) * scale;
    ((raw.clamp(0.0, 1.0) * 100.0).round() / 100.0, raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detection;
    use crate::results::{BoxCheck, Resolved};

    fn frame(boxes: &[([f32; 4], u32)], labels: &[Option<&str>]) -> FrameResult {
        let mut r = FrameResult::untracked(0, 0.0, boxes.iter().map(|&(bbox, class_id)| Detection::new(bbox, 1.0, class_id)).collect());
        r.checks = vec![BoxCheck::default(); boxes.len()];
        r.labels = labels.iter().map(|l| l.map(|l| Resolved { label: l.into(), ..Resolved::colour(l) })).collect();
        r
    }

    /// The validator's arithmetic on a frame it would score: two right players (1 + 0.5), a
    /// referee called a player (0.5), a grass box (-1), a right ball (1): 2.0 over 4 classes + 1.
    #[test]
    fn points_weights_and_normalisation() {
        let r = frame(
            &[
                ([100.0, 300.0, 120.0, 350.0], 2),
                ([200.0, 300.0, 220.0, 350.0], 2),
                ([300.0, 300.0, 320.0, 350.0], 2),
                ([400.0, 300.0, 420.0, 350.0], 2),
                ([500.0, 400.0, 505.0, 405.0], 0),
            ],
            &[Some("football player"), Some("player"), Some("referee"), Some("grass"), Some("football")],
        );
        let s = score_frame(&r, 1280, 720, true);
        assert_eq!(s.scored, 5);
        let pts: Vec<f32> = s.details.iter().map(|b| b.points.unwrap()).collect();
        assert_eq!(pts, [1.0, 0.5, 0.5, -1.0, 1.0]);
        assert!((s.score - 2.0 / 5.0).abs() < 1e-12, "{s:?}");
        assert_eq!(s.area_factor, 1.0);
    }

    #[test]
    fn area_factor_follows_the_validator() {
        assert_eq!(area_factor(&[0.01 * 1000.0; 10], 1000.0), 1.0);
        assert!((area_factor(&[0.014 * 1000.0; 20], 1000.0) - (-3.0f64 * (0.28 - 0.15)).exp()).abs() < 1e-12);
        assert!((area_factor(&[0.1 * 1000.0], 1000.0) - (-80.0f64 * 0.085).exp()).abs() < 1e-12);
    }

    #[test]
    fn challenge_scale_and_rounding() {
        let f = |s: f64| FrameBoxScore {
            frame: 0,
            boxes: 1,
            dropped: 0,
            scored: 1,
            unknown: 0,
            area_factor: 1.0,
            score: s,
            lost: 0.0,
            details: vec![],
        };
        let frames: Vec<FrameBoxScore> = (0..700).map(|_| f(0.456)).collect();
        let (r, raw) = challenge_score(&frames, 750);
        assert!(r == 0.46 && (raw - 0.456).abs() < 1e-12, "{r} {raw}");
        let half: Vec<FrameBoxScore> = (0..375).map(|_| f(0.8)).collect();
        let (r, raw) = challenge_score(&half, 750);
        assert!((raw - 0.8 * 0.5 / 0.7).abs() < 1e-12 && r == 0.57);
    }
}
