#!/usr/bin/env python3
"""The pipeline a Python user would write: OpenCV decode + onnxruntime (CPU, same threads) +
NumPy GFL decoding and NMS, same model and thresholds as fovea. Prints and optionally writes
end-to-end FPS per video, for side-by-side comparison with `fovea bench`.

    .deps/venv/bin/python benches/peers/python_pipeline.py VIDEO... [--frames 300] [--threads 2]
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nanodet_numpy as nd  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_session(threads):
    """NanoDet-g fp32 on onnxruntime's CPU provider with `threads` intra-op threads."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(os.path.join(ROOT, "engines", "nanodet-g-416.onnx"), so, providers=["CPUExecutionProvider"])


def run(sess, path, frames):
    cap = cv2.VideoCapture(path)
    n = 0
    dets = 0
    t0 = time.perf_counter()
    while n < frames:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        outs = sess.run(None, {nd.INPUT: nd.preprocess(bgr)})
        outputs = {o.name: v for o, v in zip(sess.get_outputs(), outs)}
        boxes, scores, classes = nd.decode(outputs, w, h)
        dets += len(boxes)
        n += 1
    dt = time.perf_counter() - t0
    return n, dets, n / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    sess = make_session(a.threads)
    rows = []
    print(f"python peer: OpenCV {cv2.__version__} + onnxruntime {ort.__version__} ({a.threads} threads) + NumPy; {a.rounds} rounds, median", file=sys.stderr)
    for v in a.videos:
        fps = []
        for _ in range(a.rounds):
            n, dets, f = run(sess, v, a.frames)
            fps.append(f)
        med = float(np.median(fps))
        print(f"  {os.path.basename(v):<26} {n} frames  end-to-end {med:6.1f} FPS  ({dets} detections)", file=sys.stderr)
        rows.append({"video": v, "frames": n, "end_to_end_fps": med, "end_to_end_fps_rounds": fps, "threads": a.threads})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
