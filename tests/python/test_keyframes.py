"""`fovea keyframes` on videos made at test time with the ffmpeg CLI from ../shared/media
(tests/python/keyframes_clip.py): nine shots joined by hard cuts at known frames, planted bad
frames (blurred, near-black, blown out) and a duplicated shot. Chosen images are checked with
OpenCV, independently of fovea."""
import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

import keyframes_clip

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("keyframes")
    video = d / "shots.mp4"
    truth = keyframes_clip.make(str(video))
    return video, truth


def run(video, out, *extra):
    o = subprocess.run([FOVEA, "keyframes", str(video), "-o", str(out), *extra], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    doc = json.loads((out / "keyframes.json").read_text())
    return doc, o.stderr


@pytest.fixture(scope="module")
def default_run(clip, tmp_path_factory):
    video, truth = clip
    out = tmp_path_factory.mktemp("kf_default")
    doc, err = run(video, out)
    print(err)
    return doc, out, truth


def dhash(path):
    """An independent difference hash of an image file (OpenCV area resize to 9 x 8, grey)."""
    g = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
    small = cv2.resize(g, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int32)
    return (small[:, :-1] > small[:, 1:]).flatten()


def test_every_cut_is_found_within_one_frame(default_run):
    doc, _, truth = default_run
    found = [s["start_frame"] for s in doc["shots"][1:]]
    hits = [c for c in truth["cuts"] if any(abs(f - c) <= 1 for f in found)]
    false = [f for f in found if all(abs(f - c) > 1 for c in truth["cuts"])]
    assert len(hits) >= 0.95 * len(truth["cuts"]), (found, truth["cuts"])
    assert len(false) <= 1, (found, truth["cuts"])


def test_no_planted_bad_frame_is_chosen_and_the_gates_saw_them(default_run):
    doc, _, truth = default_run
    chosen = [k["frame"] for k in doc["keyframes"]]
    for kind, (a, b) in truth["bad"].items():
        assert not any(a <= f <= b for f in chosen), (kind, chosen)
    # The planted frames were measured and kept out of the candidates by the gates.
    rejected = {s["index"]: (s["rejected_blur"], s["rejected_exposure"]) for s in doc["shots"]}
    assert sum(r[0] for r in rejected.values()) >= 8, rejected
    assert sum(r[1] for r in rejected.values()) >= 16, rejected
    candidates = [c["frame"] for s in doc["shots"] for c in s["candidates"]]
    for kind, (a, b) in truth["bad"].items():
        assert not any(a <= f <= b for f in candidates), (kind, candidates)


def test_one_frame_per_shot_no_near_duplicates(default_run):
    doc, out, truth = default_run
    keys = doc["keyframes"]
    shots = [k["shot"] for k in keys]
    assert len(shots) == len(set(shots)), shots
    # Every true shot but one of the duplicated pair has its key frame.
    def true_shot(frame):
        return next(i for i, (a, b) in enumerate(truth["shots"]) if a <= frame < b)
    got = sorted(true_shot(k["frame"]) for k in keys)
    a, b = keyframes_clip.DUPLICATE
    assert not (a in got and b in got), got
    assert len(got) == len(truth["shots"]) - 1, got
    assert doc["summary"]["duplicates_dropped"] >= 1
    # No two chosen images are near-duplicates by an independent hash.
    hashes = [dhash(out / k["file"]) for k in keys]
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            assert (hashes[i] != hashes[j]).sum() > 10, (keys[i]["file"], keys[j]["file"])
    # Each chosen frame says why it won.
    assert all(k["why"].startswith(("best of", "best usable of", "the only")) for k in keys), [k["why"] for k in keys]


def test_outputs_are_real_images_and_the_stages_saw_few_frames(default_run):
    doc, out, truth = default_run
    for k in doc["keyframes"]:
        img = cv2.imread(str(out / k["file"]))
        assert img is not None and img.shape == (360, 640, 3), k["file"]
        assert abs(k["time"] - k["frame"] / truth["fps"]) < 0.05
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 100 and sheet.shape[1] > 300
    s = doc["summary"]
    assert s["stage1_frames"] == truth["frames"], s
    assert 0 < s["stage2_frames"] <= 3 * s["shots"] < truth["frames"] / 10, s
    assert s["chosen"] == len(doc["keyframes"])


def test_max_asks_for_fewer_or_more(clip, tmp_path):
    video, truth = clip
    doc, _ = run(video, tmp_path / "three", "--max", "3")
    assert len(doc["keyframes"]) == 3
    # The three best shots' frames.
    best = sorted((c["score"] for s in doc["shots"] for c in s["candidates"] if c["chosen"]), reverse=True)
    assert len(best) == 3
    doc, _ = run(video, tmp_path / "more", "--max", "12", "--min-gap", "0.5")
    keys = doc["keyframes"]
    assert len(doc["shots"]) - 1 < len(keys) <= 12, len(keys)
    times = sorted(k["time"] for k in keys)
    assert all(b - a >= 0.5 - 1e-6 for a, b in zip(times, times[1:])), times
    for kind, (a, b) in truth["bad"].items():
        assert not any(a <= k["frame"] <= b for k in keys), kind


def test_png_images_and_an_encoder_for_near_duplicates(clip, tmp_path):
    video, _ = clip
    doc, err = run(video, tmp_path / "enc", "--image-format", "png", "--encoder", str(ROOT / "tests/data/tiny_clip.toml"))
    assert doc["near_duplicates_by"] == "encoder cosine" and doc["encoder"] == "tiny_clip", err
    assert all(k["file"].endswith(".png") for k in doc["keyframes"])
    assert cv2.imread(str(tmp_path / "enc" / doc["keyframes"][0]["file"])) is not None


def test_annotated_video_has_every_frame(clip, tmp_path):
    video, truth = clip
    ann = tmp_path / "kf.mp4"
    o = subprocess.run([FOVEA, "keyframes", str(video), "-o", str(tmp_path / "a"), "--annotate", str(ann)], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", str(ann)],
        capture_output=True, text=True, check=True,
    )
    w, h, n = p.stdout.strip().split(",")[:3]
    assert (int(w), int(h), int(n)) == (640, 360, truth["frames"])
    # A chosen frame carries its banner at the bottom: the pixels there differ from the input's.
    doc = json.loads((tmp_path / "a" / "keyframes.json").read_text())
    f = doc["keyframes"][0]["frame"]
    def frame(path):
        cap = cv2.VideoCapture(str(path))
        cap.set(cv2.CAP_PROP_POS_FRAMES, f)
        ok, img = cap.read()
        assert ok
        return img.astype(np.int32)
    a, b = frame(video), frame(ann)
    assert np.abs(a[-12:, :100] - b[-12:, :100]).mean() > 20
    assert np.abs(a[150:210, 400:600] - b[150:210, 400:600]).mean() < 12


def test_hostile_input_is_a_clear_error(clip, tmp_path):
    video, _ = clip
    bad = tmp_path / "bad.toml"
    bad.write_text("[quality]\nsharpness = 3\n")
    for args, words in [
        ([str(video), "--policy", str(bad)], ["bad.toml", "quality.sharpness"]),
        ([str(tmp_path / "missing.mp4")], ["missing.mp4", "no such file"]),
        ([str(video), "--max", "0"], ["--max"]),
        ([str(video), "--image-format", "gif"], ["--image-format", "gif"]),
        ([str(bad)], ["bad.toml"]),
    ]:
        o = subprocess.run([FOVEA, "keyframes", *args, "-o", str(tmp_path / "x")], capture_output=True, text=True)
        assert o.returncode != 0
        assert all(w in o.stderr for w in words), (args, o.stderr)
        assert "panicked" not in o.stderr


def test_the_python_binding_picks_the_same_key_frames_as_the_cli(default_run, clip, tmp_path):
    """One pipeline, every face: `Engine().keyframes` (the C ABI's fovea_engine_keyframes) with the
    default model chooses the CLI's frames with the CLI's scores."""
    import sys
    if not os.environ.get("FOVEA_INSTALLED"):
        sys.path.insert(0, str(ROOT / "python"))
        os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))
    import fovea
    doc, _, _ = default_run
    video, _ = clip
    with fovea.Engine() as e:
        got = e.keyframes(str(video), tmp_path / "py")
        assert e.last_report()["keyframes"] == got["keyframes"]
        with pytest.raises(fovea.Error) as err:
            e.keyframes(str(video), tmp_path / "bad", image_format="gif")
        assert "gif" in str(err.value)
    assert [k["frame"] for k in got["keyframes"]] == [k["frame"] for k in doc["keyframes"]]
    for a, b in zip(got["keyframes"], doc["keyframes"]):
        assert abs(a["score"] - b["score"]) < 1e-9 and a["why"] == b["why"]
        assert (tmp_path / "py" / a["file"]).is_file()


def test_an_all_black_clip_says_why_nothing_was_chosen(tmp_path):
    """Regression (issue 34): nothing was chosen from a black clip and nothing said why."""
    video = tmp_path / "black.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=black:s=320x240:d=2:r=25", "-pix_fmt", "yuv420p", str(video)],
                   check=True)
    o = subprocess.run([FOVEA, "keyframes", str(video), "-o", str(tmp_path / "kf")], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    assert "none chosen: no frame passed the quality gates" in o.stderr and "under- or over-exposed" in o.stderr, o.stderr
    doc = json.loads((tmp_path / "kf" / "keyframes.json").read_text())
    assert doc["summary"]["chosen"] == 0 and "quality gates" in doc["summary"]["nothing_chosen"]


def test_stage_1_without_the_loop_filter_finds_the_same_shots_and_measures(default_run, tmp_path):
    """`skip_loop_filter` (off by default): stage 1 decodes without the codec's deblocking filter
    and finds the same shots, the candidates both runs have scored within 0.01; the policy the
    run reports says it ran so."""
    doc, _, _ = default_run
    assert doc["policy"]["analysis"]["skip_loop_filter"] is False
    video = Path(doc["video"]["path"])
    policy = tmp_path / "skip.toml"
    policy.write_text("[analysis]\nskip_loop_filter = true\n")
    fast, _ = run(video, tmp_path / "out", "--policy", str(policy))
    assert fast["policy"]["analysis"]["skip_loop_filter"] is True
    assert [(s["start_frame"], s["end_frame"]) for s in fast["shots"]] == [(s["start_frame"], s["end_frame"]) for s in doc["shots"]]
    cands = lambda d: {c["frame"]: c for s in d["shots"] for c in s["candidates"]}
    a, b = cands(fast), cands(doc)
    common = set(a) & set(b)
    assert len(common) >= 0.8 * len(b), (sorted(a), sorted(b))
    assert max(abs(a[f]["quality"]["score"] - b[f]["quality"]["score"]) for f in common) < 0.01


def test_candidates_held_from_stage_1_give_what_decoding_them_again_gives(default_run, tmp_path):
    """Stage 1 holds the decoded pictures of frames that may become candidates (the policy's
    `candidates.hold_mib`) and stage 2 takes them from memory; the others are decoded again. With
    nothing held, and with room for only a few pictures (some candidates held, some decoded
    again), the report, the choice and every image file are the same bytes as the default run's."""
    doc, out, _ = default_run
    s = doc["summary"]
    assert doc["policy"]["candidates"]["hold_mib"] > 0
    assert s["stage2_frames_held"] > 0 and s["held_peak_mib"] > 0, s
    assert s["stage2_frames_held"] <= s["stage2_frames"], s
    video = Path(doc["video"]["path"])

    def same_as_default(name, hold_mib):
        policy = tmp_path / f"{name}.toml"
        policy.write_text(f"[candidates]\nhold_mib = {hold_mib}\n")
        other, _ = run(video, tmp_path / name, "--policy", str(policy))
        strip = lambda d: {k: v for k, v in d.items() if k not in ("summary", "policy")}
        assert strip(other) == strip(doc)
        files = sorted(p.name for p in out.iterdir() if p.suffix in (".jpg", ".png"))
        assert files == sorted(p.name for p in (tmp_path / name).iterdir() if p.suffix in (".jpg", ".png"))
        for f in files:
            assert (out / f).read_bytes() == (tmp_path / name / f).read_bytes(), f
        return other["summary"]

    none = same_as_default("none", 0)
    assert none["stage2_frames_held"] == 0 and none["held_peak_mib"] == 0, none
    assert none["stage2_frames_decoded"] > s["stage2_frames_decoded"], (none, s)
    # A 640x360 picture is 0.33 MiB: 4 MiB hold about twelve.
    few = same_as_default("few", 4)
    assert few["held_peak_mib"] <= 4.5 and few["held_dropped_for_room"] > 0, few
    assert 0 < few["stage2_frames_held"] < s["stage2_frames"], few
