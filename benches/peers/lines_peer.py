"""The validator's pitch-line finder (score-vision `detect_pitch_lines_tophat`, steps 1-4) timed
stage by stage with OpenCV on one thread, on a raw RGB frame, beside fovea's CPU kernel
(`cargo run --release --example lines_stages -- FRAME.rgb W H`):

    ffmpeg -i CLIP -vf "select=eq(n\\,5)" -vframes 1 -f rawvideo -pix_fmt rgb24 frame.rgb
    python benches/peers/lines_peer.py frame.rgb 1280 720
"""
import sys
import time

import cv2
import numpy as np


def main():
    path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    cv2.setNumThreads(1)
    frame = np.fromfile(path, np.uint8).reshape(h, w, 3)[:, :, ::-1].copy()
    tot = {}
    for _ in range(rounds):
        t = {}
        s = time.perf_counter()
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        grass = cv2.inRange(cv2.cvtColor(frame, cv2.COLOR_BGR2HSV), (35, 40, 40), (85, 255, 255))
        t["prep"] = time.perf_counter() - s
        s = time.perf_counter()
        grass = cv2.morphologyEx(grass, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        t["grass opening"] = time.perf_counter() - s
        s = time.perf_counter()
        tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (31, 31)))
        t["tophat"] = time.perf_counter() - s
        s = time.perf_counter()
        _, white = cv2.threshold(tophat, 30, 255, cv2.THRESH_BINARY)
        masked = cv2.bitwise_and(white, grass)
        t["mask"] = time.perf_counter() - s
        s = time.perf_counter()
        blur = cv2.GaussianBlur(masked, (5, 5), 0)
        t["gaussian"] = time.perf_counter() - s
        s = time.perf_counter()
        edges = cv2.Canny(blur, 30, 100)
        t["canny"] = time.perf_counter() - s
        s = time.perf_counter()
        cv2.HoughLinesP(edges, rho=1, theta=np.pi / 360, threshold=30, minLineLength=10, maxLineGap=15)
        t["hough"] = time.perf_counter() - s
        for k, v in t.items():
            tot[k] = tot.get(k, 0.0) + v
    for k, v in tot.items():
        print(f"{k:16} {v / rounds * 1e3:7.2f} ms")
    print(f"{'total':16} {sum(tot.values()) / rounds * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
