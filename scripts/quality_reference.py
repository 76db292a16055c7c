#!/usr/bin/env python3
"""Independent reference for fovea's frame quality measures (tests/it/quality.rs), with OpenCV and NumPy.

Reads frames.json ([{"file": ..., "width": W, "height": H}], packed RGB files beside it) from the
folder given, prints JSON: per frame brightness, contrast, sharpness (variance of
cv2.Laplacian(gray, CV_64F, ksize=1) over the interior pixels), colourfulness (Hasler and
Suesstrunk, float64) and the exposure fractions.
"""
import json
import os
import sys

import cv2
import numpy as np


def measure(rgb):
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    lap = cv2.Laplacian(gray, cv2.CV_64F, ksize=1)[1:-1, 1:-1]
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    colourfulness = np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return {
        "brightness": float(gray.mean()),
        "contrast": float(gray.std()),
        "sharpness": float(lap.var()) if lap.size else 0.0,
        "colourfulness": float(colourfulness),
        "underexposed": float((gray < 16).mean()),
        "overexposed": float((gray > 239).mean()),
    }


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "frames.json")) as f:
        index = json.load(f)
    out = []
    for e in index:
        raw = np.fromfile(os.path.join(folder, e["file"]), dtype=np.uint8)
        out.append(measure(raw.reshape(e["height"], e["width"], 3)))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
