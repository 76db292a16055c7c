//! Dataset-scale embeddings (`fovea embed`, issue 15): many clips decoded at once, sampled frames
//! scaled by swscale straight to the encoder's input size, whole-frame ROIs batched across clips
//! into the image encoder, per-frame embeddings and an L2-normalised per-clip mean, committed to a
//! Parquet store clip by clip ([`store`]); [`search`] queries a store.
//!
//! ```text
//! clips ──▶ decoder threads (one clip each, sampled frames at S x S) ──▶ bounded channel
//!       ──▶ ROI stage (whole frames, normalised) ──▶ image encoder (batches across clips)
//!       ──▶ per-clip rows ──▶ store (part files committed atomically; a rerun skips done clips)
//! ```
#![forbid(unsafe_code)]

mod sample;

pub mod search;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::classify::zeroshot::ClipManifest;
use crate::error::{Error, Result};
use crate::image::{ChannelOrder, FrameView};
use crate::infer::encoder::{ImageEncoder, MAX_ENCODER_BATCH};
use crate::roi::RoiBatch;
pub use sample::spread;
use sample::{decode_clip, Msg, Sampled};

/// Video file extensions a folder walk picks up (files named on the command line are taken as
/// they are).
pub const VIDEO_EXTENSIONS: &[&str] =
    &["mp4", "avi", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "ts", "mts", "flv", "wmv", "3gp", "ogv", "gif"];
/// Most frames sampled per clip (`--frames`).
pub const MAX_FRAMES_PER_CLIP: u32 = 10_000;
/// Most frames sampled from one clip by `--every` (a longer clip's rest is left out, and said).
pub const MAX_SAMPLED_PER_CLIP: usize = 100_000;
/// Most samples of a clip held until the clip is known to hold the frames its header declares
/// (`--frames` above it: sent as decoded, a short clip warned about).
pub const MAX_HELD_PER_CLIP: u32 = 64;
/// Most clips in one run.
pub const MAX_CLIPS: usize = 10_000_000;

/// One clip to embed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClipInput {
    /// The path as found, any bytes (stored as it is: resuming matches on it). In JSON a name
    /// that is not UTF-8 is shown with U+FFFD.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// The class folder's name for a `class/clip.ext` layout, or a list file's label.
    pub label: Option<String>,
}

fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// Which frames of a clip are embedded: the sampled-clip source's choice.
pub use crate::pipeline::clip::ClipSample as Sample;

/// What a row of the store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// One row per clip: the L2-normalised mean of its frames' embeddings.
    #[default]
    Clip,
    /// One row per sampled frame.
    Frame,
}

/// Options of an embedding run (every face: CLI flags, C ABI / Python JSON fields).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedOptions {
    /// The image encoder's manifest; absent: [`encoder_for`] the store (the encoder of the
    /// store's rows when it is a shipped one, else [`default_encoder`]).
    pub encoder: Option<PathBuf>,
    pub sample: Sample,
    pub per: Per,
    /// Most frames per encoder call.
    pub batch: usize,
    /// Clips decoded at once (0: one per core).
    pub decoders: usize,
    /// Encoder threads (0: automatic).
    pub threads: usize,
    /// A part file is committed after this many finished clips (or `commit_seconds`).
    pub commit_clips: usize,
    pub commit_seconds: f64,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            encoder: None,
            sample: Sample::Frames(8),
            per: Per::Clip,
            batch: 32,
            decoders: 0,
            threads: 0,
            commit_clips: 64,
            commit_seconds: 10.0,
        }
    }
}

/// The image encoder's manifest (fp32, ONNX Runtime).
pub const FP32_ENCODER: &str = "engines/mobilenetv2.toml";
/// The same encoder on OpenVINO at bf16.
pub const BF16_ENCODER: &str = "engines/mobilenetv2-ov-bf16.toml";
/// The same encoder quantised to INT8 for OpenVINO (scripts/encoder_models.py int8).
pub const INT8_ENCODER: &str = "engines/mobilenetv2-ov-int8.toml";

/// The default encoder manifest, by measurement (`make bench-embed`, `make bench-ucf`: on this
/// project's Zen 4 CPUs OpenVINO INT8 1.15x bf16 and bf16 2.4x ONNX Runtime fp32; INT8's
/// embeddings have a cosine >= 0.99 with fp32's, bf16's >= 0.998, with the same retrieval):
/// `$FOVEA_ENCODER`; else [`INT8_ENCODER`] where OpenVINO loads and the CPU has VNNI; else
/// [`BF16_ENCODER`] where it has BF16; else [`FP32_ENCODER`]; looked up in the current
/// directory, then the model homes.
pub fn default_encoder() -> PathBuf {
    use crate::infer::defaults::{cpu_has_bf16, cpu_has_vnni, resolve_model};
    if let Some(p) = std::env::var_os("FOVEA_ENCODER") {
        return PathBuf::from(p);
    }
    let openvino = || crate::infer::openvino::load().is_ok();
    let int8 = resolve_model(Path::new(INT8_ENCODER));
    if cpu_has_vnni() && int8.exists() && openvino() {
        return int8;
    }
    let bf16 = resolve_model(Path::new(BF16_ENCODER));
    if cpu_has_bf16() && bf16.exists() && openvino() {
        return bf16;
    }
    resolve_model(Path::new(FP32_ENCODER))
}

/// The encoder for the store at `store`: the shipped encoder (fp32, bf16 or INT8) whose model its
/// rows hold, so a store keeps its encoder when the default changes; else [`default_encoder`].
pub fn encoder_for(store: &Path) -> PathBuf {
    if std::env::var_os("FOVEA_ENCODER").is_none() {
        if let Ok(Some(model)) = store::model_of(store) {
            let shipped = [FP32_ENCODER, BF16_ENCODER, INT8_ENCODER].map(|p| crate::infer::defaults::resolve_model(Path::new(p)));
            if let Some(p) = shipped.into_iter().find(|p| ClipManifest::load(p).is_ok_and(|m| m.name == model)) {
                return p;
            }
        }
    }
    default_encoder()
}

impl EmbedOptions {
    pub fn validate(&self) -> Result<()> {
        match self.sample {
            Sample::Frames(k) if !(1..=MAX_FRAMES_PER_CLIP).contains(&k) => {
                return Err(Error::InvalidOption {
                    option: "--frames",
                    reason: format!("must be within 1..={MAX_FRAMES_PER_CLIP}, got {k}"),
                })
            }
            Sample::Every(s) if !(s.is_finite() && s > 0.0) => {
                return Err(Error::InvalidOption { option: "--every", reason: format!("must be > 0 seconds, got {s}") })
            }
            _ => {}
        }
        if !(1..=MAX_ENCODER_BATCH).contains(&self.batch) {
            return Err(Error::InvalidOption {
                option: "--batch",
                reason: format!("must be within 1..={}, got {}", MAX_ENCODER_BATCH, self.batch),
            });
        }
        if self.decoders > 256 {
            return Err(Error::InvalidOption { option: "--decoders", reason: format!("must be within 0..=256, got {}", self.decoders) });
        }
        if self.commit_clips == 0 || !(self.commit_seconds.is_finite() && self.commit_seconds > 0.0) {
            return Err(Error::InvalidOption { option: "commit", reason: "commit_clips and commit_seconds must be > 0".into() });
        }
        Ok(())
    }
}

/// Finds the clips of `inputs`: files as they are, folders walked recursively (video extensions;
/// a clip in a sub-folder of the named folder is labelled with its folder's name), list files
/// (`.txt`/`.lst`/`.list`: one `path [label]` per line, `#` comments, relative paths from the list's
/// folder; without a label a clip in a sub-folder is labelled with it). Sorted within each folder;
/// duplicates removed (first kept).
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<ClipInput>> {
    let mut out = Vec::new();
    let mut walked = HashSet::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, input, &mut walked, &mut out)?;
        } else if is_list(input) {
            read_list(input, &mut out)?;
        } else if input.exists() {
            out.push(ClipInput { path: input.clone(), label: None });
        } else {
            return Err(Error::FileNotFound { path: input.clone() });
        }
        if out.len() > MAX_CLIPS {
            return Err(Error::InvalidOption { option: "INPUT", reason: format!("more than {MAX_CLIPS} clips") });
        }
    }
    let mut seen = HashSet::new();
    out.retain(|c| seen.insert(c.path.clone()));
    Ok(out)
}

fn is_list(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(), Some("txt" | "lst" | "list"))
}

/// Walks `dir` (recursively, following links) for clips. Every folder is walked once, by its
/// device and inode: a link back up the tree (a loop) or a second link to a folder already
/// walked is skipped with a warning, never walked again.
fn walk(root: &Path, dir: &Path, walked: &mut HashSet<(u64, u64)>, out: &mut Vec<ClipInput>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let io = |e: std::io::Error| Error::Input { path: dir.to_path_buf(), reason: format!("cannot list the folder: {e}") };
    let meta = std::fs::metadata(dir).map_err(io)?;
    if !walked.insert((meta.dev(), meta.ino())) {
        log::warn!("{}: a folder already walked (a link loop, or a second link to it); skipped", dir.display());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>().map_err(io)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(root, &p, walked, out)?;
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())) {
            let label = (dir != root).then(|| dir.file_name().map(|n| n.to_string_lossy().into_owned())).flatten();
            out.push(ClipInput { path: p, label });
        }
    }
    Ok(())
}

fn read_list(list: &Path, out: &mut Vec<ClipInput>) -> Result<()> {
    let text = std::fs::read_to_string(list)
        .map_err(|e| Error::Input { path: list.to_path_buf(), reason: format!("cannot read the list: {e}") })?;
    let base = list.parent().unwrap_or(Path::new("."));
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(2, char::is_whitespace);
        let rel = Path::new(parts.next().unwrap_or_default());
        let given = parts.next().map(str::trim).filter(|l| !l.is_empty() && l.parse::<i64>().is_err());
        let folder = rel.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        let path = if rel.is_absolute() { rel.to_path_buf() } else { base.join(rel) };
        out.push(ClipInput { path, label: given.map(str::to_string).or(folder) });
    }
    Ok(())
}

/// One embedded clip: its rows, or its error.
#[derive(Debug, Clone)]
pub struct ClipRows {
    pub clip: ClipInput,
    /// Seconds, if the container says.
    pub duration: Option<f64>,
    /// (decode index, pts) of each embedded frame.
    pub frames: Vec<(u64, f64)>,
    /// Per frame (Per::Frame) or one (Per::Clip) L2-normalised embedding, `dim` floats each.
    pub embeddings: Vec<f32>,
    pub error: Option<String>,
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub done: usize,
    pub failed: usize,
    pub total: usize,
    pub frames: u64,
    pub elapsed_s: f64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EmbedReport {
    pub store: PathBuf,
    pub model: String,
    pub dim: usize,
    pub provider: String,
    /// Clips found in the inputs.
    pub clips: usize,
    /// Clips already in the store with embeddings (skipped).
    pub skipped: usize,
    /// Clips stored as failures by an earlier run, tried again now.
    pub retried: usize,
    /// Clips another writer stored while this run embedded them (not stored twice).
    pub already_stored: usize,
    /// Old failure rows removed because their clips were committed again.
    pub failures_replaced: usize,
    /// Clips embedded now, and those that failed (recorded with their errors).
    pub embedded: usize,
    pub failed: usize,
    pub frames: u64,
    pub rows: u64,
    pub parts_written: usize,
    pub encoder_calls: u64,
    pub seconds: f64,
    pub clips_per_s: f64,
    pub frames_per_s: f64,
    pub decoders: usize,
    /// The first few failures: (path, error).
    pub failures: Vec<(String, String)>,
}

impl EmbedReport {
    fn add(&mut self, c: store::Committed) {
        self.rows += c.rows;
        self.parts_written += usize::from(c.rows > 0);
        self.already_stored += c.already_stored;
        self.failures_replaced += c.failures_replaced;
    }
}

#[derive(Default)]
struct Pending {
    frames: Vec<(u64, f64)>,
    embeddings: Vec<f32>,
    done: Option<(usize, Option<f64>, Option<String>)>,
}

/// Embeds `clips` into the store at `store` (made if missing): clips already there are skipped,
/// finished clips are committed as they come (atomically, so a killed run loses only uncommitted
/// clips and a rerun finishes the job). A clip that cannot be decoded is recorded with its error;
/// the run goes on. `cancel` stops it after the clips in flight are committed.
pub fn run(
    clips: &[ClipInput],
    store_dir: &Path,
    opts: &EmbedOptions,
    cancel: Option<&AtomicBool>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<EmbedReport> {
    opts.validate()?;
    crate::video::init();
    let manifest = ClipManifest::load(&opts.encoder.clone().unwrap_or_else(|| encoder_for(store_dir)))?;
    let mut store = store::Store::open(store_dir, &manifest.name, manifest.dim, opts.per)?;
    let todo: Vec<ClipInput> = clips.iter().filter(|c| !store.contains(&c.path)).cloned().collect();
    let mut report = EmbedReport {
        store: store_dir.to_path_buf(),
        model: manifest.name.clone(),
        dim: manifest.dim,
        clips: clips.len(),
        skipped: clips.len() - todo.len(),
        retried: todo.iter().filter(|c| store.failed_before(&c.path)).count(),
        ..EmbedReport::default()
    };
    let t0 = Instant::now();
    let mut encoder = ImageEncoder::load(&manifest.encoder_model(), opts.threads, &crate::infer::provider::Selection::cpu(), None)?;
    report.provider = encoder.provider.clone();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let decoders = if opts.decoders == 0 { cores } else { opts.decoders }.min(todo.len().max(1));
    report.decoders = decoders;
    let size = manifest.roi.size;
    let fit = manifest.roi.fit;
    let order = if manifest.roi.swap_rb { ChannelOrder::Bgr } else { ChannelOrder::Rgb };
    let capacity = opts.batch * 2;
    let held = match opts.sample {
        Sample::Frames(k) if k <= MAX_HELD_PER_CLIP => k as usize,
        _ => 0,
    };
    let pool = crate::video::FramePool::new(capacity + opts.batch + 2 * decoders + 4 + decoders * held);
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(capacity);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let todo_ref = &todo;
    let mut pending: HashMap<usize, Pending> = HashMap::new();
    let mut finished: Vec<ClipRows> = Vec::new();
    let mut last_commit = Instant::now();
    let mut prog = Progress { total: todo.len(), ..Progress::default() };
    let result: Result<()> = std::thread::scope(|s| {
        for _ in 0..decoders {
            let (tx, pool, next, stop) = (tx.clone(), &pool, &next, &stop);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= todo_ref.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let (sent, duration, error) = decode_clip(i, &todo_ref[i], opts.sample, size, order, fit, pool, &tx, stop);
                if tx.send(Msg::Done { clip: i, sent, duration, error }).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // The collection on the one source contract: the decoders' samples gather into a batch
        // for the encoder, which runs when the batch is full or nothing more has arrived (and at
        // the end); a clip's decoding error arrives as its end and is recorded with the clip.
        let mut rois = RoiBatch::default();
        let mut gather: (Vec<Sampled>, &mut HashMap<usize, Pending>) = (Vec::with_capacity(opts.batch), &mut pending);
        let outcome = crate::pipeline::source::batched(
            rx.iter().map(Ok),
            &mut gather,
            |(batch, pending), m| {
                take(m, batch, pending);
                Ok(batch.len() >= opts.batch || rx.is_empty())
            },
            |(batch, pending)| {
                if !batch.is_empty() {
                    let emb = embed_frames(batch, order, &mut rois, &mut encoder)?;
                    for (f, e) in batch.drain(..).zip(emb.chunks_exact(manifest.dim)) {
                        let p = pending.entry(f.clip).or_default();
                        p.frames.push((f.index, f.pts));
                        p.embeddings.extend_from_slice(e);
                        prog.frames += 1;
                    }
                }
                // Clips whose frames are all embedded are finished.
                let ready: Vec<usize> = pending
                    .iter()
                    .filter(|(_, p)| p.done.as_ref().is_some_and(|(sent, ..)| *sent == p.frames.len()))
                    .map(|(&k, _)| k)
                    .collect();
                for k in ready {
                    let p = pending.remove(&k).expect("listed above");
                    let rows = finish(&todo[k], p, opts.per, manifest.dim);
                    prog.done += 1;
                    if let Some(e) = &rows.error {
                        prog.failed += 1;
                        if report.failures.len() < 20 {
                            report.failures.push((rows.clip.path.to_string_lossy().into_owned(), e.clone()));
                        }
                    }
                    finished.push(rows);
                }
                if !finished.is_empty()
                    && (finished.len() >= opts.commit_clips || last_commit.elapsed().as_secs_f64() >= opts.commit_seconds)
                {
                    report.add(store.commit(&finished, &manifest.name)?);
                    finished.clear();
                    last_commit = Instant::now();
                }
                prog.elapsed_s = t0.elapsed().as_secs_f64();
                progress(&prog);
                if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    stop.store(true, Ordering::Relaxed);
                }
                Ok(())
            },
        );
        drop(gather);
        if outcome.is_err() {
            stop.store(true, Ordering::Relaxed);
            // Let the decoders see the closed channel.
            drop(rx);
        }
        outcome
    });
    // Commit what finished, also when the run failed part way.
    if !finished.is_empty() {
        report.add(store.commit(&finished, &manifest.name)?);
    }
    result?;
    report.embedded = prog.done - prog.failed;
    report.failed = prog.failed;
    report.frames = prog.frames;
    report.encoder_calls = encoder.calls;
    report.seconds = t0.elapsed().as_secs_f64();
    report.clips_per_s = prog.done as f64 / report.seconds.max(1e-9);
    report.frames_per_s = prog.frames as f64 / report.seconds.max(1e-9);
    Ok(report)
}

/// The ROI stage on whole frames, then the encoder: the L2-normalised embeddings of `frames`
/// (decoded in `order`).
fn embed_frames(frames: &[Sampled], order: ChannelOrder, rois: &mut RoiBatch, encoder: &mut ImageEncoder) -> Result<Vec<f32>> {
    let views: Vec<FrameView> = frames.iter().map(|f| f.frame.view()).collect();
    encoder.embed_frames(&views, order, rois)
}

fn take(m: Msg, batch: &mut Vec<Sampled>, pending: &mut HashMap<usize, Pending>) {
    match m {
        Msg::Frame(f) => batch.push(f),
        Msg::Done { clip, sent, duration, error } => pending.entry(clip).or_default().done = Some((sent, duration, error)),
    }
}

/// A clip's rows from its embedded frames (sorted by decode index).
fn finish(clip: &ClipInput, p: Pending, per: Per, dim: usize) -> ClipRows {
    let (_, duration, mut error) = p.done.expect("finished clips are done");
    let mut order: Vec<usize> = (0..p.frames.len()).collect();
    order.sort_by_key(|&i| p.frames[i].0);
    let frames: Vec<(u64, f64)> = order.iter().map(|&i| p.frames[i]).collect();
    let sorted: Vec<f32> = order.iter().flat_map(|&i| p.embeddings[i * dim..(i + 1) * dim].iter().copied()).collect();
    if frames.is_empty() && error.is_none() {
        error = Some("no frame decoded".into());
    }
    let embeddings = match (per, &error) {
        (_, Some(_)) if frames.is_empty() => Vec::new(),
        (Per::Frame, _) => sorted,
        (Per::Clip, _) => mean_normalised(&sorted, dim),
    };
    ClipRows { clip: clip.clone(), duration, frames, embeddings, error }
}

/// The L2-normalised mean of `rows` (each `dim` floats).
pub fn mean_normalised(rows: &[f32], dim: usize) -> Vec<f32> {
    let mut m = vec![0.0f64; dim];
    for r in rows.chunks_exact(dim) {
        m.iter_mut().zip(r).for_each(|(a, &b)| *a += f64::from(b));
    }
    let n = m.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    m.iter().map(|x| (x / n) as f32).collect()
}

/// The embedding of one image or clip (the L2-normalised mean of its sampled frames), as a
/// query: what `fovea embed` stores for it with the same encoder and sampling.
pub fn embed_query(path: &Path, encoder: &mut ImageEncoder, sample: Sample) -> Result<Vec<f32>> {
    crate::video::init();
    let m = encoder.model().clone();
    let order = if m.roi.swap_rb { ChannelOrder::Bgr } else { ChannelOrder::Rgb };
    let pool = crate::video::FramePool::new(MAX_FRAMES_PER_CLIP as usize);
    let (tx, rx) = crossbeam_channel::unbounded();
    let clip = ClipInput { path: path.to_path_buf(), label: None };
    let (sent, _, error) = decode_clip(0, &clip, sample, m.roi.size, order, m.roi.fit, &pool, &tx, &AtomicBool::new(false));
    drop(tx);
    if sent == 0 {
        // The decoder's message names the file already; the error names it once.
        let reason = error.unwrap_or_else(|| "no frame decoded".into());
        let reason = reason.strip_prefix(&format!("{}: ", path.display())).map_or(reason.clone(), str::to_string);
        return Err(Error::Input { path: path.to_path_buf(), reason });
    }
    let frames: Vec<Sampled> = rx.into_iter().filter_map(|m| if let Msg::Frame(f) = m { Some(f) } else { None }).collect();
    let mut all = Vec::with_capacity(frames.len() * m.dim);
    let mut rois = RoiBatch::default();
    for part in frames.chunks(MAX_ENCODER_BATCH) {
        all.extend(embed_frames(part, order, &mut rois, encoder)?);
    }
    Ok(mean_normalised(&all, m.dim))
}

/// The query of a text: the L2-normalised mean of the rows of `table` (a text table, `.npy` with
/// its `.json`) whose label or prompt text equals `text` (case aside).
pub fn text_query(table: &Path, text: &str) -> Result<Vec<f32>> {
    let t = crate::classify::zeroshot::TextTable::load(table)?;
    let want = text.trim().to_lowercase();
    let rows: Vec<f32> = t
        .labels
        .iter()
        .zip(&t.prompts)
        .zip(t.rows.chunks_exact(t.dim))
        .filter(|((l, p), _)| l.to_lowercase() == want || p.to_lowercase() == want)
        .flat_map(|(_, r)| r.iter().copied())
        .collect();
    if rows.is_empty() {
        let mut near: Vec<&String> =
            t.labels.iter().filter(|l| l.to_lowercase().contains(&want) || want.contains(&l.to_lowercase())).collect();
        near.dedup();
        near.truncate(8);
        return Err(Error::InvalidOption {
            option: "--text",
            reason: format!("\"{text}\" is not a label or prompt of {} (labels containing it: {near:?})", table.display()),
        });
    }
    Ok(mean_normalised(&rows, t.dim))
}
