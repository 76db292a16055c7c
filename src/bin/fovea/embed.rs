//! `fovea embed` and `fovea search`.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use fovea::embed::{self, search, EmbedOptions, Per, Sample};

#[derive(clap::Args)]
pub(crate) struct EmbedArgs {
    /// Clips: files, folders (walked; `class/clip.ext` fills the label column) or list files
    /// (.txt/.lst: `path [label]` per line).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The store: a folder of Parquet part files (made if missing; a rerun skips finished clips).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The image encoder's manifest (default: the encoder of the store's rows when it is a shipped
    /// one; else FOVEA_ENCODER; else mobilenetv2 on OpenVINO INT8 with VNNI, bf16 with BF16, else fp32).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Frames per clip, spread evenly over it (default 8).
    #[arg(long, conflicts_with = "every")]
    pub frames: Option<u32>,
    /// One frame every S seconds instead.
    #[arg(long)]
    pub every: Option<f64>,
    /// One row per clip (the mean) or per sampled frame.
    #[arg(long, default_value = "clip", value_parser = ["clip", "frame"])]
    pub per: String,
    /// Most frames per encoder call.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Clips decoded at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub decoders: usize,
    /// Encoder threads (0: automatic).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Commit a part file after this many finished clips (also every 10 s).
    #[arg(long, default_value_t = 64)]
    pub commit_clips: usize,
    /// Write the run's report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(short, long)]
    pub quiet: bool,
}

pub(crate) fn options(encoder: Option<PathBuf>, frames: Option<u32>, every: Option<f64>) -> EmbedOptions {
    let mut o = EmbedOptions::default();
    o.encoder = encoder;
    o.sample = match (frames, every) {
        (_, Some(s)) => Sample::Every(s),
        (Some(k), None) => Sample::Frames(k),
        (None, None) => o.sample,
    };
    o
}

pub(crate) fn embed(a: EmbedArgs) -> anyhow::Result<ExitCode> {
    let mut o = options(a.encoder, a.frames, a.every);
    o.per = if a.per == "frame" { Per::Frame } else { Per::Clip };
    (o.batch, o.decoders, o.threads, o.commit_clips) = (a.batch, a.decoders, a.threads, a.commit_clips);
    o.validate()?;
    let clips = embed::collect_inputs(&a.inputs)?;
    let tty = std::io::stderr().is_terminal() && !a.quiet;
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(clips.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} clips  {msg}  ETA {eta}")
                .expect("static template"),
        );
        b
    });
    let mut last = std::time::Instant::now();
    let mut first = true;
    let mut tick = |p: &embed::Progress| {
        let rate = p.done as f64 / p.elapsed_s.max(1e-9);
        if let Some(b) = &bar {
            if first {
                b.set_length(p.total as u64);
                first = false;
            }
            b.set_position(p.done as u64);
            b.set_message(format!("{rate:.1} clips/s, {:.0} frames/s, {} failed", p.frames as f64 / p.elapsed_s.max(1e-9), p.failed));
        } else if !a.quiet && last.elapsed().as_secs_f64() >= 5.0 {
            last = std::time::Instant::now();
            let eta = (p.total - p.done) as f64 / rate.max(1e-9);
            eprintln!("fovea embed: {}/{} clips, {rate:.1} clips/s, {} failed, ETA {eta:.0} s", p.done, p.total, p.failed);
        }
    };
    let r = embed::run(&clips, &a.output, &o, None, &mut tick);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let r = r?;
    eprintln!("fovea embed: {} clips -> {} ({} {}-float embeddings, {})", r.clips, r.store.display(), r.model, r.dim, r.provider);
    eprintln!(
        "  embedded {}, failed {}, already in the store {}, failed before and tried again {}; {} frames, {} rows in {} new part files, {} encoder calls",
        r.embedded, r.failed, r.skipped, r.retried, r.frames, r.rows, r.parts_written, r.encoder_calls
    );
    if r.already_stored > 0 {
        eprintln!("  {} clips were stored by another writer meanwhile (kept once)", r.already_stored);
    }
    eprintln!("  {:.2} s: {:.1} clips/s, {:.1} frames/s with {} decoders", r.seconds, r.clips_per_s, r.frames_per_s, r.decoders);
    for (p, e) in &r.failures {
        eprintln!("  failed: {}", if e.contains(p.as_str()) { e.clone() } else { format!("{p}: {e}") });
    }
    if let Some(j) = &a.json {
        std::fs::write(j, serde_json::to_string_pretty(&r)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("query").required(true).args(["image", "clip", "text"])))]
pub(crate) struct SearchArgs {
    /// The store `fovea embed` wrote.
    pub store: PathBuf,
    /// Query by an image.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Query by a clip (embedded as `fovea embed` does, same --frames/--every).
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Query by a text: a label or prompt of --text-table.
    #[arg(long, requires = "text_table")]
    pub text: Option<String>,
    /// A text table (.npy + .json) in the encoder's embedding space.
    #[arg(long)]
    pub text_table: Option<PathBuf>,
    /// The encoder (must be the store's model; default as for `fovea embed`).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    #[arg(long, conflicts_with = "every")]
    pub frames: Option<u32>,
    #[arg(long)]
    pub every: Option<f64>,
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    /// exact, approximate (usearch HNSW, kept in the store) or auto (approximate above 200,000 rows).
    #[arg(long, default_value = "auto", value_parser = ["auto", "exact", "approximate"])]
    pub method: String,
    /// Also measure the approximate index's recall@k against exact search with this many of the
    /// store's rows as queries.
    #[arg(long)]
    pub recall: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn search(a: SearchArgs) -> anyhow::Result<ExitCode> {
    let rows = embed::store::read(&a.store)?;
    let query = if let Some(t) = &a.text {
        embed::text_query(a.text_table.as_deref().expect("clap: requires"), t)?
    } else {
        let o = options(a.encoder, a.frames, a.every);
        o.validate()?;
        let encoder = o.encoder.clone().unwrap_or_else(|| embed::encoder_for(&a.store));
        let m = fovea::classify::ClipManifest::load(&encoder)?;
        if m.name != rows.model {
            anyhow::bail!(
                "the store holds {} embeddings; the encoder {} is {} (pass --encoder with the store's model)",
                rows.model,
                encoder.display(),
                m.name
            );
        }
        let mut enc = fovea::infer::encoder::ImageEncoder::load(&m.encoder_model(), 0, &fovea::infer::provider::Selection::cpu(), None)?;
        let path = a.image.as_ref().or(a.clip.as_ref()).expect("clap: one query");
        let sample = if a.image.is_some() { Sample::Frames(1) } else { o.sample };
        embed::embed_query(path, &mut enc, sample)?
    };
    let method = match a.method.as_str() {
        "exact" => search::Method::Exact,
        "approximate" => search::Method::Approximate,
        _ => search::Method::Auto,
    };
    let t0 = std::time::Instant::now();
    let res = search::search(&a.store, &rows, &query, a.k, method)?;
    if rows.bad_rows > 0 {
        eprintln!("fovea search: {} damaged rows left out (not finite, or not of unit length), e.g.:", rows.bad_rows);
        for (part, row, why) in &rows.bad_examples {
            eprintln!("  {} row {row}: {why}", part.display());
        }
    }
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let recall = match a.recall {
        Some(q) => Some(search::recall(&a.store, &rows, q, a.k)?),
        None => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&res)?;
        v["search_ms"] = serde_json::json!(ms);
        if let Some(r) = recall {
            v["recall_at_k"] = serde_json::json!(r);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{:>4}  {:>7}  {:<48} {:<20} {:>6} {:>8}", "rank", "score", "path", "label", "frame", "pts");
        for h in &res.hits {
            let f = h.frame.map_or("-".into(), |f| f.to_string());
            let p = h.pts.map_or("-".into(), |p| format!("{p:.2}"));
            println!("{:>4}  {:>7.4}  {:<48} {:<20} {:>6} {:>8}", h.rank, h.score, h.path, h.label.as_deref().unwrap_or("-"), f, p);
        }
        eprintln!("fovea search: {} rows of {} ({}), {:.1} ms", res.rows, res.model, res.method, ms);
        if let Some(r) = recall {
            eprintln!("  recall@{} of the approximate index against exact search: {r:.4}", a.k);
        }
    }
    Ok(ExitCode::SUCCESS)
}
