//! The embedding store: a folder of Parquet part files (arrow-rs), readable as it is by pandas,
//! pyarrow, DuckDB (`read_parquet('STORE/*.parquet')`) and Ray Data.
//!
//! Columns: `path` (string), `label` (string, null without one), `frame` (int64 decode index;
//! null on a clip row), `pts` (float64 seconds; null on a clip row), `frames` (int32, frames the
//! row stands for), `duration` (float64 seconds, null if unknown), `embedding` (fixed-size list of
//! float32, L2-normalised; null for a failed clip), `model` (string), `error` (string, null unless
//! the clip failed). Key-value metadata: `fovea.model`, `fovea.dim`, `fovea.per`.
//!
//! Each commit writes the rows of whole clips to `.tmp-*`, syncs it and renames it to
//! `part-*.parquet`: a clip is in the store exactly once or not at all, whenever the process dies.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
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

/// A store being written.
pub struct Store {
    dir: PathBuf,
    dim: usize,
    per: Per,
    done: HashSet<String>,
    run: String,
    seq: usize,
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

/// A part's (model, dim, per) from its metadata.
fn part_meta(path: &Path) -> Result<(String, usize, String)> {
    let f = File::open(path).map_err(|e| io_err(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| io_err(path, format!("not a readable Parquet file: {e}")))?;
    let md = b.schema().metadata();
    let get = |k: &str| md.get(k).cloned().ok_or_else(|| io_err(path, format!("no '{k}' metadata: not a fovea store part")));
    let dim = get("fovea.dim")?.parse().map_err(|_| io_err(path, "fovea.dim is not a number"))?;
    Ok((get("fovea.model")?, dim, get("fovea.per")?))
}

/// The `path` column of a part.
fn part_paths(path: &Path) -> Result<Vec<String>> {
    let f = File::open(path).map_err(|e| io_err(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| io_err(path, e))?;
    let mask = ProjectionMask::columns(b.parquet_schema(), ["path"]);
    let mut out = Vec::new();
    for batch in b.with_projection(mask).build().map_err(|e| io_err(path, e))? {
        let batch = batch.map_err(|e| io_err(path, e))?;
        let col = batch.column(0).as_any().downcast_ref::<StringArray>().ok_or_else(|| io_err(path, "path is not a string column"))?;
        out.extend(col.iter().flatten().map(str::to_string));
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
        let mut done = HashSet::new();
        for p in parts(dir)? {
            let (m, d, k) = part_meta(&p)?;
            if m != model || d != dim || k != per_name(per) {
                return Err(Error::InvalidOption {
                    option: "-o",
                    reason: format!(
                        "the store {} holds {k} embeddings of {m} ({d} floats), not {} embeddings of {model} ({dim}): use another store",
                        dir.display(),
                        per_name(per)
                    ),
                });
            }
            done.extend(part_paths(&p)?);
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
        Ok(Self { dir: dir.to_path_buf(), dim, per, done, run, seq: 0 })
    }

    /// Whether the clip at `path` is in the store (embedded or failed).
    pub fn contains(&self, path: &str) -> bool {
        self.done.contains(path)
    }

    /// Clips in the store.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Writes `clips` as one part file, atomically; the rows written.
    pub fn commit(&mut self, clips: &[ClipRows], model: &str) -> Result<u64> {
        let schema = Arc::new(schema(self.dim, model, self.per));
        let batch = self.batch(clips, model, &schema)?;
        let name = format!("part-{}-{:05}.parquet", self.run, self.seq);
        self.seq += 1;
        let tmp = self.dir.join(format!(".tmp-{name}"));
        let fin = self.dir.join(&name);
        let out_err = |e: std::io::Error| Error::Output { path: fin.clone(), source: e };
        let file = File::create(&tmp).map_err(out_err)?;
        let props = WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build();
        let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| io_err(&tmp, e))?;
        w.write(&batch).map_err(|e| io_err(&tmp, e))?;
        let file = w.into_inner().map_err(|e| io_err(&tmp, e))?;
        file.sync_all().map_err(out_err)?;
        drop(file);
        std::fs::rename(&tmp, &fin).map_err(out_err)?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.done.extend(clips.iter().map(|c| c.clip.path.clone()));
        Ok(batch.num_rows() as u64)
    }

    fn batch(&self, clips: &[ClipRows], model: &str, schema: &Arc<Schema>) -> Result<RecordBatch> {
        let d = self.dim;
        let (mut path, mut label, mut frame, mut pts) =
            (StringBuilder::new(), StringBuilder::new(), Int64Builder::new(), Float64Builder::new());
        let (mut frames, mut duration, mut models, mut error) =
            (Int32Builder::new(), Float64Builder::new(), StringBuilder::new(), StringBuilder::new());
        let mut emb =
            FixedSizeListBuilder::new(Float32Builder::new(), d as i32).with_field(Arc::new(Field::new("item", DataType::Float32, false)));
        let mut row = |c: &ClipRows, f: Option<(u64, f64)>, n: usize, e: Option<&[f32]>| {
            path.append_value(&c.clip.path);
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
        for c in clips {
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
        ];
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Pipeline(format!("building the store's rows: {e}")))
    }
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

/// Reads every embedded row of the store at `dir`.
pub fn read(dir: &Path) -> Result<Rows> {
    let parts = parts(dir)?;
    if parts.is_empty() {
        return Err(Error::Input { path: dir.to_path_buf(), reason: "no part-*.parquet files: not a store, or an empty one".into() });
    }
    let mut rows = Rows::default();
    for p in parts {
        let (model, dim, _) = part_meta(&p)?;
        if rows.dim == 0 {
            (rows.model, rows.dim) = (model.clone(), dim);
        } else if rows.model != model || rows.dim != dim {
            return Err(io_err(&p, format!("holds {model} ({dim} floats), the store's first part {} ({})", rows.model, rows.dim)));
        }
        let f = File::open(&p).map_err(|e| io_err(&p, e))?;
        for b in ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| io_err(&p, e))?.build().map_err(|e| io_err(&p, e))? {
            let b = b.map_err(|e| io_err(&p, format!("damaged part: {e}")))?;
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
                rows.path.push(path.value(i).to_string());
                rows.label.push((!label.is_null(i)).then(|| label.value(i).to_string()));
                rows.frame.push((!frame.is_null(i)).then(|| frame.value(i)));
                rows.pts.push((!pts.is_null(i)).then(|| pts.value(i)));
                let start = (emb.value_offset(i)) as usize;
                rows.data.extend_from_slice(&values.values()[start..start + dim]);
            }
        }
    }
    Ok(rows)
}
