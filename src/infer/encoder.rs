//! An image encoder: a model that maps `N x 3 x S x S` float32 images to `N x D` embeddings
//! (L2-normalised rows). The zero-shot classifier, `fovea embed` and key frames' diversity run it.
//! On the CPU its workers are the detector's [`Backend`]s (ONNX Runtime sessions or OpenVINO infer
//! requests: one call path for both); on a GPU an ONNX Runtime session reads device ROI batches in
//! place through I/O binding.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use ort::session::Session;

use super::backend::{Backend, OutputView};
use super::manifest::{Precision, RuntimeKind};
use crate::error::{Error, Result};

/// What an encoder is: its model and tensors (from an encoder manifest).
#[derive(Debug, Clone)]
pub struct EncoderModel {
    pub name: String,
    /// The manifest it came from (errors name it).
    pub manifest: PathBuf,
    pub model: PathBuf,
    pub runtime: RuntimeKind,
    pub precision: Precision,
    pub input: String,
    pub output: String,
    /// Floats per embedding.
    pub dim: usize,
    /// Its input images: side, mean/std, channel order (a swap of RGB frames), fit.
    pub roi: crate::roi::RoiSpec,
}

/// Most images per encoder call (a symbolic batch dimension's TensorRT profile is 1..=this;
/// larger requests are split).
pub const MAX_ENCODER_BATCH: usize = 256;

/// The device a GPU encoder shares with the ROI stage.
pub type GpuDevice = std::sync::Arc<crate::cuda::Device>;

/// The encoder on a GPU: its session and I/O binding (the binding declared first: dropped, with
/// the session's last reference, before the device whose stream the session was given).
struct OnGpu {
    binding: ort::session::IoBinding,
    session: Session,
    dev: GpuDevice,
}

/// A loaded image encoder.
pub struct ImageEncoder {
    model: EncoderModel,
    /// CPU workers, run at once on parts of a batch ([`super::workers::plan`]); none on a GPU.
    workers: Vec<Backend>,
    /// OpenVINO's compiled model, which its infer requests need alive.
    _compiled: Option<super::openvino::Compiled>,
    gpu: Option<OnGpu>,
    /// The model's fixed batch dimension, if it has one (calls are then made of exactly that
    /// many images, the last padded); `None`: symbolic, calls of up to [`MAX_ENCODER_BATCH`].
    fixed_batch: Option<usize>,
    /// The execution provider it runs on.
    pub provider: String,
    /// Calls made and images embedded.
    pub calls: u64,
    pub rois: u64,
}

impl std::fmt::Debug for ImageEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageEncoder").field("model", &self.model.name).field("provider", &self.provider).finish()
    }
}

/// Divides each `d`-float row of `rows` by its L2 norm.
fn normalise_rows(rows: &mut [f32], d: usize) {
    for r in rows.chunks_exact_mut(d) {
        let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        r.iter_mut().for_each(|x| *x /= norm);
    }
}

impl ImageEncoder {
    /// Loads the encoder with `threads` in all (0: one per core) on the provider `sel` names;
    /// on a GPU it shares `dev` (its context and stream) with the ROI stage. Checks its input
    /// and output against `m`.
    pub fn load(m: &EncoderModel, threads: usize, sel: &super::provider::Selection, dev: Option<GpuDevice>) -> Result<Self> {
        super::check_build(sel)?;
        if !m.model.exists() {
            return Err(Error::Manifest { path: m.manifest.clone(), reason: format!("model.file {} does not exist", m.model.display()) });
        }
        if threads > super::MAX_THREADS {
            return Err(Error::InvalidOption {
                option: "--threads",
                reason: format!("must be within 0..={} (0: one per core), got {threads}", super::MAX_THREADS),
            });
        }
        let (workers, per_worker) = super::workers::plan(threads, 0);
        let mismatch = |reason: String| Error::ModelMismatch { path: m.model.clone(), reason };
        let this = |workers, compiled, gpu, fixed_batch, provider| Self {
            model: m.clone(),
            workers,
            _compiled: compiled,
            gpu,
            fixed_batch,
            provider,
            calls: 0,
            rois: 0,
        };
        if m.runtime == RuntimeKind::OpenVino {
            if sel.is_gpu() {
                return Err(Error::Unsupported {
                    what: "runtime",
                    reason: format!("{}: an OpenVINO encoder runs on the CPU; use an ONNX manifest on a GPU", m.manifest.display()),
                });
            }
            // Compiled with a static input shape: its batch is every call's.
            let mut compiled = super::openvino::compile(&m.model, &m.input, m.precision, workers, workers * per_worker)?;
            let s = i64::from(m.roi.size);
            let shape = compiled.input_shape.clone();
            if shape.len() != 4 || shape[1..] != [3, s, s] || shape[0] < 1 {
                return Err(mismatch(format!("input '{}' has the shape {shape:?}, the manifest says [N, 3, {s}, {s}]", m.input)));
            }
            let outs = super::openvino::output_shapes(&compiled, &m.model, std::slice::from_ref(&m.output))?;
            if outs[0].1.last().is_some_and(|&d| d > 0 && d as usize != m.dim) {
                return Err(mismatch(format!(
                    "output '{}' has the shape {:?}, the manifest says {} values per ROI",
                    m.output, outs[0].1, m.dim
                )));
            }
            let requests = (0..workers)
                .map(|_| super::openvino::Request::new(&mut compiled, &m.model, &m.input).map(Backend::OpenVino))
                .collect::<Result<Vec<_>>>()?;
            let provider = format!("{}, {workers} workers", compiled.describe);
            return Ok(this(requests, Some(compiled), None, Some(shape[0] as usize), provider));
        }
        let (first, gpu, provider, fixed_batch) = if sel.is_gpu() {
            let (plan, fixed) = Self::provider_plan(m, sel)?;
            super::session::gpu_available(sel)?;
            let dev = dev.ok_or_else(|| Error::State("a GPU encoder needs the device of the ROI stage".into()))?;
            let (session, binding) = super::session::gpu_open(&plan, &dev, workers * per_worker, std::slice::from_ref(&m.output))?;
            check_session(&session, m)?;
            (None, Some(OnGpu { binding, session, dev }), plan.describe(), fixed)
        } else {
            let session = super::session::cpu(&m.model, per_worker)?;
            check_session(&session, m)?;
            let fixed = session
                .inputs()
                .iter()
                .find(|i| i.name() == m.input)
                .and_then(|i| i.dtype().tensor_shape().and_then(|sh| sh.first().copied()))
                .filter(|&d| d > 0)
                .map(|d| d as usize);
            (Some(session), None, format!("CPUExecutionProvider, {workers} workers x {per_worker} threads"), fixed)
        };
        let mut backends = Vec::new();
        if let Some(session) = first {
            backends.push(Backend::Ort(session));
            for _ in 1..workers {
                backends.push(Backend::Ort(super::session::cpu(&m.model, per_worker)?));
            }
        }
        Ok(this(backends, None, gpu, fixed_batch, provider))
    }

    /// The encoder's plan on the GPU provider `sel` names, and its fixed batch dimension if any
    /// (read from the model by a light CPU session; no device needed). A symbolic batch gets a
    /// TensorRT profile of 1..=[`MAX_ENCODER_BATCH`]; a fixed one none (TensorRT builds for it),
    /// and on a GPU it must be 1 (a device batch cannot be padded in place).
    pub fn provider_plan(m: &EncoderModel, sel: &super::provider::Selection) -> Result<(super::provider::ProviderPlan, Option<usize>)> {
        use super::provider::{ModelRef, ProviderPlan, TrtBuild};
        let dim = super::session::input_batch_dim(&m.model, &m.input)?;
        let fixed = (dim > 0).then_some(dim as usize);
        if let Some(b) = fixed.filter(|&b| b > 1) {
            return Err(Error::ModelMismatch {
                path: m.model.clone(),
                reason: format!(
                    "input '{}' has a fixed batch of {b}: on a GPU an encoder needs a symbolic batch dimension or a batch of 1 (export it so)",
                    m.input
                ),
            });
        }
        let model = ModelRef {
            name: m.name.clone(),
            manifest: m.manifest.clone(),
            model: m.model.clone(),
            precision: Precision::Fp32,
            input_name: m.input.clone(),
            input_shape: format!("3x{}x{}", m.roi.size, m.roi.size),
            calibration_table: None,
        };
        let trt = TrtBuild { batch: fixed.unwrap_or(MAX_ENCODER_BATCH), ..TrtBuild::default() };
        Ok((ProviderPlan::new(&model, sel, &trt, fixed.is_none())?, fixed))
    }

    pub fn model(&self) -> &EncoderModel {
        &self.model
    }

    /// Whether the encoder runs on a GPU (and takes device ROI batches).
    pub fn on_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// The L2-normalised embeddings of whole frames (in `order`), `frames.len() x dim`: each
    /// made the encoder's input by the ROI stage (into `rois`, reused across calls), then
    /// [`ImageEncoder::embed`]. What `fovea embed` and key frames' diversity embed.
    pub fn embed_frames(
        &mut self,
        frames: &[crate::image::FrameView],
        order: crate::image::ChannelOrder,
        rois: &mut crate::roi::RoiBatch,
    ) -> Result<Vec<f32>> {
        use crate::roi::{Crop, RoiRef};
        let mut spec = self.model.roi.clone();
        // The manifest's swap is relative to RGB frames.
        if order == crate::image::ChannelOrder::Bgr {
            spec.swap_rb = !spec.swap_rb;
        }
        let refs: Vec<RoiRef> =
            frames.iter().enumerate().map(|(i, f)| RoiRef { frame: i, crop: Crop { x: 0, y: 0, w: f.width, h: f.height } }).collect();
        crate::roi::extract(frames, &refs, &spec, rois);
        self.embed(rois, frames.len())
    }

    /// L2-normalised embeddings of the first `n` ROIs of `rois` (float32, of the encoder's
    /// size), `n x dim`: calls of the fixed batch, or the ROIs shared out among the workers, run
    /// at once.
    pub fn embed(&mut self, rois: &crate::roi::RoiBatch, n: usize) -> Result<Vec<f32>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let s = self.model.roi.size as usize;
        let len = 3 * s * s;
        let data = &rois.f32;
        if rois.size != self.model.roi.size || data.len() < n * len {
            return Err(Error::State(format!(
                "{}: {n} ROIs of {s}x{s} asked from a batch of {} floats of {}x{} ROIs",
                self.model.name,
                data.len(),
                rois.size,
                rois.size
            )));
        }
        if self.workers.is_empty() {
            return Err(Error::State(format!("{}: the encoder runs on a GPU: it takes device ROI batches", self.model.name)));
        }
        let workers = self.workers.len();
        let per = self.fixed_batch.unwrap_or_else(|| n.div_ceil(workers).min(MAX_ENCODER_BATCH));
        let calls: Vec<(usize, usize)> = (0..n).step_by(per).map(|start| (start, per.min(n - start))).collect();
        let mut out = Vec::with_capacity(n * self.model.dim);
        let (m, fixed, data) = (&self.model, self.fixed_batch, &data[..n * len]);
        for group in calls.chunks(workers) {
            let parts: Vec<Result<Vec<f32>>> = std::thread::scope(|sc| {
                let (here, there) = self.workers.split_first_mut().expect("at least one worker");
                let handles: Vec<_> =
                    there.iter_mut().zip(&group[1..]).map(|(b, &c)| sc.spawn(move || call(b, m, fixed, data, c))).collect();
                let mut parts = vec![call(here, m, fixed, data, group[0])];
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

    /// Embeddings of the `n` first ROIs of `rois` (float32, of the encoder's size), already on
    /// the GPU, on the device's stream, read in place through I/O binding.
    pub fn embed_device(&mut self, rois: &crate::cuda::DeviceRoiBatch, n: usize) -> Result<Vec<f32>> {
        let m = &self.model;
        if n == 0 {
            return Ok(Vec::new());
        }
        if n > rois.n || rois.size != m.roi.size {
            return Err(Error::State(format!(
                "{}: {n} ROIs of {}x{} asked from a device batch of {} ROIs of {}x{}",
                m.name, m.roi.size, m.roi.size, rois.n, rois.size, rois.size
            )));
        }
        let Some(gpu) = self.gpu.as_mut() else {
            return Err(Error::State(format!("{}: the encoder runs on the CPU; device ROI batches need a GPU provider", m.name)));
        };
        if gpu.dev.ordinal() != rois.ordinal {
            return Err(Error::State(format!(
                "{}: the ROI batch is on cuda:{}, the encoder on cuda:{}",
                m.name,
                rois.ordinal,
                gpu.dev.ordinal()
            )));
        }
        let s = i64::from(m.roi.size);
        let per = self.fixed_batch.unwrap_or(MAX_ENCODER_BATCH);
        let mut out = Vec::with_capacity(n * m.dim);
        let inference = |e: String| Error::Inference { path: m.model.clone(), reason: e };
        for start in (0..n).step_by(per) {
            let k = per.min(n - start);
            let part = rois.range(start, k).expect("inside the batch: checked above");
            super::bind_device_f32(&mut gpu.binding, &m.input, &part.tensor(), vec![k as i64, 3, s, s]).map_err(inference)?;
            let outputs = gpu.session.run_binding(&gpu.binding).map_err(|e| inference(e.to_string()))?;
            let v = outputs.get(&m.output).ok_or_else(|| mismatch(m, format!("output '{}' missing from the results", m.output)))?;
            let (shape, data) =
                v.try_extract_tensor::<f32>().map_err(|e| mismatch(m, format!("output '{}' is not float32: {e}", m.output)))?;
            out.extend(normalised(m, &OutputView { name: &m.output, shape: &shape[..], data }, k, k)?);
            self.calls += 1;
        }
        self.rois += n as u64;
        Ok(out)
    }
}

fn mismatch(m: &EncoderModel, reason: String) -> Error {
    Error::ModelMismatch { path: m.model.clone(), reason }
}

/// Checks that an ONNX Runtime session has the encoder's input and output, of its size.
fn check_session(session: &Session, m: &EncoderModel) -> Result<()> {
    if !session.inputs().iter().any(|i| i.name() == m.input) {
        let names: Vec<_> = session.inputs().iter().map(|i| i.name().to_string()).collect();
        return Err(mismatch(m, format!("input '{}' not found (the model's inputs: {names:?})", m.input)));
    }
    let Some(out) = session.outputs().iter().find(|o| o.name() == m.output) else {
        let names: Vec<_> = session.outputs().iter().map(|o| o.name().to_string()).collect();
        return Err(mismatch(m, format!("output '{}' not found (the model's outputs: {names:?})", m.output)));
    };
    if let Some(&d) = out.dtype().tensor_shape().and_then(|shape| shape.last().copied()).as_ref() {
        if d > 0 && d as usize != m.dim {
            return Err(mismatch(m, format!("output '{}' has {d} values per ROI, the manifest and table say {}", m.output, m.dim)));
        }
    }
    Ok(())
}

/// The first `k` of a call's `b` embeddings, checked and L2-normalised.
fn normalised(m: &EncoderModel, v: &OutputView, b: usize, k: usize) -> Result<Vec<f32>> {
    let d = m.dim;
    if v.data.len() != b * d {
        return Err(mismatch(m, format!("output '{}' has the shape {:?}, expected [{b}, {d}]", m.output, v.shape)));
    }
    let mut out = v.data[..k * d].to_vec();
    normalise_rows(&mut out, d);
    Ok(out)
}

/// One call on a worker: the `k` images from `start` of `data`, padded with zeros to a fixed
/// batch; their normalised embeddings.
fn call(backend: &mut Backend, m: &EncoderModel, fixed: Option<usize>, data: &[f32], (start, k): (usize, usize)) -> Result<Vec<f32>> {
    let s = m.roi.size as usize;
    let len = 3 * s * s;
    let rows = &data[start * len..(start + k) * len];
    let b = fixed.unwrap_or(k).max(k);
    let padded;
    let rows = if b > k {
        let mut p = rows.to_vec();
        p.resize(b * len, 0.0);
        padded = p;
        &padded[..]
    } else {
        rows
    };
    backend.run(&m.model, &m.input, &[b, 3, s, s], rows, std::slice::from_ref(&m.output), |views| normalised(m, &views[0], b, k))
}
