//! Dataset embeddings through the C ABI: `fovea embed` for C, Python (and so Ray) and Go. A
//! library built without the `embed` feature (`make install`'s) has these functions too; they
//! answer FOVEA_STATUS_UNSUPPORTED and say why.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
#[cfg(feature = "embed")]
use std::path::{Path, PathBuf};

use super::*;
#[cfg(feature = "embed")]
use crate::embed::{ClipInput, EmbedOptions};

thread_local! {
    static LAST_REPORT: RefCell<CString> = RefCell::new(CString::default());
}

/// The clips of `inputs`: a JSON array whose items are paths (files, folders walked, list
/// files, as `fovea embed` takes them) or objects `{"path": ..., "label": ...}` taken as they are.
#[cfg(feature = "embed")]
fn clips_of(inputs: &str) -> Result<Vec<ClipInput>, Failure> {
    let bad = |m: String| fail(FOVEA_STATUS_INVALID_ARGUMENT, format!("inputs: {m}"));
    let items: Vec<serde_json::Value> = serde_json::from_str(inputs).map_err(|e| bad(format!("expected a JSON array: {e}")))?;
    let mut out = Vec::new();
    let mut paths = Vec::new();
    for (i, v) in items.into_iter().enumerate() {
        match v {
            serde_json::Value::String(s) => paths.push(PathBuf::from(s)),
            v @ serde_json::Value::Object(_) => {
                if !paths.is_empty() {
                    out.extend(crate::embed::collect_inputs(&std::mem::take(&mut paths))?);
                }
                out.push(serde_json::from_value(v).map_err(|e| bad(format!("[{i}]: {e}")))?)
            }
            _ => return Err(bad(format!("[{i}] is neither a path nor a {{path, label}} object"))),
        }
    }
    out.extend(crate::embed::collect_inputs(&paths)?);
    Ok(out)
}

/// Without the `embed` feature: what the embedding calls answer.
#[cfg(not(feature = "embed"))]
fn clips_of(_inputs: &str) -> Result<Vec<()>, Failure> {
    Err(fail(
        FOVEA_STATUS_UNSUPPORTED,
        "this fovea library was built without the embed feature (video collections); build it with --features embed",
    ))
}

fn set_report(text: String) {
    LAST_REPORT.with(|r| *r.borrow_mut() = cstring(text));
}

/// The clips `fovea_embed` would embed for `inputs` (a JSON array, as it takes them), as the
/// JSON array of `{"path", "label"}` objects `fovea_last_embed_report()` then returns.
///
/// # Safety
/// `inputs` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fovea_embed_collect(inputs: *const c_char) -> fovea_status {
    boundary(set_thread_error, || {
        // SAFETY: per the contract.
        let clips = clips_of(unsafe { str_arg(inputs, "inputs") }?)?;
        set_report(serde_json::to_string(&clips).map_err(|e| fail(FOVEA_STATUS_INTERNAL, e.to_string()))?);
        Ok(FOVEA_STATUS_OK)
    })
}

/// Embeds the clips of `inputs` (a JSON array: paths of files, folders or list files, or
/// `{"path", "label"}` objects) into the store folder `store` with an image encoder, as
/// `fovea embed` does: resumable (clips already in the store are skipped), a failing clip
/// recorded with its error. `options` is NULL or a JSON object, every field optional: `encoder`
/// (manifest path), `sample` (`{"frames": K}` or `{"every": S}`), `per` ("clip" or "frame"),
/// `batch`, `decoders`, `threads`, `commit_clips`, `commit_seconds`. Blocks until done; the run's
/// report (JSON) is then `fovea_last_embed_report()`, an error `fovea_last_error()` (this thread).
///
/// # Safety
/// `inputs` and `store` are NUL-terminated strings; `options` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fovea_embed(inputs: *const c_char, store: *const c_char, options: *const c_char) -> fovea_status {
    boundary(set_thread_error, || {
        // SAFETY: per the contract.
        let clips = clips_of(unsafe { str_arg(inputs, "inputs") }?)?;
        // SAFETY: per the contract.
        let store = unsafe { str_arg(store, "store") }?;
        #[cfg(not(feature = "embed"))]
        let _ = (clips, store, options);
        #[cfg(feature = "embed")]
        {
            let opts: EmbedOptions = if options.is_null() {
                EmbedOptions::default()
            } else {
                // SAFETY: per the contract.
                let text = unsafe { str_arg(options, "options") }?;
                serde_json::from_str(text).map_err(|e| fail(FOVEA_STATUS_INVALID_ARGUMENT, format!("options: {e}")))?
            };
            let report = crate::embed::run(&clips, Path::new(store), &opts, None, &mut |_| {}).map_err(crate::Error::for_json)?;
            set_report(serde_json::to_string(&report).map_err(|e| fail(FOVEA_STATUS_INTERNAL, e.to_string()))?);
        }
        Ok(FOVEA_STATUS_OK)
    })
}

/// The JSON of this thread's last successful `fovea_embed` or `fovea_embed_collect`, or "".
/// Valid until the next such call on this thread; never free it.
#[no_mangle]
pub extern "C" fn fovea_last_embed_report() -> *const c_char {
    LAST_REPORT.with(|r| r.borrow().as_ptr())
}
