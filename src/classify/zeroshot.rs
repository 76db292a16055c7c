//! The zero-shot classifier: an image-encoder manifest, its text-embedding table, and scoring.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::image::{ChannelOrder, Fit};
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
            (_, Precision::Fp32) | (RuntimeKind::OpenVino, Precision::Bf16) => {}
            (r, p) => {
                return Err(bad(format!("model.precision {p} is not one an encoder runs in on {} (fp32; bf16 on openvino)", r.name())))
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

/// Divides each `d`-float row of `rows` by its L2 norm.
pub(crate) fn normalise_rows(rows: &mut [f32], d: usize) {
    for r in rows.chunks_exact_mut(d) {
        let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        r.iter_mut().for_each(|x| *x /= norm);
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
pub type GpuDevice = std::sync::Arc<crate::cuda::Device>;

/// The encoder on a GPU: its I/O binding (declared first: dropped, with the session's last
/// reference, before the device whose stream the session was given).
struct OnGpu {
    binding: ort::session::IoBinding,
    dev: std::sync::Arc<crate::cuda::Device>,
}

/// The zero-shot classifier: encoder session + table.
pub struct ZeroShot {
    /// The ONNX Runtime session (none on OpenVINO).
    session: Option<Session>,
    /// OpenVINO's compiled model and one infer request per worker (manifest `runtime = "openvino"`).
    ov: Option<(crate::infer::openvino::Compiled, Vec<crate::infer::backend::Backend>)>,
    /// More CPU sessions, run at once with the first on parts of a batch (inference workers,
    /// [`crate::infer::workers::plan`]); none on a GPU.
    more: Vec<Session>,
    gpu: Option<OnGpu>,
    /// The execution provider the encoder runs on.
    pub provider: String,
    pub manifest: ClipManifest,
    pub table: TextTable,
    labels: LabelVectors,
    /// The model's fixed batch dimension, if it has one (calls are then made of exactly that
    /// many ROIs, the last padded); `None`: symbolic, calls of up to [`MAX_ENCODER_BATCH`].
    fixed_batch: Option<usize>,
    /// Embedding calls made and ROIs embedded.
    pub calls: u64,
    pub rois: u64,
}

/// Most ROIs per encoder call (a symbolic batch dimension's TensorRT profile is 1..=this; larger
/// requests are split).
pub const MAX_ENCODER_BATCH: usize = 256;

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
    /// ([`ZeroShot::embed_device`]); TensorRT's profile follows the model's batch dimension
    /// ([`ZeroShot::provider_plan`]).
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
        if !m.model_path.exists() {
            return Err(Error::Manifest { path: m.path.clone(), reason: format!("model.file {} does not exist", m.model_path.display()) });
        }
        if threads > crate::infer::MAX_THREADS {
            return Err(Error::InvalidOption {
                option: "--threads",
                reason: format!("must be within 0..={} (0: one per core), got {threads}", crate::infer::MAX_THREADS),
            });
        }
        let (workers, per_worker) = crate::infer::workers::plan(threads, 0);
        let threads = workers * per_worker;
        let labels = Self::label_vectors(&table, m.pooling);
        if m.runtime == crate::infer::manifest::RuntimeKind::OpenVino {
            if sel.is_gpu() {
                return Err(Error::Unsupported {
                    what: "runtime",
                    reason: format!("{}: an OpenVINO encoder runs on the CPU; use an ONNX manifest on a GPU", m.path.display()),
                });
            }
            let (compiled, requests, fixed) = super::encoder_ov::compile(m, workers, threads)?;
            let provider = format!("{}, {workers} workers", compiled.describe);
            return Ok(Self {
                session: None,
                ov: Some((compiled, requests)),
                more: Vec::new(),
                gpu: None,
                provider,
                manifest: manifest.clone(),
                table,
                labels,
                fixed_batch: Some(fixed),
                calls: 0,
                rois: 0,
            });
        }
        let mut more = Vec::new();
        let (session, gpu, provider, fixed_batch) = if sel.is_gpu() {
            let (plan, fixed) = Self::provider_plan(m, sel)?;
            crate::infer::session::gpu_available(sel)?;
            let dev = dev.ok_or_else(|| Error::State("a GPU encoder needs the device of the ROI stage".into()))?;
            let (session, binding) = crate::infer::session::gpu_open(&plan, &dev, threads, std::slice::from_ref(&m.output_name))?;
            (session, Some(OnGpu { binding, dev }), plan.describe(), fixed)
        } else {
            let session = crate::infer::session::cpu(&m.model_path, per_worker)?;
            for _ in 1..workers {
                more.push(crate::infer::session::cpu(&m.model_path, per_worker)?);
            }
            let fixed = session
                .inputs()
                .iter()
                .find(|i| i.name() == m.input_name)
                .and_then(|i| i.dtype().tensor_shape().and_then(|sh| sh.first().copied()))
                .filter(|&d| d > 0)
                .map(|d| d as usize);
            (session, None, format!("CPUExecutionProvider, {workers} workers x {per_worker} threads"), fixed)
        };
        let mismatch = |reason: String| Error::ModelMismatch { path: m.model_path.clone(), reason };
        if !session.inputs().iter().any(|i| i.name() == m.input_name) {
            let names: Vec<_> = session.inputs().iter().map(|i| i.name().to_string()).collect();
            return Err(mismatch(format!("input '{}' not found (the model's inputs: {names:?})", m.input_name)));
        }
        let Some(out) = session.outputs().iter().find(|o| o.name() == m.output_name) else {
            let names: Vec<_> = session.outputs().iter().map(|o| o.name().to_string()).collect();
            return Err(mismatch(format!("output '{}' not found (the model's outputs: {names:?})", m.output_name)));
        };
        if let Some(shape) = out.dtype().tensor_shape() {
            if let Some(&d) = shape.last() {
                if d > 0 && d as usize != m.dim {
                    return Err(mismatch(format!(
                        "output '{}' has {d} values per ROI, the manifest and table say {}",
                        m.output_name, m.dim
                    )));
                }
            }
        }
        Ok(Self {
            session: Some(session),
            ov: None,
            more,
            gpu,
            provider,
            manifest: manifest.clone(),
            table,
            labels,
            fixed_batch,
            calls: 0,
            rois: 0,
        })
    }

    /// The encoder's plan on the GPU provider `sel` names, and its fixed batch dimension if any
    /// (read from the model by a light CPU session; no device needed). A symbolic batch gets a
    /// TensorRT profile of 1..=[`MAX_ENCODER_BATCH`]; a fixed one none (TensorRT builds for it),
    /// and on a GPU it must be 1 (a device batch cannot be padded in place).
    pub fn provider_plan(
        m: &ClipManifest,
        sel: &crate::infer::provider::Selection,
    ) -> Result<(crate::infer::provider::ProviderPlan, Option<usize>)> {
        use crate::infer::provider::{ModelRef, ProviderPlan, TrtBuild};
        let dim = crate::infer::session::input_batch_dim(&m.model_path, &m.input_name)?;
        let fixed = (dim > 0).then_some(dim as usize);
        if let Some(b) = fixed.filter(|&b| b > 1) {
            return Err(Error::ModelMismatch {
                path: m.model_path.clone(),
                reason: format!(
                    "input '{}' has a fixed batch of {b}: on a GPU an encoder needs a symbolic batch dimension or a batch of 1 (export it so)",
                    m.input_name
                ),
            });
        }
        let model = ModelRef {
            name: m.name.clone(),
            manifest: m.path.clone(),
            model: m.model_path.clone(),
            precision: crate::infer::manifest::Precision::Fp32,
            input_name: m.input_name.clone(),
            input_shape: format!("3x{}x{}", m.roi.size, m.roi.size),
            calibration_table: None,
        };
        let trt = TrtBuild { batch: fixed.unwrap_or(MAX_ENCODER_BATCH), ..TrtBuild::default() };
        Ok((ProviderPlan::new(&model, sel, &trt, fixed.is_none())?, fixed))
    }

    /// Embeddings of the `n` first ROIs of `rois` (float32, S the manifest's size), already on
    /// the GPU, on the device's stream, read in place through I/O binding.
    pub fn embed_device(&mut self, rois: &crate::cuda::DeviceRoiBatch, n: usize) -> Result<Vec<f32>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if n > rois.n || rois.size != self.manifest.roi.size {
            return Err(Error::State(format!(
                "{}: {n} ROIs of {}x{} asked from a device batch of {} ROIs of {}x{}",
                self.manifest.name, self.manifest.roi.size, self.manifest.roi.size, rois.n, rois.size, rois.size
            )));
        }
        let path = self.manifest.model_path.clone();
        let Some(gpu) = self.gpu.as_mut() else {
            return Err(Error::State(format!(
                "{}: the encoder runs on the CPU; device ROI batches need a GPU provider",
                self.manifest.name
            )));
        };
        if gpu.dev.ordinal() != rois.ordinal {
            return Err(Error::State(format!(
                "{}: the ROI batch is on cuda:{}, the encoder on cuda:{}",
                self.manifest.name,
                rois.ordinal,
                gpu.dev.ordinal()
            )));
        }
        let s = self.manifest.roi.size as i64;
        let per = self.fixed_batch.unwrap_or(MAX_ENCODER_BATCH);
        let mut out = Vec::with_capacity(n * self.manifest.dim);
        for start in (0..n).step_by(per) {
            let k = per.min(n - start);
            let part = rois.range(start, k).expect("inside the batch: checked above");
            crate::infer::bind_device_f32(&mut gpu.binding, &self.manifest.input_name, &part.tensor(), vec![k as i64, 3, s, s])
                .map_err(|reason| Error::Inference { path: path.clone(), reason })?;
            let session = self.session.as_mut().ok_or_else(|| Error::State("a GPU encoder has its session".into()))?;
            let outputs = session.run_binding(&gpu.binding).map_err(|e| Error::Inference { path: path.clone(), reason: e.to_string() })?;
            out.extend(Self::normalised(&self.manifest, &outputs, k)?);
            self.calls += 1;
        }
        self.rois += n as u64;
        Ok(out)
    }

    /// Whether the encoder runs on a GPU (and takes device ROI batches).
    pub fn on_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// The manifest's output of `outputs`, checked, each row L2-normalised.
    fn normalised(m: &ClipManifest, outputs: &ort::session::SessionOutputs<'_>, n: usize) -> Result<Vec<f32>> {
        let path = m.model_path.clone();
        let v = outputs.get(&m.output_name).ok_or_else(|| Error::ModelMismatch {
            path: path.clone(),
            reason: format!("output '{}' missing from the results", m.output_name),
        })?;
        let (shape, data) = v
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::ModelMismatch { path: path.clone(), reason: format!("output '{}' is not float32: {e}", m.output_name) })?;
        let d = m.dim;
        if data.len() != n * d {
            return Err(Error::ModelMismatch { path, reason: format!("output shape {shape:?}, expected [{n}, {d}]") });
        }
        let mut out = data.to_vec();
        normalise_rows(&mut out, d);
        Ok(out)
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
        if n == 0 {
            return Ok(Vec::new());
        }
        let s = rois.size as usize;
        let len = 3 * s * s;
        assert!(rois.f32.len() >= n * len, "the ROI batch holds fewer than {n} f32 ROIs");
        let workers = 1 + self.more.len();
        // Calls of the fixed batch, or the ROIs shared out among the workers.
        let per = self.fixed_batch.unwrap_or_else(|| n.div_ceil(workers).min(MAX_ENCODER_BATCH));
        let calls: Vec<(usize, usize)> = (0..n).step_by(per).map(|start| (start, per.min(n - start))).collect();
        let mut out = Vec::with_capacity(n * self.manifest.dim);
        let (m, fixed, data) = (&self.manifest, self.fixed_batch, &rois.f32[..n * len]);
        if let Some((_, requests)) = self.ov.as_mut() {
            for group in calls.chunks(requests.len()) {
                let parts: Vec<Result<Vec<f32>>> = std::thread::scope(|sc| {
                    let handles: Vec<_> = requests
                        .iter_mut()
                        .zip(group)
                        .map(|(r, &c)| sc.spawn(move || super::encoder_ov::embed_call(r, m, fixed, data, s, c)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err(Error::Pipeline("an encoder worker panicked".into()))))
                        .collect()
                });
                for p in parts {
                    out.extend(p?);
                }
                self.calls += group.len() as u64;
            }
            self.rois += n as u64;
            return Ok(out);
        }
        let session = self.session.as_mut().ok_or_else(|| Error::State("the encoder has no session".into()))?;
        for group in calls.chunks(workers) {
            let (first, rest) = group.split_first().expect("chunks are not empty");
            let parts: Vec<Result<Vec<f32>>> = std::thread::scope(|sc| {
                let handles: Vec<_> = self
                    .more
                    .iter_mut()
                    .zip(rest)
                    .map(|(sess, &c)| sc.spawn(move || Self::embed_call(sess, m, fixed, data, s, c)))
                    .collect();
                let mut parts = vec![Self::embed_call(&mut *session, m, fixed, data, s, *first)];
                parts.extend(
                    handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::Pipeline("an encoder worker panicked".into())))),
                );
                parts
            });
            for p in parts {
                out.extend(p?);
            }
            self.calls += group.len() as u64;
        }
        self.rois += n as u64;
        Ok(out)
    }

    /// One encoder call on `session`: the `k` ROIs from `start` of `data` (each 3 x `s` x `s`),
    /// padded with zeros to a fixed batch; their normalised embeddings.
    fn embed_call(
        session: &mut Session,
        m: &ClipManifest,
        fixed: Option<usize>,
        data: &[f32],
        s: usize,
        (start, k): (usize, usize),
    ) -> Result<Vec<f32>> {
        let len = 3 * s * s;
        let ort_err = |e: ort::Error| Error::Inference { path: m.model_path.clone(), reason: e.to_string() };
        let mut rows = &data[start * len..(start + k) * len];
        let padded;
        let b = match fixed {
            Some(b) if k < b => {
                let mut p = rows.to_vec();
                p.resize(b * len, 0.0);
                padded = p;
                rows = &padded;
                b
            }
            _ => k,
        };
        let tensor = TensorRef::from_array_view(([b, 3, s, s], rows)).map_err(ort_err)?;
        let outputs = session.run(ort::inputs![m.input_name.as_str() => tensor]).map_err(ort_err)?;
        let mut v = Self::normalised(m, &outputs, b)?;
        v.truncate(k * m.dim);
        Ok(v)
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
