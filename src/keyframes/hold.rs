//! Stage 1's decoded pictures, held at full size while their frames may still become candidates,
//! so that stage 2 converts them instead of decoding the video again.
//!
//! Whether a frame becomes a candidate depends on the whole video (quality scores are normalised
//! by its 95th percentiles) and on its whole shot (the blur gate and the spacing of a shot's
//! candidates follow the shot's median and length). Every few frames the holder works out, on
//! the frames measured so far and as the choice will, the candidates of the shot still open, for
//! the spacings it may grow into and for percentiles moved some way either side of today's; when
//! a cut is settled (enough frames after it for the shot detector), the closed shot's candidates
//! for those percentiles are kept and its other pictures let go. The newest frames, whose shot is
//! not settled, stay. Memory is bounded by the policy's `candidates.hold_mib`: over it, pictures
//! of the least likely candidates go first, then the oldest.
//!
//! A candidate whose picture was let go is decoded again in stage 2: what is held decides how
//! much is decoded twice, never which frames are chosen.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::candidates::{candidate_gap, gated, spaced_best, Scorer};
use super::shots::{self, Shot};
use super::Policy;
use crate::pipeline::quality::Measured;
use crate::video::Picture;

/// Measured frames between two reckonings.
const EVERY: usize = 8;

/// The spacings (multiples of the open shot's spacing now) its candidates are worked out for: a
/// shot that grows spaces its candidates further apart.
const SPREADS: [usize; 3] = [1, 2, 4];

/// Factors on the video's 95th percentiles of sharpness and colourfulness: where they may still
/// move as the rest of the video is measured (colourfulness moves most: a colourful scene later
/// on raises it by half). Adjacent frames score within a hair of each other, and which of them a
/// shot's candidate is turns on small moves: the grid is dense near today's values. A settled
/// shot's candidates are worked out under every pair, the open shot's (worked out again every
/// few frames) under the pairs of the coarse factors.
const SHARPNESS_DRIFT: [f64; 5] = [1.0, 0.98, 1.02, 0.95, 1.05];
const COLOUR_DRIFT: [f64; 9] = [1.0, 0.95, 1.05, 0.87, 1.15, 0.75, 1.33, 0.6, 1.6];
/// How many of the factors above the open shot's reckonings use (each list's first).
const OPEN_DRIFT: (usize, usize) = (3, 5);

/// Most measured frames a reckoning looks at for cuts and for the open shot's candidates (its
/// older frames count through the pictures still held).
const TAIL: usize = 2048;

/// What the holder did.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct HoldStats {
    /// The most bytes held at once.
    pub peak_bytes: usize,
    /// Pictures let go to stay within the budget while their frames could still be candidates.
    pub dropped_for_room: u64,
}

/// A held picture and how likely its frame is to be a candidate (0: a candidate now, 1: not
/// judged yet, 2: a candidate under moved percentiles or a wider spacing); over the budget the
/// highest rank goes first.
struct Held {
    picture: Picture,
    bytes: usize,
    rank: u8,
}

/// Pictures of measured frames (by index into the measured sequence) that may become candidates.
pub(super) struct Holder {
    policy: Policy,
    /// Measured frames per second of video.
    rate: f64,
    budget: usize,
    held: BTreeMap<usize, Held>,
    bytes: usize,
    /// Frames measured since the last reckoning.
    since: usize,
    /// Where the open shot starts: the shots before it are settled.
    open: usize,
    /// The settled shots.
    settled: Vec<Shot>,
    /// Frames the whole video will have measured, if its duration or frame count is known.
    expected: Option<usize>,
    /// The percentiles scores are normalised by, and the frames measured when they were taken.
    scorer: Option<(Scorer, usize)>,
    pub stats: HoldStats,
}

impl Holder {
    /// A holder for a video of about `expected` measured frames (if known) at `rate` a second.
    pub fn new(policy: &Policy, rate: f64, expected: Option<usize>) -> Self {
        let budget = usize::try_from(policy.candidates.hold_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        Self {
            policy: policy.clone(),
            rate,
            budget,
            held: BTreeMap::new(),
            bytes: 0,
            since: 0,
            open: 0,
            settled: Vec::new(),
            expected: expected.filter(|&e| e > 0),
            scorer: None,
            stats: HoldStats::default(),
        }
    }

    /// Whether it holds anything at all (a budget of 0 holds nothing).
    pub fn holds(&self) -> bool {
        self.budget > 0
    }

    /// Holds the picture of the last frame of `measured`, then
    /// every few frames, or when over the budget, lets go of what can no longer be a candidate.
    pub fn push(&mut self, measured: &[Measured], picture: Picture) {
        let Some(i) = measured.len().checked_sub(1) else { return };
        let bytes = picture.bytes();
        self.held.insert(i, Held { picture, bytes, rank: 1 });
        self.bytes += bytes;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.bytes);
        self.since += 1;
        if self.since >= EVERY || self.bytes > self.budget {
            self.since = 0;
            self.reckon(measured);
        }
    }

    /// Takes the held picture of measured frame `i`.
    pub fn take(&mut self, i: usize) -> Option<Picture> {
        let h = self.held.remove(&i)?;
        self.bytes -= h.bytes;
        Some(h.picture)
    }

    fn reckon(&mut self, measured: &[Measured]) {
        let n = measured.len();
        // The percentiles: taken again while the video is short, then each time it grows by 2%.
        let fresh = self.scorer.as_ref().is_none_or(|&(_, at)| n < TAIL || n * 50 >= at * 51);
        if fresh {
            self.scorer = Some((Scorer::new(measured, &self.policy.quality), n));
        }
        let Some((scorer, at)) = self.scorer.take() else { return };
        // How far the percentiles may still move: less as more of the video is measured.
        let narrow = self.expected.map_or(1.0, |e| (1.0 - n as f64 / e as f64).clamp(0.1, 1.0));
        let all = (SHARPNESS_DRIFT.len(), COLOUR_DRIFT.len());
        if fresh {
            // Settled shots' candidates again, under the narrower drift.
            for shot in std::mem::take(&mut self.settled) {
                if self.held.range(shot.start..shot.end).next().is_some() {
                    self.decide(measured, &shot, &scorer, &[1], all, narrow, 0);
                    self.settled.push(shot);
                }
            }
        }
        // Cuts since the open shot began, settled once the detector has seen its window and a
        // flash's length after them (the detector is local: a slice with that margin before the
        // open shot finds the cuts the whole video will).
        let shots_p = &self.policy.shots;
        let run = (shots_p.min_shot * self.rate).ceil().max(1.0) as usize;
        let settle = shots_p.window + run + 1;
        let lo = self.open.saturating_sub(settle).max(n.saturating_sub(TAIL));
        let cuts: Vec<usize> =
            shots::detect(&measured[lo..n], self.rate, shots_p).iter().map(|s| s.start + lo).filter(|&c| c > self.open).collect();
        let mut provisional = Vec::new();
        for c in cuts {
            if c + settle <= n {
                let shot = Shot { start: self.open, end: c, change: 0.0, threshold: 0.0 };
                self.decide(measured, &shot, &scorer, &[1], all, narrow, 0);
                self.settled.push(shot);
                self.open = c;
            } else {
                provisional.push(c);
            }
        }
        // The shots since: cut where the detector cuts now (a cut may still go, or move), the last
        // open; their newest frames stay whatever they measure.
        let newest = self.policy.shots.window + self.policy.quality.boundary_guard + EVERY;
        let mut start = self.open;
        for end in provisional.into_iter().chain([n]) {
            let shot = Shot { start, end, change: 0.0, threshold: 0.0 };
            self.decide(measured, &shot, &scorer, &SPREADS, OPEN_DRIFT, narrow, newest);
            start = end;
        }
        self.scorer = Some((scorer, at));
        // Over the budget: the least likely candidates go first, then the oldest.
        while self.bytes > self.budget {
            let Some(victim) = self.held.iter().max_by_key(|(i, h)| (h.rank, std::cmp::Reverse(**i))).map(|(i, _)| *i) else { break };
            self.take(victim);
            self.stats.dropped_for_room += 1;
        }
    }

    /// Keeps the pictures of `shot`'s candidates (under the first `drift` factors of the
    /// percentiles' drift, each raised to `narrow`, for each spacing in `spreads`) and of its
    /// last `newest` frames, and lets go of its others. The candidates are worked out over the
    /// shot's last [`TAIL`] frames and its older frames still held.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        measured: &[Measured],
        shot: &Shot,
        scorer: &Scorer,
        spreads: &[usize],
        drift: (usize, usize),
        narrow: f64,
        newest: usize,
    ) {
        if shot.end <= shot.start {
            return;
        }
        let tail = Shot { start: shot.start.max(shot.end.saturating_sub(TAIL)), ..*shot };
        let (mut pool, _, _) = gated(measured, &tail, &self.policy);
        let older: Vec<usize> = self.held.range(shot.start..tail.start).map(|(&i, _)| i).collect();
        pool.splice(0..0, older);
        let gap = candidate_gap(shot.end - shot.start, &self.policy);
        let per_shot = self.policy.candidates.per_shot;
        let mut keep: BTreeMap<usize, u8> = BTreeMap::new();
        let pairs = SHARPNESS_DRIFT[..drift.0].iter().flat_map(|&fs| COLOUR_DRIFT[..drift.1].iter().map(move |&fc| (fs, fc)));
        for (d, (fs, fc)) in pairs.enumerate() {
            let drifted =
                Scorer { sharp95: scorer.sharp95 * fs.powf(narrow), colour95: scorer.colour95 * fc.powf(narrow), w: scorer.w.clone() };
            let scored: Vec<(usize, f64)> = pool.iter().map(|&i| (i, drifted.score(&measured[i].quality).score)).collect();
            for &spread in spreads {
                let rank = if d == 0 && spread == 1 { 0 } else { 2 };
                for i in spaced_best(scored.clone(), per_shot, gap * spread) {
                    let r = keep.entry(i).or_insert(rank);
                    *r = (*r).min(rank);
                }
            }
        }
        for i in shot.end.saturating_sub(newest).max(shot.start)..shot.end {
            let r = keep.entry(i).or_insert(1);
            *r = (*r).min(1);
        }
        let mut gone = Vec::new();
        for (i, h) in self.held.range_mut(shot.start..shot.end) {
            match keep.get(i) {
                Some(&rank) => h.rank = rank,
                None => gone.push(*i),
            }
        }
        for i in gone {
            self.take(i);
        }
    }
}
