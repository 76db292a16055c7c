//! Calibration sets for INT8 as a sink of the file source: frames sampled evenly from real clips,
//! decoded and preprocessed exactly as the pipeline does for a model's manifest, written as `.npy`
//! tensors with their list ([`crate::infer::calib`] has the formats).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::infer::calib::{write_npy, CalibFrame};
use crate::infer::manifest::{Layout, Manifest};
use crate::infer::preprocess::Preprocessor;
use crate::video::{self, FramePool, Sampling};

/// Samples `per_video` evenly spaced frames from each video, preprocesses them for `manifest`
/// and writes `NNNN.npy` files plus `frames.json` (which frames, for held-out evaluation) to `out`.
pub fn write_calibration_set(manifest: &Manifest, videos: &[PathBuf], per_video: u64, out: &Path) -> Result<Vec<CalibFrame>> {
    if per_video == 0 {
        return Err(Error::InvalidOption { option: "--frames", reason: "must be >= 1".into() });
    }
    let io = |e: std::io::Error| Error::Output { path: out.to_path_buf(), source: e };
    std::fs::create_dir_all(out).map_err(io)?;
    let spec = &manifest.input;
    let (h, w) = (spec.height as usize, spec.width as usize);
    let shape = match spec.layout {
        Layout::Nchw => [1, 3, h, w],
        Layout::Nhwc => [1, h, w, 3],
    };
    let mut pre = Preprocessor::new(spec.clone());
    let mut tensor = vec![0.0f32; pre.len()];
    let mut frames = Vec::new();
    for v in videos {
        let info = video::probe(v)?;
        let total = info.declared_frames.or_else(|| Some((info.duration? * info.fps?).round() as u64)).unwrap_or(per_video).max(1);
        let stride = (total / per_video).max(1) as u32;
        let name = v.file_name().map_or_else(|| v.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut taken = 0;
        let pool = FramePool::new(1);
        super::decode_each(v, Sampling { stride, ..Sampling::default() }, spec.channels, None, &pool, &mut |f| {
            pre.run(&f.data, f.width, f.height, f.width as usize * 3, &mut tensor);
            let file = format!("{:04}.npy", frames.len());
            write_npy(&out.join(&file), &shape, &tensor).map_err(io)?;
            frames.push(CalibFrame { file, video: name.clone(), frame: f.index });
            taken += 1;
            Ok(taken < per_video)
        })?;
    }
    let list = serde_json::to_string_pretty(&frames).expect("plain structs serialise");
    std::fs::write(out.join("frames.json"), list + "\n").map_err(io)?;
    Ok(frames)
}
