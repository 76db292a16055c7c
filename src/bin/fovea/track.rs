//! `fovea track`.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Instant;

use crate::args::*;

pub(crate) fn track(a: TrackArgs) -> anyhow::Result<ExitCode> {
    let boxes = fovea::output::read::read_boxes(&a.boxes)?;
    let cfg = a
        .tracking
        .config(&fovea::infer::manifest::Manifest::load(&crate::model::choose_manifest(a.model.as_deref()).0)?.tracking)?
        .ok_or_else(|| anyhow::anyhow!("invalid option --no-track: `fovea track` always tracks"))?;
    let fps = a.fps.or(boxes.fps).unwrap_or(30.0);
    anyhow::ensure!(fps.is_finite() && fps > 0.0, "invalid option --fps: must be > 0, got {fps}");
    let (mut sink, out_name) = crate::report::open_sink(&a.output, a.format, &boxes.labels, true)?;
    let start = Instant::now();
    let (mut dets, mut tracked) = (0u64, 0u64);
    let stages = fovea::pipeline::Stages { tracking: Some(cfg), ..Default::default() };
    let (_, issued) = fovea::pipeline::run_boxes(boxes.frames, boxes.labels.clone(), fps, stages, &mut |f| {
        dets += f.detections.len() as u64;
        tracked += f.track_ids.iter().filter(|t| t.is_some()).count() as u64;
        sink.write(f)
    })?;
    sink.finish()?;
    let s = start.elapsed().as_secs_f64();
    eprintln!("fovea track: {} ({:?})", a.boxes.display(), boxes.format);
    eprintln!("  detections   {dets}, {tracked} in confirmed tracks");
    eprintln!("  tracking     ByteTrack per class at {fps:.2} fps, {} track ids issued", issued.unwrap_or(0));
    eprintln!("  time         {:.1} ms", s * 1000.0);
    eprintln!("  output       {}", out_name.display());
    Ok(ExitCode::SUCCESS)
}
