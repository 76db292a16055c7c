//! `fovea score`: a miner's submission scored offline as the Score Vision validator scores it.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub(crate) struct ScoreArgs {
    /// The challenge's video.
    pub(crate) video: PathBuf,
    /// The miner's Score Vision file ({"frames": {"<n>": {"objects": [...], "keypoints": [...]}}}).
    #[arg(long)]
    pub(crate) boxes: PathBuf,
    /// The miner's processing time in seconds (for the speed score).
    #[arg(long)]
    pub(crate) time: Option<f64>,
    /// The fastest miner's time in seconds (the speed score's t_min; default 0).
    #[arg(long)]
    pub(crate) fastest: Option<f64>,
    /// Rule file (TOML); default: the validator's, filter/scorevision-validator.toml.
    #[arg(long)]
    pub(crate) rules: Option<PathBuf>,
    /// Frames whose pitch lines are measured for the keypoints' line score (spread evenly).
    #[arg(long, default_value_t = 30)]
    pub(crate) line_frames: usize,
    /// The frames to validate, as the validator chose them (its pitch filter): a JSON list of frame
    /// numbers or numbers separated by spaces, commas or lines; default every frame of the video
    /// (the expectation of its choice). Given the validator's list, the keypoint score is its.
    #[arg(long, value_name = "FILE")]
    pub(crate) frames: Option<PathBuf>,
    /// Whose homography the keypoint score uses: `opencv` (the validator's: OpenCV's RANSAC as it
    /// computes it, what the validator pays) or `consensus` (fovea's largest consistent set: what
    /// the keypoints are really worth).
    #[arg(long, default_value = "opencv")]
    pub(crate) homography: fovea::score::keypoints::HomographyMethod,
    /// The whole report as JSON on stdout (per-frame details included) instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the JSON report to this file.
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
    /// What decides each kept box's class (without a classifier the box score is an upper bound:
    /// every kept box confirmed), and where the line kernel and the ROI stage run.
    #[command(flatten)]
    pub(crate) classify: crate::args::ClassifierArgs,
}

/// `fovea score VIDEO --boxes RESPONSE --time TIME` with the command's own defaults (what
/// `fovea mine --score` prints): the arguments go through clap, so the defaults live in one place.
pub(crate) fn score_file(video: &std::path::Path, response: &std::path::Path, time: f64) -> anyhow::Result<ExitCode> {
    use clap::FromArgMatches;
    let argv: [std::ffi::OsString; 6] =
        ["score".into(), video.into(), "--boxes".into(), response.into(), "--time".into(), time.to_string().into()];
    let matches = ScoreArgs::augment_args(clap::Command::new("score")).try_get_matches_from(argv)?;
    score(ScoreArgs::from_arg_matches(&matches)?)
}

pub(crate) fn score(a: ScoreArgs) -> anyhow::Result<ExitCode> {
    use fovea::score::{run_score, ScoreOptions};
    fovea::score::check_times(a.time, a.fastest, ["--time", "--fastest"])?;
    let filter = match &a.rules {
        Some(p) => fovea::filter::FilterConfig::load(p)?,
        None => fovea::filter::FilterConfig::scorevision_validator(),
    };
    let mut notes = Vec::new();
    let (gpu, mut zero_shot) = a.classify.load(&mut notes)?;
    let frames = a.frames.as_deref().map(fovea::score::read_frame_list).transpose()?;
    let opts = ScoreOptions {
        filter,
        line_frames: a.line_frames,
        time: a.time,
        fastest: a.fastest,
        gpu,
        frames,
        homography: a.homography,
        ..ScoreOptions::default()
    };
    let classifier = zero_shot.as_mut().map(|z| z as &mut dyn fovea::classify::Classifier);
    let (report, outcome) = run_score(&a.video, &a.boxes, &opts, classifier)?;
    let json = report.to_json(true);
    if let Some(o) = &a.output {
        std::fs::write(o, serde_json::to_vec_pretty(&json)?).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", o.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print_summary(&report, &a, zero_shot.as_ref().map(|z| z.zs.encoder.provider.to_string()), &notes);
    }
    outcome?;
    Ok(ExitCode::SUCCESS)
}

fn print_summary(r: &fovea::score::ScoreReport, a: &ScoreArgs, classifier: Option<String>, notes: &[String]) {
    let b = &r.boxes;
    let k = &r.keypoints;
    println!("fovea score: {} ({}x{}, {} frames)", a.boxes.display(), r.width, r.height, r.video_frames);
    println!(
        "  rules        {}",
        a.rules.as_ref().map_or("built-in filter/scorevision-validator.toml".into(), |p| p.display().to_string())
    );
    match (&a.classify.classifier, classifier) {
        (Some(c), Some(p)) => println!("  classifier   {} on {p}", c.display()),
        _ => println!("  classifier   none"),
    }
    if b.upper_bound {
        println!("  unconfirmed  {} boxes no classifier decided: taken as what the miner said (an upper bound)", b.unknown);
    }
    let dropped: u64 = b.dropped.values().sum();
    println!(
        "  box score    {:.2}{} (unrounded {:.4}) over {} frames, {} boxes, {} dropped by the rules, area factor {:.3}",
        b.score,
        if b.upper_bound { " at most" } else { "" },
        b.raw,
        b.frames,
        b.boxes,
        dropped,
        b.area_factor
    );
    println!(
        "  keypoints    {:.2} of 100: homography {:.1} ({} of {} frames), on lines {:.3} ({} frames measured), inside {:.3}, stability {:.3}, players {:.3} / {:.1}, scale {:.3} x {:.3}",
        k.score, k.keypoint_score, k.with_homography, k.frames, k.on_line, k.lines_frames, k.inside, k.stability, k.plausibility, k.player_score, k.scale, k.scale_valid
    );
    match r.speed {
        Some(s) => println!("  speed        {s:.3} ({:.2} s, fastest taken as {:.2} s)", a.time.unwrap_or(0.0), r.fastest),
        None => println!("  speed        not scored (no --time)"),
    }
    println!("  quality      {:.4} = 0.5 x box {:.2} + 0.5 x keypoints {:.2} / 100", r.quality, b.score, k.score);
    println!("  final        {:.4} = 0.65 x quality + 0.35 x speed{}", r.final_score, if b.upper_bound { " (an upper bound)" } else { "" });
    for (i, c) in r.costs.iter().enumerate() {
        println!("  {} {c}", if i == 0 { "cost        " } else { "            " });
    }
    for n in notes {
        println!("  note         {n}");
    }
    println!(
        "  time (s)     lines {:.3} ({}) | decode {:.3} | rules {:.3} | classifier {:.3} | wall {:.3}",
        r.lines_s, r.lines_device, r.verify.times.decode_s, r.verify.stages.rules_s, r.verify.stages.classify_s, r.wall_s
    );
}
