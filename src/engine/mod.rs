//! The embeddable API: an [`Engine`] built once from a configuration (model, thresholds,
//! provider, tracking, classifier, rules, teams), shared by any number of [`Stream`]s, one per
//! video, fed frame by frame from the caller's memory, and its file calls ([`Engine::process_file`],
//! [`Engine::verify_file`]). Every one of them builds the one stage chain
//! ([`crate::pipeline::FrameStages`]) from the same configuration. The C ABI (`src/ffi`) and its
//! clients wrap exactly this.
//!
//! ```text
//! Engine (Arc, shared, thread-safe) ◀── Stream (per video: the stage chain, scratch, results queue)
//!   model + manifest + thresholds          send_frame(RGB24 | BGR24 | NV12) ─▶ preprocess ─▶ detect (engine lock)
//!   classifier, rules, teams               send_frame_with_boxes (verify: the caller's boxes, no detector)
//!                                          ─▶ track ─▶ ROI + rules ─▶ classifier ─▶ queue ─▶ receive()
//! ```
//! A stream is used by one thread at a time (`&mut self`); different streams of one engine may
//! run on different threads at once: preprocessing and tracking run in parallel, inference calls
//! take turns on the engine's model (ONNX Runtime uses its own threads within each call).
#![forbid(unsafe_code)]

mod config;
mod stream;

pub use config::{
    checked_interval, ClassifierConfig, ClassifierKind, EngineConfig, PitchMode, PitchSection, RulesConfig, TrackingConfig, MAX_INTERVAL,
};
pub use stream::{FrameIn, PixelFormat, Received, Stream};

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::detect::DecodeParams;
use crate::error::{Error, Result};
use crate::image::ChannelOrder;
use crate::infer::manifest::Manifest;
use crate::infer::Detector;
use crate::pipeline::verify::{verify_frames, VerifyOptions};
use crate::pipeline::{self, ChainConfig, FrameResult, Stages};
use crate::video::Sampling;

/// What a file call hands out besides its results: progress as it goes, and every decoded frame
/// (to draw on, for instance), when given.
#[derive(Default)]
pub struct FileHooks<'a> {
    pub progress: Option<&'a mut dyn FnMut(pipeline::Progress)>,
    pub frames: Option<&'a mut dyn FnMut(crate::video::Frame)>,
}

/// A loaded model with its settings, shared by streams (`Arc<Engine>`).
pub struct Engine {
    detector: Mutex<Detector>,
    params: DecodeParams,
    labels: Vec<String>,
    order: ChannelOrder,
    manifest: Manifest,
    provider: String,
    /// The detector resizes frames on the GPU (streams then skip their CPU preprocessing).
    device_preprocessing: bool,
    /// The object classifier (`[classifier] kind = "zeroshot"`), shared by the streams.
    classifier: Option<Arc<Mutex<crate::classify::ZeroShotClassifier>>>,
    /// The chain its file calls and streams run (tracking, rules, teams, tiles).
    chain: ChainConfig,
    /// Why this model: "given", or the default's reason.
    model_choice: String,
    /// The last file call's report, as JSON.
    last_report: Mutex<Option<serde_json::Value>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("model", &self.manifest.name).field("provider", &self.provider).finish()
    }
}

impl Engine {
    pub fn new(config: &EngineConfig) -> Result<Arc<Self>> {
        Self::new_hinted(config, "set allow_fallback = true to run on the CPU instead")
    }

    /// [`Engine::new`], where a device or provider that cannot be had says `way_on` (how the
    /// caller's face allows the CPU instead: `fovea detect` names its flags).
    pub fn new_hinted(config: &EngineConfig, way_on: &str) -> Result<Arc<Self>> {
        let selection = config.selection()?;
        // What cannot be had says how to go on; the build is checked before any model loads.
        let hint = |e: Error| match e {
            Error::Unsupported { what, reason } => Error::Unsupported { what, reason: format!("{reason}; {way_on}") },
            Error::RuntimeMissing { reason } if selection.is_gpu() => Error::RuntimeMissing { reason: format!("{reason}; {way_on}") },
            e => e,
        };
        if !selection.allow_fallback {
            crate::infer::check_build(&selection).map_err(hint)?;
        }
        config.classifier.check()?;
        let (model, model_choice) = config.model_choice()?;
        let manifest = Manifest::load(&model)?;
        let opts = config.detector_options(&manifest)?;
        let detector = Detector::load(&manifest, &opts).map_err(hint)?;
        let provider = detector.provider().to_string();
        let params = pipeline::decode_params(&detector, config.score, config.nms_iou, config.classes.as_deref())?;
        let chain = config.chain(&manifest)?;
        // One encoder thread: the detector's ONNX Runtime threads already use the cores. On a
        // GPU it runs there too, with the detector's provider and device.
        let classifier = match &config.classifier.encoder {
            Some(enc) => {
                let gpu = detector.device().map(|d| (selection, d));
                let c = crate::classify::object_classifier(enc, config.classifier.policy.as_deref(), 1, gpu)?;
                Some(Arc::new(Mutex::new(c)))
            }
            None => None,
        };
        Ok(Arc::new(Self {
            last_report: Mutex::new(None),
            model_choice,
            chain,
            classifier,
            labels: manifest.labels.clone(),
            order: manifest.input.channels,
            params,
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

    /// Why this model: "given" (the configuration's `model`), or why the default is the one it is.
    pub fn model_choice(&self) -> &str {
        &self.model_choice
    }

    /// The object classifier's encoder and the provider it runs on, when there is one.
    pub fn classifier_description(&self) -> Option<String> {
        let c = self.classifier.as_ref()?.lock().ok()?;
        Some(format!("{} on {}", c.zs.manifest.name, c.zs.encoder.provider))
    }

    /// The stage chain's configuration, with `classifier` in its slot: one builder for the file
    /// calls and the streams.
    fn stages<'a>(&self, classifier: Option<&'a mut dyn crate::classify::Classifier>) -> Stages<'a> {
        self.chain.stages(classifier)
    }

    fn lock_classifier(&self) -> Result<Option<std::sync::MutexGuard<'_, crate::classify::ZeroShotClassifier>>> {
        match &self.classifier {
            Some(c) => Ok(Some(c.lock().map_err(|_| Error::Pipeline("the engine's classifier is poisoned by an earlier panic".into()))?)),
            None => Ok(None),
        }
    }

    /// Runs `f` with the engine's model (locked: streams wait meanwhile) and its decode
    /// parameters; `f`'s report becomes the last report. For the chain's sources above the
    /// engine (key-frame selection), so that every face reaches them through one engine.
    pub fn with_detector<T>(&self, f: impl FnOnce(&mut Detector, &DecodeParams) -> Result<(T, Option<serde_json::Value>)>) -> Result<T> {
        let mut det = self.detector.lock().map_err(|_| Error::Pipeline("the engine's model is poisoned by an earlier panic".into()))?;
        match f(&mut det, &self.params) {
            Ok((v, report)) => {
                self.set_report(report)?;
                Ok(v)
            }
            Err(e) => {
                self.set_report(None)?;
                Err(e)
            }
        }
    }

    fn set_report(&self, report: Option<serde_json::Value>) -> Result<()> {
        *self.last_report.lock().map_err(|_| Error::Pipeline("the engine's report is poisoned by an earlier panic".into()))? = report;
        Ok(())
    }

    /// Processes a whole file, calling `sink` per frame in decode order.
    pub fn process_file(
        &self,
        path: &Path,
        sampling: Sampling,
        sink: &mut dyn FnMut(&FrameResult) -> Result<()>,
    ) -> Result<pipeline::RunReport> {
        let (report, outcome) = self.process_file_with(path, sampling, FileHooks::default(), sink)?;
        outcome.map(|_| report)
    }

    /// [`Engine::process_file`] with `hooks` (progress, and the decoded frames: `fovea detect`'s
    /// progress line and annotated video); an error after the input opened comes with the report
    /// of what was done before it, as [`pipeline::run_detect`]'s.
    pub fn process_file_with(
        &self,
        path: &Path,
        sampling: Sampling,
        hooks: FileHooks<'_>,
        sink: &mut dyn FnMut(&FrameResult) -> Result<()>,
    ) -> Result<(pipeline::RunReport, Result<()>)> {
        let mut det = self.detector.lock().map_err(|_| Error::Pipeline("the engine's model is poisoned by an earlier panic".into()))?;
        let mut classifier = self.lock_classifier()?;
        let mut stages = self.stages(classifier.as_deref_mut().map(|c| c as &mut dyn crate::classify::Classifier));
        if let Some(tap) = hooks.frames {
            stages = stages.tap(tap);
        }
        let mut no_progress = |_: pipeline::Progress| {};
        let progress = hooks.progress.unwrap_or(&mut no_progress);
        let run = pipeline::run_detect(path, &mut *det, &self.params, sampling, stages, sink, progress);
        match run {
            Ok((report, outcome)) => {
                // What ran: the run's figures and the chain configuration it ran with.
                let mut json = report.to_json();
                json["chain"] = serde_json::to_value(&self.chain).map_err(|e| Error::Pipeline(format!("the chain configuration: {e}")))?;
                self.set_report(Some(json))?;
                Ok((report, outcome))
            }
            Err(e) => {
                self.set_report(None)?; // the input could not be opened: no report
                Err(e)
            }
        }
    }

    /// Processes `video` as [`Engine::process_file`] does and writes its results to the file
    /// `out` in `format`: the bytes `fovea detect --config` writes for the same configuration.
    /// The results before an error are kept in `out` (a valid file) and the error returned.
    pub fn detect_to_file(
        &self,
        video: &Path,
        sampling: Sampling,
        out: &Path,
        format: crate::output::Format,
    ) -> Result<pipeline::RunReport> {
        let (file, name) = crate::output::open_output(out)?;
        let mut sink = crate::output::sink(format, file, name, &self.labels, self.chain.tracking.is_some(), None);
        let run = self.process_file(video, sampling, &mut |r| sink.write(r));
        let finished = sink.finish();
        let report = run?;
        finished.map(|_| report)
    }

    /// Verifies the boxes of `boxes` (a Score Vision file or fovea JSONL) on `video`: no
    /// detector; every box through the stage chain (the configuration's rules, else the built-in
    /// Score Vision set; its classifier and teams), handed to `sink` per frame in order with the
    /// boxes file's class names. What `fovea verify` computes.
    pub fn verify_file(
        &self,
        video: &Path,
        boxes: &Path,
        sink: &mut dyn FnMut(&FrameResult, &[String]) -> Result<()>,
    ) -> Result<pipeline::RunReport> {
        let boxes = crate::output::read::read_boxes(boxes)?;
        let opts = VerifyOptions::new(self.chain.clone());
        // With rules, crops are expanded as their `[roi]` says (the ball 4x in the built-in set).
        let mut classifier = self.lock_classifier()?;
        let slot = classifier.as_deref_mut().map(|c| c as &mut dyn crate::classify::Classifier);
        let (report, outcome) = verify_frames(video, &boxes, &opts, slot, sink);
        self.set_report(Some(report.to_json()))?;
        outcome.map(|_| report)
    }

    /// The report of the last file call (also when it stopped early or failed after opening its
    /// input; None when its input could not be opened), as JSON (see [`pipeline::RunReport::to_json`]).
    pub fn last_report(&self) -> Option<serde_json::Value> {
        self.last_report.lock().ok()?.clone()
    }
}
