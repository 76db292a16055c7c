#!/usr/bin/env bash
# Builds the GPU check bundle (issue 21; `make gpu-check-bundle`): what a lent GPU machine needs to
# run fovea's device checks in one short command, when it has a driver but no FFmpeg libraries,
# no onnxruntime-gpu and no network, and takes 64 MiB per call with the working tree.
#   BUNDLE/gpu-tests   tests/gpu.rs built optimised (FOVEA_BUNDLE_PROFILE) with the `cuda` feature and without `video`
#                      (no FFmpeg) or `cli`; ONNX Runtime is loaded at run time and not needed by
#                      the tests it runs (scripts/gpu-check.tests)
#   BUNDLE/frames/     raw BGR frames of the shared clips, <clip>.<W>x<H>.bgr (ffmpeg CLI)
#   BUNDLE/MANIFEST    what was built, from what, and what the program needs of the machine
# Then checks it here: no FFmpeg or ONNX Runtime among its libraries, every listed test exists,
# the tests that need no GPU pass from the bundle's own frames, the bundle with the working tree
# fits a device call, and (on a machine without a GPU) scripts/gpu-check.sh refuses, exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-.deps/gpu-check}
MEDIA=${FOVEA_MEDIA:-../shared/media}
LIMIT_MIB=60
fail() { echo "gpu-check-bundle: $*" >&2; exit 1; }

rm -rf "$B"
mkdir -p "$B/frames"
# FOVEA_BUNDLE_PROFILE: the cargo profile, release by default; CI builds it with its `ci` profile
# (no LTO), which reuses what `make test-release-cuda` built of the dependencies.
PROFILE=${FOVEA_BUNDLE_PROFILE:-release}
exe=$(cargo test --profile "$PROFILE" --no-default-features --features cuda --test gpu --no-run --message-format=json |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu" and m.get("executable"):
        print(m["executable"])')
[ -x "$exe" ] || fail "the GPU test program was not built"
strip -o "$B/gpu-tests" "$exe"

deps=$(ldd "$B/gpu-tests")
if echo "$deps" | grep -Eq 'libav|libsw|libonnxruntime|libcuda|libnvrtc'; then
  fail "the program links a library the device lacks or loads itself:"$'\n'"$deps"
fi
glibc=$(objdump -T "$B/gpu-tests" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
ptx=$(grep -ac '\.entry fovea_roi_batch_f32' "$B/gpu-tests" || true)

# Frames: 12 of vtest.avi (the kernel, ROI and pinned-pool checks) and 2 of market_street (the
# detector input's re-provisioning check).
for spec in vtest.avi:12 market_street_1906.mp4:2; do
  clip=${spec%%:*} n=${spec##*:}
  size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0:s=x "$MEDIA/$clip")
  ffmpeg -v error -y -i "$MEDIA/$clip" -frames:v "$n" -f rawvideo -pix_fmt bgr24 "$B/frames/$clip.$size.bgr"
done

# Every test gpu-check.sh names exists in the program.
listed=$("$B/gpu-tests" --list --include-ignored 2>/dev/null | sed -n 's/: test$//p')
for t in $(grep -v '^#' scripts/gpu-check.tests); do
  echo "$listed" | grep -qx "$t" || fail "scripts/gpu-check.tests names '$t', which tests/gpu.rs does not have"
done

# The tests that need no GPU, from the bundle (its frames, this checkout as FOVEA_ROOT).
FOVEA_ROOT=$PWD FOVEA_GPU_FRAMES=$B/frames "$B/gpu-tests" --test-threads 1 -q >/dev/null ||
  fail "the bundle's tests that need no GPU failed: run FOVEA_ROOT=\$PWD FOVEA_GPU_FRAMES=$B/frames $B/gpu-tests"

cat > "$B/MANIFEST" <<MAN
fovea GPU check bundle
built:   $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with local changes)')
program: gpu-tests (tests/gpu.rs, profile $PROFILE, --no-default-features --features cuda): needs $glibc or newer; links $(echo "$deps" | awk '$1 ~ /^lib/ {print $1}' | paste -sd' ')
kernels: $([ "$ptx" -gt 0 ] && echo 'PTX embedded (build-time)' || echo 'no PTX embedded: NVRTC compiles them at run time (libnvrtc.so.13 or .12 on LD_LIBRARY_PATH)')
frames:  $(cd "$B/frames" && ls | tr '\n' ' ')
MAN

tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
bundle=$(du -sb "$B" | cut -f1)
total=$(( (tree + bundle) / 1048576 ))
cat "$B/MANIFEST"
echo "gpu-check-bundle: $B is $((bundle / 1048576)) MiB; with the working tree ($((tree / 1048576)) MiB) $total MiB of the device call's 64"
[ "$total" -le "$LIMIT_MIB" ] || fail "bundle + working tree = $total MiB, over $LIMIT_MIB MiB"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  rc=0
  bash scripts/gpu-check.sh "$B" "$(mktemp -d)" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "scripts/gpu-check.sh on a machine without a GPU exited $rc, expected 2"
  echo "gpu-check-bundle: no GPU here, and scripts/gpu-check.sh says so (exit 2)"
fi
