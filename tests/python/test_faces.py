"""Every face runs the one stage chain: Python gets the CLI's colour teams and classifier labels
on the composited sprite clip, from the engine's file call (`fovea detect --teams --classifier`)
and its verify call (`fovea verify --teams --classifier`), and its own frames with boxes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from sprite_clip import make

ROOT = Path(__file__).resolve().parents[2]
# The source tree's binding and build; with FOVEA_INSTALLED, the installed package (the pip
# wheel: scripts/test_wheel.sh).
if not os.environ.get("FOVEA_INSTALLED"):
    sys.path.insert(0, str(ROOT / "python"))
    os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))
import fovea  # noqa: E402

FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
MODEL = ROOT / "engines" / "nanodet-g-416.toml"
ENCODER = ROOT / "tests" / "data" / "tiny_clip.toml"
CONFIG = f"model = '{MODEL}'\nteams = true\n[classifier]\nkind = 'zeroshot'\nencoder = '{ENCODER}'\n"


def test_python_detects_with_the_clis_teams_and_labels(tmp_path):
    video, _, _ = make(tmp_path)
    out = tmp_path / "d.jsonl"
    o = subprocess.run([FOVEA, "detect", str(video), "--teams", "--classifier", str(ENCODER), "--model", str(MODEL), "-q", "-o", str(out)],
                       capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    cli = [json.loads(l) for l in out.read_text().splitlines()]
    with fovea.Engine(config=CONFIG) as e:
        got = e.process_file(str(video))
        report = e.last_report()
    assert len(got) == len(cli)
    teams = labelled = 0
    for r, c in zip(got, cli):
        assert len(r) == len(c["detections"]), r.frame
        for d, cd in zip(r.detections, c["detections"]):
            assert (d.label, d.team, d.track_id) == (cd["label"], cd["team"], cd["track_id"]), (r.frame, d, cd)
            assert d.source == cd["source"], (r.frame, d, cd)
            teams += d.team is not None
            labelled += d.source in ("classifier", "track")
    assert teams > 20 and labelled > 0, (teams, labelled)
    assert report["teams"]["team_0"] + report["teams"]["team_1"] == teams, report


def test_python_verifies_with_the_clis_teams_and_labels(tmp_path):
    video, boxes, frames = make(tmp_path)
    out = tmp_path / "v.jsonl"
    o = subprocess.run([FOVEA, "verify", str(video), "--boxes", str(boxes), "--teams", "--classifier", str(ENCODER), "-o", str(out)],
                       capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    cli = [json.loads(l) for l in out.read_text().splitlines()]
    with fovea.Engine(config=CONFIG) as e:
        got = [(r.frame, k, d) for r in e.verify_file(str(video), str(boxes)) for k, d in enumerate(r.detections)]
    assert len(got) == len(cli)
    by_colour = by_classifier = 0
    for (frame, k, d), c in zip(got, cli):
        assert (frame, k) == (c["frame"], c["index"])
        assert (d.verdict, d.rule, d.team) == (c["verdict"], c["rule"], c["team"]), (frame, k, d, c)
        assert d.track_id == c["id"]
        # The line names a team player "player" (source colour) and keeps a rejected box's label;
        # the result's label is what the object is (the classifier's rejection label, or the
        # box's class) and its source who said so.
        if d.team is None:
            assert d.source == c["source"], (frame, k, d, c)
            if not (d.rule or "").startswith("classifier:"):
                assert d.label == c["label"], (frame, k, d, c)
        else:
            assert (d.source, c["source"], c["label"]) == ("filter", "colour", "player"), (d, c)
        if c["scores"]:
            assert d.probabilities == pytest.approx({l: p for l, p in c["scores"]}, rel=1e-6)
        by_colour += c["source"] == "colour"
        by_classifier += d.source == "classifier"
    assert by_colour > 20 and by_classifier > 0, (by_colour, by_classifier)

    # The caller's own frames with their boxes, on a stream (teams without a classifier: a
    # stream cannot decode the frames again for it): the teams of `fovea verify --teams`.
    o = subprocess.run([FOVEA, "verify", str(video), "--boxes", str(boxes), "--teams", "-o", str(out)], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    cli = [json.loads(l) for l in out.read_text().splitlines()]
    sv = {"football": 0, "goalkeeper": 1, "player": 2, "referee": 3}
    with fovea.Engine(config=f"model = '{MODEL}'\nteams = true\n[tracking]\nenabled = false\n[rules]\n") as e:
        s = e.stream(25)
        cap = cv2.VideoCapture(str(video))
        f = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            objs = frames[str(f)]["objects"]
            # Score Vision class ids are the engine's (COCO) labels here: send the class by name.
            boxes_f = [(*ob["bbox"], 1.0, 0, ob["id"]) for ob in objs]
            s.send(frame, pts=f / 25, boxes=boxes_f)
            f += 1
        assert list(s.results()) == [], "teams hold the clip's results until flush"
        s.flush()
        rep = s.report()
        assert rep["frames_processed"] == f and rep["detections"] == sum(len(fr["objects"]) for fr in frames.values()), rep
        assert rep["seconds"]["rules"] > 0 and rep["seconds"]["inference"] == 0 and rep["rois"]["measured"] > 0, rep
        assert rep["teams"]["team_0"] + rep["teams"]["team_1"] > 20, rep
        got = [(r.frame, k, d) for r in s.results() for k, d in enumerate(r.detections)]
    assert len(got) == len(cli)
    for (frame, k, d), c in zip(got, cli):
        assert (frame, k, d.track_id) == (c["frame"], c["index"], c["id"])
        assert (d.verdict, d.team) == (c["verdict"], c["team"]), (frame, k, d, c)
        if d.source == "colour":
            assert d.label == c["label"] and c["label"] in sv, (d, c)
