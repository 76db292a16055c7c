"""`fovea mine` (issue 32): the miner's response on composited broadcast clips with known cameras
(score_clip.py painting pitch_clip.py's camera paths), pitch keypoints from the white lines alone;
checked against the true keypoints and by the validator's score (`fovea score`). Also `--pitch` on
`fovea detect`, and no keypoints where there is no pitch."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pitch_clip
import score_clip

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
MEDIA = ROOT.parent / "shared" / "media"
FRAMES = 24


@pytest.fixture(scope="module", params=["cut", "zoom"])
def clip(request, tmp_path_factory):
    return score_clip.make(tmp_path_factory.mktemp(request.param), frames=FRAMES, cam=pitch_clip.path(request.param, FRAMES))


def mine(video, out, *extra):
    o = subprocess.run([FOVEA, "mine", str(video), "-o", str(out), "-q", *extra], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    return json.loads(Path(out).read_text()), o


@pytest.fixture(scope="module")
def mined(clip, tmp_path_factory):
    """`fovea mine` on the clip with its defaults, run once for the tests that read it."""
    return mine(clip[0], tmp_path_factory.mktemp("mined") / "resp.json")


def detect_pitch(video, *extra):
    o = subprocess.run([FOVEA, "detect", str(video), "-q", "--pitch", "lines", *extra], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    return o.stdout


@pytest.fixture(scope="module")
def detected(clip):
    """`fovea detect --pitch lines` on the clip (JSONL), run once for the tests that read it."""
    return [json.loads(x) for x in detect_pitch(clip[0]).splitlines()]


def keypoint_score(video, frames, keypoints, tmp_path, name):
    sub = {"frames": {k: {"objects": [{x: o[x] for x in ("id", "bbox", "class_id")} for o in f["objects"]], "keypoints": keypoints[k]}
                      for k, f in frames.items()}}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(sub))
    o = subprocess.run([FOVEA, "score", str(video), "--boxes", str(path), "--json"], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    return json.loads(o.stdout)["keypoints"]["score"]


def test_the_response_has_every_frame_with_32_keypoints_near_the_true_ones(clip, mined):
    _, _, frames, _ = clip
    resp, run = mined
    assert set(resp["frames"]) == set(frames), "one entry per frame, keyed by frame number"
    assert resp["processing_time"] > 0
    registered = 0
    for k, f in frames.items():
        ours, truth = np.array(resp["frames"][k]["keypoints"]), np.array(f["keypoints"])
        assert ours.shape == (32, 2)
        seen = (ours != 0).any(1)
        registered += seen.any()
        both = seen & (truth != 0).any(1)
        if both.any():
            err = np.linalg.norm(ours[both] - truth[both], axis=1)
            assert np.median(err) < 6.0, f"frame {k}: keypoints {np.median(err):.1f} px off (median)"
        for o in resp["frames"][k]["objects"]:
            assert o["class_id"] in (0, 1, 2, 3)
    assert registered >= FRAMES - 2, f"keypoints in {registered} of {FRAMES} frames"
    assert f"keypoints in {registered} of {FRAMES} frames" in run.stderr


def test_the_validator_scores_the_keypoints_as_the_true_ones(clip, mined, tmp_path):
    video, _, frames, _ = clip
    resp, _ = mined
    truth = keypoint_score(video, frames, {k: f["keypoints"] for k, f in frames.items()}, tmp_path, "truth")
    ours = keypoint_score(video, frames, {k: resp["frames"][k]["keypoints"] for k in frames}, tmp_path, "ours")
    assert truth > 50
    assert ours >= 0.95 * truth, f"keypoint score {ours:.2f} against the true keypoints' {truth:.2f}"


def test_mine_score_prints_the_validators_score_with_the_jobs_time(clip, tmp_path):
    video, _, _, _ = clip
    _, run = mine(video, tmp_path / "resp.json", "--score")
    assert "fovea score:" in run.stdout and "keypoints" in run.stdout
    assert "speed        " in run.stdout and "no --time" not in run.stdout


def test_detect_writes_keypoints_only_with_the_pitch_stage(clip, detected, tmp_path):
    video, _, _, _ = clip
    o = subprocess.run([FOVEA, "detect", str(video), "-q"], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    for lines, expect in ((detected, True), ([json.loads(x) for x in o.stdout.splitlines()], False)):
        assert len(lines) == FRAMES
        assert all(("keypoints" in f) == expect for f in lines)
        if expect:
            assert all(len(f["keypoints"]) == 32 for f in lines)
    resp, _ = mine(video, tmp_path / "off.json", "--pitch", "off")
    assert all(f["keypoints"] == [] for f in resp["frames"].values())


def test_no_pitch_no_keypoints(tmp_path):
    resp, run = mine(MEDIA / "bigbuckbunny.mp4", tmp_path / "bbb.json")
    assert all(all(p == [0, 0] for p in f["keypoints"]) for f in resp["frames"].values())
    assert "keypoints in 0 of 132 frames" in run.stderr


def test_mine_refuses_score_to_stdout(tmp_path):
    o = subprocess.run([FOVEA, "mine", str(MEDIA / "bigbuckbunny.mp4"), "-o", "-", "--score"], capture_output=True, text=True)
    assert o.returncode != 0 and "--score reads the response back" in o.stderr


def test_every_face_gets_the_clis_keypoints(clip, detected, tmp_path):
    """One road: an engine configuration's `[pitch]` gives the Python binding's file call and
    stream, and a service job's `pitch` option, the keypoints `fovea detect --pitch lines` gives."""
    import shutil
    import sys
    sys.path.insert(0, str(ROOT / "python"))
    os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))
    import cv2
    import fovea
    import fovea.client
    from fovea.client import Client
    from test_serve import Server

    video, _, _, _ = clip
    cli = [f["keypoints"] for f in detected]
    cli_conf = [f["keypoint_confidences"] for f in detected]
    with fovea.Engine(config="[tracking]\nenabled = true\n[pitch]\nmode = \"lines\"\n") as engine:
        files = []
        confs = []
        engine.process_file(str(video), lambda r: files.append(r.keypoints) or confs.append(r.keypoint_confidences))
        # The JSONL holds the f32 values as their shortest decimals: equal as f32.
        assert np.array_equal(np.array(files, np.float32), np.array(cli, np.float32)), "the file call's keypoints are the CLI's"
        assert np.array_equal(np.array(confs, np.float32), np.array(cli_conf, np.float32)), "and their confidences"
        cap, streamed = cv2.VideoCapture(str(video)), []
        with engine.stream(fps=25) as stream:
            while (f := cap.read()[1]) is not None:
                stream.send(f)
                streamed += [r.keypoints for r in stream.results()]
        assert len(streamed) == len(cli)
        near = [np.median(np.linalg.norm(np.array(a) - np.array(b), axis=1)) for a, b in zip(streamed, cli) if any(map(any, a)) and any(map(any, b))]
        assert len(near) >= FRAMES - 2 and max(near) < 1.0, "frames decoded by OpenCV: the same keypoints within a pixel"
    with fovea.Engine(config="[tracking]\nenabled = true\n") as engine:
        got = []
        engine.process_file(str(video), lambda r: got.append(r.keypoints))
        assert got and all(k == [] for k in got), "no [pitch]: no keypoints"
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(video, media / "match.mkv")
    s = Server(media)
    try:
        c = Client(s.url)
        j = c.submit("match.mkv", format="scorevision", pitch="lines")["id"]
        assert c.wait(j, timeout=300)["state"] == "done"
        doc = next(c.results(j))
        with pytest.raises(fovea.client.Error, match="options.pitch"):
            c.submit("match.mkv", pitch="model")
    finally:
        s.stop()
    assert doc == json.loads(detect_pitch(video, "--format", "scorevision")), "the service's mining job equals fovea detect --pitch lines"


def test_a_mine_job_gives_fovea_mines_response(clip, mined, tmp_path):
    """`fovea serve`'s mine job: `fovea mine`'s response (objects, keypoints) with the job's own
    processing_time; a format other than the response's is refused by name."""
    import shutil
    import sys
    sys.path.insert(0, str(ROOT / "python"))
    import fovea.client
    from fovea.client import Client
    from test_serve import Server

    video, _, _, _ = clip
    want, _ = mined
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(video, media / "match.mkv")
    s = Server(media)
    try:
        c = Client(s.url)
        got = c.mine("match.mkv", timeout=300)
        assert c.jobs()[-1]["kind"] == "mine"
        with pytest.raises(fovea.client.Error, match="options.format"):
            c.submit_mine("match.mkv", format="jsonl")
        plain = c.mine("match.mkv", timeout=300, pitch="off", teams=False)
    finally:
        s.stop()
    assert got["processing_time"] > 0
    assert got["frames"] == want["frames"], "the service's mine job equals fovea mine"
    assert all(f["keypoints"] == [] for f in plain["frames"].values()), "pitch off: no keypoints"
    assert plain["frames"] != got["frames"]
