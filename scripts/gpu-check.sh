#!/usr/bin/env bash
# Runs fovea's GPU checks from the bundle `make gpu-check-bundle` built (issue 21) on a machine
# with an NVIDIA GPU, in one command of a few minutes, and writes a report:
#   bash scripts/gpu-check.sh [BUNDLE [OUTDIR]]     (defaults: .deps/gpu-check, $OUT or BUNDLE/out)
# The checks (scripts/gpu-check.tests): the device named; NVRTC found as CUDA 13's; the ROI and
# colour-statistics kernels against the CPU on real frames; the detector's device input against the
# CPU preprocessor; the pinned pool's steady state; DeviceRois against the CPU and its steady state;
# ROIs/s and frames/s on the GPU against this machine's CPU. Not covered: TensorRT and CUDA
# inference (no onnxruntime-gpu on a lent machine): `make test-gpu` on a machine with the wheels.
# Exit: 0 all passed; 1 a check failed; 2 no GPU here (nothing was checked); 3 no bundle.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-.deps/gpu-check}
OUTDIR=${2:-${OUT:-$B/out}}
mkdir -p "$OUTDIR"
REPORT=$OUTDIR/gpu-check-report.md
LOG=$OUTDIR/gpu-check.log
[ -x "$B/gpu-tests" ] || { echo "gpu-check: no bundle at $B (build it with make gpu-check-bundle)" >&2; exit 3; }
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null || true)
if [ -z "$gpu" ]; then
  echo "gpu-check: no NVIDIA GPU on this machine (nvidia-smi finds none): nothing was checked" | tee "$REPORT" >&2
  exit 2
fi
# CUDA libraries from Python wheels (NVRTC for the NVRTC check), if the machine has them.
wheels=$(python3 -c 'import glob, site, os
dirs = set()
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    for lib in glob.glob(os.path.join(sp, "nvidia", "**", "lib", "libnvrtc.so*"), recursive=True):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))' 2>/dev/null || true)
export LD_LIBRARY_PATH=${wheels}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export FOVEA_ROOT=$PWD FOVEA_GPU_FRAMES=$B/frames RUST_BACKTRACE=1
mapfile -t tests < <(grep -v '^#' scripts/gpu-check.tests)
start=$(date +%s)
timeout 480 "$B/gpu-tests" --include-ignored --test-threads 1 --nocapture --exact "${tests[@]}" >"$LOG" 2>&1
rc=$?
{
  echo "# fovea GPU check"
  echo
  echo "- when: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - start )) s"
  echo "- GPU (nvidia-smi): $gpu"
  echo "- host: $(nproc) cores, $(uname -r)"
  echo "- NVRTC from: ${wheels:-(none found in Python wheels)}"
  sed 's/^/- bundle: /' "$B/MANIFEST"
  echo
  echo "## Checks"
  echo
  grep -E '^test .* \.\.\. ' "$LOG" | sed 's/^/- /'
  grep -E '^test result' "$LOG" | sed 's/^/- /'
  echo
  echo "## Figures"
  echo
  grep '^FIGURE ' "$LOG" | sed 's/^FIGURE /- /'
  if [ "$rc" -ne 0 ]; then
    echo
    echo "## Failures (exit $rc)"
    echo
    echo '```'
    sed -n '/^failures:/,$p' "$LOG" | head -120
    [ "$rc" -eq 124 ] && echo "(timed out after 480 s)"
    echo '```'
  fi
} >"$REPORT"
cat "$REPORT"
[ "$rc" -eq 0 ] && exit 0 || exit 1
