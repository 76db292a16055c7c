//! The `fovea` command line: parses arguments and prints; the work is done by the library.
#![forbid(unsafe_code)]

mod args;
mod bench;
mod calib;
mod compare;
mod detect;
mod embed;
mod engines;
mod keyframes;
mod mine;
mod model;
mod report;
mod score;
mod serve;
mod track;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use args::*;

/// fovea: native video analytics (FFmpeg decode, ONNX detection, results as JSONL).
#[derive(Parser)]
#[command(name = "fovea", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect objects in every sampled frame of a video (or image) and write the results.
    Detect(DetectArgs),
    /// Track detections made elsewhere (fovea JSONL or a Score Vision file); needs no video.
    Track(TrackArgs),
    /// Measure detector-only and end-to-end throughput side by side on one or more videos.
    Bench(BenchArgs),
    /// Write an INT8 calibration set: frames sampled from clips, preprocessed exactly as fovea does.
    Calib(CalibArgs),
    /// Compare two models on the same frames (e.g. INT8 against fp32): boxes matched per class.
    Compare(CompareArgs),
    /// Check given boxes against their video (the validator's side): ROI colour statistics and
    /// rules per box, one JSONL line per box with its verdict and the rule that decided it.
    Verify(VerifyArgs),
    /// A Score Vision miner's job on one video: objects with the validator's classes (detector,
    /// tracker, roles by colour) and the 32 pitch keypoints (from the white lines; no keypoint
    /// model needed), written as the miner's response; --score scores it as the validator would.
    Mine(mine::MineArgs),
    /// Score a miner's Score Vision submission offline as the validator does: box score (its
    /// rules, the classifier slot), keypoint score (homography, pitch lines), speed, final.
    Score(score::ScoreArgs),
    /// Pick key frames: a quality kernel on every frame, shots, the detector on the best few
    /// candidates per shot; writes the images, keyframes.json and a contact sheet.
    Keyframes(KeyframesArgs),
    /// Embed video clips with an image encoder into a Parquet store (resumable).
    Embed(embed::EmbedArgs),
    /// Search a store by an image, a clip or a text: exact cosine top-k or an HNSW index.
    Search(embed::SearchArgs),
    /// The detection service: an HTTP/JSON server running many videos at once on one model
    /// (POST /v1/jobs, GET /v1/jobs/{id}/results, /metrics, /healthz, /readyz).
    Serve(serve::ServeArgs),
    /// Write the CUDA kernels (source for NVRTC and build-time PTX) into a folder.
    Kernels(KernelsArgs),
    /// TensorRT engines: build one ahead of time (EPContext model beside the manifest).
    #[command(subcommand)]
    Engines(EnginesCommand),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect(a) => detect::detect(a),
        Command::Track(a) => track::track(a),
        Command::Bench(a) => bench::bench(a),
        Command::Calib(a) => calib::calib(a),
        Command::Compare(a) => compare::compare(a),
        Command::Verify(a) => verify::verify(a),
        Command::Keyframes(a) => keyframes::keyframes(a),
        Command::Score(a) => score::score(a),
        Command::Mine(a) => mine::mine(a),
        Command::Kernels(a) => engines::kernels(a),
        Command::Serve(a) => serve::serve(a),
        Command::Embed(a) => embed::embed(a),
        Command::Search(a) => embed::search(a),
        Command::Engines(c) => engines::engines(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fovea: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
