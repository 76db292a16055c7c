//! `fovea calib`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use fovea::infer::manifest::Manifest;

use crate::{args::*, model::*};

pub(crate) fn calib(a: CalibArgs) -> anyhow::Result<ExitCode> {
    let m = Manifest::load(&resolve_model(&a.model))?;
    let frames = fovea::pipeline::calib::write_calibration_set(&m, &a.videos, a.frames, &a.out)?;
    eprintln!("fovea calib: {} frames from {} clips, preprocessed for {}, in {}", frames.len(), a.videos.len(), m.name, a.out.display());
    Ok(ExitCode::SUCCESS)
}
