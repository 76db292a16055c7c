#!/usr/bin/env bash
# Set-up for a machine with an NVIDIA GPU (the GPU path, issue 7; not run by CI, which has no GPU).
# Installs, into .deps/gpu (a virtual environment, several GB), the GPU build of ONNX Runtime and
# the CUDA 13 runtime libraries it needs: onnxruntime-gpu 1.31.1 (CUDA and TensorRT execution
# providers), TensorRT 10 (tensorrt-cu13-libs), cuDNN, cuBLAS, the CUDA runtime and NVRTC (fovea
# compiles its kernels with NVRTC when it was built without a CUDA compiler). Then prints the two
# variables fovea needs. Needs an NVIDIA driver that supports CUDA 13 (R580 or newer); fovea's
# build-time PTX (ISA 6.0, sm_70) also loads on CUDA 12 drivers.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.deps/gpu
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader | sed 's/^/setup-gpu: GPU /'
else
  echo "setup-gpu: warning: nvidia-smi not found; is the NVIDIA driver installed?" >&2
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check \
  onnxruntime-gpu==1.31.1 "tensorrt-cu13-libs==10.*" nvidia-cudnn-cu13 nvidia-cublas nvidia-cuda-runtime nvidia-cuda-nvrtc
SP=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
ORT=$(ls "$SP"/onnxruntime/capi/libonnxruntime.so.1.31.1)
LIBS=$(find "$SP/nvidia" "$SP/tensorrt_libs" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
# The environment, for `make test-gpu` / `make bench-gpu` (which source it) and for users.
cat > "$VENV/env.sh" <<ENV
export FOVEA_ORT_LIB=$ORT
export LD_LIBRARY_PATH=$LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
ENV
echo "setup-gpu: done. Use:"
echo "  . $VENV/env.sh"
cat "$VENV/env.sh" | sed 's/^/    /'
echo "  cargo build --release --features cuda && make test-gpu"
