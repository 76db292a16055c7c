"""`fovea embed` / `fovea search` (issue 15) on a UCF101-like collection made at test time from
../shared/media with the ffmpeg CLI (tests/python/embed_collection.py): 44 clips of 2-7 s at
320x240 in class folders, mpeg4 and H.264, a corrupt clip, an audio-only one, and a re-encoded
copy of every clip. The store is read back with pyarrow, pandas and DuckDB; search results are
checked against NumPy brute force (the Ray entry point: test_ray.py)."""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import embed_collection

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
TABLE = ROOT / "engines" / "mobilenetv2.text.npy"
if str(ROOT / "python") not in sys.path:
    sys.path.insert(0, str(ROOT / "python"))


def fovea(*args, check=True):
    o = subprocess.run([FOVEA, *map(str, args)], capture_output=True, text=True)
    if check:
        assert o.returncode == 0, o.stderr
    return o


def table(store):
    t = pq.read_table(store).to_pandas().sort_values(["path", "frame"], na_position="first").reset_index(drop=True)
    return t


def matrix(t):
    return np.stack(t.embedding[t.embedding.notna()].to_numpy()).astype(np.float64)


@pytest.fixture(scope="module")
def col(tmp_path_factory):
    d = tmp_path_factory.mktemp("embed")
    return d, embed_collection.make(d, 44)


@pytest.fixture(scope="module")
def store(col):
    d, doc = col
    s = d / "store"
    o = fovea("embed", d / "collection", "-o", s, "--json", d / "report.json")
    print(o.stderr)
    return s, json.loads((d / "report.json").read_text())


def test_store_rows_labels_and_failures(col, store):
    d, doc = col
    s, report = store
    assert report["clips"] == 46 and report["embedded"] == 44 and report["failed"] == 2, report
    t = table(s)
    assert len(t) == 46 and t.path.is_unique
    want = {c["path"]: c["label"] for c in doc["clips"]}
    ok = t[t.error.isna()]
    assert dict(zip(ok.path, ok.label)) == want
    assert set(ok.model) == {report["model"]} and ok.frame.isna().all()
    assert report["model"] in ("mobilenetv2", "mobilenetv2-bf16", "mobilenetv2-int8")
    assert (ok.frames == 8).all(), ok.frames.tolist()
    # Durations as ffprobe reads them.
    for p, dur in zip(ok.path[:5], ok.duration[:5]):
        probe = float(subprocess.check_output(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", p], text=True))
        assert abs(probe - dur) < 0.1, (p, probe, dur)
    norms = np.linalg.norm(matrix(t), axis=1)
    assert np.abs(norms - 1).max() < 1e-5
    bad = t[t.error.notna()].set_index("path")
    assert set(bad.index) == set(doc["broken"])
    assert bad.embedding.isna().all()
    assert "no video stream" in bad.error[doc["broken"][1]]
    assert "not a video" in bad.error[doc["broken"][0]] or "Invalid data" in bad.error[doc["broken"][0]]
    # DuckDB reads the store as it is.
    import duckdb
    rows = duckdb.sql(f"select label, count(*) from read_parquet('{s}/*.parquet') where error is null group by label").fetchall()
    assert sum(n for _, n in rows) == 44 and {lab for lab, _ in rows} == {"street", "hall", "bunny", "soccer", "parkour"}


def test_rerun_skips_finished_clips(col, store):
    d, _ = col
    s, _ = store
    before = sorted(p.name for p in s.glob("part-*.parquet"))
    o = fovea("embed", d / "collection", "-o", s, "--json", d / "rerun.json")
    r = json.loads((d / "rerun.json").read_text())
    # The two failures are tried again; failing again with the same errors, their rows stay.
    assert r["skipped"] == 44 and r["retried"] == 2 and r["failed"] == 2 and r["embedded"] == 0 and r["parts_written"] == 0, o.stderr
    assert sorted(p.name for p in s.glob("part-*.parquet")) == before


def test_embeddings_do_not_depend_on_batch_or_threads(col, store):
    d, _ = col
    s, _ = store
    other = d / "store_b1"
    fovea("embed", d / "collection", "-o", other, "--batch", "1", "--decoders", "1", "--threads", "1", "-q")
    a, b = table(s), table(other)
    assert a.path.tolist() == b.path.tolist()
    assert np.abs(matrix(a) - matrix(b)).max() <= 1e-5


def test_frame_rows_average_to_the_clip_row(col, store):
    """On ONNX Runtime fp32 (the default may be OpenVINO bf16: both runtimes are covered)."""
    d, _ = col
    fp32 = ["--encoder", ROOT / "engines/mobilenetv2.toml"]
    frames = d / "store_frames"
    fovea("embed", d / "collection" / "hall", "-o", frames, "--per", "frame", "--frames", "5", "-q", *fp32)
    clips = d / "store_hall5"
    fovea("embed", d / "collection" / "hall", "-o", clips, "--frames", "5", "-q", *fp32)
    f, c = table(frames), table(clips)
    assert (f.groupby("path").size() == 5).all()
    assert f.frame.notna().all() and (f.groupby("path").frame.apply(lambda x: x.is_monotonic_increasing)).all()
    for p, row in zip(c.path, matrix(c)):
        m = matrix(f[f.path == p]).mean(axis=0)
        assert np.abs(m / np.linalg.norm(m) - row).max() < 1e-5


@pytest.mark.parametrize("precision,bar", [("bf16", 0.995), ("int8", 0.985)])
def test_openvino_encoders_agree_with_fp32(col, store, precision, bar):
    """The OpenVINO encoders (INT8 the default on CPUs with VNNI, bf16 on CPUs with BF16) against
    ONNX Runtime fp32, clip by clip."""
    d, _ = col
    ov, fp32 = d / f"store_{precision}", d / "store_fp32"
    fovea("embed", d / "collection", "-o", ov, "-q", "--encoder", ROOT / f"engines/mobilenetv2-ov-{precision}.toml")
    if not fp32.exists():
        fovea("embed", d / "collection", "-o", fp32, "-q", "--encoder", ROOT / "engines/mobilenetv2.toml")
    a, b = table(ov), table(fp32)
    assert set(a.model) == {f"mobilenetv2-{precision}"} and set(b.model) == {"mobilenetv2"}
    cos = (matrix(a) * matrix(b)).sum(axis=1)
    print(f"{precision}: cosine with fp32 min {cos.min():.4f}, median {np.median(cos):.4f}")
    assert cos.min() >= bar, cos.min()


def test_a_store_keeps_its_encoder_when_none_is_given(col, tmp_path):
    """A store made with one shipped encoder is added to and searched with that encoder when
    --encoder is left out (the default changed from bf16 to INT8; an old store is not refused)."""
    d, doc = col
    s = tmp_path / "store"
    first = [c["path"] for c in doc["clips"][:3]]
    fovea("embed", *first, "-o", s, "-q", "--encoder", ROOT / "engines/mobilenetv2-ov-bf16.toml")
    fovea("embed", doc["clips"][3]["path"], "-o", s, "-q")
    t = table(s)
    assert len(t) == 4 and set(t.model) == {"mobilenetv2-bf16"}, t.model.tolist()
    res = json.loads(fovea("search", s, "--clip", doc["clips"][3]["path"], "-k", 1, "--json").stdout)
    assert res["hits"][0]["path"] == doc["clips"][3]["path"] and res["hits"][0]["score"] > 0.999
    # A foreign encoder given by name is still refused, by name.
    o = fovea("embed", doc["clips"][4]["path"], "-o", s, "-q", "--encoder", ROOT / "engines/mobilenetv2.toml", check=False)
    assert o.returncode != 0 and "mobilenetv2-bf16" in o.stderr, o.stderr


def test_resume_after_kill_equals_an_uninterrupted_run(col, store):
    d, _ = col
    s, _ = store
    seed = int(time.time())
    rng = random.Random(seed)
    resumed = d / "store_killed"
    kills = 0
    for _ in range(3):
        p = subprocess.Popen([FOVEA, "embed", str(d / "collection"), "-o", str(resumed), "--commit-clips", "3", "--decoders", "1", "-q"],
                             stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.0))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    fovea("embed", d / "collection", "-o", resumed, "-q")
    a, b = table(s), table(resumed)
    print(f"seed {seed}: {kills} kills, {len(list(resumed.glob('part-*')))} parts")
    assert b.path.is_unique, "a clip committed twice"
    assert a.path.tolist() == b.path.tolist()
    assert a.error.isna().tolist() == b.error.isna().tolist()
    assert np.abs(matrix(a) - matrix(b)).max() <= 1e-5


@pytest.fixture(scope="module")
def copies(col):
    d, _ = col
    s = d / "store_copies"
    fovea("embed", d / "copies", "-o", s, "-q")
    return s


def test_reencoded_copies_find_their_originals(col, store, copies):
    d, doc = col
    s, _ = store
    a = table(s)
    a = a[a.error.isna()].reset_index(drop=True)
    b = table(copies)
    A, B = matrix(a), matrix(b)
    stem = lambda p: Path(p).stem  # noqa: E731
    hits = sum(stem(a.path[int(np.argmax(A @ q))]) == stem(p) for p, q in zip(b.path, B))
    print(f"top-1: {hits}/{len(b)}")
    assert hits >= 0.95 * len(b)


def test_search_equals_numpy_brute_force(col, store, copies):
    d, doc = col
    s, _ = store
    a = table(s)
    a = a[a.error.isna()].reset_index(drop=True)
    A = matrix(a)
    b = table(copies).set_index("path")
    for c in doc["clips"][:4]:
        q = np.asarray(b.embedding[c["copy"]], np.float64)
        ref = np.argsort(-(A @ q), kind="stable")[:10]
        for method in ("exact", "approximate"):
            o = fovea("search", s, "--clip", c["copy"], "-k", 10, "--json", "--method", method)
            res = json.loads(o.stdout)
            assert [h["path"] for h in res["hits"]] == [a.path[i] for i in ref], method
            assert np.allclose([h["score"] for h in res["hits"]], (A @ q)[ref], atol=1e-4)
            assert res["hits"][0]["label"] == c["label"]
    o = fovea("search", s, "--image", ROOT.parent / "shared/media/parkour.jpg", "-k", 3, "--json", "--recall", 20)
    res = json.loads(o.stdout)
    assert {h["label"] for h in res["hits"]} == {"parkour"} and res["recall_at_k"] >= 0.9


def test_text_search_by_imagenet_class(store):
    s, _ = store
    o = fovea("search", s, "--text-table", TABLE, "--text", "soccer ball", "-k", 3, "--json")
    assert [h["label"] for h in json.loads(o.stdout)["hits"]] == ["soccer"] * 3
    bad = fovea("search", s, "--text-table", TABLE, "--text", "no such class", check=False)
    assert bad.returncode != 0 and "not a label or prompt" in bad.stderr


def test_hostile_inputs_get_clear_errors(col, store, tmp_path):
    d, _ = col
    s, _ = store
    o = fovea("search", tmp_path, "--image", ROOT.parent / "shared/media/messi5.jpg", check=False)
    assert o.returncode != 0 and "no part-*.parquet" in o.stderr
    o = fovea("embed", d / "collection" / "hall", "-o", s, "--per", "frame", check=False)
    assert o.returncode != 0 and f"holds clip embeddings of {store[1]['model']}" in o.stderr
    o = fovea("embed", d / "collection" / "hall", "-o", s, "--encoder", ROOT / "engines/efficientnet-lite0.toml", check=False)
    assert o.returncode != 0 and "use another store" in o.stderr
    o = fovea("embed", d / "collection", "-o", tmp_path / "x", "--frames", "0", check=False)
    assert o.returncode != 0 and "--frames" in o.stderr
    (tmp_path / "part-0.parquet").write_bytes(b"PAR1 not really")
    o = fovea("search", tmp_path, "--image", ROOT.parent / "shared/media/messi5.jpg", check=False)
    assert o.returncode != 0 and "part-0.parquet" in o.stderr


def test_python_binding_embeds_like_the_cli(col, store, tmp_path):
    import fovea as fv
    d, doc = col
    s, _ = store
    clips = fv.collect_clips(d / "collection")
    assert {c["path"]: c["label"] for c in clips if c["label"] != "broken"} == {c["path"]: c["label"] for c in doc["clips"]}
    r = fv.embed(clips[:6], tmp_path / "py")
    assert r["embedded"] + r["failed"] == 6 and r["model"] == store[1]["model"]
    a = table(s).set_index("path")
    b = table(tmp_path / "py")
    for p, e in zip(b.path, b.embedding):
        if e is not None:
            assert np.abs(np.asarray(e) - np.asarray(a.embedding[p])).max() <= 1e-5
    with pytest.raises(fv.Error, match="frames"):
        fv.embed(clips[:1], tmp_path / "py2", frames=0)


def test_two_runs_at_once_store_each_clip_once_and_failures_are_retried(col, tmp_path):
    """Regression (issue 34): two `fovea embed` runs on one store stored every clip twice, and a
    clip that failed was never tried again."""
    d, _ = col
    s = tmp_path / "shared-store"
    runs = [subprocess.Popen([FOVEA, "embed", str(d / "collection"), "-o", str(s), "--commit-clips", "4", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in runs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err
    t = table(s)
    assert len(t) == 46 and t.path.is_unique, t.path.value_counts().head()
    o = fovea("embed", d / "collection", "-o", s, "--json", tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["retried"] == 2 and again["skipped"] == 44 and again["failed"] == 2, again
    assert "failed before and tried again 2" in o.stderr
    t = table(s)
    assert len(t) == 46 and t.path.is_unique, "the failures were replaced, not added"


def test_names_that_are_not_utf8_are_distinct_clips(col, tmp_path):
    """Regression (issue 34): two names that are not UTF-8 collapsed into one lossy path."""
    d, doc = col
    src = Path(doc["clips"][0]["path"])
    folder = tmp_path / "raw"
    folder.mkdir()
    for b in (b"clip-\xff.mp4", b"clip-\xfe.mp4"):
        os.link(src, os.fsencode(folder) + b"/" + b)
    o = fovea("embed", folder, "-o", tmp_path / "s", "--json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["embedded"] == 2 and r["failed"] == 0, (r, o.stderr)
    t = pq.read_table(tmp_path / "s").to_pandas()
    assert sorted(bytes(b) for b in t.path_bytes) == [os.fsencode(folder) + b"/clip-\xfe.mp4", os.fsencode(folder) + b"/clip-\xff.mp4"]


def test_a_header_that_declares_dropped_frames_gets_all_its_samples(tmp_path):
    """Issue 33: a constant-rate AVI with dropped frames declares them all (171 frames, 6.84 s at
    25 fps) but holds 55; its 8 samples were taken from the declared count, 3 of them found,
    silently. They are spread over the frames it holds (decode indices as ffprobe counts them),
    with a warning; a clip with fewer frames than asked is warned about too."""
    avi = tmp_path / "dropped.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=7",
                    "-vf", r"select='not(mod(n\,5))+not(mod(n\,7))'", "-fps_mode", "passthrough", "-c:v", "mpeg4", str(avi)], check=True)
    probe = lambda *a: subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", *a, "-of", "default=nw=1:nk=1", str(avi)],
                                      check=True, capture_output=True, text=True).stdout.split()
    declared, holds = int(probe("-show_entries", "stream=nb_frames")[0]), int(probe("-count_frames", "-show_entries", "stream=nb_read_frames")[0])
    assert declared > 2 * holds, (declared, holds)
    o = fovea("embed", avi, "-o", tmp_path / "s", "--frames", 8, "--per", "frame")
    assert f"its header declares {declared} frames, it holds {holds}" in o.stderr, o.stderr
    rows = pq.read_table(tmp_path / "s").to_pydict()
    assert sorted(rows["frame"]) == [(2 * i + 1) * holds // 16 for i in range(8)], rows["frame"]
    short = tmp_path / "short.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=5:duration=1", str(short)], check=True)
    o = fovea("embed", short, "-o", tmp_path / "s2", "--frames", 8)
    assert "5 frames sampled of the 8 asked" in o.stderr, o.stderr
