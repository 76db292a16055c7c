//! `fovea mine`: a Score Vision miner's whole job on one video, through the same chain as
//! `fovea detect` (detector, tracker, roles by colour, pitch keypoints), written as the miner's
//! response; `--score` then scores it as the validator would (`fovea score`).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::args::*;

#[derive(Args)]
pub(crate) struct MineArgs {
    /// The challenge's video.
    pub(crate) video: PathBuf,
    /// The response: `{"frames": {"<n>": {"objects": [...], "keypoints": [...]}}, "processing_time": s}`.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) tracking: TrackingArgs,
    /// Pitch keypoints: `lines` (the default: the template registered to the white lines),
    /// `model` (`--pitch-model`, every `--pitch-every` frames) or `off`.
    #[command(flatten)]
    pub(crate) pitch: PitchArgs,
    /// Leave out roles by colour (goalkeepers and referees from jersey colours, for detectors
    /// without those classes; on by default).
    #[arg(long)]
    pub(crate) no_teams: bool,
    /// Tiled detection for small objects: `all` or `ball` (see `fovea detect --tiles`).
    #[arg(long)]
    pub(crate) tiles: Option<String>,
    /// The detector on every (N + 1)th frame only, ByteTrack predicting the frames between.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) interval: u32,
    /// Then score the response as the validator does (`fovea score` with the job's time).
    #[arg(long)]
    pub(crate) score: bool,
    /// No progress bar or progress lines.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) annotate: AnnotateArgs,
}

pub(crate) fn mine(a: MineArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let MineArgs { video, output, model, tracking, mut pitch, no_teams, tiles, interval, score, quiet, annotate } = a;
    if pitch.pitch.is_none() && pitch.pitch_model.is_none() {
        pitch.pitch = Some(PitchArg::Lines);
    }
    if output == std::path::Path::new("-") && score {
        anyhow::bail!("--score reads the response back: give -o a file");
    }
    let detect = DetectArgs {
        video: video.clone(),
        output: output.clone(),
        format: Format::Scorevision,
        config: None,
        model,
        sampling: SamplingArgs { stride: 1, max_fps: None, start: 0.0, duration: None, iframes: false },
        score: None,
        nms_iou: None,
        classes: None,
        tracking,
        classifier: None,
        policy: None,
        teams: !no_teams,
        tiles,
        interval,
        pitch,
        quiet,
        annotate,
        started: Some(started),
    };
    crate::detect::detect(detect)?;
    let time = started.elapsed().as_secs_f64();
    if score {
        crate::score::score_file(&video, &output, time)?;
    }
    Ok(ExitCode::SUCCESS)
}
