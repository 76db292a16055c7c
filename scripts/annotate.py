#!/usr/bin/env python3
"""Draws fovea's JSONL detections on one frame of the video they came from.

    .deps/venv/bin/python scripts/annotate.py VIDEO RESULTS.jsonl FRAME OUT.jpg [--min-score 0.4]
"""
import argparse
import json

import cv2

COLOURS = [(60, 180, 255), (80, 220, 80), (255, 120, 60), (200, 80, 255), (60, 220, 220)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("results")
    ap.add_argument("frame", type=int)
    ap.add_argument("out")
    ap.add_argument("--min-score", type=float, default=0.0)
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    rec = None
    with open(a.results) as f:
        for line in f:
            r = json.loads(line)
            if r["frame"] == a.frame:
                rec = r
                break
    if rec is None:
        raise SystemExit(f"frame {a.frame} not in {a.results}")
    cap = cv2.VideoCapture(a.video)
    cap.set(cv2.CAP_PROP_POS_FRAMES, a.frame)
    ok, img = cap.read()
    if not ok:
        raise SystemExit(f"cannot read frame {a.frame} of {a.video}")
    if a.scale != 1.0:
        img = cv2.resize(img, None, fx=a.scale, fy=a.scale, interpolation=cv2.INTER_CUBIC)
    for d in rec["detections"]:
        if d["score"] < a.min_score:
            continue
        x1, y1, x2, y2 = [int(round(v * a.scale)) for v in d["bbox"]]
        c = COLOURS[d["class_id"] % len(COLOURS)]
        cv2.rectangle(img, (x1, y1), (x2, y2), c, 2)
        label = f"{d['label']} {d['score']:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        cv2.rectangle(img, (x1, max(0, y1 - th - 4)), (x1 + tw + 2, y1), c, -1)
        cv2.putText(img, label, (x1 + 1, y1 - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(a.out, img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"{a.out}: frame {a.frame}, {len(rec['detections'])} detections")


if __name__ == "__main__":
    main()
