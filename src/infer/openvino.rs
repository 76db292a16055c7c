//! OpenVINO as a CPU runtime beside ONNX Runtime: its C library (`libopenvino_c`, from the
//! `openvino` PyPI wheel that `make setup` unpacks into `.deps/openvino/`) loaded at run time, a
//! model (ONNX, or an IR `.xml` beside its `.bin`) compiled for the CPU plugin with a precision
//! hint and one stream per inference worker, and one infer request per worker.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openvino::{CompiledModel, Core, DeviceType, ElementType, InferRequest, PropertyKey, RwPropertyKey, Shape, Tensor};

use super::backend::OutputView;
use super::manifest::Precision;
use crate::error::{Error, Result};

/// OpenVINO version fovea is built and tested against (the `openvino` PyPI wheel).
pub const OPENVINO_VERSION: &str = "2026.4.1";
/// Its C library's file name.
pub const OPENVINO_C_LIB: &str = "libopenvino_c.so.2641";

static LOADED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// Places the OpenVINO C library is looked for, in order: `$FOVEA_OPENVINO_LIB` (only that, if
/// set), then `.deps/openvino/` of the source tree, beside fovea's own library and the
/// executable's `.deps/openvino` or `lib` folders.
pub fn library_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("FOVEA_OPENVINO_LIB") {
        return vec![PathBuf::from(p)];
    }
    let mut v = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/openvino").join(OPENVINO_C_LIB)];
    if let Some(dir) = super::own_library_dir() {
        v.push(dir.join("openvino").join(OPENVINO_C_LIB));
    }
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            v.push(up.join(".deps/openvino").join(OPENVINO_C_LIB));
            v.push(up.join("lib/openvino").join(OPENVINO_C_LIB));
        }
    }
    v
}

/// Loads OpenVINO's C library once per process; later calls return the same result.
pub fn load() -> Result<&'static Path> {
    LOADED.get_or_init(load_library).as_deref().map_err(|reason| Error::RuntimeMissing {
        reason: format!(
            "OpenVINO runtime not available: {reason}; run `make setup` (scripts/setup.sh unpacks openvino=={OPENVINO_VERSION}'s \
             libraries into .deps/openvino) or set FOVEA_OPENVINO_LIB to {OPENVINO_C_LIB}"
        ),
    })
}

fn load_library() -> std::result::Result<PathBuf, String> {
    let mut tried = Vec::new();
    for c in library_candidates() {
        if !c.is_file() {
            tried.push(format!("{} (no such file)", c.display()));
            continue;
        }
        // A library that exists but does not load is an error, not a reason to look on.
        openvino_sys::library::load_from(&c).map_err(|e| format!("{} does not load: {e}", c.display()))?;
        log::info!("OpenVINO loaded from {}", c.display());
        return Ok(c);
    }
    Err(format!("{OPENVINO_C_LIB} not found; tried {}", tried.join(", ")))
}

/// A model compiled for OpenVINO's CPU plugin, and what it was compiled with.
pub(crate) struct Compiled {
    pub model: CompiledModel,
    /// The input's fixed shape (OpenVINO models are compiled static here).
    pub input_shape: Vec<i64>,
    /// For reports: "OpenVINO 2026.4.1 CPU plugin (bf16 precision hint, one stream per worker)".
    pub describe: String,
}

/// The CPU plugin's inference precision hint for a manifest's precision; `None`: the plugin's
/// default for the CPU.
fn precision_hint(p: Precision) -> Result<Option<&'static str>> {
    match p {
        Precision::Fp32 => Ok(Some("f32")),
        Precision::Bf16 => Ok(Some("bf16")),
        // An INT8 model's quantised layers run in int8, the rest in the plugin's default (bf16 on
        // CPUs with AVX512-BF16 or AMX, else f32): what NNCF's accuracy control measured it with.
        Precision::Int8 => Ok(None),
        Precision::Fp16 => Err(Error::Unsupported {
            what: "precision",
            reason: "fp16 is a GPU precision; OpenVINO's CPU plugin takes fp32, bf16 or an INT8 model".into(),
        }),
    }
}

/// Reads `path` (ONNX or IR) with `input` and compiles it for the CPU with `streams` streams of
/// `threads / streams` threads each.
pub(crate) fn compile(path: &Path, input: &str, precision: Precision, streams: usize, threads: usize) -> Result<Compiled> {
    let lib = load()?;
    let ov_err = |what: &str, e: &dyn std::fmt::Display| Error::Inference {
        path: path.to_path_buf(),
        reason: format!("OpenVINO ({}): {what}: {e}", lib.display()),
    };
    let hint = precision_hint(precision)?;
    let mut core = Core::new().map_err(|e| ov_err("cannot create its core", &e))?;
    let text = |p: &Path| p.to_str().map(str::to_string).ok_or_else(|| ov_err("path is not UTF-8", &p.display()));
    let weights = match path.extension().and_then(|e| e.to_str()) {
        Some("xml") => text(&path.with_extension("bin"))?,
        _ => String::new(),
    };
    let model = core.read_model_from_file(&text(path)?, &weights).map_err(|e| ov_err("cannot read the model", &e))?;
    let cpu = DeviceType::CPU;
    let mut props = vec![(RwPropertyKey::NumStreams, streams.to_string()), (RwPropertyKey::InferenceNumThreads, threads.to_string())];
    // The plugin pins its threads to the first cores by default: with fewer threads than the
    // machine has cores, several fovea processes (Ray actors, services side by side) were all
    // pinned to core 0 and ran one at a time (two 1-thread `fovea detect`s: 49 s against 51 s
    // for one after the other). Pinning stays where the process takes every core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < cores {
        props.push((RwPropertyKey::HintEnableCpuPinning, "NO".to_string()));
    }
    if let Some(h) = hint {
        props.push((RwPropertyKey::HintInferencePrecision, h.to_string()));
    }
    for (k, v) in &props {
        core.set_property(&cpu, k, v).map_err(|e| ov_err(&format!("cannot set {} = {v}", k.as_ref()), &e))?;
    }
    let model = core.compile_model(&model, cpu).map_err(|e| ov_err("cannot compile the model for the CPU", &e))?;
    let mismatch = |reason: String| Error::ModelMismatch { path: path.to_path_buf(), reason };
    let node = model.get_input_by_name(input).map_err(|e| mismatch(format!("input tensor '{input}' not found: {e}")))?;
    let ps = node.get_partial_shape().map_err(|e| ov_err("input shape", &e))?;
    if ps.is_dynamic() {
        return Err(mismatch(format!(
            "input '{input}' has a dynamic shape: fovea compiles OpenVINO models with static shapes (fix it in the conversion)"
        )));
    }
    let input_shape: Vec<i64> = ps.get_dimensions().iter().map(|d| d.get_min()).collect();
    // What really runs: the compiled model's precision, whether set or the plugin's default.
    let ran =
        model.get_property(&PropertyKey::Rw(RwPropertyKey::HintInferencePrecision)).map(|p| p.into_owned()).unwrap_or_else(|_| "?".into());
    let how = if hint.is_some() { "precision hint" } else { "the plugin's default precision" };
    let describe = format!("OpenVINO {OPENVINO_VERSION} CPU plugin ({ran}, {how}, one stream per worker)");
    Ok(Compiled { model, input_shape, describe })
}

/// The names and static shapes of `names` among the compiled model's outputs.
pub(crate) fn output_shapes(compiled: &Compiled, path: &Path, names: &[String]) -> Result<Vec<(String, Vec<i64>)>> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let node = compiled
            .model
            .get_output_by_name(name)
            .map_err(|e| Error::ModelMismatch { path: path.to_path_buf(), reason: format!("output '{name}' not found: {e}") })?;
        let ps = node
            .get_partial_shape()
            .map_err(|e| Error::Inference { path: path.to_path_buf(), reason: format!("OpenVINO: output '{name}': {e}") })?;
        out.push((name.clone(), ps.get_dimensions().iter().map(|d| if d.is_dynamic() { -1 } else { d.get_min() }).collect()));
    }
    Ok(out)
}

/// One worker's infer request and its input tensor.
pub(crate) struct Request {
    request: InferRequest,
    input_name: String,
    input: Tensor,
}

impl Request {
    /// A new request on `compiled`, its input `name` of the compiled shape.
    pub(crate) fn new(compiled: &mut Compiled, path: &Path, name: &str) -> Result<Self> {
        let ov_err = |e: openvino::InferenceError| Error::Inference { path: path.to_path_buf(), reason: format!("OpenVINO: {e}") };
        let shape = Shape::new(&compiled.input_shape).map_err(ov_err)?;
        let input = Tensor::new(ElementType::F32, &shape).map_err(ov_err)?;
        let mut request = compiled.model.create_infer_request().map_err(ov_err)?;
        request.set_tensor(name, &input).map_err(ov_err)?;
        Ok(Self { request, input_name: name.to_string(), input })
    }

    /// As [`super::backend::Backend::run`]: `data` must fill the compiled input shape.
    pub(crate) fn run<R>(
        &mut self,
        model: &Path,
        shape: &[usize],
        data: &[f32],
        outputs: &[String],
        read: impl FnOnce(&[OutputView]) -> Result<R>,
    ) -> Result<R> {
        let ov_err = |e: openvino::InferenceError| Error::Inference { path: model.to_path_buf(), reason: format!("OpenVINO: {e}") };
        let buf = self.input.get_data_mut::<f32>().map_err(ov_err)?;
        if buf.len() != data.len() {
            return Err(Error::State(format!(
                "OpenVINO input '{}' takes {} floats, {} given (shape {shape:?})",
                self.input_name,
                buf.len(),
                data.len()
            )));
        }
        buf.copy_from_slice(data);
        self.request.infer().map_err(ov_err)?;
        let mut tensors = Vec::with_capacity(outputs.len());
        for name in outputs {
            let t = self.request.get_tensor(name).map_err(|e| Error::ModelMismatch {
                path: model.to_path_buf(),
                reason: format!("output '{name}' missing from the results: {e}"),
            })?;
            if t.get_element_type().map_err(ov_err)? != ElementType::F32 {
                return Err(Error::ModelMismatch { path: model.to_path_buf(), reason: format!("output '{name}' is not a float32 tensor") });
            }
            let shape = t.get_shape().map_err(ov_err)?;
            tensors.push((t, shape));
        }
        let mut views = Vec::with_capacity(outputs.len());
        for (name, (t, shape)) in outputs.iter().zip(&tensors) {
            views.push(OutputView { name, shape: shape.get_dimensions(), data: t.get_data::<f32>().map_err(ov_err)? });
        }
        read(&views)
    }
}
