//! The one model-session builder under the detector and the image encoders: the CPU session, and
//! on a GPU the provider plan checked against this build and the loaded ONNX Runtime, the session
//! on the device's stream and its I/O binding with the outputs bound to host memory. Checks run in
//! the order of what they need (the plan needs nothing, then the build, then the provider in the
//! library; the caller opens the device in between), so configuration errors show on any machine.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use ort::session::{IoBinding, Session};

use super::provider::{ModelRef, ProviderPlan, Selection, TrtBuild};
use super::{check_build, gpu_session, provider_available, runtime};
use crate::error::{Error, Result};

/// A CPU session of the model at `path` with `threads` intra-op threads.
pub(crate) fn cpu(path: &Path, threads: usize) -> Result<Session> {
    let rt = runtime()?;
    (|| -> ort::Result<Session> { Session::builder(&rt.env)?.with_intra_threads(threads)?.with_inter_threads(1)?.commit_from_file(path) })()
        .map_err(|e| Error::Inference { path: path.to_path_buf(), reason: e.to_string() })
}

/// The GPU plan for `model` on `sel` (`dynamic_batch`: the model's batch dimension is symbolic,
/// so TensorRT needs a profile), checked against this build and the loaded ONNX Runtime. No
/// device is needed.
pub(crate) fn gpu_plan(model: &ModelRef, sel: &Selection, trt: &TrtBuild, dynamic_batch: bool) -> Result<ProviderPlan> {
    let plan = ProviderPlan::new(model, sel, trt, dynamic_batch)?;
    gpu_available(sel)?;
    Ok(plan)
}

/// Whether `sel`'s GPU provider can be had: this build has the `cuda` feature and the loaded ONNX
/// Runtime the provider.
pub(crate) fn gpu_available(sel: &Selection) -> Result<()> {
    let rt = runtime()?;
    check_build(sel)?;
    provider_available(rt, sel.provider)
}

/// The batch (first) dimension of input `name` of the model at `path`, read by a light CPU
/// session (no graph optimisation): negative when it is symbolic.
pub(crate) fn input_batch_dim(path: &Path, name: &str) -> Result<i64> {
    let rt = runtime()?;
    let s = (|| -> ort::Result<Session> {
        Session::builder(&rt.env)?
            .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Disable)?
            .with_intra_threads(1)?
            .commit_from_file(path)
    })()
    .map_err(|e| Error::Inference { path: path.to_path_buf(), reason: e.to_string() })?;
    let mismatch = |reason: String| Error::ModelMismatch { path: path.to_path_buf(), reason };
    let Some(input) = s.inputs().iter().find(|i| i.name() == name) else {
        let names: Vec<_> = s.inputs().iter().map(|i| i.name().to_string()).collect();
        return Err(mismatch(format!("input '{name}' not found (the model's inputs: {names:?})")));
    };
    match input.dtype().tensor_shape().and_then(|sh| sh.first().copied()) {
        Some(d) => Ok(d),
        None => Err(mismatch(format!("input '{name}' is not a tensor with a batch dimension"))),
    }
}

/// The session of `plan` on `dev`'s stream and its I/O binding, the `outputs` bound to host
/// memory (the caller binds its device inputs per call).
pub(crate) fn gpu_open(
    plan: &ProviderPlan,
    dev: &Arc<crate::cuda::Device>,
    threads: usize,
    outputs: &[String],
) -> Result<(Session, IoBinding)> {
    let rt = runtime()?;
    let session = gpu_session(rt, plan, dev, threads)?;
    let ort_err = |e: ort::Error| Error::Inference { path: plan.model.clone(), reason: e.to_string() };
    let mut binding = session.create_binding().map_err(ort_err)?;
    let host = ort::memory::MemoryInfo::default();
    for name in outputs {
        binding.bind_output_to_device(name.as_str(), &host).map_err(ort_err)?;
    }
    Ok((session, binding))
}
