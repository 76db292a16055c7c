# Sourced by scripts/image.sh and the image test: podman with runc and explicit ulimits (crun
# cannot set its rlimits on these machines and refuses their hybrid cgroup layout).
_fovea_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$_fovea_root/.deps/image"
cat > "$_fovea_root/.deps/image/containers.conf" <<'CONF'
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
export CONTAINERS_CONF="$_fovea_root/.deps/image/containers.conf"
