"""The Score Vision validator's keypoint scoring in Python (what `fovea score` is compared with in
`make bench-score`): OpenCV's RANSAC homographies and the NumPy checks of keypoint_scoring.py
(written again in tests/python/test_score.py::reference), and its pitch-line finder
(detect_pitch_lines_tophat: top-hat, grass mask, Canny, HoughLinesP, then the distance of the
keypoints to the segments) on the same sampled frames as fovea. Run:
    python benches/peers/score_peer.py VIDEO MINER.json --line-frames 30
prints one JSON object: seconds, the keypoint score ("score", 0..100) and its parts."""
import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def pitch_segments(frame):
    """The validator's detect_pitch_lines_tophat (its steps 1-7)."""
    h, w = frame.shape[:2]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    grass = cv2.inRange(hsv, (35, 40, 40), (85, 255, 255))
    grass = cv2.morphologyEx(grass, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (31, 31)))
    _, white = cv2.threshold(tophat, 30, 255, cv2.THRESH_BINARY)
    masked = cv2.bitwise_and(white, grass)
    edges = cv2.Canny(cv2.GaussianBlur(masked, (5, 5), 0), 30, 100)
    lines = cv2.HoughLinesP(edges, rho=1, theta=np.pi / 360, threshold=30, minLineLength=10, maxLineGap=15)
    mask = np.zeros_like(gray)
    kept = []
    for x1, y1, x2, y2 in ([] if lines is None else lines[:, 0]):
        ok = all(grass[int(y1 + (y2 - y1) * t), int(x1 + (x2 - x1) * t)] != 0 for t in np.linspace(0, 1, 30))
        if ok:
            cv2.line(mask, (int(x1), int(y1)), (int(x2), int(y2)), 255, 2)
            kept.append((x1, y1, x2, y2))
    b = 3
    mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = 0, 0, 0, 0
    final = [s for s in kept if 0 <= (s[0] + s[2]) // 2 < w and 0 <= (s[1] + s[3]) // 2 < h and mask[(s[1] + s[3]) // 2, (s[0] + s[2]) // 2] > 0]
    mids = [((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in final]
    return [s for s, (mx, my) in zip(final, mids) if sum(abs(ux - mx) < 80 and abs(uy - my) < 80 for ux, uy in mids) <= 80]


def seg_dist(px, py, x1, y1, x2, y2):
    vx, vy, wx, wy = x2 - x1, y2 - y1, px - x1, py - y1
    t = max(0, min(1, (wx * vx + wy * vy) / float(vx * vx + vy * vy))) if (vx or vy) else 0
    return np.hypot(px - (x1 + t * vx), py - (y1 + t * vy))


def on_line(kps, segs, w, h):
    from test_score import valid
    pts, _ = valid(kps, (w, h))
    if len(pts) == 0:
        return 0.5
    if not segs:
        return 0.0
    ns = [(x1 / w, y1 / h, x2 / w, y2 / h) for x1, y1, x2, y2 in segs]
    d = np.mean([min(seg_dist(u / w, v / h, *s) for s in ns) for u, v in pts])
    return float(1 / (1 + np.exp((d - 0.02) / 0.0037)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("miner")
    ap.add_argument("--line-frames", type=int, default=30)
    a = ap.parse_args()
    t0 = time.time()
    import test_score
    frames = json.load(open(a.miner))["frames"]
    cap = cv2.VideoCapture(a.video)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    test_score.W, test_score.H = w, h  # the reference reads the frame size from its module
    cands = sorted(int(k) for k, f in frames.items() if f.get("objects") and len(test_score.valid(f.get("keypoints", []), (w, h))[0]) >= 4)
    n = min(a.line_frames, len(cands))
    pick = sorted({cands[(2 * k + 1) * len(cands) // (2 * n)] for k in range(n)}) if n else []
    lines = {}
    t_lines = time.time()
    for f in pick:
        cap.set(cv2.CAP_PROP_POS_FRAMES, f)
        ok, img = cap.read()
        if ok:
            lines[f] = on_line(frames[str(f)]["keypoints"], pitch_segments(img), w, h)
    t_lines = time.time() - t_lines
    final, per, parts = test_score.reference(frames, lines)
    on = float(np.mean(list(lines.values()))) if lines else 1.0
    print(json.dumps({"seconds": time.time() - t0, "lines_seconds": t_lines, "score": final, "on_line": on, "frames_with_homography": len(per), **parts}))


if __name__ == "__main__":
    main()
