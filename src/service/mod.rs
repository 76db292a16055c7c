//! The detection service's core (`fovea serve`): the model loaded once behind a cross-stream
//! [`Batcher`], jobs queued and run on runner threads (one pipeline per job: the file source,
//! the job's own tracker and writer), each job's results kept and readable while it runs,
//! cancellation, limits, graceful shutdown, metrics. No async code: the HTTP face (the CLI's
//! `serve` command, axum) calls these methods. A score job (`"kind": "score"`) runs `fovea
//! score`'s chain on its runner thread instead of the detector (see [`ScoreJob`]).
//!
//! ```text
//!  POST /v1/jobs ─▶ submit ─▶ queue ─▶ runner thread: source ─▶ Share ─▶ Batcher ◀─ other jobs
//!                                           └─▶ the job's stages ─▶ JSONL / Score Vision bytes
//!  GET /v1/jobs/{id}/results ◀─ Job::read(from) while it grows
//! ```
//! A job's failure (a missing file, not media, damage half-way, a live source that dies) is its
//! own: it ends `failed` with fovea's error and the results before the damage; other jobs and
//! the service go on. A panic in a job's pipeline is caught and fails that job.
#![forbid(unsafe_code)]

mod access;
mod jobs;
mod metrics;

pub use crate::video::guard::UrlRules;
pub use access::{Access, Named};
pub use jobs::{Format, Job, JobKind, JobOptions, JobState, JobStatus, ScoreJob, Work};

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::engine::EngineConfig;
use crate::error::{Error, Result};
use crate::infer::manifest::Manifest;
use crate::infer::Detector;
use crate::pipeline::{self, Batcher};

/// How the service runs; [`ServiceConfig::new`] gives the defaults for this machine.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The model and its settings (model, runtime, threads, workers, score, classes, tracking,
    /// rules, tiles; a classifier and teams are refused at start-up).
    pub engine: EngineConfig,
    /// Job sources that are paths must lie under this folder.
    pub media_root: PathBuf,
    /// Network sources allowed (`--allow-url`); None: no URL source is accepted.
    pub allow_url: Option<UrlRules>,
    /// A network source that yields no frame for this long fails (each connection attempt's I/O
    /// timeout, and the total of reconnects without progress).
    pub source_timeout: Duration,
    /// Jobs decoding at once (each has its decode and preprocess threads).
    pub max_running: usize,
    /// Jobs waiting beyond the running ones; more is refused ([`SubmitError::Busy`]: HTTP 429).
    pub max_queued: usize,
    /// Frames a job sends to the batcher at a time (0: the detector's batch) and how long a call
    /// that is not full waits for other jobs' frames.
    pub job_batch: usize,
    pub batch_wait: Duration,
    /// Jobs kept in the list after they ended (the oldest ended ones are forgotten first, with
    /// their results).
    pub max_kept: usize,
    /// Where jobs' results are written (one file per job, removed with it, created exclusively
    /// with mode 0600 and never through a symbolic link; an earlier run's job files found there
    /// at start-up are removed: the folder is the service's own); default: a new private folder (mode
    /// 0700, random name) in the system's temporary folder, removed when the service stops.
    pub results_dir: Option<PathBuf>,
}

impl ServiceConfig {
    /// Defaults for this machine: as many running jobs as cores (at least 2), 4 per core queued.
    pub fn new(engine: EngineConfig, media_root: PathBuf) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            engine,
            media_root,
            allow_url: None,
            source_timeout: Duration::from_secs(30),
            max_running: cores.max(2),
            max_queued: 4 * cores.max(2),
            job_batch: 0,
            batch_wait: Duration::from_millis(2),
            max_kept: 1000,
            results_dir: None,
        }
    }
}

/// Why a job was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// The request is wrong (HTTP 400): the reason says what, where and what was expected.
    Invalid(String),
    /// The queue is full (HTTP 429).
    Busy { running: usize, queued: usize },
    /// The service is shutting down (HTTP 503).
    Stopping,
    /// The job's results file cannot be made (HTTP 500).
    Internal(String),
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Invalid(r) => f.write_str(r),
            SubmitError::Busy { running, queued } => {
                write!(f, "the service is busy: {running} jobs running and {queued} queued (its limits)")
            }
            SubmitError::Stopping => f.write_str("the service is shutting down"),
            SubmitError::Internal(r) => f.write_str(r),
        }
    }
}

struct Jobs {
    map: BTreeMap<u64, Arc<Job>>,
    queue: VecDeque<Arc<Job>>,
    running: usize,
    next_id: u64,
}

/// The service: see the module documentation.
pub struct Service {
    cfg: ServiceConfig,
    /// The jobs' results files; the folder the service made (removed when it stops), if it did.
    results_dir: PathBuf,
    own_results_dir: Option<tempfile::TempDir>,
    access: Access,
    batcher: Batcher,
    /// The configuration's chain (tracking, rules, tiles), every job's.
    chain: crate::pipeline::ChainConfig,
    labels: Vec<String>,
    jobs: Mutex<Jobs>,
    wake: Condvar,
    stopping: AtomicBool,
    runners: Mutex<Vec<std::thread::JoinHandle<()>>>,
    metrics: metrics::Metrics,
    started: Instant,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("model", &self.batcher.manifest().name).finish()
    }
}

impl Service {
    /// Loads the model once and starts the runner threads.
    pub fn start(cfg: ServiceConfig) -> Result<Arc<Self>> {
        let e = &cfg.engine;
        if cfg.max_running == 0 || cfg.max_running > 256 {
            return Err(Error::InvalidOption {
                option: "--max-running",
                reason: format!("must be within 1..=256, got {}", cfg.max_running),
            });
        }
        if cfg.source_timeout < Duration::from_millis(100) {
            return Err(Error::InvalidOption {
                option: "--source-timeout",
                reason: format!("must be at least 0.1 s, got {:.3}", cfg.source_timeout.as_secs_f64()),
            });
        }
        let access = Access::new(&cfg.media_root, cfg.allow_url.clone(), cfg.source_timeout).map_err(|err| Error::InvalidOption {
            option: "--media-root",
            reason: format!("{}: expected a folder: {err}", cfg.media_root.display()),
        })?;
        // What of the configuration's chain the service cannot run is refused here, by name,
        // before the model loads; the rest it runs for every job.
        if e.classifier.kind != crate::engine::ClassifierKind::None {
            return Err(Error::InvalidOption {
                option: "--config",
                reason: "[classifier]: fovea serve runs no classifier (one per job would load an encoder each); \
                         use `fovea detect --config` or the C ABI for classified results"
                    .into(),
            });
        }
        if e.teams {
            return Err(Error::InvalidOption {
                option: "--config",
                reason: "teams = true: colour teams hold a clip's results until it ends, which a live source never does; \
                         use `fovea detect --config` or `fovea verify --teams`"
                    .into(),
            });
        }
        let manifest = Manifest::load(&e.model_choice()?.0)?;
        // The configuration's device and provider (a GPU one: TensorRT or CUDA, with the resize
        // kernel on the device when the model's input allows it).
        let opts = e.detector_options(&manifest)?;
        crate::infer::check_build(&opts.selection)?;
        let detector = Detector::load(&manifest, &opts)?;
        // The configuration's thresholds and classes are checked once here; jobs override them.
        pipeline::decode_params(&detector, e.score, e.nms_iou, e.classes.as_deref())?;
        let chain = e.chain(&manifest)?;
        let labels = manifest.labels.clone();
        let (results_dir, own_results_dir) = match &cfg.results_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| Error::Output { path: d.clone(), source: e })?;
                // A results folder that outlives the process (a container restarted in its pod,
                // a volume) holds the files of jobs no one can ask for any more, whose names the
                // new process's jobs would take.
                let stale = jobs::remove_stale_results(d).map_err(|e| Error::Output { path: d.clone(), source: e })?;
                if stale > 0 {
                    log::warn!("removed {stale} results files of an earlier run from {}", d.display());
                }
                (d.clone(), None)
            }
            None => {
                // A fresh folder only this user can enter, never one found in place.
                let t = tempfile::Builder::new()
                    .prefix(&format!("fovea-serve-{}-", std::process::id()))
                    .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                    .tempdir()
                    .map_err(|e| Error::Output { path: std::env::temp_dir(), source: e })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let batcher = Batcher::new(detector, cfg.job_batch, cfg.batch_wait)?;
        let svc = Arc::new(Self {
            results_dir,
            own_results_dir,
            access,
            batcher,
            chain,
            labels,
            jobs: Mutex::new(Jobs { map: BTreeMap::new(), queue: VecDeque::new(), running: 0, next_id: 1 }),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            runners: Mutex::new(Vec::new()),
            metrics: metrics::Metrics::default(),
            started: Instant::now(),
            cfg,
        });
        let mut runners = Vec::new();
        for i in 0..svc.cfg.max_running {
            let s = svc.clone();
            let t = std::thread::Builder::new()
                .name(format!("fovea-job-{i}"))
                .spawn(move || s.runner())
                .map_err(|e| Error::Pipeline(format!("cannot start a job runner: {e}")))?;
            runners.push(t);
        }
        *svc.runners.lock().map_err(|_| Error::Pipeline("poisoned".into()))? = runners;
        Ok(svc)
    }

    /// The model's name, the runtime it runs on and how (for `/healthz` and logs).
    pub fn describe(&self) -> String {
        let (provider, threads, workers, batch) = self.batcher.describe();
        format!("{} on {provider}, {workers} workers x {threads} threads; {batch}", self.batcher.manifest().name)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        // A runner never panics while holding the lock (pipelines run outside it).
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts a job: `source` is a path under the media root (relative to it, or absolute inside
    /// it) or, when the service allows URLs (`--allow-url`), a URL FFmpeg reads (`http(s)://`,
    /// `rtsp://`, `rtmp://`, `srt://`; HLS playlists too; a score job's video: a file or
    /// `http(s)://`); `options` the job's fields: detection's ([`JobOptions`]) or a score's
    /// ([`ScoreJob`]: the miner's file and the score's options, files under the media root). Every
    /// path goes through one resolver ([`Access`]).
    pub fn submit(&self, kind: JobKind, source: &str, options: &serde_json::Value) -> std::result::Result<Arc<Job>, SubmitError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(SubmitError::Stopping);
        }
        let input = self.access.check("source", source, true).map_err(SubmitError::Invalid)?;
        let work = match kind {
            JobKind::Detect | JobKind::Mine => {
                JobOptions::parse(options, self.batcher.manifest(), &self.cfg.engine, &self.chain, kind == JobKind::Mine)
                    .map(|o| Work::Detect(Box::new(o)))
            }
            JobKind::Score => {
                if matches!(&input, Named::Url(u) if !u.to_ascii_lowercase().starts_with("http")) {
                    return Err(SubmitError::Invalid(format!(
                        "source {source}: a score job reads a whole video: a file under the media root or an http(s) URL"
                    )));
                }
                ScoreJob::parse(options, &|what, p| self.access.check(what, p, false)).map(|s| Work::Score(Box::new(s)))
            }
        }
        .map_err(|e| SubmitError::Invalid(e.to_string()))?;
        let mut jobs = self.lock();
        if jobs.queue.len() >= self.cfg.max_queued {
            self.metrics.refused.fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::Busy { running: jobs.running, queued: jobs.queue.len() });
        }
        let id = jobs.next_id;
        jobs.next_id += 1;
        let job = Job::new(id, source.to_string(), input, work, &self.results_dir).map_err(|e| {
            log::error!("cannot create the results file of job {id} in {}: {e}", self.results_dir.display());
            SubmitError::Internal(format!("cannot create the results file of job {id}"))
        })?;
        let job = Arc::new(job);
        jobs.map.insert(id, job.clone());
        jobs.queue.push_back(job.clone());
        // Forget the oldest ended jobs beyond the limit.
        if jobs.map.len() > self.cfg.max_kept {
            let ended: Vec<u64> = jobs.map.values().filter(|j| j.status().state.ended()).map(|j| j.id).collect();
            for id in ended.into_iter().take(jobs.map.len() - self.cfg.max_kept) {
                jobs.map.remove(&id);
            }
        }
        self.metrics.submitted.fetch_add(1, Ordering::Relaxed);
        drop(jobs);
        self.wake.notify_one();
        Ok(job)
    }

    pub fn job(&self, id: u64) -> Option<Arc<Job>> {
        self.lock().map.get(&id).cloned()
    }

    /// Every job kept, oldest first.
    pub fn jobs(&self) -> Vec<JobStatus> {
        self.lock().map.values().map(|j| j.status()).collect()
    }

    /// Cancels a queued or running job (its results so far are kept); None when unknown.
    pub fn cancel(&self, id: u64) -> Option<JobStatus> {
        let job = self.job(id)?;
        job.cancel();
        let mut jobs = self.lock();
        if let Some(pos) = jobs.queue.iter().position(|j| j.id == id) {
            jobs.queue.remove(pos);
            job.finish_cancelled_queued();
        }
        drop(jobs);
        Some(job.status())
    }

    /// Whether the model is loaded (it is, once started), the service is not stopping and the
    /// queue has room.
    pub fn ready(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst) && self.lock().queue.len() < self.cfg.max_queued
    }

    /// Prometheus text exposition of the service's metrics.
    pub fn metrics(&self) -> String {
        let jobs = self.lock();
        let states: Vec<JobState> = jobs.map.values().map(|j| j.status().state).collect();
        let (running, queued) = (jobs.running, jobs.queue.len());
        drop(jobs);
        self.metrics.render(&states, running, queued, self.batcher.stats(), self.started.elapsed())
    }

    /// Stops accepting jobs, lets queued and running jobs finish for up to `grace`, then cancels
    /// what is left (results so far kept) and waits for the runners.
    pub fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        loop {
            let jobs = self.lock();
            if jobs.running == 0 && jobs.queue.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for j in jobs.map.values() {
                    j.cancel();
                }
                break;
            }
            drop(jobs);
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wake.notify_all();
        let runners = std::mem::take(&mut *self.runners.lock().unwrap_or_else(|p| p.into_inner()));
        for t in runners {
            let _ = t.join();
        }
        // Jobs still queued after the grace period end cancelled.
        let mut jobs = self.lock();
        while let Some(j) = jobs.queue.pop_front() {
            j.finish_cancelled_queued();
        }
    }

    /// The results folder (each job's results file is removed with the job).
    pub fn results_dir(&self) -> &Path {
        &self.results_dir
    }

    /// A runner thread: takes queued jobs until the service stops.
    fn runner(&self) {
        loop {
            let job = {
                let mut jobs = self.lock();
                loop {
                    if let Some(j) = jobs.queue.pop_front() {
                        jobs.running += 1;
                        break j;
                    }
                    if self.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    jobs = self.wake.wait_timeout(jobs, Duration::from_millis(200)).unwrap_or_else(|p| p.into_inner()).0;
                }
            };
            let share = self.batcher.share();
            let labels = self.labels.clone();
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(share, labels, &self.access, &self.metrics)));
            if run.is_err() {
                job.fail_panicked();
            }
            self.lock().running -= 1;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // Jobs (and their files) go first; the folder the service made goes with them.
        self.jobs.get_mut().unwrap_or_else(|p| p.into_inner()).map.clear();
        if let Some(d) = self.own_results_dir.take() {
            let _ = d.close();
        }
    }
}
