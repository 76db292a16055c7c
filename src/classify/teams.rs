//! Colour team assignment without any model: per clip, the jersey colours of the people (upper
//! body, grass and dark pixels left out) are clustered into two teams with a small k-means, trimmed
//! of the boxes unlike both (goalkeepers and referees would otherwise pull a team's centre and
//! widen its spread); identities (track or miner id) unlike both teams are goalkeepers or referees:
//! a goalkeeper stays at the end of the play (the outermost person across the frame, its goal's
//! side), the referee among the players. Labels are per identity by majority, so one frame's odd
//! crop does not change a player's team.
#![forbid(unsafe_code)]

use std::collections::HashMap;

/// A box's team decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamLabel {
    /// Team 0 or 1 (which is which is arbitrary but fixed within a clip).
    Team(u8),
    Goalkeeper,
    Referee,
    /// No jersey colour could be measured.
    Unknown,
}

fn dist(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Two centroids by k-means (Lloyd), started from the two features farthest apart (deterministic).
pub fn two_means(x: &[[f32; 3]]) -> Option<[[f32; 3]; 2]> {
    if x.len() < 2 {
        return None;
    }
    // Farthest pair, from the point farthest from the mean (O(n)).
    let n = x.len() as f32;
    let mean = [0, 1, 2].map(|c| x.iter().map(|p| p[c]).sum::<f32>() / n);
    let far = |from: &[f32; 3]| *x.iter().max_by(|a, b| dist(a, from).total_cmp(&dist(b, from))).expect("non-empty");
    let a = far(&mean);
    let b = far(&a);
    lloyd(x, [a, b])
}

fn lloyd(x: &[[f32; 3]], mut c: [[f32; 3]; 2]) -> Option<[[f32; 3]; 2]> {
    for _ in 0..50 {
        let mut sum = [[0.0f32; 3]; 2];
        let mut cnt = [0usize; 2];
        for p in x {
            let k = (dist(p, &c[1]) < dist(p, &c[0])) as usize;
            cnt[k] += 1;
            (0..3).for_each(|i| sum[k][i] += p[i]);
        }
        let next = [0, 1].map(|k| if cnt[k] > 0 { sum[k].map(|v| v / cnt[k] as f32) } else { c[k] });
        if next == c {
            break;
        }
        c = next;
    }
    Some(c)
}

/// The two team centres, trimmed: k-means, then again without the features farther from their
/// centre than the outlier limit, until that set stops changing (at most 5 rounds). Returns the
/// centres and the limit.
fn team_centres(x: &[[f32; 3]], outlier_factor: f32, min_outlier: f32) -> Option<([[f32; 3]; 2], f32)> {
    let mut c = two_means(x)?;
    let mut limit = f32::INFINITY;
    let mut kept = x.len();
    for _ in 0..5 {
        let near = |p: &[f32; 3]| dist(p, &c[0]).min(dist(p, &c[1]));
        let mut ds: Vec<f32> = x.iter().map(near).collect();
        ds.sort_by(f32::total_cmp);
        limit = (ds[ds.len() / 2] * outlier_factor).max(min_outlier);
        let inliers: Vec<[f32; 3]> = x.iter().filter(|p| near(p) <= limit).copied().collect();
        if inliers.len() == kept || inliers.len() < 2 {
            break;
        }
        kept = inliers.len();
        c = two_means(&inliers)?;
    }
    Some((c, limit))
}

/// One box as colour teams see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    /// Jersey colour (None: not measured).
    pub colour: Option<[f32; 3]>,
    /// Identity (track or miner id); None: decided alone.
    pub id: Option<u64>,
    /// How far out the box is across its frame: 0 in the middle of the people, 1 the outermost
    /// (|2 r - 1| of its rank r by horizontal centre); None with fewer than 3 people in the frame.
    pub outer: Option<f32>,
}

/// An identity unlike both teams is a goalkeeper when its boxes are on average at least this far
/// out across their frames (a goalkeeper is the last person before its goal).
const GOALKEEPER_OUTER: f32 = 0.75;

/// Team labels for `boxes`. `outlier_factor`: a box farther than this many times the median
/// distance of the boxes to their team's centre (and at least `min_outlier` colour units) is
/// unlike both teams.
pub fn assign(boxes: &[Seen], outlier_factor: f32, min_outlier: f32) -> Vec<TeamLabel> {
    let known: Vec<[f32; 3]> = boxes.iter().filter_map(|b| b.colour).collect();
    let Some((c, limit)) = team_centres(&known, outlier_factor, min_outlier) else { return vec![TeamLabel::Unknown; boxes.len()] };
    // Per box: Some(team) or None (unlike both).
    let per_box: Vec<Option<Option<u8>>> = boxes
        .iter()
        .map(|b| {
            b.colour.map(|f| {
                let (d0, d1) = (dist(&f, &c[0]), dist(&f, &c[1]));
                let (t, d) = if d1 < d0 { (1, d1) } else { (0, d0) };
                (d <= limit).then_some(t)
            })
        })
        .collect();
    // Votes per identity: [team 0, team 1, unlike both], and how far out its boxes are.
    let mut votes: HashMap<u64, [u32; 3]> = HashMap::new();
    let mut outer: HashMap<u64, (f32, u32)> = HashMap::new();
    for (v, b) in per_box.iter().zip(boxes) {
        let Some(id) = b.id else { continue };
        if let Some(v) = v {
            votes.entry(id).or_default()[v.map_or(2, |t| t as usize)] += 1;
        }
        if let Some(o) = b.outer {
            let e = outer.entry(id).or_default();
            (e.0, e.1) = (e.0 + o, e.1 + 1);
        }
    }
    let mean_outer = |id: Option<u64>, own: Option<f32>| -> Option<f32> {
        match id {
            Some(id) => outer.get(&id).filter(|e| e.1 > 0).map(|e| e.0 / e.1 as f32),
            None => own,
        }
    };
    per_box
        .iter()
        .zip(boxes)
        .map(|(v, b)| {
            let decided: Option<Option<u8>> = match b.id.and_then(|i| votes.get(&i)) {
                Some(v) => {
                    let best = (0..3).max_by_key(|&k| (v[k], std::cmp::Reverse(k))).expect("three");
                    Some(if best == 2 { None } else { Some(best as u8) })
                }
                None => *v,
            };
            match decided {
                None => TeamLabel::Unknown,
                Some(Some(t)) => TeamLabel::Team(t),
                Some(None) if mean_outer(b.id, b.outer).is_some_and(|o| o >= GOALKEEPER_OUTER) => TeamLabel::Goalkeeper,
                Some(None) => TeamLabel::Referee,
            }
        })
        .collect()
}

/// How far out each box of `xs` (horizontal centres) is: |2 r - 1| of its rank r (0 leftmost, 1
/// rightmost); None with fewer than 3 boxes.
pub fn outer_ranks(xs: &[f32]) -> Vec<Option<f32>> {
    let n = xs.len();
    if n < 3 {
        return vec![None; n];
    }
    xs.iter()
        .map(|x| {
            let left = xs.iter().filter(|o| **o < *x).count() as f32;
            let same = xs.iter().filter(|o| **o == *x).count() as f32 - 1.0;
            let r = (left + same / 2.0) / (n - 1) as f32;
            Some((2.0 * r - 1.0).abs())
        })
        .collect()
}

/// Assigns colour teams over a whole clip's results (with `jerseys` measured): fills `teams`
/// (0/1 for team players) and labels goalkeepers and referees (source colour), neither given a
/// team. Identities are track ids.
pub fn assign_frames(frames: &mut [crate::results::FrameResult]) -> crate::results::TeamCounts {
    use crate::results::Resolved;
    let mut at = Vec::new();
    let mut seen = Vec::new();
    for (fi, f) in frames.iter().enumerate() {
        let people: Vec<usize> = (0..f.jerseys.len()).filter(|&i| f.jerseys[i].is_some()).collect();
        let xs: Vec<f32> = people.iter().map(|&i| (f.detections[i].bbox[0] + f.detections[i].bbox[2]) / 2.0).collect();
        for (&i, outer) in people.iter().zip(outer_ranks(&xs)) {
            at.push((fi, i));
            seen.push(Seen { colour: f.jerseys[i], id: f.track_ids.get(i).copied().flatten(), outer });
        }
    }
    for f in frames.iter_mut() {
        f.teams = vec![None; f.detections.len()];
    }
    let mut counts = crate::results::TeamCounts::default();
    for ((fi, i), l) in at.into_iter().zip(assign(&seen, 2.5, 40.0)) {
        let f = &mut frames[fi];
        let role = match l {
            TeamLabel::Team(t) => {
                f.teams[i] = Some(t);
                *(if t == 0 { &mut counts.team_0 } else { &mut counts.team_1 }) += 1;
                continue;
            }
            TeamLabel::Goalkeeper => "goalkeeper",
            TeamLabel::Referee => "referee",
            TeamLabel::Unknown => {
                counts.no_jersey_colour += 1;
                continue;
            }
        };
        *(if role == "goalkeeper" { &mut counts.goalkeeper } else { &mut counts.referee }) += 1;
        f.labels[i] = Some(Resolved::colour(role));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(colour: [f32; 3], id: u64, outer: f32) -> Seen {
        Seen { colour: Some(colour), id: Some(id), outer: Some(outer) }
    }

    /// Two teams (red-ish, blue-ish), a goalkeeper in a blue close to its team's but unlike it,
    /// out at the end of the play, and a referee in yellow among the players; each identity seen
    /// in 5 frames. The goalkeeper and the referee must not pull the teams' centres.
    #[test]
    fn two_teams_a_goalkeeper_and_a_referee() {
        let mut b = Vec::new();
        for frame in 0..5u32 {
            let n = frame as f32;
            for p in 0..5u64 {
                b.push(seen([200.0 + n, 30.0 + p as f32 * 2.0, 40.0], p, 0.4));
                b.push(seen([30.0, 40.0 + n, 190.0 - p as f32 * 3.0], 10 + p, 0.5));
            }
            b.push(seen([50.0, 110.0, 190.0 + n], 20, 1.0));
            b.push(seen([230.0, 220.0, 40.0 + n], 30, 0.2));
        }
        // One odd frame of player 0 (a crop across a team-mate) does not change its team.
        b[0].colour = Some([30.0, 40.0, 190.0]);
        let t = assign(&b, 2.5, 40.0);
        let team_of = |id: u64| t[b.iter().position(|s| s.id == Some(id)).unwrap()];
        let (red, blue) = (team_of(1), team_of(11));
        assert!(matches!(red, TeamLabel::Team(_)) && matches!(blue, TeamLabel::Team(_)) && red != blue);
        assert!(t.iter().zip(&b).filter(|(_, s)| s.id.unwrap() < 5).all(|(x, _)| *x == red), "{t:?}");
        assert_eq!(team_of(0), red, "majority per identity");
        assert_eq!(team_of(20), TeamLabel::Goalkeeper, "{t:?}");
        assert_eq!(team_of(30), TeamLabel::Referee, "{t:?}");
    }

    /// A box without a track is its own identity: untracked boxes are never pooled; an untracked
    /// box unlike both teams is a goalkeeper at the end of the play, else the referee.
    #[test]
    fn boxes_without_a_track_are_decided_one_by_one() {
        let mut b = Vec::new();
        for p in 0..6u64 {
            b.push(seen([200.0, 30.0, 40.0], p, 0.5));
            b.push(seen([30.0, 40.0, 190.0], 10 + p, 0.5));
        }
        let alone = |c: [f32; 3], outer: f32| Seen { colour: Some(c), id: None, outer: Some(outer) };
        b.extend([
            alone([201.0, 31.0, 41.0], 0.3),
            alone([31.0, 41.0, 191.0], 0.9),
            alone([240.0, 240.0, 60.0], 0.95),
            alone([240.0, 240.0, 60.0], 0.1),
        ]);
        let t = assign(&b, 2.5, 40.0);
        let n = t.len();
        assert_eq!(t[n - 4], t[0], "{t:?}");
        assert_eq!(t[n - 3], t[1], "{t:?}");
        assert_eq!(t[n - 2], TeamLabel::Goalkeeper, "{t:?}");
        assert_eq!(t[n - 1], TeamLabel::Referee, "{t:?}");
    }

    #[test]
    fn outer_ranks_measure_the_ends() {
        let r = outer_ranks(&[10.0, 50.0, 30.0, 90.0, 70.0]);
        assert_eq!(r, [Some(1.0), Some(0.0), Some(0.5), Some(1.0), Some(0.5)]);
        assert_eq!(outer_ranks(&[1.0, 2.0]), [None, None]);
    }
}
