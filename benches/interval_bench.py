"""`make bench-interval` (issue 33): `fovea detect --interval N` against every frame, on a
composited broadcast clip with known boxes and identities (tests/python/score_clip.py painting the
pan path of tests/python/pitch_clip.py: 300 frames, 1280 x 720 H.264, tuxfootball's players, the
referee and the goalkeepers moving). Per N (0, 1, 2): frames a second end to end (the run's own
summary, model loaded beforehand) and, against the true people, MOTA and IDF1 (motmetrics, IoU >=
0.5) of fovea's tracked person boxes. Issue 33's target for interval 1: >= 1.7x the frames a
second of every frame, IDF1 down by at most 0.02. Writes benches/results/interval.json."""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import motmetrics as mm
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import pitch_clip  # noqa: E402
import score_clip  # noqa: E402

FOVEA = str(ROOT / "target" / "release" / "fovea")
WORK = ROOT / ".deps" / "bench" / "interval"
FRAMES = 300


OTHER_PATHS = ("zoom", "high", "low", "cut")


def clip(kind="pan"):
    """The composited clip of camera path `kind` (pan: the bench's own, in WORK) and its truth."""
    work = WORK if kind == "pan" else WORK / kind
    work.mkdir(parents=True, exist_ok=True)
    mp4, truth = work / "match.mp4", work / "truth.json"
    if not mp4.exists() or not truth.exists():
        video, _, frames, _ = score_clip.make(work, frames=FRAMES, cam=pitch_clip.path(kind, FRAMES))
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-c:v", "libx264", "-preset", "fast", "-crf", "23",
                        "-pix_fmt", "yuv420p", str(mp4)], check=True)
        truth.write_text(json.dumps({k: [o for o in f["objects"] if o["who"] != "ball"] for k, f in frames.items()}))
        for p in work.glob("s*.png"):
            p.unlink()
        video.unlink()
    return mp4, json.loads(truth.read_text())


def iou_distance(a, b):
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.empty((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])
    iou = inter / (area(a)[:, None] + area(b)[None, :] - inter)
    d = 1 - iou
    d[d > 0.5] = np.nan
    return d


def run(mp4, truth, n, out):
    """`fovea detect --interval n` on `mp4`: (frames a second, wall seconds, MOTA, IDF1, ID switches)."""
    t = time.perf_counter()
    proc = subprocess.run([FOVEA, "detect", str(mp4), "-q", "--classes", "person", "--interval", str(n), "-o", str(out)],
                          check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    fps = float(re.search(r"throughput +([\d.]+) FPS", proc.stderr).group(1))
    results = [json.loads(line) for line in out.read_text().splitlines()]
    return (fps, wall) + scores(truth, results, [f["frame"] for f in results])


def scores(truth, results, frames):
    """MOTA, IDF1 and ID switches of the tracked boxes of `results` (fovea JSONL lines) on `frames`."""
    by_frame = {f["frame"]: f["detections"] for f in results}
    acc = mm.MOTAccumulator(auto_id=True)
    for n in frames:
        gt = truth[str(n)]
        hyp = [d for d in by_frame.get(n, []) if d.get("track_id") is not None]
        acc.update([o["id"] for o in gt], [d["track_id"] for d in hyp],
                   iou_distance([o["bbox"] for o in gt], [d["bbox"] for d in hyp]))
    m = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"], name="x")
    return float(m["mota"].iloc[0]), float(m["idf1"].iloc[0]), int(m["num_switches"].iloc[0])


def track(boxes, out, interval):
    """`fovea track --interval N` on `boxes` ({frame: detections}): its results."""
    src = out.with_suffix(".in.jsonl")
    src.write_text("".join(json.dumps({"frame": n, "pts": n / 25, "detections": boxes[n]}) + "\n" for n in sorted(boxes)))
    subprocess.run([FOVEA, "track", "--boxes", str(src), "--fps", "25", "--interval", str(interval), "-o", str(out)],
                   check=True, capture_output=True)
    return [json.loads(line) for line in out.read_text().splitlines()]


def tracker_alone(kind, truth):
    """The tracker's own share of the intervals' loss: `fovea track --interval N` (the chain's
    interval on a boxes file: the boxes of one frame in N + 1 tracked, the others predicted) on
    NanoDet's boxes of every frame (those of the every-frame run: N = 1 gives what
    `fovea detect --interval 1` gives) and on a synthetic detector's that finds the players (the
    truth with 5% missed, 4% jitter, scores 0.5-0.9, and two false boxes a frame at 0.1-0.45).
    IDF1 over all frames for N = 0, 1, 2."""
    work = WORK if kind == "pan" else WORK / kind
    nanodet = {}
    for line in (work / "interval0.jsonl").read_text().splitlines():
        f = json.loads(line)
        nanodet[f["frame"]] = [{"bbox": d["bbox"], "score": d["score"], "class_id": 0} for d in f["detections"]]
    rng = np.random.default_rng(1)
    synthetic = {}
    for n in range(FRAMES):
        boxes = []
        for o in truth[str(n)]:
            if rng.random() < 0.05:
                continue
            w, h = o["bbox"][2] - o["bbox"][0], o["bbox"][3] - o["bbox"][1]
            jitter = rng.normal(0, 0.04, 4) * [w, h, w, h]
            boxes.append({"bbox": [float(v) for v in np.add(o["bbox"], jitter)], "score": float(rng.uniform(0.5, 0.9)), "class_id": 0})
        for _ in range(2):
            x, y = rng.uniform(0, 1200), rng.uniform(0, 640)
            boxes.append({"bbox": [x, y, x + 40, y + 80], "score": float(rng.uniform(0.1, 0.45)), "class_id": 0})
        synthetic[n] = boxes
    row = {}
    for name, boxes in (("nanodet", nanodet), ("synthetic", synthetic)):
        row[name] = {}
        for n in (0, 1, 2):
            results = track(boxes, work / f"track_{name}_{n}.jsonl", n)
            row[name][str(n)] = round(scores(truth, results, range(FRAMES))[1], 4)
    return row


def main():
    mp4, truth = clip()
    rows = []
    for n in (0, 1, 2):
        fps, wall, mota, idf1, switches = run(mp4, truth, n, WORK / f"interval{n}.jsonl")
        row = {"interval": n, "frames": FRAMES, "fps_end_to_end": fps, "wall_s": round(wall, 2),
               "mota": round(mota, 4), "idf1": round(idf1, 4), "id_switches": switches}
        print(json.dumps(row), flush=True)
        rows.append(row)
    base = rows[0]
    for r in rows[1:]:
        r["speedup"] = round(r["fps_end_to_end"] / base["fps_end_to_end"], 2)
        r["idf1_change"] = round(r["idf1"] - base["idf1"], 4)
    print(f"interval 1: {rows[1]['speedup']}x the FPS, IDF1 {rows[1]['idf1_change']:+.4f} (target >= 1.7x, >= -0.02)")
    paths = {"pan": {str(r["interval"]): {"mota": r["mota"], "idf1": r["idf1"]} for r in rows}}
    for kind in OTHER_PATHS:
        mp4, truth = clip(kind)
        paths[kind] = {}
        for n in (0, 1, 2):
            _, _, mota, idf1, _ = run(mp4, truth, n, WORK / kind / f"interval{n}.jsonl")
            paths[kind][str(n)] = {"mota": round(mota, 4), "idf1": round(idf1, 4)}
        print(kind, json.dumps(paths[kind]), flush=True)
    change = {n: round(sum(p[n]["idf1"] - p["0"]["idf1"] for p in paths.values()) / len(paths), 4) for n in ("1", "2")}
    print(f"IDF1 change over the {len(paths)} camera paths, mean: interval 1 {change['1']:+.4f}, interval 2 {change['2']:+.4f}")
    alone = {}
    for kind in ("pan",) + OTHER_PATHS:
        alone[kind] = tracker_alone(kind, clip(kind)[1])
        print("tracker alone (fovea track --interval N), IDF1,", kind, json.dumps(alone[kind]), flush=True)
    (ROOT / "benches" / "results" / "interval.json").write_text(
        json.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows, "camera_paths": paths,
                    "mean_idf1_change": change, "tracker_alone_idf1": alone}, indent=1) + "\n")


if __name__ == "__main__":
    main()
