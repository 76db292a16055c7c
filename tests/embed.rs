//! The embedding store and search (issue 15), without video: sampling, input listing, the
//! Parquet store's round trip and resumability, exact search against a naive reference, the
//! approximate index's recall.

use std::path::PathBuf;

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
    let labels: Vec<_> = found.iter().map(|c| (c.path.rsplit('/').next().unwrap().to_string(), c.label.clone())).collect();
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
    assert_eq!(n, 2);
    s.commit(&[clip("b.mp4", None, 2, e[dim..].to_vec(), None)], "m").unwrap();
    // A killed run's uncommitted file is ignored by readers.
    std::fs::write(d.path().join(".tmp-part-x.parquet"), b"half written").unwrap();
    let again = Store::open(d.path(), "m", dim, Per::Clip).unwrap();
    assert!(again.contains("a.mp4") && again.contains("b.mp4") && again.contains("bad.mp4") && !again.contains("c.mp4"));
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
    assert_eq!(res.hits[0].path, exact.hits[0].path);
    // A new part makes the saved index stale: rebuilt, not reused.
    s.commit(&[clip("new", None, 1, rows(1, dim, 12), None)], "m").unwrap();
    let r2 = store::read(d.path()).unwrap();
    let res2 = search::search(d.path(), &r2, &q, 5, Method::Approximate).unwrap();
    assert!(!res2.index_reused && res2.rows == 3001);
    assert!(search::search(d.path(), &r2, &q[..5], 5, Method::Exact).is_err(), "a query of another size is refused");
    assert!(search::search(d.path(), &r2, &q, 0, Method::Exact).is_err());
}
