"""`make bench-score` (issue 19): `fovea score` on a 750-frame 1080p H.264 clip (the composited
match of tests/python/score_clip.py, scaled to 1920 x 1080) with a miner file of 5,602 boxes and
32 keypoints per frame, without a classifier (target: under 2 s on these 2 cores), side by side
with the validator's keypoint scoring in Python (benches/peers/score_peer.py) on the same frames.
Then the pitch-line finder alone, one thread each, side by side on the same frames: fovea's CPU
kernel and segments (examples/lines_stages.rs, end to end) against the validator's OpenCV steps
(benches/peers/lines_peer.py), alternating, medians (issue 30's target: 1.5x OpenCV).
Writes benches/results/score.json."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import score_clip  # noqa: E402

FOVEA = str(ROOT / "target" / "release" / "fovea")
PY = sys.executable
WORK = ROOT / ".deps" / "bench" / "score"
FRAMES, W, H = 750, 1920, 1080
BOXES = 5602


def make():
    video, sub = WORK / "match1080.mp4", WORK / "miner.json"
    if video.exists() and sub.exists():
        return video, sub
    WORK.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    ball = cv2.imread(str(score_clip.SPRITES / "football.png"), cv2.IMREAD_UNCHANGED)
    enc = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{W}x{H}", "-r", "25", "-i", "-",
                            "-c:v", "libx264", "-preset", "fast", "-crf", "23", "-pix_fmt", "yuv420p", str(video)], stdin=subprocess.PIPE)
    frames, s = {}, W / score_clip.W
    budget = np.full(FRAMES, BOXES // FRAMES)
    budget[rng.choice(FRAMES, BOXES - budget.sum(), replace=False)] += 1
    for f in range(FRAMES):
        Hm = score_clip.camera(f % 60)  # the camera pans for 2.4 s, then again
        img = score_clip.pitch_image(Hm, rng)
        objects = []
        for pid, who, cls, (x, y) in sorted(score_clip.CAST, key=lambda c: c[3][1])[:budget[f] - 1]:
            foot = score_clip.project(Hm, np.array([[x + 25.0 * (f % 60), y]]))[0]
            im = score_clip.sprite("team1" if who == "referee" else who, pid + f)
            if who == "referee":
                im = score_clip.referee(im)
            objects.append({"id": pid, "bbox": score_clip.paste(img, im, foot[0], foot[1]), "class_id": cls})
        bp = score_clip.project(Hm, [[3600 + 60.0 * (f % 60), 3000]])[0]
        objects.append({"id": 99, "bbox": score_clip.paste(img, ball, bp[0], bp[1]), "class_id": 0})
        big = cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR)
        enc.stdin.write(big.tobytes())
        for o in objects:
            o["bbox"] = [int(round(v * s)) for v in o["bbox"]]
        frames[str(f)] = {"objects": objects, "keypoints": (score_clip.keypoints(Hm) * s).round(2).tolist()}
    enc.stdin.close()
    assert enc.wait() == 0
    sub.write_text(json.dumps({"frames": frames}))
    return video, sub


def run(cmd):
    t = time.time()
    o = subprocess.run(cmd, capture_output=True, text=True)
    if o.returncode != 0:
        sys.exit(f"{cmd[:3]} failed: {o.stderr[-2000:]}")
    return time.time() - t, o.stdout


def main():
    video, sub = make()
    n = sum(len(f["objects"]) for f in json.loads(sub.read_text())["frames"].values())
    res = {"video": "750 frames, 1920x1080 H.264 (composited, tests/python/score_clip.py scaled)", "boxes": n, "keypoints_per_frame": 32, "cores": os.cpu_count()}
    rows = {}
    for name, extra in [("fovea score (30 line frames)", []), ("fovea score, no line frames", ["--line-frames", "0"]), ("fovea score, 750 line frames", ["--line-frames", "750"])]:
        times = []
        for _ in range(3):
            dt, out = run([FOVEA, "score", str(video), "--boxes", str(sub), "--json", "--time", "4", *extra])
            times.append(dt)
        rep = json.loads(out)
        rows[name] = {"wall_s": min(times), "rounds": times, "lines_s": rep["lines_s"], "decode_s": rep["verify"]["seconds"]["decode"], "on_line": rep["keypoints"]["on_line"],
                      "keypoint_score": rep["keypoints"]["score"], "box_score_upper_bound": rep["boxes"]["score"], "final_upper_bound": rep["final_score"]}
        print(name, rows[name])
    times = []
    for _ in range(2):
        dt, out = run([PY, str(ROOT / "benches/peers/score_peer.py"), str(video), str(sub), "--line-frames", "30"])
        times.append(dt)
    peer = json.loads(out)
    rows["Python peer (OpenCV + NumPy, keypoints only, 30 line frames)"] = {"wall_s": min(times), "rounds": times, "lines_s": peer["lines_seconds"],
                                                                          "keypoint_score": peer["score"], "on_line": peer["on_line"]}
    print("peer", rows["Python peer (OpenCV + NumPy, keypoints only, 30 line frames)"])
    res["runs"] = rows
    res["line_kernel"] = line_kernel(video)
    (ROOT / "benches/results/score.json").write_text(json.dumps(res, indent=2) + "\n")


def line_kernel(video, rounds=5, reps=40):
    """ms a frame for fovea's line kernel + segments and for OpenCV's steps, one thread each, on
    frames 5, 200 and 400 of the bench video at 1280 x 720 and 1920 x 1080."""
    out = {}
    for w, h in [(1280, 720), (1920, 1080)]:
        for n in (5, 200, 400):
            raw = WORK / f"frame{n}_{w}x{h}.rgb"
            if not raw.exists():
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-vf", f"select=eq(n\\,{n}),scale={w}:{h}", "-vframes", "1",
                                "-f", "rawvideo", "-pix_fmt", "rgb24", str(raw)], check=True)
            ours, theirs = [], []
            for _ in range(rounds):
                o = subprocess.run([str(ROOT / "target/release/examples/lines_stages"), str(raw), str(w), str(h), str(reps)], capture_output=True, text=True, check=True)
                ours.append(float(next(l for l in o.stdout.splitlines() if l.startswith("end to end")).split()[-2]))
                o = subprocess.run([PY, str(ROOT / "benches/peers/lines_peer.py"), str(raw), str(w), str(h), str(reps)], capture_output=True, text=True, check=True)
                theirs.append(float(next(l for l in o.stdout.splitlines() if l.startswith("total")).split()[-2]))
            f, c = sorted(ours)[rounds // 2], sorted(theirs)[rounds // 2]
            out[f"frame {n}, {w}x{h}"] = {"fovea_ms": f, "opencv_ms": c, "speedup": round(c / f, 2), "fovea_rounds": ours, "opencv_rounds": theirs}
            print("line kernel", n, w, h, out[f"frame {n}, {w}x{h}"])
    return out


if __name__ == "__main__":
    main()
