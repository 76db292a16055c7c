//! The `fovea` command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};
use fovea::output::{open_output, JsonlWriter, ResultSink, ScoreVisionWriter};
use fovea::pipeline::{self, FrameResult, Progress, RunReport};
use fovea::track::{Tracker, TrackerConfig};
use fovea::video::Sampling;

/// fovea: native video analytics (FFmpeg decode, ONNX detection, results as JSONL).
#[derive(Parser)]
#[command(name = "fovea", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect objects in every sampled frame of a video (or image) and write the results.
    Detect(DetectArgs),
    /// Track detections made elsewhere (fovea JSONL or a Score Vision file); needs no video.
    Track(TrackArgs),
    /// Measure detector-only and end-to-end throughput side by side on one or more videos.
    Bench(BenchArgs),
    /// Write an INT8 calibration set: frames sampled from clips, preprocessed exactly as fovea does.
    Calib(CalibArgs),
    /// Compare two models on the same frames (e.g. INT8 against fp32): boxes matched per class.
    Compare(CompareArgs),
    /// Check given boxes against their video (the validator's side): ROI colour statistics and
    /// rules per box, one JSONL line per box with its verdict and the rule that decided it.
    Verify(VerifyArgs),
    /// Write the CUDA kernels (source for NVRTC and build-time PTX) into a folder.
    Kernels(KernelsArgs),
    /// TensorRT engines: build one ahead of time (EPContext model beside the manifest).
    #[command(subcommand)]
    Engines(EnginesCommand),
}

#[derive(Subcommand)]
enum EnginesCommand {
    /// Build and cache a TensorRT engine for a model (takes minutes; progress is shown), verify
    /// it with one inference, and write `<name>.<precision>.b<batch>.ctx.onnx` beside the
    /// manifest, which later runs load instead of rebuilding.
    Build(EnginesBuildArgs),
}

#[derive(Args)]
struct EnginesBuildArgs {
    /// The model's (fp32) manifest.
    #[arg(long, default_value = FP32_MODEL)]
    model: PathBuf,
    /// FP16 engine (the default).
    #[arg(long, conflicts_with = "int8")]
    fp16: bool,
    /// INT8 engine, with the calibration table of --calib or the manifest's [tensorrt] table.
    #[arg(long)]
    int8: bool,
    /// FP32 engine.
    #[arg(long, conflicts_with_all = ["int8", "fp16"])]
    fp32: bool,
    /// Calibration table file, or a folder holding `<model name>.calibration.flatbuffers|cache`.
    #[arg(long, requires = "int8")]
    calib: Option<PathBuf>,
    /// Largest batch the engine takes (dynamic-batch models).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// The GPU: `cuda` or `cuda:N`.
    #[arg(long, default_value = "cuda:0")]
    device: String,
}

#[derive(Args)]
struct VerifyArgs {
    /// The video the boxes were made on.
    video: PathBuf,
    /// Boxes: a Score Vision miner file or fovea JSONL.
    #[arg(long)]
    boxes: PathBuf,
    /// Results (one JSON object per box); `-` writes to stdout.
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
    /// Rule file (TOML); default: the built-in filter/scorevision.toml.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Do not make ROI tensors for the kept boxes (no classifier reads them yet).
    #[arg(long)]
    no_roi_tensors: bool,
    /// ROIs per batch.
    #[arg(long, default_value_t = 256)]
    batch_rois: usize,
    /// Zero-shot classifier after the rules: an image-encoder manifest (TOML) with its text table.
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Classification policy (TOML); default: the built-in classify/scorevision.toml.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// ONNX Runtime threads for the classifier (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Assign colour teams to people (jersey colours clustered per clip; output `team` 0/1, and
    /// goalkeeper/referee from colour); results are written when the clip is done.
    #[arg(long)]
    teams: bool,
    /// Where the colour statistics and ROI tensors are made: `cpu` or `cuda[:N]` (default: cpu,
    /// or cuda:0 with a GPU provider).
    #[arg(long)]
    device: Option<String>,
    /// The classifier's execution provider: `cpu`, `cuda` or `tensorrt` (default: cpu, or
    /// tensorrt with --device cuda).
    #[arg(long)]
    provider: Option<String>,
    /// Run on the CPU what cannot run where asked (otherwise an error); the summary says what ran.
    #[arg(long)]
    allow_fallback: bool,
}

#[derive(Args)]
struct KernelsArgs {
    /// Output folder: <module>.cu (self-contained source) and <module>.ptx when built.
    out: PathBuf,
}

#[derive(Args)]
struct CalibArgs {
    /// Clips to sample.
    #[arg(required = true)]
    videos: Vec<PathBuf>,
    /// Model manifest whose preprocessing the set follows.
    #[arg(long, default_value = FP32_MODEL)]
    model: PathBuf,
    /// Frames per clip, evenly spaced.
    #[arg(long, default_value_t = 20)]
    frames: u64,
    /// Output folder (NNNN.npy + frames.json).
    #[arg(short, long)]
    out: PathBuf,
}

#[derive(Args)]
struct CompareArgs {
    /// Clips to compare on.
    #[arg(required = true)]
    videos: Vec<PathBuf>,
    /// Reference model manifest.
    #[arg(long, default_value = FP32_MODEL)]
    reference: PathBuf,
    /// Candidate model manifest.
    #[arg(long, default_value = INT8_MODEL)]
    candidate: PathBuf,
    /// Compare every K-th frame.
    #[arg(long, default_value_t = 5)]
    every: u32,
    /// frames.json of a calibration set: those frames are left out (held-out evaluation).
    #[arg(long)]
    exclude: Option<PathBuf>,
    /// Minimum IoU of a match.
    #[arg(long, default_value_t = 0.5)]
    iou: f32,
    /// ONNX Runtime threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write the report as JSON too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    /// One JSON object per processed frame.
    Jsonl,
    /// Score Vision miner JSON: {"frames": {"<n>": {"objects": [...]}}}.
    Scorevision,
}

#[derive(Args)]
struct ModelArgs {
    /// Model manifest (TOML). Default: NanoDet-g INT8 on CPUs with VNNI, fp32 otherwise
    /// (`--model engines/nanodet-g-416.toml` forces fp32).
    #[arg(long)]
    model: Option<PathBuf>,
    /// ONNX Runtime threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Frames per inference call, when the model's batch dimension allows it.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Where frames and kernels go: `cpu` or `cuda[:N]` (default: cpu, or cuda:0 with a GPU
    /// provider).
    #[arg(long)]
    device: Option<String>,
    /// ONNX Runtime execution provider: `cpu`, `cuda` or `tensorrt` (default: cpu, or tensorrt
    /// with --device cuda).
    #[arg(long)]
    provider: Option<String>,
    /// TensorRT precision: fp32, fp16 or int8 (int8: the manifest's calibration table or --calib).
    #[arg(long, default_value = "fp16")]
    precision: String,
    /// INT8 calibration table (file, or folder with `<model name>.calibration.*`).
    #[arg(long)]
    calib: Option<PathBuf>,
    /// Run on the CPU when the requested device or provider cannot be had (otherwise an error);
    /// the summary says what ran.
    #[arg(long)]
    allow_fallback: bool,
}

#[derive(Args)]
struct SamplingArgs {
    /// Process every K-th frame.
    #[arg(long, default_value_t = 1, value_name = "K")]
    stride: u32,
    /// Process at most F frames per second of video.
    #[arg(long, value_name = "F")]
    max_fps: Option<f64>,
    /// Start at S seconds.
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    start: f64,
    /// Process D seconds of video.
    #[arg(long, value_name = "D")]
    duration: Option<f64>,
}

impl SamplingArgs {
    fn sampling(&self) -> Sampling {
        Sampling { stride: self.stride, max_fps: self.max_fps, start: self.start, duration: self.duration }
    }
}

#[derive(Args)]
struct DetectArgs {
    /// Video or image file (anything FFmpeg reads).
    video: PathBuf,
    /// Results file; `-` writes to stdout.
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
    /// Results format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Score threshold (default: the manifest's).
    #[arg(long)]
    score: Option<f32>,
    /// NMS IoU threshold (default: the manifest's).
    #[arg(long)]
    nms_iou: Option<f32>,
    /// Keep only these classes, e.g. `person,sports_ball`.
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<String>>,
    #[command(flatten)]
    tracking: TrackingArgs,
    /// Zero-shot classifier for the detections (an image-encoder manifest with its text table),
    /// run through the per-track reuse cache.
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Classification policy (TOML); default: the built-in classify/scorevision.toml.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Colour teams for people (jersey colours clustered over the whole clip; `team` 0/1 in the
    /// JSONL, goalkeeper/referee labels); results are written when the clip is done.
    #[arg(long)]
    teams: bool,
    /// No progress bar or progress lines.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct TrackingArgs {
    /// Do not track (no track ids).
    #[arg(long)]
    no_track: bool,
    /// ByteTrack: detections at or above this score are matched first.
    #[arg(long, default_value_t = 0.5)]
    track_thresh: f32,
    /// ByteTrack: new tracks start at or above this score (default: track threshold + 0.1).
    #[arg(long)]
    new_track_thresh: Option<f32>,
    /// ByteTrack: maximum first-stage matching cost (1 - IoU x score).
    #[arg(long, default_value_t = 0.8)]
    match_thresh: f32,
    /// ByteTrack: lost tracks are kept this many frames at 30 fps (a time budget).
    #[arg(long, default_value_t = 30)]
    track_buffer: u32,
}

impl TrackingArgs {
    fn config(&self) -> anyhow::Result<Option<TrackerConfig>> {
        if self.no_track {
            return Ok(None);
        }
        for (name, v) in [("--track-thresh", self.track_thresh), ("--match-thresh", self.match_thresh)] {
            anyhow::ensure!((0.0..=1.0).contains(&v), "invalid option {name}: must be within 0..1, got {v}");
        }
        let new = self.new_track_thresh.unwrap_or(self.track_thresh + 0.1);
        anyhow::ensure!((0.0..=1.1).contains(&new), "invalid option --new-track-thresh: must be within 0..1, got {new}");
        Ok(Some(TrackerConfig {
            track_thresh: self.track_thresh,
            new_track_thresh: new,
            match_thresh: self.match_thresh,
            track_buffer: self.track_buffer,
            ..TrackerConfig::default()
        }))
    }
}

#[derive(Args)]
struct TrackArgs {
    /// Boxes: fovea JSONL (uses `score` and `class_id`) or a Score Vision miner file.
    #[arg(long)]
    boxes: PathBuf,
    /// Results file; `-` writes to stdout.
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
    /// Results format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Frame rate of the video the boxes came from (default: from the file's pts, else 30).
    #[arg(long)]
    fps: Option<f64>,
    #[command(flatten)]
    tracking: TrackingArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// Videos to measure.
    #[arg(required = true)]
    videos: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Frames per video (from the start).
    #[arg(long, default_value_t = 300)]
    frames: u64,
    /// Alternating detector-only / end-to-end rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Write the figures as JSON to this file too.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect(a) => detect(a),
        Command::Track(a) => track(a),
        Command::Bench(a) => bench(a),
        Command::Calib(a) => calib(a),
        Command::Compare(a) => compare(a),
        Command::Verify(a) => verify(a),
        Command::Kernels(a) => kernels(a),
        Command::Engines(c) => engines(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fovea: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Finds a manifest given as a relative path: as given, else relative to the source tree
/// (so `fovea detect` works from any directory in a checkout).
const FP32_MODEL: &str = "engines/nanodet-g-416.toml";
const SCOREVISION_POLICY: &str = include_str!("../../classify/scorevision.toml");
const INT8_MODEL: &str = "engines/nanodet-g-416-int8.toml";

fn resolve_model(p: &Path) -> PathBuf {
    if p.is_relative() && !p.exists() {
        let alt = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
        if alt.exists() {
            return alt;
        }
    }
    p.to_path_buf()
}

/// Whether this CPU has VNNI (8-bit dot products), which makes INT8 inference fast.
fn cpu_has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni") || std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The manifest to use and why.
fn choose_model(m: &ModelArgs) -> (PathBuf, String) {
    if let Some(p) = &m.model {
        return (resolve_model(p), "given with --model".into());
    }
    let int8 = resolve_model(Path::new(INT8_MODEL));
    match (cpu_has_vnni(), int8.exists()) {
        (true, true) => (int8, format!("default: this CPU has VNNI; --model {FP32_MODEL} for fp32")),
        (false, _) => (resolve_model(Path::new(FP32_MODEL)), "default: this CPU has no VNNI, so fp32".into()),
        (true, false) => (resolve_model(Path::new(FP32_MODEL)), format!("default: {INT8_MODEL} is missing, so fp32")),
    }
}

fn parse_precision(p: &str) -> anyhow::Result<fovea::infer::manifest::Precision> {
    use fovea::infer::manifest::Precision;
    Ok(match p {
        "fp32" => Precision::Fp32,
        "fp16" => Precision::Fp16,
        "int8" => Precision::Int8,
        _ => anyhow::bail!("invalid option --precision: expected fp32, fp16 or int8, got '{p}'"),
    })
}

/// A device or provider that cannot be had, named with the request and the way on; other
/// errors as they are.
fn gpu_hint(selection: &fovea::infer::provider::Selection, e: fovea::Error) -> anyhow::Error {
    match e {
        fovea::Error::Unsupported { reason, .. } | fovea::Error::RuntimeMissing { reason } if selection.is_gpu() => anyhow::anyhow!(
            "--device {} --provider {}: {reason}; add --allow-fallback to run on the CPU instead",
            selection.device,
            selection.provider.short()
        ),
        e => e.into(),
    }
}

fn load_detector(m: &ModelArgs) -> anyhow::Result<(Detector, String)> {
    use fovea::infer::provider::{Selection, TrtBuild};
    let selection = Selection::resolve(
        m.device.as_deref().map(str::parse).transpose()?,
        m.provider.as_deref().map(str::parse).transpose()?,
        m.allow_fallback,
    )?;
    let (path, why) = if selection.is_gpu() && m.model.is_none() {
        (resolve_model(Path::new(FP32_MODEL)), format!("default on a GPU: the provider builds {} from the fp32 model", m.precision))
    } else {
        choose_model(m)
    };
    let manifest = Manifest::load(&path)?;
    let calibration_table = match &m.calib {
        Some(c) => Some(fovea::infer::provider::find_calibration_table(c, &manifest)?),
        None => None,
    };
    let trt = TrtBuild { precision: parse_precision(&m.precision)?, calibration_table, ..TrtBuild::default() };
    let opts = DetectorOptions { threads: m.threads, batch: m.batch, selection, trt };
    let detector = Detector::load(&manifest, &opts).map_err(|e| gpu_hint(&selection, e))?;
    Ok((detector, format!("({}; {why})", manifest.precision)))
}

fn engines(c: EnginesCommand) -> anyhow::Result<ExitCode> {
    use fovea::infer::manifest::Precision;
    use fovea::infer::provider::{EngineFiles, ProviderKind, Selection, TrtBuild};
    let EnginesCommand::Build(a) = c;
    let precision = if a.int8 {
        Precision::Int8
    } else if a.fp32 {
        Precision::Fp32
    } else {
        Precision::Fp16
    };
    let manifest = Manifest::load(&a.model)?;
    let calibration_table = match &a.calib {
        Some(c) => Some(fovea::infer::provider::find_calibration_table(c, &manifest)?),
        None => None,
    };
    let selection = Selection::resolve(Some(a.device.parse()?), Some(ProviderKind::TensorRt), false)?;
    let trt = TrtBuild { precision, calibration_table, batch: a.batch, dump_ep_context: true, ..TrtBuild::default() };
    let files = EngineFiles::of(&(&manifest).into(), precision, a.batch);
    eprintln!(
        "fovea engines build: {} ({}) -> TensorRT {precision}, batch {}, on {}",
        manifest.name,
        a.model.display(),
        a.batch,
        selection.device
    );
    eprintln!("  [1/3] engine cache {}, EPContext model {}", files.cache_dir.display(), files.ep_context_model.display());
    eprintln!("  [2/3] building the engine (TensorRT tunes every layer: minutes, once per GPU model and TensorRT version)");
    // Progress while ONNX Runtime builds (a blocking call): a spinner with the elapsed time on a
    // terminal, a line every 15 s otherwise (logs, CI).
    let t = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = if std::io::stderr().is_terminal() {
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_style(indicatif::ProgressStyle::with_template("        {spinner} {elapsed} building {msg}").expect("valid template"));
        spinner.set_message(format!("{}.{precision}", manifest.name));
        spinner.enable_steady_tick(std::time::Duration::from_millis(250));
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            spinner.finish_and_clear();
        })
    } else {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut next = 15;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if t.elapsed().as_secs() >= next {
                    eprintln!("        still building: {} s", next);
                    next += 15;
                }
            }
        })
    };
    let opts = DetectorOptions { threads: 0, batch: a.batch, selection, trt };
    let built = Detector::load(&manifest, &opts);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    let mut det = built?;
    eprintln!("        built in {:.1} s: {}", t.elapsed().as_secs_f64(), det.provider());
    // Verify: one inference on a mid-grey frame, through the same path runs take.
    let (w, h) = (manifest.input.width, manifest.input.height);
    let grey = vec![114u8; w as usize * h as usize * 3];
    let tf = det.fill(0, &grey, w, h, w as usize * 3)?;
    let params = det.default_params();
    det.run(1, &[tf], &params)?;
    anyhow::ensure!(files.prebuilt(), "ONNX Runtime built the engine but wrote no EPContext model at {}", files.ep_context_model.display());
    let size = std::fs::metadata(&files.ep_context_model).map(|m| m.len()).unwrap_or(0);
    eprintln!("  [3/3] verified with one inference; EPContext model {} ({size} bytes)", files.ep_context_model.display());
    eprintln!("        runs with --provider tensorrt --precision {precision} now load it instead of rebuilding");
    Ok(ExitCode::SUCCESS)
}

fn detect(a: DetectArgs) -> anyhow::Result<ExitCode> {
    let sampling = a.sampling.sampling();
    sampling.validate()?;
    // Check the input before the (slower) model load, so a wrong path fails at once.
    let info = fovea::video::probe(&a.video)?;
    let (mut detector, why) = load_detector(&a.model)?;
    let params = pipeline::decode_params(&detector, a.score, a.nms_iou, a.classes.as_deref())?;
    let tracking = a.tracking.config()?;
    let labels = detector.manifest().labels.clone();
    let (out, out_name) = open_output(&a.output)?;
    let mut sink: Box<dyn ResultSink> = match a.format {
        Format::Jsonl => Box::new(JsonlWriter::new(out, out_name.clone(), labels.clone())),
        Format::Scorevision => Box::new(ScoreVisionWriter::new(out, out_name.clone(), &labels, tracking.is_some())),
    };

    let expected = expected_frames(&info, &sampling);
    let mut object_classifier = match &a.classifier {
        Some(m) => {
            let manifest = fovea::classify::ClipManifest::load(&resolve_model(m))?;
            let policy = match &a.policy {
                Some(p) => fovea::classify::Policy::load(p)?,
                None => fovea::classify::Policy::parse(SCOREVISION_POLICY, Path::new("classify/scorevision.toml"))?,
            };
            let expand = [("sports_ball".to_string(), 4.0), ("football".to_string(), 4.0)].into_iter().collect();
            // One thread: the detector's ONNX Runtime threads already use the cores, and two spinning
            // thread pools fight over them.
            // On a GPU the encoder runs there too, with the detector's provider and device.
            #[cfg(feature = "cuda")]
            let zs = match detector.device() {
                Some(dev) => {
                    let sel = fovea::infer::provider::Selection::resolve(
                        a.model.device.as_deref().map(str::parse).transpose()?,
                        a.model.provider.as_deref().map(str::parse).transpose()?,
                        false,
                    )?;
                    fovea::classify::ZeroShot::load_on(&manifest, 1, &sel, Some(dev))?
                }
                None => fovea::classify::ZeroShot::load(&manifest, 1)?,
            };
            #[cfg(not(feature = "cuda"))]
            let zs = fovea::classify::ZeroShot::load(&manifest, 1)?;
            Some(fovea::classify::ObjectClassifier::new(zs, policy, labels.clone(), detector.manifest().input.channels, expand)?)
        }
        None => None,
    };
    let mut progress = ProgressOut::new(a.quiet, expected);
    let mut held: Vec<FrameResult> = Vec::new();
    let run = pipeline::run_detect(
        &a.video,
        &mut detector,
        &params,
        sampling,
        pipeline::Stages {
            tracking,
            // With teams, colour decides first and the classifier runs afterwards on what it left.
            classifier: if a.teams { None } else { object_classifier.as_mut().map(|c| c as &mut dyn fovea::track::reuse::Classifier) },
            jerseys: a.teams.then(|| ["person", "player", "goalkeeper", "referee"].map(String::from).to_vec()),
            ..Default::default()
        },
        &mut |r: &FrameResult| {
            if a.teams {
                held.push(r.clone());
                Ok(())
            } else {
                sink.write(r)
            }
        },
        &mut |p| progress.update(p),
    );
    progress.finish();
    let (report, outcome) = run?;
    if a.teams {
        let t = fovea::classify::teams::assign_frames(&mut held);
        eprintln!(
            "fovea detect: colour teams: team 0 {}, team 1 {}, goalkeeper {}, referee {}, no jersey colour {}",
            t[0], t[1], t[2], t[3], t[4]
        );
        if let Some(c) = object_classifier.as_mut() {
            let order = detector.manifest().input.channels;
            let p = fovea::classify::classify_undecided(&a.video, &mut held, c, order, Default::default())?;
            eprintln!(
                "fovea detect: classifier after colour: {} objects classified, {} answered from their track, {} spared by colour ({} frames decoded again)",
                p.classified, p.from_track, p.by_colour, p.frames_decoded_again
            );
        }
        for r in &held {
            sink.write(r)?;
        }
    }
    let finished = sink.finish();
    print_summary(&report, &why, &labels, &out_name, a.format);
    if let Some(c) = &object_classifier {
        eprintln!("  encoder      {} on {}", c.zs.manifest.name, c.zs.provider);
    }
    outcome?;
    finished?;
    Ok(ExitCode::SUCCESS)
}

fn kernels(a: KernelsArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for m in fovea::kernels::MODULES {
        std::fs::write(a.out.join(format!("{}.cu", m.name)), m.source)?;
        if let Some(ptx) = m.ptx {
            std::fs::write(a.out.join(format!("{}.ptx", m.name)), ptx)?;
        }
        let ptx = if m.ptx.is_some() { "source + PTX" } else { "source only (no CUDA compiler at build time)" };
        eprintln!("fovea kernels: {} ({}): {ptx}", m.name, m.kernels.join(", "));
    }
    eprintln!("  PTX compiler  {}", fovea::kernels::PTX_COMPILER.unwrap_or("none"));
    Ok(ExitCode::SUCCESS)
}

fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    use fovea::pipeline::verify::{run_verify, PassThrough, VerifyOptions};
    use std::io::Write;
    anyhow::ensure!(a.batch_rois >= 1, "invalid option --batch-rois: must be >= 1");
    let filter = match &a.rules {
        Some(p) => fovea::filter::FilterConfig::load(p)?,
        None => fovea::filter::FilterConfig::scorevision(),
    };
    let rules_name = a.rules.as_ref().map_or("built-in filter/scorevision.toml".to_string(), |p| p.display().to_string());
    fovea::video::probe(&a.video)?;
    let boxes = fovea::output::read::read_boxes(&a.boxes)?;
    let (mut out, out_name) = open_output(&a.output)?;
    let selection = fovea::infer::provider::Selection::resolve(
        a.device.as_deref().map(str::parse).transpose()?,
        a.provider.as_deref().map(str::parse).transpose()?,
        a.allow_fallback,
    )?;
    let fallback_hint = |e: fovea::Error| gpu_hint(&selection, e);
    // The GPU for the ROI stage (and the classifier), or the reason the CPU runs instead.
    let mut notes: Vec<String> = Vec::new();
    #[cfg(feature = "cuda")]
    let gpu = if selection.is_gpu() {
        match fovea::cuda::Device::shared(selection.ordinal()) {
            Ok(d) => Some(d),
            Err(e @ fovea::Error::RuntimeMissing { .. }) if a.allow_fallback => {
                notes.push(format!("CPU fallback, as allowed: {e}"));
                None
            }
            Err(e) => return Err(fallback_hint(e)),
        }
    } else {
        None
    };
    #[cfg(not(feature = "cuda"))]
    if let Err(e) = fovea::infer::check_build(&selection) {
        if !a.allow_fallback {
            return Err(fallback_hint(e));
        }
        notes.push(format!("CPU fallback, as allowed: {e}"));
    }
    let opts = VerifyOptions {
        filter,
        roi_tensors: !a.no_roi_tensors,
        batch_rois: a.batch_rois,
        teams: a.teams,
        #[cfg(feature = "cuda")]
        gpu: gpu.clone(),
    };
    let mut pass = PassThrough;
    let mut zero_shot = match &a.classifier {
        Some(m) => {
            let manifest = fovea::classify::ClipManifest::load(&resolve_model(m))?;
            let policy = match &a.policy {
                Some(p) => fovea::classify::Policy::load(p)?,
                None => fovea::classify::Policy::parse(SCOREVISION_POLICY, Path::new("classify/scorevision.toml"))?,
            };
            #[cfg(feature = "cuda")]
            let (sel, dev) = match &gpu {
                Some(d) => (selection, Some(d.clone())),
                None => (fovea::infer::provider::Selection::cpu(), None),
            };
            #[cfg(not(feature = "cuda"))]
            let (sel, dev) = (fovea::infer::provider::Selection::cpu(), None);
            let zs = match fovea::classify::ZeroShot::load_on(&manifest, a.threads, &sel, dev) {
                Ok(z) => z,
                Err(e @ (fovea::Error::Unsupported { .. } | fovea::Error::RuntimeMissing { .. })) if a.allow_fallback => {
                    notes.push(format!("classifier on the CPU, as allowed: {e}"));
                    fovea::classify::ZeroShot::load(&manifest, a.threads)?
                }
                Err(e) => return Err(fallback_hint(e)),
            };
            Some(fovea::classify::PolicyClassifier::new(zs, policy)?)
        }
        None => None,
    };
    let classifier: &mut dyn fovea::pipeline::verify::RoiClassifier = match zero_shot.as_mut() {
        Some(z) => z,
        None => &mut pass,
    };
    let (report, outcome) = run_verify(&a.video, &boxes, &opts, classifier, &mut |r| {
        serde_json::to_writer(&mut out, r).map_err(|e| fovea::Error::Output { path: out_name.clone(), source: e.into() })?;
        out.write_all(b"\n").map_err(|e| fovea::Error::Output { path: out_name.clone(), source: e })
    });
    let flushed = out.flush().map_err(|e| fovea::Error::Output { path: out_name.clone(), source: e });
    let r = &report;
    eprintln!("fovea verify: {}", a.video.display());
    if let Some(v) = &r.video {
        eprintln!("  input        {} {}x{}, {}", v.codec, v.width, v.height, v.container);
    }
    let fmt = match boxes.format {
        fovea::output::read::BoxesFormat::Jsonl => "fovea JSONL",
        fovea::output::read::BoxesFormat::ScoreVision => "Score Vision",
    };
    eprintln!("  boxes        {} ({fmt}), {} in {} frames", a.boxes.display(), r.boxes, r.frames);
    eprintln!("  rules        {rules_name}");
    let list = |m: &std::collections::BTreeMap<String, u64>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    let rejected: u64 = r.rejected.values().sum();
    let invalid: u64 = r.invalid.values().sum();
    eprintln!("  kept         {}", r.kept);
    eprintln!("  rejected     {rejected}{}", if rejected > 0 { format!(" ({})", list(&r.rejected)) } else { String::new() });
    eprintln!("  invalid      {invalid}{}", if invalid > 0 { format!(" ({})", list(&r.invalid)) } else { String::new() });
    if r.clamped > 0 {
        eprintln!("  clamped      {} boxes reached outside the frame", r.clamped);
    }
    if r.frames_missing > 0 {
        eprintln!("  missing      {} frames with boxes are past the end of the video", r.frames_missing);
    }
    eprintln!("  frames       {} decoded, {} with boxes", r.frames_decoded, r.frames - r.frames_missing);
    eprintln!(
        "  ROIs         {} measured, {} tensors ({}x{}, {}), {:.0} ROIs/s{}",
        r.stats_rois,
        r.tensor_rois,
        r.roi_size,
        r.roi_size,
        r.roi_device,
        r.rois_per_s(),
        if r.roi_downloads > 0 { format!("; {} ROI batches downloaded for a CPU classifier", r.roi_downloads) } else { String::new() }
    );
    match &zero_shot {
        Some(z) => eprintln!("  classifier   {} on {}", r.classifier, z.zs.provider),
        None => eprintln!("  classifier   {}", r.classifier),
    }
    for n in &notes {
        eprintln!("  note         {n}");
    }
    if let Some(t) = r.teams {
        eprintln!("  colour       team 0 {}, team 1 {}, goalkeeper {}, referee {}, no jersey colour {}", t[0], t[1], t[2], t[3], t[4]);
    }
    let by_rules: u64 = r.rejected.iter().filter(|(k, _)| !k.starts_with("classifier:")).map(|(_, v)| v).sum();
    eprintln!(
        "  decided by   rules {by_rules} (rejected) | colour {} | classifier {} | classifier calls saved by colour {}{}",
        r.teams.map_or(0, |t| t[0] + t[1]),
        r.classified,
        r.colour_saved,
        if r.second_pass_frames > 0 { format!(" ({} frames decoded again for it)", r.second_pass_frames) } else { String::new() }
    );
    if let Some(z) = &zero_shot {
        let d: Vec<String> = z.decided.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!(
            "               {} ROIs in {} encoder calls; decided: {}",
            z.zs.rois,
            z.zs.calls,
            if d.is_empty() { "none".into() } else { d.join(", ") }
        );
    }
    eprintln!(
        "  time (s)     decode {:.3} | stats {:.3} | rules {:.3} | ROI tensors {:.3} | classifier {:.3} | output {:.3} | wall {:.3}",
        r.decode_s, r.stats_s, r.rules_s, r.roi_s, r.classify_s, r.sink_s, r.wall_s
    );
    eprintln!("  output       {}", out_name.display());
    outcome?;
    flushed?;
    Ok(ExitCode::SUCCESS)
}

fn calib(a: CalibArgs) -> anyhow::Result<ExitCode> {
    let m = Manifest::load(&resolve_model(&a.model))?;
    let frames = fovea::infer::calib::write_calibration_set(&m, &a.videos, a.frames, &a.out)?;
    eprintln!("fovea calib: {} frames from {} clips, preprocessed for {}, in {}", frames.len(), a.videos.len(), m.name, a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs `det` on one frame with `params`.
fn detect_frame(
    det: &mut Detector,
    f: &fovea::video::Frame,
    params: &fovea::detect::DecodeParams,
) -> anyhow::Result<Vec<fovea::detect::Detection>> {
    let tf = det.fill(0, &f.data, f.width, f.height, f.width as usize * 3)?;
    Ok(det.run(1, &[tf], params)?.0.remove(0))
}

fn compare(a: CompareArgs) -> anyhow::Result<ExitCode> {
    use fovea::detect::compare::{accumulate_tolerant, ClassAgreement};
    use std::collections::{BTreeMap, HashSet};
    let opts = DetectorOptions { threads: a.threads, batch: 1, ..DetectorOptions::default() };
    let mut rdet = Detector::load(&Manifest::load(&resolve_model(&a.reference))?, &opts)?;
    let mut cdet = Detector::load(&Manifest::load(&resolve_model(&a.candidate))?, &opts)?;
    anyhow::ensure!(rdet.manifest().input.channels == cdet.manifest().input.channels, "the two models take different channel orders");
    let rparams = rdet.default_params();
    let cparams = cdet.default_params();
    // Both run down to a low floor; operating thresholds are applied afterwards.
    let floor = 0.2f32.min(rparams.score_threshold).min(cparams.score_threshold);
    let rlow = fovea::detect::DecodeParams { score_threshold: floor, ..rparams.clone() };
    let clow = fovea::detect::DecodeParams { score_threshold: floor, ..cparams.clone() };
    let excluded: HashSet<(String, u64)> = match &a.exclude {
        Some(p) => {
            let v: Vec<fovea::infer::calib::CalibFrame> =
                serde_json::from_slice(&std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)?;
            v.into_iter().map(|f| (f.video, f.frame)).collect()
        }
        None => HashSet::new(),
    };
    let mut pairs: Vec<(Vec<fovea::detect::Detection>, Vec<fovea::detect::Detection>)> = Vec::new();
    for v in &a.videos {
        let name = v.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let fmt =
            fovea::video::OutputFormat { width: 0, height: 0, order: rdet.manifest().input.channels, fit: fovea::video::Fit::Stretch };
        let mut dec = fovea::video::Decoder::open(v, Sampling { stride: a.every, ..Sampling::default() }, fmt)?;
        let pool = fovea::video::FramePool::new(1);
        while let Some(f) = dec.next_frame(&pool)? {
            if excluded.contains(&(name.clone(), f.index)) {
                continue;
            }
            pairs.push((detect_frame(&mut rdet, &f, &rlow)?, detect_frame(&mut cdet, &f, &clow)?));
        }
    }
    let labels = rdet.manifest().labels.clone();
    let t_ref = rparams.score_threshold;
    // `tolerant`: object level (see accumulate_tolerant); otherwise both sides strictly at their
    // operating thresholds.
    let report_at = |t: f32, tolerant: bool| {
        let mut acc: BTreeMap<u32, ClassAgreement> = BTreeMap::new();
        let f = if tolerant { floor } else { 0.0 };
        for (r, c) in &pairs {
            let (r, c): (Vec<_>, Vec<_>) = if tolerant {
                (r.clone(), c.clone())
            } else {
                (r.iter().filter(|d| d.score >= t_ref).copied().collect(), c.iter().filter(|d| d.score >= t).copied().collect())
            };
            accumulate_tolerant(&mut acc, &r, &c, t_ref, t, f, a.iou);
        }
        acc
    };
    let total = |acc: &BTreeMap<u32, ClassAgreement>| acc.values().fold((0u64, 0u64), |s, c| (s.0 + c.reference, s.1 + c.candidate));
    let at_default = report_at(cparams.score_threshold, false);
    let tolerant_default = report_at(cparams.score_threshold, true);
    // Smallest threshold (0.01 steps) at which the candidate has no more boxes than the reference.
    let (ref_total, _) = total(&at_default);
    let restoring = (0..=80).map(|k| (20 + k) as f32 / 100.0).find(|&t| total(&report_at(t, false)).1 <= ref_total).unwrap_or(1.0);
    let at_restoring = report_at(restoring, false);
    let tolerant_restoring = report_at(restoring, true);
    eprintln!("fovea compare: {} frames (every {}, {} excluded), match at IoU >= {}", pairs.len(), a.every, excluded.len(), a.iou);
    eprintln!("  reference {} (threshold {}), candidate {}", rdet.manifest().name, rparams.score_threshold, cdet.manifest().name);
    let show = |title: String, acc: &BTreeMap<u32, ClassAgreement>| {
        eprintln!("  {title}");
        eprintln!(
            "    {:<14} {:>9} {:>9} {:>9} {:>8} {:>8} {:>11}",
            "class", "reference", "candidate", "matched", "recall", "extra", "score shift"
        );
        let mut rows: Vec<_> = acc.iter().filter(|(_, c)| c.reference > 0).collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.reference));
        for (cls, c) in rows.iter().take(8) {
            let name = labels.get(**cls as usize).map_or("?", |s| s.as_str());
            eprintln!(
                "    {name:<14} {:>9} {:>9} {:>9} {:>7.1}% {:>7.1}% {:>+11.3}",
                c.reference,
                c.candidate,
                c.matched,
                100.0 * c.recall(),
                100.0 * c.extra(),
                c.mean_score_shift()
            );
        }
    };
    let ct = cparams.score_threshold;
    show(format!("strict: both at their thresholds ({t_ref:.2} / {ct:.2}):"), &at_default);
    show(format!("object level: found at any score >= {floor:.2} (candidate threshold {ct:.2}):"), &tolerant_default);
    show(format!("strict, candidate at {restoring:.2} (lowest threshold with no more boxes than the reference):"), &at_restoring);
    show(format!("object level, candidate at {restoring:.2}:"), &tolerant_restoring);
    if let Some(p) = a.json {
        let j = |acc: &BTreeMap<u32, ClassAgreement>| -> serde_json::Value {
            acc.iter()
                .filter(|(_, c)| c.reference > 0 || c.candidate > 0)
                .map(|(cls, c)| {
                    let name = labels.get(*cls as usize).cloned().unwrap_or_default();
                    (
                        name,
                        serde_json::json!({"reference": c.reference, "candidate": c.candidate, "matched": c.matched,
                        "recall": c.recall(), "extra": c.extra(), "mean_score_shift": c.mean_score_shift()}),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let v = serde_json::json!({
            "frames": pairs.len(), "every": a.every, "excluded": excluded.len(), "iou": a.iou,
            "reference": rdet.manifest().name, "candidate": cdet.manifest().name,
            "floor": floor, "reference_threshold": t_ref, "candidate_threshold": cparams.score_threshold,
            "strict_at_candidate_threshold": j(&at_default), "object_level_at_candidate_threshold": j(&tolerant_default),
            "restoring_threshold": restoring, "strict_at_restoring_threshold": j(&at_restoring),
            "object_level_at_restoring_threshold": j(&tolerant_restoring),
        });
        std::fs::write(&p, serde_json::to_string_pretty(&v)? + "\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn track(a: TrackArgs) -> anyhow::Result<ExitCode> {
    let boxes = fovea::output::read::read_boxes(&a.boxes)?;
    let cfg = a.tracking.config()?.ok_or_else(|| anyhow::anyhow!("invalid option --no-track: `fovea track` always tracks"))?;
    let fps = a.fps.or(boxes.fps).unwrap_or(30.0);
    anyhow::ensure!(fps.is_finite() && fps > 0.0, "invalid option --fps: must be > 0, got {fps}");
    let (out, out_name) = open_output(&a.output)?;
    let mut sink: Box<dyn ResultSink> = match a.format {
        Format::Jsonl => Box::new(JsonlWriter::new(out, out_name.clone(), boxes.labels.clone())),
        Format::Scorevision => Box::new(ScoreVisionWriter::new(out, out_name.clone(), &boxes.labels, true)),
    };
    let start = Instant::now();
    let mut tracker = Tracker::new(cfg, fps);
    let (mut dets, mut tracked) = (0u64, 0u64);
    for mut f in boxes.frames {
        f.track_ids = tracker.update(f.index, &f.detections);
        dets += f.detections.len() as u64;
        tracked += f.track_ids.iter().filter(|t| t.is_some()).count() as u64;
        sink.write(&f)?;
    }
    sink.finish()?;
    let s = start.elapsed().as_secs_f64();
    eprintln!("fovea track: {} ({:?})", a.boxes.display(), boxes.format);
    eprintln!("  detections   {dets}, {tracked} in confirmed tracks");
    eprintln!("  tracking     ByteTrack per class at {fps:.2} fps, {} track ids issued", tracker.ids_issued());
    eprintln!("  time         {:.1} ms", s * 1000.0);
    eprintln!("  output       {}", out_name.display());
    Ok(ExitCode::SUCCESS)
}

fn expected_frames(info: &fovea::video::VideoInfo, s: &Sampling) -> Option<u64> {
    let fps = info.fps?;
    let total = info.duration.map(|d| d * fps).or(info.declared_frames.map(|n| n as f64))?;
    let span = (total - s.start * fps).max(0.0).min(s.duration.map_or(f64::MAX, |d| d * fps));
    let mut n = span / s.stride as f64;
    if let Some(m) = s.max_fps {
        n = n.min(span / fps * m);
    }
    Some(n.ceil() as u64)
}

/// A progress bar on a terminal, plain lines every few seconds otherwise.
struct ProgressOut {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    start: Instant,
    last_line: Instant,
    expected: Option<u64>,
}

impl ProgressOut {
    fn new(quiet: bool, expected: Option<u64>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (!quiet && tty).then(|| {
            let b = match expected {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::no_length(),
            };
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames  {per_sec}  ETA {eta}",
                )
                .expect("static template"),
            );
            b
        });
        Self { bar, plain: !quiet && !tty, start: Instant::now(), last_line: Instant::now(), expected }
    }

    fn update(&mut self, p: Progress) {
        if let Some(b) = &self.bar {
            b.set_position(p.processed);
        } else if self.plain && self.last_line.elapsed().as_secs_f64() >= 5.0 {
            self.last_line = Instant::now();
            let fps = p.processed as f64 / self.start.elapsed().as_secs_f64();
            let of = self.expected.map_or(String::new(), |n| format!("/{n}"));
            eprintln!("fovea: {}{of} frames processed (frame {}, {:.1} s), {fps:.1} FPS", p.processed, p.frame_index, p.pts);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn ms_per(s: f64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        s * 1000.0 / n as f64
    }
}

fn print_summary(r: &RunReport, why: &str, labels: &[String], out: &Path, format: Format) {
    let v = &r.video;
    let fps = v.fps.map_or("? fps".into(), |f| format!("{f:.2} fps"));
    eprintln!("fovea detect: {}", v.path.display());
    eprintln!("  input        {} {}x{} {fps}, {}", v.codec, v.width, v.height, v.container);
    eprintln!("  model        {} {why}", r.model);
    eprintln!("  runtime      {}, {} threads; {}", r.provider, r.threads, r.batch_note);
    eprintln!("  frames       {} decoded, {} processed", r.frames_decoded, r.frames_processed);
    let per: Vec<String> =
        r.per_class.iter().map(|(c, n)| format!("{} {n}", labels.get(*c as usize).map_or("?", |s| s.as_str()))).collect();
    eprintln!("  detections   {}{}", r.detections(), if per.is_empty() { String::new() } else { format!(" ({})", per.join(", ")) });
    let n = r.frames_processed;
    let t = &r.times;
    eprintln!(
        "  ms/frame     decode {:.2} | preprocess {:.2} | inference {:.2} | postprocess {:.2} | output {:.2}",
        ms_per(t.decode_s, n.max(1)),
        ms_per(t.preprocess_s, n),
        ms_per(t.inference_s, n),
        ms_per(t.postprocess_s, n),
        ms_per(t.output_s, n)
    );
    match r.tracks {
        Some(n) => eprintln!("  tracking     ByteTrack per class, {n} track ids issued"),
        None => eprintln!("  tracking     off"),
    }
    match r.reuse {
        Some(s) => {
            let total = (s.calls_made + s.calls_saved).max(1);
            let pct = 100.0 * s.calls_saved as f64 / total as f64;
            eprintln!("  classifier   {} objects classified, {} answered from their track ({pct:.0}% saved)", s.calls_made, s.calls_saved)
        }
        None => eprintln!("  classifier   none"),
    }
    eprintln!("  throughput   {:.1} FPS end to end ({:.2} s wall)", r.fps(), r.wall_s);
    let fmt = if format == Format::Jsonl { "jsonl" } else { "scorevision" };
    eprintln!("  output       {} ({fmt})", out.display());
}

/// Detector-only vs end-to-end on the same frames, model and threads, in one process. The two
/// are measured in alternating rounds (this machine's speed drifts) and medians are reported.
fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let (mut detector, why) = load_detector(&a.model)?;
    let params = detector.default_params();
    let spec = detector.manifest().input.clone();
    let mut rows = Vec::new();
    eprintln!(
        "fovea bench: {} {why} on {}, {} threads; {}; {} rounds, medians",
        detector.manifest().name,
        detector.provider(),
        detector.threads(),
        detector.batch_note(),
        a.rounds
    );
    for video in &a.videos {
        let info = fovea::video::probe(video)?;
        let fps = info.fps.unwrap_or(25.0);
        let sampling = Sampling { duration: Some((a.frames as f64 - 0.5) / fps), ..Sampling::default() };

        // Detector only: frames decoded and converted beforehand; resize/normalise + infer +
        // decode/NMS timed.
        let out = fovea::video::OutputFormat { width: 0, height: 0, order: spec.channels, fit: fovea::video::Fit::Stretch };
        let pool = fovea::video::FramePool::new(a.frames as usize + 1);
        let mut dec = fovea::video::Decoder::open(video, sampling, out)?;
        let mut frames = Vec::new();
        while let Some(f) = dec.next_frame(&pool)? {
            frames.push(f);
        }
        drop(dec);
        anyhow::ensure!(!frames.is_empty(), "{}: no frames", video.display());
        let n = frames.len() as u64;
        let b = detector.batch();
        let f0 = &frames[0];
        let tf = detector.fill(0, &f0.data, f0.width, f0.height, f0.width as usize * 3)?;
        detector.run(1, &[tf], &params)?; // warm-up
        let mut det_fps = Vec::new();
        let mut e2e_fps = Vec::new();
        let mut last = None;
        for _ in 0..a.rounds.max(1) {
            let t0 = Instant::now();
            for chunk in frames.chunks(b) {
                let tf = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, f)| detector.fill(i, &f.data, f.width, f.height, f.width as usize * 3))
                    .collect::<Result<Vec<_>, _>>()?;
                detector.run(chunk.len(), &tf, &params)?;
            }
            det_fps.push(n as f64 / t0.elapsed().as_secs_f64());

            // End to end: the whole pipeline from the file, results serialised as JSONL.
            let mut sink = JsonlWriter::new(Box::new(std::io::sink()), "null".into(), detector.manifest().labels.clone());
            let stages = pipeline::Stages::tracked();
            let (report, outcome) =
                pipeline::run_detect(video, &mut detector, &params, sampling, stages, &mut |r| sink.write(r), &mut |_| {})?;
            outcome?;
            e2e_fps.push(report.fps());
            last = Some(report);
        }
        let report = last.expect("at least one round");
        let (det, e2e) = (median(&mut det_fps), median(&mut e2e_fps));
        let t = &report.times;
        let m = report.frames_processed;
        eprintln!(
            "  {:<26} {n} frames  detector-only {det:6.1} FPS  end-to-end {e2e:6.1} FPS  ratio {:.2}  (last run, ms/frame: decode {:.2}, preprocess {:.2}, inference {:.2}, postprocess {:.2}, output {:.3})",
            video.file_name().map_or("?".into(), |f| f.to_string_lossy()),
            e2e / det,
            ms_per(t.decode_s, m),
            ms_per(t.preprocess_s, m),
            ms_per(t.inference_s, m),
            ms_per(t.postprocess_s, m),
            ms_per(t.output_s, m)
        );
        rows.push(serde_json::json!({
            "video": video.display().to_string(),
            "frames": n,
            "rounds": a.rounds,
            "detector_only_fps": det,
            "end_to_end_fps": e2e,
            "detector_only_fps_rounds": det_fps,
            "end_to_end_fps_rounds": e2e_fps,
            "ratio": e2e / det,
            "ms_per_frame": {
                "decode": ms_per(t.decode_s, m), "preprocess": ms_per(t.preprocess_s, m),
                "inference": ms_per(t.inference_s, m), "postprocess": ms_per(t.postprocess_s, m),
                "output": ms_per(t.output_s, m)
            },
            "threads": detector.threads(),
            "provider": detector.provider(),
            "model": detector.manifest().name,
        }));
    }
    if let Some(p) = a.json {
        std::fs::write(&p, serde_json::to_string_pretty(&rows)?).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
