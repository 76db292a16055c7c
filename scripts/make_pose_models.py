"""Tiny Ultralytics pose models and Ultralytics' own results on them (tests/data/pose_*).

Not run by `make test` (it needs ultralytics and torch, about 6 GB): run by hand with
    python scripts/make_pose_models.py          # in a venv with ultralytics, onnx, onnxruntime
    python scripts/make_pose_models.py --full yolov8n-pitch.onnx   # a full-size graph, for benches
It builds three pose graphs with Ultralytics' own model code and exporter, with random weights
(the output layout is what is checked, not what the weights learnt), a soccer-pitch head of 32
keypoints on a 160 x 160 input:
    pose_v8_k3:  YOLOv8 pose, keypoints x, y, confidence ([1, 4 + 1 + 96, 525])
    pose_11_k3:  YOLO11 pose, x, y, confidence
    pose_11_k2:  YOLO11 pose without keypoint confidence ([1, 4 + 1 + 64, 525])
and, for one deterministic 160 x 160 RGB image (pixel (y, x) of channel c is
(7 y + 13 x + 29 c) mod 256, the same image tests/it/pose.rs makes), Ultralytics' post-processing of
the exported graph's output (onnxruntime, then ultralytics.utils.nms.non_max_suppression and the
pose predictor's keypoint scaling): boxes, scores, classes and keypoints in input pixels, in
tests/data/pose_reference.json.
"""
import json
import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch
import ultralytics
import yaml
from ultralytics import YOLO
from ultralytics.utils import nms as unms
from ultralytics.utils import ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
SIZE = 160
CONF, IOU = 0.25, 0.7


def image():
    y, x, c = np.meshgrid(np.arange(SIZE), np.arange(SIZE), np.arange(3), indexing="ij")
    return ((7 * y + 13 * x + 29 * c) % 256).astype(np.uint8)  # HWC, RGB


def build(name, family, dims, seed):
    src = os.path.join(os.path.dirname(ultralytics.__file__), "cfg", "models", family)
    base = {"v8": "yolov8-pose.yaml", "11": "yolo11-pose.yaml"}[family]
    cfg = yaml.safe_load(open(os.path.join(src, base)))
    cfg["nc"] = 1
    cfg["kpt_shape"] = [32, dims]
    cfg["scales"] = {"n": [0.33, 0.0625, 256]}
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, f"{name}n.yaml")
        yaml.safe_dump(cfg, open(path, "w"))
        model = YOLO(path, task="pose")
        head = model.model.model[-1]
        # Untrained class biases make every score about 0.001 and the same across a level: give
        # the class convolution weights that spread the scores (no ties), so that NMS has work.
        # Random weights shrink activations layer by layer to about 0: batch-norm statistics
        # measured on noise images (one pass, cumulative) keep every layer's output spread.
        net = model.model
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        net.train()
        with torch.no_grad():
            net(torch.rand(8, 3, SIZE, SIZE))
            for seq in head.cv3:
                seq[-1].weight.normal_(0.0, 0.05)
                seq[-1].bias.fill_(-1.0)
        net.eval()
        out = model.export(format="onnx", imgsz=SIZE, dynamic=False, simplify=False, opset=17)
        dst = os.path.join(DATA, f"{name}.onnx")
        os.replace(out, dst)
    return dst


def reference(onnx_path, dims):
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    x = image().transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    raw = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    pred = unms.non_max_suppression(torch.from_numpy(raw), CONF, IOU, nc=1, max_det=300)[0]
    kpts = pred[:, 6:].view(len(pred), 32, dims)
    kpts = ops.scale_coords((SIZE, SIZE), kpts, (SIZE, SIZE))
    pred[:, :4] = ops.scale_boxes((SIZE, SIZE), pred[:, :4], (SIZE, SIZE))
    return {
        "shape": list(raw.shape),
        "detections": [
            {"box": p[:4].tolist(), "score": float(p[4]), "class": int(p[5]), "keypoints": k.tolist()}
            for p, k in zip(pred, kpts)
        ],
    }


def full(dst):
    """A full-size YOLOv8n pose graph (640 x 640, one class, 32 keypoints; random weights): what a
    pitch keypoint model costs to run (benches/pitch_model_bench.py)."""
    src = os.path.join(os.path.dirname(ultralytics.__file__), "cfg", "models", "v8", "yolov8-pose.yaml")
    cfg = yaml.safe_load(open(src))
    cfg["nc"], cfg["kpt_shape"] = 1, [32, 3]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "yolov8n-pitch.yaml")
        yaml.safe_dump(cfg, open(path, "w"))
        out = YOLO(path, task="pose").export(format="onnx", imgsz=640, dynamic=False, simplify=False, opset=17)
        os.replace(out, dst)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        return full(sys.argv[2])
    refs = {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "onnxruntime": ort.__version__,
            "conf": CONF, "iou": IOU, "size": SIZE, "models": {}}
    for seed, (name, family, dims) in enumerate([("pose_v8_k3", "v8", 3), ("pose_11_k3", "11", 3), ("pose_11_k2", "11", 2)]):
        path = build(name, family, dims, seed + 1)
        refs["models"][name] = reference(path, dims)
        n = len(refs["models"][name]["detections"])
        print(f"{name}: {os.path.getsize(path)} bytes, output {refs['models'][name]['shape']}, {n} detections", file=sys.stderr)
    with open(os.path.join(DATA, "pose_reference.json"), "w") as f:
        json.dump(refs, f, indent=1)


if __name__ == "__main__":
    main()
