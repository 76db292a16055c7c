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


if __name__ == "__main__":
    tiny_yolov8()
