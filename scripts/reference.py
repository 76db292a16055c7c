#!/usr/bin/env python3
"""Regenerates tests/data/*.reference.json: NanoDet-g detections computed independently of fovea
(OpenCV decode + resize, onnxruntime, NumPy GFL decoding and NMS).

    .deps/venv/bin/python scripts/reference.py
"""
import json
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches", "peers"))
import nanodet_numpy as nd  # noqa: E402

MEDIA = os.path.join(ROOT, "..", "shared", "media")
MODEL = os.path.join(ROOT, "engines", "nanodet-g-416.onnx")
IMAGES = ["messi5.jpg", "parkour.jpg"]


def main():
    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    for name in IMAGES:
        bgr = cv2.imread(os.path.join(MEDIA, name), cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        outs = sess.run(None, {nd.INPUT: nd.preprocess(bgr)})
        outputs = {o.name: v for o, v in zip(sess.get_outputs(), outs)}
        boxes, scores, classes = nd.decode(outputs, w, h)
        ref = {
            "image": name,
            "model": "nanodet-g-416.onnx",
            "generator": f"scripts/reference.py (onnxruntime {ort.__version__}, opencv {cv2.__version__}, numpy {np.__version__})",
            "score_threshold": 0.35,
            "nms_iou": 0.6,
            "detections": [
                {"bbox": [round(float(v), 2) for v in b], "score": round(float(s), 4), "class_id": int(c)}
                for b, s, c in zip(boxes, scores, classes)
            ],
        }
        out = os.path.join(ROOT, "tests", "data", os.path.splitext(name)[0] + ".reference.json")
        with open(out, "w") as f:
            json.dump(ref, f, indent=1)
            f.write("\n")
        print(f"{out}: {len(ref['detections'])} detections")


if __name__ == "__main__":
    main()
