"""NanoDet-g decoding in NumPy, written independently of fovea's Rust decoder.

Shared by the reference script (scripts/reference.py) and the Python peer pipeline
(benches/peers/python_pipeline.py): what a Python user would write with OpenCV + onnxruntime.
"""
import numpy as np
import cv2

INPUT = "input_1:0"
SIZE = 416
MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
STRIDES = (8, 16, 32)
SCORES = ("Identity:0", "Identity_1:0", "Identity_2:0")
BOXES = ("Identity_3:0", "Identity_4:0", "Identity_5:0")
REG_MAX = 10


def preprocess(bgr):
    """BGR uint8 HxWx3 -> [1,3,416,416] float32 (plain resize, OpenCV INTER_LINEAR)."""
    img = cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    img = (img - MEAN) / STD
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None])


def decode(outputs, width, height, score_thr=0.35, iou_thr=0.6, max_det=100):
    """outputs: dict name -> array. Returns (boxes [N,4] in source pixels, scores [N], classes [N])."""
    all_boxes, all_scores, all_cls = [], [], []
    for stride, sname, bname in zip(STRIDES, SCORES, BOXES):
        scores = outputs[sname][0]             # [cells, 80]
        regs = outputs[bname][0]               # [cells, 44]
        cols = (SIZE + stride - 1) // stride
        cls = scores.argmax(1)
        best = scores[np.arange(len(cls)), cls]
        keep = best > score_thr
        if not keep.any():
            continue
        idx = np.nonzero(keep)[0]
        r = regs[idx].reshape(-1, 4, REG_MAX + 1)
        r = np.exp(r - r.max(-1, keepdims=True))
        r /= r.sum(-1, keepdims=True)
        dist = (r * np.arange(REG_MAX + 1, dtype=np.float32)).sum(-1) * stride   # [n,4] l,t,r,b
        cx = (idx % cols + 0.5) * stride
        cy = (idx // cols + 0.5) * stride
        b = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1)
        all_boxes.append(b); all_scores.append(best[idx]); all_cls.append(cls[idx])
    if not all_boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    boxes = np.concatenate(all_boxes); scores = np.concatenate(all_scores); classes = np.concatenate(all_cls)
    keep = nms(boxes, scores, classes, iou_thr)[:max_det]
    boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    sx, sy = width / SIZE, height / SIZE
    boxes = boxes * np.array([sx, sy, sx, sy], np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes, scores, classes


def nms(boxes, scores, classes, iou_thr):
    """Greedy class-aware NMS; indices kept, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    suppressed = np.zeros(len(order), bool)
    area = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    for oi, i in enumerate(order):
        if suppressed[oi]:
            continue
        keep.append(i)
        rest = order[oi + 1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0]); yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2]); yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        suppressed[oi + 1:] |= (iou > iou_thr) & (classes[rest] == classes[i])
    return np.array(keep, dtype=np.int64)
