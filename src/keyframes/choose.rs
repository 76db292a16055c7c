//! The choice among the candidates: one per shot, near-duplicates across shots dropped, a
//! minimum gap, `--max`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::{policy, Candidate, ShotReport};
use crate::quality::hash_distance;

/// Cosine of two L2-normalised embeddings.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Marks the chosen candidates and says why each was or was not; returns how many shots were
/// dropped as near-duplicates of another. One per shot first (shots with the best candidates
/// first; each shot's best candidate that is neither a near-duplicate of a frame already chosen
/// nor within `min_gap` seconds of one), then, when `max` asks for more, the remaining candidates
/// best first under the same two conditions.
pub(super) fn choose(c: &mut [Candidate], shots: &[ShotReport], dup: &policy::Duplicates, min_gap: f64, max: Option<usize>) -> usize {
    let limit = max.unwrap_or(usize::MAX);
    let mut taken: Vec<usize> = Vec::new();
    let near = |a: &Candidate, b: &Candidate| -> Option<String> {
        match (&a.embedding, &b.embedding) {
            (Some(x), Some(y)) => {
                let cos = cosine(x, y);
                (cos >= dup.min_cosine).then(|| format!("near-duplicate of frame {} (cosine {cos:.3})", b.frame))
            }
            _ => {
                let d = hash_distance(a.measures.dhash, b.measures.dhash);
                (d <= dup.max_hash_distance).then(|| format!("near-duplicate of frame {} ({d} of 64 hash bits differ)", b.frame))
            }
        }
    };
    // Why candidate `i` cannot join `taken`, if it cannot; and whether that is a duplicate.
    // A candidate like any candidate of a chosen frame's shot repeats that shot.
    let blocked = |i: usize, c: &[Candidate], taken: &[usize]| -> Option<(String, bool)> {
        for &j in taken {
            for &k in shots[c[j].shot].candidates.iter().filter(|&&k| c[k].shot != c[i].shot) {
                if let Some(why) = near(&c[i], &c[k]) {
                    return Some((
                        format!(
                            "dropped: {why} in shot {}, whose chosen frame {} scored {:.3} (this {:.3})",
                            c[k].shot, c[j].frame, c[j].score, c[i].score
                        ),
                        true,
                    ));
                }
            }
            if (c[i].time - c[j].time).abs() < min_gap {
                return Some((format!("not chosen: within {min_gap} s of chosen frame {}", c[j].frame), false));
            }
        }
        None
    };
    let by_score = |list: &mut Vec<usize>, c: &[Candidate]| list.sort_by(|&a, &b| c[b].score.total_cmp(&c[a].score).then(a.cmp(&b)));
    let mut per_shot: Vec<Vec<usize>> = shots.iter().map(|s| s.candidates.clone()).collect();
    for list in &mut per_shot {
        by_score(list, c);
    }
    let mut shot_order: Vec<usize> = (0..shots.len()).filter(|&s| !per_shot[s].is_empty()).collect();
    shot_order.sort_by(|&a, &b| c[per_shot[b][0]].score.total_cmp(&c[per_shot[a][0]].score).then(a.cmp(&b)));
    let mut dropped = 0;
    for &s in &shot_order {
        if taken.len() >= limit {
            for &i in &per_shot[s] {
                c[i].why = format!("not chosen: --max {limit} reached");
            }
            continue;
        }
        let n = per_shot[s].len();
        let mut duplicate = false;
        for (rank, &i) in per_shot[s].iter().enumerate() {
            match blocked(i, c, &taken) {
                Some((why, dup)) => {
                    duplicate |= dup && rank == 0;
                    c[i].why = why;
                }
                None => {
                    c[i].chosen = true;
                    c[i].why = match (n, rank) {
                        (1, _) => format!("the only candidate of shot {s} (score {:.3})", c[i].score),
                        (_, 0) => format!(
                            "best of {n} candidates in shot {s} (score {:.3}, next {:.3}; quality {:.3})",
                            c[i].score, c[per_shot[s][1]].score, c[i].quality.score
                        ),
                        _ => format!("best usable of {n} candidates in shot {s} (score {:.3}; better ones were blocked)", c[i].score),
                    };
                    taken.push(i);
                    break;
                }
            }
        }
        if duplicate && !per_shot[s].iter().any(|&i| c[i].chosen) {
            dropped += 1;
        }
    }
    if max.is_some_and(|m| m > taken.len()) {
        let mut rest: Vec<usize> = (0..c.len()).filter(|&i| !c[i].chosen).collect();
        by_score(&mut rest, c);
        for i in rest {
            if taken.len() >= limit {
                break;
            }
            match blocked(i, c, &taken) {
                Some((why, _)) => c[i].why = why,
                None => {
                    c[i].chosen = true;
                    c[i].why = format!("a further frame of shot {} (score {:.3}), as --max allows", c[i].shot, c[i].score);
                    taken.push(i);
                }
            }
        }
    }
    let chosen_in: BTreeMap<usize, u64> = taken.iter().map(|&i| (c[i].shot, c[i].frame)).collect();
    for cand in c.iter_mut() {
        if cand.why.is_empty() {
            cand.why = match chosen_in.get(&cand.shot) {
                Some(f) => format!("not chosen: frame {f} was chosen for shot {}", cand.shot),
                None => "not chosen".into(),
            };
        }
    }
    dropped
}
