"""The Python binding (python/fovea, ctypes over the C API) on real media: frames decoded by
OpenCV in Python and sent without copying, results as objects and NumPy arrays, exceptions
carrying fovea's message, and agreement with the CLI on the same file."""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The source tree's binding and build; with FOVEA_INSTALLED, the installed package (the pip
# wheel: scripts/test_wheel.sh).
if not os.environ.get("FOVEA_INSTALLED"):
    sys.path.insert(0, str(ROOT / "python"))
    os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))
import fovea  # noqa: E402

MEDIA = Path(os.environ.get("FOVEA_MEDIA", ROOT.parent / "shared" / "media"))
VTEST = MEDIA / "vtest.avi"
MODEL = ROOT / "engines" / "nanodet-g-416.toml"
FOVEA_BIN = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
N = 15


@pytest.fixture(scope="module")
def engine():
    with fovea.Engine(config=f"model = '{MODEL}'") as e:
        yield e


@pytest.fixture(scope="module")
def frames():
    cap = cv2.VideoCapture(str(VTEST))
    out = []
    while len(out) < N:
        ok, f = cap.read()
        assert ok
        out.append(f)
    return out


def run(engine, frames, fmt="bgr", convert=lambda f: f):
    with engine.stream(fps=10) as s:
        res = []
        for i, f in enumerate(frames):
            s.send(convert(f), pts=i / 10, format=fmt)
            res.extend(s.results())
        s.flush()
        res.extend(s.results())
        assert s.receive() is None
    return res


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    i = iw * ih
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)


def test_opencv_frames_in_bgr_and_rgb_give_the_same_results(engine, frames):
    bgr = run(engine, frames)
    rgb = run(engine, frames, "rgb", lambda f: np.ascontiguousarray(f[..., ::-1]))
    assert [r.frame for r in bgr] == list(range(N))
    assert sum(len(r) for r in bgr) >= 40
    for a, b in zip(bgr, rgb):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.track_ids, b.track_ids)
        assert a.labels == b.labels
    d = bgr[5].detections[0]
    assert d.label == "person" and 0 < d.score <= 1 and len(d.bbox) == 4
    assert bgr[5].boxes.dtype == np.float32 and bgr[5].boxes.shape == (len(bgr[5]), 4)
    assert any(t >= 1 for r in bgr for t in r.track_ids), "tracking is on by default"


def test_frames_are_not_copied_and_padded_rows_work(engine, frames):
    big = np.zeros((576, 800, 3), np.uint8)
    big[:, :768] = frames[0]
    view = big[:, :768]
    a, ptr, length, w, h, stride = fovea.Stream.frame_args(view)
    assert ptr == big.ctypes.data and stride == 800 * 3 and (w, h) == (768, 576), "sent without a copy"
    assert length == 800 * 3 * 575 + 768 * 3
    one = run(engine, [frames[0]])
    padded = run(engine, [view])
    np.testing.assert_array_equal(one[0].boxes, padded[0].boxes)


def test_flipped_and_broadcast_views_are_sent_as_their_pixels(engine, frames):
    """Regression: views with a negative (or zero) row stride were sent as they were, and fovea
    read memory outside the array. They are copied into a forward layout first."""
    flipped = frames[0][::-1]
    a, ptr, length, w, h, stride = fovea.Stream.frame_args(flipped)
    assert stride == w * 3 and a.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(a, flipped)
    np.testing.assert_array_equal(run(engine, [flipped])[0].boxes, run(engine, [np.ascontiguousarray(flipped)])[0].boxes)
    row = np.broadcast_to(frames[0][:1], frames[0].shape)
    assert fovea.Stream.frame_args(row)[5] == row.shape[1] * 3
    nv12 = np.zeros((576 * 3 // 2, 768), np.uint8)
    nv12[:576] = cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY)
    nv12[576:] = 128
    a, ptr, length, w, h, stride = fovea.Stream.frame_args(nv12[::-1], "nv12")
    assert stride == 768 and (w, h) == (768, 576)
    np.testing.assert_array_equal(a, nv12[::-1])


def test_results_match_the_cli_and_opencv_frames_find_the_same_people(engine, frames, tmp_path):
    out = tmp_path / "cli.jsonl"
    subprocess.run([FOVEA_BIN, "detect", str(VTEST), "--model", str(MODEL), "--duration", "1.5", "-q", "-o", str(out)], check=True)
    cli = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(cli) == N
    # The file call decodes with fovea, as the CLI does: the same boxes (the CLI rounds).
    collected = []
    engine.process_file(str(VTEST), lambda r: collected.append(r) or len(collected) < N)
    assert len(collected) == N
    for r, c in zip(collected, cli):
        assert r.frame == c["frame"] and len(r) == len(c["detections"])
        for b, t, d in zip(r.boxes, r.track_ids, c["detections"]):
            np.testing.assert_allclose(b, d["bbox"], atol=0.006)
            assert (None if t < 0 else t) == d["track_id"]
    # OpenCV decodes with its own FFmpeg build and colour conversion: the same people, not the
    # same pixels.
    mine = run(engine, frames)
    strong = found = 0
    for c, r in zip(cli, mine):
        for d in (d for d in c["detections"] if d["score"] >= 0.4):
            strong += 1
            found += any(l == d["label"] and iou(b, d["bbox"]) >= 0.8 for b, l in zip(r.boxes, r.labels))
    assert strong >= 20 and found >= 0.9 * strong, (found, strong)


def test_nv12_frames(engine, frames):
    yuv = [cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420) for f in frames[:3]]
    nv12 = []
    for y in yuv:
        h = y.shape[0] * 2 // 3
        u, v = y[h:h + h // 4].reshape(-1), y[h + h // 4:].reshape(-1)
        uv = np.empty(u.size * 2, np.uint8)
        uv[0::2], uv[1::2] = u, v
        nv12.append(np.vstack([y[:h], uv.reshape(h // 2, -1)]))
    res = run(engine, nv12, "nv12")
    ref = run(engine, frames[:3])
    for a, b in zip(res, ref):
        assert abs(len(a) - len(b)) <= 2
        assert sum(any(iou(x, y) >= 0.8 for y in b.boxes) for x in a.boxes) >= 0.8 * len(a)


def test_two_threads_with_their_own_streams_equal_one(engine, frames):
    alone = run(engine, frames)
    outs = [None, None]

    def work(k):
        outs[k] = run(engine, frames)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for o in outs:
        for a, b in zip(o, alone):
            np.testing.assert_array_equal(a.boxes, b.boxes)
            np.testing.assert_array_equal(a.track_ids, b.track_ids)


def test_errors_carry_fovea_messages(engine, frames, tmp_path):
    with pytest.raises(fovea.Error) as e:
        fovea.Engine(config="model = ")
    assert e.value.status == 103 and "invalid configuration" in str(e.value)
    with pytest.raises(fovea.Error) as e:
        fovea.Engine(config=f"model = '{MODEL}'\nprovider = 'tensorrt'")
    assert e.value.status == 108 and "allow_fallback" in e.value.message
    # Allowed: a CPU engine that says so and why.
    cpu = fovea.Engine(config=f"model = '{MODEL}'\nprovider = 'tensorrt'\nallow_fallback = true")
    assert cpu.provider.startswith("CPUExecutionProvider (CPU fallback, as allowed: tensorrt on cuda:0")
    cpu.close()
    with pytest.raises(fovea.Error) as e:
        fovea.Engine(path=str(tmp_path / "missing.toml"))
    assert e.value.status == 102
    with pytest.raises(ValueError):
        engine.stream().send(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        engine.stream().send(np.zeros((10, 10, 3), np.float32))
    s = engine.stream()
    with pytest.raises(fovea.Error) as e:
        s.send(np.zeros((3, 9), np.uint8), format="nv12")  # NV12 needs an even width
    assert e.value.status == 101 and "even width" in e.value.message
    s.close()
    s = engine.stream()
    s.flush()
    with pytest.raises(fovea.Error) as e:
        s.send(frames[0])
    assert e.value.status == 111 and "flushed" in e.value.message
    with pytest.raises(fovea.Error) as e:
        engine.process_file(str(ROOT / "README.md"))
    assert e.value.status == 106
    with pytest.raises(ZeroDivisionError):
        engine.process_file(str(VTEST), lambda r: 1 / 0)
    assert fovea.version() == "0.1.0"


def test_the_engine_classifier_gives_the_cli_labels(tmp_path):
    """`[classifier] kind = "zeroshot"` in an engine configuration runs the same stage as
    `fovea detect --classifier`: the same labels, from the same sources, per detection."""
    enc = ROOT / "tests/data/tiny_clip.toml"
    out = tmp_path / "cli.jsonl"
    subprocess.run([FOVEA_BIN, "detect", str(VTEST), "--model", str(MODEL), "--classifier", str(enc), "--duration", "1.0", "-q",
                    "-o", str(out)], check=True)
    cli = [json.loads(l) for l in out.read_text().splitlines()]
    config = f"model = '{MODEL}'\n[classifier]\nkind = 'zeroshot'\nencoder = '{enc}'\n"
    with fovea.Engine(config=config) as e:
        got = []
        e.process_file(str(VTEST), lambda r: got.append(r) or len(got) < len(cli))
    assert len(got) == len(cli) == 10
    sources = set()
    for r, c in zip(got, cli):
        assert r.labels == [d["label"] for d in c["detections"]], r.frame
        assert r.sources == [d["source"] for d in c["detections"]], r.frame
        sources.update(r.sources)
    assert {"classifier", "track"} <= sources, sources
    with pytest.raises(fovea.Error) as err:
        fovea.Engine(config=f"model = '{MODEL}'\n[classifier]\nkind = 'zeroshot'\n")
    assert "needs an encoder manifest" in str(err.value)


def test_one_configuration_file_drives_the_cli_and_python_alike(tmp_path):
    """The same engine configuration file (classifier and tracking included) given to
    `fovea detect --config` and to `fovea.Engine(path=...)`: identical boxes, scores, track ids,
    labels and sources, value for value."""
    cfg = tmp_path / "engine.toml"
    cfg.write_text(f"model = '{MODEL}'\nthreads = 2\n[tracking]\ntrack_thresh = 0.4\n"
                   f"[classifier]\nkind = 'zeroshot'\nencoder = '{ROOT / 'tests/data/tiny_clip.toml'}'\n")
    out = tmp_path / "cli.jsonl"
    subprocess.run([FOVEA_BIN, "detect", str(VTEST), "--config", str(cfg), "--duration", "1.0", "-q", "-o", str(out)], check=True)
    cli = [json.loads(l) for l in out.read_text().splitlines()]
    with fovea.Engine(path=str(cfg)) as e:
        assert e.last_report() is None
        got = []
        e.process_file(str(VTEST), lambda r: got.append(r) or len(got) < len(cli))
        rep = e.last_report()
    assert len(got) == len(cli) == 10
    for r, c in zip(got, cli):
        d = c["detections"]
        assert r.frame == c["frame"]
        np.testing.assert_array_equal(r.boxes, np.array([x["bbox"] for x in d], np.float32).reshape(-1, 4))
        np.testing.assert_array_equal(r.scores, np.array([x["score"] for x in d], np.float32))
        assert [None if t < 0 else int(t) for t in r.track_ids] == [x["track_id"] for x in d]
        assert r.labels == [x["label"] for x in d] and r.sources == [x["source"] for x in d]
    # The run report, as the CLI prints it: frames, detections, classifier calls made and saved.
    dets = sum(len(r) for r in got)
    assert rep["frames_processed"] in (len(got) - 1, len(got)) and rep["frames_decoded"] >= len(got), rep
    assert rep["provider"] == "CPUExecutionProvider" and rep["model"] == "nanodet-g-416"
    assert rep["per_class"]["person"] >= 1 and rep["detections"] >= sum(len(r) for r in got[:-1])
    c = rep["classifier"]
    assert c["calls_made"] > 0 and c["calls_saved"] > 0 and c["calls_made"] + c["calls_saved"] <= dets, (c, dets)
    assert set(rep["seconds"]) == {"decode", "convert", "preprocess", "wait", "inference", "postprocess", "track", "stats", "rules",
                                   "roi_tensors", "classifier", "pitch", "output", "wall"}
    assert rep["seconds"]["track"] > 0 and rep["boxes"] is None and rep["rois"]["measured"] == 0, rep
    assert rep["tracks"] >= 1
    # The chain it ran with: the configuration's tracking threshold, no rules, every frame.
    chain = rep["chain"]
    assert chain["tracking"]["track_thresh"] == pytest.approx(0.4) and chain["rules"] is None and chain["interval"] == 0, chain


def test_an_engine_without_arguments_runs_the_default_model():
    # As `fovea detect` without --model: NanoDet-g 416, the fastest model and runtime within the
    # agreement bar (OpenVINO INT8 on CPUs with VNNI), else fp32 on ONNX Runtime.
    with fovea.Engine() as e:
        assert "person" in e.labels and "sports_ball" in e.labels
        assert e.provider.startswith(("OpenVINO 2026.4.1 CPU plugin", "CPUExecutionProvider")), e.provider
        cap = cv2.VideoCapture(str(VTEST))
        ok, frame = cap.read()
        assert ok
        with e.stream(fps=10) as s:
            s.send(frame, pts=0.0, format="bgr")
            s.flush()
            people = [label for r in s.results() for label in r.labels if label == "person"]
        assert len(people) >= 3, people
