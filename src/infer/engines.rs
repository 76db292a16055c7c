//! Building a TensorRT engine ahead of time (`fovea engines build`): the session built once with
//! the EPContext dump on, then verified with one inference through the path runs take, and the
//! EPContext model checked on disk, so later runs load it instead of rebuilding.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Instant;

use super::manifest::{Manifest, Precision};
use super::provider::{EngineFiles, ProviderKind, Selection, TrtBuild};
use super::{Detector, DetectorOptions};
use crate::error::{Error, Result};

/// What [`build_engine`] made.
#[derive(Debug, Clone)]
pub struct BuiltEngine {
    /// The providers the verifying session really ran on.
    pub provider: String,
    /// Seconds the build took (ONNX Runtime's session creation, TensorRT's tuning).
    pub build_s: f64,
    /// The EPContext model written beside the manifest, and its size in bytes.
    pub ep_context_model: PathBuf,
    pub ep_context_bytes: u64,
}

/// The engine files a build of `manifest` at `precision` and `batch` writes.
pub fn engine_files(manifest: &Manifest, precision: Precision, batch: usize) -> EngineFiles {
    EngineFiles::of(&manifest.into(), precision, batch)
}

/// Builds the TensorRT engine of `manifest` on `device` (`cuda[:N]`) at `precision` (INT8 with
/// `calibration_table`) for `batch` frames a call, verifies it with one inference on a mid-grey
/// frame, and checks that the EPContext model was written. Blocks for minutes on a first build.
pub fn build_engine(
    manifest: &Manifest,
    device: &str,
    precision: Precision,
    calibration_table: Option<PathBuf>,
    batch: usize,
) -> Result<BuiltEngine> {
    let selection = Selection::resolve(Some(device.parse()?), Some(ProviderKind::TensorRt), false)?;
    let trt = TrtBuild { precision, calibration_table, batch, dump_ep_context: true, ..TrtBuild::default() };
    let files = engine_files(manifest, precision, batch);
    let t = Instant::now();
    let mut det = Detector::load(manifest, &DetectorOptions { threads: 0, workers: 1, runtime: None, batch, selection, trt })?;
    let build_s = t.elapsed().as_secs_f64();
    let (w, h) = (manifest.input.width, manifest.input.height);
    let grey = vec![114u8; w as usize * h as usize * 3];
    let tf = det.fill(0, &grey, w, h, w as usize * 3)?;
    let params = det.default_params();
    det.run(1, &[tf], &params)?;
    if !files.prebuilt() {
        return Err(Error::State(format!(
            "ONNX Runtime built the engine but wrote no EPContext model at {}",
            files.ep_context_model.display()
        )));
    }
    let ep_context_bytes = std::fs::metadata(&files.ep_context_model).map(|m| m.len()).unwrap_or(0);
    Ok(BuiltEngine { provider: det.provider().to_string(), build_s, ep_context_model: files.ep_context_model, ep_context_bytes })
}
