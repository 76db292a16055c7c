//! `fovea bench`.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use fovea::output::{JsonlWriter, ResultSink};
use fovea::pipeline::{self};
use fovea::video::Sampling;

use crate::{args::*, model::*, report::*};

/// Detector-only vs end-to-end on the same frames, model and threads, in one process. The two
/// are measured in alternating rounds (this machine's speed drifts) and medians are reported.
pub(crate) fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let (mut detector, why) = load_detector(&a.model)?;
    let params = detector.default_params();
    let spec = detector.manifest().input.clone();
    let mut rows = Vec::new();
    eprintln!(
        "fovea bench: {} {why} on {}, {} workers x {} threads; {}; {} rounds, medians",
        detector.manifest().name,
        detector.provider(),
        detector.workers(),
        detector.threads(),
        detector.batch_note(),
        a.rounds
    );
    for video in &a.videos {
        anyhow::ensure!(
            !fovea::video::reads_once(video),
            "{}: bench reads its input several times; give a regular file, not a pipe or device",
            video.display()
        );
        let info = fovea::video::probe(video)?;
        let fps = info.fps.unwrap_or(25.0);
        let sampling = Sampling { duration: Some((a.frames as f64 - 0.5) / fps), ..Sampling::default() };

        // Detector only: frames decoded and converted beforehand; resize/normalise + infer +
        // decode/NMS timed (the chain's in-memory source).
        let frames = pipeline::decode_frames(video, sampling, spec.channels, a.frames as usize)?;
        anyhow::ensure!(!frames.is_empty(), "{}: no frames", video.display());
        let n = frames.len() as u64;
        // Warm-up, then alternating rounds.
        pipeline::run_frames(&info, &frames[..1], &mut detector, &params, pipeline::ChainConfig::default().stages(None), &mut |_| Ok(()))?;
        let mut det_fps = Vec::new();
        let mut e2e_fps = Vec::new();
        let mut last = None;
        for _ in 0..a.rounds.max(1) {
            // Detector only: the chain's in-memory source, no stages, results dropped.
            let t0 = Instant::now();
            pipeline::run_frames(&info, &frames, &mut detector, &params, pipeline::ChainConfig::default().stages(None), &mut |_| Ok(()))?;
            det_fps.push(n as f64 / t0.elapsed().as_secs_f64());

            // End to end: the whole pipeline from the file, results serialised as JSONL.
            let mut sink = JsonlWriter::new(Box::new(std::io::sink()), "null".into(), detector.manifest().labels.clone());
            let stages = pipeline::Stages::tracked();
            let (report, outcome) =
                pipeline::run_detect(video, &mut detector, &params, sampling, stages, &mut |r| sink.write(r), &mut |_| {})?;
            outcome?;
            e2e_fps.push(report.fps());
            last = Some(report);
        }
        let report = last.expect("at least one round");
        let (det, e2e) = (median(&mut det_fps), median(&mut e2e_fps));
        let t = &report.times;
        let m = report.frames_processed;
        eprintln!(
            "  {:<26} {n} frames  detector-only {det:6.1} FPS  end-to-end {e2e:6.1} FPS  ratio {:.2}  (last run, ms/frame: decode {:.2}, preprocess {:.2}, inference {:.2}, postprocess {:.2}, output {:.3})",
            video.file_name().map_or("?".into(), |f| f.to_string_lossy()),
            e2e / det,
            ms_per(t.decode_s, m),
            ms_per(t.preprocess_s, m),
            ms_per(t.inference_s, m),
            ms_per(t.postprocess_s, m),
            ms_per(t.output_s, m)
        );
        rows.push(serde_json::json!({
            "video": video.display().to_string(),
            "frames": n,
            "rounds": a.rounds,
            "detector_only_fps": det,
            "end_to_end_fps": e2e,
            "detector_only_fps_rounds": det_fps,
            "end_to_end_fps_rounds": e2e_fps,
            "ratio": e2e / det,
            "ms_per_frame": {
                "decode": ms_per(t.decode_s, m), "preprocess": ms_per(t.preprocess_s, m),
                "inference": ms_per(t.inference_s, m), "postprocess": ms_per(t.postprocess_s, m),
                "output": ms_per(t.output_s, m)
            },
            "threads": detector.threads(),
            "workers": detector.workers(),
            "provider": detector.provider(),
            "model": detector.manifest().name,
        }));
    }
    if let Some(p) = a.json {
        std::fs::write(&p, serde_json::to_string_pretty(&rows)?).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
