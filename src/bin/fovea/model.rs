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

/// The GPU a ROI stage asks for (`--device`, `--provider`), or None for the CPU, with a note when
/// the CPU runs instead as `--allow-fallback` allows.
pub(crate) fn gpu_for_rois(
    device: Option<&str>,
    provider: Option<&str>,
    allow_fallback: bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<(fovea::infer::provider::Selection, Option<std::sync::Arc<fovea::cuda::Device>>)> {
    let selection = fovea::infer::provider::Selection::resolve(
        device.map(str::parse).transpose()?,
        provider.map(str::parse).transpose()?,
        allow_fallback,
    )?;
    if !selection.is_gpu() {
        return Ok((selection, None));
    }
    match fovea::infer::check_build(&selection).and_then(|_| fovea::cuda::Device::shared(selection.ordinal())) {
        Ok(d) => Ok((selection, Some(d))),
        Err(e @ (fovea::Error::RuntimeMissing { .. } | fovea::Error::Unsupported { .. })) if allow_fallback => {
            notes.push(format!("CPU fallback, as allowed: {e}"));
            Ok((selection, None))
        }
        Err(e) => Err(gpu_hint(&selection, e)),
    }
}

/// The zero-shot classifier of manifest `m` with `policy`, on `gpu` when there is one (else the
/// CPU); crops are expanded as the rule file's `[roi]` says.
pub(crate) fn load_zero_shot(
    m: &Path,
    policy: Option<&Path>,
    threads: usize,
    selection: fovea::infer::provider::Selection,
    gpu: &Option<std::sync::Arc<fovea::cuda::Device>>,
    allow_fallback: bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<fovea::classify::ZeroShotClassifier> {
    let manifest = fovea::classify::ClipManifest::load(&resolve_model(m))?;
    let policy = fovea::classify::Policy::load_or_default(policy)?;
    let (sel, dev) = match gpu {
        Some(d) => (selection, Some(d.clone())),
        None => (fovea::infer::provider::Selection::cpu(), None),
    };
    let zs = match fovea::classify::ZeroShot::load_on(&manifest, threads, &sel, dev) {
        Ok(z) => z,
        Err(e @ (fovea::Error::Unsupported { .. } | fovea::Error::RuntimeMissing { .. })) if allow_fallback => {
            notes.push(format!("classifier on the CPU, as allowed: {e}"));
            fovea::classify::ZeroShot::load(&manifest, threads)?
        }
        Err(e) => return Err(gpu_hint(&selection, e)),
    };
    Ok(fovea::classify::ZeroShotClassifier::new(zs, policy)?)
}

impl crate::args::ClassifierArgs {
    /// The GPU the ROI stage (and score's line kernel) runs on, if one was asked for and can be
    /// had, and the classifier loaded for it; what fell back is said in `notes`.
    pub(crate) fn load(
        &self,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<(Option<std::sync::Arc<fovea::cuda::Device>>, Option<fovea::classify::ZeroShotClassifier>)> {
        let (selection, gpu) = gpu_for_rois(self.device.as_deref(), self.provider.as_deref(), self.allow_fallback, notes)?;
        let zero_shot = match &self.classifier {
            Some(m) => Some(load_zero_shot(m, self.policy.as_deref(), self.threads, selection, &gpu, self.allow_fallback, notes)?),
            None => None,
        };
        Ok((gpu, zero_shot))
    }
}
