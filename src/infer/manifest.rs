//! Model manifests: everything fovea needs to know about a model, as data (TOML beside the model).
//!
//! ```toml
//! [model]
//! name = "nanodet-g-416"
//! file = "nanodet-g-416.onnx"            # relative to the manifest
//! runtime = "onnxruntime"                # or "openvino" (an ONNX file or an IR .xml)
//! precision = "fp32"                     # fp32 | fp16 | int8 | bf16 (OpenVINO's CPU hint)
//!
//! [input]
//! name = "input_1:0"
//! width = 416
//! height = 416
//! layout = "nchw"                        # or "nhwc"
//! channels = "bgr"                       # or "rgb"
//! mean = [103.53, 116.28, 123.675]       # per model channel, pixel values 0..255
//! std = [57.375, 57.12, 58.395]
//! resize = "stretch"                     # or "letterbox" (with pad = 114)
//!
//! [decoder]
//! kind = "nanodet"                       # nanodet | yolov8 | yolov5 | end2end
//! ...                                    # the kind's own parameters, see `DecoderSpec`
//!
//! [thresholds]
//! score = 0.35
//! nms_iou = 0.6
//! max_detections = 100
//!
//! [labels]
//! names = ["person", "bicycle", ...]
//! ```
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::detect::DecoderSpec;
use crate::error::{Error, Result};
pub use crate::image::Layout;
use crate::image::{ChannelOrder, Fit};
use crate::track::TrackerConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ResizeKind {
    Stretch,
    Letterbox,
}

/// Largest model input side (pixels).
pub const MAX_INPUT_SIDE: u32 = 4096;
/// Smallest magnitude of a normalisation std (pixel units): below it normalised inputs overflow.
pub const MIN_STD: f32 = 1e-3;

/// The image input of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub channels: ChannelOrder,
    /// Per model channel, in pixel units (0..255).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub fit: Fit,
}

impl InputSpec {
    /// The spec with which the ROI kernel, given a whole frame, makes this input exactly as
    /// [`crate::infer::preprocess::Preprocessor`] does (the GPU path's preprocessing); `None`
    /// when the kernel cannot (non-square or NHWC inputs). Frames must be in the model's channel
    /// order.
    pub fn roi_spec(&self) -> Option<crate::roi::RoiSpec> {
        (self.width == self.height && self.layout == Layout::Nchw).then_some(crate::roi::RoiSpec {
            size: self.width,
            mean: self.mean,
            std: self.std,
            fit: self.fit,
            dtype: crate::roi::RoiDtype::F32,
            swap_rb: false,
        })
    }

    /// Floats in one input image (3 x width x height).
    pub fn image_len(&self) -> usize {
        3 * self.width as usize * self.height as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DecoderKind {
    Nanodet,
    Yolov8,
    Yolov5,
    End2end,
}

/// `[decoder]` as written: a plain table (so that TOML errors point at the field), checked
/// against its `kind` afterwards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecoder {
    kind: DecoderKind,
    strides: Option<Vec<u32>>,
    reg_max: Option<u32>,
    scores: Option<Vec<String>>,
    boxes: Option<Vec<String>>,
    center_offset: Option<f32>,
    output: Option<String>,
    /// Keypoints per detection (yolov8 pose heads).
    keypoints: Option<u32>,
    /// Values per keypoint: 3 (x, y, confidence; the default) or 2 (x, y).
    keypoint_dims: Option<u32>,
}

/// Most keypoints a pose model may give per detection.
pub const MAX_KEYPOINTS: u32 = 1024;

impl RawDecoder {
    fn into_spec(self) -> std::result::Result<DecoderSpec, String> {
        fn need<T>(v: Option<T>, field: &str, kind: &str) -> std::result::Result<T, String> {
            v.ok_or_else(|| format!("decoder.{field} is required for kind \"{kind}\""))
        }
        let unused = |present: bool, field: &str, kind: &str| {
            if present {
                Err(format!("decoder.{field} is not a parameter of kind \"{kind}\""))
            } else {
                Ok(())
            }
        };
        match self.kind {
            DecoderKind::Nanodet => {
                unused(self.output.is_some(), "output", "nanodet")?;
                unused(self.keypoints.is_some(), "keypoints", "nanodet")?;
                unused(self.keypoint_dims.is_some(), "keypoint_dims", "nanodet")?;
                Ok(DecoderSpec::Nanodet {
                    strides: need(self.strides, "strides", "nanodet")?,
                    reg_max: need(self.reg_max, "reg_max", "nanodet")?,
                    scores: need(self.scores, "scores", "nanodet")?,
                    boxes: need(self.boxes, "boxes", "nanodet")?,
                    center_offset: match self.center_offset.unwrap_or(0.5) {
                        c if (0.0..=1.0).contains(&c) => c,
                        c => return Err(format!("decoder.center_offset must be within 0..=1 (of a stride), got {c}")),
                    },
                })
            }
            kind => {
                let name = match kind {
                    DecoderKind::Yolov8 => "yolov8",
                    DecoderKind::Yolov5 => "yolov5",
                    _ => "end2end",
                };
                for (present, field) in [
                    (self.strides.is_some(), "strides"),
                    (self.reg_max.is_some(), "reg_max"),
                    (self.scores.is_some(), "scores"),
                    (self.boxes.is_some(), "boxes"),
                    (self.center_offset.is_some(), "center_offset"),
                    (kind != DecoderKind::Yolov8 && self.keypoints.is_some(), "keypoints"),
                    (self.keypoints.is_none() && self.keypoint_dims.is_some(), "keypoint_dims"),
                ] {
                    unused(present, field, name)?;
                }
                let output = need(self.output, "output", name)?;
                Ok(match kind {
                    DecoderKind::Yolov8 if self.keypoints.is_some() => {
                        let keypoints = self.keypoints.unwrap_or_default();
                        if !(1..=MAX_KEYPOINTS).contains(&keypoints) {
                            return Err(format!("decoder.keypoints must be within 1..={MAX_KEYPOINTS}, got {keypoints}"));
                        }
                        let dims = self.keypoint_dims.unwrap_or(3);
                        if !(2..=3).contains(&dims) {
                            return Err(format!("decoder.keypoint_dims must be 2 (x, y) or 3 (x, y, confidence), got {dims}"));
                        }
                        DecoderSpec::Yolov8Pose { output, keypoints, dims }
                    }
                    DecoderKind::Yolov8 => DecoderSpec::Yolov8 { output },
                    DecoderKind::Yolov5 => DecoderSpec::Yolov5 { output },
                    _ => DecoderSpec::End2end { output },
                })
            }
        }
    }
}

/// Default thresholds of a model; the CLI may override them.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub score: f32,
    pub nms_iou: f32,
    #[serde(default = "default_max_det")]
    pub max_detections: usize,
}

fn default_max_det() -> usize {
    300
}

/// A parsed, checked manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    pub name: String,
    /// The ONNX model, resolved against the manifest's folder.
    pub model_path: PathBuf,
    pub input: InputSpec,
    pub decoder: DecoderSpec,
    pub thresholds: Thresholds,
    /// Class names, index = class id. Spaces are written as underscores ("sports_ball").
    pub labels: Vec<String>,
    pub precision: Precision,
    /// The runtime the model file is for (`[model] runtime`, default ONNX Runtime).
    pub runtime: RuntimeKind,
    /// INT8 calibration table for ONNX Runtime's TensorRT provider (`trt_int8_calibration_table_name`),
    /// resolved against the manifest's folder; checked to exist.
    pub tensorrt_int8_calibration_table: Option<PathBuf>,
    /// ByteTrack's thresholds for this model's scores (`[tracking]`; ByteTrack's reference values
    /// where absent). A model that scores people 0.35-0.55 needs lower thresholds than the
    /// reference's 0.5/0.6, or most of its detections never get a track.
    pub tracking: TrackerConfig,
    /// How the model's keypoints map to a named template (`[keypoints]`), for pose models.
    pub keypoints: Option<KeypointMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    model: RawModel,
    input: RawInput,
    decoder: RawDecoder,
    thresholds: Thresholds,
    labels: RawLabels,
    tensorrt: Option<RawTensorrt>,
    tracking: Option<RawTracking>,
    keypoints: Option<RawKeypoints>,
}

/// `[keypoints]` as written: how a pose model's keypoints map to a named template.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeypoints {
    template: KeypointTemplate,
    /// The template point of each model keypoint (-1: none); default: the same order.
    map: Option<Vec<i64>>,
}

/// A named keypoint template a pose model's keypoints can stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum KeypointTemplate {
    /// The Score Vision validator's 32 soccer-pitch points, in its order
    /// ([`crate::pitch::template`]).
    #[serde(rename = "soccer-pitch-32")]
    SoccerPitch32,
}

impl KeypointTemplate {
    /// Points in the template.
    pub fn points(self) -> usize {
        match self {
            KeypointTemplate::SoccerPitch32 => 32,
        }
    }
}

/// A pose model's keypoints as points of a template (`[keypoints]`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeypointMap {
    pub template: KeypointTemplate,
    /// The template point of each model keypoint (`None`: not a template point).
    pub map: Vec<Option<usize>>,
}

/// `[tracking]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTracking {
    track_thresh: f32,
    /// Default: `track_thresh + 0.1`.
    new_track_thresh: Option<f32>,
    match_thresh: Option<f32>,
    track_buffer: Option<u32>,
}

impl RawTracking {
    fn into_config(self) -> std::result::Result<TrackerConfig, String> {
        let d = TrackerConfig::default();
        let c = TrackerConfig {
            track_thresh: self.track_thresh,
            new_track_thresh: self.new_track_thresh.unwrap_or(self.track_thresh + 0.1),
            match_thresh: self.match_thresh.unwrap_or(d.match_thresh),
            track_buffer: self.track_buffer.unwrap_or(d.track_buffer),
            ..d
        };
        for (k, v) in [("track_thresh", c.track_thresh), ("new_track_thresh", c.new_track_thresh), ("match_thresh", c.match_thresh)] {
            if !(0.0..=1.1).contains(&v) {
                return Err(format!("tracking.{k} must be within 0..1, got {v}"));
            }
        }
        if c.track_thresh <= c.low_thresh {
            return Err(format!("tracking.track_thresh must be above ByteTrack's low threshold {}, got {}", c.low_thresh, c.track_thresh));
        }
        Ok(c)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    file: PathBuf,
    #[serde(default)]
    precision: Precision,
    #[serde(default)]
    runtime: RuntimeKind,
}

/// The inference runtime a model file is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// ONNX Runtime (CPU, or the CUDA/TensorRT providers on a GPU).
    #[default]
    OnnxRuntime,
    /// OpenVINO's CPU plugin, reading an ONNX model or an IR (`.xml` beside its `.bin`).
    OpenVino,
}

impl RuntimeKind {
    /// The name as written in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::OnnxRuntime => "onnxruntime",
            RuntimeKind::OpenVino => "openvino",
        }
    }

    /// An optional runtime name from `option`, checked.
    pub fn parse_option(s: Option<&str>, option: &'static str) -> Result<Option<Self>> {
        s.map(|s| {
            Self::parse(s).ok_or_else(|| Error::InvalidOption { option, reason: format!("expected onnxruntime or openvino, got '{s}'") })
        })
        .transpose()
    }

    /// Parses `onnxruntime` / `ort` / `openvino` / `ov`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "onnxruntime" | "ort" => Some(RuntimeKind::OnnxRuntime),
            "openvino" | "ov" => Some(RuntimeKind::OpenVino),
            _ => None,
        }
    }
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Numeric precision of a model's weights and arithmetic, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Fp16,
    /// bfloat16 arithmetic on fp32 weights: OpenVINO's CPU precision hint (CPUs with AVX512-BF16
    /// or AMX).
    Bf16,
    Int8,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        })
    }
}

/// `[tensorrt]`: what the TensorRT execution provider needs beyond the ONNX model.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTensorrt {
    int8_calibration_table: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    width: u32,
    height: u32,
    layout: Layout,
    channels: ChannelOrder,
    mean: [f32; 3],
    std: [f32; 3],
    resize: ResizeKind,
    #[serde(default = "default_pad")]
    pad: u8,
}

fn default_pad() -> u8 {
    114
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabels {
    names: Vec<String>,
}

/// `[keypoints]` checked against the decoder's keypoint count and the template's size.
fn keypoint_map(k: RawKeypoints, decoder: &DecoderSpec) -> std::result::Result<KeypointMap, String> {
    let DecoderSpec::Yolov8Pose { keypoints: count, .. } = decoder else {
        return Err("[keypoints] needs a pose decoder (decoder.keypoints)".into());
    };
    let count = *count as usize;
    let n = k.template.points();
    let map = match k.map {
        None if count == n => (0..n).map(Some).collect(),
        None => return Err(format!("keypoints.map is required: the model gives {count} keypoints, the template has {n}")),
        Some(m) if m.len() != count => return Err(format!("keypoints.map has {} entries, the model gives {count} keypoints", m.len())),
        Some(m) => m
            .iter()
            .enumerate()
            .map(|(i, &t)| match t {
                -1 => Ok(None),
                t if (0..n as i64).contains(&t) => Ok(Some(t as usize)),
                t => Err(format!("keypoints.map[{i}] = {t}: expected a template point 0..{n} or -1")),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
    };
    Ok(KeypointMap { template: k.template, map })
}

impl Manifest {
    /// Reads and checks a manifest file. Every error names the file and the offending field.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |reason: String| Error::Manifest { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => err("no such file".into()),
            _ => err(format!("cannot read: {e}")),
        })?;
        Self::parse(&text, path)
    }

    /// Parses manifest text; `path` is used for messages and to resolve the model file.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let err = |reason: String| Error::Manifest { path: path.to_path_buf(), reason };
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().replace('\n', " ");
            match e.span() {
                Some(s) => {
                    let start = s.start.min(text.len());
                    let line_no = text[..start].matches('\n').count() + 1;
                    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
                    err(format!("line {line_no} `{line}`: {msg}"))
                }
                None => err(msg),
            }
        })?;
        let decoder = raw.decoder.into_spec().map_err(err)?;
        let i = &raw.input;
        if !(1..=MAX_INPUT_SIDE).contains(&i.width) || !(1..=MAX_INPUT_SIDE).contains(&i.height) {
            return Err(err(format!("input.width/input.height must be within 1..={MAX_INPUT_SIDE}, got {}x{}", i.width, i.height)));
        }
        if let Some(k) = i.std.iter().position(|s| !(s.is_finite() && s.abs() >= MIN_STD)) {
            return Err(err(format!("input.std[{k}] must be a finite number of magnitude >= {MIN_STD}, got {}", i.std[k])));
        }
        if let Some(k) = i.mean.iter().position(|m| !m.is_finite()) {
            return Err(err(format!("input.mean[{k}] must be a finite number, got {}", i.mean[k])));
        }
        if raw.labels.names.is_empty() {
            return Err(err("labels.names is empty".into()));
        }
        let tracking = raw.tracking.map_or(Ok(TrackerConfig::default()), RawTracking::into_config).map_err(err)?;
        let t = raw.thresholds;
        if !(0.0..=1.0).contains(&t.score) {
            return Err(err(format!("thresholds.score must be within 0..1, got {}", t.score)));
        }
        if !(0.0..=1.0).contains(&t.nms_iou) {
            return Err(err(format!("thresholds.nms_iou must be within 0..1, got {}", t.nms_iou)));
        }
        if let DecoderSpec::Nanodet { strides, scores, boxes, .. } = &decoder {
            if strides.is_empty() || strides.contains(&0) {
                return Err(err("decoder.strides must be a non-empty list of positive numbers".into()));
            }
            if scores.len() != strides.len() {
                return Err(err(format!("decoder.scores has {} names, decoder.strides has {}", scores.len(), strides.len())));
            }
            if boxes.len() != strides.len() {
                return Err(err(format!("decoder.boxes has {} names, decoder.strides has {}", boxes.len(), strides.len())));
            }
        }
        if raw.model.precision == Precision::Bf16 && raw.model.runtime != RuntimeKind::OpenVino {
            return Err(err("model.precision = \"bf16\" is OpenVINO's CPU precision hint: it needs model.runtime = \"openvino\"".into()));
        }
        let keypoints = raw.keypoints.map(|k| keypoint_map(k, &decoder)).transpose().map_err(err)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let table = raw.tensorrt.and_then(|t| t.int8_calibration_table).map(|t| dir.join(t));
        if let Some(t) = &table {
            if !t.is_file() {
                return Err(err(format!(
                    "tensorrt.int8_calibration_table {} does not exist (make it with scripts/quantize_int8.py)",
                    t.display()
                )));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            name: raw.model.name,
            model_path: dir.join(&raw.model.file),
            input: InputSpec {
                name: i.name.clone(),
                width: i.width,
                height: i.height,
                layout: i.layout,
                channels: i.channels,
                mean: i.mean,
                std: i.std,
                fit: match i.resize {
                    ResizeKind::Stretch => Fit::Stretch,
                    ResizeKind::Letterbox => Fit::Letterbox { pad: i.pad },
                },
            },
            decoder,
            thresholds: t,
            labels: raw.labels.names,
            precision: raw.model.precision,
            runtime: raw.model.runtime,
            tensorrt_int8_calibration_table: table,
            tracking,
            keypoints,
        })
    }

    /// Class id of a label; spaces, dashes and underscores are treated alike, case ignored.
    pub fn class_id(&self, label: &str) -> Option<u32> {
        let norm = |s: &str| s.trim().to_lowercase().replace([' ', '-'], "_");
        let want = norm(label);
        self.labels.iter().position(|l| norm(l) == want).map(|i| i as u32)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"
[model]
name = "m"
file = "m.onnx"
[input]
name = "images"
width = 640
height = 640
layout = "nchw"
channels = "rgb"
mean = [0, 0, 0]
std = [255, 255, 255]
resize = "letterbox"
[decoder]
kind = "yolov8"
output = "output0"
[thresholds]
score = 0.25
nms_iou = 0.45
[labels]
names = ["person", "sports_ball"]
"#;

    #[test]
    fn parses_a_yolov8_manifest() {
        let m = Manifest::parse(GOOD, Path::new("/x/m.toml")).unwrap();
        assert_eq!(m.model_path, Path::new("/x/m.onnx"));
        assert_eq!(m.input.fit, Fit::Letterbox { pad: 114 });
        assert_eq!(m.decoder, DecoderSpec::Yolov8 { output: "output0".into() });
        assert_eq!(m.thresholds.max_detections, 300);
        assert_eq!(m.class_id("sports ball"), Some(1));
        assert_eq!(m.class_id("Person"), Some(0));
        assert_eq!(m.class_id("car"), None);
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = GOOD.replace("height = 640\n", "");
        let e = Manifest::parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(e.contains("m.toml") && e.contains("height"), "{e}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line() {
        let text = GOOD.replace("width = 640", "width = \"wide\"");
        let e = Manifest::parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(e.contains("line 7 `width = \"wide\"`"), "{e}");
    }

    #[test]
    fn decoder_parameters_are_checked_against_the_kind() {
        let text = GOOD.replace("output = \"output0\"", "reg_max = 7");
        let e = Manifest::parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(e.contains("decoder.reg_max is not a parameter of kind \"yolov8\""), "{e}");
        let text = GOOD.replace("kind = \"yolov8\"", "kind = \"nanodet\"");
        let e = Manifest::parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(e.contains("decoder.output is not a parameter of kind \"nanodet\""), "{e}");
        let text = GOOD.replace("output = \"output0\"", "");
        let e = Manifest::parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(e.contains("decoder.output is required for kind \"yolov8\""), "{e}");
    }

    #[test]
    fn an_unknown_decoder_kind_is_an_error() {
        let text = GOOD.replace("kind = \"yolov8\"", "kind = \"yolov99\"");
        let e = Manifest::parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(e.contains("yolov99"), "{e}");
    }

    #[test]
    fn a_missing_tensorrt_calibration_table_is_named() {
        let text = format!("{GOOD}\n[tensorrt]\nint8_calibration_table = \"trt/missing.flatbuffers\"\n");
        let e = Manifest::parse(&text, Path::new("/x/m.toml")).unwrap_err().to_string();
        assert!(e.contains("tensorrt.int8_calibration_table /x/trt/missing.flatbuffers does not exist"), "{e}");
        let m = Manifest::parse(GOOD, Path::new("m.toml")).unwrap();
        assert_eq!((m.precision, m.tensorrt_int8_calibration_table), (Precision::Fp32, None));
    }

    #[test]
    fn zero_std_is_rejected() {
        let text = GOOD.replace("std = [255, 255, 255]", "std = [255, 0, 255]");
        let e = Manifest::parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(e.contains("input.std[1]"), "{e}");
    }

    /// Regression: `mean = nan` or a tiny std ran and silently found nothing.
    #[test]
    fn non_finite_mean_and_tiny_std_are_rejected() {
        for (from, to, what) in [
            ("mean = [0, 0, 0]", "mean = [0, nan, 0]", "input.mean[1]"),
            ("mean = [0, 0, 0]", "mean = [inf, 0, 0]", "input.mean[0]"),
            ("std = [255, 255, 255]", "std = [255, 255, 1e-38]", "input.std[2]"),
            ("std = [255, 255, 255]", "std = [nan, 255, 255]", "input.std[0]"),
        ] {
            let text = GOOD.replace(from, to);
            assert_ne!(text, GOOD, "{to}");
            let e = Manifest::parse(&text, Path::new("m.toml")).unwrap_err().to_string();
            assert!(e.contains(what), "{to}: {e}");
        }
    }

    /// Regression (issue 34): `center_offset = nan` loaded and ran with 0 detections.
    #[test]
    fn a_center_offset_outside_its_stride_is_rejected() {
        let nanodet = GOOD.replace(
            "kind = \"yolov8\"\noutput = \"output0\"",
            "kind = \"nanodet\"\nstrides = [8]\nreg_max = 7\nscores = [\"s\"]\nboxes = [\"b\"]\ncenter_offset = CO",
        );
        assert_ne!(nanodet, GOOD);
        assert!(Manifest::parse(&nanodet.replace("CO", "0.5"), Path::new("m.toml")).is_ok());
        for bad in ["nan", "inf", "-0.5", "1.5"] {
            let e = Manifest::parse(&nanodet.replace("CO", bad), Path::new("m.toml")).unwrap_err().to_string();
            assert!(e.contains("decoder.center_offset must be within 0..=1"), "{bad}: {e}");
        }
    }
}
