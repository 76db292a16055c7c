//! The embedding store and search (issue 15), without video: sampling, input listing, the
//! Parquet store's round trip and resumability, exact search against a naive reference, the
//! approximate index's recall.

use std::path::{Path, PathBuf};

use fovea::embed::search::{self, Method};
use fovea::embed::store::{self, Store};
use fovea::embed::{collect_inputs, spread, ClipInput, ClipRows, Per};

fn normalised(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

/// Deterministic pseudo-random rows (xorshift), L2-normalised.
fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let mut r: Vec<f32> = (0..dim)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 10_000) as f32 / 5_000.0 - 1.0
            })
            .collect();
        normalised(&mut r);
        out.extend(r);
    }
    out
}

fn clip(path: &str, label: Option<&str>, frames: usize, emb: Vec<f32>, error: Option<&str>) -> ClipRows {
    ClipRows {
        clip: ClipInput { path: path.into(), label: label.map(str::to_string) },
        duration: Some(2.5),
        frames: (0..frames as u64).map(|i| (i * 10, i as f64 * 0.4)).collect(),
        embeddings: emb,
        error: error.map(str::to_string),
    }
}

#[test]
fn spread_takes_the_middle_of_equal_parts() {
    assert_eq!(spread(100, 4).into_iter().collect::<Vec<_>>(), vec![12, 37, 62, 87]);
    assert_eq!(spread(3, 8).into_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(spread(8, 8).len(), 8);
    assert_eq!(spread(1, 1).into_iter().collect::<Vec<_>>(), vec![0]);
}

#[test]
fn inputs_from_folders_and_list_files() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("ucf");
    for (c, f) in [("Archery", "v_Archery_g01_c01.avi"), ("Archery", "v_Archery_g01_c02.avi"), ("Bowling", "v_Bowling_g01_c01.mp4")] {
        std::fs::create_dir_all(root.join(c)).unwrap();
        std::fs::write(root.join(c).join(f), b"x").unwrap();
    }
    std::fs::write(root.join("Bowling").join("notes.txt"), b"not a clip").unwrap();
    std::fs::write(root.join("top.mkv"), b"x").unwrap();
    let found = collect_inputs(std::slice::from_ref(&root)).unwrap();
    let labels: Vec<_> = found.iter().map(|c| (c.path.file_name().unwrap().to_string_lossy().into_owned(), c.label.clone())).collect();
    assert_eq!(
        labels,
        vec![
            ("v_Archery_g01_c01.avi".into(), Some("Archery".into())),
            ("v_Archery_g01_c02.avi".into(), Some("Archery".into())),
            ("v_Bowling_g01_c01.mp4".into(), Some("Bowling".into())),
            ("top.mkv".into(), None),
        ]
    );
    // A UCF101 split file: paths relative to the list, a class number (not a label), comments.
    let list = root.join("trainlist01.txt");
    std::fs::write(&list, "# split 1\nArchery/v_Archery_g01_c01.avi 1\nBowling/v_Bowling_g01_c01.mp4 custom label\n\n").unwrap();
    let from_list = collect_inputs(&[list, root.clone()]).unwrap();
    assert_eq!(from_list[0].label.as_deref(), Some("Archery"));
    assert_eq!(from_list[1].label.as_deref(), Some("custom label"));
    assert_eq!(from_list.len(), 4, "duplicates of the listed clips are dropped: {from_list:?}");
    let missing = collect_inputs(&[PathBuf::from("/no/such/clip.mp4")]).unwrap_err().to_string();
    assert!(missing.contains("/no/such/clip.mp4"), "{missing}");
}

#[test]
fn store_round_trip_skips_done_clips_and_refuses_another_model() {
    let d = tempfile::tempdir().unwrap();
    let dim = 16;
    let mut s = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    let e = rows(2, dim, 7);
    let n = s
        .commit(&[clip("a.mp4", Some("x"), 3, e[..dim].to_vec(), None), clip("bad.mp4", None, 0, vec![], Some("no video stream"))], "m")
        .unwrap();
    assert_eq!(n.rows, 2);
    s.commit(&[clip("b.mp4", None, 2, e[dim..].to_vec(), None)], "m").unwrap();
    // A killed run's uncommitted file is ignored by readers.
    std::fs::write(d.path().join(".tmp-part-x.parquet"), b"half written").unwrap();
    let again = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    let has = |p: &str| again.contains(Path::new(p));
    assert!(has("a.mp4") && has("b.mp4") && !has("bad.mp4") && !has("c.mp4"));
    assert!(again.failed_before(Path::new("bad.mp4")), "a failure is tried again by the next run");
    let r = store::read(d.path()).unwrap();
    assert_eq!(r.path, vec!["a.mp4", "b.mp4"], "the failed clip has no embedding row to search");
    assert_eq!(r.label, vec![Some("x".into()), None]);
    assert_eq!(r.data, e);
    let other = Store::open(d.path(), "other", dim, Per::Clip).err().unwrap().to_string();
    assert!(other.contains("holds clip embeddings of m"), "{other}");
    let per = Store::open(d.path(), "m", dim, Per::Frame).err().unwrap().to_string();
    assert!(per.contains("not frame embeddings"), "{per}");
    let empty = tempfile::tempdir().unwrap();
    assert!(store::read(empty.path()).unwrap_err().to_string().contains("no part-*.parquet"));
}

#[test]
fn frame_rows_carry_frame_and_pts() {
    let d = tempfile::tempdir().unwrap();
    let dim = 8;
    let mut s = Store::open(d.path(), "m", dim, Per::Frame).unwrap();
    s.commit(&[clip("a.mp4", None, 3, rows(3, dim, 3), None)], "m").unwrap();
    let r = store::read(d.path()).unwrap();
    assert_eq!(r.frame, vec![Some(0), Some(10), Some(20)]);
    assert_eq!(r.pts, vec![Some(0.0), Some(0.4), Some(0.8)]);
}

fn naive(data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<(f32, usize)> {
    let mut all: Vec<(f32, usize)> = data
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, r)| (r.iter().zip(q).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>() as f32, i))
        .collect();
    all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
    all.truncate(k);
    all
}

fn store_rows(n: usize, dim: usize) -> store::Rows {
    store::Rows {
        model: "m".into(),
        dim,
        path: (0..n).map(|i| format!("c{i}")).collect(),
        label: vec![None; n],
        frame: vec![None; n],
        pts: vec![None; n],
        data: rows(n, dim, 99),
        ..Default::default()
    }
}

#[test]
fn exact_search_equals_a_naive_reference() {
    let r = store_rows(10_000, 37);
    for seed in [1, 2, 3] {
        let q = rows(1, 37, seed);
        let got = search::exact(&r, &q, 10);
        let want = naive(&r.data, 37, &q, 10);
        assert_eq!(got.iter().map(|x| x.1).collect::<Vec<_>>(), want.iter().map(|x| x.1).collect::<Vec<_>>());
        for (g, w) in got.iter().zip(&want) {
            assert!((g.0 - w.0).abs() < 1e-5, "{g:?} vs {w:?}");
        }
    }
}

#[test]
fn approximate_index_recall_and_reuse() {
    let d = tempfile::tempdir().unwrap();
    let dim = 32;
    let mut s = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    let data = rows(3000, dim, 5);
    let clips: Vec<ClipRows> =
        data.chunks_exact(dim).enumerate().map(|(i, e)| clip(&format!("c{i:05}"), None, 1, e.to_vec(), None)).collect();
    s.commit(&clips, "m").unwrap();
    let r = store::read(d.path()).unwrap();
    let recall = search::recall(d.path(), &r, 100, 10).unwrap();
    assert!(recall >= 0.95, "recall@10 {recall}");
    let q = rows(1, dim, 11);
    let res = search::search(d.path(), &r, &q, 5, Method::Approximate).unwrap();
    assert!(res.index_reused, "the index saved by the recall run is reused");
    assert_eq!(res.method, "usearch-hnsw");
    let exact = search::search(d.path(), &r, &q, 5, Method::Exact).unwrap();
    // An approximate index (built in parallel, so not the same graph twice) may miss a row:
    // at least 4 of the exact top 5.
    let found = res.hits.iter().filter(|h| exact.hits.iter().any(|e| e.path == h.path)).count();
    assert!(found >= 4, "{found} of the exact top 5: {:?} vs {:?}", res.hits, exact.hits);
    // A new part makes the saved index stale: rebuilt, not reused.
    s.commit(&[clip("new", None, 1, rows(1, dim, 12), None)], "m").unwrap();
    let r2 = store::read(d.path()).unwrap();
    let res2 = search::search(d.path(), &r2, &q, 5, Method::Approximate).unwrap();
    assert!(!res2.index_reused && res2.rows == 3001);
    assert!(search::search(d.path(), &r2, &q[..5], 5, Method::Exact).is_err(), "a query of another size is refused");
    assert!(search::search(d.path(), &r2, &q, 0, Method::Exact).is_err());
}

/// Regression (issue 34): a failed clip was never tried again. A retry's commit replaces the
/// failure row, so the clip is in the store once; a second failure replaces the first.
#[test]
fn a_retried_clip_replaces_its_failure_row() {
    let d = tempfile::tempdir().unwrap();
    let dim = 8;
    let mut s = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    s.commit(&[clip("a.mp4", None, 0, vec![], Some("not found")), clip("b.mp4", None, 1, rows(1, dim, 5), None)], "m").unwrap();
    let mut s = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    let c = s.commit(&[clip("a.mp4", None, 0, vec![], Some("not found"))], "m").unwrap();
    assert_eq!((c.rows, c.failures_replaced), (0, 0), "the same failure again: its row is kept, nothing rewritten");
    let c = s.commit(&[clip("a.mp4", None, 0, vec![], Some("still broken"))], "m").unwrap();
    assert_eq!((c.rows, c.failures_replaced), (1, 1), "another error replaces the row");
    let c = s.commit(&[clip("a.mp4", None, 2, rows(1, dim, 6), None)], "m").unwrap();
    assert_eq!((c.rows, c.failures_replaced), (1, 1));
    let all = paths_in(d.path());
    assert_eq!(all, vec!["a.mp4".to_string(), "b.mp4".to_string()], "each clip once, the failure rows gone");
    assert_eq!(store::read(d.path()).unwrap().len(), 2);
}

/// Every row's path in the store, sorted (read with the store's own reader of keys: failed rows
/// included).
fn paths_in(dir: &Path) -> Vec<String> {
    use arrow_array::{Array, StringArray};
    let mut out = Vec::new();
    for p in store::parts(dir).unwrap() {
        let f = std::fs::File::open(p).unwrap();
        for b in parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap() {
            let b = b.unwrap();
            let col = b.column_by_name("path").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
            out.extend((0..col.len()).map(|i| col.value(i).to_string()));
        }
    }
    out.sort();
    out
}

/// Regression (issue 34): two writers on one store (threads here; processes in
/// tests/python/test_embed.py) stored every clip twice. Commits are locked and read the others'
/// parts first: each clip is in the store once.
#[test]
fn concurrent_writers_store_each_clip_once() {
    let d = tempfile::tempdir().unwrap();
    let dim = 8;
    let names: Vec<String> = (0..40).map(|i| format!("c{i:02}.mp4")).collect();
    std::thread::scope(|sc| {
        for w in 0..4 {
            let (dir, names) = (d.path(), &names);
            sc.spawn(move || {
                let mut s = Store::open(dir, "m", dim, Per::Clip).unwrap();
                for chunk in names.chunks(5) {
                    let clips: Vec<ClipRows> = chunk.iter().map(|n| clip(n, None, 1, rows(1, dim, w + 1), None)).collect();
                    s.commit(&clips, "m").unwrap();
                }
            });
        }
    });
    assert_eq!(paths_in(d.path()), names);
}

/// Regression (issue 34): names that are not UTF-8 collapsed into one lossy path (the second
/// clip was taken as done). They are keys by their bytes now.
#[test]
fn names_that_are_not_utf8_stay_distinct() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let dim = 8;
    let (a, b) = (std::ffi::OsStr::from_bytes(b"clip-\xff.mp4"), std::ffi::OsStr::from_bytes(b"clip-\xfe.mp4"));
    let mk = |p: &std::ffi::OsStr, seed| ClipRows {
        clip: ClipInput { path: PathBuf::from(p), label: None },
        ..clip("x", None, 1, rows(1, dim, seed), None)
    };
    let mut s = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    s.commit(&[mk(a, 1)], "m").unwrap();
    let s = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    assert!(s.contains(Path::new(a)) && !s.contains(Path::new(b)), "the other name is not done");
    let mut s = s;
    assert_eq!(s.commit(&[mk(b, 2)], "m").unwrap().rows, 1);
    assert_eq!(store::read(d.path()).unwrap().len(), 2);
}

/// Regression (issue 34): flipped bytes in a part gave cosines of 1e26 ranked first, and a NaN
/// row broke the order. Rows that are not finite or not of unit length are left out and counted.
#[test]
fn damaged_rows_are_left_out_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let dim = 8;
    let mut bad = rows(3, dim, 4);
    bad[3] = f32::NAN;
    bad[dim] = 1e13;
    let mut s = Store::open(d.path(), "m", dim, Per::Frame).unwrap();
    s.commit(&[clip("a.mp4", None, 3, bad, None)], "m").unwrap();
    let r = store::read(d.path()).unwrap();
    assert_eq!((r.len(), r.bad_rows), (1, 2));
    assert!(r.bad_examples[0].2.contains("NaN") && r.bad_examples[1].2.contains("length"), "{:?}", r.bad_examples);
    let q = r.row(0).to_vec();
    let res = search::search(d.path(), &r, &q, 3, Method::Exact).unwrap();
    assert_eq!((res.hits.len(), res.bad_rows), (1, 2));
    assert!((res.hits[0].score - 1.0).abs() < 1e-5);
}

/// Regression (issue 34): a truncated part said only "Corrupt footer".
#[test]
fn a_truncated_part_says_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path(), "m", 8, Per::Clip).unwrap();
    s.commit(&[clip("a.mp4", None, 1, rows(1, 8, 1), None)], "m").unwrap();
    let p = store::parts(d.path()).unwrap().remove(0);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = store::read(d.path()).unwrap_err().to_string();
    assert!(e.contains("damaged store part") && e.contains("move it out of the store"), "{e}");
}

/// Regression (issue 34): a folder linked to itself was walked until the path grew too long
/// (one clip found 41 times), two such links forever. Each folder and clip is walked once.
#[test]
fn link_loops_are_walked_once() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("clips");
    std::fs::create_dir_all(root.join("cls")).unwrap();
    std::fs::write(root.join("cls").join("a.mp4"), b"x").unwrap();
    std::os::unix::fs::symlink(".", root.join("cls").join("self")).unwrap();
    std::os::unix::fs::symlink("..", root.join("cls").join("up")).unwrap();
    std::os::unix::fs::symlink("cls", root.join("again")).unwrap();
    let found = collect_inputs(std::slice::from_ref(&root)).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
}

/// Regression (issue 34): 3 of 40 byte-flipped `_index.usearch` files crashed `fovea search`
/// (one panicked on a key out of range). The saved index is checked (length, CRC-32) before
/// usearch loads it: every damaged variant is rebuilt, the results equal the undamaged index's.
#[test]
fn a_damaged_index_is_rebuilt_never_loaded() {
    let d = tempfile::tempdir().unwrap();
    let dim = 16;
    let mut s = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    let data = rows(500, dim, 8);
    let clips: Vec<ClipRows> =
        data.chunks_exact(dim).enumerate().map(|(i, e)| clip(&format!("c{i:04}"), None, 1, e.to_vec(), None)).collect();
    s.commit(&clips, "m").unwrap();
    let r = store::read(d.path()).unwrap();
    let q = rows(1, dim, 3);
    let exact = search::search(d.path(), &r, &q, 5, Method::Exact).unwrap();
    search::search(d.path(), &r, &q, 5, Method::Approximate).unwrap();
    let index = d.path().join("_index.usearch");
    let pristine = std::fs::read(&index).unwrap();
    assert!(search::search(d.path(), &r, &q, 5, Method::Approximate).unwrap().index_reused);
    let mut x = 12345u64;
    for variant in 0..40 {
        let mut bytes = pristine.clone();
        for _ in 0..1 + variant % 4 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = (x >> 33) as usize % bytes.len();
            bytes[at] ^= 1 << ((x >> 20) % 8);
        }
        if variant % 10 == 9 {
            bytes.truncate(bytes.len() / 2);
        }
        std::fs::write(&index, &bytes).unwrap();
        let got = search::search(d.path(), &r, &q, 5, Method::Approximate).unwrap();
        assert!(!got.index_reused, "variant {variant}: a damaged index was loaded");
        // A store this small is indexed one row after another (parallel adds into a small
        // graph left a row of the top 5 unreachable in about one query in 40, and failed CI
        // here): the rebuilt index finds exactly the exact top 5, with every row's true cosine.
        let (want, found): (Vec<usize>, Vec<usize>) =
            (exact.hits.iter().map(|h| h.row).collect(), got.hits.iter().map(|h| h.row).collect());
        assert_eq!(found, want, "variant {variant}: {:?} vs {:?}", got.hits, exact.hits);
        for h in &got.hits {
            let dot: f32 = r.row(h.row).iter().zip(&q).map(|(a, b)| a * b).sum();
            assert!((h.score - dot).abs() < 1e-4, "variant {variant}: {h:?} vs {dot}");
        }
    }
}
