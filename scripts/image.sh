#!/usr/bin/env bash
# `make image`: fovea's service image, built without a registry (issue 35).
#
#   1. A Debian bookworm base made with debootstrap (minbase) from Debian's packages and imported
#      as localhost/fovea-base:bookworm (once; kept in podman's storage).
#   2. A build context with the release CLI (stripped), ONNX Runtime and OpenVINO's libraries
#      where the CLI looks for them (/opt/fovea/lib), and the default models (/opt/fovea/share,
#      FOVEA_HOME): the wheel's list, scripts/build_wheel.py ENGINE_FILES, but for ONNX Runtime's
#      INT8 detector (never a default).
#   3. `podman build` with deploy/Containerfile (FFmpeg's runtime libraries from Debian, a
#      non-root user, /media, /results and /run/secrets/fovea as mount points, /healthz as the
#      health check), tagged localhost/fovea:VERSION, saved as an OCI archive in
#      dist/fovea-VERSION.oci.tar that docker, podman and Kubernetes load.
#
# Podman here: crun cannot set its rlimits and refuses the machines' hybrid cgroup layout, so
# runc with explicit ulimits, from .deps/image/containers.conf (CONTAINERS_CONF).
# FOVEA_IMAGE_BIN: the fovea CLI to put in (default target/release/fovea, which `make image` builds).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
TAG="localhost/fovea:$VERSION"
BASE="localhost/fovea-base:bookworm"
W="$ROOT/.deps/image"
BIN="${FOVEA_IMAGE_BIN:-target/release/fovea}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$W" dist

# The tools (Debian's packages), installed when missing.
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
for t in podman debootstrap runc skopeo; do command -v "$t" >/dev/null || missing+=("$t"); done
if ((${#missing[@]})); then
  echo "image: installing podman, buildah, debootstrap, runc, skopeo (missing: ${missing[*]})"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman buildah debootstrap runc skopeo >/dev/null
fi
source "$ROOT/scripts/podman-env.sh"

# 1. The base.
if ! podman image exists "$BASE"; then
  echo "image: making the Debian base with debootstrap ($MIRROR)"
  # debootstrap needs root (sudo where this is not root).
  $SUDO rm -rf "$W/rootfs"
  $SUDO debootstrap --variant=minbase bookworm "$W/rootfs" "$MIRROR" >"$W/debootstrap.log" 2>&1 \
    || { tail -20 "$W/debootstrap.log"; echo "image: debootstrap failed (log: $W/debootstrap.log)" >&2; exit 1; }
  $SUDO rm -rf "$W/rootfs/var/cache/apt/archives/"*.deb "$W/rootfs/var/lib/apt/lists/"*
  $SUDO tar -C "$W/rootfs" -c . | podman import -q - "$BASE" >/dev/null
  $SUDO rm -rf "$W/rootfs"
fi

# 2. The context.
[ -x "$BIN" ] || { echo "image: no fovea CLI at $BIN (make image builds it)" >&2; exit 1; }
ctx="$W/context"
rm -rf "$ctx"
mkdir -p "$ctx/opt/fovea/bin" "$ctx/opt/fovea/lib/openvino" "$ctx/opt/fovea/share"
strip -o "$ctx/opt/fovea/bin/fovea" "$BIN"
cp -L .deps/onnxruntime/libonnxruntime.so.1.31.1 "$ctx/opt/fovea/lib/"
cp -L .deps/openvino/*.so* "$ctx/opt/fovea/lib/openvino/"
.deps/venv/bin/python - "$ctx/opt/fovea/share" <<'EOF'
import os, shutil, sys
sys.path.insert(0, "scripts")
from build_wheel import ENGINE_FILES
# Not in the image: ONNX Runtime's INT8 detector (never a default: it misses the agreement bar),
# and the bf16 image encoder (14 MB; `fovea embed` in a service image takes the INT8 one on CPUs
# with VNNI, else fp32: the default falls back when a manifest is absent).
SKIP = {"nanodet-g-416-int8.toml", "nanodet-g-416-int8.onnx", "mobilenetv2-ov-bf16.toml", "mobilenetv2-b8.xml", "mobilenetv2-b8.bin"}
for f in ENGINE_FILES:
    if f in SKIP:
        continue
    dst = os.path.join(sys.argv[1], "engines", f)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy2(os.path.join("engines", f), dst)
EOF
cp deploy/healthz "$ctx/opt/fovea/bin/healthz"
cp deploy/Containerfile "$ctx/Containerfile"

# 3. The image and its archive.
podman build -q --format docker --network host -t "$TAG" "$ctx" >/dev/null
rm -f "dist/fovea-$VERSION.oci.tar"
podman save -q --format oci-archive -o "dist/fovea-$VERSION.oci.tar" "$TAG"
size=$(podman image inspect --format '{{.Size}}' "$TAG")
echo "image: $TAG, $((size / 1000000)) MB unpacked; dist/fovea-$VERSION.oci.tar $(($(stat -c %s "dist/fovea-$VERSION.oci.tar") / 1000000)) MB"
