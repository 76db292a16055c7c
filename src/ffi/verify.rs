//! Verify mode through the C ABI: boxes from the caller (a miner's, a peer detector's) go through
//! the stage chain in place of the detector's: rules, classifier, teams, as `fovea verify` does.
//! Either a file and a boxes file (`fovea_engine_verify_file`), or the caller's frames with their
//! boxes (`fovea_stream_send_frame_with_boxes`).
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void, CString};
use std::path::Path;

use crate::results::Detection;

use super::*;

/// One box handed in for verification, in pixels of its frame.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct fovea_box {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
    /// A class of the engine's model (see `fovea_engine_label`).
    pub class_id: u32,
    /// The box's id in the caller's data (e.g. a miner's object id), or -1; reported as the
    /// result's `track_id` when the engine does not track.
    pub id: i64,
}

/// Verifies the boxes of `boxes_path` (a Score Vision JSON file or fovea JSONL) on `video`, the
/// way `fovea verify` does with the engine's configuration (its `[rules]`, else the built-in Score
/// Vision set; its classifier; `teams`): `callback` gets every frame with boxes, in order, every
/// box a detection whose `verdict`, `rule`, `stats`, `label`, `source` and `team` say what was
/// decided; labels are the boxes file's (Score Vision's four, or the JSONL's). Frames with boxes
/// past the end of the video come last, their boxes `FOVEA_VERDICT_INVALID` ("frame_out_of_range").
/// Blocks until done; `fovea_engine_last_report` then has the verify report.
///
/// # Safety
/// `engine` is a live engine handle; `video` and `boxes_path` NUL-terminated strings; `callback`
/// a function that may be called with `user_data` from this thread.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_verify_file(
    engine: *mut fovea_engine,
    video: *const c_char,
    boxes_path: *const c_char,
    callback: fovea_frame_callback,
    user_data: *mut c_void,
) -> fovea_status {
    // SAFETY: NULL or live per the contract.
    let Some(e) = (unsafe { engine.as_ref() }) else { return null_handle("engine") };
    boundary(engine_error(e), || {
        // SAFETY: per the contract.
        let v = unsafe { str_arg(video, "video") }?;
        // SAFETY: per the contract.
        let b = unsafe { str_arg(boxes_path, "boxes_path") }?;
        let run = |deliver: &mut dyn FnMut(&crate::results::FrameResult, &[CString]) -> crate::Result<()>| {
            let mut names: Vec<CString> = Vec::new();
            e.inner
                .verify_file(Path::new(v), Path::new(b), &mut |fr, labels| {
                    if names.len() != labels.len() {
                        names = labels.iter().map(|l| cstring(l.clone())).collect();
                    }
                    deliver(fr, &names)
                })
                .map(|_| ())
        };
        // SAFETY: the callback's contract, per this function's.
        unsafe { file_call(callback, user_data, run) }
    })
}

/// Verify mode on a stream: sends one frame (as `fovea_stream_send_frame`) with `count` boxes at
/// `boxes` (NULL when 0), which go through the stage chain in place of the detector's; the
/// result is queued for `fovea_stream_receive`. At most 10,000 boxes a frame.
///
/// # Safety
/// `stream` is a live stream used by this thread only; `data` points to `len` readable bytes;
/// `boxes` to `count` readable `fovea_box` records.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fovea_stream_send_frame_with_boxes(
    stream: *mut fovea_stream,
    data: *const u8,
    len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: u32,
    pts: f64,
    boxes: *const fovea_box,
    count: usize,
) -> fovea_status {
    on_stream(stream, |s| {
        // SAFETY: per the contract.
        let frame = unsafe { frame_arg(data, len, width, height, stride, format, pts) }?;
        if count > crate::output::read::MAX_BOXES_PER_FRAME {
            return Err(fail(
                FOVEA_STATUS_INVALID_ARGUMENT,
                format!("{count} boxes in one frame, at most {}", crate::output::read::MAX_BOXES_PER_FRAME),
            ));
        }
        let given: &[fovea_box] = match (boxes.is_null(), count) {
            (_, 0) => &[],
            (true, _) => return Err(fail(FOVEA_STATUS_NULL_ARGUMENT, format!("boxes is NULL with count {count}"))),
            // SAFETY: `boxes` points to `count` readable records per the contract; count is bounded.
            (false, n) => unsafe { std::slice::from_raw_parts(boxes, n) },
        };
        let dets: Vec<Detection> = given.iter().map(|b| Detection::new([b.x1, b.y1, b.x2, b.y2], b.score, b.class_id)).collect();
        let ids: Vec<Option<u64>> = given.iter().map(|b| u64::try_from(b.id).ok()).collect();
        s.inner.send_frame_with_boxes(&frame, &dets, &ids)?;
        Ok(FOVEA_STATUS_OK)
    })
}

/// The stream's report so far as JSON, the run report `fovea_engine_last_report` gives: frames
/// processed, detections per class, seconds per stage (conversion, preprocessing, waiting for the
/// engine's model, inference, postprocessing, tracking, statistics, rules, ROI tensors,
/// classifier), tracks, ROIs, classifier calls made and saved, teams; its video null. NULL if `stream` is NULL. Valid until the next call on the stream; never free it.
///
/// # Safety
/// `stream` is NULL or a live stream used by this thread only.
#[no_mangle]
pub unsafe extern "C" fn fovea_stream_report(stream: *mut fovea_stream) -> *const c_char {
    // SAFETY: NULL or live and used by this thread only, per the contract.
    let Some(s) = (unsafe { stream.as_mut() }) else { return std::ptr::null() };
    let json = s.inner.report().to_string();
    s.report = cstring(json);
    s.report.as_ptr()
}
