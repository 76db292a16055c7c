//! Search of an embedding store: exact cosine top-k (parallel over rows, a dot product the
//! compiler vectorises), or an approximate HNSW index (usearch) kept beside the parts once the
//! store is large, with its recall@k against exact search measurable ([`recall`]).
#![forbid(unsafe_code)]

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::store::Rows;
use crate::error::{Error, Result};

/// Above this many rows `Method::Auto` uses the approximate index.
pub const ANN_ABOVE: usize = 200_000;
/// Most results asked for.
pub const MAX_K: usize = 10_000;

/// How the neighbours are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Exact,
    Approximate,
    /// Exact up to [`ANN_ABOVE`] rows, approximate above.
    Auto,
}

/// One result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    pub rank: usize,
    pub score: f32,
    pub path: String,
    pub label: Option<String>,
    pub frame: Option<i64>,
    pub pts: Option<f64>,
    /// The row's index in the store (read order).
    pub row: usize,
}

/// The dot product of two equal-length slices, in 16 lanes (vectorised).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0.0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..L {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

fn better(a: &(f32, usize), b: &(f32, usize)) -> Ordering {
    b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal).then(a.1.cmp(&b.1))
}

/// Exact top-k rows by cosine (rows and query L2-normalised): (score, row), best first, ties by
/// row order.
pub fn exact(rows: &Rows, query: &[f32], k: usize) -> Vec<(f32, usize)> {
    let d = rows.dim;
    let chunk = 4096;
    let mut best: Vec<(f32, usize)> = rows
        .data
        .par_chunks(chunk * d)
        .enumerate()
        .flat_map_iter(|(c, block)| {
            let mut local: Vec<(f32, usize)> = block.chunks_exact(d).enumerate().map(|(i, r)| (dot(r, query), c * chunk + i)).collect();
            if local.len() > k {
                local.select_nth_unstable_by(k - 1, better);
                local.truncate(k);
            }
            local
        })
        .collect();
    best.sort_by(better);
    best.truncate(k);
    best
}

/// The approximate index of a store (usearch HNSW, inner product on normalised rows), built
/// once and kept in the store as `_index.usearch` with `_index.json` (names pyarrow and Ray skip) naming the parts it covers.
pub struct Ann {
    index: usearch::Index,
    rows: u64,
}

/// How many rows an index adds one after another before adding the rest in parallel.
const SERIAL_ROWS: usize = 10_000;

fn ann_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Pipeline(format!("usearch: {what}: {e}"))
}

impl Ann {
    fn options(dim: usize) -> usearch::IndexOptions {
        usearch::IndexOptions {
            dimensions: dim,
            metric: usearch::MetricKind::IP,
            quantization: usearch::ScalarKind::F32,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 128,
            multi: false,
        }
    }

    /// Builds an index of every row: the first [`SERIAL_ROWS`] one after another, the rest in
    /// parallel. Rows added side by side into a small graph link worse (measured on 500 random
    /// 16-d rows, 200 builds: recall@5 0.9947 and one query in 40 missing a row of its top 5 in
    /// parallel, 1.0 one after another); once the graph is large, parallel adds rarely meet.
    pub fn build(rows: &Rows) -> Result<Self> {
        let index = usearch::Index::new(&Self::options(rows.dim)).map_err(|e| ann_err("new index", e))?;
        let threads = rayon::current_num_threads();
        index.reserve_capacity_and_threads(rows.len(), threads).map_err(|e| ann_err("reserve", e))?;
        let add = |i: usize| index.add(i as u64, rows.row(i)).map_err(|e| ann_err("add", e));
        let serial = rows.len().min(SERIAL_ROWS);
        (0..serial).try_for_each(add)?;
        (serial..rows.len()).into_par_iter().try_for_each(add)?;
        Ok(Self { index, rows: rows.len() as u64 })
    }

    /// The store's saved index if it covers exactly the store's current parts and its bytes are
    /// the ones written (length and CRC-32 in `_index.json`), else a new one (saved for next
    /// time when the store is writable). A damaged or foreign index is rebuilt, never loaded:
    /// usearch trusts the bytes it loads.
    pub fn for_store(store: &Path, rows: &Rows) -> Result<(Self, bool)> {
        let (file, meta) = (store.join("_index.usearch"), store.join("_index.json"));
        let parts = fingerprint(store)?;
        match Self::saved(&file, &meta, &parts, rows) {
            Ok(index) => return Ok((Self { index, rows: rows.len() as u64 }, true)),
            Err(why) if file.exists() => log::warn!("{}: not used ({why}); rebuilding it", file.display()),
            Err(_) => {}
        }
        let ann = Self::build(rows)?;
        let mut bytes = vec![0u8; ann.index.serialized_length()];
        if ann.index.save_to_buffer(&mut bytes).is_ok() {
            let tmp = store.join(".tmp-index.usearch");
            if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, &file).is_ok() {
                let m = serde_json::json!({
                    "parts": parts, "rows": rows.len(), "dim": rows.dim, "bytes": bytes.len(), "crc32": crc32fast::hash(&bytes),
                });
                let _ = std::fs::write(&meta, m.to_string());
            }
        }
        Ok((ann, false))
    }

    /// The saved index, checked before usearch sees a byte of it; or why not.
    fn saved(file: &Path, meta: &Path, parts: &str, rows: &Rows) -> std::result::Result<usearch::Index, String> {
        let m: serde_json::Value = std::fs::read_to_string(meta)
            .map_err(|e| format!("no readable _index.json: {e}"))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("_index.json is not JSON: {e}")))?;
        if m["parts"].as_str() != Some(parts) {
            return Err("made for other parts".into());
        }
        if m["rows"].as_u64() != Some(rows.len() as u64) || m["dim"].as_u64() != Some(rows.dim as u64) {
            return Err("made for another number of rows or dimension".into());
        }
        let want = m["bytes"].as_u64().ok_or("no length in _index.json")?;
        // A generous bound for an HNSW graph of these rows: vectors plus links.
        let most = rows.len() as u64 * (rows.dim as u64 * 4 + 1024) + (1 << 20);
        let len = std::fs::metadata(file).map_err(|e| e.to_string())?.len();
        if len != want || len > most {
            return Err(format!("{len} bytes, written {want}"));
        }
        let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
        if Some(u64::from(crc32fast::hash(&bytes))) != m["crc32"].as_u64() {
            return Err("its CRC-32 is not the one written (damaged)".into());
        }
        let index = usearch::Index::new(&Self::options(rows.dim)).map_err(|e| e.to_string())?;
        index.load_from_buffer(&bytes).map_err(|e| e.to_string())?;
        if index.size() != rows.len() || index.dimensions() != rows.dim {
            return Err("holds another number of rows".into());
        }
        Ok(index)
    }

    /// Approximate top-k: (score, row), best first.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<(f32, usize)>> {
        let m = self.index.search(query, k).map_err(|e| ann_err("search", e))?;
        // Keys are row numbers; one out of range (an index not of these rows) is an error.
        let mut out: Vec<(f32, usize)> = Vec::with_capacity(m.keys.len());
        for (&key, &dist) in m.keys.iter().zip(&m.distances) {
            if key >= self.rows {
                return Err(ann_err("search", format!("key {key} is not a row of the store ({} rows): rebuild the index", self.rows)));
            }
            out.push((1.0 - dist, key as usize));
        }
        out.sort_by(better);
        Ok(out)
    }
}

/// The names and sizes of the store's parts, as one string.
fn fingerprint(store: &Path) -> Result<String> {
    let mut s = String::new();
    for p in super::store::parts(store)? {
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        s.push_str(&format!("{}:{len};", p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
    }
    Ok(s)
}

/// What a search did.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub store: PathBuf,
    pub model: String,
    pub rows: usize,
    /// "exact" or "usearch-hnsw".
    pub method: String,
    /// Whether a saved approximate index was reused.
    pub index_reused: bool,
    /// Rows of the store left out as damaged (see [`Rows::bad_rows`]).
    pub bad_rows: usize,
    pub hits: Vec<Hit>,
}

/// Top-k rows of `rows` for `query` by `method`.
pub fn search(store: &Path, rows: &Rows, query: &[f32], k: usize, method: Method) -> Result<SearchResult> {
    if !(1..=MAX_K).contains(&k) {
        return Err(Error::InvalidOption { option: "-k", reason: format!("must be within 1..={MAX_K}, got {k}") });
    }
    if query.len() != rows.dim {
        return Err(Error::InvalidOption {
            option: "query",
            reason: format!("the query has {} floats, the store's embeddings {}", query.len(), rows.dim),
        });
    }
    let approximate = match method {
        Method::Exact => false,
        Method::Approximate => true,
        Method::Auto => rows.len() > ANN_ABOVE,
    };
    let (found, method, reused) = if approximate {
        let (ann, reused) = Ann::for_store(store, rows)?;
        (ann.search(query, k)?, "usearch-hnsw", reused)
    } else {
        (exact(rows, query, k), "exact", false)
    };
    let hits = found
        .into_iter()
        .enumerate()
        .map(|(rank, (score, row))| Hit {
            rank: rank + 1,
            score,
            path: rows.path[row].clone(),
            label: rows.label[row].clone(),
            frame: rows.frame[row],
            pts: rows.pts[row],
            row,
        })
        .collect();
    Ok(SearchResult {
        store: store.to_path_buf(),
        model: rows.model.clone(),
        rows: rows.len(),
        method: method.into(),
        index_reused: reused,
        bad_rows: rows.bad_rows,
        hits,
    })
}

/// Recall@k of the approximate index against exact search, with `queries` of the store's own
/// rows spread over it as queries: the share of exact top-k rows the index also returns.
pub fn recall(store: &Path, rows: &Rows, queries: usize, k: usize) -> Result<f64> {
    let n = rows.len();
    if n == 0 {
        return Err(Error::InvalidOption {
            option: "--recall",
            reason: format!("{}: the store holds no rows to measure recall on", store.display()),
        });
    }
    let (ann, _) = Ann::for_store(store, rows)?;
    let q = queries.clamp(1, n);
    let mut found = 0usize;
    let mut total = 0usize;
    for j in 0..q {
        let i = j * n / q;
        let truth: std::collections::HashSet<usize> = exact(rows, rows.row(i), k).into_iter().map(|(_, r)| r).collect();
        let got = ann.search(rows.row(i), k)?;
        found += got.iter().filter(|(_, r)| truth.contains(r)).count();
        total += truth.len();
    }
    Ok(found as f64 / total.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_on_an_empty_store_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let rows =
            Rows { model: "m".into(), dim: 4, path: vec![], label: vec![], frame: vec![], pts: vec![], data: vec![], ..Rows::default() };
        let e = recall(dir.path(), &rows, 100, 10).unwrap_err().to_string();
        assert!(e.contains("--recall") && e.contains("no rows"), "{e}");
    }
}
