#!/usr/bin/env bash
# Compile-checks every CUDA kernel without a GPU (CI runs this; `make kernels-check`):
#   1. nvcc 13 (PyPI nvidia-cuda-nvcc) compiles each kernels/*.cu to cubin for sm_80 and sm_90;
#   2. the PTX fovea ships (built by build.rs, written by `fovea kernels`) is assembled by ptxas
#      from CUDA 12 (PyPI nvidia-cuda-nvcc-cu12) for sm_80 and sm_90;
#   3. the self-contained sources fovea hands NVRTC at run time are compiled by NVRTC 12 (PyPI
#      nvidia-cuda-nvrtc-cu12) to PTX, which ptxas assembles for sm_80 and sm_90.
# The compilers live in their own venv, .deps/cuda (about 400 MB), made on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.deps/cuda
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import nvidia" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        nvidia-cuda-nvcc==13.5.37 nvidia-cuda-nvcc-cu12==12.9.86 nvidia-cuda-nvrtc-cu12==12.9.86
fi
SP=$("$VENV/bin/python" -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))")/nvidia
NVCC13="$SP/cu13/bin/nvcc"
PTXAS12="$SP/cuda_nvcc/bin/ptxas"
NVRTC12=$(ls "$SP"/cuda_nvrtc/lib/libnvrtc.so.12* | head -1)
for tool in "$NVCC13" "$PTXAS12" "$NVRTC12"; do
    [ -e "$tool" ] || { echo "kernels-check: $tool missing" >&2; exit 1; }
done
echo "nvcc:  $("$NVCC13" --version | tail -2 | head -1)"
echo "ptxas: $("$PTXAS12" --version | tail -2 | head -1)"

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# The CLI that writes the shipped PTX, and the NVRTC test below, from the `ci` profile with the
# `cuda` feature: the build `make test-release-cuda` makes (CI runs that first), not another one.
cargo build --profile ci --quiet --features cuda --bin fovea
target/ci/fovea kernels "$OUT/ship"
archs="sm_80 sm_90"
for cu in kernels/*.cu; do
    name=$(basename "$cu" .cu)
    for a in $archs; do
        "$NVCC13" -cubin -arch="$a" -Ikernels -Werror all-warnings "$cu" -o "$OUT/$name.nvcc.$a.cubin"
        echo "ok  nvcc 13    $name.cu -> $a cubin"
    done
    ptx="$OUT/ship/$name.ptx"
    [ -f "$ptx" ] || { echo "kernels-check: fovea was built without PTX for $name (no CUDA compiler at build time)" >&2; exit 1; }
    for a in $archs; do
        "$PTXAS12" -arch="$a" "$ptx" -o "$OUT/$name.ship.$a.cubin"
        echo "ok  ptxas 12   shipped $name.ptx ($(grep -m1 '^\.version' "$ptx")) -> $a"
    done
    for a in compute_80 compute_90; do
        "$VENV/bin/python" scripts/nvrtc_compile.py "$NVRTC12" "$OUT/ship/$name.cu" "$a" "$OUT/$name.nvrtc.$a.ptx"
        "$PTXAS12" -arch="sm_${a#compute_}" "$OUT/$name.nvrtc.$a.ptx" -o "$OUT/$name.nvrtc.$a.cubin"
        echo "ok  nvrtc 12   $name.cu (as embedded) -> $a PTX -> ptxas"
    done
done
echo "kernels-check: every kernel compiles for sm_80 and sm_90 (nvcc 13, shipped PTX, NVRTC 12)"
# fovea's own NVRTC path (cudarc, bound for CUDA 13) finds NVRTC 12 by its soname and compiles the
# embedded kernels; the rest of CI runs the same test without NVRTC, where it must be an error.
out=$(LD_LIBRARY_PATH=$(dirname "$NVRTC12")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
  cargo test --profile ci --quiet --features cuda --test gpu -- --exact nvrtc_is_looked_up_for_cuda_13_and_a_missing_one_is_an_error --nocapture 2>&1) ||
  { echo "$out" >&2; echo "kernels-check: fovea's NVRTC compile failed" >&2; exit 1; }
echo "$out" | grep -q "NVRTC found" || { echo "$out" >&2; echo "kernels-check: fovea did not find NVRTC 12 on LD_LIBRARY_PATH" >&2; exit 1; }
echo "ok  fovea's NVRTC path: $(echo "$out" | grep 'NVRTC found')"
