#!/usr/bin/env python3
"""Generates the tiny test models committed under tests/data (a few KB each), with the Python
`onnx` helper. Their outputs are simple functions of the input, so tests know the right answer.

tiny_yolov8_dyn.onnx: input "images" [N,3,32,32] (dynamic batch), output "output0" [N, 4+2, 3]
  in the YOLOv8 layout. Per image the three boxes are fixed (cx,cy,w,h) and the class scores are
  the channel means (0..1 after the manifest's /255) mixed by a fixed matrix, so each frame's
  scores depend on its own pixels: batching mistakes change the results.

    .deps/venv/bin/python scripts/make_test_models.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 3  # boxes
C = 2  # classes


def tiny_yolov8():
    # mean over H,W -> [N,3]; then [N,3] @ W[3, 6K] + B -> [N, 6K] -> [N, 6, K]
    W = np.zeros((3, (4 + C) * K), np.float32)
    B = np.zeros(((4 + C) * K,), np.float32)
    boxes = [(8, 8, 8, 8), (20, 12, 10, 14), (16, 24, 12, 6)]
    for k, (cx, cy, w, h) in enumerate(boxes):
        for r, v in enumerate((cx, cy, w, h)):
            B[r * K + k] = v
    # class 0 score of box k: mean of channel k; class 1: 1 - mean of channel k
    for k in range(K):
        W[k, 4 * K + k] = 1.0
        W[k, 5 * K + k] = -1.0
        B[5 * K + k] = 1.0
    nodes = [
        helper.make_node("GlobalAveragePool", ["images"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["lin"]),
        helper.make_node("Reshape", ["lin", "shape"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolov8_dyn",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + C, K])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B"),
         numpy_helper.from_array(np.array([-1, 4 + C, K], np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="fovea-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = os.path.join(ROOT, "tests", "data", "tiny_yolov8_dyn.onnx")
    onnx.save(model, out)
    print(out)


# Colours (RGB) of the tiny CLIP-like model's text table: a label's prompts are the embeddings of
# solid patches of these colours, so the right label of a solid test ROI is known by construction.
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32) * 255
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32) * 255
CLIP_PROMPTS = [
    ("person", "a photo of a person in red", (200, 30, 30)),
    ("person", "a photo of a person in yellow", (220, 220, 30)),
    ("person", "a photo of a person in magenta", (200, 30, 200)),
    ("person", "a photo of a person in blue", (30, 30, 200)),
    ("person", "a photo of a person in black", (20, 20, 20)),
    ("grass", "a photo of grass", (40, 160, 40)),
    ("football player", "a football player in a red shirt", (200, 30, 30)),
    ("goalkeeper", "a goalkeeper in a yellow shirt", (220, 220, 30)),
    ("referee", "a referee in magenta", (200, 30, 200)),
    ("crowd", "a crowd of spectators", (30, 30, 200)),
    ("black shape", "a black shape", (20, 20, 20)),
    ("round object on grass", "a white ball on grass", (240, 240, 240)),
    ("something else", "a patch of grass", (40, 160, 40)),
    ("football", "a football", (240, 240, 240)),
    ("shoe", "a black shoe", (20, 20, 20)),
    ("head", "a head", (200, 150, 120)),
]
# GAP -> [N,3] -> MatMul [3,8]: the embedding is a fixed linear map of the normalised mean colour.
CLIP_W = np.array([[1.0, 0, 0, 0.5, 0, 0.2, 0, 0.1],
                   [0, 1.0, 0, 0, 0.5, 0, 0.2, 0.1],
                   [0, 0, 1.0, 0.3, 0, 0.5, 0, 0.1]], np.float32)


def tiny_clip():
    """tiny_clip.onnx: "pixel_values" [N,3,16,16] -> "image_embeds" [N,8] (GAP + MatMul), and its
    text table tiny_clip_text.npy (L2-normalised rows) + tiny_clip_text.json (labels, prompts).
    tiny_clip_b1.onnx: the same encoder exported with a fixed batch of 1 (encoders must then be
    called one ROI at a time, and TensorRT must get no dynamic-batch profile)."""
    tiny_clip_model("batch", "tiny_clip.onnx")
    tiny_clip_model(1, "tiny_clip_b1.onnx")


def tiny_clip_model(batch, file):
    nodes = [
        helper.make_node("GlobalAveragePool", ["pixel_values"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["image_embeds"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_clip",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [batch, 3, 16, 16])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, [batch, 8])],
        [numpy_helper.from_array(CLIP_W, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="fovea-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = os.path.join(ROOT, "tests", "data")
    onnx.save(model, os.path.join(data, file))
    if batch != "batch":
        return
    rows = []
    for _, _, rgb in CLIP_PROMPTS:
        e = ((np.array(rgb, np.float32) - CLIP_MEAN) / CLIP_STD) @ CLIP_W
        rows.append(e / np.linalg.norm(e))
    np.save(os.path.join(data, "tiny_clip_text.npy"), np.stack(rows).astype(np.float32))
    import json
    with open(os.path.join(data, "tiny_clip_text.json"), "w") as f:
        json.dump({"model": "tiny_clip", "dim": 8, "prompts": [{"label": l, "text": t} for l, t, _ in CLIP_PROMPTS]}, f, indent=1)
        f.write("\n")
    print(os.path.join(data, "tiny_clip.onnx"))


def bench_encoder(out_dir):
    """A MobileNet-sized image encoder with random weights for benchmarks (not committed):
    224x224 input, five 3x3 stride-2 convolutions (32..512 channels) with ReLU, global average
    pooling, a 512x512 projection; about 0.5 GFLOPs per ROI. Plus a random normalised table."""
    rng = np.random.default_rng(0)
    chans = [3, 32, 64, 128, 256, 512]
    inits, nodes, x = [], [], "pixel_values"
    for i in range(5):
        w = (rng.standard_normal((chans[i + 1], chans[i], 3, 3)) * np.sqrt(2.0 / (chans[i] * 9))).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], strides=[2, 2], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        x = f"r{i}"
    inits.append(numpy_helper.from_array((rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32), "proj"))
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
              helper.make_node("MatMul", ["flat", "proj"], ["image_embeds"])]
    graph = helper.make_graph(nodes, "bench_encoder",
                              [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 224, 224])],
                              [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", 512])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="fovea-bench")
    model.ir_version = 8
    os.makedirs(out_dir, exist_ok=True)
    onnx.save(model, os.path.join(out_dir, "bench_encoder.onnx"))
    labels = ["person", "grass", "football player", "goalkeeper", "referee", "crowd", "black shape"]
    t = rng.standard_normal((len(labels), 512)).astype(np.float32)
    np.save(os.path.join(out_dir, "bench_encoder_text.npy"), t / np.linalg.norm(t, axis=1, keepdims=True))
    import json
    with open(os.path.join(out_dir, "bench_encoder_text.json"), "w") as f:
        json.dump({"dim": 512, "prompts": [{"label": l, "text": l} for l in labels]}, f)
    with open(os.path.join(out_dir, "bench_encoder.toml"), "w") as f:
        f.write("[model]\nname = \"bench_encoder\"\nfile = \"bench_encoder.onnx\"\n[input]\nname = \"pixel_values\"\nsize = 224\n"
                "mean = [122.77, 116.75, 104.09]\nstd = [68.50, 66.63, 70.32]\n[output]\nname = \"image_embeds\"\ndim = 512\n"
                "[text]\ntable = \"bench_encoder_text.npy\"\n")
    print(os.path.join(out_dir, "bench_encoder.onnx"))


if __name__ == "__main__":
    import sys
    if "--bench" in sys.argv:
        bench_encoder(os.path.join(ROOT, ".deps", "bench"))
    else:
        tiny_yolov8()
        tiny_clip()
