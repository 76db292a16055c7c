//! The C ABI. Every `extern "C"` item of fovea lives here; `include/fovea.h` is generated from
//! this file by cbindgen (build.rs) and committed.
//!
//! Rules, after rustls-ffi and rav1e: opaque handles with create/destroy pairs; every entry point
//! inside a panic boundary (a panic becomes `FOVEA_STATUS_PANIC` with a message, never an unwind
//! into C); NULL arguments are answered with `FOVEA_STATUS_NULL_ARGUMENT`; status numbers are fixed
//! and never reused; the last error message is kept on the handle (thread-local only for
//! constructors, which have no handle yet); output pointers come last.
#![allow(non_camel_case_types)]

mod detect;
mod embed;
mod keyframes;
mod result;
mod score;
mod verify;
use result::OwnedResult;

pub use result::*;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use crate::engine::{Engine, EngineConfig, FrameIn, PixelFormat, Received, Stream};
use crate::error::Error;
use crate::video::Sampling;

/// Status codes. The numbers are fixed: a code is never renumbered or reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum fovea_status {
    /// Success.
    FOVEA_STATUS_OK = 0,
    /// `fovea_stream_receive`: no result yet; send more frames.
    FOVEA_STATUS_NEED_MORE_DATA = 1,
    /// `fovea_stream_receive`: the stream was flushed and every result was received.
    FOVEA_STATUS_END_OF_STREAM = 2,
    /// A required pointer argument was NULL.
    FOVEA_STATUS_NULL_ARGUMENT = 100,
    /// An argument has a wrong value (frame size, stride, pixel format, ...).
    FOVEA_STATUS_INVALID_ARGUMENT = 101,
    /// A file does not exist.
    FOVEA_STATUS_NOT_FOUND = 102,
    /// The engine configuration or a model manifest is malformed or inconsistent.
    FOVEA_STATUS_INVALID_CONFIG = 103,
    /// The ONNX Runtime library could not be found or loaded.
    FOVEA_STATUS_RUNTIME_MISSING = 104,
    /// The model does not match its manifest.
    FOVEA_STATUS_MODEL_MISMATCH = 105,
    /// The input is not decodable media, or is damaged or truncated.
    FOVEA_STATUS_MEDIA = 106,
    /// Inference failed.
    FOVEA_STATUS_INFERENCE = 107,
    /// A requested provider or feature is not available (and fallback was not allowed).
    FOVEA_STATUS_UNSUPPORTED = 108,
    /// The callback asked to stop.
    FOVEA_STATUS_CALLBACK_STOPPED = 109,
    /// Reading or writing a file failed.
    FOVEA_STATUS_IO = 110,
    /// The call was not valid in the handle's state (e.g. a frame sent after flush): a misuse
    /// by the caller.
    FOVEA_STATUS_BAD_STATE = 111,
    /// The GPU failed: out of memory, or an error from the driver or a kernel launch.
    FOVEA_STATUS_DEVICE = 112,
    /// fovea panicked; the message says where. The handle must not be used again (except to
    /// destroy it).
    FOVEA_STATUS_PANIC = 200,
    /// An internal invariant failed (a bug in fovea); the message says what.
    FOVEA_STATUS_INTERNAL = 201,
}

use fovea_status::*;

/// Pixel formats of frames sent with `fovea_stream_send_frame`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum fovea_pixel_format {
    /// Packed 8-bit R, G, B; `stride` bytes per row.
    FOVEA_PIXEL_FORMAT_RGB24 = 0,
    /// Packed 8-bit B, G, R (OpenCV's order); `stride` bytes per row.
    FOVEA_PIXEL_FORMAT_BGR24 = 1,
    /// 8-bit Y plane of `height` rows, then the interleaved U/V plane of `height / 2` rows, both
    /// with `stride` bytes per row, contiguous; BT.601 limited range. Even width and height.
    FOVEA_PIXEL_FORMAT_NV12 = 2,
}

/// A loaded model with its settings. Thread-safe: any number of streams on any threads.
pub struct fovea_engine {
    inner: Arc<Engine>,
    labels: Vec<CString>,
    provider: CString,
    /// The last error of each thread that called this engine: a thread's message stays where it
    /// is until that thread's next failing call (other threads' entries may move the map's
    /// slots, never the strings' bytes).
    last_error: Mutex<HashMap<ThreadId, CString>>,
    /// The last report string handed to each thread (see `fovea_engine_last_report`).
    reports: Mutex<HashMap<ThreadId, CString>>,
}

/// Per-video state (tracker, queued results). Use one stream from one thread at a time.
pub struct fovea_stream {
    inner: Stream,
    labels: Vec<CString>,
    last_error: CString,
    /// The last `fovea_stream_report`.
    report: CString,
    poisoned: bool,
}

/// Called by `fovea_engine_process_file` for every frame, in order. `result` is valid during the
/// call only. Return 0 to go on, anything else to stop (the call then returns
/// `FOVEA_STATUS_CALLBACK_STOPPED`).
pub type fovea_frame_callback = Option<unsafe extern "C" fn(user_data: *mut c_void, result: *const fovea_result) -> i32>;

struct Failure(fovea_status, String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::FileNotFound { .. } => FOVEA_STATUS_NOT_FOUND,
            Error::NotMedia { .. } | Error::NoVideoStream { .. } | Error::Undecodable { .. } | Error::Corrupt { .. } => FOVEA_STATUS_MEDIA,
            Error::Unsupported { .. } => FOVEA_STATUS_UNSUPPORTED,
            Error::State(_) => FOVEA_STATUS_BAD_STATE,
            Error::InvalidOption { .. } | Error::Input { .. } => FOVEA_STATUS_INVALID_ARGUMENT,
            Error::RuntimeMissing { .. } => FOVEA_STATUS_RUNTIME_MISSING,
            Error::Manifest { .. } => FOVEA_STATUS_INVALID_CONFIG,
            Error::ModelMismatch { .. } => FOVEA_STATUS_MODEL_MISMATCH,
            Error::Inference { .. } => FOVEA_STATUS_INFERENCE,
            Error::Output { .. } => FOVEA_STATUS_IO,
            Error::Device(_) => FOVEA_STATUS_DEVICE,
            Error::Pipeline(_) => FOVEA_STATUS_INTERNAL,
            Error::Cancelled => FOVEA_STATUS_CALLBACK_STOPPED,
        };
        Failure(status, e.to_string())
    }
}

fn fail(status: fovea_status, msg: impl Into<String>) -> Failure {
    Failure(status, msg.into())
}

/// Runs `f` inside the panic boundary: its status, or the failure's, or `FOVEA_STATUS_PANIC`;
/// the message of a failure or panic goes to `on_error`.
fn boundary(on_error: impl FnOnce(String), f: impl FnOnce() -> Result<fovea_status, Failure>) -> fovea_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(s)) => s,
        Ok(Err(Failure(s, msg))) => {
            on_error(msg);
            s
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            on_error(format!("fovea panicked (a bug; please report it): {what}"));
            FOVEA_STATUS_PANIC
        }
    }
}

fn cstring(msg: String) -> CString {
    CString::new(msg.replace('\0', " ")).expect("NULs removed")
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_thread_error(msg: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = cstring(msg));
}

/// A call given a NULL handle: there is no handle to hold the message, so it is the thread's
/// (`fovea_last_error`), replacing an older one.
fn null_handle(what: &str) -> fovea_status {
    set_thread_error(format!("{what} is NULL"));
    FOVEA_STATUS_NULL_ARGUMENT
}

/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(fail(FOVEA_STATUS_NULL_ARGUMENT, format!("{name} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| fail(FOVEA_STATUS_INVALID_ARGUMENT, format!("{name} is not UTF-8")))
}

fn labels_of(engine: &Engine) -> Vec<CString> {
    engine.labels().iter().map(|l| cstring(l.clone())).collect()
}

/// fovea's version, e.g. "0.1.0". A static string; never free it.
#[no_mangle]
pub extern "C" fn fovea_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// A short English description of a status code; "unknown status" for a number that is not
/// one (any 32-bit value may be passed). A static string; never free it.
#[no_mangle]
pub extern "C" fn fovea_status_str(status: u32) -> *const c_char {
    const ALL: [fovea_status; 18] = [
        FOVEA_STATUS_OK,
        FOVEA_STATUS_NEED_MORE_DATA,
        FOVEA_STATUS_END_OF_STREAM,
        FOVEA_STATUS_NULL_ARGUMENT,
        FOVEA_STATUS_INVALID_ARGUMENT,
        FOVEA_STATUS_NOT_FOUND,
        FOVEA_STATUS_INVALID_CONFIG,
        FOVEA_STATUS_RUNTIME_MISSING,
        FOVEA_STATUS_MODEL_MISMATCH,
        FOVEA_STATUS_MEDIA,
        FOVEA_STATUS_INFERENCE,
        FOVEA_STATUS_UNSUPPORTED,
        FOVEA_STATUS_CALLBACK_STOPPED,
        FOVEA_STATUS_IO,
        FOVEA_STATUS_BAD_STATE,
        FOVEA_STATUS_DEVICE,
        FOVEA_STATUS_PANIC,
        FOVEA_STATUS_INTERNAL,
    ];
    // The number is compared, never transmuted: an unknown value is not undefined behaviour.
    let s: &'static str = match ALL.iter().find(|&&k| k as u32 == status) {
        Some(FOVEA_STATUS_OK) => "ok\0",
        Some(FOVEA_STATUS_NEED_MORE_DATA) => "need more data\0",
        Some(FOVEA_STATUS_END_OF_STREAM) => "end of stream\0",
        Some(FOVEA_STATUS_NULL_ARGUMENT) => "null argument\0",
        Some(FOVEA_STATUS_INVALID_ARGUMENT) => "invalid argument\0",
        Some(FOVEA_STATUS_NOT_FOUND) => "file not found\0",
        Some(FOVEA_STATUS_INVALID_CONFIG) => "invalid configuration\0",
        Some(FOVEA_STATUS_RUNTIME_MISSING) => "ONNX Runtime missing\0",
        Some(FOVEA_STATUS_MODEL_MISMATCH) => "model does not match its manifest\0",
        Some(FOVEA_STATUS_MEDIA) => "undecodable or damaged media\0",
        Some(FOVEA_STATUS_INFERENCE) => "inference failed\0",
        Some(FOVEA_STATUS_UNSUPPORTED) => "not supported by this build\0",
        Some(FOVEA_STATUS_CALLBACK_STOPPED) => "stopped by the callback\0",
        Some(FOVEA_STATUS_IO) => "input/output error\0",
        Some(FOVEA_STATUS_BAD_STATE) => "call not valid in this state\0",
        Some(FOVEA_STATUS_DEVICE) => "GPU out of memory or driver error\0",
        Some(FOVEA_STATUS_PANIC) => "panic\0",
        Some(FOVEA_STATUS_INTERNAL) => "internal error\0",
        None => "unknown status\0",
    };
    s.as_ptr() as *const c_char
}

/// The message of the last failed constructor call (`fovea_engine_create*`), file-level call
/// (`fovea_embed`, `fovea_score`) or call given a NULL engine or stream on this thread, or "" if
/// none. Valid until the next such call on this thread; never free it.
#[no_mangle]
pub extern "C" fn fovea_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

fn make_engine(config: Result<EngineConfig, Error>, out: *mut *mut fovea_engine) -> Result<fovea_status, Failure> {
    let config = config.map_err(|e| Failure(FOVEA_STATUS_INVALID_CONFIG, e.to_string()))?;
    // A bad option in the configuration is a configuration error here.
    let engine = Engine::new(&config).map_err(|e| match e {
        e @ Error::InvalidOption { .. } => fail(FOVEA_STATUS_INVALID_CONFIG, e.to_string()),
        e => e.into(),
    })?;
    let handle = Box::new(fovea_engine {
        labels: labels_of(&engine),
        provider: cstring(engine.provider().to_string()),
        inner: engine,
        last_error: Mutex::new(HashMap::new()),
        reports: Mutex::new(HashMap::new()),
    });
    // SAFETY: `out` was checked non-NULL by the caller of this function and points to writable
    // storage for a pointer (the C caller's contract).
    unsafe { *out = Box::into_raw(handle) };
    Ok(FOVEA_STATUS_OK)
}

/// Creates an engine from configuration text (TOML; see the README). Relative paths in it are
/// taken from `base_dir`, or from the current directory when `base_dir` is NULL.
/// On success `*out` is a new engine (destroy it with `fovea_engine_destroy`); on failure `*out`
/// is NULL and `fovea_last_error()` says why.
///
/// # Safety
/// `config` and `base_dir` (if not NULL) are NUL-terminated strings; `out` points to writable
/// storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_create(config: *const c_char, base_dir: *const c_char, out: *mut *mut fovea_engine) -> fovea_status {
    boundary(set_thread_error, || {
        if out.is_null() {
            return Err(fail(FOVEA_STATUS_NULL_ARGUMENT, "out is NULL"));
        }
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: per the contract.
        let text = unsafe { str_arg(config, "config") }?;
        let base = if base_dir.is_null() { ".".to_string() } else { unsafe { str_arg(base_dir, "base_dir") }?.to_string() };
        make_engine(EngineConfig::parse(text, Path::new(&base)), out)
    })
}

/// Creates an engine from a configuration file (TOML); relative paths in it are taken from the
/// file's folder. As `fovea_engine_create` otherwise.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_create_from_file(path: *const c_char, out: *mut *mut fovea_engine) -> fovea_status {
    boundary(set_thread_error, || {
        if out.is_null() {
            return Err(fail(FOVEA_STATUS_NULL_ARGUMENT, "out is NULL"));
        }
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: per the contract.
        let p = unsafe { str_arg(path, "path") }?;
        match EngineConfig::load(Path::new(p)) {
            Err(e @ Error::FileNotFound { .. }) => Err(e.into()),
            c => make_engine(c, out),
        }
    })
}

/// Destroys an engine. NULL is accepted (nothing happens). Streams made from it stay usable:
/// they keep the model alive until they are destroyed too.
///
/// # Safety
/// `engine` is NULL or a handle from `fovea_engine_create*` not yet destroyed, and no other
/// thread uses it during or after this call.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_destroy(engine: *mut fovea_engine) {
    if !engine.is_null() {
        // SAFETY: made by Box::into_raw in make_engine, destroyed once per the contract.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(engine) })));
    }
}

/// The message of this thread's last failed call on `engine`, or "" if none; NULL if `engine`
/// is NULL. Each thread has its own: other threads' calls never change or free it. Valid until
/// this thread's next call on this engine (or the engine's destruction); never free it.
///
/// # Safety
/// `engine` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_last_error(engine: *const fovea_engine) -> *const c_char {
    // SAFETY: NULL or live per the contract.
    match unsafe { engine.as_ref() } {
        None => std::ptr::null(),
        Some(e) => {
            e.last_error.lock().map_or(std::ptr::null(), |m| m.get(&std::thread::current().id()).map_or(c"".as_ptr(), |c| c.as_ptr()))
        }
    }
}

/// Number of classes of the engine's model (0 if `engine` is NULL).
///
/// # Safety
/// `engine` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_label_count(engine: *const fovea_engine) -> usize {
    // SAFETY: NULL or live per the contract.
    unsafe { engine.as_ref() }.map_or(0, |e| e.labels.len())
}

/// Name of class `class_id`, or NULL if out of range or `engine` is NULL. Owned by the engine,
/// valid until it is destroyed.
///
/// # Safety
/// `engine` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_label(engine: *const fovea_engine, class_id: u32) -> *const c_char {
    // SAFETY: NULL or live per the contract.
    unsafe { engine.as_ref() }.and_then(|e| e.labels.get(class_id as usize)).map_or(std::ptr::null(), |l| l.as_ptr())
}

/// The execution provider the engine's model really runs on (e.g. "CPUExecutionProvider"), or
/// NULL if `engine` is NULL. Owned by the engine.
///
/// # Safety
/// `engine` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_provider(engine: *const fovea_engine) -> *const c_char {
    // SAFETY: NULL or live per the contract.
    unsafe { engine.as_ref() }.map_or(std::ptr::null(), |e| e.provider.as_ptr())
}

fn engine_error(e: &fovea_engine) -> impl FnOnce(String) + '_ {
    move |msg| {
        if let Ok(mut m) = e.last_error.lock() {
            m.insert(std::thread::current().id(), cstring(msg));
        }
    }
}

/// Processes a whole video or image file (anything FFmpeg reads), calling `callback` for every
/// frame in decode order, with tracking as configured. Blocks until done. Results made before an
/// error are delivered before the error is returned. Streams of the same engine wait while it
/// runs inference.
///
/// # Safety
/// `engine` is a live engine handle; `path` a NUL-terminated string; `callback` a function that
/// may be called with `user_data` from this thread.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_process_file(
    engine: *mut fovea_engine,
    path: *const c_char,
    callback: fovea_frame_callback,
    user_data: *mut c_void,
) -> fovea_status {
    // SAFETY: NULL or live per the contract.
    let Some(e) = (unsafe { engine.as_ref() }) else { return null_handle("engine") };
    boundary(engine_error(e), || {
        // SAFETY: per the contract.
        let p = unsafe { str_arg(path, "path") }?;
        let run = |deliver: &mut dyn FnMut(&crate::results::FrameResult, &[CString]) -> crate::Result<()>| {
            e.inner.process_file(Path::new(p), Sampling::default(), &mut |fr| deliver(fr, &e.labels)).map(|_| ())
        };
        // SAFETY: the callback's contract, per this function's.
        unsafe { file_call(callback, user_data, run) }
    })
}

/// A file call's results to the caller's `callback` (each valid during its call), stopping when
/// it returns non-zero (`FOVEA_STATUS_CALLBACK_STOPPED`). `run` runs the call, handing each frame
/// with the class names its labels come from to the deliverer it is given.
///
/// # Safety
/// `callback` may be called with `user_data` from this thread.
unsafe fn file_call(
    callback: fovea_frame_callback,
    user_data: *mut c_void,
    run: impl FnOnce(&mut dyn FnMut(&crate::results::FrameResult, &[CString]) -> crate::Result<()>) -> crate::Result<()>,
) -> Result<fovea_status, Failure> {
    let Some(cb) = callback else { return Err(fail(FOVEA_STATUS_NULL_ARGUMENT, "callback is NULL")) };
    let mut stopped = false;
    let r = run(&mut |fr, names| {
        let owned = OwnedResult::new(fr, names);
        // SAFETY: the callback's contract; `owned.c` is valid for the call.
        let rc = unsafe { cb(user_data, &owned.c) };
        if rc != 0 {
            stopped = true;
            return Err(Error::Pipeline("stopped by the callback".into()));
        }
        Ok(())
    });
    match r {
        Ok(()) => Ok(FOVEA_STATUS_OK),
        Err(_) if stopped => Err(fail(FOVEA_STATUS_CALLBACK_STOPPED, "the callback returned non-zero; processing stopped")),
        Err(err) => Err(err.into()),
    }
}

/// The report of the engine's last file call (`fovea_engine_process_file`,
/// `fovea_engine_verify_file`; after `fovea_engine_keyframes`, its keyframes.json document) as
/// JSON, one shape for every run of the chain: the video, the model and provider that ran (null
/// when the boxes were handed in), frames decoded and processed, detections per class, seconds per
/// stage, tracks, ROIs, classifier calls made and saved, teams, and the boxes checked with their
/// verdicts (null unless boxes were handed in). Kept also when the call stopped early or failed
/// after opening its input. "" before any such call; NULL if `engine` is NULL. Valid until this
/// thread's next call of this function on the engine; never free it.
///
/// # Safety
/// `engine` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn fovea_engine_last_report(engine: *const fovea_engine) -> *const c_char {
    // SAFETY: NULL or live per the contract.
    let Some(e) = (unsafe { engine.as_ref() }) else { return std::ptr::null() };
    let json = e.inner.last_report().map_or_else(String::new, |v| v.to_string());
    match e.reports.lock() {
        Ok(mut m) => m.entry(std::thread::current().id()).insert_entry(cstring(json)).get().as_ptr(),
        Err(_) => std::ptr::null(),
    }
}

/// Creates a stream (per-video state) on `engine` for a video of `fps` frames per second (the
/// tracker's time base; 0 means 30). Destroy it with `fovea_stream_destroy`.
///
/// # Safety
/// `engine` is a live engine handle; `out` points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fovea_stream_create(engine: *mut fovea_engine, fps: f64, out: *mut *mut fovea_stream) -> fovea_status {
    // SAFETY: NULL or live per the contract.
    let Some(e) = (unsafe { engine.as_ref() }) else { return null_handle("engine") };
    boundary(engine_error(e), || {
        if out.is_null() {
            return Err(fail(FOVEA_STATUS_NULL_ARGUMENT, "out is NULL"));
        }
        let s = Box::new(fovea_stream {
            inner: Stream::new(e.inner.clone(), fps)?,
            labels: e.labels.clone(),
            last_error: CString::default(),
            report: CString::default(),
            poisoned: false,
        });
        // SAFETY: non-NULL and writable per the contract.
        unsafe { *out = Box::into_raw(s) };
        Ok(FOVEA_STATUS_OK)
    })
}

/// Destroys a stream. NULL is accepted.
///
/// # Safety
/// `stream` is NULL or a handle from `fovea_stream_create` not yet destroyed, unused by any
/// other thread.
#[no_mangle]
pub unsafe extern "C" fn fovea_stream_destroy(stream: *mut fovea_stream) {
    if !stream.is_null() {
        // SAFETY: made by Box::into_raw in fovea_stream_create, destroyed once per the contract.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(stream) })));
    }
}

/// The message of the last failed call on `stream`, or "" if none; NULL if `stream` is NULL.
/// Valid until the next call on this stream (a stream is used by one thread at a time) or its
/// destruction; never free it.
///
/// # Safety
/// `stream` is NULL or a live stream handle.
#[no_mangle]
pub unsafe extern "C" fn fovea_stream_last_error(stream: *const fovea_stream) -> *const c_char {
    // SAFETY: NULL or live per the contract.
    unsafe { stream.as_ref() }.map_or(std::ptr::null(), |s| s.last_error.as_ptr())
}

/// Runs `f` on a stream inside the boundary, keeping its error message; a panic poisons it.
fn on_stream(stream: *mut fovea_stream, f: impl FnOnce(&mut fovea_stream) -> Result<fovea_status, Failure>) -> fovea_status {
    // SAFETY: every caller's contract: NULL or a live stream used by this thread only.
    let Some(s) = (unsafe { stream.as_mut() }) else { return null_handle("stream") };
    if s.poisoned {
        s.last_error = cstring("this stream panicked earlier and cannot be used; destroy it".into());
        return FOVEA_STATUS_PANIC;
    }
    let mut msg = None;
    let status = boundary(|m| msg = Some(m), || f(&mut *s));
    if let Some(m) = msg {
        s.last_error = cstring(m);
    }
    if status == FOVEA_STATUS_PANIC {
        s.poisoned = true;
    }
    status
}

/// Sends one frame from the caller's memory: `len` bytes at `data`, `width` x `height` pixels,
/// `stride` bytes per row, `format` a `fovea_pixel_format`, `pts` in seconds. The frame is
/// processed during the call (the memory is not used after it returns); its result is queued for
/// `fovea_stream_receive`. A wrong size, stride, length or format is
/// `FOVEA_STATUS_INVALID_ARGUMENT`; a frame after `fovea_stream_flush` is `FOVEA_STATUS_BAD_STATE`.
///
/// # Safety
/// `stream` is a live stream used by this thread only; `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn fovea_stream_send_frame(
    stream: *mut fovea_stream,
    data: *const u8,
    len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: u32,
    pts: f64,
) -> fovea_status {
    on_stream(stream, |s| {
        // SAFETY: per the contract.
        let frame = unsafe { frame_arg(data, len, width, height, stride, format, pts) }?;
        s.inner.send_frame(&frame)?;
        Ok(FOVEA_STATUS_OK)
    })
}

/// The frame a caller hands in, checked: `len` bytes at `data` (NULL is an error), `format` a
/// `fovea_pixel_format`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes that live for `'a`.
unsafe fn frame_arg<'a>(
    data: *const u8,
    len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: u32,
    pts: f64,
) -> std::result::Result<FrameIn<'a>, Failure> {
    if data.is_null() {
        return Err(fail(FOVEA_STATUS_NULL_ARGUMENT, "data is NULL"));
    }
    let format = match format {
        0 => PixelFormat::Rgb24,
        1 => PixelFormat::Bgr24,
        2 => PixelFormat::Nv12,
        f => return Err(fail(FOVEA_STATUS_INVALID_ARGUMENT, format!("pixel format {f} (expected 0 RGB24, 1 BGR24 or 2 NV12)"))),
    };
    if len > isize::MAX as usize {
        return Err(fail(FOVEA_STATUS_INVALID_ARGUMENT, format!("len {len} is larger than any buffer can be")));
    }
    // SAFETY: `data` points to `len` readable bytes per the contract; `len <= isize::MAX`.
    let bytes = unsafe { std::slice::from_raw_parts(data, len) };
    Ok(FrameIn { data: bytes, width, height, stride, format, pts })
}

/// Takes the next result: `FOVEA_STATUS_OK` with `*out` a new result (free it with
/// `fovea_result_destroy`), or `FOVEA_STATUS_NEED_MORE_DATA` / `FOVEA_STATUS_END_OF_STREAM` with
/// `*out` NULL.
///
/// # Safety
/// `stream` is a live stream used by this thread only; `out` points to writable storage for a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn fovea_stream_receive(stream: *mut fovea_stream, out: *mut *mut fovea_result) -> fovea_status {
    on_stream(stream, |s| {
        if out.is_null() {
            return Err(fail(FOVEA_STATUS_NULL_ARGUMENT, "out is NULL"));
        }
        // SAFETY: non-NULL and writable per the contract.
        unsafe { *out = std::ptr::null_mut() };
        match s.inner.receive() {
            Received::Frame(r) => {
                let owned = OwnedResult::new(&r, &s.labels);
                // SAFETY: as above. `OwnedResult` is repr(C) with the fovea_result first.
                unsafe { *out = Box::into_raw(owned) as *mut fovea_result };
                Ok(FOVEA_STATUS_OK)
            }
            Received::NeedMoreData => Ok(FOVEA_STATUS_NEED_MORE_DATA),
            Received::EndOfStream => Ok(FOVEA_STATUS_END_OF_STREAM),
        }
    })
}

/// Ends the stream: no more frames may be sent; results already queued can still be received,
/// after which `fovea_stream_receive` gives `FOVEA_STATUS_END_OF_STREAM`.
///
/// # Safety
/// `stream` is a live stream used by this thread only.
#[no_mangle]
pub unsafe extern "C" fn fovea_stream_flush(stream: *mut fovea_stream) -> fovea_status {
    on_stream(stream, |s| {
        s.inner.flush()?;
        Ok(FOVEA_STATUS_OK)
    })
}

/// Frees a result from `fovea_stream_receive`. NULL is accepted.
///
/// # Safety
/// `result` is NULL or a result from `fovea_stream_receive` not yet freed (never one lent to a
/// callback).
#[no_mangle]
pub unsafe extern "C" fn fovea_result_destroy(result: *mut fovea_result) {
    if !result.is_null() {
        // SAFETY: made by Box::into_raw of an OwnedResult in fovea_stream_receive (its first
        // field), freed once per the contract.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(result as *mut OwnedResult) })));
    }
}

#[cfg(test)]
mod tests;
