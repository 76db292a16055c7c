//! Detection from a file to a file through the C ABI: `fovea detect --config`'s results file.

use std::ffi::c_char;
use std::path::Path;

use serde::Deserialize;

use super::*;

/// `fovea_engine_detect_file`'s options (every field optional).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    format: Option<String>,
    stride: Option<u32>,
    max_fps: Option<f64>,
    start: Option<f64>,
    duration: Option<f64>,
    iframes: Option<bool>,
}

/// Processes `video` with the engine (its model, tracking, classifier, rules, teams) and writes
/// the results to the file `out` (made or replaced): the bytes `fovea detect --config` writes
/// for the same engine configuration. `options` is NULL or a JSON object, every field optional:
/// `format` ("jsonl", the default, or "scorevision"), `stride` (every Nth frame), `max_fps`,
/// `start` and `duration` (seconds), `iframes` (true: the key frames only), as `fovea detect`'s
/// options. Blocks until done;
/// `fovea_engine_last_report` then has the run's report. When the input is damaged part way, the
/// results of what decoded are in `out` (a valid file) and the error is returned.
///
/// # Safety
/// `engine` is a live engine handle; `video` and `out` NUL-terminated strings; `options` NULL or
/// a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_detect_file(
    engine: *mut fovea_engine,
    video: *const c_char,
    out: *const c_char,
    options: *const c_char,
) -> fovea_status {
    // SAFETY: NULL or live per the contract.
    let Some(e) = (unsafe { engine.as_ref() }) else { return null_handle("engine") };
    boundary(engine_error(e), || {
        // SAFETY: per the contract.
        let v = unsafe { str_arg(video, "video") }?;
        // SAFETY: per the contract.
        let o = unsafe { str_arg(out, "out") }?;
        // SAFETY: per the contract (NULL allowed).
        let opts = if options.is_null() { None } else { Some(unsafe { str_arg(options, "options") }?) };
        let (format, sampling) = parse(opts)?;
        e.inner.detect_to_file(Path::new(v), sampling, Path::new(o), format)?;
        Ok(FOVEA_STATUS_OK)
    })
}

fn parse(options: Option<&str>) -> crate::Result<(crate::output::Format, crate::video::Sampling)> {
    let o: Options = match options {
        None => Options::default(),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| crate::Error::InvalidOption { option: "options", reason: format!("not a detect options object: {e}") })?,
    };
    let format = o.format.as_deref().map(str::parse).transpose()?.unwrap_or_default();
    let d = crate::video::Sampling::default();
    let sampling = crate::video::Sampling {
        stride: o.stride.unwrap_or(d.stride),
        max_fps: o.max_fps.or(d.max_fps),
        start: o.start.unwrap_or(d.start),
        duration: o.duration.or(d.duration),
        iframes: o.iframes.unwrap_or(d.iframes),
    };
    sampling.validate()?;
    Ok((format, sampling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let (f, s) = parse(Some(r#"{"format":"scorevision","stride":2,"duration":1.5}"#)).unwrap();
        assert_eq!(f, crate::output::Format::Scorevision);
        assert_eq!((s.stride, s.duration), (2, Some(1.5)));
        assert_eq!(parse(None).unwrap().0, crate::output::Format::Jsonl);
        for (bad, says) in [
            (r#"{"format":"csv"}"#, "results format"),
            (r#"{"stride":0}"#, "stride"),
            (r#"{"strde":2}"#, "unknown field"),
            ("[", "options"),
        ] {
            let e = parse(Some(bad)).expect_err(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
