"""The Score Vision validator's keypoint scoring in Python (what `fovea score` is compared with in
`make bench-score`): OpenCV's RANSAC homographies and the NumPy checks of keypoint_scoring.py
(written again in tests/python/test_score.py::reference), and its pitch-line finder
(test_score.pitch_segments, its detect_pitch_lines_tophat: top-hat, grass mask, Canny, HoughLinesP, the distance of the
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
    video_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cands = sorted(int(k) for k, f in frames.items() if int(k) < video_frames and len(test_score.valid(f.get("keypoints", []), (w, h))[0]) >= 4)
    n = min(a.line_frames, len(cands))
    pick = sorted({cands[(2 * k + 1) * len(cands) // (2 * n)] for k in range(n)}) if n else []
    lines = {}
    t_lines = time.time()
    for f in pick:
        cap.set(cv2.CAP_PROP_POS_FRAMES, f)
        ok, img = cap.read()
        if ok:
            lines[f] = test_score.on_line(frames[str(f)]["keypoints"], test_score.pitch_segments(img), w, h)
    t_lines = time.time() - t_lines
    final, per, parts = test_score.reference(frames, lines, set(range(video_frames)))
    on = float(np.mean(list(lines.values()))) if lines else 1.0
    print(json.dumps({"seconds": time.time() - t0, "lines_seconds": t_lines, "score": final, "on_line": on, "frames_with_homography": len(per), **parts}))


if __name__ == "__main__":
    main()
