//! The C API from C (tests/c/test_fovea.c, compiled here against the built library and header):
//! results through the C ABI equal the Rust API's on the same frames and the CLI's on the same
//! file; two streams on two threads equal one alone; every error path; valgrind finds no leak.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use fovea::engine::{Engine, EngineConfig, FrameIn, PixelFormat, Received, Stream};
use serde_json::Value;

const W: u32 = 768;
const H: u32 = 576;
const N: usize = 20;

fn build_c(dir: &Path) -> PathBuf {
    build_c_program(dir, "tests/c/test_fovea.c", "test_fovea")
}

fn config(dir: &Path, model: &str) -> PathBuf {
    let p = dir.join("fovea.toml");
    std::fs::write(&p, format!("model = \"{}\"\n[tracking]\nenabled = true\n", root().join(model).display())).unwrap();
    p
}

/// Detections of a C output line: (x1, y1, x2, y2, score, class, track).
fn parse(line: &str) -> (u64, Vec<([f32; 5], u32, i64)>) {
    let v: Value = serde_json::from_str(line).unwrap();
    let dets = v["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let f = |k: usize| d[k].as_f64().unwrap() as f32;
            ([f(0), f(1), f(2), f(3), f(4)], d[5].as_u64().unwrap() as u32, d[6].as_i64().unwrap())
        })
        .collect();
    (v["frame"].as_u64().unwrap(), dets)
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap().lines().map(String::from).collect()
}

fn ffmpeg_frames(video: &Path, pix: &str, bytes: usize) -> Vec<u8> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-frames:v", &N.to_string(), "-f", "rawvideo", "-pix_fmt", pix, "-"])
        .output()
        .unwrap();
    assert_eq!(o.stdout.len(), bytes * N);
    o.stdout
}

fn iou(a: &[f32; 5], b: &[f32; 5]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let i = iw * ih;
    i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)
}

#[test]
fn c_program_matches_rust_api_and_cli() {
    let dir = tempdir();
    let exe = build_c(dir.path());
    let cfg = config(dir.path(), "engines/nanodet-g-416.toml");
    let video = media("vtest.avi");
    let o = Command::new(&exe)
        .arg("run")
        .arg(&cfg)
        .arg(&video)
        .args([W.to_string(), H.to_string(), N.to_string()])
        .arg(dir.path())
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "test_fovea failed:\n{}", String::from_utf8_lossy(&o.stderr));

    // 1. The stream path equals the Rust API on the same frames, bit for bit.
    let c_stream = read_lines(&dir.path().join("stream.jsonl"));
    assert_eq!(c_stream.len(), N);
    let engine = Engine::new(&EngineConfig::load(&cfg).unwrap()).unwrap();
    let mut s = Stream::new(engine, 10.0).unwrap();
    let frames = ffmpeg_frames(&video, "rgb24", (W * H * 3) as usize);
    let mut total = 0;
    for (i, line) in c_stream.iter().enumerate() {
        let f = &frames[i * (W * H * 3) as usize..][..(W * H * 3) as usize];
        s.send_frame(&FrameIn { data: f, width: W, height: H, stride: W as usize * 3, format: PixelFormat::Rgb24, pts: i as f64 * 0.1 })
            .unwrap();
        let Received::Frame(r) = s.receive() else { panic!("no result for frame {i}") };
        let (frame, dets) = parse(line);
        assert_eq!(frame, r.index);
        assert_eq!(dets.len(), r.detections.len(), "frame {i}");
        for (k, (c, d)) in dets.iter().zip(&r.detections).enumerate() {
            assert_eq!(c.0, [d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3], d.score], "frame {i} detection {k}");
            assert_eq!(c.1, d.class_id);
            assert_eq!(c.2, r.track_ids[k].map_or(-1, |t| t as i64));
        }
        total += dets.len();
    }
    assert!(total >= 60, "only {total} detections in {N} vtest frames");
    assert!(c_stream.iter().any(|l| parse(l).1.iter().any(|d| d.2 >= 1)), "no tracked detection");

    // 2. Padded rows and two threads at once give the same lines.
    assert_eq!(read_lines(&dir.path().join("stream_padded.jsonl")), c_stream);
    assert_eq!(read_lines(&dir.path().join("thread0.jsonl")), c_stream);
    assert_eq!(read_lines(&dir.path().join("thread1.jsonl")), c_stream);

    // 3. The file call equals the CLI on the same file (the CLI writes the same f32 values).
    let cli_out = dir.path().join("cli.jsonl");
    let o = fovea(&[
        "detect",
        video.to_str().unwrap(),
        "--model",
        "engines/nanodet-g-416.toml",
        "--duration",
        "2.0",
        "-q",
        "-o",
        cli_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cli: Vec<Value> = read_lines(&cli_out).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let file = read_lines(&dir.path().join("file.jsonl"));
    assert_eq!(file.len(), N);
    for (line, c) in file.iter().zip(&cli) {
        let (frame, dets) = parse(line);
        assert_eq!(frame, c["frame"].as_u64().unwrap());
        let cd = c["detections"].as_array().unwrap();
        assert_eq!(dets.len(), cd.len(), "frame {frame}");
        for (d, e) in dets.iter().zip(cd) {
            for k in 0..4 {
                assert!((d.0[k] as f64 - e["bbox"][k].as_f64().unwrap()).abs() <= 0.006, "frame {frame}: {line} vs {e}");
            }
            assert!((d.0[4] as f64 - e["score"].as_f64().unwrap()).abs() <= 6e-5);
            assert_eq!(d.1 as u64, e["class_id"].as_u64().unwrap());
            assert_eq!(d.2, e["track_id"].as_i64().unwrap_or(-1));
        }
    }

    // 3b. The CLI driven by the same engine configuration file as the C program gives the same
    // lines as the CLI above (so the C file call's, checked above), byte for byte.
    let cli_cfg = dir.path().join("cli_cfg.jsonl");
    let o = fovea(&[
        "detect",
        video.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--duration",
        "2.0",
        "-q",
        "-o",
        cli_cfg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_lines(&cli_cfg), read_lines(&cli_out), "--config FILE runs what --model with the same settings runs");

    // 4. NV12 frames (converted by fovea, not by ffmpeg) find the same objects.
    let nv12 = read_lines(&dir.path().join("nv12.jsonl"));
    let (mut strong, mut found) = (0, 0);
    for (a, b) in c_stream.iter().zip(&nv12) {
        let (a, b) = (parse(a).1, parse(b).1);
        for d in a.iter().filter(|d| d.0[4] >= 0.4) {
            strong += 1;
            found += b.iter().any(|e| e.1 == d.1 && iou(&d.0, &e.0) >= 0.8) as usize;
        }
    }
    assert!(strong >= 20 && found * 10 >= strong * 9, "NV12 found {found} of {strong}");
}

#[test]
fn header_compiles_as_cpp() {
    let dir = tempdir();
    let src = dir.path().join("use.cpp");
    std::fs::write(
        &src,
        "#include \"fovea.h\"\n#include <cstdio>\nint main() { fovea_engine* e = nullptr; fovea_status s = fovea_engine_create(\"\", nullptr, &e); std::printf(\"%s\", fovea_status_str(s)); fovea_engine_destroy(e); return 0; }\n",
    )
    .unwrap();
    let o = Command::new("c++")
        .args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-Iinclude"])
        .arg(&src)
        .current_dir(root())
        .output()
        .expect("c++ runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn valgrind_finds_no_leak() {
    let dir = tempdir();
    let exe = build_c(dir.path());
    // The tiny generated model: the same API paths, inference cheap enough for valgrind.
    let cfg = config(dir.path(), "tests/data/tiny_yolov8_dyn.toml");
    let o = Command::new("valgrind")
        .args(["--leak-check=full", "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"])
        .arg(&exe)
        .arg("leak")
        .arg(&cfg)
        .arg(media("vtest.avi"))
        .args([W.to_string(), H.to_string()])
        .current_dir(root())
        .output()
        .expect("valgrind runs (apt install valgrind; make setup does)");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("all checks passed"), "{err}");
    assert!(err.contains("definitely lost: 0 bytes in 0 blocks") || err.contains("All heap blocks were freed"), "{err}");
}

#[test]
fn make_install_gives_a_library_a_c_program_builds_against_with_pkg_config() {
    // The other tests' C programs use their copy of the library this build replaces.
    c_lib_dir();
    let dir = tempdir();
    let prefix = dir.path().join("prefix");
    // Our own code unoptimised (13 s instead of 42 s on 2 cores): the installation is under test
    // here, not the speed; the program below runs one frame and the Go one five.
    let o = Command::new("make")
        .args(["-s", "install", "PROFILE=debug", "CARGO_BUILD_FLAGS=--config=profile.dev.package.fovea.opt-level=0"])
        .arg(format!("PREFIX={}", prefix.display()))
        .current_dir(root())
        .output()
        .expect("make runs");
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    for f in ["lib/libfovea.so", "lib/libfovea.a", "include/fovea.h", "lib/pkgconfig/fovea.pc", "lib/libonnxruntime.so.1.31.1"] {
        assert!(prefix.join(f).exists(), "{f} not installed");
    }
    // The CLI's crates are not in the C libraries (the binary's `cli` feature).
    for lib in ["lib/libfovea.a", "lib/libfovea.so"] {
        let nm = Command::new("nm").args(["-C", "--defined-only"]).arg(prefix.join(lib)).output().expect("nm runs");
        let symbols = String::from_utf8_lossy(&nm.stdout);
        assert!(symbols.contains("fovea_engine_create"), "{lib}: no fovea symbols?");
        for cli in ["clap_builder::", "indicatif::", "anyhow::", "env_logger::"] {
            assert!(!symbols.contains(cli), "{lib} carries {cli} code");
        }
        // Nor the embedding store's (the `embed` feature, left out of `make install`).
        for store in ["parquet::", "arrow_array::", "usearch::"] {
            assert!(!symbols.contains(store), "{lib} carries {store} code");
        }
    }
    let app = dir.path().join("app.c");
    std::fs::write(
        &app,
        r#"#include <fovea.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    (void)argc;
    fovea_engine *e = NULL;
    if (fovea_engine_create(argv[1], NULL, &e) != FOVEA_STATUS_OK) { fprintf(stderr, "%s\n", fovea_last_error()); return 1; }
    fovea_stream *s = NULL;
    fovea_stream_create(e, 25, &s);
    unsigned char *px = malloc(64 * 48 * 3);
    memset(px, 90, 64 * 48 * 3);
    fovea_status st = fovea_stream_send_frame(s, px, 64 * 48 * 3, 64, 48, 64 * 3, FOVEA_PIXEL_FORMAT_BGR24, 0.0);
    fovea_result *r = NULL;
    if (st == FOVEA_STATUS_OK) st = fovea_stream_receive(s, &r);
    printf("fovea %s: %s, frame %llu\n", fovea_version(), fovea_status_str(st), r ? (unsigned long long)r->frame : 99ULL);
    fovea_status es = fovea_embed("[]", "store", NULL);
    printf("embed %u: %s\n", (unsigned)(es == FOVEA_STATUS_UNSUPPORTED), fovea_last_error());
    fovea_result_destroy(r);
    fovea_stream_destroy(s);
    fovea_engine_destroy(e);
    free(px);
    return st == FOVEA_STATUS_OK ? 0 : 1;
}
"#,
    )
    .unwrap();
    let pc = Command::new("pkg-config")
        .args(["--cflags", "--libs", "fovea"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .output()
        .expect("pkg-config runs");
    assert!(pc.status.success(), "{}", String::from_utf8_lossy(&pc.stderr));
    let flags = String::from_utf8(pc.stdout).unwrap();
    let exe = dir.path().join("app");
    let o = Command::new("cc").arg(&app).arg("-o").arg(&exe).args(flags.split_whitespace()).output().unwrap();
    assert!(o.status.success(), "cc {flags}: {}", String::from_utf8_lossy(&o.stderr));
    let cfg = format!("model = '{}'", root().join("engines/nanodet-g-416.toml").display());
    // As a user's program runs: `cargo test` puts its own build's library on LD_LIBRARY_PATH,
    // which outranks the RUNPATH pkg-config gives (and has the embed feature).
    let o = Command::new(&exe).arg(&cfg).env_remove("FOVEA_ORT_LIB").env_remove("LD_LIBRARY_PATH").output().unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("fovea 0.1.0: ok, frame 0"));
    // Without the embed feature the embedding call is refused, saying why.
    let embed = lines.next().unwrap_or_default();
    assert!(embed.starts_with("embed 1: ") && embed.contains("without the embed feature"), "{embed}");

    // Go from outside the checkout: a module of its own in a temp folder that requires the
    // binding by path (replace), built with only PKG_CONFIG_PATH pointing at the installation.
    let app = dir.path().join("goapp");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        app.join("go.mod"),
        format!(
            "module example.com/goapp\n\ngo 1.19\n\nrequire github.com/fovea/fovea/go/fovea v0.0.0\n\nreplace github.com/fovea/fovea/go/fovea => {}\n",
            root().join("go/fovea").display()
        ),
    )
    .unwrap();
    std::fs::write(
        app.join("main.go"),
        r#"package main

import (
	"fmt"
	"os"

	"github.com/fovea/fovea/go/fovea"
)

func main() {
	e, err := fovea.NewEngine(os.Args[1], "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer e.Close()
	n, people := 0, 0
	err = e.ProcessFile(os.Args[2], func(r *fovea.Result) bool {
		n++
		for _, d := range r.Detections {
			if d.Label == "person" {
				people++
			}
		}
		return n < 5
	})
	fmt.Printf("fovea %s: %d frames, %d people, err %v\n", fovea.Version(), n, people, err)
}
"#,
    )
    .unwrap();
    let go = |args: &[&str]| {
        Command::new("go")
            .args(args)
            .current_dir(&app)
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .env_remove("CGO_CFLAGS")
            .env_remove("CGO_LDFLAGS")
            // A cache of its own: Go 1.19 does not key cached cgo packages on pkg-config's answer,
            // so a shared cache would link against an earlier run's (deleted) prefix.
            .env("GOCACHE", dir.path().join("go-cache"))
            .env("GOPATH", root().join(".deps/gopath"))
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .output()
            .expect("go runs (make setup installs it)")
    };
    let o = go(&["build", "-o", "goapp", "."]);
    assert!(o.status.success(), "go build outside the checkout: {}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(app.join("goapp"))
        .arg(&cfg)
        .arg(media("vtest.avi"))
        .env_remove("FOVEA_ORT_LIB")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with("fovea 0.1.0: 5 frames,") && out.trim().ends_with("err <nil>"), "{out}");
    let people: u32 = out.split(", ").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(people >= 5, "vtest.avi's first frames hold people: {out}");
}
