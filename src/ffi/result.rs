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

/// One detected object.
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
    /// Who gave `label`: a `fovea_source` value.
    pub source: u32,
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
}

/// A result with the memory its pointers point into. `c` comes first, so a pointer to the box
/// is a pointer to its `fovea_result`.
#[repr(C)]
pub(super) struct OwnedResult {
    pub(super) c: fovea_result,
    dets: Vec<fovea_detection>,
    labels: Vec<CString>,
}

impl OwnedResult {
    pub(super) fn new(r: &FrameResult, labels: &[CString]) -> Box<OwnedResult> {
        let unknown = CString::new("?").expect("no NUL");
        let mut owned = Box::new(OwnedResult {
            c: fovea_result { frame: r.index, pts: r.pts, count: 0, detections: std::ptr::null() },
            dets: Vec::with_capacity(r.detections.len()),
            labels: Vec::with_capacity(r.detections.len()),
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
            });
        }
        // The CStrings' heap buffers do not move when the Vec does, so these pointers stay valid.
        for (d, l) in owned.dets.iter_mut().zip(&owned.labels) {
            d.label = l.as_ptr();
        }
        owned.c.count = owned.dets.len();
        owned.c.detections = if owned.dets.is_empty() { std::ptr::null() } else { owned.dets.as_ptr() };
        owned
    }
}
