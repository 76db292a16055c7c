//! Decoding under valgrind: no invalid read or write and no byte definitely lost, over the sizes
//! and pixel formats that broke it before (swscale's row overshoot, leaked packets). The test
//! binary runs itself under valgrind, the child doing only the decoding (no ONNX Runtime).
//!
//! `make test` checks a 100-frame clip and a few sizes; `make memcheck` (FOVEA_MEMCHECK_FULL=1)
//! the whole matrix: every width 1..64 in yuv420p, yuv422p, yuv444p, nv12 and rgb24, and the
//! usual real-world sizes.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};

/// The child: decodes every frame of each file in FOVEA_MEMCHECK_FILES (newline-separated), at
/// source size and letterboxed, and prints the counts.
#[test]
#[ignore = "the child process of decoding_under_valgrind_is_clean"]
fn memcheck_child_decodes_files() {
    let files = std::env::var("FOVEA_MEMCHECK_FILES").expect("run by decoding_under_valgrind_is_clean");
    let pool = FramePool::new(3);
    for f in files.lines() {
        for out in [
            OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch },
            OutputFormat { width: 97, height: 61, order: ChannelOrder::Bgr, fit: Fit::Letterbox { pad: 114 } },
        ] {
            let mut d = Decoder::open(Path::new(f), Sampling::default(), out).unwrap();
            let mut n = 0;
            while let Some(frame) = d.next_frame(&pool).unwrap() {
                assert_eq!(frame.data.len(), (frame.width * frame.height * 3) as usize);
                n += 1;
            }
            println!("memcheck: {f}: {n} frames");
        }
    }
}

#[test]
fn decoding_under_valgrind_is_clean() {
    let dir = tempdir();
    let full = std::env::var_os("FOVEA_MEMCHECK_FULL").is_some();
    let mut files = Vec::new();
    // 100 frames of a real clip (H.264, 640x360), the sizes that corrupted the heap, and a few
    // widths that are not multiples of 8 in every pixel format.
    let hundred = dir.path().join("hundred.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(media("market_street_1906.mp4"))
        .args(["-frames:v", "100", "-c", "copy", "-an"])
        .arg(&hundred)
        .status()
        .unwrap();
    assert!(ok.success());
    files.push(hundred);
    let real: &[&str] = if full {
        &["426x240", "360x640", "200x200", "640x360", "854x480", "1280x720", "1920x1080", "1080x1920", "3840x2160"]
    } else {
        &["426x240", "360x640", "1080x1920"]
    };
    for s in real {
        files.push(make_clip(dir.path(), s, "yuv420p", "libx264", "mp4", 2));
    }
    let widths: Vec<u32> = if full { (1..=64).collect() } else { vec![1, 7, 18, 30, 63] };
    for w in widths {
        for fmt in ["yuv420p", "yuv422p", "yuv444p", "nv12", "rgb24"] {
            files.push(make_clip(dir.path(), &format!("{w}x{}", 1 + (w * 7) % 23), fmt, "rawvideo", "nut", 2));
        }
    }
    let list: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let o = Command::new("valgrind")
        .args(["--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"])
        .arg(format!("--suppressions={}", root().join("tests/valgrind.supp").display()))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "memcheck::memcheck_child_decodes_files", "--ignored", "--nocapture", "--test-threads=1"])
        .env("FOVEA_MEMCHECK_FILES", list.join("\n"))
        .current_dir(root())
        .output()
        .expect("valgrind runs (make setup installs it)");
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "valgrind found errors (exit {:?}):\n{err}", o.status.code());
    assert_eq!(out.matches("memcheck: ").count(), 2 * files.len(), "every file decoded twice:\n{out}");
    assert!(out.contains("hundred.mp4: 100 frames"), "{out}");
    assert!(err.contains("ERROR SUMMARY: 0 errors"), "{err}");
    assert!(err.contains("definitely lost: 0 bytes in 0 blocks") || err.contains("All heap blocks were freed"), "{err}");
}
