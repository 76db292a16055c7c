//! The embedding store: a folder of Parquet part files (arrow-rs), readable as it is by pandas,
//! pyarrow, DuckDB (`read_parquet('STORE/*.parquet')`) and Ray Data.
//!
//! Columns: `path` (string; a name that is not UTF-8 is shown with U+FFFD here and kept exactly
//! in `path_bytes`, binary, null otherwise), `label` (string, null without one), `frame` (int64 decode index;
//! null on a clip row), `pts` (float64 seconds; null on a clip row), `frames` (int32, frames the
//! row stands for), `duration` (float64 seconds, null if unknown), `embedding` (fixed-size list of
//! float32, L2-normalised; null for a failed clip), `model` (string), `error` (string, null unless
//! the clip failed). Key-value metadata: `fovea.model`, `fovea.dim`, `fovea.per`.
//!
//! Each commit writes the rows of whole clips to `.tmp-*`, syncs it and renames it to
//! `part-*.parquet`: a clip is in the store exactly once or not at all, whenever the process dies.
//! Commits hold an exclusive lock on `.lock` (flock) and first read the parts other writers
//! committed since: a clip another run (or thread) already stored is not stored again, whatever
//! runs at once. A clip that failed is tried again by the next run; when it is committed again,
//! its old failure row is removed (its part rewritten without it, under the lock).
#![forbid(unsafe_code)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, FixedSizeListBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::properties::WriterProperties;

use super::{ClipRows, Per};
use crate::error::{Error, Result};

/// Uncommitted files older than this (seconds) are a killed run's, and removed.
pub const STALE_TMP_S: u64 = 600;
/// Most part files a store may hold.
pub const MAX_PARTS: usize = 1_000_000;

/// The store's Arrow schema for `dim`-float embeddings.
pub fn schema(dim: usize, model: &str, per: Per) -> Schema {
    let item = Field::new("item", DataType::Float32, false);
    let fields = vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("frame", DataType::Int64, true),
        Field::new("pts", DataType::Float64, true),
        Field::new("frames", DataType::Int32, false),
        Field::new("duration", DataType::Float64, true),
        Field::new("embedding", DataType::FixedSizeList(Arc::new(item), dim as i32), true),
        Field::new("model", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("path_bytes", DataType::Binary, true),
    ];
    let meta = [
        ("fovea.model".to_string(), model.to_string()),
        ("fovea.dim".to_string(), dim.to_string()),
        ("fovea.per".to_string(), per_name(per).to_string()),
    ];
    Schema::new(fields).with_metadata(meta.into_iter().collect())
}

fn per_name(p: Per) -> &'static str {
    match p {
        Per::Clip => "clip",
        Per::Frame => "frame",
    }
}

/// A clip's key in the store: its path's bytes (any Linux file name).
fn key_of(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// A store being written.
pub struct Store {
    dir: PathBuf,
    dim: usize,
    per: Per,
    model: String,
    /// Clips with embeddings in the store.
    done: HashSet<Vec<u8>>,
    /// Clips stored only as failures: the parts holding their failure rows, and the last error.
    failed: HashMap<Vec<u8>, (BTreeSet<PathBuf>, String)>,
    /// Parts read so far (others' commits are read at the next commit).
    known: HashSet<PathBuf>,
    run: String,
    seq: usize,
}

/// What a commit stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    pub rows: u64,
    /// Clips left out because another writer stored them since this run started.
    pub already_stored: usize,
    /// Old failure rows removed (their clips were committed again).
    pub failures_replaced: usize,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Input { path: path.to_path_buf(), reason: e.to_string() }
}

/// The committed part files of `dir`, sorted.
pub fn parts(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| io_err(dir, format!("cannot list the store: {e}")))?;
    let mut out = Vec::new();
    for e in rd {
        let p = e.map_err(|e| io_err(dir, e))?.path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with("part-") && name.ends_with(".parquet") {
            out.push(p);
        }
        if out.len() > MAX_PARTS {
            return Err(io_err(dir, format!("more than {MAX_PARTS} part files")));
        }
    }
    out.sort();
    Ok(out)
}

type PartReader = ParquetRecordBatchReaderBuilder<File>;

/// A part opened once: its reader and its (model, dim, per) from the metadata.
fn open_part(path: &Path) -> Result<(PartReader, (String, usize, String))> {
    let f = File::open(path).map_err(|e| io_err(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| damaged(path, e))?;
    let md = b.schema().metadata();
    let get = |k: &str| md.get(k).cloned().ok_or_else(|| io_err(path, format!("no '{k}' metadata: not a fovea store part")));
    let dim = get("fovea.dim")?.parse().map_err(|_| io_err(path, "fovea.dim is not a number"))?;
    let meta = (get("fovea.model")?, dim, get("fovea.per")?);
    Ok((b, meta))
}

/// A damaged part: what happened, and what to do.
fn damaged(path: &Path, e: impl std::fmt::Display) -> Error {
    io_err(
        path,
        format!("damaged store part (truncated or overwritten?): {e}; move it out of the store and run `fovea embed` again to re-embed its clips"),
    )
}

/// Row `i`'s clip key: its `path_bytes` when set (a name that is not UTF-8), else its `path`.
fn row_key<'a>(paths: &'a StringArray, raw: Option<&'a BinaryArray>, i: usize) -> &'a [u8] {
    match raw.filter(|r| !r.is_null(i)) {
        Some(r) => r.value(i),
        None => paths.value(i).as_bytes(),
    }
}

/// Each row's clip key and its error (None: embedded), of the part at `path` read by `b`.
fn part_keys(path: &Path, b: PartReader) -> Result<Vec<(Vec<u8>, Option<String>)>> {
    let mask = ProjectionMask::columns(b.parquet_schema(), ["path", "path_bytes", "error"]);
    let mut out = Vec::new();
    for batch in b.with_projection(mask).build().map_err(|e| damaged(path, e))? {
        let batch = batch.map_err(|e| damaged(path, e))?;
        let paths = column::<StringArray>(&batch, "path", path)?;
        let raw = batch.column_by_name("path_bytes").and_then(|c| c.as_any().downcast_ref::<BinaryArray>());
        let error = column::<StringArray>(&batch, "error", path)?;
        for i in 0..batch.num_rows() {
            out.push((row_key(paths, raw, i).to_vec(), (!error.is_null(i)).then(|| error.value(i).to_string())));
        }
    }
    Ok(out)
}

impl Store {
    /// Opens (or makes) the store at `dir` for `model`'s `dim`-float embeddings of kind `per`;
    /// removes uncommitted files a killed run left; lists the clips already in it.
    pub fn open(dir: &Path, model: &str, dim: usize, per: Per) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Output { path: dir.to_path_buf(), source: e })?;
        // A killed run's uncommitted file (readers skip dot files); one younger than
        // STALE_TMP_S may be another process's commit in progress (several writers, Ray).
        for e in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?.flatten() {
            let age = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).map_or(0, |d| d.as_secs());
            if e.file_name().to_string_lossy().starts_with(".tmp-") && age >= STALE_TMP_S {
                let _ = std::fs::remove_file(e.path());
            }
        }
        // Unique among writers: time, then a random number (several processes may write at once).
        let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let random = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish()
        };
        let run = format!("{millis:012x}-{random:016x}");
        let mut store = Self {
            dir: dir.to_path_buf(),
            dim,
            per,
            model: model.to_string(),
            done: HashSet::new(),
            failed: HashMap::new(),
            known: HashSet::new(),
            run,
            seq: 0,
        };
        store.refresh()?;
        Ok(store)
    }

    /// Reads the parts not read yet (other writers' commits), checking they hold this store's
    /// kind of embeddings.
    fn refresh(&mut self) -> Result<()> {
        for p in parts(&self.dir)? {
            if self.known.contains(&p) {
                continue;
            }
            let (reader, (m, d, k)) = open_part(&p)?;
            if m != self.model || d != self.dim || k != per_name(self.per) {
                return Err(Error::InvalidOption {
                    option: "-o",
                    reason: format!(
                        "the store {} holds {k} embeddings of {m} ({d} floats), not {} embeddings of {} ({}): use another store",
                        self.dir.display(),
                        per_name(self.per),
                        self.model,
                        self.dim
                    ),
                });
            }
            for (key, error) in part_keys(&p, reader)? {
                match error {
                    Some(e) => {
                        let f = self.failed.entry(key).or_default();
                        f.0.insert(p.clone());
                        f.1 = e;
                    }
                    None => {
                        self.done.insert(key);
                    }
                }
            }
            self.known.insert(p);
        }
        Ok(())
    }

    /// An exclusive lock on the store, held until the file is dropped.
    fn lock(&self) -> Result<File> {
        let path = self.dir.join(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::Output { path: path.clone(), source: e })?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map_err(|e| Error::Output { path, source: e.into() })?;
        Ok(f)
    }

    /// Whether the clip at `path` is in the store with its embeddings (a clip stored as a
    /// failure is not: it is tried again).
    pub fn contains(&self, path: &Path) -> bool {
        self.done.contains(key_of(path))
    }

    /// Whether the clip at `path` is in the store as a failure only.
    pub fn failed_before(&self, path: &Path) -> bool {
        self.failed.contains_key(key_of(path))
    }

    /// Clips in the store with embeddings.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Writes `clips` as one part file, atomically, under the store's lock: clips another
    /// writer stored meanwhile are left out; a clip that failed again with the same error keeps
    /// its row (nothing is rewritten); failure rows of the clips committed now are removed.
    pub fn commit(&mut self, clips: &[ClipRows], model: &str) -> Result<Committed> {
        let _lock = self.lock()?;
        self.refresh()?;
        let stored = clips.iter().filter(|c| self.contains(&c.clip.path)).count();
        let same_failure =
            |c: &ClipRows| c.error.as_ref().is_some_and(|e| self.failed.get(key_of(&c.clip.path)).is_some_and(|f| f.1 == *e));
        let fresh: Vec<&ClipRows> = clips.iter().filter(|c| !self.contains(&c.clip.path) && !same_failure(c)).collect();
        let mut out = Committed { already_stored: stored, ..Committed::default() };
        if fresh.is_empty() {
            return Ok(out);
        }
        let schema = Arc::new(schema(self.dim, model, self.per));
        let batch = self.batch(&fresh, model, &schema)?;
        let name = format!("part-{}-{:05}.parquet", self.run, self.seq);
        self.seq += 1;
        let fin = self.dir.join(&name);
        write_part(&self.dir, &fin, &batch, schema)?;
        self.known.insert(fin.clone());
        out.rows = batch.num_rows() as u64;
        // The failure rows these clips replace, part by part.
        let mut stale: HashMap<PathBuf, HashSet<Vec<u8>>> = HashMap::new();
        for c in &fresh {
            let key = key_of(&c.clip.path);
            for part in self.failed.remove(key).map(|f| f.0).unwrap_or_default() {
                stale.entry(part).or_default().insert(key.to_vec());
            }
        }
        for c in &fresh {
            let key = key_of(&c.clip.path).to_vec();
            if let Some(e) = &c.error {
                self.failed.insert(key, ([fin.clone()].into(), e.clone()));
            } else {
                self.done.insert(key);
            }
        }
        for (part, keys) in stale {
            out.failures_replaced += drop_failures(&self.dir, &part, &keys)?;
        }
        Ok(out)
    }

    fn batch(&self, clips: &[&ClipRows], model: &str, schema: &Arc<Schema>) -> Result<RecordBatch> {
        let d = self.dim;
        let (mut path, mut label, mut frame, mut pts) =
            (StringBuilder::new(), StringBuilder::new(), Int64Builder::new(), Float64Builder::new());
        let (mut frames, mut duration, mut models, mut error) =
            (Int32Builder::new(), Float64Builder::new(), StringBuilder::new(), StringBuilder::new());
        let mut raw = BinaryBuilder::new();
        let mut emb =
            FixedSizeListBuilder::new(Float32Builder::new(), d as i32).with_field(Arc::new(Field::new("item", DataType::Float32, false)));
        let mut row = |c: &ClipRows, f: Option<(u64, f64)>, n: usize, e: Option<&[f32]>| {
            let p = c.clip.path.as_os_str();
            path.append_value(p.to_string_lossy());
            raw.append_option(p.to_str().is_none().then(|| p.as_bytes()));
            label.append_option(c.clip.label.as_deref());
            frame.append_option(f.map(|f| f.0 as i64));
            pts.append_option(f.map(|f| f.1));
            frames.append_value(n as i32);
            duration.append_option(c.duration);
            match e {
                Some(v) => {
                    emb.values().append_slice(v);
                    emb.append(true);
                }
                None => {
                    emb.values().append_slice(&vec![0.0; d]);
                    emb.append(false);
                }
            }
            models.append_value(model);
            error.append_option(c.error.as_deref());
        };
        for &c in clips {
            let rows = c.embeddings.len() / d;
            match (self.per, rows) {
                (_, 0) => row(c, None, c.frames.len(), None),
                (Per::Clip, _) => row(c, None, c.frames.len(), Some(&c.embeddings[..d])),
                (Per::Frame, _) => {
                    for (f, e) in c.frames.iter().zip(c.embeddings.chunks_exact(d)) {
                        row(c, Some(*f), 1, Some(e));
                    }
                }
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(path.finish()),
            Arc::new(label.finish()),
            Arc::new(frame.finish()),
            Arc::new(pts.finish()),
            Arc::new(frames.finish()),
            Arc::new(duration.finish()),
            Arc::new(emb.finish()),
            Arc::new(models.finish()),
            Arc::new(error.finish()),
            Arc::new(raw.finish()),
        ];
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Pipeline(format!("building the store's rows: {e}")))
    }
}

/// Writes `batch` to `.tmp-NAME` in `dir`, syncs it and renames it to `fin`.
fn write_part(dir: &Path, fin: &Path, batch: &RecordBatch, schema: Arc<Schema>) -> Result<()> {
    let name = fin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".tmp-{name}"));
    let out_err = |e: std::io::Error| Error::Output { path: fin.to_path_buf(), source: e };
    let file = File::create(&tmp).map_err(out_err)?;
    let props = WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| io_err(&tmp, e))?;
    w.write(batch).map_err(|e| io_err(&tmp, e))?;
    let file = w.into_inner().map_err(|e| io_err(&tmp, e))?;
    file.sync_all().map_err(out_err)?;
    drop(file);
    std::fs::rename(&tmp, fin).map_err(out_err)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Rewrites `part` without the failure rows of the clips `keys` (atomically: the part is
/// replaced by rename, or removed when nothing is left); the rows removed.
fn drop_failures(dir: &Path, part: &Path, keys: &HashSet<Vec<u8>>) -> Result<usize> {
    let f = File::open(part).map_err(|e| io_err(part, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| damaged(part, e))?;
    let schema = b.schema().clone();
    let mut kept = Vec::new();
    let mut removed = 0;
    for batch in b.build().map_err(|e| damaged(part, e))? {
        let batch = batch.map_err(|e| damaged(part, e))?;
        let paths = column::<StringArray>(&batch, "path", part)?;
        let raw = batch.column_by_name("path_bytes").and_then(|c| c.as_any().downcast_ref::<BinaryArray>());
        let error = column::<StringArray>(&batch, "error", part)?;
        let keep: BooleanArray = (0..batch.num_rows()).map(|i| Some(error.is_null(i) || !keys.contains(row_key(paths, raw, i)))).collect();
        removed += keep.false_count();
        kept.push(arrow_select::filter::filter_record_batch(&batch, &keep).map_err(|e| io_err(part, e))?);
    }
    if removed == 0 {
        return Ok(0);
    }
    let batch = arrow_select::concat::concat_batches(&schema, &kept).map_err(|e| io_err(part, e))?;
    if batch.num_rows() == 0 {
        std::fs::remove_file(part).map_err(|e| Error::Output { path: part.to_path_buf(), source: e })?;
    } else {
        write_part(dir, part, &batch, schema)?;
    }
    Ok(removed)
}

/// The embedded rows of a store, for search (failed clips left out).
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub model: String,
    pub dim: usize,
    pub path: Vec<String>,
    pub label: Vec<Option<String>>,
    pub frame: Vec<Option<i64>>,
    pub pts: Vec<Option<f64>>,
    /// `len x dim`, L2-normalised rows.
    pub data: Vec<f32>,
    /// Rows left out because their embedding is damaged (not finite, or not of unit length):
    /// how many, and the first few as (part, row in the part, why).
    pub bad_rows: usize,
    pub bad_examples: Vec<(PathBuf, usize, String)>,
}

/// How far from 1 a stored embedding's length may be (they are written L2-normalised in f32).
pub const UNIT_NORM_TOLERANCE: f32 = 1e-3;

/// Why a stored embedding cannot be trusted, if it cannot.
fn bad_row(v: &[f32]) -> Option<String> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Some(format!("value {i} is {}", v[i]));
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    ((norm - 1.0).abs() > UNIT_NORM_TOLERANCE).then(|| format!("length {norm}, not 1"))
}

impl Rows {
    pub fn len(&self) -> usize {
        self.path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.path.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| io_err(path, format!("column '{name}' missing or of another type: not a fovea store part")))
}

/// The model of the store at `dir` (its first part's), or None when it has no part yet (or no
/// such folder). Cheap: one part's metadata.
pub fn model_of(dir: &Path) -> Result<Option<String>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    match parts(dir)?.first() {
        Some(p) => Ok(Some(open_part(p)?.1 .0)),
        None => Ok(None),
    }
}

/// Reads every embedded row of the store at `dir`.
pub fn read(dir: &Path) -> Result<Rows> {
    let parts = parts(dir)?;
    if parts.is_empty() {
        return Err(Error::Input { path: dir.to_path_buf(), reason: "no part-*.parquet files: not a store, or an empty one".into() });
    }
    let mut rows = Rows::default();
    for p in parts {
        let (reader, (model, dim, _)) = open_part(&p)?;
        if rows.dim == 0 {
            (rows.model, rows.dim) = (model.clone(), dim);
        } else if rows.model != model || rows.dim != dim {
            return Err(io_err(&p, format!("holds {model} ({dim} floats), the store's first part {} ({})", rows.model, rows.dim)));
        }
        let mut at = 0usize;
        for b in reader.build().map_err(|e| damaged(&p, e))? {
            let b = b.map_err(|e| damaged(&p, e))?;
            let path = column::<StringArray>(&b, "path", &p)?;
            let label = column::<StringArray>(&b, "label", &p)?;
            let frame = column::<Int64Array>(&b, "frame", &p)?;
            let pts = column::<Float64Array>(&b, "pts", &p)?;
            let emb = column::<FixedSizeListArray>(&b, "embedding", &p)?;
            if emb.value_length() as usize != dim {
                return Err(io_err(&p, format!("embeddings of {} floats, the metadata says {dim}", emb.value_length())));
            }
            let values =
                emb.values().as_any().downcast_ref::<Float32Array>().ok_or_else(|| io_err(&p, "embedding values are not float32"))?;
            for i in 0..b.num_rows() {
                if emb.is_null(i) {
                    continue;
                }
                let start = emb.value_offset(i) as usize;
                let v = &values.values()[start..start + dim];
                if let Some(why) = bad_row(v) {
                    rows.bad_rows += 1;
                    if rows.bad_examples.len() < 10 {
                        rows.bad_examples.push((p.clone(), at + i, why));
                    }
                    continue;
                }
                rows.path.push(path.value(i).to_string());
                rows.label.push((!label.is_null(i)).then(|| label.value(i).to_string()));
                rows.frame.push((!frame.is_null(i)).then(|| frame.value(i)));
                rows.pts.push((!pts.is_null(i)).then(|| pts.value(i)));
                rows.data.extend_from_slice(v);
            }
            at += b.num_rows();
        }
    }
    Ok(rows)
}
