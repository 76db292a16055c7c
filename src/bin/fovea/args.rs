//! Command-line arguments of every command (clap).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use fovea::video::Sampling;

use fovea::track::TrackerConfig;

use crate::model::{FP32_MODEL, INT8_MODEL};

#[derive(Subcommand)]
pub(crate) enum EnginesCommand {
    /// Build and cache a TensorRT engine for a model (takes minutes; progress is shown), verify
    /// it with one inference, and write `<name>.<precision>.b<batch>.ctx.onnx` beside the
    /// manifest, which later runs load instead of rebuilding.
    Build(EnginesBuildArgs),
}

#[derive(Args)]
pub(crate) struct EnginesBuildArgs {
    /// The model's (fp32) manifest.
    #[arg(long, default_value = FP32_MODEL)]
    pub(crate) model: PathBuf,
    /// FP16 engine (the default).
    #[arg(long, conflicts_with = "int8")]
    pub(crate) fp16: bool,
    /// INT8 engine, with the calibration table of --calib or the manifest's [tensorrt] table.
    #[arg(long)]
    pub(crate) int8: bool,
    /// FP32 engine.
    #[arg(long, conflicts_with_all = ["int8", "fp16"])]
    pub(crate) fp32: bool,
    /// Calibration table file, or a folder holding `<model name>.calibration.flatbuffers|cache`.
    #[arg(long, requires = "int8")]
    pub(crate) calib: Option<PathBuf>,
    /// Largest batch the engine takes (dynamic-batch models).
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    /// The GPU: `cuda` or `cuda:N`.
    #[arg(long, default_value = "cuda:0")]
    pub(crate) device: String,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The video the boxes were made on.
    pub(crate) video: PathBuf,
    /// Boxes: a Score Vision miner file or fovea JSONL.
    #[arg(long)]
    pub(crate) boxes: PathBuf,
    /// Results (one JSON object per box); `-` writes to stdout.
    #[arg(short, long, default_value = "-")]
    pub(crate) output: PathBuf,
    /// Rule file (TOML); default: the built-in filter/scorevision.toml.
    #[arg(long)]
    pub(crate) rules: Option<PathBuf>,
    /// Do not make ROI tensors for the kept boxes (no classifier reads them yet).
    #[arg(long)]
    pub(crate) no_roi_tensors: bool,
    /// ROIs per batch.
    #[arg(long, default_value_t = fovea::pipeline::DEFAULT_BATCH_ROIS)]
    pub(crate) batch_rois: usize,
    /// Assign colour teams to people (jersey colours clustered per clip; output `team` 0/1, and
    /// goalkeeper/referee from colour); results are written when the clip is done.
    #[arg(long)]
    pub(crate) teams: bool,
    #[command(flatten)]
    pub(crate) classify: ClassifierArgs,
    #[command(flatten)]
    pub(crate) annotate: AnnotateArgs,
}

/// The classifier slot of the verify chain and where it runs (`fovea verify`, `fovea score`).
#[derive(Args)]
pub(crate) struct ClassifierArgs {
    /// Zero-shot classifier after the rules: an image-encoder manifest (TOML) with its text table
    /// (`fovea score` without one: the box score is an upper bound, every kept box confirmed).
    #[arg(long)]
    pub(crate) classifier: Option<PathBuf>,
    /// Classification policy (TOML); default: the built-in classify/scorevision.toml.
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// ONNX Runtime threads for the classifier (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Where the colour statistics, ROI tensors (and score's line kernel) are made: `cpu` or
    /// `cuda[:N]` (default: cpu, or cuda:0 with a GPU provider).
    #[arg(long)]
    pub(crate) device: Option<String>,
    /// The classifier's execution provider: `cpu`, `cuda` or `tensorrt` (default: cpu, or
    /// tensorrt with --device cuda).
    #[arg(long)]
    pub(crate) provider: Option<String>,
    /// Run on the CPU what cannot run where asked (otherwise an error); the summary says what ran.
    #[arg(long)]
    pub(crate) allow_fallback: bool,
}

#[derive(Args)]
pub(crate) struct KernelsArgs {
    /// Output folder: <module>.cu (self-contained source) and <module>.ptx when built.
    pub(crate) out: PathBuf,
}

#[derive(Args)]
pub(crate) struct CalibArgs {
    /// Clips to sample.
    #[arg(required = true)]
    pub(crate) videos: Vec<PathBuf>,
    /// Model manifest whose preprocessing the set follows.
    #[arg(long, default_value = FP32_MODEL)]
    pub(crate) model: PathBuf,
    /// Frames per clip, evenly spaced.
    #[arg(long, default_value_t = 20)]
    pub(crate) frames: u64,
    /// Output folder (NNNN.npy + frames.json).
    #[arg(short, long)]
    pub(crate) out: PathBuf,
}

#[derive(Args)]
pub(crate) struct CompareArgs {
    /// Clips to compare on.
    #[arg(required = true)]
    pub(crate) videos: Vec<PathBuf>,
    /// Reference model manifest.
    #[arg(long, default_value = FP32_MODEL)]
    pub(crate) reference: PathBuf,
    /// Candidate model manifest.
    #[arg(long, default_value = INT8_MODEL)]
    pub(crate) candidate: PathBuf,
    /// Compare every K-th frame.
    #[arg(long, default_value_t = 5)]
    pub(crate) every: u32,
    /// frames.json of a calibration set: those frames are left out (held-out evaluation).
    #[arg(long)]
    pub(crate) exclude: Option<PathBuf>,
    /// Minimum IoU of a match.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) iou: f32,
    /// ONNX Runtime threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Write the report as JSON too.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum Format {
    /// One JSON object per processed frame.
    Jsonl,
    /// Score Vision miner JSON: {"frames": {"<n>": {"objects": [...]}}}.
    Scorevision,
}

impl From<Format> for fovea::output::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::Jsonl => Self::Jsonl,
            Format::Scorevision => Self::Scorevision,
        }
    }
}

#[derive(Args)]
pub(crate) struct ModelArgs {
    /// Model manifest (TOML). Default: NanoDet-g INT8 on CPUs with VNNI, fp32 otherwise
    /// (`--model engines/nanodet-g-416.toml` forces fp32).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Inference threads in all (0: one per core), shared out among the workers.
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Inference workers: model instances that run parts of a batch at once (0: automatic, one
    /// per thread up to 4; measured on 2 cores: 2 workers x 1 thread beat 1 x 2 by 1.3-1.5x).
    #[arg(long, default_value_t = 0)]
    pub(crate) workers: usize,
    /// Inference runtime on the CPU: onnxruntime or openvino (default: the model manifest's; with
    /// no --model, the default model for that runtime).
    #[arg(long)]
    pub(crate) runtime: Option<String>,
    /// Frames per inference call, when the model's batch dimension allows it.
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    /// Where frames and kernels go: `cpu` or `cuda[:N]` (default: cpu, or cuda:0 with a GPU
    /// provider).
    #[arg(long)]
    pub(crate) device: Option<String>,
    /// ONNX Runtime execution provider: `cpu`, `cuda` or `tensorrt` (default: cpu, or tensorrt
    /// with --device cuda).
    #[arg(long)]
    pub(crate) provider: Option<String>,
    /// TensorRT precision: fp32, fp16 or int8 (int8: the manifest's calibration table or --calib).
    #[arg(long, default_value = "fp16")]
    pub(crate) precision: String,
    /// INT8 calibration table (file, or folder with `<model name>.calibration.*`).
    #[arg(long)]
    pub(crate) calib: Option<PathBuf>,
    /// Run on the CPU when the requested device or provider cannot be had (otherwise an error);
    /// the summary says what ran.
    #[arg(long)]
    pub(crate) allow_fallback: bool,
}

#[derive(Args)]
pub(crate) struct SamplingArgs {
    /// Process every K-th frame.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub(crate) stride: u32,
    /// Process at most F frames per second of video.
    #[arg(long, value_name = "F")]
    pub(crate) max_fps: Option<f64>,
    /// Start at S seconds.
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    pub(crate) start: f64,
    /// Process D seconds of video.
    #[arg(long, value_name = "D")]
    pub(crate) duration: Option<f64>,
    /// Only the stream's key frames (I-frames): decoded alone where the container numbers its
    /// frames; --stride and --max-fps then count key frames.
    #[arg(long)]
    pub(crate) iframes: bool,
}

impl SamplingArgs {
    pub(crate) fn sampling(&self) -> Sampling {
        Sampling { stride: self.stride, max_fps: self.max_fps, start: self.start, duration: self.duration, iframes: self.iframes }
    }
}

#[derive(Args)]
pub(crate) struct DetectArgs {
    /// Video or image file (anything FFmpeg reads).
    pub(crate) video: PathBuf,
    /// Results file; `-` writes to stdout.
    #[arg(short, long, default_value = "-")]
    pub(crate) output: PathBuf,
    /// Results format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub(crate) format: Format,
    /// An engine configuration (TOML, the one `fovea_engine_create_from_file`, Python's
    /// `Engine(path=...)` and Go's `NewEngine` take): model, provider, thresholds, `[tracking]`,
    /// `[classifier]`. It replaces the model, threshold, tracking and classifier options, and
    /// the run goes through the same engine as the C ABI's file call.
    #[arg(long, conflicts_with_all = ["model", "score", "nms_iou", "classes", "classifier", "policy", "teams", "provider", "device", "no_track", "track_thresh", "new_track_thresh", "match_thresh", "track_buffer", "allow_fallback", "calib"])]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    /// Score threshold (default: the manifest's).
    #[arg(long)]
    pub(crate) score: Option<f32>,
    /// NMS IoU threshold (default: the manifest's).
    #[arg(long)]
    pub(crate) nms_iou: Option<f32>,
    /// Keep only these classes, e.g. `person,sports_ball`.
    #[arg(long, value_delimiter = ',')]
    pub(crate) classes: Option<Vec<String>>,
    #[command(flatten)]
    pub(crate) tracking: TrackingArgs,
    /// Zero-shot classifier for the detections (an image-encoder manifest with its text table),
    /// run through the per-track reuse cache.
    #[arg(long)]
    pub(crate) classifier: Option<PathBuf>,
    /// Classification policy (TOML); default: the built-in classify/scorevision.toml.
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Colour teams for people (jersey colours clustered over the whole clip; `team` 0/1 in the
    /// JSONL, goalkeeper/referee labels); results are written when the clip is done.
    #[arg(long)]
    pub(crate) teams: bool,
    /// Tiled detection for small objects: `all` (the frame in overlapping tiles at the model's
    /// input size, besides the whole-frame pass) or `ball` (one tile around the last ball).
    #[arg(long)]
    pub(crate) tiles: Option<String>,
    /// The detector on every (N + 1)th frame only; ByteTrack predicts the boxes of the frames
    /// between (marked `"predicted": true`). Needs tracking. Default 0: every frame.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) interval: u32,
    #[command(flatten)]
    pub(crate) pitch: PitchArgs,
    /// No progress bar or progress lines.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) annotate: AnnotateArgs,
    /// When the job began, for a Score Vision response's `processing_time` (`fovea mine`).
    #[arg(skip)]
    pub(crate) started: Option<std::time::Instant>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
pub(crate) enum PitchArg {
    /// The pitch template registered to each frame's white lines, tracked between frames.
    Lines,
    /// A keypoint model's keypoints (`--pitch-model`), the lines carrying them between its frames.
    Model,
    /// No pitch keypoints.
    Off,
}

#[derive(Args, Clone, Debug, Default)]
pub(crate) struct PitchArgs {
    /// Pitch keypoints per frame (Score Vision's 32, `[0, 0]` where not seen): `lines` registers
    /// the pitch template to the frame's white lines (no keypoint model needed); `model` runs
    /// `--pitch-model`; `off`. Default: `model` with `--pitch-model`, else off for detect and
    /// lines for `fovea mine`.
    #[arg(long, value_enum)]
    pub(crate) pitch: Option<PitchArg>,
    /// A pitch keypoint model's manifest (an Ultralytics pose model with `[keypoints] template =
    /// "soccer-pitch-32"`).
    #[arg(long, value_name = "MANIFEST")]
    pub(crate) pitch_model: Option<PathBuf>,
    /// Run the pitch keypoint model on every Nth frame only; the white lines' motion carries its
    /// homography to the frames between (and a cut runs it at once). Default 1.
    #[arg(long, value_name = "N")]
    pub(crate) pitch_every: Option<u32>,
}

impl PitchArgs {
    /// These flags as an engine configuration's `[pitch]` (`default` when no mode is given),
    /// checked as the chain's stage; None: no pitch stage.
    pub(crate) fn section(&self, default: Option<fovea::engine::PitchMode>) -> anyhow::Result<Option<fovea::engine::PitchSection>> {
        use fovea::engine::PitchMode;
        let mode = match (self.pitch, &self.pitch_model) {
            (Some(PitchArg::Off), _) => None,
            (Some(PitchArg::Lines), _) => Some(PitchMode::Lines),
            (Some(PitchArg::Model), _) | (None, Some(_)) => Some(PitchMode::Model),
            (None, None) => default,
        };
        let Some(mode) = mode else {
            anyhow::ensure!(self.pitch_model.is_none() && self.pitch_every.is_none(), "--pitch-model and --pitch-every need a pitch stage");
            return Ok(None);
        };
        let section = fovea::engine::PitchSection { mode, model: self.pitch_model.clone(), every: self.pitch_every, confidence: None };
        section.stage().map_err(|e| match mode {
            PitchMode::Lines => anyhow::anyhow!("--pitch lines takes no --pitch-model or --pitch-every"),
            PitchMode::Model if self.pitch_model.is_none() => anyhow::anyhow!("--pitch model needs --pitch-model MANIFEST"),
            PitchMode::Model => e.into(),
        })?;
        Ok(Some(section))
    }

    /// Whether any of these flags was given.
    pub(crate) fn given(&self) -> bool {
        self.pitch.is_some() || self.pitch_model.is_some() || self.pitch_every.is_some()
    }
}

#[derive(Args)]
pub(crate) struct AnnotateArgs {
    /// Also write the video with the results drawn on it (same size and frame rate): boxes in a
    /// colour per track (per team with --teams), label, score and track id; boxes a rule rejected
    /// dashed grey with the rule's name; a header with the model and rate. Drawn and encoded on
    /// its own thread.
    #[arg(long, value_name = "OUT.mp4")]
    pub(crate) annotate: Option<PathBuf>,
    /// Codec of --annotate: auto (H.264 when this FFmpeg has an encoder, else MPEG-4 Part 2),
    /// h264 or mpeg4.
    #[arg(long, default_value = "auto", value_name = "CODEC")]
    pub(crate) annotate_codec: String,
    /// Write the annotated frames as PNG files (frame_NNNNNN.png) into DIR instead of a video.
    #[arg(long, value_name = "DIR", conflicts_with = "annotate")]
    pub(crate) annotate_frames: Option<PathBuf>,
}

impl AnnotateArgs {
    /// The annotator for `video` (read again with `sampling`), when asked for.
    pub(crate) fn start(
        &self,
        video: &std::path::Path,
        sampling: fovea::video::Sampling,
        labels: &[String],
        model: &str,
    ) -> anyhow::Result<Option<fovea::annotate::Annotator>> {
        self.start_with(video, sampling, labels, model, None)
    }

    /// As [`AnnotateArgs::start`]; with `fed` (the video's frame rate after sampling), an
    /// annotator the pipeline hands its decoded frames to (no second decode).
    pub(crate) fn start_with(
        &self,
        video: &std::path::Path,
        sampling: fovea::video::Sampling,
        labels: &[String],
        model: &str,
        fed: Option<f64>,
    ) -> anyhow::Result<Option<fovea::annotate::Annotator>> {
        use fovea::annotate::{Annotator, Style, Target};
        let codec: fovea::annotate::VideoCodec = self.annotate_codec.parse()?;
        let target = match (&self.annotate, &self.annotate_frames) {
            (Some(path), _) => Target::Video { path: path.clone(), codec },
            (None, Some(dir)) => Target::Frames { dir: dir.clone() },
            (None, None) => return Ok(None),
        };
        let style = Style { labels: labels.to_vec(), model: model.to_string() };
        Ok(Some(match fed {
            Some(fps) => Annotator::spawn_fed(target, style, fps)?,
            None => Annotator::spawn(video, sampling, target, style)?,
        }))
    }
}

/// Waits for the annotator and prints its summary line.
pub(crate) fn finish_annotator(a: Option<fovea::annotate::Annotator>, target: &AnnotateArgs) -> anyhow::Result<()> {
    let Some(a) = a else { return Ok(()) };
    let r = a.finish()?;
    let to = target.annotate.as_ref().or(target.annotate_frames.as_ref()).map(|p| p.display().to_string()).unwrap_or_default();
    eprintln!(
        "  annotated    {to}: {} frames ({} with results), {}x{}, {}, {:.2} s on its own thread",
        r.frames, r.annotated, r.width, r.height, r.codec, r.busy_s
    );
    Ok(())
}

#[derive(Args)]
pub(crate) struct TrackingArgs {
    /// Do not track (no track ids).
    #[arg(long)]
    pub(crate) no_track: bool,
    /// ByteTrack: detections at or above this score are matched first (default: the model
    /// manifest's `[tracking]`, else 0.5).
    #[arg(long)]
    pub(crate) track_thresh: Option<f32>,
    /// ByteTrack: new tracks start at or above this score (default: track threshold + 0.1).
    #[arg(long)]
    pub(crate) new_track_thresh: Option<f32>,
    /// ByteTrack: maximum first-stage matching cost (1 - IoU x score; default 0.8).
    #[arg(long)]
    pub(crate) match_thresh: Option<f32>,
    /// ByteTrack: lost tracks are kept this many frames at 30 fps (a time budget; default 30).
    #[arg(long)]
    pub(crate) track_buffer: Option<u32>,
}

impl TrackingArgs {
    /// These options as an engine configuration's `[tracking]`.
    pub(crate) fn section(&self) -> fovea::engine::TrackingConfig {
        fovea::engine::TrackingConfig {
            enabled: !self.no_track,
            track_thresh: self.track_thresh,
            new_track_thresh: self.new_track_thresh,
            match_thresh: self.match_thresh,
            track_buffer: self.track_buffer,
        }
    }

    /// The tracker's settings: these options over `base` (the model manifest's), or None.
    pub(crate) fn config(&self, base: &TrackerConfig) -> anyhow::Result<Option<TrackerConfig>> {
        self.section()
            .resolve(base)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().replace("option tracking.", "option --").replace('_', "-")))
    }
}

#[derive(Args)]
pub(crate) struct TrackArgs {
    /// Boxes: fovea JSONL (uses `score` and `class_id`) or a Score Vision miner file.
    #[arg(long)]
    pub(crate) boxes: PathBuf,
    /// Results file; `-` writes to stdout.
    #[arg(short, long, default_value = "-")]
    pub(crate) output: PathBuf,
    /// Results format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub(crate) format: Format,
    /// Frame rate of the video the boxes came from (default: from the file's pts, else 30).
    #[arg(long)]
    pub(crate) fps: Option<f64>,
    /// The detector's manifest, whose `[tracking]` thresholds fit its scores (default: the model
    /// `fovea detect` uses by default); the options below override it.
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) tracking: TrackingArgs,
    /// Track only the boxes of every (N + 1)th frame of the file and predict the frames between
    /// (marked `"predicted": true`), as `fovea detect --interval N` would: what a detector interval
    /// costs the tracking, given these boxes. Default 0: every frame.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) interval: u32,
    /// The video the boxes came from (what --annotate draws on; its frame rate is the default
    /// --fps).
    #[arg(long)]
    pub(crate) video: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) annotate: AnnotateArgs,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Videos to measure.
    #[arg(required = true)]
    pub(crate) videos: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Frames per video (from the start).
    #[arg(long, default_value_t = 300)]
    pub(crate) frames: u64,
    /// Alternating detector-only / end-to-end rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    /// Write the figures as JSON to this file too.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct KeyframesArgs {
    /// Video file (anything FFmpeg reads).
    pub(crate) video: PathBuf,
    /// Output folder: the key frames, keyframes.json and contact_sheet.png (made if missing).
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    /// At most K key frames (default: one per shot; more than the shots takes further frames of
    /// the best shots).
    #[arg(long, value_name = "K")]
    pub(crate) max: Option<usize>,
    /// Chosen frames are at least S seconds apart.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub(crate) min_gap: f64,
    /// Key-frame policy (TOML); default: the built-in filter/keyframes.toml.
    #[arg(long, value_name = "P.toml")]
    pub(crate) policy: Option<PathBuf>,
    /// Image encoder manifest: near-duplicates by the cosine of its embeddings (default: by the
    /// difference hash).
    #[arg(long, value_name = "E.toml")]
    pub(crate) encoder: Option<PathBuf>,
    /// Key-frame image format: jpg or png.
    #[arg(long, default_value = "jpg")]
    pub(crate) image_format: String,
    /// No progress bar or progress lines.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// The detector (stage 2); with `--device cuda[:N]` the quality kernel runs on that GPU too.
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    /// Detector score threshold (default: the manifest's).
    #[arg(long)]
    pub(crate) score: Option<f32>,
    #[command(flatten)]
    pub(crate) annotate: AnnotateArgs,
}
