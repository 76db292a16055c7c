#!/usr/bin/env python3
"""Time per frame of supervision's sv.ByteTrack on the workload of benches/track.rs (10, 30, 100
objects moving with noise, 300 frames), for comparison with fovea's tracker."""
import time

import numpy as np
import supervision as sv


def sequence(n, frames, rng):
    cols = int(np.ceil(np.sqrt(n)))
    starts = [((i % cols) * 120.0, (i // cols) * 200.0, rng.uniform(-1, 1), rng.uniform(-0.5, 0.5)) for i in range(n)]
    out = []
    for f in range(frames):
        boxes, scores = [], []
        for x, y, vx, vy in starts:
            x, y = x + vx * f + rng.uniform(0, 2), y + vy * f + rng.uniform(0, 2)
            boxes.append([x, y, x + 40, y + 100])
            scores.append(0.3 + 0.7 * rng.uniform())
        out.append(sv.Detections(xyxy=np.array(boxes, np.float32), confidence=np.array(scores, np.float32), class_id=np.zeros(n, int)))
    return out


def main():
    rng = np.random.default_rng(0)
    print(f"sv.ByteTrack (supervision {sv.__version__}) time per frame:")
    for n in (10, 30, 100):
        seq = sequence(n, 300, rng)
        t = sv.ByteTrack(track_activation_threshold=0.5, lost_track_buffer=30, minimum_matching_threshold=0.8, frame_rate=30)
        t0 = time.perf_counter()
        for d in seq:
            t.update_with_detections(d)
        dt = (time.perf_counter() - t0) / len(seq)
        print(f"  {n:4d} objects: {dt * 1e6:9.1f} us/frame")


if __name__ == "__main__":
    main()
