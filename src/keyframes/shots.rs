//! Shot boundaries (hard cuts) from the quality stage's histograms and difference hashes.
//!
//! The change between two measured frames is the mean of half the L1 distance of their colour
//! histograms and the share of their difference-hash bits that differ (0..1). A cut is a change
//! that is a local peak and exceeds the larger of a floor and the median change around it plus
//! `sensitivity` robust deviations (1.4826 MAD): the threshold adapts to the motion of the shot.
//! A run of frames shorter than `min_shot` after which the picture returns to what it was before
//! (a flash, a moment of black or blown-out frames: the frames either side of the run differ by
//! less than half the jump into it) is not a shot: neither of its edges is a cut.
#![forbid(unsafe_code)]

use serde::Serialize;

use super::policy::Shots;
use crate::quality::{hash_distance, hist_distance, FrameQuality};

/// Measured frames `start..end` (indices into the measured sequence).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Shot {
    pub start: usize,
    pub end: usize,
    /// The change at the cut that opens the shot (0 for the first) and the threshold it beat.
    pub change: f64,
    pub threshold: f64,
}

/// How different two measured frames look, 0..1.
pub fn change(a: &FrameQuality, b: &FrameQuality) -> f64 {
    0.5 * (hist_distance(&a.hist, &b.hist) + hash_distance(a.dhash, b.dhash) as f64 / 64.0)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// The shots of `frames` (measured at `rate` frames per second of video).
pub fn detect<F: AsRef<FrameQuality>>(frames: &[F], rate: f64, p: &Shots) -> Vec<Shot> {
    let n = frames.len();
    if n == 0 {
        return Vec::new();
    }
    // d[i]: change between frames i - 1 and i (d[0] = 0).
    let mut d = vec![0.0; n];
    for i in 1..n {
        d[i] = change(frames[i - 1].as_ref(), frames[i].as_ref());
    }
    let run = ((p.min_shot * rate).ceil() as usize).max(1);
    let mut shots = Vec::new();
    let mut open = Shot { start: 0, end: n, change: 0.0, threshold: 0.0 };
    let mut scratch = Vec::with_capacity(2 * p.window + 1);
    for i in 1..n {
        // Local peak (ties go to the first).
        if d[i] <= d[i - 1] || (i + 1 < n && d[i] < d[i + 1]) {
            continue;
        }
        if d[i] <= p.min_change {
            continue;
        }
        scratch.clear();
        let lo = i.saturating_sub(p.window).max(1);
        let hi = (i + p.window).min(n - 1);
        scratch.extend((lo..=hi).filter(|&j| j + 1 < i || j > i + 1).map(|j| d[j]));
        let m = median(&mut scratch);
        for v in scratch.iter_mut() {
            *v = (*v - m).abs();
        }
        let mad = median(&mut scratch);
        let threshold = p.min_change.max(m + p.sensitivity * 1.4826 * mad);
        if d[i] <= threshold {
            continue;
        }
        // A short run that returns to the picture before it: not a cut. "Returns": the frames on
        // either side of the run differ by less than half the jump into it (and at most the
        // threshold, whichever is larger; frames far apart in a moving shot differ more than
        // neighbours do).
        let back_to = threshold.max(0.5 * d[i]);
        let back = (i + 1..=(i + run).min(n - 1)).any(|j| change(frames[i - 1].as_ref(), frames[j].as_ref()) <= back_to);
        let returns = (i.saturating_sub(1 + run)..i - 1).any(|k| change(frames[k].as_ref(), frames[i].as_ref()) <= back_to);
        if back || returns {
            continue;
        }
        open.end = i;
        shots.push(open);
        open = Shot { start: i, end: n, change: d[i], threshold };
    }
    shots.push(open);
    shots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::BINS;

    /// A frame of "scene" `s` (its own histogram bin and hash), with a little jitter.
    fn scene(s: usize, jitter: u32) -> FrameQuality {
        let mut hist = [0f32; BINS];
        hist[s % BINS] = 0.9;
        hist[(s + 1) % BINS] = 0.1;
        FrameQuality {
            brightness: 100.0,
            contrast: 30.0,
            sharpness: 100.0,
            colourfulness: 10.0,
            underexposed: 0.0,
            overexposed: 0.0,
            hist,
            dhash: (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(s as u64 + 1)) ^ (jitter as u64 & 1),
        }
    }

    #[test]
    fn cuts_are_found_and_a_flash_is_not_a_cut() {
        let mut frames = Vec::new();
        for s in 0..5 {
            for k in 0..30 {
                frames.push(scene(s * 7, k));
            }
        }
        // A 3-frame flash of another picture inside the third shot.
        for f in &mut frames[70..73] {
            *f = scene(40, 0);
        }
        let shots = detect(&frames, 25.0, &Shots::default());
        let starts: Vec<usize> = shots.iter().map(|s| s.start).collect();
        assert_eq!(starts, vec![0, 30, 60, 90, 120]);
        assert_eq!(shots.last().unwrap().end, 150);
        // With no minimum shot length the flash is two cuts.
        let shots = detect(&frames, 25.0, &Shots { min_shot: 0.0, ..Shots::default() });
        assert_eq!(shots.len(), 7);
    }

    #[test]
    fn no_frames_no_shots_and_one_scene_one_shot() {
        assert!(detect::<FrameQuality>(&[], 25.0, &Shots::default()).is_empty());
        let frames: Vec<FrameQuality> = (0..10).map(|k| scene(3, k)).collect();
        let shots = detect(&frames, 25.0, &Shots::default());
        assert_eq!(shots.len(), 1);
        assert_eq!((shots[0].start, shots[0].end), (0, 10));
    }
}
