//! The zero-shot classifier: an image-encoder manifest, its text-embedding table, and scoring.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::image::{ChannelOrder, Fit};
use crate::infer::encoder::{EncoderModel, ImageEncoder};
use crate::roi::{RoiBatch, RoiDtype, RoiSpec};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    model: RawModel,
    input: RawInput,
    output: RawOutput,
    /// Optional: an encoder without a text table embeds (`fovea embed`) but cannot classify.
    text: Option<RawText>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    file: PathBuf,
    /// The CPU runtime (default ONNX Runtime; OpenVINO reads ONNX or an IR of a static batch).
    #[serde(default)]
    runtime: crate::infer::manifest::RuntimeKind,
    /// fp32 (default) or, on OpenVINO, bf16 (its precision hint).
    #[serde(default)]
    precision: crate::infer::manifest::Precision,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    size: u32,
    mean: [f32; 3],
    std: [f32; 3],
    #[serde(default = "rgb")]
    channels: ChannelOrder,
    letterbox: Option<u8>,
}

fn rgb() -> ChannelOrder {
    ChannelOrder::Rgb
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: String,
    dim: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    table: PathBuf,
    #[serde(default = "hundred")]
    logit_scale: f32,
    #[serde(default)]
    prompt_pooling: Pooling,
}

fn hundred() -> f32 {
    100.0
}

/// How a label's prompts are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean of the label's prompt embeddings, renormalised (CLIP's prompt ensembling).
    #[default]
    Mean,
    /// The best prompt's similarity.
    Max,
}

/// An image encoder described by its manifest (TOML).
#[derive(Debug, Clone)]
pub struct ClipManifest {
    pub path: PathBuf,
    pub name: String,
    pub model_path: PathBuf,
    pub runtime: crate::infer::manifest::RuntimeKind,
    pub precision: crate::infer::manifest::Precision,
    pub input_name: String,
    /// ROI tensors the encoder takes (size, mean/std, channel order as a swap of RGB frames).
    pub roi: RoiSpec,
    pub output_name: String,
    pub dim: usize,
    /// The text table (none: the encoder only embeds).
    pub table_path: Option<PathBuf>,
    pub logit_scale: f32,
    pub pooling: Pooling,
}

impl ClipManifest {
    /// The encoder this manifest describes, for the inference layer.
    pub fn encoder_model(&self) -> EncoderModel {
        EncoderModel {
            name: self.name.clone(),
            manifest: self.path.clone(),
            model: self.model_path.clone(),
            runtime: self.runtime,
            precision: self.precision,
            input: self.input_name.clone(),
            output: self.output_name.clone(),
            dim: self.dim,
            roi: self.roi.clone(),
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Manifest { path: path.to_path_buf(), reason };
        let text = crate::error::read_config(path)?;
        let m: RawManifest = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        if !(1..=MAX_ENCODER_SIZE).contains(&m.input.size) || !(1..=MAX_EMBEDDING_DIM).contains(&m.output.dim) {
            return Err(bad(format!(
                "input.size must be within 1..={MAX_ENCODER_SIZE} and output.dim within 1..={MAX_EMBEDDING_DIM}, got {} and {}",
                m.input.size, m.output.dim
            )));
        }
        use crate::infer::manifest::{Precision, RuntimeKind};
        match (m.model.runtime, m.model.precision) {
            (_, Precision::Fp32) | (RuntimeKind::OpenVino, Precision::Bf16 | Precision::Int8) => {}
            (r, p) => {
                return Err(bad(format!(
                    "model.precision {p} is not one an encoder runs in on {} (fp32; bf16 or an INT8 model on openvino)",
                    r.name()
                )))
            }
        }
        if m.input.mean.iter().any(|v| !v.is_finite()) {
            return Err(bad(format!("input.mean must be finite, got {:?}", m.input.mean)));
        }
        if m.input.std.iter().any(|s| !(s.is_finite() && *s >= MIN_STD)) {
            return Err(bad(format!("input.std must be finite and >= {MIN_STD}, got {:?}", m.input.std)));
        }
        if let Some(t) = m.text.as_ref().filter(|t| !(t.logit_scale.is_finite() && t.logit_scale > 0.0)) {
            return Err(bad(format!("text.logit_scale must be > 0, got {}", t.logit_scale)));
        }
        Ok(Self {
            path: path.to_path_buf(),
            name: m.model.name,
            model_path: dir.join(&m.model.file),
            runtime: m.model.runtime,
            precision: m.model.precision,
            input_name: m.input.name,
            roi: RoiSpec {
                size: m.input.size,
                mean: m.input.mean,
                std: m.input.std,
                fit: m.input.letterbox.map_or(Fit::Stretch, |pad| Fit::Letterbox { pad }),
                dtype: RoiDtype::F32,
                swap_rb: m.input.channels == ChannelOrder::Bgr,
            },
            output_name: m.output.name,
            dim: m.output.dim,
            table_path: m.text.as_ref().map(|t| dir.join(&t.table)),
            logit_scale: m.text.as_ref().map_or(100.0, |t| t.logit_scale),
            pooling: m.text.as_ref().map_or(Pooling::Mean, |t| t.prompt_pooling),
        })
    }
}

/// Prompt embeddings: one L2-normalised row per prompt, with its label. File format: `NAME.npy`
/// (float32, prompts x dim, C order) and `NAME.json` beside it:
/// `{"dim": D, "prompts": [{"label": "...", "text": "..."}, ...]}` (same order as the rows).
#[derive(Debug, Clone)]
pub struct TextTable {
    pub dim: usize,
    pub labels: Vec<String>,
    pub prompts: Vec<String>,
    /// prompts x dim.
    pub rows: Vec<f32>,
}

/// Reads a float32, C-order `.npy` file: (shape, data).
/// Largest ROI side an encoder manifest may ask for (CLIP models take 224 to 448).
pub const MAX_ENCODER_SIZE: u32 = crate::roi::MAX_ROI_SIZE;
/// Largest embedding an encoder manifest may declare.
pub const MAX_EMBEDDING_DIM: usize = 16_384;
/// Smallest normalisation std (pixel units): below it normalised values overflow or vanish.
pub const MIN_STD: f32 = 1e-3;

pub fn read_npy_f32(path: &Path) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    let b = std::fs::read(path).map_err(|e| e.to_string())?;
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = std::str::from_utf8(b.get(start..start + hlen).ok_or("truncated header")?).map_err(|_| "header is not text")?;
    if !header.contains("'descr': '<f4'") {
        return Err(format!("expected float32 ('<f4') data, header: {}", header.trim()));
    }
    if header.contains("'fortran_order': True") {
        return Err("Fortran order is not supported; save with np.ascontiguousarray".into());
    }
    let shape_text = header.split("'shape':").nth(1).and_then(|s| s.split(')').next()).ok_or("no shape in header")?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches([' ', '('])
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().map_err(|_| format!("bad shape {shape_text}")))
        .collect::<std::result::Result<_, _>>()?;
    let data: Vec<f32> = b[start + hlen..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| format!("shape {shape:?} is too large"))?;
    if data.len() != count {
        return Err(format!("{} values for shape {shape:?}", data.len()));
    }
    Ok((shape, data))
}

impl TextTable {
    /// Loads `table` (.npy) and its `.json` sidecar; checks shape, labels and normalisation.
    pub fn load(table: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Manifest { path: table.to_path_buf(), reason };
        if !table.exists() {
            return Err(Error::FileNotFound { path: table.to_path_buf() });
        }
        let (shape, rows) = read_npy_f32(table).map_err(bad)?;
        let side = table.with_extension("json");
        let meta: Value = serde_json::from_str(
            &std::fs::read_to_string(&side)
                .map_err(|e| Error::Manifest { path: side.clone(), reason: format!("cannot read the table's labels: {e}") })?,
        )
        .map_err(|e| Error::Manifest { path: side.clone(), reason: e.to_string() })?;
        let prompts = meta["prompts"]
            .as_array()
            .ok_or_else(|| Error::Manifest { path: side.clone(), reason: "\"prompts\" missing or not an array".into() })?;
        let mut labels = Vec::new();
        let mut texts = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            let l =
                p["label"].as_str().ok_or_else(|| Error::Manifest { path: side.clone(), reason: format!("prompts[{i}].label missing") })?;
            labels.push(l.to_string());
            texts.push(p["text"].as_str().unwrap_or("").to_string());
        }
        if labels.is_empty() || shape.first() == Some(&0) {
            return Err(bad("the table is empty".into()));
        }
        if shape.len() != 2 || shape[0] != labels.len() {
            return Err(bad(format!("shape {shape:?}, expected [{} prompts, dim] as the .json lists", labels.len())));
        }
        let dim = shape[1];
        for (i, r) in rows.chunks_exact(dim).enumerate() {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            if !n.is_finite() || (n - 1.0).abs() > 1e-3 {
                return Err(bad(format!("row {i} (\"{}\") has L2 norm {n}, expected 1 (normalise the text embeddings)", texts[i])));
            }
        }
        Ok(Self { dim, labels, prompts: texts, rows })
    }

    pub fn has_label(&self, l: &str) -> bool {
        self.labels.iter().any(|x| x == l)
    }
}

/// Per label: its pooled embedding (mean) or its prompts' rows (max).
#[derive(Debug, Clone)]
struct LabelVectors {
    names: Vec<String>,
    /// For each label, the rows (each `dim` floats) it is scored against.
    rows: Vec<Vec<f32>>,
}

/// The device a GPU encoder shares with the ROI stage.
pub use crate::infer::encoder::GpuDevice;

/// Most ROIs per encoder call (see [`crate::infer::encoder::MAX_ENCODER_BATCH`]).
pub use crate::infer::encoder::MAX_ENCODER_BATCH;

/// The zero-shot classifier: the image encoder (the inference layer's) and the text table.
pub struct ZeroShot {
    pub encoder: ImageEncoder,
    pub manifest: ClipManifest,
    pub table: TextTable,
    labels: LabelVectors,
}

impl std::fmt::Debug for ZeroShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroShot").field("model", &self.manifest.name).finish()
    }
}

impl ZeroShot {
    /// Loads the encoder and its table; checks the encoder's tensors and that the embedding size
    /// equals the table's.
    pub fn load(manifest: &ClipManifest, threads: usize) -> Result<Self> {
        Self::load_on(manifest, threads, &crate::infer::provider::Selection::cpu(), None)
    }

    /// As [`ZeroShot::load`], on the provider `sel` names. On a GPU the encoder shares `dev`
    /// (its context and stream) with the ROI stage, so device ROI batches feed it in place
    /// ([`ImageEncoder::embed_device`]).
    pub fn load_on(
        manifest: &ClipManifest,
        threads: usize,
        sel: &crate::infer::provider::Selection,
        dev: Option<GpuDevice>,
    ) -> Result<Self> {
        crate::infer::check_build(sel)?;
        let m = manifest;
        let table = match &m.table_path {
            Some(p) => TextTable::load(p)?,
            None => TextTable { dim: m.dim, labels: Vec::new(), prompts: Vec::new(), rows: Vec::new() },
        };
        if table.dim != m.dim {
            return Err(Error::ModelMismatch {
                path: m.path.clone(),
                reason: format!(
                    "output.dim is {} but the text table {} has {}-dimensional rows",
                    m.dim,
                    m.table_path.as_deref().unwrap_or(Path::new("")).display(),
                    table.dim
                ),
            });
        }
        let encoder = ImageEncoder::load(&m.encoder_model(), threads, sel, dev)?;
        let labels = Self::label_vectors(&table, m.pooling);
        Ok(Self { encoder, manifest: manifest.clone(), table, labels })
    }

    fn label_vectors(t: &TextTable, pooling: Pooling) -> LabelVectors {
        let mut names: Vec<String> = Vec::new();
        for l in &t.labels {
            if !names.contains(l) {
                names.push(l.clone());
            }
        }
        let rows = names
            .iter()
            .map(|n| {
                let mine: Vec<&[f32]> = t.labels.iter().zip(t.rows.chunks_exact(t.dim)).filter(|(l, _)| *l == n).map(|(_, r)| r).collect();
                match pooling {
                    Pooling::Max => mine.concat(),
                    Pooling::Mean => {
                        let mut v = vec![0.0f32; t.dim];
                        for r in &mine {
                            v.iter_mut().zip(*r).for_each(|(a, b)| *a += b);
                        }
                        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                        v.iter_mut().for_each(|x| *x /= n);
                        v
                    }
                }
            })
            .collect();
        LabelVectors { names, rows }
    }

    /// The distinct labels of the table.
    pub fn labels(&self) -> &[String] {
        &self.labels.names
    }

    /// L2-normalised embeddings of the first `n` ROIs of `rois` (f32), `n x dim`.
    pub fn embed(&mut self, rois: &RoiBatch, n: usize) -> Result<Vec<f32>> {
        self.encoder.embed(rois, n)
    }

    /// Cosine similarity of one embedding with `label` (max over prompts or the pooled vector).
    pub fn similarity(&self, emb: &[f32], label: &str) -> Option<f32> {
        let i = self.labels.names.iter().position(|n| n == label)?;
        let d = self.manifest.dim;
        self.labels.rows[i].chunks_exact(d).map(|r| r.iter().zip(emb).map(|(a, b)| a * b).sum::<f32>()).reduce(f32::max)
    }

    /// Softmax of `logit_scale x cosine` over `labels` for one embedding.
    pub fn probabilities(&self, emb: &[f32], labels: &[String]) -> Vec<f32> {
        let logits: Vec<f32> = labels.iter().map(|l| self.manifest.logit_scale * self.similarity(emb, l).unwrap_or(-1.0)).collect();
        let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = logits.iter().map(|x| (x - m).exp()).collect();
        let s: f32 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }
}
