//! Helpers shared by the integration tests: real media from ../shared/media, ffprobe as an
//! independent oracle, the CLI binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository: `$FOVEA_ROOT` (a test program run away from where it was built: the GPU check
/// bundle) or the crate's folder.
pub fn root() -> PathBuf {
    std::env::var_os("FOVEA_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// A file of the shared media folder (`$FOVEA_MEDIA` or ../shared/media). Panics with a clear
/// message when it is missing: these tests need the real media.
pub fn media(name: &str) -> PathBuf {
    let dir = std::env::var_os("FOVEA_MEDIA").map(PathBuf::from).unwrap_or_else(|| root().join("../shared/media"));
    let p = dir.join(name);
    assert!(p.exists(), "test media {} not found (set FOVEA_MEDIA to the shared media folder)", p.display());
    p
}

pub fn data(name: &str) -> PathBuf {
    root().join("tests/data").join(name)
}

pub fn model() -> PathBuf {
    root().join("engines/nanodet-g-416.toml")
}

/// Frames ffprobe decodes in the first video stream (`-count_frames`).
pub fn ffprobe_frames(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs (scripts/setup.sh installs it)");
    assert!(out.status.success(), "ffprobe failed on {}", path.display());
    String::from_utf8_lossy(&out.stdout).trim().trim_end_matches(',').parse().expect("ffprobe prints a count")
}

/// Presentation times (seconds) ffprobe reports for every frame of the first video stream.
pub fn ffprobe_pts(path: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect()
}

/// Runs the `fovea` binary.
pub fn fovea(args: &[&str]) -> Output {
    fovea_env(args, &[])
}

pub fn fovea_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    // A build without the `cli` feature (the GPU check bundle) has no binary to run.
    let Some(bin) = option_env!("CARGO_BIN_EXE_fovea") else { panic!("no fovea binary in this build (it needs the `cli` feature)") };
    let mut c = Command::new(bin);
    c.args(args).current_dir(root());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the fovea binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Writes the first `len` bytes of `src` to `dst`.
pub fn truncate_copy(src: &Path, dst: &Path, len: usize) {
    let bytes = std::fs::read(src).unwrap();
    std::fs::write(dst, &bytes[..len.min(bytes.len())]).unwrap();
}

/// An MP4 with its index up front (faststart), made with the ffmpeg CLI.
pub fn faststart_copy(src: &Path, dst: &Path) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(src)
        .args(["-c", "copy", "-an", "-movflags", "+faststart"])
        .arg(dst)
        .status()
        .expect("ffmpeg runs");
    assert!(ok.success());
}

/// Runs the whole pipeline on `path` and collects every frame's result; the run must succeed.
pub fn run_collect(
    path: &Path,
    det: &mut fovea::infer::Detector,
    params: &fovea::detect::DecodeParams,
    s: fovea::video::Sampling,
    stages: fovea::pipeline::Stages<'_>,
) -> (Vec<fovea::pipeline::FrameResult>, fovea::pipeline::RunReport) {
    let mut out = Vec::new();
    let (report, outcome) = fovea::pipeline::run_detect(
        path,
        det,
        params,
        s,
        stages,
        &mut |r| {
            out.push(r.clone());
            Ok(())
        },
        &mut |_| {},
    )
    .expect("the pipeline starts");
    outcome.expect("the run succeeds");
    assert_eq!(report.frames_processed as usize, out.len());
    (out, report)
}

/// A clip of `frames` frames of FFmpeg's test pattern at `size` ("WxH") in `pix_fmt`, encoded with
/// `codec` into `dir/<size>_<pix_fmt>_<codec>.<ext>`.
pub fn make_clip(dir: &Path, size: &str, pix_fmt: &str, codec: &str, ext: &str, frames: u32) -> PathBuf {
    let p = dir.join(format!("{size}_{pix_fmt}_{codec}.{ext}"));
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("testsrc=size={size}:rate=25"), "-frames:v", &frames.to_string()])
        .args(["-c:v", codec, "-pix_fmt", pix_fmt])
        .arg(&p)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg could not make {}", p.display());
    p
}

/// Clips of `frames` test-pattern frames, one per (size "WxH", pixel format, codec, extension) of
/// `specs`, named as [`make_clip`] names them, made by one ffmpeg process (a process start costs
/// about 0.1 s: tests that make tens of clips make them at once).
#[allow(dead_code)]
pub fn make_clips(dir: &Path, specs: &[(String, &str, &str, &str)], frames: u32) -> Vec<PathBuf> {
    let paths: Vec<PathBuf> = specs.iter().map(|(size, fmt, codec, ext)| dir.join(format!("{size}_{fmt}_{codec}.{ext}"))).collect();
    let mut c = Command::new("ffmpeg");
    // Finite inputs and no keyboard: a make test run once saw this ffmpeg spin for minutes with
    // every output empty (not reproduced in 46 runs alone or under load); inputs that end make
    // it end whatever its outputs' frame counts do.
    c.args(["-nostdin", "-v", "error", "-y"]).stdin(std::process::Stdio::null());
    let seconds = f64::from(frames) / 25.0;
    for (size, ..) in specs {
        c.args(["-f", "lavfi", "-i", &format!("testsrc=size={size}:rate=25:duration={seconds}")]);
    }
    for (k, ((_, fmt, codec, _), p)) in specs.iter().zip(&paths).enumerate() {
        c.args(["-map", &format!("{k}:v"), "-frames:v", &frames.to_string(), "-c:v", codec, "-pix_fmt", fmt]).arg(p);
    }
    let mut child = c.spawn().expect("ffmpeg runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("ffmpeg did not make the {} clips in {} within 120 s", specs.len(), dir.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "ffmpeg could not make the {} clips in {}", specs.len(), dir.display());
    paths
}

/// target/debug (or release): where cargo put libfovea.so for this test run.
#[allow(dead_code)]
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// A copy of the library cargo built for this test run, taken once per test process, before any
/// test can rebuild it: the `make install` test builds one without `embed` (and unoptimised) in
/// its place while the C programs of other tests link and load theirs.
#[allow(dead_code)]
pub fn c_lib_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let lib = lib_dir();
        let built = lib.join("libfovea.so");
        assert!(built.exists(), "{} has no libfovea.so: run `cargo build --lib` first (`make test` does)", lib.display());
        let dir = lib.join("c-tests");
        std::fs::create_dir_all(&dir).unwrap();
        // Linked (no disk: the linker and cargo replace their outputs by new files, never write
        // into them) or else copied beside, then renamed over the last run's: a program still
        // running keeps its file.
        let tmp = dir.join(format!(".libfovea.so.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        if std::fs::hard_link(&built, &tmp).is_err() {
            std::fs::copy(&built, &tmp).unwrap();
        }
        std::fs::rename(&tmp, dir.join("libfovea.so")).unwrap();
        dir
    })
    .clone()
}

/// Compiles the C program `src` (under the repository root) against the built library (its copy,
/// [`c_lib_dir`]) and the committed header, strictly (C11, all warnings errors), into `dir`.
#[allow(dead_code)]
pub fn build_c_program(dir: &Path, src: &str, name: &str) -> PathBuf {
    let exe = dir.join(name);
    let lib = c_lib_dir();
    let o = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Iinclude", src, "-o"])
        .arg(&exe)
        .arg(format!("-L{}", lib.display()))
        // DT_RPATH, not RUNPATH: `cargo test` puts target/<profile>/deps on LD_LIBRARY_PATH, which
        // outranks a RUNPATH, and the `make install` test rebuilds the library there.
        .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", lib.display()))
        .args(["-lfovea", "-lpthread", "-lm"])
        .current_dir(root())
        .output()
        .expect("cc runs");
    assert!(o.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&o.stderr));
    exe
}
