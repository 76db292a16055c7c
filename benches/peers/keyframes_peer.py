"""Key-frame selection in Python, the two ways a Python user writes it (OpenCV + NumPy +
onnxruntime with the same NanoDet-g model fovea uses), for `make bench-keyframes`:

  one-stage: OpenCV reads every frame, computes the quality measures on each (grey, variance of
             the Laplacian, Hasler-Suesstrunk colourfulness, exposure, histogram, difference
             hash, on a 256-px copy as fovea does), and runs the detector on every sampled frame
             (--detect-every, default 5: 5 frames a second at 25 fps);
  two-stage: the same measures on every frame, shots from histogram/hash changes, the best
             three candidates per shot, then a second pass (grab() skips, retrieve() only the
             candidates) and the detector on those only.

Prints one JSON object: seconds, frames read, frames measured, detector frames, shots.
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


def measures(bgr):
    h, w = bgr.shape[:2]
    small = cv2.resize(bgr, (256, max(2, round(h * 256 / w))), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    lap = cv2.Laplacian(gray, cv2.CV_64F, ksize=1)[1:-1, 1:-1]
    b, g, r = (small[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    hist = cv2.calcHist([small], [0, 1, 2], None, [4, 4, 4], [0, 256, 0, 256, 0, 256]).flatten()
    hist /= hist.sum()
    cells = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int32)
    return {
        "brightness": float(gray.mean()),
        "contrast": float(gray.std()),
        "sharpness": float(lap.var()),
        "colourfulness": float(np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)),
        "under": float((gray < 16).mean()),
        "over": float((gray > 239).mean()),
        "hist": hist,
        "hash": (cells[:, :-1] > cells[:, 1:]).flatten(),
    }


def quality(m, sharp95):
    s = min(1.0, np.log1p(m["sharpness"]) / max(sharp95, 1e-9))
    e = max(0.0, 1 - m["under"] - m["over"]) * (1 - 0.5 * abs(m["brightness"] - 128) / 128)
    return 0.45 * s + 0.15 * min(1.0, m["contrast"] / 64) + 0.25 * e + 0.15 * min(1.0, m["colourfulness"] / 100)


def detect(sess, bgr):
    h, w = bgr.shape[:2]
    outs = sess.run(None, {nd.INPUT: nd.preprocess(bgr)})
    boxes, scores, classes = nd.decode({o.name: v for o, v in zip(sess.get_outputs(), outs)}, w, h)
    return int((classes == 0).sum())


def shots_of(ms):
    change = [0.0] + [
        0.5 * (0.5 * np.abs(a["hist"] - b["hist"]).sum() + (a["hash"] != b["hash"]).mean()) for a, b in zip(ms, ms[1:])
    ]
    cuts = [i for i in range(1, len(ms)) if change[i] > 0.18 and change[i] >= max(change[max(1, i - 12):i + 13])]
    bounds = [0] + cuts + [len(ms)]
    return list(zip(bounds, bounds[1:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--mode", choices=["one-stage", "two-stage"], required=True)
    ap.add_argument("--detect-every", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    sess = ort.InferenceSession(os.path.join(ROOT, "engines", "nanodet-g-416-int8.onnx"), so, providers=["CPUExecutionProvider"])
    t0 = time.perf_counter()
    cap = cv2.VideoCapture(a.video)
    ms, detected, n = [], 0, 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        ms.append(measures(bgr))
        if a.mode == "one-stage" and n % a.detect_every == 0:
            detect(sess, bgr)
            detected += 1
        n += 1
    cap.release()
    sharp95 = float(np.percentile([np.log1p(m["sharpness"]) for m in ms], 95))
    shots = shots_of(ms)
    if a.mode == "two-stage":
        wanted = set()
        for s, e in shots:
            ranked = sorted(range(s, e), key=lambda i: -quality(ms[i], sharp95))
            wanted.update(ranked[:3])
        cap = cv2.VideoCapture(a.video)
        for i in range(max(wanted) + 1 if wanted else 0):
            if not cap.grab():
                break
            if i in wanted:
                ok, bgr = cap.retrieve()
                detect(sess, bgr)
                detected += 1
        cap.release()
    print(json.dumps({"mode": a.mode, "seconds": time.perf_counter() - t0, "frames": n, "measured": len(ms), "detector_frames": detected, "shots": len(shots)}))


if __name__ == "__main__":
    main()
