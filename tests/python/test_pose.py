"""A pose model's keypoints (issue 32) on every face: `fovea detect`'s JSONL, the Python
binding's file call and stream, and a `fovea serve` job give each detection the same keypoints
(tests/data/pose_v8_k3: a tiny Ultralytics YOLOv8 pose graph with 32 keypoints, random weights;
its decoding is checked against Ultralytics by tests/it/pose.rs)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
MODEL = ROOT / "tests" / "data" / "pose_v8_k3.toml"
CLIP = ROOT / "tests" / "data" / "market_street_10s.mp4"
sys.path.insert(0, str(ROOT / "python"))
os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))


def cli(*extra):
    o = subprocess.run([FOVEA, "detect", str(CLIP), "--model", str(MODEL), "-q", "--no-track", "--duration", "1", "-o", "-", *extra],
                       capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    return [json.loads(line) for line in o.stdout.splitlines()]


def test_every_detection_carries_the_models_keypoints():
    frames = cli()
    assert len(frames) == 30
    dets = [d for f in frames for d in f["detections"]]
    assert len(dets) > 100
    for d in dets:
        k = np.array(d["keypoints"], np.float32)
        assert k.shape == (32, 3)
        assert (k[:, 2] >= 0).all() and (k[:, 2] <= 1).all(), "confidences are sigmoids"
        assert (k[:, 0] >= 0).all() and (k[:, 0] <= 640).all() and (k[:, 1] >= 0).all() and (k[:, 1] <= 360).all(), \
            "keypoints are in frame pixels, clipped to the frame"
    assert "keypoints" not in frames[0], "no pitch stage: no frame keypoints"
    plain = subprocess.run([FOVEA, "detect", str(CLIP), "-q", "--duration", "0.2", "-o", "-"], capture_output=True, text=True)
    assert plain.returncode == 0 and all("keypoints" not in d for line in plain.stdout.splitlines()
                                          for d in json.loads(line)["detections"]), "a model without keypoints gives none"


def test_every_face_gives_the_clis_keypoints(tmp_path):
    import cv2
    import fovea
    from fovea.client import Client
    from test_serve import Server

    want = [[d["keypoints"] for d in f["detections"]] for f in cli()]
    with fovea.Engine(config=f'model = "{MODEL}"\n[tracking]\nenabled = false\n') as engine:
        got = []
        engine.process_file(str(CLIP), lambda r: got.append([d.keypoints for d in r.detections]) if len(got) < 30 else False)
        assert len(got) == 30
        for g, w in zip(got, want):
            assert len(g) == len(w)
            # The JSONL holds the f32 values as their shortest decimals: equal as f32.
            assert all(np.array_equal(np.array(a, np.float32), np.array(b, np.float32)) for a, b in zip(g, w))
        cap, streamed = cv2.VideoCapture(str(CLIP)), []
        with engine.stream(fps=30) as stream:
            for _ in range(5):
                stream.send(cap.read()[1])
            for r in stream.results():
                streamed.append(r)
        assert len(streamed) == 5
        for r in streamed:
            assert len(r.object_keypoints) == len(r) and all(np.array(k).shape == (32, 3) for k in r.object_keypoints)
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(CLIP, media / "street.mp4")
    s = Server(media, "--model", str(MODEL))
    try:
        c = Client(s.url)
        j = c.submit("street.mp4", duration=1, tracking=False)["id"]
        assert c.wait(j, timeout=300)["state"] == "done"
        served = [[d["keypoints"] for d in f["detections"]] for f in c.results(j)]
    finally:
        s.stop()
    assert served == want, "a service job's keypoints are the CLI's"
