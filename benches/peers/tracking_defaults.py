"""Tracker defaults on a real clip: how many of the detector's person detections get a track, and
how long the tracks are, for fovea with its model's [tracking] thresholds, fovea with ByteTrack's
reference thresholds (0.5/0.6), and supervision's sv.ByteTrack with its own defaults, all on the
same detections (fovea detect --no-track on the clip). There is no ground truth for the clip:
coverage and track length describe what users get, not accuracy (tests/python/test_tracking_peer.py
scores accuracy on synthetic sequences with known identities).

    python benches/peers/tracking_defaults.py [--fovea target/release/fovea] [--clip tests/data/market_street_10s.mp4] [--model M]
"""
import argparse
import collections
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import supervision as sv

ROOT = Path(__file__).resolve().parents[2]


def summary(frames, fps):
    """frames: [(detections [(score, track_id|None)])] for person detections."""
    n = sum(len(f) for f in frames)
    tracked = [t for f in frames for s, t in f if t is not None]
    conf = [(s, t) for f in frames for s, t in f if s >= 0.4]
    lengths = collections.Counter(tracked)
    long = sum(c for c in lengths.values() if c >= fps)
    return {
        "person detections": n,
        "tracked": f"{100 * len(tracked) / max(n, 1):.0f}%",
        "tracked, score >= 0.4": f"{100 * sum(t is not None for _, t in conf) / max(len(conf), 1):.0f}%",
        "tracks": len(lengths),
        "median track length (frames)": int(np.median(list(lengths.values()))) if lengths else 0,
        "tracked detections in tracks >= 1 s": f"{100 * long / max(len(tracked), 1):.0f}%",
    }


def fovea_run(fovea, clip, model, extra, out):
    cmd = [fovea, "detect", clip, "-q", "-o", out] + (["--model", model] if model else []) + extra
    subprocess.run(cmd, check=True)
    return [json.loads(l) for l in open(out)]


def persons(lines):
    return [[(d["score"], d["track_id"]) for d in l["detections"] if d["label"] == "person"] for l in lines]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fovea", default=str(ROOT / "target/release/fovea"))
    ap.add_argument("--clip", default=str(ROOT / "tests/data/market_street_10s.mp4"))
    ap.add_argument("--model", default=None, help="manifest (default: fovea's default model)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    plain = fovea_run(a.fovea, a.clip, a.model, ["--no-track"], f"{tmp}/plain.jsonl")
    fps = round(len(plain) / (plain[-1]["pts"] - plain[0]["pts"] + 1e-9))
    rows = {}
    rows["fovea, model's [tracking] (default)"] = summary(persons(fovea_run(a.fovea, a.clip, a.model, [], f"{tmp}/d.jsonl")), fps)
    rows["fovea, reference 0.5/0.6"] = summary(
        persons(fovea_run(a.fovea, a.clip, a.model, ["--track-thresh", "0.5", "--new-track-thresh", "0.6"], f"{tmp}/r.jsonl")), fps
    )
    tracker = sv.ByteTrack(frame_rate=fps)  # supervision's defaults otherwise
    frames = []
    for l in plain:
        ds = [d for d in l["detections"] if d["label"] == "person"]
        if not ds:
            tracker.update_with_detections(sv.Detections.empty())
            frames.append([])
            continue
        det = sv.Detections(
            xyxy=np.array([d["bbox"] for d in ds], np.float32),
            confidence=np.array([d["score"] for d in ds], np.float32),
            class_id=np.zeros(len(ds), int),
        )
        out = tracker.update_with_detections(det)
        # sv returns the tracked subset; match back by box.
        ids = {tuple(np.round(b, 2)): t for b, t in zip(out.xyxy, out.tracker_id)}
        frames.append([(d["score"], ids.get(tuple(np.round(np.array(d["bbox"], np.float32), 2)))) for d in ds])
    rows[f"sv.ByteTrack {sv.__version__}, its defaults"] = summary(frames, fps)
    keys = list(next(iter(rows.values())).keys())
    print(f"clip {a.clip}, {len(plain)} frames at {fps} fps, model {a.model or 'default'}")
    print("| tracker | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(str(r[k]) for k in keys) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
