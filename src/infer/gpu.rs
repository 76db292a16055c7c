//! The GPU side of model sessions, written once for both builds over [`crate::cuda`]'s seam: the
//! provider check against the loaded ONNX Runtime, sessions on TensorRT/CUDA sharing fovea's CUDA
//! stream, and I/O binding of device tensors in place. Without the `cuda` feature nothing here is
//! reached ([`super::check_build`] refuses GPU selections first, and no device can be made).

use ort::session::Session;

use super::provider::{self, ProviderKind};
use super::{Runtime, ORT_VERSION};
use crate::cuda::ep::GpuProvider;
use crate::error::{Error, Result};

/// Whether the loaded ONNX Runtime has the provider (a CPU-only build has neither GPU provider).
pub(crate) fn provider_available(rt: &Runtime, kind: ProviderKind) -> Result<()> {
    let p = match kind {
        ProviderKind::TensorRt => GpuProvider::TensorRt,
        ProviderKind::Cuda => GpuProvider::Cuda,
        ProviderKind::Cpu => {
            return Err(Error::Unsupported { what: "provider", reason: "the GPU path needs the cuda or tensorrt provider".into() })
        }
    };
    if crate::cuda::ep::provider_available(p) {
        return Ok(());
    }
    Err(Error::Unsupported {
        what: "provider",
        reason: format!(
            "{} is not in the ONNX Runtime loaded from {} (a CPU-only build): install onnxruntime-gpu {ORT_VERSION} with scripts/setup-gpu.sh and set FOVEA_ORT_LIB to its libonnxruntime.so",
            kind.ort_name(),
            rt.library.display()
        ),
    })
}

/// A session on the GPU as `plan` says: TensorRT (then CUDA for the nodes TensorRT does not
/// take) or CUDA, both on `dev`'s stream, with the plan's session entries. The caller keeps
/// `dev` alive for as long as the session.
pub(crate) fn gpu_session(rt: &Runtime, plan: &provider::ProviderPlan, dev: &crate::cuda::Device, threads: usize) -> Result<Session> {
    plan.prepare_files()?;
    gpu_session_inner(rt, plan, dev, threads).map_err(|e| Error::Inference { path: plan.model.clone(), reason: e.to_string() })
}

fn gpu_session_inner(rt: &Runtime, plan: &provider::ProviderPlan, dev: &crate::cuda::Device, threads: usize) -> ort::Result<Session> {
    let mut b = Session::builder(&rt.env)?.with_intra_threads(threads)?.with_inter_threads(1)?;
    for (k, v) in &plan.session {
        b = b.with_config_entry(k, v)?;
    }
    let p = if plan.kind == ProviderKind::TensorRt { GpuProvider::TensorRt } else { GpuProvider::Cuda };
    let eps = crate::cuda::ep::execution_providers(dev, p, &plan.options, &plan.cuda_options);
    b.with_execution_providers(eps)?.commit_from_file(&plan.model)
}

/// Binds the device tensor `t` as input `name` of `binding`, with `shape` (which must fit in it).
pub(crate) fn bind_device_f32(
    binding: &mut ort::session::IoBinding,
    name: &str,
    t: &crate::cuda::DeviceTensor,
    shape: Vec<i64>,
) -> std::result::Result<(), String> {
    let need = shape.iter().try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)));
    if need.is_none_or(|n| n > t.floats) {
        return Err(format!("input '{name}' of shape {shape:?} does not fit the device tensor of {} floats", t.floats));
    }
    let info = ort::memory::MemoryInfo::new(
        ort::memory::AllocationDevice::CUDA,
        t.ordinal as i32,
        ort::memory::AllocatorType::Device,
        ort::memory::MemoryType::Default,
    )
    .map_err(|e| e.to_string())?;
    // SAFETY: `t` is device memory of `t.floats` floats (DeviceTensor is made only by the device
    // layer over its live buffers), which holds `shape` (checked above), alive until the run that
    // reads it has finished (runs are synchronous).
    let tensor = unsafe { ort::value::TensorRefMut::<f32>::from_raw(info, t.ptr() as usize as *mut _, ort::value::Shape::new(shape)) }
        .map_err(|e| e.to_string())?;
    bind_in_place(binding, name, &tensor)
}

/// Binds `value` (device memory) as input `name` without the copy `IoBinding::bind_input` makes
/// of borrowed tensors: ONNX Runtime keeps its own reference to the OrtValue, which points at our
/// buffer.
fn bind_in_place(
    binding: &mut ort::session::IoBinding,
    name: &str,
    value: &ort::value::TensorRefMut<'_, f32>,
) -> std::result::Result<(), String> {
    use ort::AsPointer;
    let cname = std::ffi::CString::new(name).map_err(|_| format!("input name '{name}' contains NUL"))?;
    let api = ort::api();
    // SAFETY: both pointers are live ONNX Runtime objects; the name is NUL-terminated.
    let status = unsafe { (api.BindInput)(binding.ptr_mut(), cname.as_ptr(), value.ptr()) };
    if status.0.is_null() {
        return Ok(());
    }
    // SAFETY: a non-NULL status owns its message until released, which happens once, here.
    let msg = unsafe { std::ffi::CStr::from_ptr((api.GetErrorMessage)(status.0)).to_string_lossy().into_owned() };
    unsafe { (api.ReleaseStatus)(status.0) };
    Err(format!("binding input '{name}' on the device: {msg}"))
}
