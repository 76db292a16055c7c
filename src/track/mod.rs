//! Tracking: identities across frames with ByteTrack, and reuse of a track's label.
//!
//! ```text
//!  detections of frame n (decode order) ──▶ Tracker: one ByteTrack per class ──▶ track ids
//!                                                          │
//!  track id + box ──▶ LabelCache: classify (new / moved / stale / uncertain) or reuse ──▶ label
//! ```
//! Frames must arrive in decode order; time is counted in decode frames, so sampling with a
//! stride or a frame-rate cap does not change how far boxes move or how long lost tracks live.
#![forbid(unsafe_code)]

pub mod assign;
mod bytetrack;
pub mod kalman;
pub mod reuse;

use std::collections::BTreeMap;

pub use bytetrack::{ByteTrack, TrackerConfig};

use crate::detect::Detection;

/// Multi-class tracker: classes never share a track (a ball is never a player). Track ids are
/// unique across classes and start at 1.
#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: TrackerConfig,
    fps: f64,
    per_class: BTreeMap<u32, ByteTrack>,
    next_id: u64,
}

impl Tracker {
    /// `fps`: the video's frame rate (the lost-track budget is a time).
    pub fn new(cfg: TrackerConfig, fps: f64) -> Self {
        Self { cfg, fps, per_class: BTreeMap::new(), next_id: 1 }
    }

    /// Track ids of `dets` in decode frame `frame` (frames strictly increasing). Every class's
    /// tracker sees every frame, so its tracks age also when the class is absent.
    pub fn update(&mut self, frame: u64, dets: &[Detection]) -> Vec<Option<u64>> {
        let mut out = vec![None; dets.len()];
        let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, d) in dets.iter().enumerate() {
            by_class.entry(d.class_id).or_default().push(i);
        }
        for &c in by_class.keys() {
            if !self.per_class.contains_key(&c) {
                self.per_class.insert(c, ByteTrack::new(self.cfg, self.fps));
            }
        }
        let mut scratch = Vec::new();
        for (c, bt) in self.per_class.iter_mut() {
            scratch.clear();
            let idx = by_class.get(c).map(|v| v.as_slice()).unwrap_or(&[]);
            scratch.extend(idx.iter().map(|&i| dets[i].clone()));
            let ids = bt.update(frame, &scratch, &mut self.next_id);
            for (&i, id) in idx.iter().zip(ids) {
                out[i] = id;
            }
        }
        out
    }

    /// The confirmed tracks' boxes predicted to decode frame `frame` (after the last frame
    /// updated), with their ids; the tracker unchanged. A frame the detector skips.
    pub fn predicted(&self, frame: u64) -> (Vec<Detection>, Vec<Option<u64>>) {
        let mut dets = Vec::new();
        let mut ids = Vec::new();
        for (&c, bt) in &self.per_class {
            for (id, bbox, score) in bt.predicted(frame) {
                dets.push(Detection::new(bbox, score, c));
                ids.push(Some(id));
            }
        }
        (dets, ids)
    }

    /// Track ids handed out so far.
    pub fn ids_issued(&self) -> u64 {
        self.next_id - 1
    }
}

#[cfg(test)]
mod tests;
