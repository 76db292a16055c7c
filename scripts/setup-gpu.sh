#!/usr/bin/env bash
# Set-up for a machine with an NVIDIA GPU and network (the GPU path; not run by CI, which has no
# GPU; a lent device machine has no network: it runs the bundle of `make gpu-check-bundle` instead).
# Installs, into .deps/gpu (a virtual environment, several GB), the GPU build of ONNX Runtime and
# the CUDA 13 libraries it declares (`onnxruntime-gpu[cuda,cudnn]`: CUDA runtime, NVRTC, cuFFT,
# cuRAND, cuDNN) plus cuBLAS, and TensorRT 10 from NVIDIA's package index (PyPI's
# tensorrt-cu13-libs is only a stub that downloads from there). Then checks with ldd that both
# provider libraries find every library they need, and writes .deps/gpu/env.sh with the two
# variables fovea needs. Any failure stops it with a message saying what is missing.
#   FOVEA_GPU_NO_TENSORRT=1   set up the CUDA provider only (no TensorRT), said loudly
# Needs an NVIDIA driver that supports CUDA 13 (R580 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.deps/gpu
fail() { echo "setup-gpu: error: $*" >&2; exit 1; }
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader | sed 's/^/setup-gpu: GPU /'
else
  echo "setup-gpu: warning: nvidia-smi finds no GPU; is the NVIDIA driver installed? (continuing: the libraries can be set up without one)" >&2
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || fail "cannot make the virtual environment $VENV"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
"${PIP[@]}" "onnxruntime-gpu[cuda,cudnn]==1.31.1" "nvidia-cublas~=13.0" ||
  fail "pip could not install onnxruntime-gpu[cuda,cudnn]==1.31.1 and nvidia-cublas from PyPI"
with_trt=1
if [ "${FOVEA_GPU_NO_TENSORRT:-0}" = 1 ]; then
  with_trt=0
  echo "setup-gpu: warning: FOVEA_GPU_NO_TENSORRT=1: no TensorRT; only the CUDA provider will work (--provider cuda)" >&2
else
  "${PIP[@]}" --extra-index-url https://pypi.nvidia.com "tensorrt-cu13-libs==10.*" ||
    fail "TensorRT 10 (tensorrt-cu13-libs) could not be installed: PyPI's package is a stub that downloads from https://pypi.nvidia.com, which must be reachable (or set FOVEA_GPU_NO_TENSORRT=1 for the CUDA provider only)"
fi
SP=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
CAPI=$SP/onnxruntime/capi
ORT=$CAPI/libonnxruntime.so.1.31.1
[ -f "$ORT" ] || fail "$ORT missing: the onnxruntime-gpu wheel did not install its library"
[ -d "$SP/nvidia" ] || fail "$SP/nvidia missing: the CUDA library wheels did not install"
dirs=("$SP/nvidia")
if [ "$with_trt" = 1 ]; then
  [ -d "$SP/tensorrt_libs" ] || fail "$SP/tensorrt_libs missing: tensorrt-cu13-libs installed no libraries (the PyPI stub?)"
  dirs+=("$SP/tensorrt_libs")
fi
LIBS=$(find "${dirs[@]}" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
LIBS=$CAPI:$LIBS
# Every library each provider needs must resolve from these folders (or the system's).
providers=("$CAPI/libonnxruntime_providers_cuda.so")
[ "$with_trt" = 1 ] && providers+=("$CAPI/libonnxruntime_providers_tensorrt.so")
for p in "${providers[@]}"; do
  [ -f "$p" ] || fail "$p missing from the onnxruntime-gpu wheel"
  # libcuda.so.1 is the driver's, never a wheel's.
  missing=$(LD_LIBRARY_PATH=$LIBS ldd "$p" | awk '/not found/ && $1 != "libcuda.so.1" {print $1}' | paste -sd' ')
  [ -z "$missing" ] || fail "$(basename "$p") needs $missing, which no installed wheel provides"
  if LD_LIBRARY_PATH=$LIBS ldd "$p" | grep -q 'libcuda.so.1 => not found'; then
    echo "setup-gpu: warning: $(basename "$p") needs the NVIDIA driver's libcuda.so.1, not found on this machine" >&2
  fi
  echo "setup-gpu: ok  $(basename "$p"): every library it needs from the wheels is found"
done
# The environment, for `make test-gpu` / `make bench-gpu` (which source it) and for users.
cat > "$VENV/env.sh" <<ENV
export FOVEA_ORT_LIB=$ORT
export LD_LIBRARY_PATH=$LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
ENV
echo "setup-gpu: done$([ "$with_trt" = 1 ] || echo ' (CUDA provider only)'). Use:"
echo "  . $VENV/env.sh"
sed 's/^/    /' "$VENV/env.sh"
echo "  cargo build --release --features cuda && make test-gpu"
