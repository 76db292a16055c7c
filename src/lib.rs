//! fovea: a native video-analytics engine.
//!
//! ```text
//! video (FFmpeg) ──▶ detect (ONNX Runtime, batched) ──▶ track (ByteTrack) ──▶ results (JSONL, Score Vision, callers)
//! ```
//! Stages: [`video`] decodes and samples frames into a reused pool, [`infer`] loads models from
//! their manifests and runs them, [`detect`] turns raw outputs into boxes, [`pipeline`] runs the
//! stages on threads with bounded channels and times them, [`track`] gives objects identities
//! across frames and reuses their labels, [`output`] writes results, [`service`] runs many jobs
//! at once on one model (`fovea serve`).

#[cfg(feature = "video")]
pub mod annotate;
pub mod classify;
pub mod cuda;
pub mod detect;
pub mod embed;
pub mod engine;
pub mod error;
pub mod ffi;
pub mod filter;
pub mod image;
pub mod infer;
pub mod kernels;
#[cfg(feature = "video")]
pub mod keyframes;
pub mod output;
pub mod pipeline;
pub mod pitch;
pub mod quality;
pub mod results;
pub mod roi;
pub mod score;
pub mod service;
pub mod track;
pub mod video;

pub use error::{Error, Result};

/// fovea's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
