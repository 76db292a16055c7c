//! One job of the service: its options, state, results (the writer's bytes, readable while they
//! grow) and its run through the pipeline: detection (the shared detector) or a score
//! (`fovea score`'s verify chain, [`score`]).
#![forbid(unsafe_code)]

mod score;

pub use score::ScoreJob;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::detect::DecodeParams;
use crate::engine::EngineConfig;
use crate::error::{Error, Result};
use crate::infer::manifest::Manifest;
use crate::pipeline::{self, ChainConfig, Share};
use crate::video::Sampling;

/// A job's per-job options (`"options"` of `POST /v1/jobs`); absent fields are the service
/// configuration's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    classes: Option<Vec<String>>,
    score: Option<f32>,
    nms_iou: Option<f32>,
    stride: Option<u32>,
    max_fps: Option<f64>,
    start: Option<f64>,
    duration: Option<f64>,
    /// Only the source's key frames (I-frames).
    iframes: Option<bool>,
    tracking: Option<bool>,
    format: Option<String>,
    /// `lines`, `model` (the configuration's `[pitch]` model) or `off`: the pitch keypoints
    /// (default: the configuration's `[pitch]`; a mine job's: lines without one).
    pitch: Option<String>,
    /// Roles by colour (goalkeepers and referees from jersey colours; default: the
    /// configuration's `teams`, on for a mine job).
    teams: Option<bool>,
    /// The detector on every (interval + 1)th frame, the tracker between (default: the
    /// configuration's `interval`).
    interval: Option<u32>,
}

/// The result format of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per frame (`application/x-ndjson`), readable line by line as it grows.
    Jsonl,
    /// The Score Vision miner JSON, complete when the job ends.
    Scorevision,
    /// A score job's report (`fovea score --json`), written when the job ends.
    Score,
}

/// What a job does (`"kind"` of `POST /v1/jobs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Detection (and tracking) through the service's model.
    Detect,
    /// A miner's Score Vision submission scored on the source as the validator scores it.
    Score,
    /// A Score Vision miner's whole job (`fovea mine`): detection, tracking, roles by colour,
    /// the pitch keypoints, the response with its `processing_time`.
    Mine,
}

impl std::str::FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "detect" => Ok(JobKind::Detect),
            "score" => Ok(JobKind::Score),
            "mine" => Ok(JobKind::Mine),
            other => Err(format!("kind: expected detect, mine or score, got '{other}'")),
        }
    }
}

/// A job's work, checked.
#[derive(Debug, Clone)]
pub enum Work {
    /// Detection, or a mine job (the options say which).
    Detect(Box<JobOptions>),
    Score(Box<ScoreJob>),
}

impl Work {
    pub fn kind(&self) -> JobKind {
        match self {
            Work::Detect(o) if o.mine => JobKind::Mine,
            Work::Detect(_) => JobKind::Detect,
            Work::Score(_) => JobKind::Score,
        }
    }

    pub fn format(&self) -> Format {
        match self {
            Work::Detect(o) => o.format,
            Work::Score(_) => Format::Score,
        }
    }
}

/// A job's options, checked.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub params: DecodeParams,
    pub sampling: Sampling,
    /// The service's chain (its configuration's tracking, rules, tiles, pitch), with the job's
    /// tracking and pitch.
    pub chain: ChainConfig,
    pub format: Format,
    /// A mine job: the Score Vision response ends with its `processing_time`.
    pub mine: bool,
}

/// Times a network source is opened again after failing without processing a frame in between
/// (and at most for the service's source timeout in all).
pub const MAX_RECONNECTS: u32 = 6;

/// Largest frame stride a job may ask for.
pub const MAX_STRIDE: u32 = 100_000;

impl JobOptions {
    /// Parses and checks `options` (a JSON object, or null) over the service's defaults; `mine`:
    /// over a miner's (the Score Vision response, tracking, roles by colour, pitch keypoints).
    pub(crate) fn parse(
        options: &serde_json::Value,
        manifest: &Manifest,
        engine: &EngineConfig,
        chain: &ChainConfig,
        mine: bool,
    ) -> Result<Self> {
        let bad = |option: &'static str, reason: String| Error::InvalidOption { option, reason };
        let raw: RawOptions = if options.is_null() {
            RawOptions::default()
        } else {
            serde_json::from_value(options.clone()).map_err(|e| {
                bad(
                    "options",
                    format!(
                        "{e} (fields: classes, score, nms_iou, stride, max_fps, start, duration, iframes, tracking, format, pitch, teams, interval)"
                    ),
                )
            })?
        };
        let classes = raw.classes.or_else(|| engine.classes.clone());
        let params = pipeline::decode_params_for(manifest, raw.score.or(engine.score), raw.nms_iou.or(engine.nms_iou), classes.as_deref())
            .map_err(Error::for_json)?;
        let mut sampling = Sampling::default();
        if let Some(s) = raw.stride {
            if !(1..=MAX_STRIDE).contains(&s) {
                return Err(bad("options.stride", format!("must be within 1..={MAX_STRIDE}, got {s}")));
            }
            sampling.stride = s;
        }
        if let Some(f) = raw.max_fps {
            if !(f.is_finite() && f > 0.0) {
                return Err(bad("options.max_fps", format!("must be a positive number, got {f}")));
            }
            sampling.max_fps = Some(f);
        }
        if let Some(s) = raw.start {
            if !(s.is_finite() && s >= 0.0) {
                return Err(bad("options.start", format!("must be a number of seconds >= 0, got {s}")));
            }
            sampling.start = s;
        }
        if let Some(d) = raw.duration {
            if !(d.is_finite() && d > 0.0) {
                return Err(bad("options.duration", format!("must be a positive number of seconds, got {d}")));
            }
            sampling.duration = Some(d);
        }
        sampling.iframes = raw.iframes.unwrap_or(false);
        let tracking = match raw.tracking {
            Some(false) => None,
            Some(true) => Some(chain.tracking.unwrap_or(manifest.tracking)),
            None if mine => Some(chain.tracking.unwrap_or(manifest.tracking)),
            None => chain.tracking,
        };
        let pitch = match raw.pitch.as_deref() {
            None if mine && chain.pitch.is_none() => Some(crate::engine::PitchMode::Lines.stage()),
            None => chain.pitch.clone(),
            Some("lines") => Some(crate::engine::PitchMode::Lines.stage()),
            Some("model") => match &chain.pitch {
                Some(p @ crate::pipeline::pitch::PitchConfig::Model(_)) => Some(p.clone()),
                _ => return Err(bad("options.pitch", "model: the service's configuration has no [pitch] model".into())),
            },
            Some("off") => None,
            Some(p) => return Err(bad("options.pitch", format!("expected lines, model or off, got '{p}'"))),
        };
        let teams = raw.teams.unwrap_or(chain.teams || mine);
        let interval = crate::engine::checked_interval(raw.interval.unwrap_or(chain.interval), "options.interval")?;
        if interval > 0 && tracking.is_none() {
            return Err(bad("options.interval", "needs tracking: the tracker predicts the boxes of the frames the detector skips".into()));
        }
        let chain = ChainConfig { tracking, pitch, teams, interval, ..chain.clone() };
        let format = match raw.format.as_deref() {
            None if mine => Format::Scorevision,
            Some("scorevision") => Format::Scorevision,
            _ if mine => return Err(bad("options.format", "a mine job writes the Score Vision response (format scorevision)".into())),
            None | Some("jsonl") => Format::Jsonl,
            Some(f) => return Err(bad("options.format", format!("expected jsonl or scorevision, got '{f}'"))),
        };
        Ok(Self { params, sampling, chain, format, mine })
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn ended(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Cancelled)
    }

    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// A job as `GET /v1/jobs/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub id: u64,
    pub source: String,
    pub kind: JobKind,
    pub state: JobState,
    pub format: Format,
    /// Frames processed so far, and per second of the job's running time.
    pub frames: u64,
    pub fps: f64,
    /// Frames of a live source (a URL) dropped, oldest first, because the pipeline was behind
    /// (never for files); counted as each connection to the source ends.
    pub frames_dropped: u64,
    /// Frames of those processed whose boxes the tracker predicted (`interval`), so far.
    pub frames_predicted: u64,
    /// Seconds since it was accepted, and it ran.
    pub age_s: f64,
    pub running_s: f64,
    /// fovea's error when it failed (results before the damage are kept).
    pub error: Option<String>,
}

struct Progress {
    state: JobState,
    error: Option<String>,
    started: Option<Instant>,
    ended: Option<Instant>,
}

/// A job: see the module documentation.
pub struct Job {
    pub id: u64,
    pub source: String,
    input: super::Named,
    work: Work,
    created: Instant,
    progress: Mutex<Progress>,
    frames: Arc<AtomicU64>,
    /// Frames whose boxes the tracker predicted (`interval`).
    predicted: AtomicU64,
    /// Frames of a live source dropped because the pipeline was behind, counted as each
    /// connection to the source ends.
    dropped: AtomicU64,
    cancel: Arc<AtomicBool>,
    output: Arc<Results>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("id", &self.id).field("source", &self.source).finish()
    }
}

/// Most bytes of results one [`Job::read`] returns.
pub const MAX_READ: usize = 1 << 20;

/// A job's results on disk (a file in the service's results folder, removed with the job), so
/// that memory does not grow with long or many jobs; readers read it from any offset while the
/// writer appends. The file is created exclusively (mode 0600, never through a symbolic link) and
/// open only while the job writes or a reader reads, so kept jobs hold no descriptor.
pub(crate) struct Results {
    path: PathBuf,
    len: AtomicU64,
}

/// How a results file is opened.
#[derive(Clone, Copy)]
enum Mode {
    Create,
    Append,
    Read,
}

/// Opens a results file without following a symbolic link in its last component.
fn open_results(path: &Path, mode: Mode) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    match mode {
        Mode::Create => o.write(true).create_new(true).mode(0o600),
        Mode::Append => o.append(true),
        Mode::Read => o.read(true),
    };
    o.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
}

/// Removes the job results files (`job-<id>.out`, symbolic links included, never followed) an
/// earlier run left in `dir`; returns how many.
pub(crate) fn remove_stale_results(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|s| s.strip_prefix("job-")).and_then(|s| s.strip_suffix(".out")) else { continue };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || entry.file_type()?.is_dir() {
            continue;
        }
        std::fs::remove_file(entry.path())?;
        n += 1;
    }
    Ok(n)
}

impl Results {
    fn create(path: PathBuf) -> std::io::Result<Self> {
        drop(open_results(&path, Mode::Create)?);
        Ok(Self { path, len: AtomicU64::new(0) })
    }

    /// The writer of a run (the file open until it is dropped).
    fn writer(self: &Arc<Self>) -> std::io::Result<Out> {
        Ok(Out { results: self.clone(), file: open_results(&self.path, Mode::Append)? })
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The job's results as its writer makes them.
struct Out {
    results: Arc<Results>,
    file: std::fs::File,
}

impl std::io::Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write_all(buf)?;
        self.results.len.fetch_add(buf.len() as u64, Ordering::SeqCst);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a client is told of a job's failure: fovea's error with the files named as the client
/// named them, except where it could carry a file's content (a parser's message) or tell a
/// network's layout (which hosts and ports answer): then a generic reason, the detail in the log.
fn client_error(e: &Error, names: &[(PathBuf, String)], source_is_url: bool, source: &Path) -> String {
    let name = |p: &Path| names.iter().find(|(q, _)| q == p).map_or_else(|| "a file of the job".to_string(), |(_, n)| n.clone());
    let renamed = |p: &Path| e.to_string().replace(&p.display().to_string(), &name(p));
    match e {
        Error::NotMedia { path, .. }
        | Error::NoVideoStream { path, .. }
        | Error::Undecodable { path, .. }
        | Error::Corrupt { path, .. }
        | Error::Input { path, .. }
            if source_is_url && path == source =>
        {
            "source unavailable (the service's log has the details)".into()
        }
        Error::FileNotFound { path } => format!("{}: no such file", name(path)),
        Error::NotMedia { path, .. }
        | Error::NoVideoStream { path, .. }
        | Error::Undecodable { path, .. }
        | Error::Corrupt { path, .. } => renamed(path),
        Error::Manifest { path, .. } | Error::Input { path, .. } | Error::ModelMismatch { path, .. } | Error::Inference { path, .. } => {
            format!("{}: cannot be read as this job's input (the service's log has the details)", name(path))
        }
        Error::InvalidOption { .. } | Error::Unsupported { .. } | Error::RuntimeMissing { .. } | Error::Device(_) => e.to_string(),
        Error::Output { .. } => "cannot write the job's results (the service's log has the details)".into(),
        _ => "the job failed (the service's log has the details)".into(),
    }
}

impl Job {
    /// A queued job whose results go to a file in `dir`.
    pub(crate) fn new(id: u64, source: String, input: super::Named, work: Work, dir: &std::path::Path) -> std::io::Result<Self> {
        let output = Arc::new(Results::create(dir.join(format!("job-{id}.out")))?);
        Ok(Self {
            id,
            source,
            input,
            work,
            created: Instant::now(),
            progress: Mutex::new(Progress { state: JobState::Queued, error: None, started: None, ended: None }),
            frames: Arc::new(AtomicU64::new(0)),
            predicted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            cancel: Arc::new(AtomicBool::new(false)),
            output,
        })
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> JobStatus {
        let p = self.progress();
        let frames = self.frames.load(Ordering::Relaxed);
        let running_s = match (p.started, p.ended) {
            (Some(s), Some(e)) => (e - s).as_secs_f64(),
            (Some(s), None) => s.elapsed().as_secs_f64(),
            _ => 0.0,
        };
        JobStatus {
            id: self.id,
            source: self.source.clone(),
            kind: self.work.kind(),
            state: p.state,
            format: self.work.format(),
            frames,
            fps: if running_s > 0.0 { frames as f64 / running_s } else { 0.0 },
            frames_dropped: self.dropped.load(Ordering::Relaxed),
            frames_predicted: self.predicted.load(Ordering::Relaxed),
            age_s: self.created.elapsed().as_secs_f64(),
            running_s,
            error: p.error.clone(),
        }
    }

    /// The results' bytes from `from` on (at most [`MAX_READ`]), and whether the job has ended and
    /// they are all there is (then nothing more comes).
    pub fn read(&self, from: usize) -> std::io::Result<(Vec<u8>, bool)> {
        use std::io::{Read, Seek};
        // The state first: bytes written before the job ended are then all counted in `len`.
        let ended = self.progress().state.ended();
        let len = self.output.len.load(Ordering::SeqCst) as usize;
        let want = len.saturating_sub(from).min(MAX_READ);
        let mut buf = vec![0u8; want];
        if want > 0 {
            let mut f = open_results(&self.output.path, Mode::Read)?;
            f.seek(std::io::SeekFrom::Start(from as u64))?;
            f.read_exact(&mut buf)?;
        }
        Ok((buf, ended && from + want >= len))
    }

    /// Asks the job to stop (at its next frame); its results so far are kept.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub(crate) fn finish_cancelled_queued(&self) {
        let mut p = self.progress();
        if !p.state.ended() {
            p.state = JobState::Cancelled;
            p.ended = Some(Instant::now());
        }
    }

    pub(crate) fn fail_panicked(&self) {
        let mut p = self.progress();
        p.state = JobState::Failed;
        p.error = Some("internal error: the job's pipeline panicked (a bug: please report it); other jobs are unaffected".into());
        p.ended = Some(Instant::now());
    }

    /// Runs the job (through the pipeline on `share` for detection), writing its results. Its
    /// files are opened here, once, through `access`.
    pub(crate) fn run(&self, share: Share, labels: Vec<String>, access: &super::Access, metrics: &super::metrics::Metrics) {
        {
            let mut p = self.progress();
            if self.cancel.load(Ordering::SeqCst) {
                p.state = JobState::Cancelled;
                p.ended = Some(Instant::now());
                return;
            }
            p.state = JobState::Running;
            p.started = Some(Instant::now());
        }
        let source_is_url = matches!(self.input, super::Named::Url(_));
        let mut names: Vec<(PathBuf, String)> = Vec::new();
        let outcome = match access.open(&self.input) {
            Err(e) => Err(e.for_client(&self.source)),
            Ok(input) => {
                names.push((input.path().to_path_buf(), self.source.clone()));
                let run = match &self.work {
                    Work::Detect(opts) => self.run_detect(input.path(), opts, share, labels, access.source_timeout(), metrics),
                    Work::Score(s) => self.run_score(input.path(), s, access, &mut names),
                };
                run.map_err(|e| match e {
                    RunError::Refused(reason) => reason,
                    RunError::Failed(e) => {
                        log::warn!("job {} ({}) failed: {e}", self.id, self.source);
                        client_error(&e, &names, source_is_url, input.path())
                    }
                })
            }
        };
        let (state, error) = if self.cancel.load(Ordering::SeqCst) {
            (JobState::Cancelled, None)
        } else {
            match outcome {
                Ok(()) => (JobState::Done, None),
                Err(e) => (JobState::Failed, Some(e)),
            }
        };
        let mut p = self.progress();
        p.state = state;
        p.error = error;
        p.ended = Some(Instant::now());
    }

    /// Detection over the job's source, the results written as they come.
    fn run_detect(
        &self,
        input: &Path,
        opts: &JobOptions,
        mut share: Share,
        labels: Vec<String>,
        source_timeout: std::time::Duration,
        metrics: &super::metrics::Metrics,
    ) -> std::result::Result<(), RunError> {
        let name = PathBuf::from(format!("job {}", self.id));
        let out = self.output.writer().map_err(|e| RunError::Failed(Error::Output { path: self.output.path.clone(), source: e }))?;
        let format = match opts.format {
            Format::Jsonl | Format::Score => crate::output::Format::Jsonl,
            Format::Scorevision => crate::output::Format::Scorevision,
        };
        // A mine job's Score Vision file ends with its processing time.
        let started = self.progress().started.filter(|_| opts.mine);
        let mut writer = crate::output::sink(format, Box::new(out), name, &labels, opts.chain.tracking.is_some(), started);
        // A network source that fails (or ends with an error) is opened again with backoff, for
        // at most `source_timeout` without a frame in all; frame numbers go on from where they
        // were (pts are the source's).
        let live = crate::video::is_url(input);
        let mut next_index = 0u64;
        let mut attempts = 0u32;
        let mut last_progress = Instant::now();
        let outcome: Result<()> = loop {
            let offset = next_index;
            let stages = opts.chain.stages(None);
            let run = pipeline::run_detect(
                input,
                &mut share,
                &opts.params,
                opts.sampling,
                stages,
                &mut |r| {
                    if self.cancel.load(Ordering::Relaxed) {
                        return Err(Error::Cancelled);
                    }
                    if offset > 0 {
                        let mut shifted = r.clone();
                        shifted.index += offset;
                        writer.write(&shifted)?;
                    } else {
                        writer.write(r)?;
                    }
                    next_index = next_index.max(r.index + offset + 1);
                    self.frames.fetch_add(1, Ordering::Relaxed);
                    self.predicted.fetch_add(u64::from(r.predicted), Ordering::Relaxed);
                    metrics.frames.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                },
                &mut |_| {},
            );
            let (progressed, result) = match run {
                Ok((report, outcome)) => {
                    metrics.observe(&report);
                    self.dropped.fetch_add(report.frames_dropped, Ordering::Relaxed);
                    (report.frames_processed > 0, outcome)
                }
                Err(e) => (false, Err(e)),
            };
            if progressed {
                last_progress = Instant::now();
            }
            let budget = source_timeout.saturating_sub(last_progress.elapsed());
            match result {
                Ok(()) => break Ok(()),
                Err(_) if self.cancel.load(Ordering::SeqCst) => break Ok(()),
                Err(e) if live && attempts < MAX_RECONNECTS && !budget.is_zero() => {
                    attempts = if progressed { 1 } else { attempts + 1 };
                    let wait = std::time::Duration::from_millis((250u64 << attempts.min(5)).min(8000)).min(budget);
                    log::warn!("job {}: {e}; reconnecting to {} in {:.1} s (attempt {attempts})", self.id, self.source, wait.as_secs_f64());
                    metrics.reconnects.fetch_add(1, Ordering::Relaxed);
                    let until = Instant::now() + wait;
                    while Instant::now() < until && !self.cancel.load(Ordering::Relaxed) {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let finished = writer.finish();
        outcome.and(finished).map_err(RunError::Failed)
    }
}

/// Why a run failed: a reason already fit for the client, or fovea's error (told to the client
/// through [`client_error`]).
pub(crate) enum RunError {
    Refused(String),
    Failed(Error),
}

impl From<Error> for RunError {
    fn from(e: Error) -> Self {
        RunError::Failed(e)
    }
}
