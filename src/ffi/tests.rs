use super::*;

#[test]
fn a_panic_becomes_a_status_and_a_message() {
    let mut msg = String::new();
    let s = boundary(|m| msg = m, || -> Result<fovea_status, Failure> { panic!("boom at {}", 42) });
    assert_eq!(s, FOVEA_STATUS_PANIC);
    assert!(msg.contains("boom at 42"), "{msg}");
    let s = boundary(|m| msg = m, || Err(fail(FOVEA_STATUS_INVALID_ARGUMENT, "bad width")));
    assert_eq!((s, msg.as_str()), (FOVEA_STATUS_INVALID_ARGUMENT, "bad width"));
}

#[test]
fn every_status_has_a_description() {
    let known = [0u32, 1, 2, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 200, 201];
    for s in known {
        // SAFETY: fovea_status_str returns a static NUL-terminated string for any number.
        let d = unsafe { CStr::from_ptr(fovea_status_str(s)) }.to_str().unwrap();
        assert!(!d.is_empty() && d != "unknown status", "status {s}: {d}");
    }
    assert_eq!(FOVEA_STATUS_PANIC as u32, 200);
    assert_eq!(FOVEA_STATUS_DEVICE as u32, 112);
    // SAFETY: fovea_version returns a static NUL-terminated string.
    assert_eq!(unsafe { CStr::from_ptr(fovea_version()) }.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

/// Regression: any number may be passed (it was undefined behaviour, an illegal instruction).
#[test]
fn an_unknown_status_number_is_described_as_unknown() {
    for s in [3u32, 99, 113, 199, 202, 1000, u32::MAX] {
        // SAFETY: a static NUL-terminated string for any number.
        assert_eq!(unsafe { CStr::from_ptr(fovea_status_str(s)) }.to_str().unwrap(), "unknown status", "{s}");
    }
}

/// Regression: a stride near `usize::MAX` wrapped in the size check and then panicked.
#[test]
fn a_huge_stride_is_an_invalid_argument_not_a_wrap() {
    use crate::engine::{FrameIn, PixelFormat};
    let data = [0u8; 64];
    for stride in [usize::MAX, usize::MAX / 2, usize::MAX / 3 + 1] {
        let f = FrameIn { data: &data, width: 2, height: 4, stride, format: PixelFormat::Rgb24, pts: 0.0 };
        let e = f.validate().unwrap_err().to_string();
        assert!(e.contains("too large"), "{stride}: {e}");
    }
}

#[test]
fn null_arguments_are_answered_not_dereferenced() {
    // SAFETY: every pointer passed is NULL, a live handle made here, or a valid C string; the
    // calls' contracts allow NULL where it is tested.
    unsafe {
        let mut e: *mut fovea_engine = std::ptr::null_mut();
        assert_eq!(fovea_engine_create(std::ptr::null(), std::ptr::null(), &mut e), FOVEA_STATUS_NULL_ARGUMENT);
        assert!(e.is_null());
        assert!(CStr::from_ptr(fovea_last_error()).to_str().unwrap().contains("config is NULL"));
        assert_eq!(fovea_engine_create(c"model = 'x'".as_ptr(), std::ptr::null(), std::ptr::null_mut()), FOVEA_STATUS_NULL_ARGUMENT);
        assert_eq!(fovea_stream_create(std::ptr::null_mut(), 0.0, std::ptr::null_mut()), FOVEA_STATUS_NULL_ARGUMENT);
        assert_eq!(fovea_stream_send_frame(std::ptr::null_mut(), std::ptr::null(), 0, 1, 1, 3, 0, 0.0), FOVEA_STATUS_NULL_ARGUMENT);
        assert_eq!(fovea_stream_flush(std::ptr::null_mut()), FOVEA_STATUS_NULL_ARGUMENT);
        let mut r = std::ptr::null_mut();
        assert_eq!(fovea_stream_receive(std::ptr::null_mut(), &mut r), FOVEA_STATUS_NULL_ARGUMENT);
        assert!(fovea_engine_last_error(std::ptr::null()).is_null());
        fovea_engine_destroy(std::ptr::null_mut());
        fovea_stream_destroy(std::ptr::null_mut());
        fovea_result_destroy(std::ptr::null_mut());
    }
}

#[test]
fn config_errors_name_the_problem() {
    // SAFETY: valid C strings and writable out pointers; handles made here are destroyed once.
    unsafe {
        let mut e: *mut fovea_engine = std::ptr::null_mut();
        assert_eq!(fovea_engine_create(c"model = ".as_ptr(), std::ptr::null(), &mut e), FOVEA_STATUS_INVALID_CONFIG);
        assert!(e.is_null());
        let s = fovea_engine_create(c"model = 'engines/nanodet-g-416.toml'\nprovider = 'tensorrt'".as_ptr(), std::ptr::null(), &mut e);
        assert_eq!(s, FOVEA_STATUS_UNSUPPORTED);
        assert!(CStr::from_ptr(fovea_last_error()).to_str().unwrap().contains("allow_fallback"));
        // Allowed: a CPU engine whose provider says what ran and why.
        let cfg = c"model = 'engines/nanodet-g-416.toml'\nprovider = 'tensorrt'\nallow_fallback = true";
        assert_eq!(fovea_engine_create(cfg.as_ptr(), std::ptr::null(), &mut e), FOVEA_STATUS_OK);
        let p = CStr::from_ptr(fovea_engine_provider(e)).to_str().unwrap().to_string();
        assert!(p.starts_with("CPUExecutionProvider (CPU fallback, as allowed: tensorrt on cuda:0"), "{p}");
        fovea_engine_destroy(e);
        e = std::ptr::null_mut();
        let s = fovea_engine_create(
            c"model = 'engines/nanodet-g-416.toml'\ndevice = 'cpu'\nprovider = 'cuda'".as_ptr(),
            std::ptr::null(),
            &mut e,
        );
        assert_eq!(s, FOVEA_STATUS_INVALID_CONFIG);
        assert!(CStr::from_ptr(fovea_last_error()).to_str().unwrap().contains("runs on a GPU"));
        let s = fovea_engine_create(c"model = 'nope.toml'".as_ptr(), std::ptr::null(), &mut e);
        assert_eq!(s, FOVEA_STATUS_INVALID_CONFIG);
        assert!(CStr::from_ptr(fovea_last_error()).to_str().unwrap().contains("nope.toml"));
        assert_eq!(fovea_engine_create_from_file(c"/nonexistent/fovea.toml".as_ptr(), &mut e), FOVEA_STATUS_NOT_FOUND);
    }
}

#[test]
fn committed_header_is_current() {
    let fresh = include_str!(env!("FOVEA_GENERATED_HEADER"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/fovea.h");
    if std::env::var_os("FOVEA_WRITE_HEADER").is_some() {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/include")).unwrap();
        std::fs::write(path, fresh).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(fresh == committed, "include/fovea.h differs from what src/ffi generates: run `make header` and commit it");
}

#[test]
fn keyframes_refuses_null_arguments_and_bad_options() {
    // SAFETY: NULL engine is answered before anything is read.
    let s = unsafe { super::keyframes::fovea_engine_keyframes(std::ptr::null_mut(), c"v.mp4".as_ptr(), c"out".as_ptr(), std::ptr::null()) };
    assert_eq!(s, FOVEA_STATUS_NULL_ARGUMENT);
    let bad = crate::keyframes::Request::parse(Some(r#"{"max": 3, "colour": 1}"#)).unwrap_err().to_string();
    assert!(bad.contains("keyframes options") && bad.contains("colour"), "{bad}");
    let ok = crate::keyframes::Request::parse(Some(r#"{"max": 3, "image_format": "png"}"#)).unwrap();
    assert_eq!((ok.max, ok.image_format.as_deref()), (Some(3), Some("png")));
    assert!(crate::keyframes::Request::parse(None).unwrap().max.is_none());
}
