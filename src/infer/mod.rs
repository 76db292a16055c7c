//! Inference: the ONNX Runtime library, sessions, and the detector built from a manifest.
//!
//! ```text
//!  pooled frames (model size, model channel order, u8) ──▶ normalise into the batch tensor
//!     ──▶ ONNX Runtime session (CPU execution provider) ──▶ OutputDecoder ──▶ NMS ──▶ boxes in
//!     source pixels
//! ```

pub mod calib;
pub mod manifest;
pub mod preprocess;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::value::TensorRef;

use crate::detect::{nms, DecodeParams, Detection, OutputDecoder, TensorView};
use crate::error::{Error, Result};
use crate::video::Transform;
use manifest::{Layout, Manifest};

/// ONNX Runtime version fovea is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";

/// The loaded ONNX Runtime: where it came from and its environment.
#[derive(Debug)]
pub struct Runtime {
    pub library: PathBuf,
    pub(crate) env: ort::environment::Environment,
}

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// Places the ONNX Runtime library is looked for, in order: `$FOVEA_ORT_LIB` (only that, if set),
/// then `.deps/onnxruntime/` of the source tree and next to the executable, then the system's
/// library path.
pub fn library_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("FOVEA_ORT_LIB") {
        return vec![PathBuf::from(p)];
    }
    let file = format!("libonnxruntime.so.{ORT_VERSION}");
    let mut v = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/onnxruntime").join(&file)];
    // Beside the library fovea itself was loaded from (`make install` puts both in PREFIX/lib).
    if let Some(dir) = own_library_dir() {
        v.push(dir.join(&file));
    }
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            v.push(up.join(".deps/onnxruntime").join(&file));
            v.push(up.join("lib").join(&file));
        }
    }
    v.push(PathBuf::from(file));
    v.push(PathBuf::from("libonnxruntime.so"));
    v
}

/// The folder of the shared object (or executable) this code was loaded from.
fn own_library_dir() -> Option<PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address (of a function of this crate) and fills `info`;
    // dli_fname, when set, is a NUL-terminated path owned by the dynamic loader.
    let ok = unsafe { libc::dladdr(own_library_dir as *const libc::c_void, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: checked non-NULL above; the loader keeps the string alive.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(name.to_bytes())).parent().map(Path::to_path_buf)
}

/// Loads ONNX Runtime once per process (later calls return the same result).
pub fn runtime() -> Result<&'static Runtime> {
    RUNTIME.get_or_init(load_runtime).as_ref().map_err(|reason| Error::RuntimeMissing { reason: reason.clone() })
}

fn load_runtime() -> std::result::Result<Runtime, String> {
    let explicit = std::env::var_os("FOVEA_ORT_LIB").is_some();
    let candidates = library_candidates();
    let mut tried = Vec::new();
    for c in &candidates {
        // Bare names go to the dynamic loader's search path; paths must exist.
        let bare = c.components().count() == 1;
        if !bare && !c.exists() {
            tried.push(format!("{} (no such file)", c.display()));
            continue;
        }
        match ort::init_from(c) {
            Ok(builder) => {
                let env = builder.with_name("fovea").build().map_err(|e| format!("{}: {e}", c.display()))?;
                log::info!("ONNX Runtime loaded from {}", c.display());
                return Ok(Runtime { library: c.clone(), env });
            }
            Err(e) => {
                if explicit || !bare {
                    // A library that exists but does not load is an error, not a reason to look on.
                    return Err(format!("{} does not load: {e}", c.display()));
                }
                tried.push(format!("{} (not on the library path)", c.display()));
            }
        }
    }
    Err(format!("libonnxruntime.so {ORT_VERSION} not found; tried {}", tried.join(", ")))
}

/// How the detector runs.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorOptions {
    /// ONNX Runtime intra-op threads (0 = one per core).
    pub threads: usize,
    /// Frames per inference call wanted; used when the model's batch dimension allows it.
    pub batch: usize,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self { threads: 0, batch: 1 }
    }
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
    session: Session,
    manifest: Manifest,
    decoder: OutputDecoder,
    batch: usize,
    batch_note: String,
    input: Vec<f32>,
    output_names: Vec<String>,
    threads: usize,
    /// The model's batch dimension is fixed: every call feeds `batch` slots.
    fixed_batch: bool,
    candidates: Vec<Detection>,
    pre: preprocess::Preprocessor,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("model", &self.manifest.model_path).field("batch", &self.batch).finish()
    }
}

impl Detector {
    /// Loads the model of `manifest` and checks its tensors against the manifest.
    pub fn load(manifest: &Manifest, opts: &DetectorOptions) -> Result<Self> {
        let rt = runtime()?;
        let path = &manifest.model_path;
        let mismatch = |reason: String| Error::ModelMismatch { path: path.clone(), reason };
        let ort_err = |e: ort::Error| Error::Inference { path: path.clone(), reason: e.to_string() };
        if !path.exists() {
            return Err(Error::Manifest { path: manifest.path.clone(), reason: format!("model.file {} does not exist", path.display()) });
        }
        let threads = if opts.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { opts.threads };
        let session = (|| -> ort::Result<Session> {
            Session::builder(&rt.env)?.with_intra_threads(threads)?.with_inter_threads(1)?.commit_from_file(path)
        })()
        .map_err(ort_err)?;

        // Input: name, element type, shape.
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
                crate::detect::format_shape(&shape[..]),
                crate::detect::format_shape(&[shape.first().copied().unwrap_or(1), want[1], want[2], want[3]]),
                spec.layout,
                spec.width,
                spec.height
            )));
        }
        let batch_dim = shape[0];
        let (batch, batch_note) = match batch_dim {
            d if d < 0 => {
                let b = opts.batch.max(1);
                (b, format!("batched: {b} frames per call (dynamic batch dimension)"))
            }
            1 => (
                1,
                if opts.batch > 1 {
                    format!("one frame per call (batch {} asked; the model's batch dimension is fixed at 1)", opts.batch)
                } else {
                    "one frame per call (the model's batch dimension is fixed at 1)".to_string()
                },
            ),
            d => (d as usize, format!("batched: {d} frames per call (fixed batch dimension; short batches padded)")),
        };

        // Outputs.
        let decoder = OutputDecoder::new(manifest.decoder.clone(), manifest.labels.len(), spec.width, spec.height);
        let shapes: Vec<(String, Vec<i64>)> = session
            .outputs()
            .iter()
            .map(|o| (o.name().to_string(), o.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default()))
            .collect();
        decoder.check_shapes(shapes.iter().map(|(n, s)| (n.as_str(), s.as_slice())), true).map_err(mismatch)?;
        let output_names = decoder.outputs().into_iter().map(|(n, _)| n).collect();
        let per_frame = 3 * spec.width as usize * spec.height as usize;
        Ok(Self {
            session,
            manifest: manifest.clone(),
            decoder,
            batch,
            batch_note,
            input: vec![0.0; batch * per_frame],
            output_names,
            threads,
            fixed_batch: batch_dim > 1,
            candidates: Vec::new(),
            pre: preprocess::Preprocessor::new(manifest.input.clone()),
        })
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

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The execution provider the model runs on.
    pub fn provider(&self) -> &'static str {
        "CPUExecutionProvider"
    }

    /// Decode parameters from the manifest's defaults.
    pub fn default_params(&self) -> DecodeParams {
        let t = self.manifest.thresholds;
        DecodeParams { score_threshold: t.score, nms_iou: t.nms_iou, max_detections: t.max_detections, class_filter: None }
    }

    /// Resizes (OpenCV `INTER_LINEAR` semantics, see [`preprocess`]) and normalises one image
    /// into batch slot `slot`. `image` holds packed 3-channel pixels in the model's channel order,
    /// rows of `stride` bytes. Returns the transform from model-input pixels back to the image's.
    pub fn fill(&mut self, slot: usize, image: &[u8], width: u32, height: u32, stride: usize) -> Transform {
        assert!(slot < self.batch, "slot {slot} >= batch {}", self.batch);
        let per = self.pre.len();
        self.pre.run(image, width, height, stride, &mut self.input[slot * per..(slot + 1) * per])
    }

    /// Copies an image already preprocessed by a [`preprocess::Preprocessor`] for this model into
    /// batch slot `slot`.
    pub fn fill_preprocessed(&mut self, slot: usize, tensor: &[f32]) {
        assert!(slot < self.batch, "slot {slot} >= batch {}", self.batch);
        let per = self.pre.len();
        assert_eq!(tensor.len(), per, "preprocessed image has {} floats, the model takes {per}", tensor.len());
        self.input[slot * per..(slot + 1) * per].copy_from_slice(tensor);
    }

    /// A preprocessor for this model's input, for another thread.
    pub fn preprocessor(&self) -> preprocess::Preprocessor {
        preprocess::Preprocessor::new(self.manifest.input.clone())
    }

    /// Runs the model on the first `n` filled slots and returns each frame's detections in source
    /// pixels (mapped with `transforms[i]`), plus timings of inference and post-processing.
    pub fn run(&mut self, n: usize, transforms: &[Transform], params: &DecodeParams) -> Result<(Vec<Vec<Detection>>, CallTimes)> {
        assert!(n >= 1 && n <= self.batch && transforms.len() >= n);
        let spec = &self.manifest.input;
        let (h, w) = (spec.height as usize, spec.width as usize);
        // A fixed batch dimension is always fed whole; unused slots keep stale data, ignored below.
        let fed = if self.fixed_batch { self.batch } else { n };
        let shape = match spec.layout {
            Layout::Nchw => [fed, 3, h, w],
            Layout::Nhwc => [fed, h, w, 3],
        };
        let path = self.manifest.model_path.clone();
        let ort_err = |e: ort::Error| Error::Inference { path: path.clone(), reason: e.to_string() };
        let t0 = std::time::Instant::now();
        let tensor = TensorRef::from_array_view((shape, &self.input[..fed * 3 * h * w])).map_err(ort_err)?;
        let outputs = self.session.run(ort::inputs![spec.name.as_str() => tensor]).map_err(ort_err)?;
        let t1 = std::time::Instant::now();

        let mut views = Vec::with_capacity(self.output_names.len());
        for name in &self.output_names {
            let v = outputs
                .get(name)
                .ok_or_else(|| Error::ModelMismatch { path: path.clone(), reason: format!("output '{name}' missing from the results") })?;
            let (shape, data) = v.try_extract_tensor::<f32>().map_err(|e| Error::ModelMismatch {
                path: path.clone(),
                reason: format!("output '{name}' is not a float32 tensor: {e}"),
            })?;
            views.push((name.as_str(), &shape[..], data));
        }
        self.decoder
            .check_shapes(views.iter().map(|(n, s, _)| (*n, *s)), false)
            .map_err(|reason| Error::ModelMismatch { path: path.clone(), reason })?;
        let tv: Vec<TensorView> = views.iter().map(|(_, s, d)| TensorView { shape: s, data: d }).collect();
        let mut results = Vec::with_capacity(n);
        for (b, tf) in transforms.iter().enumerate().take(n) {
            self.candidates.clear();
            self.decoder.decode(&tv, b, params, &mut self.candidates);
            if self.decoder.needs_nms() {
                nms(&mut self.candidates, params.nms_iou, params.max_detections);
            } else {
                self.candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
                self.candidates.truncate(params.max_detections);
            }
            let dets: Vec<Detection> = self
                .candidates
                .iter()
                .map(|d| Detection { bbox: tf.apply(d.bbox), ..*d })
                .filter(|d| d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1])
                .collect();
            results.push(dets);
        }
        let t2 = std::time::Instant::now();
        Ok((results, CallTimes { preprocess_s: 0.0, inference_s: (t1 - t0).as_secs_f64(), postprocess_s: (t2 - t1).as_secs_f64() }))
    }
}
