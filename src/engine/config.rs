//! The engine configuration: one TOML schema for the CLI's `--config`, `fovea_engine_create`,
//! Python and Go.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::filter::FilterConfig;
use crate::pipeline::{ChainConfig, DEFAULT_BATCH_ROIS};
use crate::track::TrackerConfig;

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
    pub kind: ClassifierKind,
    /// The encoder's manifest (`kind = "zeroshot"`); relative to the configuration's folder.
    pub encoder: Option<PathBuf>,
    /// The policy (default: the validator's, classify/scorevision.toml); relative likewise.
    pub policy: Option<PathBuf>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self { kind: ClassifierKind::None, encoder: None, policy: None }
    }
}

/// Which object classifier an engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierKind {
    #[default]
    None,
    /// A zero-shot image encoder with its text table (`encoder`) and a policy.
    Zeroshot,
}

impl ClassifierConfig {
    /// Checks that the fields go together (an encoder exactly with `kind = "zeroshot"`).
    pub fn check(&self) -> Result<()> {
        match (self.kind, &self.encoder) {
            (ClassifierKind::None, None) | (ClassifierKind::Zeroshot, Some(_)) => Ok(()),
            (ClassifierKind::None, Some(_)) => Err(Error::InvalidOption {
                option: "classifier.encoder",
                reason: "given with kind = \"none\": set kind = \"zeroshot\"".into(),
            }),
            (ClassifierKind::Zeroshot, None) => {
                Err(Error::InvalidOption { option: "classifier.encoder", reason: "kind = \"zeroshot\" needs an encoder manifest".into() })
            }
        }
    }
}

/// The ROI and rules stage (`[rules]`): every detection, or every box handed in, is cut out as a
/// ROI, its colours measured and the rules applied (a verdict per box); the classifier sees only
/// what they keep.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// A rule file (relative to the configuration's folder); absent: the built-in Score Vision
    /// set, filter/scorevision.toml.
    pub file: Option<PathBuf>,
    /// Make the ROI tensors of kept boxes even without a classifier (the validator's workload).
    pub roi_tensors: bool,
    /// ROIs per classifier call at most.
    pub batch_rois: usize,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self { file: None, roi_tensors: false, batch_rois: DEFAULT_BATCH_ROIS }
    }
}

/// An engine configuration (TOML):
///
/// ```toml
/// model = "engines/nanodet-g-416.toml"   # a model manifest; relative to the config file's folder;
///                                        # absent: the default model (as `fovea detect`'s)
/// provider = "cpu"                       # optional: cpu | cuda | tensorrt (the GPU ones need the
///                                        # `cuda` feature; absent: tensorrt on a GPU device, else cpu)
/// device = "cpu"                         # optional: cpu | cuda[:N] (a GPU provider alone means cuda:0)
/// precision = "fp16"                     # TensorRT: fp32 | fp16 | int8 (int8: the manifest's table)
/// calibration = "calib/int8.table"       # optional: TensorRT INT8's calibration table (or its folder)
/// batch = 1                              # frames per inference call
/// allow_fallback = false                 # if the provider cannot be had: error (false) or CPU (true)
/// threads = 0                            # inference threads in all, 0: one per core
/// workers = 0                            # inference workers sharing them, 0: automatic
/// runtime = "onnxruntime"                # optional: onnxruntime | openvino (default: the model's)
/// score = 0.35                           # optional, default: the manifest's
/// nms_iou = 0.6                          # optional
/// classes = ["person", "sports_ball"]    # optional
/// teams = false                          # colour teams per clip (file calls; streams: results at flush)
/// interval = 0                           # the detector on every (interval + 1)th frame, tracks between
/// [tracking]
/// enabled = true
/// [classifier]
/// kind = "none"                          # or "zeroshot" with encoder = "..." and policy = "..."
/// [rules]                                # optional: ROI + colour statistics + rules per box
/// file = "filter/scorevision.toml"       # absent: the built-in Score Vision set
/// [tiles]                                # optional: tiled detection of small objects (file calls)
/// mode = "ball"                          # all | ball (one tile around the last ball)
/// overlap = 0.2
/// [pitch]                                # optional: the 32 pitch keypoints of every frame
/// mode = "lines"                         # the template registered to the white lines, or "model":
///                                        # model = "pitch.toml" (a pose model's manifest),
///                                        # every = 5 (its frames; the lines between), confidence = 0.5
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Empty: the default model ([`EngineConfig::model_choice`]).
    #[serde(default)]
    pub model: PathBuf,
    /// Absent: TensorRT on a GPU `device`, else the CPU.
    pub provider: Option<String>,
    pub device: Option<String>,
    pub precision: Option<String>,
    /// TensorRT INT8's calibration table, or a folder holding the model's (relative to the
    /// configuration's folder).
    pub calibration: Option<PathBuf>,
    /// Frames per inference call (default 1).
    #[serde(default = "one")]
    pub batch: usize,
    #[serde(default)]
    pub allow_fallback: bool,
    #[serde(default)]
    pub threads: usize,
    /// Inference workers (0: automatic, see [`crate::infer::workers::plan`]).
    #[serde(default)]
    pub workers: usize,
    /// The runtime (`onnxruntime` or `openvino`); absent: the model manifest's, and with no
    /// model the default model for that runtime.
    pub runtime: Option<String>,
    pub score: Option<f32>,
    pub nms_iou: Option<f32>,
    pub classes: Option<Vec<String>>,
    #[serde(default)]
    pub tracking: TrackingConfig,
    #[serde(default)]
    pub classifier: ClassifierConfig,
    /// Colour teams per clip: jersey colours of the people clustered into two teams, goalkeepers
    /// and referees named; with a classifier, it sees only what colour left undecided.
    #[serde(default)]
    pub teams: bool,
    /// The detector on every (interval + 1)th frame only, the tracker predicting the boxes of
    /// the frames between (needs tracking; 0: every frame).
    #[serde(default)]
    pub interval: u32,
    pub rules: Option<RulesConfig>,
    /// Tiled detection for small objects (file calls): `[tiles] mode = "all" | "ball"`.
    pub tiles: Option<crate::pipeline::tiles::TileConfig>,
    /// Pitch keypoints per frame: `[pitch] mode = "lines"` (the template registered to the white
    /// lines; `fovea mine`'s and `--pitch lines`'s stage) or `"model"` (a keypoint model).
    pub pitch: Option<PitchSection>,
}

/// `[pitch]`: where the pitch keypoints come from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PitchSection {
    /// `lines`: the pitch template registered to the frame's white lines (no keypoint model);
    /// `model`: a keypoint model (`model`) every `every` frames, the lines between.
    pub mode: PitchMode,
    /// The keypoint model's manifest (mode `model`; relative to the configuration's folder).
    pub model: Option<PathBuf>,
    /// The keypoint model runs on every `every`th frame (default 1: all of them).
    pub every: Option<u32>,
    /// A model keypoint is seen from this confidence (default 0.5).
    pub confidence: Option<f32>,
}

impl PitchSection {
    /// The chain's pitch stage this section asks for (checked: `model` needs a model, `lines`
    /// takes none).
    pub fn stage(&self) -> Result<crate::pipeline::pitch::PitchConfig> {
        use crate::pipeline::pitch::{ModelConfig, PitchConfig};
        let bad = |option: &'static str, reason: &str| Error::InvalidOption { option, reason: reason.into() };
        match (self.mode, &self.model) {
            (PitchMode::Lines, None) if self.every.is_none() && self.confidence.is_none() => Ok(self.mode.stage()),
            (PitchMode::Lines, _) => Err(bad("pitch.mode", "model, every and confidence are settings of mode = \"model\"")),
            (PitchMode::Model, None) => {
                Err(bad("pitch.model", "mode = \"model\" needs model = \"MANIFEST.toml\" (a pose model's manifest)"))
            }
            (PitchMode::Model, Some(m)) => {
                let d = ModelConfig::new(m.clone());
                let c = ModelConfig { every: self.every.unwrap_or(d.every), confidence: self.confidence.unwrap_or(d.confidence), ..d };
                c.check()?;
                Ok(PitchConfig::Model(c))
            }
        }
    }
}

/// Where a frame's pitch keypoints come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PitchMode {
    /// The template registered to the frame's white lines ([`crate::pitch::register`]).
    Lines,
    /// A keypoint model's keypoints, the lines carrying them between its frames
    /// ([`crate::pipeline::pitch`]).
    Model,
}

impl PitchMode {
    /// The chain's pitch stage of `lines` (what every face that asks for it runs); `model`
    /// needs its model: [`PitchSection::stage`].
    pub fn stage(self) -> crate::pipeline::pitch::PitchConfig {
        crate::pipeline::pitch::PitchConfig::Lines(crate::pitch::register::RegisterConfig::default())
    }
}

fn one() -> usize {
    1
}

impl Default for EngineConfig {
    /// The default model on the CPU, every frame, tracking on, nothing else: `fovea detect`'s
    /// defaults.
    fn default() -> Self {
        Self {
            model: PathBuf::new(),
            provider: None,
            device: None,
            precision: None,
            calibration: None,
            batch: 1,
            allow_fallback: false,
            threads: 0,
            workers: 0,
            runtime: None,
            score: None,
            nms_iou: None,
            classes: None,
            tracking: TrackingConfig::default(),
            classifier: ClassifierConfig::default(),
            teams: false,
            interval: 0,
            rules: None,
            tiles: None,
            pitch: None,
        }
    }
}

/// Most frames the detector may skip between two it sees (`interval`).
pub const MAX_INTERVAL: u32 = 100;

/// `interval` checked against [`MAX_INTERVAL`].
pub fn checked_interval(n: u32, option: &'static str) -> Result<u32> {
    if n > MAX_INTERVAL {
        return Err(Error::InvalidOption { option, reason: format!("must be within 0..={MAX_INTERVAL}, got {n}") });
    }
    Ok(n)
}

impl EngineConfig {
    /// The chain this configuration asks for on `manifest`'s model: `[tracking]` over the
    /// manifest's thresholds, `[rules]` (its rule file loaded, else the built-in Score Vision
    /// set), `teams`, `[tiles]`. The one place an engine configuration becomes a chain (the
    /// engine's file calls and streams, the service's jobs).
    pub fn chain(&self, manifest: &crate::infer::manifest::Manifest) -> Result<ChainConfig> {
        let rules = match &self.rules {
            Some(r) => Some(match &r.file {
                Some(f) => FilterConfig::load(f)?,
                None => FilterConfig::scorevision(),
            }),
            None => None,
        };
        let (roi_tensors, batch_rois) = self.rules.as_ref().map_or((false, DEFAULT_BATCH_ROIS), |r| (r.roi_tensors, r.batch_rois));
        Ok(ChainConfig {
            tracking: self.tracking.resolve(&manifest.tracking)?,
            rules,
            roi_tensors,
            batch_rois,
            teams: self.teams,
            tiles: self.tiles.clone(),
            pitch: self.pitch.as_ref().map(PitchSection::stage).transpose()?,
            interval: checked_interval(self.interval, "interval")?,
            ..ChainConfig::default()
        })
    }

    /// The detector options this configuration asks for (device, provider, TensorRT precision,
    /// threads, workers, runtime; one frame per call), checked. What every face's engine and the
    /// service load their detector with.
    pub fn detector_options(&self, manifest: &crate::infer::manifest::Manifest) -> Result<crate::infer::DetectorOptions> {
        use crate::infer::provider::TrtBuild;
        let calibration_table = match &self.calibration {
            Some(c) => Some(crate::infer::provider::find_calibration_table(c, manifest)?),
            None => None,
        };
        if self.batch == 0 {
            return Err(Error::InvalidOption { option: "batch", reason: "must be at least 1".into() });
        }
        Ok(crate::infer::DetectorOptions {
            threads: self.threads,
            workers: self.workers,
            runtime: self.runtime_kind()?,
            batch: self.batch,
            selection: self.selection()?,
            trt: TrtBuild { precision: self.precision()?, calibration_table, ..TrtBuild::default() },
        })
    }

    /// The device and provider asked for, checked.
    pub fn selection(&self) -> Result<crate::infer::provider::Selection> {
        crate::infer::provider::Selection::resolve(
            self.device.as_deref().map(str::parse).transpose()?,
            self.provider.as_deref().map(str::parse).transpose()?,
            self.allow_fallback,
        )
    }

    /// TensorRT's precision (default fp16).
    pub fn precision(&self) -> Result<crate::infer::manifest::Precision> {
        use crate::infer::manifest::Precision;
        Ok(match self.precision.as_deref() {
            None | Some("fp16") => Precision::Fp16,
            Some("fp32") => Precision::Fp32,
            Some("int8") => Precision::Int8,
            Some(p) => return Err(Error::InvalidOption { option: "precision", reason: format!("expected fp32, fp16 or int8, got '{p}'") }),
        })
    }

    /// The model manifest to load and why: `model` when given, else the default for the
    /// device and runtime (on a GPU the fp32 model, which the provider builds at `precision`;
    /// on the CPU [`crate::infer::defaults::default_model`]'s choice).
    pub fn model_choice(&self) -> Result<(PathBuf, String)> {
        use crate::infer::defaults::{default_model, resolve_model, FP32_MODEL};
        if !self.model.as_os_str().is_empty() {
            return Ok((self.model.clone(), "given".into()));
        }
        if self.selection()?.is_gpu() {
            let why = format!("default on a GPU: the provider builds {} from the fp32 model", self.precision.as_deref().unwrap_or("fp16"));
            return Ok((resolve_model(Path::new(FP32_MODEL)), why));
        }
        Ok(default_model(self.runtime_kind()?))
    }

    /// The runtime asked for, parsed.
    pub fn runtime_kind(&self) -> Result<Option<crate::infer::manifest::RuntimeKind>> {
        crate::infer::manifest::RuntimeKind::parse_option(self.runtime.as_deref(), "runtime")
    }

    /// Parses configuration text; relative paths are taken from `base` (a folder).
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let origin = base.join("<config>");
        let mut c: EngineConfig = toml::from_str(text).map_err(|e| Error::Manifest { path: origin.clone(), reason: e.to_string() })?;
        c.runtime_kind()?;
        if !c.model.as_os_str().is_empty() && c.model.is_relative() {
            c.model = base.join(&c.model);
        }
        let rules_file = c.rules.as_mut().and_then(|r| r.file.as_mut());
        let pitch_model = c.pitch.as_mut().and_then(|p| p.model.as_mut());
        let paths = [c.classifier.encoder.as_mut(), c.classifier.policy.as_mut(), rules_file, pitch_model, c.calibration.as_mut()];
        for p in paths.into_iter().flatten() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The TOML example in [`EngineConfig`]'s documentation is a configuration the parser takes
    /// (it was not: `teams` sat under `[tracking]`).
    #[test]
    fn the_documented_example_parses() {
        let src = include_str!("config.rs");
        let start = src.find("/// ```toml\n").expect("the example") + "/// ```toml\n".len();
        let end = start + src[start..].find("/// ```\n").expect("its end");
        let toml: String = src[start..end]
            .lines()
            .map(|l| l.trim_start().strip_prefix("///").unwrap_or(l).trim_start_matches(' '))
            .collect::<Vec<_>>()
            .join("\n");
        let c = EngineConfig::parse(&toml, Path::new("/base")).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        assert!(c.tracking.enabled && !c.teams && c.rules.is_some() && c.tiles.is_some());
        assert_eq!(c.classifier.kind, ClassifierKind::None);
    }

    /// A configuration says what `fovea detect`'s flags say: an empty one is the default; a GPU
    /// device alone means TensorRT (it was refused: the provider defaulted to the CPU); the
    /// calibration table is taken from the configuration's folder; batch 0 is refused.
    #[test]
    fn a_configuration_says_what_the_flags_say() {
        use crate::infer::provider::ProviderKind;
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(EngineConfig::parse("", base).unwrap(), EngineConfig::default());
        let c = EngineConfig::parse("device = \"cuda:1\"\ncalibration = \"calib\"\nbatch = 4\n", base).unwrap();
        let s = c.selection().unwrap();
        assert!(s.is_gpu() && s.ordinal() == 1 && s.provider == ProviderKind::TensorRt, "{s:?}");
        assert_eq!((c.calibration.as_deref(), c.batch), (Some(base.join("calib").as_path()), 4));
        let (model, why) = c.model_choice().unwrap();
        assert!(model.ends_with(crate::infer::defaults::FP32_MODEL) && why.contains("on a GPU"), "{} {why}", model.display());
        let e = EngineConfig::parse("device = \"cpu\"\nprovider = \"tensorrt\"\n", base).unwrap().selection().unwrap_err().to_string();
        assert!(e.contains("runs on a GPU"), "{e}");
        let manifest = crate::infer::manifest::Manifest::load(&base.join("engines/nanodet-g-416.toml")).unwrap();
        let e = EngineConfig::parse("batch = 0\n", base).unwrap().detector_options(&manifest).unwrap_err().to_string();
        assert!(e.contains("batch") && e.contains("at least 1"), "{e}");
        assert_eq!(EngineConfig::parse("batch = 8\n", base).unwrap().detector_options(&manifest).unwrap().batch, 8);
    }

    /// `[pitch]`: a model's manifest is taken from the configuration's folder, `every` and
    /// `confidence` reach the stage, and what does not fit a mode is refused by name.
    #[test]
    fn pitch_sections_become_the_stage_they_say() {
        use crate::pipeline::pitch::PitchConfig;
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        let stage = |t: &str| EngineConfig::parse(t, base).unwrap().pitch.unwrap().stage();
        match stage("[pitch]\nmode = \"model\"\nmodel = \"tests/data/pose_v8_k3.toml\"\nevery = 5\n").unwrap() {
            PitchConfig::Model(m) => {
                assert_eq!(m.manifest, base.join("tests/data/pose_v8_k3.toml"));
                assert_eq!((m.every, m.confidence), (5, 0.5));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(stage("[pitch]\nmode = \"lines\"\n").unwrap(), PitchConfig::Lines(_)));
        let e = stage("[pitch]\nmode = \"model\"\n").unwrap_err().to_string();
        assert!(e.contains("pitch.model") && e.contains("needs model"), "{e}");
        // Checked when the configuration becomes a chain: a missing manifest, one that is no
        // pitch model, a bad every.
        let e = stage("[pitch]\nmode = \"model\"\nmodel = \"nope.toml\"\n").unwrap_err().to_string();
        assert!(e.contains("nope.toml") && e.contains("no such file"), "{e}");
        let e = stage("[pitch]\nmode = \"model\"\nmodel = \"engines/nanodet-g-416.toml\"\n").unwrap_err().to_string();
        assert!(e.contains("not a pitch keypoint model"), "{e}");
        let e = stage("[pitch]\nmode = \"model\"\nmodel = \"tests/data/pose_v8_k3.toml\"\nevery = 0\n").unwrap_err().to_string();
        assert!(e.contains("pitch.every"), "{e}");
        let e = stage("[pitch]\nmode = \"lines\"\nevery = 3\n").unwrap_err().to_string();
        assert!(e.contains("pitch.mode") && e.contains("settings of mode = \"model\""), "{e}");
    }
}
