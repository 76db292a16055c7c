//! ByteTrack (Zhang et al., ECCV 2022), following the reference implementation
//! (`yolox/tracker/byte_tracker.py`): high-score detections are matched first against tracked
//! and lost tracks (IoU fused with the detection score), then low-score detections against the
//! tracks still unmatched, then the remaining high-score detections against unconfirmed tracks;
//! new tracks start only above the new-track threshold and are confirmed by a second match; lost
//! tracks are kept for a time budget. Time is in frames (decode indices), not calls.
#![forbid(unsafe_code)]

use super::assign::{assign, pairs, Grid, Pairs};
use super::kalman::{to_xyxy, xyah, KalmanState};
use crate::detect::{iou, Detection};

/// ByteTrack's parameters; the defaults are the reference implementation's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score are "high" (first association, may start tracks).
    pub track_thresh: f32,
    /// New tracks start only at or above this score (reference: track_thresh + 0.1).
    pub new_track_thresh: f32,
    /// Detections below this score are ignored (reference: 0.1).
    pub low_thresh: f32,
    /// Maximum cost (1 - IoU x score) of a first-stage match.
    pub match_thresh: f32,
    /// Maximum cost (1 - IoU) of a second-stage (low-score) match (reference: 0.5).
    pub second_match_thresh: f32,
    /// Maximum cost of matching an unconfirmed track (reference: 0.7).
    pub unconfirmed_match_thresh: f32,
    /// How long a lost track is kept, in frames at 30 fps (reference: 30); scaled by the video's
    /// frame rate, so it is a time budget (1 s by default).
    pub track_buffer: u32,
    /// Boxes smaller than this area (pixels) are not tracked (reference demo: 10).
    pub min_box_area: f32,
    /// Fuse the detection score into the first-stage cost (reference: true unless MOT20).
    pub fuse_score: bool,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            track_thresh: 0.5,
            new_track_thresh: 0.6,
            low_thresh: 0.1,
            match_thresh: 0.8,
            second_match_thresh: 0.5,
            unconfirmed_match_thresh: 0.7,
            track_buffer: 30,
            min_box_area: 10.0,
            fuse_score: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Tracked,
    Lost,
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    kf: KalmanState,
    state: State,
    activated: bool,
    score: f32,
    start_frame: u64,
    /// Last frame the track was updated with a detection.
    end_frame: u64,
    /// Last frame the Kalman state was predicted to.
    at_frame: u64,
}

impl Track {
    fn bbox(&self) -> [f32; 4] {
        to_xyxy(&self.kf.mean)
    }

    /// Predicts up to `frame`, one Kalman step per frame but at most `max_steps` (a track unseen
    /// for longer is past the lost-track budget, so the extra steps could not change a result;
    /// a gap of 10^8 frames costs what a gap of `max_steps` does). Lost tracks do not grow or
    /// shrink (reference: vh = 0).
    fn predict_to(&mut self, frame: u64, max_steps: u64) {
        if frame > self.at_frame {
            if self.state != State::Tracked {
                self.kf.mean[7] = 0.0;
            }
            self.kf.predict((frame - self.at_frame).min(max_steps.max(1)));
            self.at_frame = frame;
        }
    }

    fn update(&mut self, d: &Detection, frame: u64) {
        self.kf.update(xyah(d.bbox));
        self.state = State::Tracked;
        self.activated = true;
        self.score = d.score;
        self.end_frame = frame;
        self.at_frame = frame;
    }
}

/// One ByteTrack instance (one class or one group of classes).
#[derive(Debug, Clone)]
pub struct ByteTrack {
    cfg: TrackerConfig,
    max_lost_frames: u64,
    tracked: Vec<Track>,
    lost: Vec<Track>,
    first: bool,
    frame: u64,
}

impl ByteTrack {
    /// `fps` is the video's frame rate: the lost-track budget is `track_buffer` frames at 30 fps.
    pub fn new(cfg: TrackerConfig, fps: f64) -> Self {
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { 30.0 };
        let max_lost_frames = (fps / 30.0 * cfg.track_buffer as f64) as u64;
        Self { cfg, max_lost_frames, tracked: Vec::new(), lost: Vec::new(), first: true, frame: 0 }
    }

    /// The boxes of the confirmed tracks being tracked, predicted to decode frame `frame` (id, box,
    /// last score), the tracker unchanged: what a frame the detector skips shows (`interval`).
    pub fn predicted(&self, frame: u64) -> Vec<(u64, [f32; 4], f32)> {
        let live = self.tracked.iter().filter(|t| t.activated && t.state == State::Tracked);
        live.map(|t| {
            let mut t = t.clone();
            t.predict_to(frame, self.max_lost_frames + 1);
            (t.id, t.bbox(), t.score)
        })
        .collect()
    }

    /// Number of tracks currently tracked (confirmed or not) and lost.
    pub fn len(&self) -> (usize, usize) {
        (self.tracked.len(), self.lost.len())
    }

    /// Feeds the detections of decode frame `frame` (strictly increasing between calls). Returns,
    /// per detection, the id of the confirmed track it belongs to, if any. `next_id` hands out
    /// track ids (shared between instances so ids are unique across classes).
    pub fn update(&mut self, frame: u64, dets: &[Detection], next_id: &mut u64) -> Vec<Option<u64>> {
        let cfg = self.cfg;
        let first = self.first;
        if !first && frame <= self.frame {
            // Out-of-order frames are a caller bug; treat as the next frame rather than panic.
            log::warn!("tracker: frame {frame} after frame {}; treated as {}", self.frame, self.frame + 1);
        }
        let frame = if first { frame } else { frame.max(self.frame + 1) };
        self.first = false;
        self.frame = frame;
        let mut out = vec![None; dets.len()];

        let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
        let valid = |d: &Detection| area(&d.bbox) >= cfg.min_box_area && d.score.is_finite() && d.bbox.iter().all(|v| v.is_finite());
        let high: Vec<usize> = (0..dets.len()).filter(|&i| valid(&dets[i]) && dets[i].score >= cfg.track_thresh).collect();
        let low: Vec<usize> =
            (0..dets.len()).filter(|&i| valid(&dets[i]) && dets[i].score > cfg.low_thresh && dets[i].score < cfg.track_thresh).collect();

        // Split tracked into confirmed and unconfirmed; pool = confirmed + lost, predicted.
        let (confirmed, unconfirmed): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracked).into_iter().partition(|t| t.activated);
        let mut pool: Vec<Track> = confirmed;
        // The budget counts frames, also across one long gap between two calls.
        let budget = self.max_lost_frames;
        self.lost.retain(|t| frame - t.end_frame <= budget);
        pool.append(&mut self.lost);
        for t in &mut pool {
            t.predict_to(frame, self.max_lost_frames + 1);
        }

        let mut tracked_now: Vec<Track> = Vec::new();
        let mut lost_now: Vec<Track> = Vec::new();

        // 1. High-score detections vs the pool.
        let cand = candidates(&pool, dets, &high, cfg.fuse_score, cfg.match_thresh);
        let (matches, u_track, u_high) = assign(&cand, high.len(), cfg.match_thresh);
        let mut pool_slots: Vec<Option<Track>> = pool.into_iter().map(Some).collect();
        for (ti, di) in matches {
            let mut t = pool_slots[ti].take().expect("matched once");
            let d = &dets[high[di]];
            t.update(d, frame);
            out[high[di]] = Some(t.id);
            tracked_now.push(t);
        }

        // 2. Low-score detections vs pool tracks still unmatched that were tracked (not lost).
        let mut remaining: Vec<Track> = Vec::new();
        for ti in u_track {
            let t = pool_slots[ti].take().expect("unmatched once");
            if t.state == State::Tracked {
                remaining.push(t);
            } else {
                lost_now.push(t);
            }
        }
        let cand = candidates(&remaining, dets, &low, false, cfg.second_match_thresh);
        let (matches, u_rem, _) = assign(&cand, low.len(), cfg.second_match_thresh);
        let mut rem_slots: Vec<Option<Track>> = remaining.into_iter().map(Some).collect();
        for (ti, di) in matches {
            let mut t = rem_slots[ti].take().expect("matched once");
            t.update(&dets[low[di]], frame);
            out[low[di]] = Some(t.id);
            tracked_now.push(t);
        }
        for ti in u_rem {
            let mut t = rem_slots[ti].take().expect("unmatched once");
            t.state = State::Lost;
            lost_now.push(t);
        }

        // 3. Unconfirmed tracks vs the high-score detections left; unmatched ones are removed.
        let left: Vec<usize> = u_high.iter().map(|&i| high[i]).collect();
        let cand = candidates(&unconfirmed, dets, &left, cfg.fuse_score, cfg.unconfirmed_match_thresh);
        let (matches, _, u_left) = assign(&cand, left.len(), cfg.unconfirmed_match_thresh);
        let mut unc_slots: Vec<Option<Track>> = unconfirmed.into_iter().map(Some).collect();
        for (ti, di) in matches {
            let mut t = unc_slots[ti].take().expect("matched once");
            t.update(&dets[left[di]], frame);
            out[left[di]] = Some(t.id);
            tracked_now.push(t);
        }

        // 4. New tracks from confident unmatched detections; confirmed at once only on the first
        //    frame.
        for di in u_left {
            let d = &dets[left[di]];
            if d.score < cfg.new_track_thresh {
                continue;
            }
            let id = *next_id;
            *next_id += 1;
            let t = Track {
                id,
                kf: KalmanState::initiate(xyah(d.bbox)),
                state: State::Tracked,
                activated: first,
                score: d.score,
                start_frame: frame,
                end_frame: frame,
                at_frame: frame,
            };
            if first {
                out[left[di]] = Some(id);
            }
            tracked_now.push(t);
        }

        // 5. Lost tracks past the time budget are dropped.
        lost_now.retain(|t| frame - t.end_frame <= self.max_lost_frames);

        // 6. A tracked and a lost track on the same object: keep the older one (only
        //    overlapping pairs can be within 0.15 of each other: found through a grid).
        let mut drop_tracked = vec![false; tracked_now.len()];
        let mut drop_lost = vec![false; lost_now.len()];
        let lost_boxes: Vec<[f32; 4]> = lost_now.iter().map(Track::bbox).collect();
        let mut grid = Grid::new(&lost_boxes);
        for (a, ta) in tracked_now.iter().enumerate() {
            let bb = ta.bbox();
            grid.near(&bb, |b| {
                if 1.0 - iou(&bb, &lost_boxes[b]) < 0.15 {
                    if frame - ta.start_frame > frame - lost_now[b].start_frame {
                        drop_lost[b] = true;
                    } else {
                        drop_tracked[a] = true;
                    }
                }
            });
        }
        let mut k = 0;
        tracked_now.retain(|t| {
            let keep = !drop_tracked[k];
            k += 1;
            if !keep {
                out.iter_mut().filter(|o| **o == Some(t.id)).for_each(|o| *o = None);
            }
            keep
        });
        let mut k = 0;
        lost_now.retain(|_| {
            let keep = !drop_lost[k];
            k += 1;
            keep
        });
        self.tracked = tracked_now;
        self.lost = lost_now;
        out
    }
}

/// Candidate (track, detection) pairs within `thresh`: cost `1 - IoU`, or `1 - IoU * score`
/// when fusing; only overlapping pairs (found through a grid over the detections).
fn candidates(tracks: &[Track], dets: &[Detection], idx: &[usize], fuse: bool, thresh: f32) -> Pairs {
    let boxes: Vec<[f32; 4]> = idx.iter().map(|&i| dets[i].bbox).collect();
    let rows: Vec<[f32; 4]> = tracks.iter().map(Track::bbox).collect();
    let mut grid = Grid::new(&boxes);
    pairs(&rows, &mut grid, thresh, |_, c, o| 1.0 - if fuse { o * dets[idx[c]].score } else { o })
}
