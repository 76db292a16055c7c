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
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import pitch_clip  # noqa: E402
import score_clip  # noqa: E402

FOVEA = str(ROOT / "target" / "release" / "fovea")
WORK = ROOT / ".deps" / "bench" / "pitch_model"
FRAMES = 300


def wrap(pose, keypoints, out):
    """POSE's graph with its output replaced by one detection holding `keypoints` (frame pixels
    of a 1280 x 720 frame letterboxed into 640 x 640: y + 140, / 2)."""
    m = onnx.load(str(pose))
    g = m.graph
    real = g.output[0].name
    n = [d.dim_value for d in g.output[0].type.tensor_type.shape.dim][2]
    const = np.zeros((1, 101, n), np.float32)
    const[0, :5, 0] = [320, 320, 636, 356, 0.9]
    for j, (x, y) in enumerate(keypoints):
        seen = x != 0 or y != 0
        const[0, 5 + 3 * j:8 + 3 * j, 0] = [x / 2, y / 2 + 140, 0.9 if seen else 0.05]
    g.initializer.extend([helper.make_tensor("zero_", TensorProto.FLOAT, [1], [0.0]),
                          helper.make_tensor("const_", TensorProto.FLOAT, const.shape, const.ravel().tolist())])
    g.node.extend([helper.make_node("ReduceMean", [real], ["mean_"], axes=[0, 1, 2], keepdims=0),
                   helper.make_node("Mul", ["mean_", "zero_"], ["z_"]),
                   helper.make_node("Add", ["z_", "const_"], ["output0_"])])
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info("output0_", TensorProto.FLOAT, [1, 101, n])])
    onnx.save(m, str(out / "pitch.onnx"))
    (out / "pitch.toml").write_text("""[model]
name = "yolov8n-pitch-stand-in"
file = "pitch.onnx"
[input]
name = "images"
width = 640
height = 640
layout = "nchw"
channels = "rgb"
mean = [0, 0, 0]
std = [255, 255, 255]
resize = "letterbox"
[decoder]
kind = "yolov8"
output = "output0_"
keypoints = 32
[keypoints]
template = "soccer-pitch-32"
[thresholds]
score = 0.25
nms_iou = 0.7
[labels]
names = ["pitch"]
""")
    return out / "pitch.toml"


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
    model = wrap(pose, truth, WORK)
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
