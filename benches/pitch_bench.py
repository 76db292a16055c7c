"""`make bench-pitch` (issue 32): pitch keypoints without a keypoint model. Composited broadcast
clips (tests/python/score_clip.py painting tests/python/pitch_clip.py's camera paths: a pan, a
zoom, a cut; H.264 at 1280 x 720), each `fovea mine`d; then the validator's keypoint score
(`fovea score`, exact to the validator) of fovea's keypoints against the score of the true
keypoints, both beside the same true objects, so that only the keypoints differ (issue 32's target:
>= 80%). Also the pitch stage's time a frame, `fovea mine`'s end-to-end rate on a 750-frame
1280 x 720 clip (target >= 25 frames/s) and TurboVision's Miner on the same frames (its p95 a
frame; TurboVision's bar: 100 ms). Writes
benches/results/pitch.json."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import pitch_clip  # noqa: E402
import score_clip  # noqa: E402

FOVEA = str(ROOT / "target" / "release" / "fovea")
WORK = ROOT / ".deps" / "bench" / "pitch"
FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def clip(kind):
    d = WORK / kind
    d.mkdir(parents=True, exist_ok=True)
    video, sub, frames, _ = score_clip.make(d, frames=FRAMES, cam=pitch_clip.path(kind, FRAMES))
    mp4 = d / "match.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-c:v", "libx264", "-preset", "fast", "-crf", "23",
                    "-pix_fmt", "yuv420p", str(mp4)], check=True)
    for p in d.glob("s*.png"):
        p.unlink()
    return mp4, frames


def keypoint_score(video, frames, keypoints):
    sub = {"frames": {k: {"objects": [{x: o[x] for x in ("id", "bbox", "class_id")} for o in f["objects"]],
                          "keypoints": keypoints[k]} for k, f in frames.items()}}
    path = Path(video).with_suffix(".sub.json")
    path.write_text(json.dumps(sub))
    out = subprocess.run([FOVEA, "score", str(video), "--boxes", str(path), "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["keypoints"]["score"]


def main():
    rows = []
    for kind in ("pan", "zoom", "cut", "high", "low"):
        video, frames = clip(kind)
        resp = video.with_suffix(".response.json")
        t = time.perf_counter()
        run = subprocess.run([FOVEA, "mine", str(video), "-o", str(resp), "-q"], check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t
        m = re.search(r"pitch +lines: keypoints in (\d+) of (\d+) frames \(([\d.]+) ms a frame\)", run.stderr)
        fps = re.search(r"throughput +([\d.]+) FPS", run.stderr)
        mined = json.loads(resp.read_text())["frames"]
        truth = {k: f["keypoints"] for k, f in frames.items()}
        ours = {k: mined[k]["keypoints"] for k in frames}
        true_score, our_score = keypoint_score(video, frames, truth), keypoint_score(video, frames, ours)
        row = {"path": kind, "frames": FRAMES, "registered": int(m.group(1)), "pitch_ms_per_frame": float(m.group(3)),
               "mine_fps": float(fps.group(1)), "mine_wall_s": round(wall, 2), "keypoint_score_truth": round(true_score, 2),
               "keypoint_score_fovea": round(our_score, 2), "share": round(our_score / true_score, 4) if true_score else None}
        print(json.dumps(row), flush=True)
        rows.append(row)
    total = sum(r["keypoint_score_fovea"] for r in rows) / sum(r["keypoint_score_truth"] for r in rows)
    print(f"keypoint score of fovea's keypoints: {100 * total:.1f}% of the true keypoints' (target >= 80%)")
    long = long_run()
    out = ROOT / "benches" / "results" / "pitch.json"
    out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows, "share": round(total, 4),
                               "mine_750": long}, indent=1) + "\n")


def long_run(frames=750):
    """`fovea mine` end to end on a 750-frame 1280 x 720 H.264 clip (the pan path, slowed down),
    and TurboVision's `Miner.predict_batch` on the same frames in batches of 64 (per-frame times:
    median and p95 over the batches' frames)."""
    import cv2
    import numpy as np
    d = WORK / "long"
    d.mkdir(parents=True, exist_ok=True)
    mp4 = d / "match.mp4"
    if not mp4.exists():
        video, _, _, _ = score_clip.make(d, frames=frames, cam=pitch_clip.path("pan", frames))
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-c:v", "libx264", "-preset", "fast", "-crf", "23",
                        "-pix_fmt", "yuv420p", str(mp4)], check=True)
        for p in d.glob("s*.png"):
            p.unlink()
        video.unlink()
    resp = d / "response.json"
    t = time.perf_counter()
    run = subprocess.run([FOVEA, "mine", str(mp4), "-o", str(resp), "-q"], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    m = re.search(r"pitch +lines: keypoints in (\d+) of (\d+) frames \(([\d.]+) ms a frame\)", run.stderr)
    row = {"frames": frames, "mine_wall_s": round(wall, 2), "mine_fps": round(frames / wall, 1), "registered": int(m.group(1)),
           "pitch_ms_per_frame": float(m.group(3)), "processing_time": json.loads(resp.read_text())["processing_time"]}
    sys.path.insert(0, str(ROOT / "python"))
    os.environ.setdefault("FOVEA_LIB", str(ROOT / "target" / "release" / "libfovea.so"))
    from fovea.turbovision import Miner
    cap, images = cv2.VideoCapture(str(mp4)), []
    while (f := cap.read()[1]) is not None:
        images.append(f)
    miner, per_frame = Miner(None), []
    t = time.perf_counter()
    for off in range(0, len(images), 64):
        b = time.perf_counter()
        miner.predict_batch(images[off:off + 64], off, 32)
        per_frame += [(time.perf_counter() - b) / len(images[off:off + 64])] * len(images[off:off + 64])
    miner.close()
    row["turbovision_fps"] = round(len(images) / (time.perf_counter() - t), 1)
    row["turbovision_ms_median"] = round(1000 * float(np.median(per_frame)), 2)
    row["turbovision_ms_p95"] = round(1000 * float(np.percentile(per_frame, 95)), 2)
    print(json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    main()
