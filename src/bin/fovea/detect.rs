//! `fovea detect`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use fovea::pipeline::{self, FrameResult};

use crate::{args::*, model::*, report::*};

pub(crate) fn detect(a: DetectArgs) -> anyhow::Result<ExitCode> {
    let sampling = a.sampling.sampling();
    sampling.validate()?;
    if let Some(config) = &a.config {
        return detect_with_config(&a, config, sampling);
    }
    // Check the input before the (slower) model load, so a wrong path fails at once; a FIFO or
    // device is read once only, by the pipeline.
    let info = if fovea::video::reads_once(&a.video) { None } else { Some(fovea::video::probe(&a.video)?) };
    let (mut detector, why) = load_detector(&a.model)?;
    let params = pipeline::decode_params(&detector, a.score, a.nms_iou, a.classes.as_deref())?;
    let tracking = a.tracking.config(&detector.manifest().tracking)?;
    let tiles = a.tiles.as_deref().map(|m| m.parse().map(fovea::pipeline::tiles::TileConfig::new)).transpose()?;
    let pitch_stage = a.pitch.stage(None)?;
    let labels = detector.manifest().labels.clone();
    let (mut sink, out_name) = open_sink(&a.output, a.format, &labels, tracking.is_some(), a.started)?;

    let expected = info.as_ref().and_then(|i| expected_frames(i, &sampling));
    let mut object_classifier = match &a.classifier {
        Some(m) => {
            let manifest = fovea::classify::ClipManifest::load(&resolve_model(m))?;
            let policy = fovea::classify::Policy::load_or_default(a.policy.as_deref())?;
            // One thread: the detector's ONNX Runtime threads already use the cores, and two
            // spinning thread pools fight over them. On a GPU the encoder runs there too, with the
            // detector's provider and device.
            let zs = match detector.device() {
                Some(dev) => {
                    let sel = fovea::infer::provider::Selection::resolve(
                        a.model.device.as_deref().map(str::parse).transpose()?,
                        a.model.provider.as_deref().map(str::parse).transpose()?,
                        false,
                    )?;
                    fovea::classify::ZeroShot::load_on(&manifest, 1, &sel, Some(dev))?
                }
                None => fovea::classify::ZeroShot::load(&manifest, 1)?,
            };
            Some(fovea::classify::ZeroShotClassifier::new(zs, policy)?)
        }
        None => None,
    };
    // Without colour teams the annotator draws on the pipeline's own frames.
    let fed = (!a.teams).then(|| info.as_ref().and_then(|i| i.fps).unwrap_or(30.0) / f64::from(sampling.stride.max(1)));
    let annotator = std::cell::RefCell::new(a.annotate.start_with(&a.video, sampling, &labels, &detector.manifest().name, fed)?);
    let mut to_annotator = |f: fovea::video::Frame| {
        if let Some(an) = annotator.borrow_mut().as_mut() {
            an.frame(f);
        }
    };
    let mut progress = ProgressOut::new(a.quiet, expected);
    let chain = pipeline::ChainConfig {
        tracking,
        teams: a.teams,
        interval: fovea::engine::checked_interval(a.interval, "--interval")?,
        tiles: tiles.clone(),
        pitch: pitch_stage,
        ..Default::default()
    };
    let mut stages = chain.stages(object_classifier.as_mut().map(|c| c as &mut dyn fovea::classify::Classifier));
    if fed.is_some() && annotator.borrow().is_some() {
        stages = stages.tap(&mut to_annotator);
    }
    let run = pipeline::run_detect(
        &a.video,
        &mut detector,
        &params,
        sampling,
        stages,
        &mut |r: &FrameResult| {
            if let Some(an) = annotator.borrow_mut().as_mut() {
                an.send(r);
            }
            sink.write(r)
        },
        &mut |p| progress.update(p),
    );
    progress.finish();
    let (report, outcome) = run?;
    if let Some(t) = report.stages.teams {
        let s = &report.stages;
        eprintln!("fovea detect: colour teams: {t}");
        if object_classifier.is_some() {
            eprintln!(
                "fovea detect: classifier after colour: {} objects classified, {} answered from their track, {} spared by colour ({} frames decoded again)",
                s.classified, s.from_track, s.colour_saved, s.second_pass_frames
            );
        }
    }
    let finished = sink.finish();
    print_summary(&report, &why, &labels, &out_name, a.format);
    if let Some(c) = &object_classifier {
        eprintln!("  encoder      {} on {}", c.zs.manifest.name, c.zs.provider);
    }
    let annotated = finish_annotator(annotator.into_inner(), &a.annotate);
    outcome?;
    annotated?;
    finished?;
    Ok(ExitCode::SUCCESS)
}

/// `fovea detect --config FILE`: the engine the C ABI, Python and Go build from the same file,
/// and its file call.
fn detect_with_config(a: &DetectArgs, config: &std::path::Path, sampling: fovea::video::Sampling) -> anyhow::Result<ExitCode> {
    let cfg = fovea::engine::EngineConfig::load(config)?;
    if !fovea::video::reads_once(&a.video) {
        fovea::video::probe(&a.video)?;
    }
    let engine = fovea::engine::Engine::new(&cfg)?;
    let labels = engine.labels().to_vec();
    let (mut sink, out_name) = open_sink(&a.output, a.format, &labels, cfg.tracking.enabled, a.started)?;
    let model = cfg.model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut annotator = a.annotate.start(&a.video, sampling, &labels, &model)?;
    let report = engine.process_file(&a.video, sampling, &mut |r: &FrameResult| {
        if let Some(an) = annotator.as_mut() {
            an.send(r);
        }
        sink.write(r)
    });
    let finished = sink.finish();
    let report = report?;
    print_summary(&report, &format!("(engine configuration {})", config.display()), &labels, &out_name, a.format);
    finish_annotator(annotator, &a.annotate)?;
    finished?;
    Ok(ExitCode::SUCCESS)
}
