//! The embeddable API: an [`Engine`] built once from a configuration (model, thresholds,
//! provider, tracking), shared by any number of [`Stream`]s, one per video, fed frame by frame
//! from the caller's memory. The C ABI (`src/ffi`) and its clients wrap exactly this.
//!
//! ```text
//! Engine (Arc, shared, thread-safe) ◀── Stream (per video: tracker, scratch, results queue)
//!   model + manifest + thresholds          send_frame(RGB24 | BGR24 | NV12) ─▶ preprocess ─▶ detect (engine lock)
//!                                          ─▶ track ─▶ queue ─▶ receive()
//! ```
//! A stream is used by one thread at a time (`&mut self`); different streams of one engine may
//! run on different threads at once: preprocessing and tracking run in parallel, inference calls
//! take turns on the engine's model (ONNX Runtime uses its own threads within each call).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::detect::DecodeParams;
use crate::error::{Error, Result};
use crate::image::ChannelOrder;
use crate::image::FrameView;
use crate::infer::manifest::{Manifest, Precision};
use crate::infer::preprocess::Preprocessor;
use crate::infer::provider::{ProviderKind, Selection, TrtBuild};
use crate::infer::{Detector, DetectorOptions};
use crate::pipeline::{self, FrameResult, FrameStages, Stages};
use crate::track::TrackerConfig;
use crate::video::Sampling;

/// Tracking settings of an engine configuration; thresholds not given are the model manifest's
/// (`[tracking]`), else ByteTrack's reference values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    pub enabled: bool,
    pub track_thresh: Option<f32>,
    /// Default: `track_thresh + 0.1`.
    pub new_track_thresh: Option<f32>,
    pub match_thresh: Option<f32>,
    pub track_buffer: Option<u32>,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self { enabled: true, track_thresh: None, new_track_thresh: None, match_thresh: None, track_buffer: None }
    }
}

impl TrackingConfig {
    /// The tracker's settings over `base` (the model's), or None when tracking is off. Values out
    /// of range are an [`Error::InvalidOption`] naming the key.
    pub fn resolve(&self, base: &TrackerConfig) -> Result<Option<TrackerConfig>> {
        if !self.enabled {
            return Ok(None);
        }
        let track_thresh = self.track_thresh.unwrap_or(base.track_thresh);
        // An explicit track threshold moves the new-track threshold with it, as in ByteTrack.
        let new_track_thresh =
            self.new_track_thresh.unwrap_or(if self.track_thresh.is_some() { track_thresh + 0.1 } else { base.new_track_thresh });
        let c = TrackerConfig {
            track_thresh,
            new_track_thresh,
            match_thresh: self.match_thresh.unwrap_or(base.match_thresh),
            track_buffer: self.track_buffer.unwrap_or(base.track_buffer),
            ..*base
        };
        for (option, v, max) in [
            ("tracking.track_thresh", c.track_thresh, 1.0),
            ("tracking.new_track_thresh", c.new_track_thresh, 1.1),
            ("tracking.match_thresh", c.match_thresh, 1.0),
        ] {
            if !(0.0..=max).contains(&v) {
                return Err(Error::InvalidOption { option, reason: format!("must be within 0..{max}, got {v}") });
            }
        }
        Ok(Some(c))
    }
}

/// Classifier settings: `kind = "none"` (default) or `"zeroshot"`, which labels every detection
/// the policy covers with a zero-shot image encoder (its manifest in `encoder`) through the
/// per-track reuse cache, as `fovea detect --classifier` does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierConfig {
    pub kind: String,
    /// The encoder's manifest (`kind = "zeroshot"`); relative to the configuration's folder.
    pub encoder: Option<PathBuf>,
    /// The policy (default: the validator's, classify/scorevision.toml); relative likewise.
    pub policy: Option<PathBuf>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self { kind: "none".into(), encoder: None, policy: None }
    }
}

/// An engine configuration (TOML):
///
/// ```toml
/// model = "engines/nanodet-g-416.toml"   # a model manifest; relative to the config file's folder
/// provider = "cpu"                       # cpu | cuda | tensorrt (the GPU ones need the `cuda` feature)
/// device = "cuda:0"                      # optional: cpu | cuda[:N] (a GPU provider alone means cuda:0)
/// precision = "fp16"                     # TensorRT: fp32 | fp16 | int8 (int8: the manifest's table)
/// allow_fallback = false                 # if the provider cannot be had: error (false) or CPU (true)
/// threads = 0                            # ONNX Runtime threads, 0: one per core
/// score = 0.35                           # optional, default: the manifest's
/// nms_iou = 0.6                          # optional
/// classes = ["person", "sports_ball"]    # optional
/// [tracking]
/// enabled = true
/// [classifier]
/// kind = "none"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub model: PathBuf,
    #[serde(default = "cpu")]
    pub provider: String,
    pub device: Option<String>,
    pub precision: Option<String>,
    #[serde(default)]
    pub allow_fallback: bool,
    #[serde(default)]
    pub threads: usize,
    pub score: Option<f32>,
    pub nms_iou: Option<f32>,
    pub classes: Option<Vec<String>>,
    #[serde(default)]
    pub tracking: TrackingConfig,
    #[serde(default)]
    pub classifier: ClassifierConfig,
}

fn cpu() -> String {
    "cpu".into()
}

impl EngineConfig {
    /// Parses configuration text; relative paths are taken from `base` (a folder).
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let origin = base.join("<config>");
        let mut c: EngineConfig = toml::from_str(text).map_err(|e| Error::Manifest { path: origin.clone(), reason: e.to_string() })?;
        if c.model.is_relative() {
            c.model = base.join(&c.model);
        }
        for p in [c.classifier.encoder.as_mut(), c.classifier.policy.as_mut()].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// Reads a configuration file; relative paths are taken from its folder.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::error::read_config(path)?;
        Self::parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(|e| match e {
            Error::Manifest { reason, .. } => Error::Manifest { path: path.to_path_buf(), reason },
            e => e,
        })
    }
}

/// A loaded model with its settings, shared by streams (`Arc<Engine>`).
pub struct Engine {
    detector: Mutex<Detector>,
    params: DecodeParams,
    tracking: Option<TrackerConfig>,
    labels: Vec<String>,
    order: ChannelOrder,
    manifest: Manifest,
    provider: String,
    /// The detector resizes frames on the GPU (streams then skip their CPU preprocessing).
    device_preprocessing: bool,
    /// The object classifier (`[classifier] kind = "zeroshot"`), shared by the streams.
    classifier: Option<Arc<Mutex<crate::classify::ZeroShotClassifier>>>,
    /// The last file call's report.
    last_report: Mutex<Option<pipeline::RunReport>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("model", &self.manifest.name).field("provider", &self.provider).finish()
    }
}

impl Engine {
    pub fn new(config: &EngineConfig) -> Result<Arc<Self>> {
        let selection = Selection::resolve(
            config.device.as_deref().map(str::parse).transpose()?,
            Some(config.provider.parse::<ProviderKind>()?),
            config.allow_fallback,
        )?;
        // What cannot be had says how to go on; the build is checked before any model loads.
        let hint = |e: Error| match e {
            Error::Unsupported { what, reason } => {
                Error::Unsupported { what, reason: format!("{reason}; set allow_fallback = true to run on the CPU instead") }
            }
            Error::RuntimeMissing { reason } if selection.is_gpu() => {
                Error::RuntimeMissing { reason: format!("{reason}; set allow_fallback = true to run on the CPU instead") }
            }
            e => e,
        };
        if !selection.allow_fallback {
            crate::infer::check_build(&selection).map_err(hint)?;
        }
        let precision = match config.precision.as_deref() {
            None | Some("fp16") => Precision::Fp16,
            Some("fp32") => Precision::Fp32,
            Some("int8") => Precision::Int8,
            Some(p) => return Err(Error::InvalidOption { option: "precision", reason: format!("expected fp32, fp16 or int8, got '{p}'") }),
        };
        let c = &config.classifier;
        match (c.kind.as_str(), &c.encoder) {
            ("none", None) | ("zeroshot", Some(_)) => {}
            ("none", Some(_)) => {
                return Err(Error::InvalidOption {
                    option: "classifier.encoder",
                    reason: "given with kind = \"none\": set kind = \"zeroshot\"".into(),
                })
            }
            ("zeroshot", None) => {
                return Err(Error::InvalidOption {
                    option: "classifier.encoder",
                    reason: "kind = \"zeroshot\" needs an encoder manifest".into(),
                })
            }
            (k, _) => {
                return Err(Error::InvalidOption {
                    option: "classifier.kind",
                    reason: format!("unknown classifier '{k}' (expected none or zeroshot)"),
                })
            }
        }
        let manifest = Manifest::load(&config.model)?;
        let opts = DetectorOptions { threads: config.threads, batch: 1, selection, trt: TrtBuild { precision, ..TrtBuild::default() } };
        let detector = Detector::load(&manifest, &opts).map_err(hint)?;
        let provider = detector.provider().to_string();
        let params = pipeline::decode_params(&detector, config.score, config.nms_iou, config.classes.as_deref())?;
        let tracking = config.tracking.resolve(&manifest.tracking)?;
        // One encoder thread: the detector's ONNX Runtime threads already use the cores.
        let classifier = match &config.classifier.encoder {
            Some(enc) => Some(Arc::new(Mutex::new(crate::classify::object_classifier(enc, config.classifier.policy.as_deref(), 1)?))),
            None => None,
        };
        Ok(Arc::new(Self {
            last_report: Mutex::new(None),
            classifier,
            labels: manifest.labels.clone(),
            order: manifest.input.channels,
            params,
            tracking,
            device_preprocessing: detector.device_preprocessing(),
            detector: Mutex::new(detector),
            manifest,
            provider,
        }))
    }

    /// Class names, index = class id.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The execution provider the model really runs on.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Processes a whole file, calling `sink` per frame in decode order (the CLI's pipeline).
    pub fn process_file(
        &self,
        path: &Path,
        sampling: Sampling,
        sink: &mut dyn FnMut(&FrameResult) -> Result<()>,
    ) -> Result<pipeline::RunReport> {
        let mut det = self.detector.lock().map_err(|_| Error::Pipeline("the engine's model is poisoned by an earlier panic".into()))?;
        let mut classifier = match &self.classifier {
            Some(c) => Some(c.lock().map_err(|_| Error::Pipeline("the engine's classifier is poisoned by an earlier panic".into()))?),
            None => None,
        };
        let stages = Stages {
            tracking: self.tracking,
            classifier: classifier.as_deref_mut().map(|c| c as &mut dyn crate::classify::Classifier),
            ..Default::default()
        };
        let run = pipeline::run_detect(path, &mut det, &self.params, sampling, stages, sink, &mut |_| {});
        let mut last =
            self.last_report.lock().map_err(|_| Error::Pipeline("the engine's report is poisoned by an earlier panic".into()))?;
        match run {
            Ok((report, outcome)) => {
                *last = Some(report.clone());
                outcome.map(|_| report)
            }
            Err(e) => {
                *last = None; // the input could not be opened: no report
                Err(e)
            }
        }
    }

    /// The report of the last file call (also when it stopped early or failed after opening its
    /// input; None when its input could not be opened), as JSON (see [`pipeline::RunReport::to_json`]).
    pub fn last_report(&self) -> Option<serde_json::Value> {
        self.last_report.lock().ok()?.as_ref().map(|r| r.to_json(&self.labels))
    }
}

/// Pixel layout of a frame handed to [`Stream::send_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 8-bit R, G, B.
    Rgb24,
    /// Packed 8-bit B, G, R.
    Bgr24,
    /// 8-bit Y plane (`height` rows of `stride` bytes) followed by the interleaved U/V plane
    /// (`height / 2` rows of `stride` bytes); BT.601, limited range, as FFmpeg converts it.
    Nv12,
}

/// A frame in the caller's memory.
#[derive(Debug, Clone, Copy)]
pub struct FrameIn<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    /// Bytes per row (of the Y plane for NV12).
    pub stride: usize,
    pub format: PixelFormat,
    /// Presentation time in seconds.
    pub pts: f64,
}

impl FrameIn<'_> {
    /// Checks sizes; a wrong one is [`Error::InvalidOption`] naming what and what was expected.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::InvalidOption { option: "frame", reason });
        if self.width == 0 || self.height == 0 || self.width > 16384 || self.height > 16384 {
            return bad(format!("size {}x{} (expected 1..16384 on both sides)", self.width, self.height));
        }
        let row = match self.format {
            PixelFormat::Rgb24 | PixelFormat::Bgr24 => self.width as usize * 3,
            PixelFormat::Nv12 => self.width as usize,
        };
        if self.stride < row {
            return bad(format!("row stride {} < {row} bytes for width {} ({:?})", self.stride, self.width, self.format));
        }
        if self.format == PixelFormat::Nv12 && (self.width % 2 != 0 || self.height % 2 != 0) {
            return bad(format!("NV12 needs even width and height, got {}x{}", self.width, self.height));
        }
        let rows = match self.format {
            PixelFormat::Nv12 => self.height as usize + self.height as usize / 2,
            _ => self.height as usize,
        };
        // Checked: a stride near usize::MAX must be an error, not a wrapped size.
        let Some(need) = (rows - 1).checked_mul(self.stride).and_then(|n| n.checked_add(row)) else {
            return bad(format!(
                "row stride {} is too large: {rows} rows of it exceed the address space ({}x{} {:?})",
                self.stride, self.width, self.height, self.format
            ));
        };
        if self.data.len() < need {
            return bad(format!(
                "{} bytes given, {need} expected for {}x{} {:?} with stride {}",
                self.data.len(),
                self.width,
                self.height,
                self.format,
                self.stride
            ));
        }
        if !self.pts.is_finite() {
            return bad(format!("pts {} is not finite", self.pts));
        }
        Ok(())
    }
}

/// The engine's classifier, locked per call, for a stream's stages.
struct SharedClassifier {
    inner: Arc<Mutex<crate::classify::ZeroShotClassifier>>,
    name: String,
}

impl SharedClassifier {
    fn new(inner: Arc<Mutex<crate::classify::ZeroShotClassifier>>) -> Result<Self> {
        let name = crate::classify::Classifier::name(&*Self::lock(&inner)?).to_string();
        Ok(Self { inner, name })
    }

    fn lock(c: &Mutex<crate::classify::ZeroShotClassifier>) -> Result<std::sync::MutexGuard<'_, crate::classify::ZeroShotClassifier>> {
        c.lock().map_err(|_| Error::Pipeline("the engine's classifier is poisoned by an earlier panic".into()))
    }
}

impl crate::classify::Classifier for SharedClassifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn roi_spec(&self) -> Option<crate::roi::RoiSpec> {
        Self::lock(&self.inner).ok().and_then(|c| c.roi_spec())
    }
    fn expansion(&self, label: &str) -> f32 {
        Self::lock(&self.inner).map_or(1.0, |c| c.expansion(label))
    }
    fn wants(&self, label: &str) -> bool {
        Self::lock(&self.inner).is_ok_and(|c| c.wants(label))
    }
    fn classify(&mut self, rois: &crate::roi::RoiBatch, objects: &[crate::classify::Object]) -> Result<Vec<crate::results::Label>> {
        Self::lock(&self.inner)?.classify(rois, objects)
    }
    fn classify_device(
        &mut self,
        rois: &crate::cuda::DeviceRoiBatch,
        objects: &[crate::classify::Object],
    ) -> Option<Result<Vec<crate::results::Label>>> {
        match Self::lock(&self.inner) {
            Ok(mut c) => c.classify_device(rois, objects),
            Err(e) => Some(Err(e)),
        }
    }
}

/// Per-video state: a tracker, conversion scratch, and results waiting to be received.
pub struct Stream {
    engine: Arc<Engine>,
    /// The per-frame stages after detection: the same code as the file pipeline's.
    stages: FrameStages<'static>,
    pre: Preprocessor,
    tensor: Vec<f32>,
    scratch: Vec<u8>,
    nv12: Option<(ffmpeg_next::software::scaling::Context, u32, u32)>,
    queue: VecDeque<FrameResult>,
    next_index: u64,
    flushed: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("next_index", &self.next_index).field("queued", &self.queue.len()).finish()
    }
}

/// What [`Stream::receive`] gives.
#[derive(Debug)]
pub enum Received {
    Frame(FrameResult),
    /// Nothing yet: send more frames.
    NeedMoreData,
    /// Flushed and everything received.
    EndOfStream,
}

impl Stream {
    /// A new stream on `engine` for a video at `fps` frames per second (the tracker's time base;
    /// 0 or less means 30).
    pub fn new(engine: Arc<Engine>, fps: f64) -> Result<Self> {
        crate::video::init();
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { 30.0 };
        let pre = Preprocessor::new(engine.manifest.input.clone());
        let stages = Stages { tracking: engine.tracking, ..Stages::default() };
        let mut stages = FrameStages::new(stages, fps, engine.order, engine.labels.clone())?;
        if let Some(c) = &engine.classifier {
            stages = stages.with_owned_classifier(Box::new(SharedClassifier::new(c.clone())?))?;
        }
        Ok(Self {
            stages,
            tensor: vec![0.0; pre.len()],
            pre,
            engine,
            scratch: Vec::new(),
            nv12: None,
            queue: VecDeque::new(),
            next_index: 0,
            flushed: false,
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Detects (and tracks) objects in one frame; its result is queued for [`Stream::receive`].
    /// Frames are numbered from 0 in the order sent.
    pub fn send_frame(&mut self, f: &FrameIn) -> Result<()> {
        if self.flushed {
            return Err(Error::State("the stream was flushed; create a new stream for more frames".into()));
        }
        f.validate()?;
        let order = self.engine.order;
        let (w, h) = (f.width, f.height);
        // The image in the model's channel order, packed, and its row stride.
        let (image, stride): (&[u8], usize) = match (f.format, order) {
            (PixelFormat::Rgb24, ChannelOrder::Rgb) | (PixelFormat::Bgr24, ChannelOrder::Bgr) => (f.data, f.stride),
            (PixelFormat::Rgb24, ChannelOrder::Bgr) | (PixelFormat::Bgr24, ChannelOrder::Rgb) => {
                self.scratch.resize(w as usize * h as usize * 3, 0);
                for y in 0..h as usize {
                    let src = &f.data[y * f.stride..][..w as usize * 3];
                    let dst = &mut self.scratch[y * w as usize * 3..][..w as usize * 3];
                    for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
                        d.copy_from_slice(&[s[2], s[1], s[0]]);
                    }
                }
                (&self.scratch, w as usize * 3)
            }
            (PixelFormat::Nv12, _) => {
                self.nv12_to_packed(f, order)?;
                (&self.scratch, w as usize * 3)
            }
        };
        // On the CPU the resize and normalisation happen here, outside the model's lock, so
        // streams do them in parallel; on a GPU the frame goes to the detector as it is (staged
        // in pinned memory, resized by the kernel).
        let on_cpu = !self.engine.device_preprocessing;
        let tf = on_cpu.then(|| self.pre.run(image, w, h, stride, &mut self.tensor));
        let dets = {
            let mut det =
                self.engine.detector.lock().map_err(|_| Error::Pipeline("the engine's model is poisoned by an earlier panic".into()))?;
            let tf = match tf {
                Some(tf) => {
                    det.fill_preprocessed(0, &self.tensor)?;
                    tf
                }
                None => det.fill(0, image, w, h, stride)?,
            };
            det.run(1, &[tf], &self.engine.params)?.0.remove(0)
        };
        let index = self.next_index;
        self.next_index += 1;
        let view = FrameView { data: image, width: w, height: h, stride };
        let r = self.stages.apply(&view, index, f.pts, dets)?;
        self.queue.push_back(r);
        Ok(())
    }

    fn nv12_to_packed(&mut self, f: &FrameIn, order: ChannelOrder) -> Result<()> {
        use ffmpeg_next::format::Pixel;
        use ffmpeg_next::frame::Video;
        use ffmpeg_next::software::scaling::{Context, Flags};
        let (w, h) = (f.width, f.height);
        let dst_fmt = if order == ChannelOrder::Rgb { Pixel::RGB24 } else { Pixel::BGR24 };
        if self.nv12.as_ref().is_none_or(|c| (c.1, c.2) != (w, h)) {
            let ctx = Context::get(Pixel::NV12, w, h, dst_fmt, w, h, Flags::BILINEAR)
                .map_err(|e| Error::Pipeline(format!("cannot set up NV12 conversion for {w}x{h}: {e}")))?;
            self.nv12 = Some((ctx, w, h));
        }
        let mut src = Video::new(Pixel::NV12, w, h);
        let (ys, uvs) = (src.stride(0), src.stride(1));
        for y in 0..h as usize {
            src.data_mut(0)[y * ys..][..w as usize].copy_from_slice(&f.data[y * f.stride..][..w as usize]);
        }
        let uv = &f.data[h as usize * f.stride..];
        for y in 0..h as usize / 2 {
            src.data_mut(1)[y * uvs..][..w as usize].copy_from_slice(&uv[y * f.stride..][..w as usize]);
        }
        let mut dst = Video::empty();
        let ctx = &mut self.nv12.as_mut().expect("set above").0;
        ctx.run(&src, &mut dst).map_err(|e| Error::Pipeline(format!("NV12 conversion failed: {e}")))?;
        let ds = dst.stride(0);
        self.scratch.resize(w as usize * h as usize * 3, 0);
        for y in 0..h as usize {
            self.scratch[y * w as usize * 3..][..w as usize * 3].copy_from_slice(&dst.data(0)[y * ds..][..w as usize * 3]);
        }
        Ok(())
    }

    /// Marks the end of the stream: no more frames; results already queued stay receivable.
    pub fn flush(&mut self) {
        self.flushed = true;
    }

    /// The next result in frame order.
    pub fn receive(&mut self) -> Received {
        match self.queue.pop_front() {
            Some(r) => Received::Frame(r),
            None if self.flushed => Received::EndOfStream,
            None => Received::NeedMoreData,
        }
    }
}
