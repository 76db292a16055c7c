//! The default model and where relative model paths are found: the one choice every face makes
//! the same way (the CLI without `--model`, an engine configuration without `model`, so C's
//! `fovea_engine_create("")`, Python's `fovea.Engine()` and Go's `NewEngine("", "")`).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use super::manifest::RuntimeKind;

/// NanoDet-g 416, fp32 and its INT8 quantisation, relative to the model home.
pub const FP32_MODEL: &str = "engines/nanodet-g-416.toml";
pub const INT8_MODEL: &str = "engines/nanodet-g-416-int8.toml";
/// The OpenVINO models: NanoDet-g quantised by NNCF with accuracy control (an IR), and the fp32
/// model run with OpenVINO's bf16 precision hint.
pub const OV_INT8_MODEL: &str = "engines/nanodet-g-416-ov-int8.toml";
pub const OV_BF16_MODEL: &str = "engines/nanodet-g-416-ov-bf16.toml";

/// The folder a relative model path is looked for in, after the current directory:
/// `$FOVEA_HOME` (an installed package's share folder: the pip wheel sets it), else the source
/// tree fovea was built from.
pub fn model_homes() -> Vec<PathBuf> {
    match std::env::var_os("FOVEA_HOME") {
        Some(h) => vec![PathBuf::from(h)],
        None => vec![PathBuf::from(env!("CARGO_MANIFEST_DIR"))],
    }
}

/// `p` as given when it exists or is absolute, else the first model home that has it.
pub fn resolve_model(p: &Path) -> PathBuf {
    if p.is_relative() && !p.exists() {
        if let Some(alt) = model_homes().into_iter().map(|h| h.join(p)).find(|a| a.exists()) {
            return alt;
        }
    }
    p.to_path_buf()
}

/// Whether this CPU has VNNI (8-bit dot products), which makes INT8 inference fast.
pub fn cpu_has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni") || std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The default manifest and why: INT8 on CPUs with VNNI, else fp32; with `runtime`, the default
/// model for that runtime.
pub fn default_model(runtime: Option<RuntimeKind>) -> (PathBuf, String) {
    let int8 = resolve_model(Path::new(INT8_MODEL));
    let fp32 = resolve_model(Path::new(FP32_MODEL));
    if runtime == Some(RuntimeKind::OpenVino) {
        let ov = resolve_model(Path::new(OV_INT8_MODEL));
        return match (cpu_has_vnni(), ov.exists()) {
            (true, true) => (ov, format!("default for OpenVINO: this CPU has VNNI; --model {OV_BF16_MODEL} or {FP32_MODEL} for bf16, fp32")),
            _ => (fp32, "default for OpenVINO without VNNI: the fp32 model".into()),
        };
    }
    match (cpu_has_vnni(), int8.exists()) {
        (true, true) => (int8, format!("default: this CPU has VNNI; --model {FP32_MODEL} for fp32")),
        (false, _) => (fp32, "default: this CPU has no VNNI, so fp32".into()),
        (true, false) => (fp32, format!("default: {INT8_MODEL} is missing, so fp32")),
    }
}
