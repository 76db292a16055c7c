//! `fovea verify`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use fovea::output::open_output;

use crate::args::*;

pub(crate) fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    use fovea::pipeline::verify::{run_verify, VerifyOptions};
    use std::io::Write;
    anyhow::ensure!(a.batch_rois >= 1, "invalid option --batch-rois: must be >= 1");
    let filter = match &a.rules {
        Some(p) => fovea::filter::FilterConfig::load(p)?,
        None => fovea::filter::FilterConfig::scorevision(),
    };
    let rules_name = a.rules.as_ref().map_or("built-in filter/scorevision.toml".to_string(), |p| p.display().to_string());
    if !fovea::video::reads_once(&a.video) {
        fovea::video::probe(&a.video)?; // a FIFO or device is read once only, by the pipeline
    }
    let boxes = fovea::output::read::read_boxes(&a.boxes)?;
    let (mut out, out_name) = open_output(&a.output)?;
    let mut notes: Vec<String> = Vec::new();
    let (gpu, mut zero_shot) = a.classify.load(&mut notes)?;
    let chain = fovea::pipeline::ChainConfig {
        rules: Some(filter),
        roi_tensors: !a.no_roi_tensors,
        batch_rois: a.batch_rois,
        teams: a.teams,
        ..Default::default()
    };
    let opts = VerifyOptions { gpu: gpu.clone(), ..VerifyOptions::new(chain) };
    let classifier = zero_shot.as_mut().map(|z| z as &mut dyn fovea::classify::Classifier);
    let mut annotator = a.annotate.start(&a.video, fovea::video::Sampling::default(), &boxes.labels, "verify")?;
    let (report, outcome) = run_verify(
        &a.video,
        &boxes,
        &opts,
        classifier,
        &mut |r| {
            serde_json::to_writer(&mut out, r).map_err(|e| fovea::Error::Output { path: out_name.clone(), source: e.into() })?;
            out.write_all(b"\n").map_err(|e| fovea::Error::Output { path: out_name.clone(), source: e })
        },
        &mut |f| {
            if let Some(an) = annotator.as_mut() {
                an.send(f);
            }
        },
    );
    let flushed = out.flush().map_err(|e| fovea::Error::Output { path: out_name.clone(), source: e });
    let r = &report;
    let b = r.boxes.clone().unwrap_or_default();
    eprintln!("fovea verify: {}", a.video.display());
    if let Some(v) = &r.video {
        eprintln!("  input        {} {}x{}, {}", v.codec, v.width, v.height, v.container);
    }
    let fmt = match boxes.format {
        fovea::output::read::BoxesFormat::Jsonl => "fovea JSONL",
        fovea::output::read::BoxesFormat::ScoreVision => "Score Vision",
    };
    eprintln!("  boxes        {} ({fmt}), {} in {} frames", a.boxes.display(), b.boxes, b.frames);
    eprintln!("  rules        {rules_name}");
    let list = |m: &std::collections::BTreeMap<String, u64>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    let rejected: u64 = b.rejected.values().sum();
    let invalid: u64 = b.invalid.values().sum();
    eprintln!("  kept         {}", b.kept);
    eprintln!("  rejected     {rejected}{}", if rejected > 0 { format!(" ({})", list(&b.rejected)) } else { String::new() });
    eprintln!("  invalid      {invalid}{}", if invalid > 0 { format!(" ({})", list(&b.invalid)) } else { String::new() });
    if b.clamped > 0 {
        eprintln!("  clamped      {} boxes reached outside the frame", b.clamped);
    }
    if b.frames_missing > 0 {
        eprintln!("  missing      {} frames with boxes are past the end of the video", b.frames_missing);
    }
    eprintln!("  frames       {} decoded, {} with boxes", r.frames_decoded, b.frames - b.frames_missing);
    eprintln!(
        "  ROIs         {} measured, {} tensors ({}x{}, {}), {:.0} ROIs/s{}",
        r.stages.stats_rois,
        r.stages.tensor_rois,
        r.roi_size,
        r.roi_size,
        r.roi_device,
        r.rois_per_s(),
        if r.stages.roi_downloads > 0 {
            format!("; {} ROI batches downloaded for a CPU classifier", r.stages.roi_downloads)
        } else {
            String::new()
        }
    );
    let classifier = r.classifier.as_deref().unwrap_or("none (pass-through)");
    match &zero_shot {
        Some(z) => eprintln!("  classifier   {classifier} on {}", z.zs.encoder.provider),
        None => eprintln!("  classifier   {classifier}"),
    }
    for n in &notes {
        eprintln!("  note         {n}");
    }
    if let Some(t) = r.stages.teams {
        eprintln!("  colour       {t}");
    }
    let by_rules: u64 = b.rejected.iter().filter(|(k, _)| !k.starts_with("classifier:")).map(|(_, v)| v).sum();
    eprintln!(
        "  decided by   rules {by_rules} (rejected) | colour {} | classifier {} | classifier calls saved by colour {}{}",
        r.stages.teams.map_or(0, |t| t.team_0 + t.team_1),
        r.stages.classified,
        r.stages.colour_saved,
        if r.stages.second_pass_frames > 0 {
            format!(" ({} frames decoded again for it)", r.stages.second_pass_frames)
        } else {
            String::new()
        }
    );
    if let Some(z) = &zero_shot {
        let d: Vec<String> = z.decided.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!(
            "               {} ROIs in {} encoder calls; decided: {}",
            z.zs.encoder.rois,
            z.zs.encoder.calls,
            if d.is_empty() { "none".into() } else { d.join(", ") }
        );
    }
    eprintln!(
        "  time (s)     decode {:.3} | stats {:.3} | rules {:.3} | ROI tensors {:.3} | classifier {:.3} | output {:.3} | wall {:.3}",
        r.times.decode_s, r.stages.stats_s, r.stages.rules_s, r.stages.roi_s, r.stages.classify_s, r.times.output_s, r.wall_s
    );
    eprintln!("  output       {}", out_name.display());
    let annotated = finish_annotator(annotator, &a.annotate);
    outcome?;
    flushed?;
    annotated?;
    Ok(ExitCode::SUCCESS)
}
