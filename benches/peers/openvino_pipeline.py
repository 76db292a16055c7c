#!/usr/bin/env python3
"""The pipeline a Python user would write with OpenVINO at its best on a CPU: OpenCV decode, the
model compiled in throughput mode (PERFORMANCE_HINT=THROUGHPUT, the precision hint given), frames
fed through an AsyncInferQueue (as many requests as the plugin's optimal number), NumPy GFL
decoding and NMS in the completion callback, results put back in frame order. Same model files and
thresholds as fovea's OpenVINO manifests.

    .deps/venv/bin/python benches/peers/openvino_pipeline.py VIDEO... [--model engines/nanodet-g-416-ov-int8.xml]
        [--precision f32|bf16] [--frames 300] [--threads 2]
"""
import argparse
import os
import statistics
import sys
import time

import cv2
import openvino as ov

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nanodet_numpy as nd  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def compile_model(model, precision, threads):
    core = ov.Core()
    cfg = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_NUM_THREADS": str(threads)}
    if precision:  # None: the plugin's default (what fovea's INT8 manifest runs with)
        cfg["INFERENCE_PRECISION_HINT"] = precision
    return core.compile_model(os.path.join(ROOT, model), "CPU", cfg)


def run(compiled, path, frames):
    names = list(nd.SCORES) + list(nd.BOXES)
    outs = [compiled.output(n) for n in names]
    queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    results = {}

    def done(req, userdata):
        i, w, h = userdata
        results[i] = nd.decode({n: req.get_tensor(o).data for n, o in zip(names, outs)}, w, h)

    queue.set_callback(done)
    cap = cv2.VideoCapture(path)
    n = 0
    t0 = time.perf_counter()
    while n < frames:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        queue.start_async({nd.INPUT: nd.preprocess(bgr)}, (n, w, h))
        n += 1
    queue.wait_all()
    dets = sum(len(results[i][0]) for i in range(n))
    dt = time.perf_counter() - t0
    return n, dets, n / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--model", default="engines/nanodet-g-416-ov-int8.xml")
    ap.add_argument("--precision", default=None, choices=["f32", "bf16"], help="default: the plugin's default for the CPU")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    compiled = compile_model(a.model, a.precision, a.threads)
    print(f"openvino peer: OpenCV {cv2.__version__} + OpenVINO {ov.__version__} throughput mode "
          f"({compiled.get_property('NUM_STREAMS')} streams, {a.precision}) + NumPy", file=sys.stderr)
    for v in a.videos:
        fps = [run(compiled, v, a.frames)[2] for _ in range(a.rounds)]
        print(f"  {os.path.basename(v):<26} end-to-end {statistics.median(fps):6.1f} FPS", file=sys.stderr)


if __name__ == "__main__":
    main()
