#!/usr/bin/env python3
"""Two builds of fovea side by side in one run (rounds alternate, medians reported), to show that a
change keeps the README's figures: the pipeline (`fovea bench`, detector only and end to end, fp32
and INT8, the README's two videos), the validator's ROI workload (`fovea verify` on 5602 ROIs over
750 1080p frames, as benches/peers/roi_compare.py), the C ABI through the Python binding
(OpenCV decodes, each tree's python/fovea over its own libfovea.so), and tracking with the model's
defaults (the share of person detections given a track, which must not change at all).

    .deps/venv/bin/python benches/side_by_side.py OLD_TREE NEW_TREE [--rounds 3] [--json OUT]

Each tree is a checkout with target/release/{fovea,libfovea.so} built (`make side-by-side
OLD=<rev>` makes the old one in .deps/side-by-side and runs this).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
sys.path.insert(0, str(ROOT / "benches" / "peers"))
import roi_compare  # noqa: E402

VIDEOS = [MEDIA / "vtest.avi", MEDIA / "market_street_1906.mp4"]
MODELS = ["engines/nanodet-g-416.toml", "engines/nanodet-g-416-int8.toml"]

BINDING = """
import sys, time, cv2
sys.path.insert(0, sys.argv[1] + "/python")
import fovea
video, frames = sys.argv[2], int(sys.argv[3])
engine = fovea.Engine(config=f"model = '{sys.argv[1]}/engines/nanodet-g-416.toml'")
cap = cv2.VideoCapture(video)
fps = cap.get(cv2.CAP_PROP_FPS) or 30
n, t0 = 0, time.perf_counter()
with engine.stream(fps=fps) as s:
    while n < frames:
        ok, f = cap.read()
        if not ok:
            break
        s.send(f, pts=n / fps, format="bgr")
        for _ in s.results():
            pass
        n += 1
print(n / (time.perf_counter() - t0))
"""


def bench(tree, video, model, frames):
    with tempfile.NamedTemporaryFile(suffix=".json") as tf:
        subprocess.run([str(tree / "target/release/fovea"), "bench", str(video), "--model", model, "--frames", str(frames),
                        "--threads", "2", "--rounds", "1", "--json", tf.name], check=True, capture_output=True, cwd=tree)
        r = json.load(open(tf.name))[0]
    return r["detector_only_fps"], r["end_to_end_fps"]


def binding(tree, video, frames):
    env = dict(os.environ, FOVEA_LIB=str(tree / "target/release/libfovea.so"))
    o = subprocess.run([sys.executable, "-c", BINDING, str(tree), str(video), str(frames)], check=True, capture_output=True, text=True,
                       env=env, cwd=tree)
    return float(o.stdout.strip().splitlines()[-1])


def tracked_share(tree):
    clip = ROOT / "tests/data/market_street_10s.mp4"
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        subprocess.run([str(tree / "target/release/fovea"), "detect", str(clip), "-q", "-o", out.name], check=True, capture_output=True,
                       cwd=tree)
        dets = [d for line in open(out.name) for d in json.loads(line)["detections"] if d["label"] == "person"]
    return sum(d["track_id"] is not None for d in dets) / max(1, len(dets)), len(dets)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--json", default=str(ROOT / "benches/results/side_by_side.json"))
    a = ap.parse_args()
    trees = {"old": a.old.resolve(), "new": a.new.resolve()}
    work = ROOT / ".deps/bench"
    clip, boxes, rules = work / "validator_1080p_750.mp4", work / "validator_5602.json", work / "no_rules.toml"
    roi_compare.make_clip(clip)
    roi_compare.make_boxes(boxes)
    rules.write_text(roi_compare.RULES)
    res = {k: {"pipeline": {}, "verify_rois_per_s": [], "verify_wall_s": [], "binding_fps": []} for k in trees}
    for r in range(a.rounds):
        for k, tree in trees.items():
            for v in VIDEOS:
                for m in MODELS:
                    d, e = bench(tree, v, m, a.frames)
                    row = res[k]["pipeline"].setdefault(f"{v.name} {Path(m).stem}", {"detector_only": [], "end_to_end": []})
                    row["detector_only"].append(d)
                    row["end_to_end"].append(e)
            busy, _, n, _, summary = roi_compare.fovea_round(str(tree / "target/release/fovea"), clip, boxes, rules)
            res[k]["verify_rois_per_s"].append(n / busy)
            res[k]["verify_wall_s"].append(float(re.search(r"wall ([\d.]+)", summary).group(1)))
            res[k]["binding_fps"].append(binding(tree, VIDEOS[0], a.frames))
            print(f"round {r + 1} {k}: {json.dumps({x: y[-1] for x, y in res[k].items() if isinstance(y, list)})}", file=sys.stderr, flush=True)
    for k, tree in trees.items():
        res[k]["tracked_share"], res[k]["person_detections"] = tracked_share(tree)
    med = statistics.median
    print("| figure | old | new | new / old |")
    print("|---|---|---|---|")
    for name in res["old"]["pipeline"]:
        for kind in ("detector_only", "end_to_end"):
            o, n = med(res["old"]["pipeline"][name][kind]), med(res["new"]["pipeline"][name][kind])
            print(f"| {name}, {kind.replace('_', ' ')} (FPS) | {o:.1f} | {n:.1f} | {n / o:.2f} |")
    for key, label in (("verify_rois_per_s", "verify, ROIs/s (stats + tensors busy time)"), ("verify_wall_s", "verify, wall (s)"),
                       ("binding_fps", "Python binding on vtest (FPS)")):
        o, n = med(res["old"][key]), med(res["new"][key])
        print(f"| {label} | {o:.1f} | {n:.1f} | {n / o:.2f} |")
    o, n = res["old"]["tracked_share"], res["new"]["tracked_share"]
    print(f"| person detections with a track, demo clip | {100 * o:.1f}% | {100 * n:.1f}% | {n / o:.2f} |")
    Path(a.json).write_text(json.dumps({"rounds": a.rounds, "frames": a.frames, "trees": {k: str(v) for k, v in trees.items()}, **res},
                                       indent=1) + "\n")


if __name__ == "__main__":
    main()
