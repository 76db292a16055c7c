"""`make bench-pitch-model POSE=yolov8n-pitch.onnx` (issue 32): what a pitch keypoint model costs
`fovea mine`, and what `--pitch-every N` saves. POSE is a full-size Ultralytics YOLOv8n pose graph
with 32 keypoints (`scripts/make_pose_models.py --full POSE`; random weights, so its cost is real
and its keypoints are not). So that the keypoints are known, its output is replaced here by the
camera's true keypoints (the graph still runs in full: the constant is added to 0 x the mean of
its real output), on a composited 1280 x 720 clip with a still camera (tests/python/score_clip.py).
Runs `fovea mine` with the lines alone, then the model every 1, 5 and 10 frames; per run the
frames a second end to end, the pitch stage's time a frame, the model's runs and the keypoints'
median distance from the truth. Writes benches/results/pitch_model.json."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import pitch_clip  # noqa: E402
import pose_stand_in  # noqa: E402
import score_clip  # noqa: E402

FOVEA = str(ROOT / "target" / "release" / "fovea")
WORK = ROOT / ".deps" / "bench" / "pitch_model"
FRAMES = 300


def main():
    pose = Path(os.environ.get("POSE", "") or sys.exit("POSE=yolov8n-pitch.onnx (scripts/make_pose_models.py --full) is needed"))
    WORK.mkdir(parents=True, exist_ok=True)
    cam = pitch_clip.camera_at(pitch_clip.POS, (3600, 3400), 40)
    mp4 = WORK / "still.mp4"
    truth_file = WORK / "truth.json"
    if not mp4.exists():
        video, _, frames, _ = score_clip.make(WORK, frames=FRAMES, cam=lambda f: cam)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-c:v", "libx264", "-preset", "fast", "-crf", "23",
                        "-pix_fmt", "yuv420p", str(mp4)], check=True)
        truth_file.write_text(json.dumps(frames["0"]["keypoints"]))
        for p in WORK.glob("s*.png"):
            p.unlink()
        video.unlink()
    truth = np.array(json.loads(truth_file.read_text()))
    model = pose_stand_in.wrap(pose, truth, WORK)
    rows = []
    for label, extra in [("lines", []), ("model every 1", ["--pitch-model", str(model)]),
                         ("model every 5", ["--pitch-model", str(model), "--pitch-every", "5"]),
                         ("model every 10", ["--pitch-model", str(model), "--pitch-every", "10"])]:
        resp = WORK / "response.json"
        t = time.perf_counter()
        run = subprocess.run([FOVEA, "mine", str(mp4), "-o", str(resp), "-q", *extra], check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t
        m = re.search(r"pitch +(?:model on (\d+) frames, lines between|lines): keypoints in (\d+) of (\d+) frames \(([\d.]+) ms a frame\)",
                      run.stderr)
        errs = []
        for f in json.loads(resp.read_text())["frames"].values():
            k = np.array(f["keypoints"])
            both = (k != 0).any(1) & (truth != 0).any(1)
            if both.any():
                errs.append(float(np.median(np.linalg.norm(k[both] - truth[both], axis=1))))
        row = {"pitch": label, "frames": FRAMES, "mine_fps": round(FRAMES / wall, 1), "pitch_ms_per_frame": float(m.group(4)),
               "model_runs": int(m.group(1) or 0), "frames_with_keypoints": int(m.group(2)),
               "median_px_from_truth": round(float(np.median(errs)), 2) if errs else None}
        print(json.dumps(row), flush=True)
        rows.append(row)
    (ROOT / "benches" / "results" / "pitch_model.json").write_text(
        json.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "pose": pose.name, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
