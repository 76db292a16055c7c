//! Inference: the ONNX Runtime library, sessions, and the detector built from a manifest.
//!
//! ```text
//!  pooled frames (model size, model channel order, u8) ──▶ normalise into the batch tensor
//!     ──▶ ONNX Runtime session (CPU execution provider) ──▶ OutputDecoder ──▶ NMS ──▶ boxes in
//!     source pixels
//! ```
//! On a GPU (feature `cuda`, [`provider`]): frames go through the pinned pool to device buffers,
//! the resize kernel writes the input tensor on the device, and the TensorRT or CUDA provider reads
//! it in place through I/O binding ([`crate::cuda::input`]); only the outputs come back.

pub(crate) mod backend;
pub mod calib;
pub mod defaults;
pub mod encoder;
pub mod engines;
mod gpu;
mod library;
pub mod manifest;
pub mod openvino;
pub mod preprocess;
pub mod provider;
pub(crate) mod session;
pub mod trt_table;
pub mod workers;

pub(crate) use library::own_library_dir;
pub use library::{library_candidates, runtime, Runtime, ORT_VERSION};

use ort::session::Session;

use crate::detect::{DecodeParams, Detection, OutputDecoder};
use crate::error::{Error, Result};
use crate::image::Transform;
use backend::{Backend, OutputView};
pub(crate) use gpu::{bind_device_f32, gpu_session, provider_available};
use manifest::{Layout, Manifest, RuntimeKind};
use provider::{ProviderKind, Selection, TrtBuild};

/// How the detector runs.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorOptions {
    /// Inference threads in all (0 = one per core), shared out among the workers.
    pub threads: usize,
    /// Inference workers (0 = automatic, [`workers::plan`]): model instances that run parts of
    /// a batch at once. One on a GPU.
    pub workers: usize,
    /// The runtime to run the model with; `None`: the one its manifest names. A plain fp32 ONNX
    /// model runs on either; other files only on the runtime they were made for.
    pub runtime: Option<RuntimeKind>,
    /// Frames per inference call wanted; used when the model's batch dimension allows it.
    pub batch: usize,
    /// Device and execution provider (default: the CPU).
    pub selection: Selection,
    /// TensorRT's precision and engine settings (used with the TensorRT provider).
    pub trt: TrtBuild,
}

/// Most frames one inference call may take.
pub const MAX_BATCH: usize = 256;
/// Most ONNX Runtime threads a model may be given.
pub const MAX_THREADS: usize = 256;

impl DetectorOptions {
    /// Checks the counts against [`MAX_BATCH`] and [`MAX_THREADS`].
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(Error::InvalidOption {
                option: "--batch",
                reason: format!("must be within 1..={MAX_BATCH} frames, got {}", self.batch),
            });
        }
        if self.workers > workers::MAX_WORKERS {
            return Err(Error::InvalidOption {
                option: "--workers",
                reason: format!("must be within 0..={} (0: automatic), got {}", workers::MAX_WORKERS, self.workers),
            });
        }
        if self.threads > MAX_THREADS {
            return Err(Error::InvalidOption {
                option: "--threads",
                reason: format!("must be within 0..={MAX_THREADS} (0: one per core), got {}", self.threads),
            });
        }
        Ok(())
    }
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self { threads: 0, workers: 0, runtime: None, batch: 1, selection: Selection::cpu(), trt: TrtBuild::default() }
    }
}

/// Where the batch's input tensor is assembled.
enum Input {
    /// Host memory, fed to ONNX Runtime as a borrowed tensor.
    Host(Vec<f32>),
    /// Device buffers, fed through I/O binding.
    Device(Box<DeviceSide>),
}

/// The GPU side of a detector. Field order is drop order: the binding (which holds the session's
/// last reference) goes before the device input, whose device owns the CUDA stream the session
/// was given.
struct DeviceSide {
    binding: ort::session::IoBinding,
    input: crate::cuda::input::DeviceInput,
}

/// Timings of one inference call, seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallTimes {
    pub preprocess_s: f64,
    pub inference_s: f64,
    pub postprocess_s: f64,
}

/// A detection model loaded from its manifest, with its reusable input batch buffer.
pub struct Detector {
    /// The inference workers (one on a GPU, where the I/O binding runs the first one's session).
    workers: Vec<workers::Worker>,
    /// An OpenVINO model the workers' requests were made from.
    _openvino: Option<openvino::Compiled>,
    runtime: RuntimeKind,
    manifest: Manifest,
    decoder: OutputDecoder,
    /// Frames per `run` in all, and per worker call.
    batch: usize,
    per_call: usize,
    batch_note: String,
    input: Input,
    output_names: Vec<String>,
    threads: usize,
    /// The model's batch dimension is fixed: every call feeds `batch` slots.
    fixed_batch: bool,
    pre: preprocess::Preprocessor,
    provider: String,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("model", &self.manifest.model_path).field("batch", &self.batch).finish()
    }
}

/// A session's input batch dimension (negative: symbolic) and the model's load errors.
fn batch_dim_of(session: &Session, manifest: &Manifest) -> Result<i64> {
    let path = &manifest.model_path;
    let mismatch = |reason: String| Error::ModelMismatch { path: path.clone(), reason };
    let spec = &manifest.input;
    let Some(input) = session.inputs().iter().find(|i| i.name() == spec.name) else {
        let names: Vec<_> = session.inputs().iter().map(|i| format!("'{}'", i.name())).collect();
        return Err(mismatch(format!("input tensor '{}' not found (the model's inputs: {})", spec.name, names.join(", "))));
    };
    let ort::value::ValueType::Tensor { ty, shape, .. } = input.dtype() else {
        return Err(mismatch(format!("input '{}' is not a tensor", spec.name)));
    };
    if !matches!(ty, ort::value::TensorElementType::Float32) {
        return Err(mismatch(format!("input '{}' has element type {ty:?}, fovea feeds float32", spec.name)));
    }
    input_batch(manifest, &shape[..])
}

/// The batch dimension of an input of `shape` (negative: symbolic), checked against the manifest.
fn input_batch(manifest: &Manifest, shape: &[i64]) -> Result<i64> {
    let mismatch = |reason: String| Error::ModelMismatch { path: manifest.model_path.clone(), reason };
    let spec = &manifest.input;
    let (h, w) = (spec.height as i64, spec.width as i64);
    let want: [i64; 4] = match spec.layout {
        Layout::Nchw => [-1, 3, h, w],
        Layout::Nhwc => [-1, h, w, 3],
    };
    let fits = shape.len() == 4 && shape.iter().zip(want).skip(1).all(|(g, w)| *g == w || *g < 0);
    if !fits {
        return Err(mismatch(format!(
            "input tensor '{}' has shape {}, manifest expects {} ({:?}, {}x{})",
            spec.name,
            crate::detect::format_shape(shape),
            crate::detect::format_shape(&[shape.first().copied().unwrap_or(1), want[1], want[2], want[3]]),
            spec.layout,
            spec.width,
            spec.height
        )));
    }
    Ok(shape[0])
}

impl Detector {
    /// Loads the model of `manifest` on the device and provider `opts.selection` asks for, and
    /// checks its tensors against the manifest. A device or provider that cannot be had is an
    /// error ([`Error::Unsupported`] / [`Error::RuntimeMissing`]) unless `allow_fallback`, when
    /// the model runs on the CPU and [`Detector::provider`] says so and why.
    pub fn load(manifest: &Manifest, opts: &DetectorOptions) -> Result<Self> {
        opts.validate()?;
        // The fields are public: the combination is checked here too.
        let s = opts.selection;
        let sel = Selection::resolve(Some(s.device), Some(s.provider), s.allow_fallback)?;
        if sel.provider == ProviderKind::Cpu && !sel.is_gpu() {
            return Self::load_cpu(manifest, opts);
        }
        match Self::load_gpu(manifest, opts) {
            Err(Error::Unsupported { reason, .. } | Error::RuntimeMissing { reason }) if sel.allow_fallback => {
                log::warn!("{} on {}: {reason}; running on the CPU as allowed", sel.provider.short(), sel.device);
                let mut d = Self::load_cpu(manifest, &DetectorOptions { selection: Selection::cpu(), ..opts.clone() })?;
                d.provider =
                    format!("CPUExecutionProvider (CPU fallback, as allowed: {} on {}: {reason})", sel.provider.short(), sel.device);
                Ok(d)
            }
            other => other,
        }
    }

    /// The output tensors the manifest's decoder reads.
    fn output_names(manifest: &Manifest) -> Vec<String> {
        let spec = &manifest.input;
        OutputDecoder::new(manifest.decoder.clone(), manifest.labels.len(), spec.width, spec.height)
            .outputs()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    fn check_model_file(manifest: &Manifest) -> Result<()> {
        if !manifest.model_path.exists() {
            return Err(Error::Manifest {
                path: manifest.path.clone(),
                reason: format!("model.file {} does not exist", manifest.model_path.display()),
            });
        }
        Ok(())
    }

    fn load_cpu(manifest: &Manifest, opts: &DetectorOptions) -> Result<Self> {
        Self::check_model_file(manifest)?;
        let runtime = Self::runtime_for(manifest, opts)?;
        let (n, per_worker) = workers::plan(opts.threads, opts.workers);
        let path = &manifest.model_path;
        let input_len = |batch: usize| batch * 3 * manifest.input.width as usize * manifest.input.height as usize;
        match runtime {
            RuntimeKind::OnnxRuntime => {
                let sessions = (0..n).map(|_| session::cpu(path, per_worker)).collect::<Result<Vec<_>>>()?;
                let batch_dim = batch_dim_of(&sessions[0], manifest)?;
                let shapes = ort_output_shapes(&sessions[0]);
                let batch = Self::batch_size(batch_dim, opts.batch, n);
                let workers = sessions.into_iter().map(|s| workers::Worker::new(Backend::Ort(s))).collect();
                let (input, name) = (Input::Host(vec![0.0; input_len(batch)]), "CPUExecutionProvider".to_string());
                Self::finish(manifest, opts, workers, None, shapes, batch_dim, input, name)
            }
            RuntimeKind::OpenVino => {
                let mut compiled = openvino::compile(path, &manifest.input.name, manifest.precision, n, n * per_worker)?;
                let batch_dim = input_batch(manifest, &compiled.input_shape)?;
                let shapes = openvino::output_shapes(&compiled, path, &Self::output_names(manifest))?;
                let reqs = (0..n).map(|_| openvino::Request::new(&mut compiled, path, &manifest.input.name)).collect::<Result<Vec<_>>>()?;
                let batch = Self::batch_size(batch_dim, opts.batch, n);
                let workers = reqs.into_iter().map(|r| workers::Worker::new(Backend::OpenVino(r))).collect();
                let describe = compiled.describe.clone();
                Self::finish(manifest, opts, workers, Some(compiled), shapes, batch_dim, Input::Host(vec![0.0; input_len(batch)]), describe)
            }
        }
    }

    /// The runtime `opts` asks for, checked against what the manifest's file is made for.
    fn runtime_for(manifest: &Manifest, opts: &DetectorOptions) -> Result<RuntimeKind> {
        let made = manifest.runtime;
        let Some(want) = opts.runtime.filter(|w| *w != made) else { return Ok(made) };
        let plain = manifest.precision == manifest::Precision::Fp32 && manifest.model_path.extension().is_some_and(|e| e == "onnx");
        if plain {
            return Ok(want);
        }
        Err(Error::InvalidOption {
            option: "--runtime",
            reason: format!(
                "model {} ({}, {}) is made for {made}; {want} runs plain fp32 ONNX models or its own (e.g. {})",
                manifest.name,
                manifest.precision,
                manifest.model_path.display(),
                if want == RuntimeKind::OpenVino { defaults::OV_INT8_MODEL } else { defaults::INT8_MODEL }
            ),
        })
    }

    /// Frames per worker call for a model whose batch dimension is `dim` when `wanted` are asked
    /// for in all from `workers` workers.
    fn per_call(dim: i64, wanted: usize, workers: usize) -> usize {
        match dim {
            d if d < 0 => wanted.max(1).div_ceil(workers.max(1)),
            d => d as usize,
        }
    }

    /// Frames per `run` in all: one call's worth per worker.
    fn batch_size(dim: i64, wanted: usize, workers: usize) -> usize {
        Self::per_call(dim, wanted, workers) * workers.max(1)
    }

    /// The GPU path: checks in the order of what they need (nothing, the ONNX Runtime library,
    /// the `cuda` feature, the provider in that library, a driver and device), so that
    /// configuration errors show on any machine.
    fn load_gpu(manifest: &Manifest, opts: &DetectorOptions) -> Result<Self> {
        let rt = runtime()?;
        let sel = opts.selection;
        let path = &manifest.model_path;
        let ort_err = |e: ort::Error| Error::Inference { path: path.clone(), reason: e.to_string() };
        Self::check_model_file(manifest)?;
        if Self::runtime_for(manifest, opts)? != RuntimeKind::OnnxRuntime {
            return Err(Error::Unsupported {
                what: "runtime",
                reason: format!(
                    "OpenVINO runs on the CPU here; {} on {} needs ONNX Runtime (--runtime onnxruntime)",
                    sel.provider.short(),
                    sel.device
                ),
            });
        }
        if opts.workers > 1 {
            return Err(Error::InvalidOption {
                option: "--workers",
                reason: format!("one inference worker on a GPU (its stream and I/O binding), {} asked", opts.workers),
            });
        }
        // 1. The model's batch dimension (a light CPU session, no graph optimisation), so that the
        //    plan knows whether TensorRT needs an optimisation profile.
        let batch_dim = {
            let s = (|| -> ort::Result<Session> {
                Session::builder(&rt.env)?
                    .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Disable)?
                    .with_intra_threads(1)?
                    .commit_from_file(path)
            })()
            .map_err(ort_err)?;
            batch_dim_of(&s, manifest)?
        };
        let batch = Self::batch_size(batch_dim, opts.batch, 1);
        let trt = TrtBuild { batch, ..opts.trt.clone() };
        // 2. Everything that needs no device: options, calibration table, engine files; then the
        //    build and the provider in the loaded ONNX Runtime.
        let plan = session::gpu_plan(&manifest.into(), &sel, &trt, batch_dim < 0)?;
        Self::load_planned(manifest, opts, plan, batch_dim)
    }

    fn load_planned(manifest: &Manifest, opts: &DetectorOptions, plan: provider::ProviderPlan, batch_dim: i64) -> Result<Self> {
        let sel = opts.selection;
        let path = &manifest.model_path;
        let ort_err = |e: ort::Error| Error::Inference { path: path.clone(), reason: e.to_string() };
        let batch = Self::batch_size(batch_dim, opts.batch, 1);
        // 3. The device (a clear error without a driver).
        let dev = crate::cuda::Device::shared(sel.ordinal())?;
        let frame_bytes = 1920 * 1080 * 3;
        let input =
            crate::cuda::input::DeviceInput::new(dev.clone(), manifest.input.roi_spec(), manifest.input.image_len(), batch, frame_bytes)?;
        // 4. The session: TensorRT (then CUDA for what TensorRT does not take), on our stream.
        let threads = workers::plan(opts.threads, 1).1;
        let (session, binding) = session::gpu_open(&plan, &dev, threads, &[])?;
        let shapes = ort_output_shapes(&session);
        if plan.kind == ProviderKind::TensorRt {
            if let Some(files) = &plan.engine {
                log::info!("TensorRT engine cache {} ({})", files.cache_dir.display(), files.prefix);
            }
        }
        let on = if input.device_preprocessing() {
            "resize kernel on the GPU"
        } else {
            "preprocessing on the CPU (the kernel makes square NCHW inputs)"
        };
        let input = Input::Device(Box::new(DeviceSide { binding, input }));
        let workers = vec![workers::Worker::new(Backend::Ort(session))];
        let mut d = Self::finish(manifest, opts, workers, None, shapes, batch_dim, input, plan.describe())?;
        // The outputs the decoder reads come back to host memory.
        if let Input::Device(side) = &mut d.input {
            let cpu = ort::memory::MemoryInfo::default();
            for name in &d.output_names {
                side.binding.bind_output_to_device(name.as_str(), &cpu).map_err(ort_err)?;
            }
        }
        d.batch_note = format!("{}; {on}; I/O binding on device buffers", d.batch_note);
        Ok(d)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        manifest: &Manifest,
        opts: &DetectorOptions,
        workers: Vec<workers::Worker>,
        openvino: Option<openvino::Compiled>,
        shapes: Vec<(String, Vec<i64>)>,
        batch_dim: i64,
        input: Input,
        provider: String,
    ) -> Result<Self> {
        let path = &manifest.model_path;
        let mismatch = |reason: String| Error::ModelMismatch { path: path.clone(), reason };
        let spec = &manifest.input;
        let n = workers.len();
        let per_call = Self::per_call(batch_dim, opts.batch, n);
        let batch = per_call * n;
        let per = match batch_dim {
            d if d < 0 => format!("{per_call} frames per call (dynamic batch dimension)"),
            1 if opts.batch > 1 && n == 1 => {
                format!("one frame per call (batch {} asked; the model's batch dimension is fixed at 1)", opts.batch)
            }
            1 => "one frame per call (the model's batch dimension is fixed at 1)".to_string(),
            d => format!("{d} frames per call (fixed batch dimension; short batches padded)"),
        };
        let batch_note = match (n, batch_dim) {
            (2.., _) => format!("batched: {batch} frames per run, {n} workers at once, {per}"),
            (_, d) if d < 0 => format!("batched: {per}"),
            _ => per,
        };

        // Outputs.
        let decoder = OutputDecoder::new(manifest.decoder.clone(), manifest.labels.len(), spec.width, spec.height);
        decoder.check_shapes(shapes.iter().map(|(n, s)| (n.as_str(), s.as_slice())), true).map_err(mismatch)?;
        let output_names = decoder.outputs().into_iter().map(|(n, _)| n).collect();
        let runtime = if openvino.is_some() { RuntimeKind::OpenVino } else { RuntimeKind::OnnxRuntime };
        Ok(Self {
            workers,
            _openvino: openvino,
            runtime,
            manifest: manifest.clone(),
            decoder,
            batch,
            per_call,
            batch_note,
            input,
            output_names,
            threads: workers::plan(opts.threads, n).1,
            fixed_batch: batch_dim > 1,
            pre: preprocess::Preprocessor::new(manifest.input.clone()),
            provider,
        })
    }

    /// The runtime the model runs on.
    pub fn runtime(&self) -> RuntimeKind {
        self.runtime
    }

    /// Inference workers (model instances running parts of a batch at once).
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Frames per inference call.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// How batching is done, for reports.
    pub fn batch_note(&self) -> &str {
        &self.batch_note
    }

    /// Inference threads per worker.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The execution provider the model really runs on, with its precision and device, and the
    /// reason when it is a CPU fallback.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Whether frames given to [`Detector::fill`] are resized and normalised on the GPU (then
    /// callers should pass frames, not preprocessed tensors, and skip CPU preprocessing).
    pub fn device_preprocessing(&self) -> bool {
        match &self.input {
            Input::Host(_) => false,
            Input::Device(d) => d.input.device_preprocessing(),
        }
    }

    /// The GPU the detector runs on (None on the CPU, a fallback included), to share with the
    /// stages after it.
    pub fn device(&self) -> Option<std::sync::Arc<crate::cuda::Device>> {
        match &self.input {
            Input::Host(_) => None,
            Input::Device(d) => Some(d.input.device().clone()),
        }
    }

    /// Staging buffers allocated so far on the GPU path (constant in steady state); 0 on the CPU.
    pub fn device_allocations(&self) -> u64 {
        match &self.input {
            Input::Host(_) => 0,
            Input::Device(d) => d.input.allocations(),
        }
    }

    /// Decode parameters from the manifest's defaults.
    pub fn default_params(&self) -> DecodeParams {
        let t = self.manifest.thresholds;
        DecodeParams { score_threshold: t.score, nms_iou: t.nms_iou, max_detections: t.max_detections, class_filter: None }
    }

    /// Resizes (OpenCV `INTER_LINEAR` semantics, see [`preprocess`]) and normalises one image
    /// into batch slot `slot`. `image` holds packed 3-channel pixels in the model's channel order,
    /// rows of `stride` bytes. Returns the transform from model-input pixels back to the image's.
    /// On the GPU path the frame is staged in pinned memory and resized there by the kernel.
    pub fn fill(&mut self, slot: usize, image: &[u8], width: u32, height: u32, stride: usize) -> Result<Transform> {
        if slot >= self.batch {
            return Err(Error::State(format!("batch slot {slot} >= batch {}", self.batch)));
        }
        let per = self.pre.len();
        match &mut self.input {
            Input::Host(buf) => Ok(self.pre.run(image, width, height, stride, &mut buf[slot * per..(slot + 1) * per])),
            Input::Device(d) => {
                let d = &mut d.input;
                if d.device_preprocessing() {
                    d.stage_frame(slot, image, width, height, stride)?;
                    let spec = &self.manifest.input;
                    Ok(Transform::new(width, height, spec.width, spec.height, spec.fit))
                } else {
                    Ok(self.pre.run(image, width, height, stride, d.tensor_slot(slot)))
                }
            }
        }
    }

    /// Copies an image already preprocessed by a [`preprocess::Preprocessor`] for this model into
    /// batch slot `slot`.
    pub fn fill_preprocessed(&mut self, slot: usize, tensor: &[f32]) -> Result<()> {
        let per = self.pre.len();
        if slot >= self.batch || tensor.len() != per {
            return Err(Error::State(format!(
                "preprocessed image of {} floats for slot {slot}: the model takes {per} floats, {} slots",
                tensor.len(),
                self.batch
            )));
        }
        match &mut self.input {
            Input::Host(buf) => buf[slot * per..(slot + 1) * per].copy_from_slice(tensor),
            Input::Device(d) => d.input.stage_tensor(slot, tensor)?,
        }
        Ok(())
    }

    /// A preprocessor for this model's input, for another thread.
    pub fn preprocessor(&self) -> preprocess::Preprocessor {
        preprocess::Preprocessor::new(self.manifest.input.clone())
    }

    /// Runs the model on the first `n` filled slots and returns each frame's detections in source
    /// pixels (mapped with `transforms[i]`), plus timings of inference and post-processing. On
    /// the CPU the slots are shared out among the workers, which run at once.
    pub fn run(&mut self, n: usize, transforms: &[Transform], params: &DecodeParams) -> Result<(Vec<Vec<Detection>>, CallTimes)> {
        self.run_each(n, transforms, &vec![params; n])
    }

    /// [`Detector::run`] with decode parameters per slot (`params[i]` for slot i): one call for
    /// frames of several jobs with their own thresholds and classes.
    pub fn run_each(&mut self, n: usize, transforms: &[Transform], params: &[&DecodeParams]) -> Result<(Vec<Vec<Detection>>, CallTimes)> {
        assert!(n >= 1 && n <= self.batch && transforms.len() >= n && params.len() >= n);
        let spec = &self.manifest.input;
        let (h, w) = (spec.height as usize, spec.width as usize);
        let frame_shape = match spec.layout {
            Layout::Nchw => [3, h, w],
            Layout::Nhwc => [h, w, 3],
        };
        let path = self.manifest.model_path.clone();
        match &mut self.input {
            Input::Host(buf) => {
                let call = workers::Call {
                    model: &path,
                    input: &spec.name,
                    frame_len: 3 * h * w,
                    frame_shape,
                    outputs: &self.output_names,
                    decoder: &self.decoder,
                    params,
                    per_call: self.per_call,
                    fixed: self.fixed_batch,
                };
                let (dets, secs) = workers::run_host(&mut self.workers, &call, buf, n, transforms)?;
                Ok((dets, CallTimes { preprocess_s: 0.0, inference_s: secs.inference, postprocess_s: secs.decode }))
            }
            Input::Device(b) => {
                let ort_err = |e: ort::Error| Error::Inference { path: path.clone(), reason: e.to_string() };
                // A fixed batch dimension is always fed whole; unused slots keep their last
                // tensors, ignored below (as on the CPU).
                let fed = if self.fixed_batch { self.batch } else { n };
                let shape = [fed, frame_shape[0], frame_shape[1], frame_shape[2]];
                let DeviceSide { binding, input: d } = &mut **b;
                let Backend::Ort(session) = &mut self.workers[0].backend else {
                    return Err(Error::State("a GPU detector runs ONNX Runtime".into()));
                };
                let t0 = std::time::Instant::now();
                d.upload(n)?;
                bind_device_f32(binding, &spec.name, &d.tensor(), shape.map(|v| v as i64).to_vec())
                    .map_err(|reason| Error::Inference { path: path.clone(), reason })?;
                let outputs = session.run_binding(binding).map_err(ort_err)?;
                let t1 = std::time::Instant::now();
                let mut views = Vec::with_capacity(self.output_names.len());
                for name in &self.output_names {
                    let v = outputs.get(name).ok_or_else(|| Error::ModelMismatch {
                        path: path.clone(),
                        reason: format!("output '{name}' missing from the results"),
                    })?;
                    let (shape, data) = v.try_extract_tensor::<f32>().map_err(|e| Error::ModelMismatch {
                        path: path.clone(),
                        reason: format!("output '{name}' is not a float32 tensor: {e}"),
                    })?;
                    views.push(OutputView { name, shape: &shape[..], data });
                }
                let mut candidates = Vec::new();
                let dets = workers::decode(&path, &self.decoder, &views, n, &transforms[..n], &params[..n], &mut candidates)?;
                let t2 = std::time::Instant::now();
                Ok((dets, CallTimes { preprocess_s: 0.0, inference_s: (t1 - t0).as_secs_f64(), postprocess_s: (t2 - t1).as_secs_f64() }))
            }
        }
    }
}

/// A model output copied out: name, shape, values.
pub type RawOutput = (String, Vec<i64>, Vec<f32>);

impl Detector {
    /// The model's raw float32 outputs (name, shape, values) for the image filled into slot 0,
    /// run by the first worker: what runtimes are compared on (tests/it/workers.rs).
    pub fn raw_outputs(&mut self) -> Result<Vec<RawOutput>> {
        let Input::Host(buf) = &self.input else {
            return Err(Error::State("raw outputs are read on the CPU path".into()));
        };
        let spec = &self.manifest.input;
        let (h, w) = (spec.height as usize, spec.width as usize);
        let shape = match spec.layout {
            Layout::Nchw => [self.per_call, 3, h, w],
            Layout::Nhwc => [self.per_call, h, w, 3],
        };
        let data = &buf[..self.per_call * 3 * h * w];
        self.workers[0].backend.run(&self.manifest.model_path, &spec.name, &shape, data, &self.output_names, |views| {
            Ok(views.iter().map(|v| (v.name.to_string(), v.shape.to_vec(), v.data.to_vec())).collect())
        })
    }
}

/// The names and shapes of a session's outputs.
fn ort_output_shapes(session: &Session) -> Vec<(String, Vec<i64>)> {
    session.outputs().iter().map(|o| (o.name().to_string(), o.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default())).collect()
}

/// Whether this build can run `sel` at all: a GPU device or provider needs the `cuda` feature.
/// (Callers check this before loading a model, so the answer does not wait for one.)
pub fn check_build(sel: &Selection) -> Result<()> {
    if crate::cuda::BUILT || (!sel.is_gpu() && sel.provider == ProviderKind::Cpu) {
        return Ok(());
    }
    Err(Error::Unsupported {
        what: "provider",
        reason: "this fovea was built without the `cuda` feature (cargo build --release --features cuda)".into(),
    })
}
