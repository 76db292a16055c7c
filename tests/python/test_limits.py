"""Hostile sizes outside the service (issue 34): two frames of 10,000 boxes through the CLI and
the C ABI, a 150 MB miner file, and the Python binding's checks of boxes and strings. Each bound
is generous (several times what fovea needs here) and far below what the old code took (over
120 s and 9.6 GB for the boxes; 18x the file's size for the miner file)."""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if not os.environ.get("FOVEA_INSTALLED"):
    sys.path.insert(0, str(ROOT / "python"))
    os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))
import fovea  # noqa: E402

FOVEA_BIN = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
MODEL = ROOT / "engines" / "nanodet-g-416.toml"


def measured(cmd, **kw):
    """Runs `cmd`; (returncode, stdout, stderr, seconds, peak resident MiB of the program).

    The peak is the program's own VmHWM (/proc, polled every 20 ms until it exits): rusage's
    maxrss would also count the pytest process the child was forked from."""
    t = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, **kw)
        peak = 0
        while True:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                pass
            pid, status = os.waitpid(p.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read().decode(), err.read().decode(), time.monotonic() - t, peak / 1024


def crowd(seed, n=10_000):
    """`n` boxes over a 1920x1080 frame, each overlapping several others."""
    r = np.random.default_rng(seed)
    x, y = r.uniform(0, 1880, n), r.uniform(0, 990, n)
    return np.stack([x, y, x + 40, y + 90], axis=1)


def test_two_frames_of_ten_thousand_boxes_through_the_cli(tmp_path):
    a = crowd(1)
    b = a + np.random.default_rng(2).uniform(-1, 1, a.shape)
    lines = [json.dumps({"frame": f, "pts": f / 25, "detections": [
        {"bbox": [float(v) for v in box], "score": 0.9, "class_id": 0} for box in boxes]}) for f, boxes in enumerate((a, b))]
    (tmp_path / "boxes.jsonl").write_text("\n".join(lines) + "\n")
    rc, _, err, secs, mib = measured([FOVEA_BIN, "track", "--boxes", str(tmp_path / "boxes.jsonl"), "-o", str(tmp_path / "out.jsonl")])
    assert rc == 0, err
    assert secs < 30 and mib < 1024, f"{secs:.1f} s, {mib:.0f} MiB"
    f0, f1 = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    ids0 = [d["track_id"] for d in f0["detections"]]
    ids1 = [d["track_id"] for d in f1["detections"]]
    kept = sum(1 for p, q in zip(ids0, ids1) if p is not None and p == q)
    assert len(ids1) == 10_000 and kept >= 9_000, f"{kept} of 10,000 still boxes kept their track"


CABI = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import fovea
r = np.random.default_rng(1)
x, y = r.uniform(0, 1880, 10000), r.uniform(0, 990, 10000)
a = np.stack([x, y, x + 40, y + 90], axis=1)
frame = np.zeros((1080, 1920, 3), np.uint8)
with fovea.Engine(config=f"model = '{sys.argv[2]}'\\n[tracking]\\nenabled = true") as e, e.stream(fps=25) as s:
    for f, boxes in enumerate((a, a + 0.5)):
        s.send(frame, pts=f / 25, boxes=[(*b, 0.9, 0) for b in boxes.tolist()])
    s.flush()
    res = list(s.results())
    assert len(res) == 2 and len(res[1].detections) == 10000, [len(r.detections) for r in res]
    kept = sum(1 for p, q in zip(res[0].detections, res[1].detections) if p.track_id >= 0 and p.track_id == q.track_id)
    print(kept)
"""


def test_two_frames_of_ten_thousand_boxes_through_the_c_abi(tmp_path):
    env = dict(os.environ)
    rc, out, err, secs, mib = measured([sys.executable, "-c", CABI, str(ROOT / "python"), str(MODEL)], env=env)
    assert rc == 0, err
    assert int(out.strip()) >= 9_000, out
    assert secs < 60 and mib < 2048, f"{secs:.1f} s, {mib:.0f} MiB"


def test_a_150_mb_miner_file_is_read_as_a_stream(tmp_path):
    """Peak memory is bounded by the boxes kept (documented: 64 MiB + 64 bytes a box), not by a
    JSON tree of the file (about 18x its size before: 2.7 GB here). 150 MB, not the 400 MB of
    docs/limits.md's measurement: the same bound at 25 s less of `make test`."""
    path = tmp_path / "miner.json"
    one = ",".join(f'{{"id": {k}, "bbox": [{10 * k % 1800}, {7 * k % 1000}, {10 * k % 1800 + 30}, {7 * k % 1000 + 70}], '
                   f'"class_id": {k % 4}, "confidence": 0.87}}' for k in range(100))
    frames = 0
    with open(path, "w") as f:
        f.write('{"frames": {')
        while f.tell() < 150_000_000:
            f.write(("," if frames else "") + f'"{frames}": {{"objects": [{one}]}}')
            frames += 1
        f.write("}}")
    boxes, size = frames * 100, path.stat().st_size
    try:
        rc, _, err, secs, mib = measured([FOVEA_BIN, "track", "--boxes", str(path), "-o", "/dev/null"])
    finally:
        path.unlink()  # 150 MB: not left in pytest's kept temporary folders (CI's disk is small)
    assert rc == 0, err
    bound = 64 + boxes * 64 / 2**20
    print(f"{size / 1e6:.0f} MB, {boxes} boxes: {secs:.1f} s, peak {mib:.0f} MiB (bound {bound:.0f} MiB)")
    assert mib < bound, f"peak {mib:.0f} MiB over the documented bound {bound:.0f} MiB"


@pytest.fixture(scope="module")
def engine():
    with fovea.Engine(config=f"model = '{MODEL}'") as e:
        yield e


def test_the_binding_checks_class_ids_instead_of_wrapping(engine):
    frame = np.zeros((64, 64, 3), np.uint8)
    with engine.stream() as s:
        for cls in (2**32, 65536, -1):
            with pytest.raises(ValueError, match=f"class_id {cls} is outside 0..=65535"):
                s.send(frame, boxes=[(1, 1, 20, 20, 0.9, cls)])
        with pytest.raises(ValueError, match="does not fit in 64 bits"):
            s.send(frame, boxes=[(1, 1, 20, 20, 0.9, 0, 2**63)])
        # A box that is not finite is invalid, never kept (no rules configured).
        s.send(frame, boxes=[(float("nan"), 1, 20, 20, 0.9, 0), (1, 1, 20, 20, float("inf"), 0), (1, 1, 20, 20, 0.9, 0)])
        s.flush()
        (r,) = list(s.results())
        assert [d.verdict for d in r.detections].count("invalid") == 2
        assert any(d.verdict == "keep" for d in r.detections)


def test_the_binding_refuses_nul_in_strings(engine, tmp_path):
    for call in (lambda: engine.process_file("a.mp4\0.txt"),
                 lambda: engine.verify_file("a.mp4", "b\0.json"),
                 lambda: fovea.score("v.mp4\0", "b.json"),
                 lambda: fovea.embed([], tmp_path / "s\0x"),
                 lambda: fovea.Engine(path="x\0.toml"),
                 lambda: fovea.Engine(config="model = 'a'\0")):
        with pytest.raises(ValueError, match="NUL byte"):
            call()


def test_a_closed_stream_says_so(engine):
    s = engine.stream()
    s.close()
    for call in (s.report, s.flush, s.receive, lambda: s.send(np.zeros((8, 8, 3), np.uint8))):
        with pytest.raises(fovea.Error, match="the stream is closed"):
            call()
