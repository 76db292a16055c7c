//! Property tests ("fuzzing" on stable Rust, with proptest) of every parser and boundary that
//! reads input: boxes files (JSONL and Score Vision), model manifests, rule files, policies,
//! encoder manifests, .npy tables, engine configurations, and frames at the C ABI. Each property
//! feeds arbitrary and mutated-valid input and checks that the answer is a value or a clear error,
//! never a panic, an abort or an unbounded allocation; where a value comes back, its documented
//! limits hold.
//!
//! `make test` runs a bounded number of cases (`PROPTEST_CASES`, default 256 a property);
//! `make fuzz` runs 100,000 a property in release. Failures found are saved by proptest in
//! `tests/fuzz.regressions` and replayed first on every later run (commit them).

use crate::common;

use std::ffi::CString;
use std::path::Path;

use common::*;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// Valid text with some lines replaced, duplicated or cut, and values swapped for hostile ones.
fn mutate(text: &str, edits: &[(usize, u8, usize)]) -> String {
    const HOSTILE: [&str; 12] =
        ["nan", "inf", "-1", "1e308", "18446744073709551616", "0", "\"\"", "[]", "[1e40, 0, 0]", "{}", "4294967296", "-0.0"];
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for &(at, op, pick) in edits {
        if lines.is_empty() {
            break;
        }
        let i = at % lines.len();
        match op % 4 {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                if let Some(eq) = lines[i].find('=') {
                    lines[i] = format!("{}= {}", &lines[i][..eq], HOSTILE[pick % HOSTILE.len()]);
                }
            }
            _ => {
                let cut = pick % (lines[i].len() + 1);
                let cut = (0..=cut).rev().find(|&c| lines[i].is_char_boundary(c)).unwrap_or(0);
                lines[i].truncate(cut);
            }
        }
    }
    lines.join("\n")
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, usize)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 0..6)
}

/// A JSON value of boxes-file shape, with hostile numbers and types in any place.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| if v.is_finite() { format!("{v:e}") } else { "NaN".into() }),
        Just("Infinity".to_string()),
        Just("-Infinity".to_string()),
        Just("NaN".to_string()),
        Just("\"7\"".to_string()),
        Just("null".to_string()),
        (0u32..2000).prop_map(|v| v.to_string()),
    ]
}

fn detection_json() -> impl Strategy<Value = String> {
    (prop::collection::vec(number(), 0..6), number(), number(), any::<bool>()).prop_map(|(b, s, c, label)| {
        let l = if label { ",\"label\":\"x\"" } else { "" };
        format!("{{\"bbox\":[{}],\"score\":{s},\"class_id\":{c}{l}}}", b.join(","))
    })
}

fn jsonl_file() -> impl Strategy<Value = String> {
    prop::collection::vec((number(), number(), prop::collection::vec(detection_json(), 0..5)), 0..6).prop_map(|lines| {
        lines.into_iter().map(|(f, p, d)| format!("{{\"frame\":{f},\"pts\":{p},\"detections\":[{}]}}\n", d.join(","))).collect()
    })
}

fn scorevision_file() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop_oneof![(0u64..100).prop_map(|v| v.to_string()), "[0-9]{1,3}", Just("02".to_string()), "[a-z]{1,3}"],
            prop::collection::vec((number(), prop::collection::vec(number(), 0..6), number()), 0..5),
        ),
        0..5,
    )
    .prop_map(|frames| {
        let fs: Vec<String> = frames
            .into_iter()
            .map(|(k, objs)| {
                let os: Vec<String> =
                    objs.into_iter().map(|(id, b, c)| format!("{{\"id\":{id},\"bbox\":[{}],\"class_id\":{c}}}", b.join(","))).collect();
                format!("\"{k}\":{{\"objects\":[{}]}}", os.join(","))
            })
            .collect();
        format!("{{\"frames\":{{{}}}}}", fs.join(","))
    })
}

fn check_boxes(text: &[u8]) {
    let dir = tempdir();
    let p = dir.path().join("boxes.json");
    std::fs::write(&p, text).unwrap();
    match fovea::output::read::read_boxes(&p) {
        Ok(b) => {
            for w in b.frames.windows(2) {
                assert!(w[0].index < w[1].index, "frames sorted and unique");
            }
            for f in &b.frames {
                assert!(f.detections.len() <= fovea::output::read::MAX_BOXES_PER_FRAME);
                assert_eq!(f.track_ids.len(), f.detections.len());
                for d in &f.detections {
                    assert!(u64::from(d.class_id) <= fovea::output::read::MAX_CLASS_ID);
                }
            }
            assert!(b.labels.len() as u64 <= fovea::output::read::MAX_CLASS_ID + 1);
        }
        Err(e) => assert!(e.to_string().contains(&*p.to_string_lossy()), "the error names the file: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: Some(Box::new(prop::test_runner::FileFailurePersistence::WithSource("regressions"))), ..ProptestConfig::default() })]

    #[test]
    fn boxes_files_of_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_boxes(&bytes);
    }

    #[test]
    fn boxes_files_of_jsonl_shape(text in jsonl_file()) {
        check_boxes(text.as_bytes());
    }

    #[test]
    fn boxes_files_of_scorevision_shape(text in scorevision_file()) {
        check_boxes(text.as_bytes());
    }

    #[test]
    fn model_manifests(e in edits(), junk in ".{0,200}") {
        let good = std::fs::read_to_string(root().join("engines/nanodet-g-416.toml")).unwrap();
        for text in [mutate(&good, &e), junk] {
            if let Ok(m) = fovea::infer::manifest::Manifest::parse(&text, Path::new("m.toml")) {
                let i = &m.input;
                prop_assert!(i.width >= 1 && i.height >= 1 && i.width <= fovea::infer::manifest::MAX_INPUT_SIDE);
                prop_assert!(i.mean.iter().all(|v| v.is_finite()) && i.std.iter().all(|v| v.is_finite() && v.abs() >= 1e-3));
                prop_assert!(!m.labels.is_empty());
            }
        }
    }

    #[test]
    fn rule_files(e in edits(), junk in ".{0,200}") {
        let good = std::fs::read_to_string(root().join("filter/scorevision.toml")).unwrap();
        for text in [mutate(&good, &e), junk] {
            if let Ok(c) = fovea::filter::FilterConfig::parse(&text, Path::new("r.toml")) {
                prop_assert!((1..=fovea::roi::MAX_ROI_SIZE).contains(&c.roi.size));
            }
        }
    }

    #[test]
    fn policies(e in edits(), junk in ".{0,200}") {
        let good = std::fs::read_to_string(root().join("classify/scorevision.toml")).unwrap();
        for text in [mutate(&good, &e), junk] {
            let _ = fovea::classify::Policy::parse(&text, Path::new("p.toml"));
        }
    }

    #[test]
    fn engine_configurations(e in edits(), junk in ".{0,200}") {
        let good = "model = 'engines/nanodet-g-416.toml'\nprovider = 'cpu'\nthreads = 2\nscore = 0.4\nnms_iou = 0.5\nclasses = ['person']\n[tracking]\nenabled = true\ntrack_thresh = 0.3\nmatch_thresh = 0.8\ntrack_buffer = 30\n";
        for text in [mutate(good, &e), junk] {
            if let Ok(c) = fovea::engine::EngineConfig::parse(&text, &root()) {
                let _ = c.tracking.resolve(&fovea::track::TrackerConfig::default());
            }
        }
    }

    #[test]
    fn encoder_manifests(e in edits()) {
        let dir = tempdir();
        for f in ["tiny_clip.onnx", "tiny_clip_text.json", "tiny_clip_text.npy"] {
            std::fs::copy(data(f), dir.path().join(f)).unwrap();
        }
        let good = std::fs::read_to_string(data("tiny_clip.toml")).unwrap();
        let p = dir.path().join("m.toml");
        std::fs::write(&p, mutate(&good, &e)).unwrap();
        if let Ok(m) = fovea::classify::ClipManifest::load(&p) {
            prop_assert!((1..=fovea::roi::MAX_ROI_SIZE).contains(&m.roi.size));
            prop_assert!(m.roi.std.iter().all(|v| v.is_finite() && *v >= 1e-3));
        }
    }

    #[test]
    fn npy_tables(header in "[ -~]{0,120}", version in 0u8..4, body in prop::collection::vec(any::<u8>(), 0..256), hlen in any::<u32>()) {
        let dir = tempdir();
        let p = dir.path().join("t.npy");
        let mut b = b"\x93NUMPY".to_vec();
        b.push(version);
        b.push(0);
        if version >= 2 {
            b.extend_from_slice(&hlen.to_le_bytes());
        } else {
            b.extend_from_slice(&(hlen as u16).to_le_bytes());
        }
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(&body);
        std::fs::write(&p, &b).unwrap();
        if let Ok((shape, data)) = fovea::classify::zeroshot::read_npy_f32(&p) {
            prop_assert_eq!(shape.iter().product::<usize>(), data.len());
        }
        // A real header with a hostile shape.
        let h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", hlen, u64::MAX / 3 * version as u64);
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(&body);
        std::fs::write(&p, &b).unwrap();
        let _ = fovea::classify::zeroshot::read_npy_f32(&p);
    }

    #[test]
    fn frames_described_by_any_numbers(width in any::<u32>(), height in any::<u32>(), stride in any::<usize>(), len in 0usize..4096, format in 0u8..3, pts in any::<f64>()) {
        use fovea::engine::{FrameIn, PixelFormat};
        let data = vec![0u8; len];
        let format = [PixelFormat::Rgb24, PixelFormat::Bgr24, PixelFormat::Nv12][format as usize];
        let f = FrameIn { data: &data, width, height, stride, format, pts };
        if f.validate().is_ok() {
            // Accepted frames fit the buffer, computed independently in 128-bit arithmetic.
            let row: u128 = if format == PixelFormat::Nv12 { width as u128 } else { 3 * width as u128 };
            let rows: u128 = if format == PixelFormat::Nv12 { height as u128 * 3 / 2 } else { height as u128 };
            prop_assert!((rows - 1) * stride as u128 + row <= len as u128);
            prop_assert!(stride as u128 >= row && pts.is_finite());
        }
    }
}

/// The C ABI with a real engine (the tiny generated model): frames of any size, stride, length
/// and format are answered with a status, never a panic, and the stream stays usable.
#[test]
fn frames_at_the_c_abi() {
    use fovea::ffi::*;
    let cfg = CString::new(format!("model = \"{}\"", data("tiny_yolov8_dyn.toml").display())).unwrap();
    let mut engine = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated strings and a writable out pointer; handles destroyed once below.
    unsafe {
        assert_eq!(fovea_engine_create(cfg.as_ptr(), std::ptr::null(), &mut engine), fovea_status::FOVEA_STATUS_OK);
        let mut stream = std::ptr::null_mut();
        assert_eq!(fovea_stream_create(engine, 25.0, &mut stream), fovea_status::FOVEA_STATUS_OK);
        let buf = vec![7u8; 1 << 16];
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: cases(), ..ProptestConfig::default() });
        let strategy =
            (0u32..300, 0u32..300, prop_oneof![0usize..1000, Just(usize::MAX), Just(usize::MAX / 2)], 0usize..(1 << 16), 0u32..5);
        runner
            .run(&strategy, |(w, h, stride, len, format)| {
                let s = fovea_stream_send_frame(stream, buf.as_ptr(), len, w, h, stride, format, 0.0);
                prop_assert!(
                    matches!(s, fovea_status::FOVEA_STATUS_OK | fovea_status::FOVEA_STATUS_INVALID_ARGUMENT),
                    "{w}x{h} stride {stride} len {len} format {format}: {s:?}"
                );
                Ok(())
            })
            .unwrap();
        // Still usable: a good frame is accepted and results come out in order.
        assert_eq!(fovea_stream_send_frame(stream, buf.as_ptr(), 64 * 48 * 3, 64, 48, 64 * 3, 0, 1.0), fovea_status::FOVEA_STATUS_OK);
        assert_eq!(fovea_stream_flush(stream), fovea_status::FOVEA_STATUS_OK);
        let mut r = std::ptr::null_mut();
        let mut last = None;
        while fovea_stream_receive(stream, &mut r) == fovea_status::FOVEA_STATUS_OK {
            let frame = (*r).frame;
            assert!(last.is_none_or(|l| frame > l));
            last = Some(frame);
            fovea_result_destroy(r);
        }
        assert!(last.is_some());
        fovea_stream_destroy(stream);
        fovea_engine_destroy(engine);
    }
}
