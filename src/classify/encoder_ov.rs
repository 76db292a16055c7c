//! The image encoder on OpenVINO (manifest `runtime = "openvino"`): compiled with a static batch,
//! one infer request per worker.
#![forbid(unsafe_code)]

use super::zeroshot::ClipManifest;
use crate::error::{Error, Result};

/// The encoder compiled by OpenVINO (static input shape: its batch is the calls' fixed
/// batch), one infer request per worker on its own stream; checks the input and output.
#[allow(clippy::type_complexity)]
pub(super) fn compile(
    m: &ClipManifest,
    workers: usize,
    threads: usize,
) -> Result<(crate::infer::openvino::Compiled, Vec<crate::infer::backend::Backend>, usize)> {
    let mut compiled = crate::infer::openvino::compile(&m.model_path, &m.input_name, m.precision, workers, threads)?;
    let s = i64::from(m.roi.size);
    let shape = compiled.input_shape.clone();
    let mismatch = |reason: String| Error::ModelMismatch { path: m.model_path.clone(), reason };
    if shape.len() != 4 || shape[1..] != [3, s, s] || shape[0] < 1 {
        return Err(mismatch(format!("input '{}' has the shape {shape:?}, the manifest says [N, 3, {s}, {s}]", m.input_name)));
    }
    let outs = crate::infer::openvino::output_shapes(&compiled, &m.model_path, std::slice::from_ref(&m.output_name))?;
    if outs[0].1.last().is_some_and(|&d| d > 0 && d as usize != m.dim) {
        return Err(mismatch(format!(
            "output '{}' has the shape {:?}, the manifest says {} values per ROI",
            m.output_name, outs[0].1, m.dim
        )));
    }
    let requests = (0..workers)
        .map(|_| {
            crate::infer::openvino::Request::new(&mut compiled, &m.model_path, &m.input_name).map(crate::infer::backend::Backend::OpenVino)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((compiled, requests, shape[0] as usize))
}

/// One call on an OpenVINO request: the `k` ROIs from `start`, padded to the fixed batch;
/// their normalised embeddings.
pub(super) fn embed_call(
    backend: &mut crate::infer::backend::Backend,
    m: &ClipManifest,
    fixed: Option<usize>,
    data: &[f32],
    s: usize,
    (start, k): (usize, usize),
) -> Result<Vec<f32>> {
    let len = 3 * s * s;
    let b = fixed.unwrap_or(k).max(k);
    let mut rows = data[start * len..(start + k) * len].to_vec();
    rows.resize(b * len, 0.0);
    let d = m.dim;
    backend.run(&m.model_path, &m.input_name, &[b, 3, s, s], &rows, std::slice::from_ref(&m.output_name), |views| {
        let v = &views[0];
        if v.data.len() != b * d {
            return Err(Error::ModelMismatch {
                path: m.model_path.clone(),
                reason: format!("output '{}' has the shape {:?}, expected [{b}, {d}]", m.output_name, v.shape),
            });
        }
        let mut out = v.data[..k * d].to_vec();
        super::zeroshot::normalise_rows(&mut out, d);
        Ok(out)
    })
}
