//! Execution providers: what the caller asked for (`--device`, `--provider`, TensorRT precision),
//! the exact ONNX Runtime options it turns into, and every check that can be made before a GPU is
//! needed (unit-tested here, on machines without one).
//!
//! ```text
//! Selection { device, provider, allow_fallback } ─┐
//! Manifest ([tensorrt] calibration table)        ─┼─▶ ProviderPlan ─▶ provider options (key, value)
//! TrtBuild { precision, batch, EPContext }        ─┘        │            + session config entries
//!                                                           └─▶ EngineFiles: cache dir, timing
//!                                                               cache, EPContext model path
//! ```
//!
//! TensorRT engines are cached per model, precision and batch in `<manifest dir>/trt/cache/`;
//! `fovea engines build` writes an EPContext model (ONNX Runtime's wrapper of a prebuilt engine)
//! beside the manifest as `<name>.<precision>.b<batch>.ctx.onnx`, which later runs load instead of
//! the ONNX model, so start-up does not rebuild the engine.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::infer::manifest::{Layout, Manifest, Precision};

/// Where inference and the GPU stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSel {
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal.
    Cuda(usize),
}

impl FromStr for DeviceSel {
    type Err = Error;

    /// `cpu`, `cuda` (GPU 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidOption { option: "device", reason: format!("expected cpu, cuda or cuda:N, got '{s}'") };
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()).map(Self::Cuda).ok_or_else(bad),
        }
    }
}

impl std::fmt::Display for DeviceSel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// ONNX Runtime execution provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderKind {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
}

impl FromStr for ProviderKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "tensorrt" | "trt" => Ok(Self::TensorRt),
            _ => Err(Error::InvalidOption { option: "provider", reason: format!("expected cpu, cuda or tensorrt, got '{s}'") }),
        }
    }
}

impl ProviderKind {
    /// ONNX Runtime's name of the provider.
    pub fn ort_name(self) -> &'static str {
        match self {
            Self::Cpu => "CPUExecutionProvider",
            Self::Cuda => "CUDAExecutionProvider",
            Self::TensorRt => "TensorrtExecutionProvider",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::TensorRt => "tensorrt",
        }
    }
}

/// What to run on. `allow_fallback` lets a request that cannot be had run on the CPU instead
/// (reported); otherwise it is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Selection {
    pub device: DeviceSel,
    pub provider: ProviderKind,
    pub allow_fallback: bool,
}

impl Selection {
    /// The CPU: what every run gets unless it asks for more.
    pub fn cpu() -> Self {
        Self::default()
    }

    /// Checks the combination: a GPU provider needs a CUDA device (`--provider tensorrt` alone
    /// means `--device cuda:0`); the CPU provider on a CUDA device runs the pre- and
    /// post-processing kernels on the GPU and the model on the CPU, which is never what anyone
    /// wants, so it is refused.
    pub fn resolve(device: Option<DeviceSel>, provider: Option<ProviderKind>, allow_fallback: bool) -> Result<Self> {
        let (device, provider) = match (device, provider) {
            (None, None) => (DeviceSel::Cpu, ProviderKind::Cpu),
            (Some(d @ DeviceSel::Cuda(_)), None) => (d, ProviderKind::TensorRt),
            (Some(DeviceSel::Cpu), None) => (DeviceSel::Cpu, ProviderKind::Cpu),
            (None, Some(ProviderKind::Cpu)) => (DeviceSel::Cpu, ProviderKind::Cpu),
            (None, Some(p)) => (DeviceSel::Cuda(0), p),
            (Some(d), Some(p)) => (d, p),
        };
        match (device, provider) {
            (DeviceSel::Cpu, ProviderKind::Cuda | ProviderKind::TensorRt) => Err(Error::InvalidOption {
                option: "provider",
                reason: format!("the {} provider runs on a GPU: use --device cuda[:N] (or leave --device out)", provider.short()),
            }),
            (DeviceSel::Cuda(_), ProviderKind::Cpu) => Err(Error::InvalidOption {
                option: "provider",
                reason: "--device cuda with --provider cpu would run the model on the CPU: use --provider cuda or tensorrt".into(),
            }),
            _ => Ok(Self { device, provider, allow_fallback }),
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self.device, DeviceSel::Cuda(_))
    }

    pub fn ordinal(&self) -> usize {
        match self.device {
            DeviceSel::Cuda(n) => n,
            DeviceSel::Cpu => 0,
        }
    }
}

/// What a provider plan needs to know of a model: detector manifests and classifier (image
/// encoder) manifests both give one.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRef {
    pub name: String,
    /// The manifest file (engines and EPContext models go beside it).
    pub manifest: PathBuf,
    pub model: PathBuf,
    pub precision: Precision,
    pub input_name: String,
    /// The input's shape after the batch dimension, as TensorRT profiles write it (`3x416x416`).
    pub input_shape: String,
    pub calibration_table: Option<PathBuf>,
}

impl From<&Manifest> for ModelRef {
    fn from(m: &Manifest) -> Self {
        let i = &m.input;
        Self {
            name: m.name.clone(),
            manifest: m.path.clone(),
            model: m.model_path.clone(),
            precision: m.precision,
            input_name: i.name.clone(),
            input_shape: match i.layout {
                Layout::Nchw => format!("3x{}x{}", i.height, i.width),
                Layout::Nhwc => format!("{}x{}x3", i.height, i.width),
            },
            calibration_table: m.tensorrt_int8_calibration_table.clone(),
        }
    }
}

/// TensorRT build settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrtBuild {
    pub precision: Precision,
    /// INT8 calibration table (any format of [`crate::infer::trt_table`]);
    /// `None` takes the manifest's `[tensorrt] int8_calibration_table`.
    pub calibration_table: Option<PathBuf>,
    /// Largest batch the engine takes (dynamic-batch models get an optimisation profile 1..=batch).
    pub batch: usize,
    /// TensorRT's workspace limit, bytes.
    pub workspace_bytes: usize,
    /// Write the EPContext model while building (what `fovea engines build` does).
    pub dump_ep_context: bool,
}

impl Default for TrtBuild {
    fn default() -> Self {
        Self { precision: Precision::Fp16, calibration_table: None, batch: 1, workspace_bytes: 2 << 30, dump_ep_context: false }
    }
}

/// The files of one TensorRT engine of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFiles {
    /// Engine cache and timing cache folder: `<manifest dir>/trt/cache`.
    pub cache_dir: PathBuf,
    /// Prefix of the engine files in the cache: `<name>.<precision>.b<batch>`.
    pub prefix: String,
    /// The EPContext model beside the manifest: `<name>.<precision>.b<batch>.ctx.onnx`.
    pub ep_context_model: PathBuf,
}

/// The engine cache folder, relative to the manifest's (and the EPContext model's) folder.
pub const ENGINE_CACHE_DIR: &str = "trt/cache";

impl EngineFiles {
    pub fn of(manifest: &ModelRef, precision: Precision, batch: usize) -> Self {
        let dir = manifest.manifest.parent().unwrap_or(Path::new("."));
        let prefix = format!("{}.{precision}.b{batch}", manifest.name);
        Self { cache_dir: dir.join(ENGINE_CACHE_DIR), ep_context_model: dir.join(format!("{prefix}.ctx.onnx")), prefix }
    }

    /// Whether a prebuilt engine (its EPContext model) exists.
    pub fn prebuilt(&self) -> bool {
        self.ep_context_model.is_file()
    }
}

/// Everything the session builder needs for one model: the provider's options and the session
/// configuration entries, with the model file to load.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderPlan {
    pub kind: ProviderKind,
    /// The provider's options, in the order they are set.
    pub options: Vec<(String, String)>,
    /// Options of the CUDA provider registered after TensorRT for the nodes TensorRT does not
    /// take (empty for the CPU and CUDA providers).
    pub cuda_options: Vec<(String, String)>,
    /// Session configuration entries.
    pub session: Vec<(String, String)>,
    /// The model file the session loads: the ONNX model, or the EPContext model of a prebuilt
    /// engine.
    pub model: PathBuf,
    /// TensorRT's files; `None` for the other providers.
    pub engine: Option<EngineFiles>,
    /// The calibration table, put inside `engine.cache_dir` before the session is made (ONNX
    /// Runtime looks for it relative to the engine cache path).
    pub calibration: Option<CalibrationFile>,
}

/// An INT8 calibration table on its way into the engine cache folder.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationFile {
    /// The table as given.
    pub from: PathBuf,
    /// Its file name in the cache folder (`trt_int8_calibration_table_name`).
    pub name: String,
    /// Its format, told by content ([`crate::infer::trt_table`]); formats the provider does not
    /// read are converted to ONNX Runtime's flatbuffers on the way.
    pub format: crate::infer::trt_table::TableFormat,
}

fn kv(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// The model's input shape at batch `b`, as TensorRT profile shapes want it: `name:BxCxHxW`.
fn profile_shape(model: &ModelRef, b: usize) -> String {
    format!("{}:{b}x{}", model.input_name, model.input_shape)
}

impl ProviderPlan {
    /// The plan for `sel` on `manifest`. `dynamic_batch`: the model's batch dimension is symbolic
    /// (a TensorRT optimisation profile is then given). Validates everything that does not need
    /// a device: precision vs the model's, the calibration table, option values.
    pub fn new(manifest: &ModelRef, sel: &Selection, trt: &TrtBuild, dynamic_batch: bool) -> Result<Self> {
        let device = sel.ordinal();
        let mut plan = Self {
            kind: sel.provider,
            options: Vec::new(),
            cuda_options: Vec::new(),
            session: Vec::new(),
            model: manifest.model.clone(),
            engine: None,
            calibration: None,
        };
        let cuda = vec![kv("device_id", device), kv("cudnn_conv_algo_search", "HEURISTIC")];
        match sel.provider {
            ProviderKind::Cpu => return Ok(plan),
            ProviderKind::Cuda => plan.options = cuda,
            ProviderKind::TensorRt => {
                let option = "tensorrt";
                if manifest.precision != Precision::Fp32 {
                    return Err(Error::InvalidOption {
                        option,
                        reason: format!(
                            "{} is already quantised ({}); TensorRT builds FP16/INT8 engines from the fp32 model (use its fp32 manifest with --fp16 or --int8)",
                            manifest.name, manifest.precision
                        ),
                    });
                }
                if trt.batch == 0 || trt.batch > 256 {
                    return Err(Error::InvalidOption { option: "batch", reason: format!("expected 1..=256, got {}", trt.batch) });
                }
                // TensorRT's provider splits profile shapes at ',' and each `name:dims` at the
                // first ':', so such names cannot be given a profile (only dynamic batches need one).
                if manifest.input_name.contains(',') || (dynamic_batch && manifest.input_name.contains(':')) {
                    return Err(Error::InvalidOption {
                        option,
                        reason: format!(
                            "input name '{}' contains '{}', which TensorRT's profile shapes cannot express (the provider splits 'name:dims' at the first ':'): rename the model's input, or export it with a fixed batch dimension",
                            manifest.input_name,
                            if manifest.input_name.contains(',') { ',' } else { ':' }
                        ),
                    });
                }
                let files = EngineFiles::of(manifest, trt.precision, trt.batch);
                let o = &mut plan.options;
                o.push(kv("device_id", device));
                o.push(kv("trt_max_workspace_size", trt.workspace_bytes));
                o.push(kv("trt_fp16_enable", u8::from(trt.precision != Precision::Fp32)));
                if trt.precision == Precision::Int8 {
                    let table = trt.calibration_table.clone().or_else(|| manifest.calibration_table.clone()).ok_or_else(|| {
                        Error::InvalidOption {
                            option: "int8",
                            reason: format!(
                                "INT8 needs a calibration table: {} has no [tensorrt] int8_calibration_table and no --calib was given",
                                manifest.manifest.display()
                            ),
                        }
                    })?;
                    if !table.is_file() {
                        return Err(Error::InvalidOption {
                            option: "calib",
                            reason: format!("calibration table {} does not exist", table.display()),
                        });
                    }
                    // The format by content: TensorRT's native cache is read natively; ONNX
                    // Runtime's flatbuffers as they are; its .json and text tables converted to
                    // flatbuffers (prepare_files).
                    let (format, _) = crate::infer::trt_table::read(&table)?;
                    let native = format == crate::infer::trt_table::TableFormat::TrtNative;
                    let name = format!("{}.calibration.{}", files.prefix, if native { "cache" } else { "flatbuffers" });
                    o.push(kv("trt_int8_enable", 1));
                    o.push(kv("trt_int8_calibration_table_name", &name));
                    o.push(kv("trt_int8_use_native_calibration_table", u8::from(native)));
                    plan.calibration = Some(CalibrationFile { from: table, name, format });
                }
                let cache = files.cache_dir.display().to_string();
                o.push(kv("trt_engine_cache_enable", 1));
                // While dumping an EPContext model, ONNX Runtime takes the engine cache path
                // relative to the context model's folder (and refuses absolute ones), so that the
                // model and its engine move together.
                if trt.dump_ep_context {
                    o.push(kv("trt_engine_cache_path", ENGINE_CACHE_DIR));
                } else {
                    o.push(kv("trt_engine_cache_path", &cache));
                }
                o.push(kv("trt_engine_cache_prefix", &files.prefix));
                o.push(kv("trt_timing_cache_enable", 1));
                o.push(kv("trt_timing_cache_path", &cache));
                if dynamic_batch {
                    o.push(kv("trt_profile_min_shapes", profile_shape(manifest, 1)));
                    o.push(kv("trt_profile_opt_shapes", profile_shape(manifest, trt.batch)));
                    o.push(kv("trt_profile_max_shapes", profile_shape(manifest, trt.batch)));
                } else if trt.batch > 1 {
                    // A fixed batch dimension is what it is; the engine takes the model's.
                    log::info!("{}: fixed batch dimension, --batch {} does not change the engine", manifest.name, trt.batch);
                }
                if trt.dump_ep_context {
                    o.push(kv("trt_dump_ep_context_model", 1));
                    o.push(kv("trt_ep_context_file_path", files.ep_context_model.display()));
                    // 0: the EPContext model refers to the engine file instead of embedding it.
                    o.push(kv("trt_ep_context_embed_mode", 0));
                } else if files.prebuilt() {
                    plan.model = files.ep_context_model.clone();
                }
                plan.cuda_options = cuda;
                plan.engine = Some(files);
            }
        }
        if !sel.allow_fallback {
            // Honesty: a node the GPU provider cannot take makes session creation fail instead of
            // quietly running on the CPU.
            plan.session.push(kv("session.disable_cpu_ep_fallback", 1));
        }
        Ok(plan)
    }

    /// Makes the engine cache folder and puts the calibration table in it (done just before the
    /// session is created).
    pub fn prepare_files(&self) -> Result<()> {
        let Some(files) = &self.engine else { return Ok(()) };
        let io = |what: &str, p: &Path, e: std::io::Error| Error::InvalidOption {
            option: "tensorrt",
            reason: format!("cannot {what} {}: {e}", p.display()),
        };
        std::fs::create_dir_all(&files.cache_dir).map_err(|e| io("create the engine cache folder", &files.cache_dir, e))?;
        if let Some(c) = &self.calibration {
            let to = files.cache_dir.join(&c.name);
            if c.format.provider_reads() {
                std::fs::copy(&c.from, &to).map_err(|e| io("copy the calibration table to", &to, e))?;
            } else {
                let (_, ranges) = crate::infer::trt_table::read(&c.from)?;
                std::fs::write(&to, crate::infer::trt_table::to_flatbuffers(&ranges))
                    .map_err(|e| io("write the converted calibration table", &to, e))?;
            }
        }
        Ok(())
    }

    /// One line for reports: the provider and its precision and engine.
    pub fn describe(&self) -> String {
        let get = |k: &str| self.options.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        match self.kind {
            ProviderKind::Cpu => "CPUExecutionProvider".into(),
            ProviderKind::Cuda => format!("CUDAExecutionProvider (device {})", get("device_id").unwrap_or("0")),
            ProviderKind::TensorRt => {
                let precision = if get("trt_int8_enable") == Some("1") {
                    "int8"
                } else if get("trt_fp16_enable") == Some("1") {
                    "fp16"
                } else {
                    "fp32"
                };
                let from = if self.model.to_string_lossy().ends_with(".ctx.onnx") { ", prebuilt engine" } else { "" };
                format!("TensorrtExecutionProvider ({precision}, device {}{from})", get("device_id").unwrap_or("0"))
            }
        }
    }
}

/// The INT8 calibration table `path` names: the file itself, or in a folder the model's
/// `<name>.calibration.flatbuffers`, `.cache` or `.json` (first found; formats in
/// [`crate::infer::trt_table`]). A folder holding a calibration *set* (`fovea calib`) but no table is named as such.
pub fn find_calibration_table(path: &Path, manifest: &Manifest) -> Result<PathBuf> {
    let err = |reason: String| Error::InvalidOption { option: "calib", reason };
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        return Err(err(format!("{} does not exist", path.display())));
    }
    for ext in ["flatbuffers", "cache", "json"] {
        let p = path.join(format!("{}.calibration.{ext}", manifest.name));
        if p.is_file() {
            return Ok(p);
        }
    }
    let set = if path.join("frames.json").is_file() {
        " (it holds a calibration set: make the table from it with scripts/quantize_int8.py)"
    } else {
        ""
    };
    Err(err(format!(
        "no calibration table for {} in {}: expected {n}.calibration.flatbuffers, .cache or .json{set}",
        manifest.name,
        path.display(),
        n = manifest.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest tests' YOLOv8 manifest at 320x256 (so that width and height differ).
    fn manifest(dir: &Path, extra: &str) -> Manifest {
        let text =
            crate::infer::manifest::tests::GOOD.replace("width = 640", "width = 320").replace("height = 640", "height = 256") + extra;
        Manifest::parse(&text, &dir.join("m.toml")).unwrap()
    }

    fn get<'a>(o: &'a [(String, String)], k: &str) -> Option<&'a str> {
        o.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn device_and_provider_strings() {
        assert_eq!("cpu".parse::<DeviceSel>().unwrap(), DeviceSel::Cpu);
        assert_eq!("cuda".parse::<DeviceSel>().unwrap(), DeviceSel::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSel>().unwrap(), DeviceSel::Cuda(3));
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", ""] {
            let e = bad.parse::<DeviceSel>().unwrap_err().to_string();
            assert!(e.contains("expected cpu, cuda or cuda:N"), "{bad}: {e}");
        }
        assert_eq!("tensorrt".parse::<ProviderKind>().unwrap(), ProviderKind::TensorRt);
        assert!("openvino".parse::<ProviderKind>().unwrap_err().to_string().contains("got 'openvino'"));
    }

    #[test]
    fn selection_fills_in_and_refuses_mixtures() {
        let r = |d: Option<&str>, p: Option<&str>| Selection::resolve(d.map(|d| d.parse().unwrap()), p.map(|p| p.parse().unwrap()), false);
        assert_eq!(r(None, None).unwrap(), Selection::cpu());
        let s = r(Some("cuda:1"), None).unwrap();
        assert_eq!((s.device, s.provider, s.ordinal()), (DeviceSel::Cuda(1), ProviderKind::TensorRt, 1));
        assert_eq!(r(None, Some("cuda")).unwrap().device, DeviceSel::Cuda(0));
        assert!(r(Some("cpu"), Some("tensorrt")).unwrap_err().to_string().contains("runs on a GPU"));
        assert!(r(Some("cuda"), Some("cpu")).unwrap_err().to_string().contains("would run the model on the CPU"));
    }

    #[test]
    fn cpu_plan_is_empty_and_cuda_plan_names_the_device() {
        let d = tempfile::tempdir().unwrap();
        let m = manifest(d.path(), "");
        let p = ProviderPlan::new(&(&m).into(), &Selection::cpu(), &TrtBuild::default(), false).unwrap();
        assert!(p.options.is_empty() && p.session.is_empty() && p.engine.is_none());
        assert_eq!(p.describe(), "CPUExecutionProvider");
        let sel = Selection::resolve(Some(DeviceSel::Cuda(2)), Some(ProviderKind::Cuda), false).unwrap();
        let p = ProviderPlan::new(&(&m).into(), &sel, &TrtBuild::default(), false).unwrap();
        assert_eq!(get(&p.options, "device_id"), Some("2"));
        assert_eq!(get(&p.session, "session.disable_cpu_ep_fallback"), Some("1"));
        assert_eq!(p.describe(), "CUDAExecutionProvider (device 2)");
    }

    #[test]
    fn tensorrt_fp16_plan_has_caches_profiles_and_honesty() {
        let d = tempfile::tempdir().unwrap();
        let m = manifest(d.path(), "");
        let sel = Selection::resolve(Some(DeviceSel::Cuda(0)), None, false).unwrap();
        let build = TrtBuild { batch: 8, ..TrtBuild::default() };
        let p = ProviderPlan::new(&(&m).into(), &sel, &build, true).unwrap();
        let o = &p.options;
        assert_eq!(get(o, "trt_fp16_enable"), Some("1"));
        assert_eq!(get(o, "trt_int8_enable"), None);
        let cache = d.path().join("trt/cache").display().to_string();
        assert_eq!(get(o, "trt_engine_cache_path"), Some(cache.as_str()));
        assert_eq!(get(o, "trt_timing_cache_path"), Some(cache.as_str()));
        assert_eq!(get(o, "trt_engine_cache_prefix"), Some("m.fp16.b8"));
        assert_eq!(get(o, "trt_profile_min_shapes"), Some("images:1x3x256x320"));
        assert_eq!(get(o, "trt_profile_max_shapes"), Some("images:8x3x256x320"));
        assert_eq!(get(o, "trt_dump_ep_context_model"), None);
        assert_eq!(get(&p.cuda_options, "device_id"), Some("0"));
        assert_eq!(get(&p.session, "session.disable_cpu_ep_fallback"), Some("1"));
        assert_eq!(p.model, d.path().join("m.onnx"));
        assert_eq!(p.describe(), "TensorrtExecutionProvider (fp16, device 0)");
        // A fixed batch dimension gets no profile; fallback allowed drops the refusal.
        let sel = Selection { allow_fallback: true, ..sel };
        let p = ProviderPlan::new(&(&m).into(), &sel, &build, false).unwrap();
        assert_eq!(get(&p.options, "trt_profile_min_shapes"), None);
        assert!(p.session.is_empty());
    }

    #[test]
    fn ep_context_is_dumped_when_building_and_loaded_when_prebuilt() {
        let d = tempfile::tempdir().unwrap();
        let m = manifest(d.path(), "");
        let sel = Selection::resolve(None, Some(ProviderKind::TensorRt), false).unwrap();
        let build = TrtBuild { dump_ep_context: true, ..TrtBuild::default() };
        let p = ProviderPlan::new(&(&m).into(), &sel, &build, false).unwrap();
        let ctx = d.path().join("m.fp16.b1.ctx.onnx");
        assert_eq!(get(&p.options, "trt_dump_ep_context_model"), Some("1"));
        assert_eq!(get(&p.options, "trt_ep_context_file_path"), Some(ctx.display().to_string().as_str()));
        assert_eq!(get(&p.options, "trt_ep_context_embed_mode"), Some("0"));
        assert_eq!(get(&p.options, "trt_engine_cache_path"), Some("trt/cache"), "relative to the EPContext model, as ONNX Runtime wants");
        assert_eq!(p.model, d.path().join("m.onnx"), "building reads the ONNX model");
        // Not built yet: the ONNX model; once the EPContext model exists, that is loaded.
        let run = TrtBuild::default();
        assert_eq!(ProviderPlan::new(&(&m).into(), &sel, &run, false).unwrap().model, d.path().join("m.onnx"));
        std::fs::write(&ctx, b"stand-in").unwrap();
        let p = ProviderPlan::new(&(&m).into(), &sel, &run, false).unwrap();
        assert_eq!(p.model, ctx);
        assert!(p.describe().ends_with("prebuilt engine)"), "{}", p.describe());
        // Another precision has its own engine.
        let int8 = TrtBuild { precision: Precision::Fp32, ..run };
        assert_eq!(ProviderPlan::new(&(&m).into(), &sel, &int8, false).unwrap().model, d.path().join("m.onnx"));
    }

    #[test]
    fn int8_needs_a_table_and_copies_it_into_the_cache() {
        let d = tempfile::tempdir().unwrap();
        let sel = Selection::resolve(None, Some(ProviderKind::TensorRt), false).unwrap();
        let int8 = TrtBuild { precision: Precision::Int8, ..TrtBuild::default() };
        let e = ProviderPlan::new(&(&manifest(d.path(), "")).into(), &sel, &int8, false).unwrap_err().to_string();
        assert!(e.contains("INT8 needs a calibration table") && e.contains("m.toml"), "{e}");
        let missing = TrtBuild { calibration_table: Some(d.path().join("nope.cache")), ..int8.clone() };
        let e = ProviderPlan::new(&(&manifest(d.path(), "")).into(), &sel, &missing, false).unwrap_err().to_string();
        assert!(e.contains("nope.cache does not exist"), "{e}");

        std::fs::create_dir(d.path().join("trt")).unwrap();
        let shipped = |ext: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("engines/trt/nanodet-g-416.calibration.{ext}"));
        std::fs::copy(shipped("flatbuffers"), d.path().join("trt/m.calibration.flatbuffers")).unwrap();
        let m = manifest(d.path(), "[tensorrt]\nint8_calibration_table = \"trt/m.calibration.flatbuffers\"\n");
        let p = ProviderPlan::new(&(&m).into(), &sel, &int8, false).unwrap();
        assert_eq!(get(&p.options, "trt_int8_enable"), Some("1"));
        assert_eq!(get(&p.options, "trt_fp16_enable"), Some("1"), "INT8 engines keep FP16 for layers without ranges");
        assert_eq!(get(&p.options, "trt_int8_calibration_table_name"), Some("m.int8.b1.calibration.flatbuffers"));
        assert_eq!(get(&p.options, "trt_int8_use_native_calibration_table"), Some("0"));
        p.prepare_files().unwrap();
        let cached = d.path().join("trt/cache/m.int8.b1.calibration.flatbuffers");
        assert_eq!(std::fs::read(&cached).unwrap(), std::fs::read(shipped("flatbuffers")).unwrap(), "copied as it is");
        assert_eq!(p.describe(), "TensorrtExecutionProvider (int8, device 0)");

        // --calib with TensorRT's native cache: read natively.
        let scale = 2.0f32 / 127.0;
        std::fs::write(d.path().join("native.cache"), format!("TRT-8601-EntropyCalibration2\ninput: {:08x}\n", scale.to_bits())).unwrap();
        let native = TrtBuild { calibration_table: Some(d.path().join("native.cache")), ..int8.clone() };
        let p = ProviderPlan::new(&(&m).into(), &sel, &native, false).unwrap();
        assert_eq!(get(&p.options, "trt_int8_use_native_calibration_table"), Some("1"));
        assert_eq!(get(&p.options, "trt_int8_calibration_table_name"), Some("m.int8.b1.calibration.cache"));

        // ONNX Runtime's .json and its text .cache (not TensorRT's) are neither read natively nor
        // passed as they are: converted to flatbuffers with the same ranges (issue 21).
        let (_, want) = crate::infer::trt_table::read(&shipped("flatbuffers")).unwrap();
        for ext in ["json", "cache"] {
            std::fs::remove_file(&cached).ok();
            let t = TrtBuild { calibration_table: Some(shipped(ext)), ..int8.clone() };
            let p = ProviderPlan::new(&(&m).into(), &sel, &t, false).unwrap();
            assert_eq!(get(&p.options, "trt_int8_use_native_calibration_table"), Some("0"), "{ext}");
            assert_eq!(get(&p.options, "trt_int8_calibration_table_name"), Some("m.int8.b1.calibration.flatbuffers"), "{ext}");
            p.prepare_files().unwrap();
            let (f, got) = crate::infer::trt_table::read(&cached).unwrap();
            assert_eq!(f, crate::infer::trt_table::TableFormat::Flatbuffers, "{ext}");
            assert_eq!(got.len(), want.len(), "{ext}");
            assert!(got.iter().all(|(k, v)| (want[k] - v).abs() <= 1e-6 * v.max(1.0)), "{ext}: ranges differ");
        }
        // A file of none of the formats is refused when planning, naming what was expected.
        std::fs::write(d.path().join("junk.bin"), [0x10u8, 0, 0, 0, 0xff, 0xff, 0, 0]).unwrap();
        let junk = TrtBuild { calibration_table: Some(d.path().join("junk.bin")), ..int8 };
        let e = ProviderPlan::new(&(&m).into(), &sel, &junk, false).unwrap_err().to_string();
        assert!(e.contains("junk.bin") && e.contains("TensorRT's native cache"), "{e}");
    }

    #[test]
    fn profile_shapes_cannot_name_inputs_with_a_colon() {
        // TensorRT's provider splits `name:dims` at the first ':' (ParseProfileShapes), so a
        // dynamic-batch model whose input is `input_1:0` (TensorFlow exports, NanoDet) would get
        // a profile for an input `input_1` of shape [0]: refused, saying why and what to do.
        let d = tempfile::tempdir().unwrap();
        let mut m: ModelRef = (&manifest(d.path(), "")).into();
        m.input_name = "input_1:0".into();
        let sel = Selection::resolve(None, Some(ProviderKind::TensorRt), false).unwrap();
        let trt = TrtBuild { batch: 4, ..TrtBuild::default() };
        let e = ProviderPlan::new(&m, &sel, &trt, true).unwrap_err().to_string();
        assert!(e.contains("'input_1:0'") && e.contains("':'") && e.contains("rename"), "{e}");
        // A fixed batch dimension needs no profile: the same model name is fine.
        let p = ProviderPlan::new(&m, &sel, &trt, false).unwrap();
        assert!(p.options.iter().all(|(k, _)| !k.starts_with("trt_profile")));
    }

    #[test]
    fn calibration_tables_are_found_by_file_or_folder() {
        let d = tempfile::tempdir().unwrap();
        let m = manifest(d.path(), "");
        let e = find_calibration_table(&d.path().join("none"), &m).unwrap_err().to_string();
        assert!(e.contains("none does not exist"), "{e}");
        std::fs::write(d.path().join("frames.json"), b"[]").unwrap();
        let e = find_calibration_table(d.path(), &m).unwrap_err().to_string();
        assert!(e.contains("m.calibration.flatbuffers, .cache or .json") && e.contains("scripts/quantize_int8.py"), "{e}");
        std::fs::write(d.path().join("m.calibration.json"), b"{}").unwrap();
        assert_eq!(find_calibration_table(d.path(), &m).unwrap(), d.path().join("m.calibration.json"));
        std::fs::write(d.path().join("m.calibration.cache"), b"t").unwrap();
        assert_eq!(find_calibration_table(d.path(), &m).unwrap(), d.path().join("m.calibration.cache"));
        std::fs::write(d.path().join("m.calibration.flatbuffers"), b"t").unwrap();
        assert_eq!(find_calibration_table(d.path(), &m).unwrap(), d.path().join("m.calibration.flatbuffers"));
        assert_eq!(find_calibration_table(&d.path().join("m.calibration.cache"), &m).unwrap(), d.path().join("m.calibration.cache"));
        // The shipped table of NanoDet-g.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("engines");
        let nano = Manifest::load(&dir.join("nanodet-g-416.toml")).unwrap();
        assert_eq!(find_calibration_table(&dir.join("trt"), &nano).unwrap(), dir.join("trt/nanodet-g-416.calibration.flatbuffers"));
    }

    #[test]
    fn tensorrt_refuses_quantised_models_and_bad_batches() {
        let d = tempfile::tempdir().unwrap();
        let sel = Selection::resolve(None, Some(ProviderKind::TensorRt), false).unwrap();
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("engines/nanodet-g-416-int8.toml")).unwrap();
        let q = Manifest::parse(&text, &d.path().join("q.toml")).unwrap();
        let e = ProviderPlan::new(&(&q).into(), &sel, &TrtBuild::default(), false).unwrap_err().to_string();
        assert!(e.contains("is already quantised (int8)") && e.contains("fp32 manifest"), "{e}");
        let m = manifest(d.path(), "");
        let e = ProviderPlan::new(&(&m).into(), &sel, &TrtBuild { batch: 0, ..TrtBuild::default() }, true).unwrap_err().to_string();
        assert!(e.contains("expected 1..=256, got 0"), "{e}");
    }
}
