//! Execution providers on fovea's device (feature `cuda`): TensorRT and CUDA sessions of ONNX
//! Runtime sharing the device's CUDA stream, and whether the loaded ONNX Runtime has them.

use ort::ep::ExecutionProviderDispatch;

use super::Device;

/// A GPU execution provider of ONNX Runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuProvider {
    Cuda,
    TensorRt,
}

/// Whether the loaded ONNX Runtime has `p` (a CPU-only build has neither).
pub fn provider_available(p: GpuProvider) -> bool {
    use ort::ep::ExecutionProvider;
    match p {
        GpuProvider::TensorRt => ort::ep::TensorRT::is_available(),
        GpuProvider::Cuda => ort::ep::CUDA::is_available(),
    }
    .unwrap_or(false)
}

/// The providers of a session on `dev`: TensorRT with `options` (then CUDA with `cuda_options`
/// for the nodes TensorRT does not take), or CUDA with `options`, all on `dev`'s stream. The
/// caller keeps `dev` alive for as long as the session.
pub fn execution_providers(
    dev: &Device,
    p: GpuProvider,
    options: &[(String, String)],
    cuda_options: &[(String, String)],
) -> Vec<ExecutionProviderDispatch> {
    use ort::ep::ArbitrarilyConfigurableExecutionProvider;
    let stream = dev.stream.cu_stream() as *mut ();
    let mut cuda = ort::ep::CUDA::default();
    for (k, v) in if p == GpuProvider::Cuda { options } else { cuda_options } {
        cuda = cuda.with_arbitrary_config(k, v);
    }
    // SAFETY: the stream belongs to `dev`, which the caller keeps for as long as the session.
    let cuda = unsafe { cuda.with_compute_stream(stream) }.build().error_on_failure();
    if p == GpuProvider::TensorRt {
        let mut trt = ort::ep::TensorRT::default();
        for (k, v) in options {
            trt = trt.with_arbitrary_config(k, v);
        }
        // SAFETY: as above.
        vec![unsafe { trt.with_compute_stream(stream) }.build().error_on_failure(), cuda]
    } else {
        vec![cuda]
    }
}
