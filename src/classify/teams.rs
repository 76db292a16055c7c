//! Colour team assignment without any model: per clip, the jersey colours of the people (upper
//! body, grass and dark pixels left out) are clustered into two teams with a small k-means;
//! boxes unlike both teams are goalkeeper/referee candidates, and the referee is the identity
//! that is most consistently unlike both teams. Labels are per identity (track or miner id) by
//! majority, so one frame's odd crop does not change a player's team.
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
    let mut c = [a, b];
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

/// Team labels for boxes with jersey colours `features` and identities `ids` (boxes without an
/// id are decided alone). `outlier_factor`: a box farther than this many times the median
/// distance of the team members to their centroid (and at least `min_outlier` colour units) is
/// unlike both teams.
pub fn assign(features: &[Option<[f32; 3]>], ids: &[Option<u64>], outlier_factor: f32, min_outlier: f32) -> Vec<TeamLabel> {
    let known: Vec<[f32; 3]> = features.iter().flatten().copied().collect();
    let Some(c) = two_means(&known) else { return vec![TeamLabel::Unknown; features.len()] };
    // Per box: nearest team and distance.
    let near: Vec<Option<(u8, f32)>> = features
        .iter()
        .map(|f| {
            f.map(|f| {
                let (d0, d1) = (dist(&f, &c[0]), dist(&f, &c[1]));
                if d1 < d0 {
                    (1, d1)
                } else {
                    (0, d0)
                }
            })
        })
        .collect();
    let mut ds: Vec<f32> = near.iter().flatten().map(|n| n.1).collect();
    ds.sort_by(f32::total_cmp);
    let median = ds.get(ds.len() / 2).copied().unwrap_or(0.0);
    let limit = (median * outlier_factor).max(min_outlier);
    // Per box: Some(team) or None (outlier).
    let per_box: Vec<Option<Option<u8>>> = near.iter().map(|n| n.map(|(t, d)| (d <= limit).then_some(t))).collect();
    // Votes per identity: [team 0, team 1, outlier].
    let mut votes: HashMap<u64, [u32; 3]> = HashMap::new();
    for (b, id) in per_box.iter().zip(ids) {
        if let (Some(v), Some(id)) = (b, id) {
            let e = votes.entry(*id).or_default();
            e[v.map_or(2, |t| t as usize)] += 1;
        }
    }
    // The referee: the identity whose boxes are most often outliers (a majority of them).
    let referee = votes
        .iter()
        .filter(|(_, v)| v[2] * 2 > v.iter().sum::<u32>())
        .max_by(|a, b| {
            let r = |v: &[u32; 3]| v[2] as f32 / v.iter().sum::<u32>() as f32;
            r(a.1).total_cmp(&r(b.1)).then(a.1[2].cmp(&b.1[2])).then(b.0.cmp(a.0))
        })
        .map(|(id, _)| *id);
    per_box
        .iter()
        .zip(ids)
        .map(|(b, id)| {
            let v = id.and_then(|i| votes.get(&i).map(|v| (i, *v)));
            let decided: Option<Option<u8>> = match v {
                Some((_, v)) => {
                    let best = (0..3).max_by_key(|&k| (v[k], std::cmp::Reverse(k))).expect("three");
                    Some(if best == 2 { None } else { Some(best as u8) })
                }
                None => *b,
            };
            match decided {
                None => TeamLabel::Unknown,
                Some(Some(t)) => TeamLabel::Team(t),
                Some(None) if id.is_some() && *id == referee => TeamLabel::Referee,
                Some(None) => TeamLabel::Goalkeeper,
            }
        })
        .collect()
}

/// Assigns colour teams over a whole clip's results (with `jerseys` measured): fills `teams`
/// (0/1 for team players) and labels goalkeepers and referees (source colour). Identities are
/// track ids.
pub fn assign_frames(frames: &mut [crate::results::FrameResult]) -> [u64; 5] {
    use crate::results::Resolved;
    let mut at = Vec::new();
    let mut feats = Vec::new();
    let mut ids = Vec::new();
    for (fi, f) in frames.iter().enumerate() {
        for (i, j) in f.jerseys.iter().enumerate() {
            if j.is_some() {
                at.push((fi, i));
                feats.push(*j);
                ids.push(f.track_ids.get(i).copied().flatten());
            }
        }
    }
    for f in frames.iter_mut() {
        f.teams = vec![None; f.detections.len()];
    }
    let mut counts = [0u64; 5];
    for ((fi, i), l) in at.into_iter().zip(assign(&feats, &ids, 2.5, 40.0)) {
        let f = &mut frames[fi];
        let role = match l {
            TeamLabel::Team(t) => {
                f.teams[i] = Some(t);
                counts[t as usize] += 1;
                continue;
            }
            TeamLabel::Goalkeeper => "goalkeeper",
            TeamLabel::Referee => "referee",
            TeamLabel::Unknown => {
                counts[4] += 1;
                continue;
            }
        };
        counts[if role == "goalkeeper" { 2 } else { 3 }] += 1;
        f.labels[i] = Some(Resolved::colour(role));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_teams_a_goalkeeper_and_a_referee() {
        // Team A red-ish, team B blue-ish (noisy), a goalkeeper in yellow, a referee in black
        // and yellow-green... each identity seen in 5 frames.
        let mut f = Vec::new();
        let mut ids = Vec::new();
        for frame in 0..5u32 {
            let n = frame as f32;
            for p in 0..5u64 {
                f.push(Some([200.0 + n, 30.0 + p as f32 * 2.0, 40.0]));
                ids.push(Some(p));
                f.push(Some([30.0, 40.0 + n, 190.0 - p as f32 * 3.0]));
                ids.push(Some(10 + p));
            }
            f.push(Some([230.0, 220.0, 40.0 + n]));
            ids.push(Some(20));
            f.push(Some([20.0 + n, 20.0, 20.0]));
            ids.push(Some(30));
        }
        // One odd frame of player 0 (a crop across a team-mate) does not change its team.
        f[0] = Some([30.0, 40.0, 190.0]);
        let t = assign(&f, &ids, 2.5, 40.0);
        let team_of = |id: u64| t[ids.iter().position(|i| *i == Some(id)).unwrap()];
        let (a, b) = (team_of(1), team_of(11));
        assert!(matches!(a, TeamLabel::Team(_)) && matches!(b, TeamLabel::Team(_)) && a != b);
        assert!(t.iter().zip(&ids).filter(|(_, i)| i.unwrap() < 5).all(|(x, _)| *x == a), "{t:?}");
        assert_eq!(team_of(0), a, "majority per identity");
        let specials = [team_of(20), team_of(30)];
        assert!(specials.contains(&TeamLabel::Referee) && specials.contains(&TeamLabel::Goalkeeper), "{specials:?}");
    }

    /// A box without a track is its own identity: untracked boxes are never pooled, so one
    /// untracked outlier does not drag other untracked boxes with it, nor they it.
    #[test]
    fn boxes_without_a_track_are_decided_one_by_one() {
        let mut f = Vec::new();
        let mut ids = Vec::new();
        for p in 0..6u64 {
            f.push(Some([200.0, 30.0, 40.0]));
            ids.push(Some(p));
            f.push(Some([30.0, 40.0, 190.0]));
            ids.push(Some(10 + p));
        }
        // Three untracked boxes: red, blue, and one unlike both teams.
        f.extend([Some([201.0, 31.0, 41.0]), Some([31.0, 41.0, 191.0]), Some([240.0, 240.0, 60.0])]);
        ids.extend([None, None, None]);
        let t = assign(&f, &ids, 2.5, 40.0);
        let n = t.len();
        let (red, blue) = (t[0], t[1]);
        assert_eq!(t[n - 3], red, "{t:?}");
        assert_eq!(t[n - 2], blue, "{t:?}");
        assert_eq!(t[n - 1], TeamLabel::Goalkeeper, "an untracked outlier is never the referee identity: {t:?}");
    }
}
