#!/usr/bin/env python3
"""The pipeline benchmark, side by side in one run: for each video and each round, fovea's
detector-only and end-to-end passes (`fovea bench --rounds 1`) for each model/runtime (ONNX Runtime
fp32 and INT8, OpenVINO fp32, bf16 and INT8 by default), the Python peer pipeline on ONNX Runtime
fp32 (python_pipeline.py) and the Python OpenVINO peer in throughput mode at each OpenVINO model's
precision (openvino_pipeline.py), run back to back so all see the same machine state; medians
over rounds. A model written `M.toml@openvino` runs with `--runtime openvino`.
Writes benches/results/pipeline.json and prints a Markdown table.

    .deps/venv/bin/python benches/peers/compare.py VIDEO... [--frames 300] [--rounds 5] [--threads 2] [--models M.toml[@RUNTIME]...]
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
import openvino_pipeline as ov_peer  # noqa: E402
import python_pipeline as peer  # noqa: E402

# The OpenVINO peer's model file and precision hint for each fovea OpenVINO model.
OV_PEERS = {
    "engines/nanodet-g-416.toml@openvino": ("engines/nanodet-g-416.onnx", "f32"),
    "engines/nanodet-g-416-ov-bf16.toml": ("engines/nanodet-g-416.onnx", "bf16"),
    "engines/nanodet-g-416-ov-int8.toml": ("engines/nanodet-g-416-ov-int8.xml", None),
}

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["engines/nanodet-g-416.toml", "engines/nanodet-g-416-int8.toml",
                                                    "engines/nanodet-g-416.toml@openvino", "engines/nanodet-g-416-ov-bf16.toml",
                                                    "engines/nanodet-g-416-ov-int8.toml"])
    ap.add_argument("--fovea", default=os.path.join(ROOT, "target", "release", "fovea"))
    ap.add_argument("--out", default=os.path.join(ROOT, "benches", "results", "pipeline.json"))
    a = ap.parse_args()
    sess = peer.make_session(a.threads)
    ov_compiled = {m: ov_peer.compile_model(f, p, a.threads) for m, (f, p) in OV_PEERS.items() if m in a.models}
    rows = []
    for v in a.videos:
        det = {m: [] for m in a.models}
        e2e = {m: [] for m in a.models}
        py = []
        ovp = {m: [] for m in ov_compiled}
        for r in range(a.rounds):
            for m in a.models:
                path, _, runtime = m.partition("@")
                extra = ["--runtime", runtime] if runtime else []
                with tempfile.NamedTemporaryFile(suffix=".json") as tf:
                    subprocess.run([a.fovea, "bench", v, "--model", path, *extra, "--frames", str(a.frames), "--threads", str(a.threads),
                                    "--rounds", "1", "--json", tf.name], check=True, capture_output=True, cwd=ROOT)
                    res = json.load(open(tf.name))[0]
                det[m].append(res["detector_only_fps"])
                e2e[m].append(res["end_to_end_fps"])
            py.append(peer.run(sess, v, a.frames)[2])
            for m, c in ov_compiled.items():
                ovp[m].append(ov_peer.run(c, v, a.frames)[2])
            line = ", ".join(f"{os.path.basename(m)} {det[m][-1]:.1f}/{e2e[m][-1]:.1f}" for m in a.models)
            print(f"{os.path.basename(v)} round {r + 1}: fovea detector-only/end-to-end {line}; python {py[-1]:.1f} FPS", file=sys.stderr)
        for m in a.models:
            rows.append({
                "video": os.path.basename(v), "model": os.path.basename(m), "frames": a.frames, "threads": a.threads,
                "rounds": a.rounds, "fovea_detector_only_fps": statistics.median(det[m]),
                "fovea_end_to_end_fps": statistics.median(e2e[m]), "python_peer_fps": statistics.median(py),
                "openvino_peer_fps": statistics.median(ovp[m]) if m in ovp else None,
                "rounds_detail": {"detector_only": det[m], "end_to_end": e2e[m], "python": py, "openvino_peer": ovp.get(m)},
                "onnxruntime": ort.__version__,
            })
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)
    print("| video | fovea model, runtime | detector only (FPS) | end to end (FPS) | Python ORT fp32 peer (FPS) | fovea / Python fp32 "
          "| Python OpenVINO peer, same model (FPS) | fovea / OpenVINO peer |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        d, e, p, o = r["fovea_detector_only_fps"], r["fovea_end_to_end_fps"], r["python_peer_fps"], r["openvino_peer_fps"]
        ov = f"{o:.1f} | {e / o:.2f}x" if o else "- | -"
        print(f"| {r['video']} | {r['model'].replace('.toml', '')} | {d:.1f} | {e:.1f} | {p:.1f} | {e / p:.2f}x | {ov} |")


if __name__ == "__main__":
    main()
