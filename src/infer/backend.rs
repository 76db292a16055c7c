//! One model call on either CPU runtime: an ONNX Runtime session or an OpenVINO infer request,
//! fed a host tensor, its float32 outputs read in place by the caller's closure. The detector's
//! and the encoders' inference workers each own one.
#![forbid(unsafe_code)]

use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{Error, Result};

/// An output tensor of one call: name, shape, values.
pub(crate) struct OutputView<'a> {
    pub name: &'a str,
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

/// A model instance that runs one call at a time.
pub(crate) enum Backend {
    Ort(Session),
    OpenVino(super::openvino::Request),
}

impl Backend {
    /// Runs the model on `data` (shape `shape`) fed to `input`, and hands the float32 outputs
    /// named `outputs`, in that order, to `read`.
    pub(crate) fn run<R>(
        &mut self,
        model: &Path,
        input: &str,
        shape: &[usize],
        data: &[f32],
        outputs: &[String],
        read: impl FnOnce(&[OutputView]) -> Result<R>,
    ) -> Result<R> {
        let mismatch = |reason: String| Error::ModelMismatch { path: model.to_path_buf(), reason };
        match self {
            Backend::Ort(session) => {
                let ort_err = |e: ort::Error| Error::Inference { path: model.to_path_buf(), reason: e.to_string() };
                let tensor = TensorRef::from_array_view((shape.to_vec(), data)).map_err(ort_err)?;
                let results = session.run(ort::inputs![input => tensor]).map_err(ort_err)?;
                let mut views = Vec::with_capacity(outputs.len());
                for name in outputs {
                    let v = results.get(name).ok_or_else(|| mismatch(format!("output '{name}' missing from the results")))?;
                    let (shape, data) =
                        v.try_extract_tensor::<f32>().map_err(|e| mismatch(format!("output '{name}' is not a float32 tensor: {e}")))?;
                    views.push(OutputView { name, shape: &shape[..], data });
                }
                read(&views)
            }
            Backend::OpenVino(request) => request.run(model, shape, data, outputs, read),
        }
    }
}
