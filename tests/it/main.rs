//! fovea's integration tests, one program a module per area: the library and its dependencies
//! (FFmpeg, ONNX Runtime, OpenVINO, arrow, parquet, usearch) are linked once, not once per area.
//! Run one area with `cargo test --test it AREA::` (`make fuzz` and `make memcheck` do).
//! The GPU tests are a program of their own (tests/gpu.rs): the GPU check bundle builds it
//! without FFmpeg.
#[path = "../common/mod.rs"]
mod common;

mod annotate;
mod batch;
mod batcher;
mod capi;
mod classify;
mod cli;
mod decode;
mod detect;
#[cfg(feature = "embed")]
mod embed;
mod faces;
mod fuzz;
mod int8;
mod interval;
mod layers;
mod lines;
mod memcheck;
mod pose;
mod quality;
mod roi;
mod track;
mod verify;
mod workers;
