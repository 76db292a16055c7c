"""`interval` on every face (issue 33): `fovea detect --interval 1`, an engine configuration's
`interval = 1` in the Python binding's file call and stream, and a service job's `interval`
option give the same frames, the same flags (every other frame predicted) and the same boxes."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
CLIP = ROOT / "tests" / "data" / "market_street_10s.mp4"
sys.path.insert(0, str(ROOT / "python"))
os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))


def test_every_face_predicts_the_same_frames(tmp_path):
    import cv2
    import fovea
    from fovea.client import Client, Error
    from test_serve import Server

    o = subprocess.run([FOVEA, "detect", str(CLIP), "-q", "--interval", "1", "--duration", "2", "-o", "-"], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    cli = [json.loads(line) for line in o.stdout.splitlines()]
    assert [f.get("predicted", False) for f in cli] == [i % 2 == 1 for i in range(len(cli))]
    boxes = lambda f: np.array([d["bbox"] for d in f["detections"]], np.float32).reshape(-1, 4)
    with fovea.Engine(config="interval = 1\n[tracking]\nenabled = true\n") as engine:
        got = []
        engine.process_file(str(CLIP), lambda r: got.append(r) if len(got) < len(cli) else False)
        assert [r.predicted for r in got] == [f.get("predicted", False) for f in cli]
        report = engine.last_report()
        assert report["frames_predicted"] == sum(r.predicted for r in got) > 0, "the report counts the predicted frames"
        for r, f in zip(got, cli):
            assert np.array_equal(r.boxes, boxes(f)), f"frame {r.frame}: the file call's boxes are the CLI's"
            assert list(r.track_ids) == [d["track_id"] if d["track_id"] is not None else -1 for d in f["detections"]]
        cap, streamed = cv2.VideoCapture(str(CLIP)), []
        with engine.stream(fps=30) as stream:
            for _ in range(6):
                stream.send(cap.read()[1])
                streamed += list(stream.results())
        assert [r.predicted for r in streamed] == [False, True] * 3, "a stream: every other frame predicted"
        assert all(r.track_ids.min() >= 0 for r in streamed[1::2] if len(r)), "predicted boxes are tracks'"
    with fovea.Engine(config="interval = 1\n[tracking]\nenabled = false\n") as engine:
        try:
            engine.process_file(str(CLIP), lambda r: False)
            raise AssertionError("interval without tracking ran")
        except fovea.Error as e:
            assert "needs tracking" in str(e)
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(CLIP, media / "street.mp4")
    s = Server(media)
    try:
        c = Client(s.url)
        j = c.submit("street.mp4", duration=2, interval=1)["id"]
        status = c.wait(j, timeout=300)
        assert status["state"] == "done"
        served = list(c.results(j))
        assert status["frames_predicted"] == sum(f.get("predicted", False) for f in served) > 0, status
        try:
            c.submit("street.mp4", interval=1, tracking=False)
            raise AssertionError("a job's interval without tracking was taken")
        except Error as e:
            assert e.status == 400 and "options.interval" in e.message
    finally:
        s.stop()
    assert served == cli, "the service's job equals fovea detect --interval 1"
