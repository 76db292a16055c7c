//! `fovea score` through the C ABI: a miner's submission scored as the validator scores it, for
//! C, Python and Go.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::path::Path;

use super::*;
use crate::score::ScoreRequest;

thread_local! {
    static LAST_REPORT: RefCell<CString> = RefCell::new(CString::default());
}

/// Scores the Score Vision miner file `boxes` made on `video` as `fovea score` does: the
/// validator's rules and box score (the classifier slot deciding classes when `classifier` is
/// given, else an upper bound), the keypoint score (homography, pitch lines, ...), the speed score
/// (with `time`), the final score. `options` is NULL or a JSON object, every field optional:
/// `rules`, `line_frames`, `time`, `fastest`, `classifier`, `policy`, `threads`, `per_frame`.
/// Blocks until done; the report (JSON) is then `fovea_last_score_report()`, an error
/// `fovea_last_error()` (this thread). A run that fails part-way reports the error.
///
/// # Safety
/// `video` and `boxes` are NUL-terminated strings; `options` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fovea_score(video: *const c_char, boxes: *const c_char, options: *const c_char) -> fovea_status {
    boundary(set_thread_error, || {
        // SAFETY: per the contract.
        let video = unsafe { str_arg(video, "video") }?;
        // SAFETY: per the contract.
        let boxes = unsafe { str_arg(boxes, "boxes") }?;
        let req: ScoreRequest = if options.is_null() {
            ScoreRequest::default()
        } else {
            // SAFETY: per the contract.
            let text = unsafe { str_arg(options, "options") }?;
            serde_json::from_str(text).map_err(|e| fail(FOVEA_STATUS_INVALID_ARGUMENT, format!("options: {e}")))?
        };
        let (opts, mut classifier) = req.options().map_err(crate::Error::for_json)?;
        let c = classifier.as_mut().map(|z| z as &mut dyn crate::classify::Classifier);
        let (report, outcome) = crate::score::run_score(Path::new(video), Path::new(boxes), &opts, c).map_err(crate::Error::for_json)?;
        outcome?;
        let json = report.to_json(req.per_frame.unwrap_or(true));
        LAST_REPORT.with(|r| *r.borrow_mut() = cstring(json.to_string()));
        Ok(FOVEA_STATUS_OK)
    })
}

/// The JSON of this thread's last successful `fovea_score`, or "". Valid until the next such
/// call on this thread; never free it.
#[no_mangle]
pub extern "C" fn fovea_last_score_report() -> *const c_char {
    LAST_REPORT.with(|r| r.borrow().as_ptr())
}
