//! The results the C ABI hands out: per-detection records and per-frame results, with the memory
//! their pointers point into.
#![allow(non_camel_case_types)]
#![forbid(unsafe_code)]

use std::ffi::{c_char, CString};

use crate::pipeline::FrameResult;
use crate::results::LabelSource;

use super::cstring;

/// Where a detection's label came from.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum fovea_source {
    FOVEA_SOURCE_DETECTOR = 0,
    FOVEA_SOURCE_FILTER = 1,
    FOVEA_SOURCE_CLASSIFIER = 2,
    FOVEA_SOURCE_TRACK = 3,
    /// Decided by colour (team assignment: goalkeeper, referee).
    FOVEA_SOURCE_COLOUR = 4,
}

/// The rules' verdict on a detection (or a box handed in).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum fovea_verdict {
    /// Kept (also: no rules configured).
    FOVEA_VERDICT_KEEP = 0,
    /// Rejected by a rule or by the classifier (`rule` names it).
    FOVEA_VERDICT_REJECT = 1,
    /// Could not be checked: not finite, empty, outside the frame, unknown class, frame past the
    /// end of the video (`rule` says which).
    FOVEA_VERDICT_INVALID = 2,
}

/// `fovea_detection.flags`: the box reached outside the frame and was clamped to it.
pub const FOVEA_FLAG_CLAMPED: u32 = 1;
/// `fovea_detection.flags`: the classifier could not decide (the label was kept).
pub const FOVEA_FLAG_UNCERTAIN: u32 = 2;

/// Colour statistics of a detection's ROI (with `[rules]`; `pixels` is 0 when none were
/// measured). Channels are R, G, B.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct fovea_colour_stats {
    pub pixels: u64,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Mean luma, 0..255.
    pub brightness: f32,
    /// mean G - max(mean R, mean B).
    pub green_dominance: f32,
    /// Fraction of pixels in the grass colour range, and of dark pixels.
    pub green_fraction: f32,
    pub dark_fraction: f32,
}

/// One detected object (or box handed in), with what the stages decided about it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct fovea_detection {
    /// Box corners in pixels of the frame as sent (or as decoded, for files).
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    /// Detector confidence, 0..1.
    pub score: f32,
    /// Class index of the model (see `fovea_engine_label`).
    pub class_id: u32,
    /// Track id, or -1 when no confirmed track claims the detection (or tracking is off).
    pub track_id: i64,
    /// The label: the classifier's (or its track's) when a classifier is configured and decided
    /// this object, else the model's class name. NUL-terminated; owned by the result, valid as
    /// long as it.
    pub label: *const c_char,
    /// Who gave `label`: a `fovea_source` value (`FOVEA_SOURCE_FILTER` when rules ran and no
    /// classifier or colour labelled it).
    pub source: u32,
    /// The confidence of `label` (0..1) when a classifier or colour gave it, else the score.
    pub label_score: f32,
    /// A `fovea_verdict` value.
    pub verdict: u32,
    /// The rule that rejected the box ("grass", "zone:scoreboard_left", "classifier:crowd", ...)
    /// or why it is invalid; NULL when kept. Owned by the result.
    pub rule: *const c_char,
    /// The value the rule measured and the limit it crossed (NaN when none).
    pub rule_value: f32,
    pub rule_limit: f32,
    /// `FOVEA_FLAG_*` bits.
    pub flags: u32,
    /// Colour team 0 or 1 (with `teams = true`), else -1.
    pub team: i32,
    pub stats: fovea_colour_stats,
    /// The classifier's probabilities of its last step: `score_count` labels and values; NULL
    /// when 0. Owned by the result.
    pub score_count: usize,
    pub score_labels: *const *const c_char,
    pub score_values: *const f32,
    /// A pose model's keypoints of the object: `object_keypoint_count` (x, y, confidence)
    /// triples in frame pixels, in the model's keypoint order (confidence 1 where the model gives
    /// none); NULL when 0 (a model without keypoints). Owned by the result.
    pub object_keypoint_count: usize,
    pub object_keypoints: *const f32,
}

/// The results of one frame. Made by `fovea_stream_receive` (free it with
/// `fovea_result_destroy`) or lent to a `fovea_frame_callback` (valid during the call only).
#[repr(C)]
#[derive(Debug)]
pub struct fovea_result {
    /// Frame number: for streams, the order of `fovea_stream_send_frame` calls from 0; for files,
    /// the decode index.
    pub frame: u64,
    /// Presentation time in seconds (as sent, or as decoded).
    pub pts: f64,
    /// Number of detections.
    pub count: usize,
    /// `count` detections, best score first; NULL when `count` is 0.
    pub detections: *const fovea_detection,
    /// Number of pitch keypoints: the template's 32 when the engine's `[pitch]` stage runs, else 0.
    pub keypoint_count: usize,
    /// `keypoint_count` (x, y) pairs in pixels, in the template's order (Score Vision's), (0, 0)
    /// where not seen; NULL when `keypoint_count` is 0.
    pub keypoints: *const f32,
    /// `keypoint_count` confidences (0..1, 0 where not seen): the keypoint model's, or the fit of
    /// the template to the lines; NULL when `keypoint_count` is 0.
    pub keypoint_confidences: *const f32,
    /// 1 when the detector skipped the frame (the engine configuration's `interval`): its boxes
    /// are the tracks' predictions; else 0.
    pub predicted: u32,
}

/// A result with the memory its pointers point into. `c` comes first, so a pointer to the box
/// is a pointer to its `fovea_result`.
#[repr(C)]
pub(super) struct OwnedResult {
    pub(super) c: fovea_result,
    dets: Vec<fovea_detection>,
    labels: Vec<CString>,
    rules: Vec<Option<CString>>,
    /// Per detection: its score labels, their pointers and values.
    score_names: Vec<Vec<CString>>,
    score_ptrs: Vec<Vec<*const c_char>>,
    score_values: Vec<Vec<f32>>,
    keypoints: Vec<f32>,
    keypoint_confidences: Vec<f32>,
    /// Per detection: its keypoints' values (x, y, confidence).
    object_keypoints: Vec<Vec<f32>>,
}

impl OwnedResult {
    pub(super) fn new(r: &FrameResult, labels: &[CString]) -> Box<OwnedResult> {
        let unknown = CString::new("?").expect("no NUL");
        let mut owned = Box::new(OwnedResult {
            c: fovea_result {
                frame: r.index,
                pts: r.pts,
                count: 0,
                detections: std::ptr::null(),
                keypoint_count: 0,
                keypoints: std::ptr::null(),
                keypoint_confidences: std::ptr::null(),
                predicted: r.predicted as u32,
            },
            dets: Vec::with_capacity(r.detections.len()),
            labels: Vec::with_capacity(r.detections.len()),
            rules: Vec::with_capacity(r.detections.len()),
            score_names: Vec::with_capacity(r.detections.len()),
            score_ptrs: Vec::with_capacity(r.detections.len()),
            score_values: Vec::with_capacity(r.detections.len()),
            keypoints: r.keypoints.iter().flatten().copied().collect(),
            keypoint_confidences: r.keypoint_confidences.clone(),
            object_keypoints: r.detections.iter().map(|d| d.keypoints.iter().flat_map(|k| k.iter().flatten().copied()).collect()).collect(),
        });
        for (k, d) in r.detections.iter().enumerate() {
            let resolved = r.labels.get(k).and_then(|l| l.as_ref());
            let (label, source) = match resolved {
                Some(l) => (
                    cstring(l.label.clone()),
                    match l.source {
                        LabelSource::Classifier => fovea_source::FOVEA_SOURCE_CLASSIFIER,
                        LabelSource::Track => fovea_source::FOVEA_SOURCE_TRACK,
                        LabelSource::Colour => fovea_source::FOVEA_SOURCE_COLOUR,
                    },
                ),
                None => (labels.get(d.class_id as usize).cloned().unwrap_or_else(|| unknown.clone()), fovea_source::FOVEA_SOURCE_DETECTOR),
            };
            owned.labels.push(label);
            // The rest of the record: what `fovea verify` writes for the box. `label` and
            // `source` say who labelled the object (a team player keeps its class name, which
            // `fovea verify`'s line calls "player"); FILTER when rules ran and nobody labelled it.
            let b = r.box_result(k, &[]);
            let source = match source {
                fovea_source::FOVEA_SOURCE_DETECTOR if !r.checks.is_empty() => fovea_source::FOVEA_SOURCE_FILTER,
                s => s,
            };
            let verdict = match b.verdict {
                "reject" => fovea_verdict::FOVEA_VERDICT_REJECT,
                "invalid" => fovea_verdict::FOVEA_VERDICT_INVALID,
                _ => fovea_verdict::FOVEA_VERDICT_KEEP,
            };
            let flags = b.flags.iter().fold(0, |f, s| {
                f | match *s {
                    "clamped" => FOVEA_FLAG_CLAMPED,
                    "uncertain" => FOVEA_FLAG_UNCERTAIN,
                    _ => 0,
                }
            });
            let stats = b.stats.map_or_else(fovea_colour_stats::default, |s| fovea_colour_stats {
                pixels: s.pixels,
                mean: s.mean,
                std: s.std,
                brightness: s.brightness,
                green_dominance: s.green_dominance,
                green_fraction: s.green_fraction,
                dark_fraction: s.dark_fraction,
            });
            owned.rules.push(b.rule.map(cstring));
            let scores = b.scores.unwrap_or_default();
            owned.score_names.push(scores.iter().map(|(l, _)| cstring(l.clone())).collect());
            owned.score_values.push(scores.iter().map(|(_, v)| *v).collect());
            let track = r.track_ids.get(k).copied().flatten();
            owned.dets.push(fovea_detection {
                x1: d.bbox[0],
                y1: d.bbox[1],
                x2: d.bbox[2],
                y2: d.bbox[3],
                score: d.score,
                class_id: d.class_id,
                track_id: track.map_or(-1, |t| t as i64),
                label: std::ptr::null(),
                source: source as u32,
                label_score: resolved.map_or(d.score, |l| l.confidence),
                verdict: verdict as u32,
                rule: std::ptr::null(),
                rule_value: b.value.unwrap_or(f32::NAN),
                rule_limit: b.limit.unwrap_or(f32::NAN),
                flags,
                team: b.team.map_or(-1, i32::from),
                stats,
                score_count: scores.len(),
                score_labels: std::ptr::null(),
                score_values: std::ptr::null(),
                object_keypoint_count: d.keypoints.as_ref().map_or(0, |k| k.len()),
                object_keypoints: std::ptr::null(),
            });
        }
        // The CStrings' heap buffers do not move when the Vec does, so these pointers stay valid;
        // likewise the inner Vecs' buffers.
        owned.score_ptrs = owned.score_names.iter().map(|n| n.iter().map(|c| c.as_ptr()).collect()).collect();
        let OwnedResult { dets, labels, rules, score_ptrs, score_values, object_keypoints, .. } = &mut *owned;
        for (k, d) in dets.iter_mut().enumerate() {
            d.label = labels[k].as_ptr();
            d.rule = rules[k].as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
            if d.score_count > 0 {
                d.score_labels = score_ptrs[k].as_ptr();
                d.score_values = score_values[k].as_ptr();
            }
            if d.object_keypoint_count > 0 {
                d.object_keypoints = object_keypoints[k].as_ptr();
            }
        }
        owned.c.count = owned.dets.len();
        owned.c.detections = if owned.dets.is_empty() { std::ptr::null() } else { owned.dets.as_ptr() };
        owned.c.keypoint_count = owned.keypoints.len() / 2;
        owned.c.keypoints = if owned.keypoints.is_empty() { std::ptr::null() } else { owned.keypoints.as_ptr() };
        if owned.keypoint_confidences.len() == owned.c.keypoint_count && owned.c.keypoint_count > 0 {
            owned.c.keypoint_confidences = owned.keypoint_confidences.as_ptr();
        }
        owned
    }
}
