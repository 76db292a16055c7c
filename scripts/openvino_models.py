#!/usr/bin/env python3
"""NanoDet-g for OpenVINO: the fp32 ONNX model made readable by OpenVINO, and an INT8 IR quantised
by NNCF with accuracy control. Needs only package-registry installs (scripts/requirements.txt).

    target/release/fovea calib ../shared/media/vtest.avi ../shared/media/market_street_1906.mp4 \\
        --frames 20 -o .deps/calib/nanodet-g-416          # the INT8 model's calibration set
    .deps/venv/bin/python scripts/openvino_models.py fold       # engines/nanodet-g-416.onnx in place
    .deps/venv/bin/python scripts/openvino_models.py int8 --calib .deps/calib/nanodet-g-416

fold: OpenVINO's ONNX reader rejects one ScatterND of NanoDet-g's graph (tf2onnx's SparseToDense,
computed from constants only: its shape inference fails on a scalar). The node and the constants
it is made from are replaced by the constant they compute (evaluated with onnx's reference
evaluator); nothing else changes. ONNX Runtime's outputs of the folded model are checked equal, bit
for bit, to the original's on the calibration frames, and OpenVINO must read it.

int8: nncf.quantize_with_accuracy_control on the folded model read by OpenVINO: calibration on
the calibration set, validation on held-out frames (every 15th frame of three clips of
../shared/media, calibration frames left out) with the metric fovea uses to choose defaults:
same-threshold agreement with fp32 (F1 of boxes matched at IoU >= 0.5, same class, at the
manifest's threshold 0.35). Layers whose quantisation costs most are put back in fp32 until the
drop is <= --max-drop. Writes engines/nanodet-g-416-ov-int8.xml/.bin.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches", "peers"))
import nanodet_numpy as nd  # noqa: E402

INPUT = "input_1:0"
OUTPUTS = ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0", "Identity_4:0", "Identity_5:0"]
MODEL = os.path.join(ROOT, "engines", "nanodet-g-416.onnx")


def fold_constant_scatters(model):
    """Replaces every ScatterND whose inputs come from constants only by its value. Returns the count."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    folded = 0
    for node in [n for n in g.node if n.op_type == "ScatterND"]:
        chain, todo, ok = [], list(node.input), True
        while todo:
            name = todo.pop()
            if name in inits or name == "":
                continue
            p = producer.get(name)
            if p is None or p.op_type in ("Shape",) or any(i == INPUT for i in p.input):
                ok = False
                break
            if p not in chain:
                chain.append(p)
                todo.extend(p.input)
        if not ok:
            continue
        nodes = list(reversed(chain)) + [node]
        needed = {i for n in nodes for i in n.input if i in inits}
        sub = onnx.helper.make_graph(nodes, "const", [], [onnx.helper.make_tensor_value_info(node.output[0], 1, None)],
                                     initializer=[inits[i] for i in needed])
        value = ReferenceEvaluator(onnx.helper.make_model(sub, opset_imports=model.opset_import)).run(None, {})[0]
        for n in nodes:
            g.node.remove(n)
        g.initializer.append(numpy_helper.from_array(np.asarray(value), node.output[0]))
        folded += 1
    # Constants nothing reads any more.
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for i in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(i)
    return folded


def ort_outputs(path, frames):
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return [s.run(OUTPUTS, {INPUT: f}) for f in frames]


def calib_frames(folder):
    files = sorted(glob.glob(os.path.join(folder, "*.npy")))
    if not files:
        raise SystemExit(f"no .npy files in {folder}: run `fovea calib` first (see this script's help)")
    return [np.load(f) for f in files]


def fold(a):
    model = onnx.load(a.model)
    n = fold_constant_scatters(model)
    if n == 0:
        print(f"{a.model}: no constant ScatterND left to fold")
    out = a.out or a.model
    tmp = out + ".tmp"
    onnx.save(model, tmp)
    frames = calib_frames(a.calib) if a.calib else [np.random.default_rng(0).normal(size=(1, 3, 416, 416)).astype(np.float32)]
    before, after = ort_outputs(a.model, frames), ort_outputs(tmp, frames)
    for b, c in zip(before, after):
        for x, y in zip(b, c):
            if not np.array_equal(x, y):
                os.remove(tmp)
                raise SystemExit("the folded model's ONNX Runtime outputs differ from the original's")
    import openvino as ov
    ov.Core().read_model(tmp)
    os.replace(tmp, out)
    print(f"{out}: {n} constant ScatterND folded; ONNX Runtime outputs identical on {len(frames)} frames; OpenVINO reads it")


def held_out_frames(calib_json, every=15, limit=400):
    """Model inputs of every `every`-th frame of three clips of ../shared/media, calibration frames excluded."""
    import cv2
    media = os.path.join(ROOT, "..", "shared", "media")
    skip = set()
    if os.path.exists(calib_json):
        skip = {(e["video"], e["frame"]) for e in json.load(open(calib_json))}
    out = []
    for clip in ("vtest.avi", "market_street_1906.mp4", "bigbuckbunny.mp4"):
        cap = cv2.VideoCapture(os.path.join(media, clip))
        i = 0
        while len(out) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % every == 0 and (clip, i) not in skip:
                out.append((nd.preprocess(bgr), bgr.shape[1], bgr.shape[0]))
            i += 1
    return out


def boxes_of(outputs, w, h):
    return nd.decode(outputs, w, h)


def iou_of(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def agreement(ref, cand, iou=0.5):
    """Per frame lists of (box, score, class): matched boxes, reference boxes, candidate boxes."""
    matched = nr = nc = 0
    for r, c in zip(ref, cand):
        rb, rc = r[0], r[2]
        cb, cc = c[0], c[2]
        nr += len(rb)
        nc += len(cb)
        used = set()
        for i in range(len(rb)):
            best, bj = iou, -1
            for j in range(len(cb)):
                if j in used or cc[j] != rc[i]:
                    continue
                v = iou_of(rb[i], cb[j])
                if v >= best:
                    best, bj = v, j
            if bj >= 0:
                used.add(bj)
                matched += 1
    return matched, nr, nc


def int8(a):
    import nncf
    import openvino as ov
    core = ov.Core()
    model = core.read_model(a.model)
    calib = calib_frames(a.calib)
    held = held_out_frames(os.path.join(ROOT, "engines", "calib", "nanodet-g-416.frames.json"), limit=a.validation)
    ref_model = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def detections(compiled):
        req = compiled.create_infer_request()
        out = []
        for x, w, h in held:
            r = req.infer({INPUT: x})
            out.append(boxes_of({n: r[compiled.output(n)] for n in OUTPUTS}, w, h))
        return out

    ref = detections(ref_model)

    def validate(compiled, _data):
        m, nr, nc = agreement(ref, detections(compiled))
        return 2 * m / max(1, nr + nc)

    q = nncf.quantize_with_accuracy_control(
        model,
        calibration_dataset=nncf.Dataset(calib),
        validation_dataset=nncf.Dataset([0]),
        validation_fn=validate,
        max_drop=a.max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(calib),
    )
    out = a.out or os.path.join(ROOT, "engines", "nanodet-g-416-ov-int8.xml")
    ov.save_model(q, out, compress_to_fp16=False)
    m, nr, nc = agreement(ref, detections(core.compile_model(q, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})))
    print(f"{out}: agreement with fp32 on {len(held)} held-out frames: {m}/{nr} matched ({100 * m / max(1, nr):.1f}%), "
          f"{nc - m} extra ({100 * (nc - m) / max(1, nr):.1f}%)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fold")
    f.add_argument("--model", default=MODEL)
    f.add_argument("--out")
    f.add_argument("--calib", help="calibration frames to check the folded model on")
    q = sub.add_parser("int8")
    q.add_argument("--model", default=MODEL)
    q.add_argument("--out")
    q.add_argument("--calib", required=True)
    q.add_argument("--validation", type=int, default=150, help="held-out frames for accuracy control")
    q.add_argument("--max-drop", type=float, default=0.01, help="largest drop of the agreement F1 with fp32")
    a = ap.parse_args()
    {"fold": fold, "int8": int8}[a.cmd](a)


if __name__ == "__main__":
    main()
