#!/usr/bin/env python3
"""The pipeline benchmark, side by side in one run: for each video and each round, fovea's
detector-only and end-to-end passes (`fovea bench --rounds 1`) for each model (fp32 and INT8 by
default) and the Python peer pipeline (python_pipeline.py, fp32) run back to back, so all see the
same machine state; medians over rounds.
Writes benches/results/pipeline.json and prints a Markdown table.

    .deps/venv/bin/python benches/peers/compare.py VIDEO... [--frames 300] [--rounds 5] [--threads 2] [--models M.toml...]
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
    ap.add_argument("--models", nargs="+", default=["engines/nanodet-g-416.toml", "engines/nanodet-g-416-int8.toml"])
    ap.add_argument("--fovea", default=os.path.join(ROOT, "target", "release", "fovea"))
    ap.add_argument("--out", default=os.path.join(ROOT, "benches", "results", "pipeline.json"))
    a = ap.parse_args()
    sess = peer.make_session(a.threads)
    rows = []
    for v in a.videos:
        det = {m: [] for m in a.models}
        e2e = {m: [] for m in a.models}
        py = []
        for r in range(a.rounds):
            for m in a.models:
                with tempfile.NamedTemporaryFile(suffix=".json") as tf:
                    subprocess.run([a.fovea, "bench", v, "--model", m, "--frames", str(a.frames), "--threads", str(a.threads),
                                    "--rounds", "1", "--json", tf.name], check=True, capture_output=True, cwd=ROOT)
                    res = json.load(open(tf.name))[0]
                det[m].append(res["detector_only_fps"])
                e2e[m].append(res["end_to_end_fps"])
            py.append(peer.run(sess, v, a.frames)[2])
            line = ", ".join(f"{os.path.basename(m)} {det[m][-1]:.1f}/{e2e[m][-1]:.1f}" for m in a.models)
            print(f"{os.path.basename(v)} round {r + 1}: fovea detector-only/end-to-end {line}; python {py[-1]:.1f} FPS", file=sys.stderr)
        for m in a.models:
            rows.append({
                "video": os.path.basename(v), "model": os.path.basename(m), "frames": a.frames, "threads": a.threads,
                "rounds": a.rounds, "fovea_detector_only_fps": statistics.median(det[m]),
                "fovea_end_to_end_fps": statistics.median(e2e[m]), "python_peer_fps": statistics.median(py),
                "rounds_detail": {"detector_only": det[m], "end_to_end": e2e[m], "python": py},
                "onnxruntime": ort.__version__,
            })
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)
    print("| video | fovea model | detector only (FPS) | end to end (FPS) | end to end / detector only | Python peer, fp32 (FPS) | fovea / Python |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        d, e, p = r["fovea_detector_only_fps"], r["fovea_end_to_end_fps"], r["python_peer_fps"]
        print(f"| {r['video']} | {r['model'].removesuffix('.toml')} | {d:.1f} | {e:.1f} | {e / d:.2f} | {p:.1f} | {e / p:.2f}x |")


if __name__ == "__main__":
    main()
