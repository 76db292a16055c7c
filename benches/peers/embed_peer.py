"""The Python peer of `fovea embed` (issue 15's benchmark): OpenCV decodes each clip and keeps the
same sampled frames (K spread evenly over the clip's frame count: the middle of K equal parts),
resizes them to the encoder's input (INTER_LINEAR, RGB, ImageNet normalisation), batches them
across clips into onnxruntime with the same encoder, and writes the per-clip L2-normalised mean
embeddings to Parquet with pyarrow. What a team would write in an afternoon:

    python benches/peers/embed_peer.py COLLECTION -o OUT.parquet [--frames 8] [--batch 32] [--threads 2]
"""
import argparse
import os
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq

MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255
VIDEO = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp")


def clips_of(root):
    out = []
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            if f.lower().endswith(VIDEO):
                out.append((os.path.join(d, f), os.path.basename(d) if d != root else None))
    return out


def sampled(path, k, size):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError("cannot open")
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    want = set(range(n)) if n <= k else {((2 * i + 1) * n) // (2 * k) for i in range(k)}
    frames, i, last = [], 0, max(want) if want else -1
    while i <= last:
        if not cap.grab():
            break
        if i in want:
            ok, bgr = cap.retrieve()
            if ok:
                rgb = cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
                frames.append(((rgb.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1))
        i += 1
    if not frames:
        raise ValueError("no frame decoded")
    return frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "..", "engines", "mobilenetv2.onnx"))
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    t0 = time.time()
    clips = clips_of(a.root)
    rows = {"path": [], "label": [], "embedding": [], "error": []}
    pending, owners, sums = [], [], {}
    nframes = 0

    def flush():
        nonlocal pending, owners
        if not pending:
            return
        emb = sess.run(["embedding"], {"image": np.stack(pending)})[0]
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        for o, e in zip(owners, emb):
            sums[o] = sums.get(o, 0) + e
        pending, owners = [], []

    for ci, (path, label) in enumerate(clips):
        try:
            frames = sampled(path, a.frames, 224)
        except Exception as e:  # noqa: BLE001 (a failing clip is recorded and skipped)
            rows["path"].append(path), rows["label"].append(label), rows["embedding"].append(None), rows["error"].append(str(e))
            continue
        nframes += len(frames)
        for f in frames:
            pending.append(f)
            owners.append(ci)
            if len(pending) == a.batch:
                flush()
        rows["path"].append(path), rows["label"].append(label), rows["embedding"].append(ci), rows["error"].append(None)
    flush()
    rows["embedding"] = [None if c is None else (sums[c] / np.linalg.norm(sums[c])).astype(np.float32).tolist() for c in rows["embedding"]]
    pq.write_table(pa.table(rows), a.output)
    dt = time.time() - t0
    print(f"peer: {len(clips)} clips, {nframes} frames in {dt:.2f} s: {len(clips) / dt:.2f} clips/s, {nframes / dt:.1f} frames/s", file=sys.stderr)


if __name__ == "__main__":
    main()
