//! `fovea detect`: its flags become an engine configuration ([`DetectArgs::engine_config`]), the
//! one the C ABI, Python, Go and `--config` build; the engine's file call does the rest. One road
//! for every way of asking.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use fovea::engine::{ClassifierConfig, ClassifierKind, Engine, EngineConfig, FileHooks};
use fovea::pipeline::FrameResult;

use crate::{args::*, model::*, report::*};

pub(crate) fn detect(a: DetectArgs) -> anyhow::Result<ExitCode> {
    let sampling = a.sampling.sampling();
    sampling.validate()?;
    // Check the input before the (slower) model load, so a wrong path fails at once; a FIFO or
    // device is read once only, by the pipeline.
    let info = if fovea::video::reads_once(&a.video) { None } else { Some(fovea::video::probe(&a.video)?) };
    let cfg = a.engine_config()?;
    let selection = cfg.selection()?;
    let engine = match &a.config {
        Some(_) => Engine::new(&cfg)?,
        None => {
            let way_on = format!(
                "asked for with --device {} --provider {}: add --allow-fallback to run on the CPU instead",
                selection.device,
                selection.provider.short()
            );
            Engine::new_hinted(&cfg, &way_on)?
        }
    };
    let why = match (&a.config, engine.model_choice()) {
        (Some(c), "given") => format!("({}; given in the engine configuration {})", engine.manifest().precision, c.display()),
        (None, "given") => format!("({}; given with --model)", engine.manifest().precision),
        (_, default) => format!("({}; {default})", engine.manifest().precision),
    };
    let labels = engine.labels().to_vec();
    let (mut sink, out_name) = open_sink(&a.output, a.format, &labels, cfg.tracking.enabled, a.started)?;
    let expected = info.as_ref().and_then(|i| expected_frames(i, &sampling));
    // Without colour teams the annotator draws on the pipeline's own frames (teams hold a clip's
    // results to its end: the annotator then decodes the video again).
    let fed = (!cfg.teams).then(|| info.as_ref().and_then(|i| i.fps).unwrap_or(30.0) / f64::from(sampling.stride.max(1)));
    let annotator = std::cell::RefCell::new(a.annotate.start_with(&a.video, sampling, &labels, &engine.manifest().name, fed)?);
    let mut to_annotator = |f: fovea::video::Frame| {
        if let Some(an) = annotator.borrow_mut().as_mut() {
            an.frame(f);
        }
    };
    let mut progress = ProgressOut::new(a.quiet, expected);
    let mut on_progress = |p| progress.update(p);
    let hooks = FileHooks {
        progress: Some(&mut on_progress),
        frames: (fed.is_some() && annotator.borrow().is_some()).then_some(&mut to_annotator as &mut dyn FnMut(fovea::video::Frame)),
    };
    let run = engine.process_file_with(&a.video, sampling, hooks, &mut |r: &FrameResult| {
        if let Some(an) = annotator.borrow_mut().as_mut() {
            an.send(r);
        }
        sink.write(r)
    });
    progress.finish();
    let finished = sink.finish();
    let (report, outcome) = run?;
    {
        if let Some(t) = report.stages.teams {
            let s = &report.stages;
            eprintln!("fovea detect: colour teams: {t}");
            if cfg.classifier.kind == ClassifierKind::Zeroshot {
                eprintln!(
                    "fovea detect: classifier after colour: {} objects classified, {} answered from their track, {} spared by colour ({} frames decoded again)",
                    s.classified, s.from_track, s.colour_saved, s.second_pass_frames
                );
            }
        }
        print_summary(&report, &why, &out_name, a.format);
        if let Some(c) = engine.classifier_description() {
            eprintln!("  encoder      {c}");
        }
    }
    let annotated = finish_annotator(annotator.into_inner(), &a.annotate);
    outcome?;
    annotated?;
    finished?;
    Ok(ExitCode::SUCCESS)
}

impl DetectArgs {
    /// The engine configuration these flags ask for: `--config`'s file (flags that would
    /// contradict it are refused by the parser) with the sampling-free flags given over it, or
    /// the flags alone. Flags are checked here, so their errors name them.
    pub(crate) fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        let m = &self.model;
        let mut c = match &self.config {
            Some(path) => EngineConfig::load(path)?,
            None => EngineConfig {
                model: m.model.as_deref().map(resolve_model).unwrap_or_default(),
                device: m.device.clone(),
                provider: m.provider.clone(),
                allow_fallback: m.allow_fallback,
                calibration: m.calib.clone(),
                score: self.score,
                nms_iou: self.nms_iou,
                classes: self.classes.clone(),
                tracking: self.tracking.section(),
                teams: self.teams,
                ..EngineConfig::default()
            },
        };
        // Given over a configuration too (0, 1, fp16 and absent are the flags' defaults).
        if m.threads != 0 {
            c.threads = m.threads;
        }
        if m.workers != 0 {
            c.workers = m.workers;
        }
        if m.batch != 1 {
            c.batch = m.batch;
        }
        if m.runtime.is_some() {
            fovea::infer::manifest::RuntimeKind::parse_option(m.runtime.as_deref(), "--runtime")?;
            c.runtime = m.runtime.clone();
        }
        if m.precision != "fp16" || self.config.is_none() {
            parse_precision(&m.precision)?;
            c.precision = Some(m.precision.clone());
        }
        if let Some(t) = &self.tiles {
            c.tiles = Some(fovea::pipeline::tiles::TileConfig::new(t.parse()?));
        }
        if self.interval != 0 {
            c.interval = fovea::engine::checked_interval(self.interval, "--interval")?;
        }
        if self.pitch.given() {
            c.pitch = self.pitch.section(None)?;
        }
        if self.config.is_none() {
            let selection = c.selection()?;
            if !selection.allow_fallback {
                fovea::infer::check_build(&selection).map_err(|e| gpu_hint(&selection, e))?;
            }
            // The tracker's flags, checked over the model's thresholds.
            self.tracking.config(&fovea::infer::manifest::Manifest::load(&c.model_choice()?.0)?.tracking)?;
            match &self.classifier {
                Some(enc) => {
                    c.classifier =
                        ClassifierConfig { kind: ClassifierKind::Zeroshot, encoder: Some(resolve_model(enc)), policy: self.policy.clone() }
                }
                None => anyhow::ensure!(self.policy.is_none(), "invalid option --policy: the --classifier's policy: give --classifier too"),
            }
        }
        Ok(c)
    }
}
