#!/usr/bin/env python3
"""Independent reference for fovea's ROI stage (tests/it/roi.rs), made once and committed.

Frames come from the ffmpeg CLI as raw RGB24 (the same pixels fovea decodes; the test checks a
checksum first). Every box is cropped with NumPy slicing (left/top floored, right/bottom ceiled,
clamped), resized by OpenCV's INTER_LINEAR on the float32 crop (OpenCV's own float bilinear, so
there is no 8-bit rounding to argue about), normalised, and its colour statistics taken with
cv2.cvtColor(COLOR_RGB2HSV) + cv2.inRange and NumPy.

Writes tests/data/roi_reference.json and tests/data/roi_reference_<image>.npy (N x 3 x S x S, f32).
"""
import json
import math
import subprocess
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT.parent / "shared" / "media"
OUT = ROOT / "tests" / "data"
SIZE = 24
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32) * 255
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32) * 255
LOWER, UPPER, DARK = (35, 40, 40), (85, 255, 255), 40
# (bbox, context expansion, letterbox pad or None): inside, touching edges, outside (clamped),
# tiny (upscaled a lot), large (downscaled), expanded like the validator's ball crops.
BOXES = {
    "messi5.jpg": [
        ([212.3, 41.8, 268.9, 196.2], 1.0, None),
        ([0.0, 200.0, 90.0, 342.0], 1.0, None),
        ([500.5, -10.0, 560.0, 60.0], 1.0, 114),
        ([300.0, 280.0, 306.0, 286.0], 4.0, None),
        ([10.0, 10.0, 530.0, 330.0], 1.0, 0),
        ([120.2, 150.7, 140.9, 230.1], 1.5, None),
    ],
    "parkour.jpg": [
        ([100.0, 100.0, 400.0, 500.0], 1.0, None),
        ([0.0, 0.0, 50.0, 50.0], 1.0, 114),
        ([700.0, 600.0, 900.0, 900.0], 1.0, None),
        ([333.3, 222.2, 344.4, 233.3], 4.0, None),
        ([50.0, 400.0, 800.0, 450.0], 1.0, 114),
        ([600.0, 50.0, 640.0, 200.0], 2.0, None),
    ],
}


def decode(path):
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", str(path)],
                           check=True, capture_output=True, text=True).stdout.strip().split(",")
    w, h = int(probe[0]), int(probe[1])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def crop_of(b, expand, w, h):
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    hw, hh = (b[2] - b[0]) / 2 * expand, (b[3] - b[1]) / 2 * expand
    l, t = math.floor(max(cx - hw, 0)), math.floor(max(cy - hh, 0))
    r, bt = math.ceil(min(cx + hw, w)), math.ceil(min(cy + hh, h))
    return l, t, r - l, bt - t


def roi(img, crop, pad):
    x, y, w, h = crop
    c = img[y:y + h, x:x + w].astype(np.float32)
    if pad is None:
        out = cv2.resize(c, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    else:
        r = min(SIZE / w, SIZE / h)
        nw, nh = min(max(round(w * r), 1), SIZE), min(max(round(h * r), 1), SIZE)
        out = np.full((SIZE, SIZE, 3), pad, np.float32)
        ox, oy = (SIZE - nw) // 2, (SIZE - nh) // 2
        out[oy:oy + nh, ox:ox + nw] = cv2.resize(c, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return ((out - MEAN) / STD).transpose(2, 0, 1)


def stats(img, crop):
    x, y, w, h = crop
    c = img[y:y + h, x:x + w]
    f = c.reshape(-1, 3).astype(np.float64)
    hsv = cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_RGB2HSV)
    mean = f.mean(0)
    return {
        "mean": mean.tolist(),
        "std": f.std(0).tolist(),
        "green_dominance": float(mean[1] - max(mean[0], mean[2])),
        "green_fraction": float((cv2.inRange(hsv, LOWER, UPPER) > 0).mean()),
        "dark_fraction": float((hsv[..., 2] < DARK).mean()),
    }


def main():
    ref = {"size": SIZE, "mean": MEAN.tolist(), "std": STD.tolist(), "images": {}}
    for name, boxes in BOXES.items():
        img = decode(MEDIA / name)
        h, w = img.shape[:2]
        entries, tensors = [], []
        for b, expand, pad in boxes:
            crop = crop_of(b, expand, w, h)
            tensors.append(roi(img, crop, pad))
            entries.append({"bbox": b, "expand": expand, "pad": pad, "crop": crop, "stats": stats(img, crop_of(b, 1.0, w, h))})
        npy = f"roi_reference_{Path(name).stem}.npy"
        np.save(OUT / npy, np.stack(tensors).astype(np.float32))
        ref["images"][name] = {"width": w, "height": h, "pixel_sum": int(img.astype(np.uint64).sum()), "tensor": npy, "boxes": entries}
    (OUT / "roi_reference.json").write_text(json.dumps(ref, indent=1) + "\n")
    print("wrote", OUT / "roi_reference.json")


if __name__ == "__main__":
    main()
