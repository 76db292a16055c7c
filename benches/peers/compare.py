#!/usr/bin/env python3
"""The pipeline benchmark, side by side in one run: for each video and each round, fovea's
detector-only and end-to-end passes (`fovea bench --rounds 1`) and the Python peer pipeline
(python_pipeline.py) run back to back, so both see the same machine state; medians over rounds.
Writes benches/results/pipeline.json and prints a Markdown table.

    .deps/venv/bin/python benches/peers/compare.py VIDEO... [--frames 300] [--rounds 5] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_pipeline as peer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="engines/nanodet-g-416.toml")
    ap.add_argument("--fovea", default=os.path.join(ROOT, "target", "release", "fovea"))
    ap.add_argument("--out", default=os.path.join(ROOT, "benches", "results", "pipeline.json"))
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(ROOT, "engines", "nanodet-g-416.onnx"), so, providers=["CPUExecutionProvider"])
    rows = []
    for v in a.videos:
        det, e2e, py = [], [], []
        for r in range(a.rounds):
            with tempfile.NamedTemporaryFile(suffix=".json") as tf:
                subprocess.run([a.fovea, "bench", v, "--model", a.model, "--frames", str(a.frames), "--threads", str(a.threads),
                                "--rounds", "1", "--json", tf.name], check=True, capture_output=True, cwd=ROOT)
                res = json.load(open(tf.name))[0]
            det.append(res["detector_only_fps"])
            e2e.append(res["end_to_end_fps"])
            py.append(peer.run(sess, v, a.frames)[2])
            print(f"{os.path.basename(v)} round {r + 1}: fovea detector-only {det[-1]:.1f}, end-to-end {e2e[-1]:.1f}, "
                  f"python {py[-1]:.1f} FPS", file=sys.stderr)
        rows.append({
            "video": os.path.basename(v), "frames": a.frames, "threads": a.threads, "rounds": a.rounds, "model": a.model,
            "fovea_detector_only_fps": statistics.median(det), "fovea_end_to_end_fps": statistics.median(e2e),
            "python_peer_fps": statistics.median(py),
            "rounds_detail": {"detector_only": det, "end_to_end": e2e, "python": py},
            "onnxruntime": ort.__version__,
        })
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)
    print("| video | frames | fovea detector only (FPS) | fovea end to end (FPS) | end to end / detector only | Python peer (FPS) | fovea / Python |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        d, e, p = r["fovea_detector_only_fps"], r["fovea_end_to_end_fps"], r["python_peer_fps"]
        print(f"| {r['video']} | {r['frames']} | {d:.1f} | {e:.1f} | {e / d:.2f} | {p:.1f} | {e / p:.2f}x |")


if __name__ == "__main__":
    main()
