"""`python -m fovea.ray detect|keyframes|score|embed` (issues 15 and 35) on a local two-node Ray
cluster (two node processes of one CPU each on this machine): every output equals the
single-machine command's on the same video, file for file; a rerun skips what is done and redoes
what is missing; a video that fails is listed with its error and has no output. The collection is
UCF101-shaped (tests/python/embed_collection.py: class folders, mpeg4 and H.264, a corrupt clip and
an audio-only one); the score inputs are composited soccer clips with their miner files
(tests/python/score_clip.py). The cluster is this module's only one (`ray stop` ends every Ray
process of the machine, so no other test module starts Ray)."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import embed_collection
import score_clip

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
MODEL = ROOT / "engines" / "nanodet-g-416.toml"
MEDIA = ROOT.parent / "shared" / "media"
# RAY_AUTH_MODE: a local `ray.init()` run earlier on the machine leaves ~/.ray/auth_token, and
# the head node then wants a token the second node does not send (Ray 2.60).
ENV = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", PYTHONPATH=str(ROOT / "python"))
ENV.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    ray = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    common = ["--num-cpus", "1", "--object-store-memory", str(100 * 1024 * 1024), "--disable-usage-stats"]
    try:
        subprocess.run([ray, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common], check=True, env=ENV,
                       capture_output=True, timeout=180)
        # A second node process on the same machine.
        subprocess.run([ray, "start", "--address", f"127.0.0.1:{port}", *common], check=True, env=ENV, capture_output=True, timeout=180)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=ENV, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def col(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray")
    return d, embed_collection.make(d, 5, copies_too=False)


def on_ray(cluster, *args):
    o = subprocess.run([sys.executable, "-m", "fovea.ray", *map(str, args), "--address", cluster], capture_output=True, text=True,
                       env=ENV, timeout=600)
    assert "{" in o.stdout, o.stderr[-3000:]
    return o.returncode, json.loads(o.stdout[o.stdout.index("{"):])


def fovea(*args):
    o = subprocess.run([FOVEA, *map(str, args)], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    return o.stdout


def without_timings(doc):
    """The document without its wall-clock figures (the only part two runs may differ in)."""
    if isinstance(doc, dict):
        return {k: without_timings(v) for k, v in doc.items() if k not in ("seconds", "fps") and not k.endswith("_s")}
    if isinstance(doc, list):
        return [without_timings(v) for v in doc]
    return doc


def test_detect_equals_fovea_detect_file_for_file_and_resumes(cluster, col, tmp_path):
    d, doc = col
    cfg = tmp_path / "engine.toml"
    cfg.write_text(f"model = '{MODEL}'\n[tracking]\ntrack_thresh = 0.4\n")
    out = tmp_path / "out"
    rc, s = on_ray(cluster, "detect", d / "collection", "-o", out, "--config", cfg, "--duration", "1")
    assert rc == 1, s  # the two broken clips
    assert s["nodes"] == 2 and s["actors"] == 2 and s["videos"] == 7 and s["done_now"] == 5, s
    assert sorted(s["failed"]) == sorted(doc["broken"]), s["failed"]
    assert "no video stream" in s["failed"][doc["broken"][1]]
    coll = d / "collection"
    for c in doc["clips"]:
        mine = out / (os.path.relpath(c["path"], coll) + ".jsonl")
        fovea("detect", c["path"], "--config", cfg, "--duration", "1", "-q", "-o", tmp_path / "cli.jsonl")
        assert mine.read_bytes() == (tmp_path / "cli.jsonl").read_bytes(), mine
        assert mine.stat().st_size > 0
    for b in doc["broken"]:
        assert not (out / (os.path.relpath(b, coll) + ".jsonl")).exists()
    assert not list(out.rglob("*.tmp")), "no temporary file is left"
    # A rerun skips the done videos and tries the failed ones again; a removed output is redone.
    redo = out / (os.path.relpath(doc["clips"][2]["path"], coll) + ".jsonl")
    want = redo.read_bytes()
    redo.unlink()
    rc, s = on_ray(cluster, "detect", d / "collection", "-o", out, "--config", cfg, "--duration", "1")
    assert (rc, s["skipped"], s["done_now"], len(s["failed"])) == (1, 4, 1, 2), s
    assert redo.read_bytes() == want


def test_detect_in_the_score_vision_format(cluster, col, tmp_path):
    d, doc = col
    one = tmp_path / "in"
    one.mkdir()
    shutil.copy(doc["clips"][0]["path"], one / "a.avi")
    rc, s = on_ray(cluster, "detect", one, "-o", tmp_path / "out", "--model", MODEL, "--format", "scorevision", "--stride", "2")
    assert rc == 0 and s["done_now"] == 1, s
    fovea("detect", one / "a.avi", "--model", MODEL, "--format", "scorevision", "--stride", "2", "-q", "-o", tmp_path / "cli.json")
    assert (tmp_path / "out" / "a.avi.json").read_bytes() == (tmp_path / "cli.json").read_bytes()


def test_keyframes_equal_fovea_keyframes(cluster, tmp_path):
    videos = tmp_path / "videos"
    (videos / "b").mkdir(parents=True)
    shutil.copy(MEDIA / "vtest.avi", videos / "vtest.avi")
    shutil.copy(ROOT / "tests" / "data" / "market_street_10s.mp4", videos / "b" / "street.mp4")
    out = tmp_path / "out"
    rc, s = on_ray(cluster, "keyframes", videos, "-o", out, "--model", MODEL, "--stride", "10", "--max", "3")
    assert rc == 0 and s["done_now"] == 2 and s["nodes"] == 2, s
    for rel in ("vtest.avi", "b/street.mp4"):
        fovea("keyframes", videos / rel, "-o", tmp_path / "cli", "--model", MODEL, "--stride", "10", "--max", "3", "-q")
        mine = json.loads((out / rel / "keyframes.json").read_text())
        cli = json.loads((tmp_path / "cli" / "keyframes.json").read_text())
        assert without_timings(mine) == without_timings(cli), rel
        assert 1 <= len(mine["keyframes"]) <= 3
        assert sorted(p.name for p in (out / rel).iterdir()) == sorted(p.name for p in (tmp_path / "cli").iterdir())
        shutil.rmtree(tmp_path / "cli")
    rc, s = on_ray(cluster, "keyframes", videos, "-o", out, "--model", MODEL, "--stride", "10", "--max", "3")
    assert (rc, s["skipped"], s["done_now"]) == (0, 2, 0), s


def test_score_equals_fovea_score(cluster, tmp_path):
    videos, boxes = tmp_path / "videos", tmp_path / "boxes"
    for name, seed in (("match", 3), ("cup/final", 5)):
        made = tmp_path / f"made{seed}"
        made.mkdir()
        video, sub, _, _ = score_clip.make(made, frames=12, seed=seed)
        (videos / name).parent.mkdir(parents=True, exist_ok=True)
        (boxes / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, videos / f"{name}.mkv")
        shutil.copy(sub, boxes / f"{name}.json")
    shutil.copy(videos / "match.mkv", videos / "orphan.mkv")  # no miner file
    out = tmp_path / "out"
    rc, s = on_ray(cluster, "score", videos, "-o", out, "--boxes", boxes, "--time", "4", "--fastest", "2", "--line-frames", "3")
    assert rc == 1 and s["done_now"] == 2, s
    [(bad, why)] = s["failed"].items()
    assert bad.endswith("orphan.mkv") and "orphan.json" in why, why
    for name in ("match", "cup/final"):
        cli = json.loads(fovea("score", videos / f"{name}.mkv", "--boxes", boxes / f"{name}.json", "--json", "--time", "4", "--fastest", "2",
                               "--line-frames", "3"))
        mine = json.loads((out / f"{name}.mkv.json").read_text())
        assert without_timings(mine) == without_timings(cli), name
        assert mine["final_score"] > 0


def test_embed_equals_fovea_embed(cluster, col, tmp_path):
    d, doc = col
    store = tmp_path / "store"
    fovea("embed", d / "collection", "-o", store)
    out = tmp_path / "ray_store"
    rc, s = on_ray(cluster, "embed", d / "collection", "-o", out)
    assert rc == 0 and s["nodes"] == 2 and s["embedded_now"] == 7, s

    def table(p):
        return pq.read_table(p).to_pandas().sort_values(["path", "frame"], na_position="first").reset_index(drop=True)

    a, b = table(store), table(out)
    assert a.path.tolist() == b.path.tolist() and a.label.tolist() == b.label.tolist()
    assert a.error.isna().tolist() == b.error.isna().tolist() and a.error.notna().sum() == 2
    m = [np.stack(t.embedding[t.embedding.notna()].to_numpy()).astype(np.float64) for t in (a, b)]
    assert np.abs(m[0] - m[1]).max() <= 1e-5
