//! fovea: a native video-analytics engine.
//!
//! ```text
//! sources ──▶ detector or given boxes ──▶ the stage chain (track ▶ ROI + rules ▶ classifier; teams per clip) ──▶ sinks
//! ```
//! Every face (the CLI, the C ABI in [`ffi`], Python and Go over it, [`service`]) runs the one
//! chain ([`pipeline::FrameStages`]), configured by one [`pipeline::ChainConfig`] (built from an
//! engine configuration by [`engine::EngineConfig::chain`]). The modules, bottom up:
//!
//! - [`error`]: one error type; [`kernels`]: the CUDA kernels' sources and PTX.
//! - [`image`]: frame views, channel orders, fits, the bilinear resize plan; [`results`]: detections,
//!   frame results, verdicts, labels.
//! - [`video`]: FFmpeg decoding and sampling into a reused pool, and what a source may open;
//!   [`detect`]: model outputs into boxes, NMS; [`roi`]: ROI batches and colour statistics;
//!   [`quality`]: frame quality measures; [`pitch`]: the pitch template, its lines, OpenCV's
//!   homography.
//! - [`filter`]: rule sets and verdicts; [`track`]: ByteTrack, sparse association, label reuse;
//!   [`cuda`]: the one CPU/GPU seam.
//! - [`infer`]: models from their manifests on ONNX Runtime, OpenVINO or TensorRT, the default
//!   model, the image encoder; [`classify`]: classifiers (zero-shot, colour teams, policies).
//! - [`output`]: JSONL and Score Vision writers, boxes-file readers (streamed).
//! - [`pipeline`]: the chain, its sources (files, selected frames, boxes files, frames in
//!   memory), the cross-stream batcher, verify, tiles.
//! - [`engine`]: an engine (model + chain) shared by streams; [`embed`]: video collections into
//!   a Parquet store and search; [`annotate`]: drawn video; [`score`]: the Score Vision
//!   validator's scores.
//! - [`keyframes`]: key-frame selection; [`service`]: many jobs at once on one model
//!   (`fovea serve`); [`ffi`]: the C ABI.

#[cfg(feature = "video")]
pub mod annotate;
pub mod classify;
pub mod cuda;
pub mod detect;
#[cfg(feature = "embed")]
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
