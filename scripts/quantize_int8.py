#!/usr/bin/env python3
"""INT8 NanoDet-g for the CPU, and the TensorRT INT8 calibration table, from one calibration set.

The calibration set is made by fovea itself, so calibration sees exactly what inference sees:

    target/release/fovea calib ../shared/media/vtest.avi ../shared/media/market_street_1906.mp4 \\
        --frames 20 -o .deps/calib/nanodet-g-416          # frames listed in engines/calib/frames.json
    .deps/venv/bin/python scripts/quantize_int8.py --calib .deps/calib/nanodet-g-416

Writes engines/nanodet-g-416-int8.onnx (ONNX Runtime static quantisation, QOperator format,
per-channel int8 weights, uint8 activations; the choice is explained in docs/benchmarks.md) and
engines/trt/nanodet-g-416.calibration.flatbuffers (+ .cache, .json): per-tensor ranges of the
fp32 model in the format ONNX Runtime's TensorRT provider reads (trt_int8_calibration_table_name).
Versions are pinned in scripts/requirements.txt.
"""
import argparse
import glob
import os
import shutil
import tempfile

import numpy as np
import onnxruntime
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, create_calibrator,
                                      quantize_static, write_calibration_table)
from onnxruntime.quantization.calibrate import TensorData
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INPUT = "input_1:0"


class Reader(CalibrationDataReader):
    def __init__(self, files):
        self.files = files
        self.i = 0

    def get_next(self):
        if self.i >= len(self.files):
            return None
        self.i += 1
        return {INPUT: np.load(self.files[self.i - 1])}

    def rewind(self):
        self.i = 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calib", required=True, help="folder of NNNN.npy written by `fovea calib`")
    ap.add_argument("--model", default=os.path.join(ROOT, "engines", "nanodet-g-416.onnx"))
    ap.add_argument("--out", default=os.path.join(ROOT, "engines", "nanodet-g-416-int8.onnx"))
    ap.add_argument("--trt-dir", default=os.path.join(ROOT, "engines", "trt"))
    ap.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax")
    ap.add_argument("--format", choices=["qoperator", "qdq"], default="qoperator")
    ap.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weights")
    ap.add_argument("--keep-fp32", default="Conv__176,Conv__178,Conv__180,PartitionedCall/onnx_tf_prefix_Split_153,PartitionedCall/onnx_tf_prefix_Split_164,PartitionedCall/onnx_tf_prefix_Split_175,PartitionedCall/onnx_tf_prefix_Sigmoid_154,PartitionedCall/onnx_tf_prefix_Sigmoid_165,PartitionedCall/onnx_tf_prefix_Sigmoid_176,PartitionedCall/onnx_tf_prefix_Reshape_159,PartitionedCall/onnx_tf_prefix_Reshape_170,PartitionedCall/onnx_tf_prefix_Reshape_181",
                    help="nodes left in fp32 (comma-separated; default: the head: its three convolutions and the split, sigmoid and reshape after them)")
    ap.add_argument("--moving-average", action="store_true", help="MinMax over a moving average of per-frame ranges")
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.calib, "*.npy")))
    if not files:
        raise SystemExit(f"no .npy files in {a.calib}: run `fovea calib` first")
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[a.method]
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(a.model, pre, skip_symbolic_shape=True)
        quantize_static(
            pre, a.out, Reader(files),
            quant_format=QuantFormat.QOperator if a.format == "qoperator" else QuantFormat.QDQ,
            per_channel=not a.per_tensor,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
            nodes_to_exclude=[n for n in a.keep_fp32.split(",") if n],
            extra_options={"CalibMovingAverage": a.moving_average},
        )
        print(f"{a.out}: {os.path.getsize(a.out) / 1e6:.1f} MB ({a.format}, {a.method}"
              f"{' moving average' if a.moving_average else ''}, {'per-tensor' if a.per_tensor else 'per-channel'}, "
              f"fp32 nodes: {a.keep_fp32 or 'none'}, {len(files)} frames, onnxruntime {onnxruntime.__version__})")

        # TensorRT calibration table: ranges of every tensor of the fp32 model.
        cal = create_calibrator(a.model, augmented_model_path=os.path.join(tmp, "augmented.onnx"),
                                calibrate_method=CalibrationMethod.MinMax)
        cal.collect_data(Reader(files))
        ranges = cal.compute_data()
        ranges = {k: ranges[k] for k in ranges.keys()} if hasattr(ranges, "keys") else dict(ranges.data)
        # TensorRT takes one symmetric dynamic range per tensor (|max|); ORT's writer stores
        # max(highest, lowest), which is negative for an all-negative tensor and -inf for the
        # -inf padding before max-pooling. Store the largest finite magnitude instead.
        fixed = {}
        for k, v in ranges.items():
            vals = [float(np.asarray(x).max()) for x in (v.lowest, v.highest)]
            amax = max([abs(x) for x in vals if np.isfinite(x)] or [0.0])
            fixed[k] = TensorData(lowest=np.array(-amax, np.float32), highest=np.array(amax, np.float32))
        ranges = fixed
        os.makedirs(a.trt_dir, exist_ok=True)
        write_calibration_table(ranges, dir=tmp)
        for ext in ("flatbuffers", "cache", "json"):
            shutil.copy(os.path.join(tmp, f"calibration.{ext}"), os.path.join(a.trt_dir, f"nanodet-g-416.calibration.{ext}"))
        print(f"{a.trt_dir}/nanodet-g-416.calibration.{{flatbuffers,cache,json}}: {len(ranges)} tensor ranges")


if __name__ == "__main__":
    main()
