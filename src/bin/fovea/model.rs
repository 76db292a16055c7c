//! Choosing and loading the detector a command runs.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};

use crate::args::*;

pub(crate) use fovea::infer::defaults::{resolve_model, FP32_MODEL, INT8_MODEL};

/// The manifest to use and why.
pub(crate) fn choose_model(m: &ModelArgs) -> (PathBuf, String) {
    choose_manifest(m.model.as_deref(), m.runtime.as_deref().and_then(fovea::infer::manifest::RuntimeKind::parse))
}

/// The manifest given, else the default one (int8 on CPUs with VNNI, else fp32), and why.
pub(crate) fn choose_manifest(given: Option<&Path>, runtime: Option<fovea::infer::manifest::RuntimeKind>) -> (PathBuf, String) {
    match given {
        Some(p) => (resolve_model(p), "given with --model".into()),
        None => fovea::infer::defaults::default_model(runtime),
    }
}

pub(crate) fn parse_precision(p: &str) -> anyhow::Result<fovea::infer::manifest::Precision> {
    use fovea::infer::manifest::Precision;
    Ok(match p {
        "fp32" => Precision::Fp32,
        "fp16" => Precision::Fp16,
        "int8" => Precision::Int8,
        _ => anyhow::bail!("invalid option --precision: expected fp32, fp16 or int8, got '{p}'"),
    })
}

/// A device or provider that cannot be had, named with the request and the way on; other
/// errors as they are.
pub(crate) fn gpu_hint(selection: &fovea::infer::provider::Selection, e: fovea::Error) -> anyhow::Error {
    match e {
        fovea::Error::Unsupported { reason, .. } | fovea::Error::RuntimeMissing { reason } if selection.is_gpu() => anyhow::anyhow!(
            "--device {} --provider {}: {reason}; add --allow-fallback to run on the CPU instead",
            selection.device,
            selection.provider.short()
        ),
        e => e.into(),
    }
}

pub(crate) fn load_detector(m: &ModelArgs) -> anyhow::Result<(Detector, String)> {
    use fovea::infer::provider::{Selection, TrtBuild};
    let selection = Selection::resolve(
        m.device.as_deref().map(str::parse).transpose()?,
        m.provider.as_deref().map(str::parse).transpose()?,
        m.allow_fallback,
    )?;
    let runtime = fovea::infer::manifest::RuntimeKind::parse_option(m.runtime.as_deref(), "--runtime")?;
    let (path, why) = if selection.is_gpu() && m.model.is_none() {
        (resolve_model(Path::new(FP32_MODEL)), format!("default on a GPU: the provider builds {} from the fp32 model", m.precision))
    } else {
        choose_model(m)
    };
    let manifest = Manifest::load(&path)?;
    let calibration_table = match &m.calib {
        Some(c) => Some(fovea::infer::provider::find_calibration_table(c, &manifest)?),
        None => None,
    };
    let trt = TrtBuild { precision: parse_precision(&m.precision)?, calibration_table, ..TrtBuild::default() };
    let opts = DetectorOptions { threads: m.threads, workers: m.workers, runtime, batch: m.batch, selection, trt };
    let detector = Detector::load(&manifest, &opts).map_err(|e| gpu_hint(&selection, e))?;
    Ok((detector, format!("({}; {why})", manifest.precision)))
}
