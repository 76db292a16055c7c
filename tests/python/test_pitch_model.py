"""The pitch stage from a keypoint model (issue 32): `--pitch-model` every frame or every N
frames, the lines carrying the model's homography to the frames between, and the model run again
at a cut. The model is an ONNX graph made here whose output, in Ultralytics' pose layout
([1, 4 + 1 + 3 x 32, 1]), is one detection holding the true keypoints of a given camera whatever
the frame (a stand-in for a trained pitch model that is right on the frames it sees), so that
what is checked is the stage: when it runs the model, what it makes of its keypoints, how the
lines carry them. Clips: score_clip.py painting pitch_clip.py's camera paths."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pitch_clip
import pose_stand_in
import score_clip

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
FRAMES = 24


def pitch_model(tmp, keypoints):
    """A pose graph whose one detection carries `keypoints` (frame pixels; (0, 0): not seen)."""
    return pose_stand_in.constant(tmp, keypoints, score_clip.W, score_clip.H)


def run(video, model, *extra, confidences=None):
    o = subprocess.run([FOVEA, "detect", str(video), "-q", "--no-track", "--pitch-model", str(model), *extra, "-o", "-"],
                       capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    lines = [json.loads(line) for line in o.stdout.splitlines()]
    if confidences is not None:
        confidences.extend(np.array(f["keypoint_confidences"]) for f in lines)
    return [np.array(f["keypoints"]) for f in lines], o.stderr


def errors(ours, truth):
    both = (ours != 0).any(1) & (truth != 0).any(1)
    return np.linalg.norm(ours[both] - truth[both], axis=1), both.sum()


def truth_of(frames):
    return [np.array(frames[str(f)]["keypoints"]) for f in range(FRAMES)]


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    cam = pitch_clip.camera_at(pitch_clip.POS, (3600, 3400), 40)
    return score_clip.make(tmp_path_factory.mktemp("still"), frames=FRAMES, cam=lambda f: cam)


@pytest.fixture(scope="module")
def pan(tmp_path_factory):
    return score_clip.make(tmp_path_factory.mktemp("pan"), frames=FRAMES, cam=pitch_clip.path("pan", FRAMES))


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    return score_clip.make(tmp_path_factory.mktemp("cut"), frames=FRAMES, cam=pitch_clip.path("cut", FRAMES))


def test_the_models_keypoints_every_frame(still, tmp_path):
    video, _, frames, _ = still
    truth = truth_of(frames)
    conf = []
    got, log = run(video, pitch_model(tmp_path, truth[0]), confidences=conf)
    assert f"model on {FRAMES} frames" in log and f"keypoints in {FRAMES} of {FRAMES} frames" in log
    for ours, t, c in zip(got, truth, conf):
        assert ours.shape == (32, 2)
        seen = (ours != 0).any(1)
        assert np.allclose(c[seen], 0.9) and (c[~seen] == 0).all(), "the model's confidences, 0 where not seen"
        assert ((ours != 0).any(1) == (t != 0).any(1)).all(), "the points the model sees, and only those"
        err, n = errors(ours, t)
        assert n >= 8 and err.max() < 2.0, f"{err.max():.2f} px: the model's points as they are"


def test_every_n_frames_the_lines_carry_the_model_between(still, tmp_path):
    video, _, frames, _ = still
    truth = truth_of(frames)
    conf = []
    got, log = run(video, pitch_model(tmp_path, truth[0]), "--pitch-every", "5", confidences=conf)
    assert f"model on {len(range(0, FRAMES, 5))} frames, lines between" in log, log
    for f, (ours, t) in enumerate(zip(got, truth)):
        seen = (ours != 0).any(1)
        if f % 5:
            # Between the model's frames: the lines' fit, the same for every point seen.
            assert len(set(conf[f][seen])) == 1 and 0.6 <= conf[f][seen][0] <= 1, conf[f]
        err, n = errors(ours, t)
        assert n >= 8 and np.median(err) < 3.0, f"frame {f}: {np.median(err):.1f} px off"


def test_the_lines_carry_the_models_homography_through_a_pan(pan, tmp_path):
    video, _, frames, _ = pan
    truth = truth_of(frames)
    got, log = run(video, pitch_model(tmp_path, truth[0]), "--pitch-every", "1000")
    assert "model on 1 frames, lines between" in log, log
    assert f"keypoints in {FRAMES} of {FRAMES} frames" in log
    for f, (ours, t) in enumerate(zip(got, truth)):
        err, n = errors(ours, t)
        assert n >= 4 and np.median(err) < 6.0, f"frame {f}: {np.median(err):.1f} px off"
    # The last frame's camera looks far from the first's: what the model said is not it.
    assert errors(got[0], truth[-1])[1] < 4 or np.median(errors(got[0], truth[-1])[0]) > 50


def test_a_cut_runs_the_model_at_once(cut, tmp_path):
    video, _, frames, _ = cut
    truth = truth_of(frames)
    model_says = pitch_model(tmp_path, truth[0])
    got, log = run(video, model_says, "--pitch-every", "1000")
    first = got[0]
    # Frames before the cut: tracked by the lines (not the model's frame-0 points repeated).
    for f in range(1, FRAMES // 2):
        err, n = errors(got[f], truth[f])
        assert n >= 4 and np.median(err) < 6.0, f"frame {f}: {np.median(err):.1f} px off"
        assert not np.array_equal(got[f], first)
    # The cut's frame loses the lines: the model runs on it at once (its points are the model's).
    assert np.array_equal(got[FRAMES // 2], first), "the model ran on the cut's frame"
    runs = int(log.split("model on ")[1].split(" frames")[0])
    assert 2 <= runs <= FRAMES // 2 + 1, log
