#!/usr/bin/env python3
"""Frames per second from Python through the binding (OpenCV decodes, fovea detects and tracks via
python/fovea) vs the `fovea detect` CLI on the same clip, frames, model and threads; alternating
rounds, medians. Both use the release build (`make build`)."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/release/libfovea.so"))
sys.path.insert(0, str(ROOT / "python"))
import fovea  # noqa: E402


def python_round(engine, video, frames):
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30
    n = 0
    t0 = time.perf_counter()
    with engine.stream(fps=fps) as s:
        while n < frames:
            ok, f = cap.read()
            if not ok:
                break
            s.send(f, pts=n / fps, format="bgr")
            for _ in s.results():
                pass
            n += 1
    return n / (time.perf_counter() - t0)


def cli_round(video, model, frames, fps):
    o = subprocess.run([str(ROOT / "target/release/fovea"), "detect", str(video), "--model", str(model), "--duration", str(frames / fps),
                        "-q", "-o", "/dev/null"], capture_output=True, text=True, check=True)
    return float(re.search(r"throughput\s+([\d.]+) FPS", o.stderr).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default=str(ROOT.parent / "shared/media/vtest.avi"))
    ap.add_argument("--model", default=str(ROOT / "engines/nanodet-g-416.toml"))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    fps = cv2.VideoCapture(a.video).get(cv2.CAP_PROP_FPS) or 30
    engine = fovea.Engine(config=f"model = '{a.model}'")
    py, cli = [], []
    for r in range(a.rounds):
        py.append(python_round(engine, a.video, a.frames))
        cli.append(cli_round(a.video, a.model, a.frames, fps))
        print(f"round {r + 1}: python binding {py[-1]:.1f} FPS, CLI {cli[-1]:.1f} FPS", flush=True)
    p, c = statistics.median(py), statistics.median(cli)
    print(f"median: python binding {p:.1f} FPS, CLI {c:.1f} FPS ({p / c:.2f} of the CLI), {Path(a.video).name}, {a.frames} frames, {Path(a.model).stem}")


if __name__ == "__main__":
    main()
