//! The README's Rust quick start: detect and track objects in a video with the default model,
//! printing each frame's boxes (`cargo run --release --example quickstart -- VIDEO`).
use std::path::Path;

use fovea::engine::{Engine, EngineConfig};
use fovea::video::Sampling;

fn main() -> fovea::Result<()> {
    let video = std::env::args().nth(1).unwrap_or_else(|| "tests/data/market_street_10s.mp4".into());
    let engine = Engine::new(&EngineConfig::parse("[tracking]\nenabled = true", Path::new("."))?)?;
    let report = engine.process_file(Path::new(&video), Sampling::default(), &mut |frame| {
        for (d, id) in frame.detections.iter().zip(&frame.track_ids) {
            println!("frame {} {} {:.2} {:?} track {:?}", frame.index, engine.labels()[d.class_id as usize], d.score, d.bbox, id);
        }
        Ok(())
    })?;
    eprintln!(
        "{} frames, {} tracks, {:.1} s on {}",
        report.frames_processed,
        report.tracks.unwrap_or(0),
        report.wall_s,
        report.detector.unwrap().provider
    );
    Ok(())
}
