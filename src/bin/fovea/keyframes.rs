//! `fovea keyframes`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use fovea::keyframes::{self, ImageFormat, Options, Policy};

use crate::{args::*, model::*, report::*};

pub(crate) fn keyframes(a: KeyframesArgs) -> anyhow::Result<ExitCode> {
    let sampling = a.sampling.sampling();
    sampling.validate()?;
    let format: ImageFormat = a.image_format.parse()?;
    let policy = Policy::load_or_default(a.policy.as_deref())?;
    // Check the input before the (slower) model load.
    let info = fovea::video::probe(&a.video)?;
    let (mut detector, why) = load_detector(&a.model)?;
    let params = fovea::pipeline::decode_params(&detector, a.score, None, None)?;
    let mut encoder = match &a.encoder {
        Some(m) => {
            let m = fovea::classify::ClipManifest::load(&resolve_model(m))?.encoder_model();
            Some(fovea::infer::encoder::ImageEncoder::load(&m, 1, &fovea::infer::provider::Selection::cpu(), None)?)
        }
        None => None,
    };
    let mut opts = Options::new(policy);
    opts.max = a.max;
    opts.min_gap = a.min_gap;
    opts.sampling = sampling;
    opts.format = format;
    opts.gpu = detector.device();
    opts.encoder = encoder.as_mut();
    // Stage 1 sees every sampled frame: the progress display follows it.
    let mut progress = ProgressOut::new(a.quiet, expected_frames(&info, &sampling));
    let mut tick = |p: fovea::pipeline::Progress| progress.update(p);
    opts.progress = Some(&mut tick);
    let run = keyframes::select(&a.video, &mut detector, &params, opts);
    progress.finish();
    let (selection, outcome) = run?;
    let (files, _) = keyframes::write(&selection, &a.output)?;
    let s = &selection.stages;
    eprintln!("fovea keyframes: {} -> {}", a.video.display(), a.output.display());
    eprintln!(
        "  stage 1      {} frames decoded, {} measured at {}x{} on {} ({:.2} s)",
        s.frames_decoded,
        s.stage1_frames,
        s.stage1_size[0],
        s.stage1_size[1],
        s.stage1_device,
        s.seconds.get("stage1_wall").copied().unwrap_or(0.0)
    );
    eprintln!("  shots        {}", s.shots);
    eprintln!(
        "  stage 2      {} candidates ({} held from stage 1, {} frames decoded again) through {} {why}{} ({:.2} s)",
        s.stage2_frames,
        s.stage2_frames_held,
        s.stage2_frames_decoded,
        selection.model,
        selection.encoder.as_ref().map(|e| format!(" and encoder {e}")).unwrap_or_default(),
        s.seconds.get("stage2_wall").copied().unwrap_or(0.0)
    );
    eprintln!("  chosen       {} key frames ({} near-duplicates dropped)", s.chosen, s.duplicates_dropped);
    if let Some(why) = &s.nothing_chosen {
        eprintln!("  none chosen: {why}");
    }
    for (f, &i) in files.iter().zip(&selection.chosen) {
        let c = &selection.candidates[i];
        eprintln!("    {:>8.2} s  {}  {}", c.time, f.file_name().unwrap_or_default().to_string_lossy(), c.why);
    }
    eprintln!("  wall         {:.2} s", s.seconds.get("wall").copied().unwrap_or(0.0));
    if let Some(mut an) = a.annotate.start(&a.video, sampling, &detector.manifest().labels, &selection.model)? {
        for (r, note) in keyframes::annotations(&selection) {
            an.send_noted(&r, note);
        }
        finish_annotator(Some(an), &a.annotate)?;
    }
    outcome?;
    Ok(ExitCode::SUCCESS)
}
