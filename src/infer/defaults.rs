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
        if let Some(alt) = in_model_homes(p) {
            return alt;
        }
    }
    p.to_path_buf()
}

/// The relative path `p` in the first model home that has it (never the working folder).
pub fn in_model_homes(p: &Path) -> Option<PathBuf> {
    if !p.is_relative() {
        return None;
    }
    model_homes().into_iter().map(|h| h.join(p)).find(|a| a.exists())
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

/// Whether this CPU computes in bfloat16 (AVX512-BF16), where OpenVINO's bf16 hint pays off.
pub fn cpu_has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// What the default choice rests on (README, "CPU runtimes"; `make bench-pipeline`, `fovea compare`
/// on 384 held-out frames), for the run summary.
pub const OV_INT8_FIGURES: &str = "measured: 98.5% of fp32's boxes at the same threshold, 1.1% extra; \
    2.5-2.7x the Python fp32 pipeline end to end, the fastest within the bar (>= 98%, <= 2%)";
pub const OV_BF16_FIGURES: &str = "measured: 98.5% of fp32's boxes at the same threshold, 1.1% extra";

/// The default manifest and why, chosen by measurement (README, "CPU runtimes"): the fastest
/// model and runtime whose same-threshold agreement with fp32 on held-out frames is >= 98%
/// matched with <= 2% extra (`fovea compare`'s headline). Measured on this project's machines
/// (AMD EPYC Zen 4, VNNI and BF16): OpenVINO INT8 (NNCF with accuracy control) first, then
/// OpenVINO bf16, then fp32; ONNX Runtime's INT8 model (about 88% matched, 6% extra) is not a
/// default. Without OpenVINO's library, fp32 on ONNX Runtime, and the reason says so. With
/// `runtime`, the best model for that runtime.
pub fn default_model(runtime: Option<RuntimeKind>) -> (PathBuf, String) {
    let fp32 = resolve_model(Path::new(FP32_MODEL));
    if runtime == Some(RuntimeKind::OnnxRuntime) {
        return (fp32, format!("default for ONNX Runtime: fp32 (its INT8 model, {INT8_MODEL}, misses the agreement bar)"));
    }
    let ov = match super::openvino::load() {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    let (ov_int8, ov_bf16) = (resolve_model(Path::new(OV_INT8_MODEL)), resolve_model(Path::new(OV_BF16_MODEL)));
    match ov {
        None if cpu_has_vnni() && ov_int8.exists() => (ov_int8, format!("default: OpenVINO INT8, this CPU has VNNI; {OV_INT8_FIGURES}")),
        None if cpu_has_bf16() && ov_bf16.exists() => {
            (ov_bf16, format!("default: OpenVINO bf16, this CPU has BF16, no VNNI; {OV_BF16_FIGURES}"))
        }
        None => (fp32, "default: fp32 (this CPU has neither VNNI nor BF16)".into()),
        Some(why) => (fp32, format!("default: fp32 on ONNX Runtime, as OpenVINO cannot be had ({why})")),
    }
}
