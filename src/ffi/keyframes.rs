//! Key-frame selection through the C ABI: `fovea keyframes` with the engine's model.

use std::ffi::c_char;
use std::path::Path;

use super::*;

/// Picks the key frames of `video` with the engine's model, as `fovea keyframes` does, and
/// writes them into `out_dir` (made if missing): the images, `keyframes.json` and
/// `contact_sheet.png`. `options` is NULL or a JSON object, every field optional: `max` (at most
/// this many; default one per shot), `min_gap` (seconds, default 1), `policy` (a policy TOML file),
/// `stride` (measure every Nth frame), `image_format` ("jpg" or "png"). Blocks until done;
/// `fovea_engine_last_report` then has the keyframes.json document (also when the input was
/// damaged part way: the key frames of what decoded are written, then the error is returned).
///
/// # Safety
/// `engine` is a live engine handle; `video` and `out_dir` NUL-terminated strings; `options`
/// NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_keyframes(
    engine: *mut fovea_engine,
    video: *const c_char,
    out_dir: *const c_char,
    options: *const c_char,
) -> fovea_status {
    // SAFETY: NULL or live per the contract.
    let Some(e) = (unsafe { engine.as_ref() }) else { return null_handle("engine") };
    boundary(engine_error(e), || {
        // SAFETY: per the contract.
        let v = unsafe { str_arg(video, "video") }?;
        // SAFETY: per the contract.
        let o = unsafe { str_arg(out_dir, "out_dir") }?;
        // SAFETY: per the contract (NULL allowed).
        let opts = if options.is_null() { None } else { Some(unsafe { str_arg(options, "options") }?) };
        run(&e.inner, Path::new(v), Path::new(o), opts).map_err(crate::Error::for_json)?;
        Ok(FOVEA_STATUS_OK)
    })
}

#[cfg(feature = "video")]
fn run(engine: &crate::engine::Engine, video: &Path, out: &Path, options: Option<&str>) -> crate::Result<()> {
    let req = crate::keyframes::Request::parse(options)?;
    crate::keyframes::run_file(engine, video, out, &req).map(|_| ())
}

#[cfg(not(feature = "video"))]
fn run(_engine: &crate::engine::Engine, _video: &Path, _out: &Path, _options: Option<&str>) -> crate::Result<()> {
    Err(crate::Error::Unsupported { what: "key frames", reason: "this build of fovea has no video decoding (feature `video`)".into() })
}
