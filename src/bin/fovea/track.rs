//! `fovea track`.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Instant;

use crate::args::*;

pub(crate) fn track(a: TrackArgs) -> anyhow::Result<ExitCode> {
    let boxes = fovea::output::read::read_boxes(&a.boxes)?;
    let cfg = a
        .tracking
        .config(&fovea::infer::manifest::Manifest::load(&crate::model::choose_manifest(a.model.as_deref(), None).0)?.tracking)?
        .ok_or_else(|| anyhow::anyhow!("invalid option --no-track: `fovea track` always tracks"))?;
    anyhow::ensure!(
        a.video.is_some() || (a.annotate.annotate.is_none() && a.annotate.annotate_frames.is_none()),
        "invalid option --annotate: `fovea track` draws on the boxes' video: give it with --video"
    );
    let video_fps = match &a.video {
        Some(v) if !fovea::video::reads_once(v) => fovea::video::probe(v)?.fps,
        _ => None,
    };
    let fps = a.fps.or(boxes.fps).or(video_fps).unwrap_or(30.0);
    anyhow::ensure!(fps.is_finite() && fps > 0.0, "invalid option --fps: must be > 0, got {fps}");
    let (mut sink, out_name) = crate::report::open_sink(&a.output, a.format, &boxes.labels, true, None)?;
    let start = Instant::now();
    let (mut dets, mut tracked) = (0u64, 0u64);
    let mut annotator = match &a.video {
        Some(v) => a.annotate.start(v, fovea::video::Sampling::default(), &boxes.labels, "track")?,
        None => None,
    };
    let interval = fovea::engine::checked_interval(a.interval, "--interval")?;
    let stages = fovea::pipeline::ChainConfig { tracking: Some(cfg), interval, ..Default::default() }.stages(None);
    let run = fovea::pipeline::run_boxes(boxes.frames, boxes.labels.clone(), fps, stages, &mut |f| {
        dets += f.detections.len() as u64;
        tracked += f.track_ids.iter().filter(|t| t.is_some()).count() as u64;
        if let Some(an) = annotator.as_mut() {
            an.send(f);
        }
        sink.write(f)
    });
    let (_, issued) = match run {
        Ok(r) => r,
        Err(e) => {
            drop(annotator); // closes what it wrote so far
            return Err(e.into());
        }
    };
    sink.finish()?;
    let s = start.elapsed().as_secs_f64();
    eprintln!("fovea track: {} ({:?})", a.boxes.display(), boxes.format);
    eprintln!("  detections   {dets}, {tracked} in confirmed tracks");
    eprintln!("  tracking     ByteTrack per class at {fps:.2} fps, {} track ids issued", issued.unwrap_or(0));
    if interval > 0 {
        eprintln!("  interval     {interval}: the boxes of one frame in {} tracked, the frames between predicted", interval + 1);
    }
    eprintln!("  time         {:.1} ms", s * 1000.0);
    eprintln!("  output       {}", out_name.display());
    crate::args::finish_annotator(annotator, &a.annotate)?;
    Ok(ExitCode::SUCCESS)
}
