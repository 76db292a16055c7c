"""Independent evaluation of fovea's tracker: synthetic sequences with known identities, scored
with motmetrics (MOTA, IDF1, ID switches), against supervision's sv.ByteTrack on the same
detections. fovea must do at least as well as the peer on every sequence.

Run by `make test` (pytest); FOVEA_BIN names the fovea binary (default target/debug/fovea).
"""
import json
import os
import subprocess
import tempfile

import numpy as np

np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)  # motmetrics 1.4 on NumPy 2
import motmetrics as mm  # noqa: E402
import pytest  # noqa: E402
import supervision as sv  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOVEA = os.environ.get("FOVEA_BIN", os.path.join(ROOT, "target", "debug", "fovea"))


def make_sequence(seed, n_objects, frames, crossing=False, fp_per_frame=2, miss=0.05, low=0.15):
    """Ground truth {frame: [(gt_id, box)]} and detections {frame: [(box, score)]}."""
    rng = np.random.default_rng(seed)
    W, H = 1280, 720
    objs = []
    for i in range(n_objects):
        w, h = rng.uniform(30, 60), rng.uniform(80, 160)
        if crossing:
            # pairs walking towards each other on nearly the same line
            row = 150 + 120 * (i // 2)
            left = i % 2 == 0
            x0 = 100 if left else 1100
            vx = rng.uniform(2.5, 4) * (1 if left else -1)
            y0, vy = row + (0 if left else 12), 0.0
            first, last = 0, frames
        else:
            x0, y0 = rng.uniform(50, W - 100), rng.uniform(50, H - 200)
            vx, vy = rng.uniform(-3, 3), rng.uniform(-1.5, 1.5)
            first = int(rng.integers(0, frames // 3))
            last = int(rng.integers(2 * frames // 3, frames + 1))
        occl = None
        if rng.uniform() < 0.3:
            s = int(rng.integers(first + 10, max(first + 11, last - 20)))
            occl = (s, s + int(rng.integers(5, 20)))
        objs.append(dict(id=i + 1, w=w, h=h, x0=x0, y0=y0, vx=vx, vy=vy, first=first, last=last, occl=occl))
    gt, dets = {}, {}
    for f in range(frames):
        gt[f], dets[f] = [], []
        for o in objs:
            if not (o["first"] <= f < o["last"]):
                continue
            t = f - o["first"]
            cx, cy = o["x0"] + o["vx"] * t, o["y0"] + o["vy"] * t
            box = [cx - o["w"] / 2, cy - o["h"] / 2, cx + o["w"] / 2, cy + o["h"] / 2]
            gt[f].append((o["id"], box))
            if o["occl"] and o["occl"][0] <= f < o["occl"][1]:
                continue
            if rng.uniform() < miss:
                continue
            noisy = [v + rng.normal(0, 2.0) for v in box]
            score = float(np.clip(rng.normal(0.78, 0.1), 0.5, 0.99))
            if rng.uniform() < low:
                score = float(rng.uniform(0.2, 0.48))
            dets[f].append((noisy, score))
        for _ in range(fp_per_frame):
            x, y = rng.uniform(0, W - 60), rng.uniform(0, H - 120)
            dets[f].append(([x, y, x + rng.uniform(20, 60), y + rng.uniform(40, 120)], float(rng.uniform(0.1, 0.45))))
    return gt, dets


def run_fovea(dets, fps=30.0):
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "dets.jsonl"), os.path.join(d, "tracked.jsonl")
        with open(src, "w") as fh:
            for f in sorted(dets):
                fh.write(json.dumps({"frame": f, "pts": f / fps, "detections": [
                    {"bbox": b, "score": s, "class_id": 0, "label": "person"} for b, s in dets[f]]}) + "\n")
        subprocess.run([FOVEA, "track", "--boxes", src, "-o", out], check=True, capture_output=True)
        hyp = {}
        with open(out) as fh:
            for line in fh:
                r = json.loads(line)
                hyp[r["frame"]] = [(d["track_id"], d["bbox"]) for d in r["detections"] if d["track_id"] is not None]
    return hyp


def run_peer(dets, fps=30):
    tracker = sv.ByteTrack(track_activation_threshold=0.5, lost_track_buffer=30, minimum_matching_threshold=0.8, frame_rate=fps)
    hyp = {}
    for f in sorted(dets):
        boxes = np.array([b for b, _ in dets[f]], dtype=np.float32).reshape(-1, 4)
        scores = np.array([s for _, s in dets[f]], dtype=np.float32)
        det = sv.Detections(xyxy=boxes, confidence=scores, class_id=np.zeros(len(scores), dtype=int))
        out = tracker.update_with_detections(det)
        hyp[f] = [(int(t), list(map(float, b))) for t, b in zip(out.tracker_id, out.xyxy)]
    return hyp


def score(gt, hyp):
    acc = mm.MOTAccumulator(auto_id=True)
    for f in sorted(gt):
        g = gt[f]
        h = hyp.get(f, [])
        xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]
        dist = mm.distances.iou_matrix([xywh(b) for _, b in g], [xywh(b) for _, b in h], max_iou=0.5)
        acc.update([i for i, _ in g], [i for i, _ in h], dist)
    m = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"], name="x")
    return float(m["mota"].iloc[0]), float(m["idf1"].iloc[0]), int(m["num_switches"].iloc[0])


SEQUENCES = {
    "crowd-12": dict(seed=1, n_objects=12, frames=200),
    "crowd-25": dict(seed=2, n_objects=25, frames=200),
    "crossings": dict(seed=3, n_objects=8, frames=150, crossing=True),
    "noisy": dict(seed=4, n_objects=15, frames=200, fp_per_frame=5, miss=0.12, low=0.3),
}


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_fovea_tracks_at_least_as_well_as_sv_bytetrack(name):
    gt, dets = make_sequence(**SEQUENCES[name])
    f_mota, f_idf1, f_sw = score(gt, run_fovea(dets))
    p_mota, p_idf1, p_sw = score(gt, run_peer(dets))
    print(f"\n{name}: fovea MOTA {f_mota:.4f} IDF1 {f_idf1:.4f} IDsw {f_sw} | "
          f"sv.ByteTrack {sv.__version__} MOTA {p_mota:.4f} IDF1 {p_idf1:.4f} IDsw {p_sw}")
    assert f_mota > 0.5 and f_idf1 > 0.5, "the sequences are trackable"
    assert f_mota >= p_mota - 1e-9, f"MOTA {f_mota} < peer {p_mota}"
    assert f_idf1 >= p_idf1 - 1e-9, f"IDF1 {f_idf1} < peer {p_idf1}"
