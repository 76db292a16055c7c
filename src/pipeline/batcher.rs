//! Cross-stream batching: one detector serving many jobs at once.
//!
//! ```text
//!  job 1 file source ──preprocessed frames──▶ ┐
//!  job 2 file source ──preprocessed frames──▶ ├─▶ batcher thread: fill one call from several
//!  job N file source ──preprocessed frames──▶ ┘    jobs' requests (FIFO, within `wait`) ▶ model
//!                                                   ▶ each job's detections back to its own chain
//! ```
//! Each job's tracker, reuse cache and result order stay on its own thread ([`Share`] is the
//! job's side, an [`Infer`] like [`Detector`]), and every frame is decoded with its own job's
//! parameters, so a job's results equal running its video alone. A model with a dynamic batch
//! dimension gets calls filled from several jobs; with a fixed one (NanoDet: one frame per
//! worker call) requests take turns in arrival order, which is fair because each job has at most
//! one request waiting.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::detect::{DecodeParams, Detection};
use crate::error::{Error, Result};
use crate::image::Transform;
use crate::infer::manifest::Manifest;
use crate::infer::preprocess::Preprocessor;
use crate::infer::{CallTimes, Detector};

/// What the chain's sources need of a detector: fovea's own ([`Detector`]) or a job's share of
/// one that serves many jobs ([`Share`]).
pub trait Infer {
    fn manifest(&self) -> &Manifest;
    /// Frames per [`Infer::run`].
    fn batch(&self) -> usize;
    /// Frames given to [`Infer::fill`] are resized on a GPU (then callers skip CPU preprocessing).
    fn device_preprocessing(&self) -> bool {
        false
    }
    fn fill(&mut self, slot: usize, image: &[u8], width: u32, height: u32, stride: usize) -> Result<Transform>;
    fn fill_preprocessed(&mut self, slot: usize, tensor: &[f32]) -> Result<()>;
    fn run(&mut self, n: usize, transforms: &[Transform], params: &DecodeParams) -> Result<(Vec<Vec<Detection>>, CallTimes)>;
    /// What runs, for reports: provider, threads per worker, workers, how batching is done.
    fn describe(&self) -> (String, usize, usize, String);
}

impl Infer for Detector {
    fn manifest(&self) -> &Manifest {
        Detector::manifest(self)
    }
    fn batch(&self) -> usize {
        Detector::batch(self)
    }
    fn device_preprocessing(&self) -> bool {
        Detector::device_preprocessing(self)
    }
    fn fill(&mut self, slot: usize, image: &[u8], width: u32, height: u32, stride: usize) -> Result<Transform> {
        Detector::fill(self, slot, image, width, height, stride)
    }
    fn fill_preprocessed(&mut self, slot: usize, tensor: &[f32]) -> Result<()> {
        Detector::fill_preprocessed(self, slot, tensor)
    }
    fn run(&mut self, n: usize, transforms: &[Transform], params: &DecodeParams) -> Result<(Vec<Vec<Detection>>, CallTimes)> {
        Detector::run(self, n, transforms, params)
    }
    fn describe(&self) -> (String, usize, usize, String) {
        (self.provider().to_string(), self.threads(), self.workers(), self.batch_note().to_string())
    }
}

/// A request's frames: preprocessed tensors (the CPU path), or the frames themselves (packed
/// rows, width, height) for a detector that resizes on its GPU.
enum Payload {
    Tensors(Vec<f32>),
    Frames(Vec<(Vec<u8>, u32, u32)>),
}

/// One job's frames for a call.
struct Request {
    payload: Payload,
    transforms: Vec<Transform>,
    params: DecodeParams,
    reply: Sender<Result<(Vec<Vec<Detection>>, CallTimes)>>,
}

/// What the batcher did: calls, frames, and how many calls had how many frames and jobs.
#[derive(Debug, Default)]
pub struct BatcherStats {
    pub calls: AtomicU64,
    pub frames: AtomicU64,
    /// Calls by frames in them: index k counts calls of k+1 frames (the last: that many or more).
    pub frames_per_call: [AtomicU64; 16],
    /// Calls that carried frames of more than one job.
    pub shared_calls: AtomicU64,
    /// Seconds in the model (microseconds, summed).
    pub inference_us: AtomicU64,
}

/// The model, its describing figures and the thread that runs it for every [`Share`].
pub struct Batcher {
    tx: Option<Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
    manifest: Arc<Manifest>,
    batch: usize,
    job_batch: usize,
    device: bool,
    described: (String, usize, usize, String),
    stats: Arc<BatcherStats>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("model", &self.manifest.name).field("batch", &self.batch).finish()
    }
}

impl Batcher {
    /// Starts the batcher thread on `detector`; each job sends `job_batch` frames at a time (at
    /// most the detector's batch; 0: the detector's batch, so a job alone fills whole calls), and a
    /// call that is not full waits up to `wait` for more jobs' frames.
    pub fn new(detector: Detector, job_batch: usize, wait: Duration) -> Result<Self> {
        let device = detector.device_preprocessing();
        let manifest = Arc::new(detector.manifest().clone());
        let batch = detector.batch();
        if job_batch > batch {
            return Err(Error::InvalidOption {
                option: "job_batch",
                reason: format!("a job's frames per request must be within 0..={batch} (the detector's batch), got {job_batch}"),
            });
        }
        let job_batch = if job_batch == 0 { batch } else { job_batch };
        let described = Infer::describe(&detector);
        let stats = Arc::new(BatcherStats::default());
        let (tx, rx) = crossbeam_channel::unbounded::<Request>();
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name("fovea-batcher".into())
            .spawn(move || serve(detector, rx, wait, &st))
            .map_err(|e| Error::Pipeline(format!("cannot start the batcher thread: {e}")))?;
        Ok(Self { tx: Some(tx), thread: Some(thread), manifest, batch, job_batch, device, described, stats })
    }

    /// A job's side of the batcher.
    pub fn share(&self) -> Share {
        let per = self.manifest.input.image_len();
        Share {
            tx: self.tx.clone().expect("running until dropped"),
            manifest: self.manifest.clone(),
            batch: self.job_batch,
            pre: Preprocessor::new(self.manifest.input.clone()),
            tensors: if self.device { Vec::new() } else { vec![0.0; self.job_batch * per] },
            device: self.device,
            frames: vec![(Vec::new(), 0, 0); if self.device { self.job_batch } else { 0 }],
            described: (
                self.described.0.clone(),
                self.described.1,
                self.described.2,
                format!("{}; shared across jobs (cross-stream batching, {} frames per job request)", self.described.3, self.job_batch),
            ),
        }
    }

    pub fn stats(&self) -> &BatcherStats {
        &self.stats
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Frames per model call.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Provider, threads per worker, workers, batching.
    pub fn describe(&self) -> &(String, usize, usize, String) {
        &self.described
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The batcher thread: gathers requests in arrival order into calls of up to the detector's
/// batch, runs them, and answers each request with its frames' detections.
fn serve(mut det: Detector, rx: Receiver<Request>, wait: Duration, stats: &BatcherStats) {
    let batch = det.batch();
    let per = det.manifest().input.image_len();
    let mut pending: VecDeque<Request> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(r) => pending.push_back(r),
                Err(_) => return,
            }
        }
        let deadline = std::time::Instant::now() + wait;
        while pending.iter().map(|r| r.transforms.len()).sum::<usize>() < batch {
            match rx.recv_deadline(deadline) {
                Ok(r) => pending.push_back(r),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        // Whole requests, first come first served, while they fit (a request is never split).
        let mut take: Vec<Request> = Vec::new();
        let mut slots = 0;
        while let Some(r) = pending.front() {
            if slots + r.transforms.len() > batch {
                break;
            }
            slots += r.transforms.len();
            take.push(pending.pop_front().expect("front exists"));
        }
        let outcome = (|| -> Result<(Vec<Vec<Detection>>, CallTimes)> {
            let mut slot = 0;
            for r in &take {
                match &r.payload {
                    Payload::Tensors(t) => {
                        for t in t.chunks_exact(per) {
                            det.fill_preprocessed(slot, t)?;
                            slot += 1;
                        }
                    }
                    Payload::Frames(f) => {
                        for (data, w, h) in f {
                            det.fill(slot, data, *w, *h, *w as usize * 3)?;
                            slot += 1;
                        }
                    }
                }
            }
            let transforms: Vec<Transform> = take.iter().flat_map(|r| r.transforms.iter().copied()).collect();
            let params: Vec<&DecodeParams> = take.iter().flat_map(|r| std::iter::repeat_n(&r.params, r.transforms.len())).collect();
            det.run_each(slots, &transforms, &params)
        })();
        stats.calls.fetch_add(1, Ordering::Relaxed);
        stats.frames.fetch_add(slots as u64, Ordering::Relaxed);
        stats.frames_per_call[slots.clamp(1, 16) - 1].fetch_add(1, Ordering::Relaxed);
        if take.len() > 1 {
            stats.shared_calls.fetch_add(1, Ordering::Relaxed);
        }
        match outcome {
            Ok((mut dets, times)) => {
                stats.inference_us.fetch_add((times.inference_s * 1e6) as u64, Ordering::Relaxed);
                for r in take.into_iter().rev() {
                    let mine = dets.split_off(dets.len() - r.transforms.len());
                    let _ = r.reply.send(Ok((mine, times)));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for r in take {
                    let _ = r.reply.send(Err(Error::Pipeline(format!("the shared detector failed: {msg}"))));
                }
            }
        }
    }
}

/// A job's share of a [`Batcher`]: fills its own slots, sends them as one request, waits for its
/// detections.
pub struct Share {
    tx: Sender<Request>,
    manifest: Arc<Manifest>,
    batch: usize,
    pre: Preprocessor,
    tensors: Vec<f32>,
    /// The detector resizes on its GPU: frames are sent as they are.
    device: bool,
    frames: Vec<(Vec<u8>, u32, u32)>,
    described: (String, usize, usize, String),
}

impl Infer for Share {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    fn batch(&self) -> usize {
        self.batch
    }
    fn device_preprocessing(&self) -> bool {
        self.device
    }
    fn fill(&mut self, slot: usize, image: &[u8], width: u32, height: u32, stride: usize) -> Result<Transform> {
        let per = self.pre.len();
        if slot >= self.batch {
            return Err(Error::State(format!("batch slot {slot} >= batch {}", self.batch)));
        }
        if self.device {
            let row = width as usize * 3;
            if stride < row || image.len() < stride * (height as usize).saturating_sub(1) + row {
                return Err(Error::State(format!("a {width}x{height} frame of {} bytes with rows of {stride}", image.len())));
            }
            let (buf, w, h) = &mut self.frames[slot];
            buf.clear();
            for y in 0..height as usize {
                buf.extend_from_slice(&image[y * stride..y * stride + row]);
            }
            (*w, *h) = (width, height);
            let spec = &self.manifest.input;
            return Ok(Transform::new(width, height, spec.width, spec.height, spec.fit));
        }
        Ok(self.pre.run(image, width, height, stride, &mut self.tensors[slot * per..(slot + 1) * per]))
    }
    fn fill_preprocessed(&mut self, slot: usize, tensor: &[f32]) -> Result<()> {
        let per = self.pre.len();
        if slot >= self.batch || tensor.len() != per {
            return Err(Error::State(format!(
                "preprocessed image of {} floats for slot {slot}: {per} floats, {} slots",
                tensor.len(),
                self.batch
            )));
        }
        self.tensors[slot * per..(slot + 1) * per].copy_from_slice(tensor);
        Ok(())
    }
    fn run(&mut self, n: usize, transforms: &[Transform], params: &DecodeParams) -> Result<(Vec<Vec<Detection>>, CallTimes)> {
        let per = self.pre.len();
        let (reply, answer) = crossbeam_channel::bounded(1);
        let payload =
            if self.device { Payload::Frames(self.frames[..n].to_vec()) } else { Payload::Tensors(self.tensors[..n * per].to_vec()) };
        let req = Request { payload, transforms: transforms[..n].to_vec(), params: params.clone(), reply };
        self.tx.send(req).map_err(|_| Error::Pipeline("the batcher has stopped".into()))?;
        answer.recv().map_err(|_| Error::Pipeline("the batcher has stopped".into()))?
    }
    fn describe(&self) -> (String, usize, usize, String) {
        self.described.clone()
    }
}
