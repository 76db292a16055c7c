#!/usr/bin/env python3
"""The validator's ROI workload, fovea vs a per-ROI Python loop, side by side in one run.

Workload: 5602 boxes spread over 750 1080p frames, player-sized boxes plus a ball in most frames
(its crop enlarged 4x, like the Score Vision validator's). Each box: crop, resize to 224x224
(INTER_LINEAR), normalise with CLIP's mean/std into CHW float32, and colour statistics (per-channel
mean/std, green dominance, HSV green fraction, dark fraction). Frames: the first 30 of a 1080p
clip (bigbuckbunny.mp4 looped and scaled, made once with the ffmpeg CLI into .deps/bench/), held in
memory and cycled over the 750 frame numbers, so that neither side's decoder is measured.

- Python peer: OpenCV + NumPy, one ROI at a time (how validators do it today).
- fovea: the criterion group `validator` of benches/roi.rs (the ROI stage as `fovea verify` runs
  it: batches of 16 frames, statistics and tensors parallel over ROIs).
Rounds alternate; medians are reported. Also: the whole `fovea verify` run on the clip (decode
included) and how close fovea's tensor writing comes to this machine's memory bandwidth (a large
NumPy copy).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT.parent / "shared" / "media"
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
W, H, FRAMES, BOXES, SIZE = 1920, 1080, 750, 5602, 224


def make_clip(path):
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "6", "-i", str(MEDIA / "bigbuckbunny.mp4"), "-frames:v", str(FRAMES),
                    "-vf", f"scale={W}:{H}", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-an", str(path)], check=True)


def make_boxes(path):
    rng = np.random.default_rng(5602)
    frames = {str(i): {"objects": [], "keypoints": []} for i in range(FRAMES)}
    for k in range(BOXES):
        f = int(rng.integers(0, FRAMES))
        ball = k % 8 == 0
        bw = W * (0.006 if ball else 0.015 + 0.01 * rng.random())
        bh = H * (0.011 if ball else 0.06 + 0.03 * rng.random())
        x, y = rng.random() * (W - bw), rng.random() * (H - bh)
        frames[str(f)]["objects"].append({"id": k, "bbox": [int(x), int(y), int(x + bw) + 1, int(y + bh) + 1], "class_id": 0 if ball else 2})
    path.write_text(json.dumps({"frames": frames}))


RULES = """
[roi]
size = 224
expand = { football = 4.0 }
[stats]
"""


def crop_of(b, expand):
    x1, y1, x2, y2 = b
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2 * expand, (y2 - y1) / 2 * expand
    return int(max(cx - hw, 0)), int(max(cy - hh, 0)), int(min(np.ceil(cx + hw), W)), int(min(np.ceil(cy + hh), H))


def load_frames(clip, n=30):
    cap = cv2.VideoCapture(str(clip))
    out = []
    while len(out) < n:
        ok, bgr = cap.read()
        assert ok, "validator clip too short"
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return out


def python_round(images, boxes):
    """Seconds of per-ROI work and the number of ROIs."""
    frames = json.loads(boxes.read_text())["frames"]
    n = 0
    t0 = time.perf_counter()
    for i in range(FRAMES):
        img = images[i % len(images)]
        for o in frames.get(str(i), {}).get("objects", []):
            x1, y1, x2, y2 = o["bbox"]
            c = img[y1:y2, x1:x2]
            e = crop_of(o["bbox"], 4.0 if o["class_id"] == 0 else 1.0)
            roi = cv2.resize(img[e[1]:e[3], e[0]:e[2]], (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
            tensor = ((roi.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1).copy()
            px = c.reshape(-1, 3).astype(np.float32)
            mean, std = px.mean(0), px.std(0)
            hsv = cv2.cvtColor(c, cv2.COLOR_RGB2HSV)
            green = (cv2.inRange(hsv, (35, 40, 40), (85, 255, 255)) > 0).mean()
            dark = (hsv[..., 2] < 40).mean()
            dominance = mean[1] - max(mean[0], mean[2])
            n += 1
            del tensor, std, green, dark, dominance
    return time.perf_counter() - t0, n


def criterion_round(clip, boxes):
    """Seconds per iteration of the criterion group `validator` (its median estimate)."""
    env = dict(os.environ, FOVEA_VALIDATOR_CLIP=str(clip), FOVEA_VALIDATOR_BOXES=str(boxes))
    o = subprocess.run(["cargo", "bench", "--bench", "roi", "--", "validator", "--warm-up-time", "2", "--measurement-time", "8"],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", o.stdout)
    if o.returncode != 0 or not m:
        sys.exit(o.stdout + o.stderr)
    unit = {"s": 1.0, "ms": 1e-3, "µs": 1e-6}[m.group(2)]
    return float(m.group(1)) * unit


def fovea_round(fovea, clip, boxes, rules):
    o = subprocess.run([fovea, "verify", str(clip), "--boxes", str(boxes), "--rules", str(rules), "-o", "/dev/null"],
                       capture_output=True, text=True)
    if o.returncode != 0:
        sys.exit(o.stderr)
    m = re.search(r"stats ([\d.]+) \| rules [\d.]+ \| ROI tensors ([\d.]+)", o.stderr)
    n = int(re.search(r"ROIs\s+(\d+) measured", o.stderr).group(1))
    t = int(re.search(r"(\d+) tensors", o.stderr).group(1))
    return float(m.group(1)) + float(m.group(2)), float(m.group(2)), n, t, o.stderr


def bandwidth():
    src = np.ones(256 << 20, np.uint8)
    dst = np.empty_like(src)
    best = min(timeit(lambda: np.copyto(dst, src)) for _ in range(5))
    return src.nbytes / best


def timeit(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fovea", default=str(ROOT / "target/release/fovea"))
    ap.add_argument("--json", default=str(ROOT / "benches/results/roi_validator.json"))
    a = ap.parse_args()
    work = ROOT / ".deps/bench"
    clip, boxes, rules = work / "validator_1080p_750.mp4", work / "validator_5602.json", work / "no_rules.toml"
    make_clip(clip)
    make_boxes(boxes)
    rules.write_text(RULES)
    images = load_frames(clip)
    py, fv = [], []
    for r in range(a.rounds):
        f = criterion_round(clip, boxes)
        fv.append(f)
        p, n_py = python_round(images, boxes)
        py.append(p)
        print(f"round {r + 1}: fovea {BOXES / f:.0f} ROIs/s ({f:.3f} s) | python {n_py / p:.0f} ROIs/s ({p:.3f} s)", flush=True)
    assert n_py == BOXES, n_py
    f, p = statistics.median(fv), statistics.median(py)
    busy, roi_s, n_fovea, tensors, summary = fovea_round(a.fovea, clip, boxes, rules)
    wall = float(re.search(r"wall ([\d.]+)", summary).group(1))
    assert n_fovea == tensors == BOXES, (n_fovea, tensors)
    bw = bandwidth()
    written = BOXES * 3 * SIZE * SIZE * 4
    res = {
        "workload": f"{BOXES} ROIs over {FRAMES} frames {W}x{H}, {SIZE}x{SIZE} f32 CHW + colour statistics",
        "rounds": a.rounds,
        "fovea_s": f, "python_s": p,
        "fovea_rois_per_s": BOXES / f, "python_rois_per_s": BOXES / p,
        "speedup": p / f,
        "fovea_bytes_written_gb_per_s": written / f / 1e9,
        "numpy_copy_gb_per_s": bw / 1e9,
        "fovea_verify_wall_s": wall,
        "fovea_verify_summary": summary,
    }
    print(f"median: fovea {BOXES / f:.0f} ROIs/s ({f:.3f} s), python {BOXES / p:.0f} ROIs/s ({p:.3f} s): {p / f:.1f}x")
    print(f"fovea writes {written / 1e9:.2f} GB of tensors at {written / f / 1e9:.2f} GB/s (statistics included); "
          f"a 256 MiB NumPy copy runs at {bw / 1e9:.2f} GB/s here")
    print(f"fovea verify on the whole clip (decode included, every box measured and tensored): {wall:.2f} s wall")
    Path(a.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
