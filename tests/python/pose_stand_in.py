"""Stand-ins for a trained pitch keypoint model (issue 32): ONNX graphs in Ultralytics' pose
layout ([1, 4 + 1 + 3 x 32, N]) whose one detection holds given keypoints whatever the frame, and
their manifests. `constant`: a graph that computes nothing else (tests); `wrap`: a real pose
graph run in full, its output replaced (benches: a real model's cost, known keypoints)."""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper


def output(keypoints, n, box, to_model):
    """The constant output: anchor 0 is the detection (`box`: cx, cy, w, h, score) with
    `keypoints` (frame pixels; (0, 0) not seen) mapped by `to_model` into model pixels."""
    out = np.zeros((1, 4 + 1 + 96, n), np.float32)
    out[0, :5, 0] = box
    for j, (x, y) in enumerate(np.asarray(keypoints, np.float64)):
        seen = x != 0 or y != 0
        mx, my = to_model(x, y)
        out[0, 5 + 3 * j:8 + 3 * j, 0] = [mx, my, 0.9 if seen else 0.05]
    return out


def replace_output(graph, real, const, name="output0"):
    """`graph`'s output becomes `const` + 0 x the mean of its `real` output (which still runs)."""
    graph.initializer.extend([helper.make_tensor("zero_", TensorProto.FLOAT, [1], [0.0]),
                              helper.make_tensor("const_", TensorProto.FLOAT, const.shape, const.ravel().tolist())])
    rank = 4 if real == "images" else 3
    graph.node.extend([helper.make_node("ReduceMean", [real], ["mean_"], axes=list(range(rank)), keepdims=0),
                       helper.make_node("Mul", ["mean_", "zero_"], ["z_"]),
                       helper.make_node("Add", ["z_", "const_"], [name])])
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(name, TensorProto.FLOAT, list(const.shape))])


def manifest(folder, width, height, resize, output_name):
    """The stand-in's manifest (`pitch.toml` beside `pitch.onnx`)."""
    path = Path(folder) / "pitch.toml"
    path.write_text(f"""[model]
name = "pitch-stand-in"
file = "pitch.onnx"
[input]
name = "images"
width = {width}
height = {height}
layout = "nchw"
channels = "rgb"
mean = [0, 0, 0]
std = [255, 255, 255]
resize = "{resize}"
[decoder]
kind = "yolov8"
output = "{output_name}"
keypoints = 32
[keypoints]
template = "soccer-pitch-32"
[thresholds]
score = 0.25
nms_iou = 0.7
[labels]
names = ["pitch"]
""")
    return path


def constant(folder, keypoints, frame_w, frame_h):
    """A graph taking the frame stretched to half size whose output is `keypoints`' detection."""
    mw, mh = frame_w // 2, frame_h // 2
    const = output(keypoints, 1, [mw / 2, mh / 2, mw - 2, mh - 2, 0.9], lambda x, y: (x / 2, y / 2))
    graph = helper.make_graph([], "pitch", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, mh, mw])], [])
    replace_output(graph, "images", const)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(Path(folder) / "pitch.onnx"))
    return manifest(folder, mw, mh, "stretch", "output0")


def wrap(pose, keypoints, folder, frame_w=1280, frame_h=720, size=640):
    """`pose` (a 640 x 640 pose graph, frames letterboxed into it) run in full, its output
    replaced by `keypoints`' detection."""
    m = onnx.load(str(pose))
    real = m.graph.output[0].name
    n = [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim][2]
    gain = min(size / frame_w, size / frame_h)
    pad_x, pad_y = (size - frame_w * gain) / 2, (size - frame_h * gain) / 2
    const = output(keypoints, n, [size / 2, size / 2, size - 4, frame_h * gain - 4, 0.9],
                   lambda x, y: (x * gain + pad_x, y * gain + pad_y))
    replace_output(m.graph, real, const, "output0_")
    onnx.save(m, str(Path(folder) / "pitch.onnx"))
    return manifest(folder, size, size, "letterbox", "output0_")
