#!/usr/bin/env bash
# The pip wheel as a user gets it (issue 17; `make test-wheel`, part of `make test`): built from
# this checkout's build (PROFILE, default debug), installed into a fresh virtual environment
# outside the checkout with nothing but the package registries' wheels (.deps/wheels, fetched by
# the setup script), then:
#   1. every shared library its entry points need, transitively, is in the wheel (the vendored
#      FFmpeg libraries in fovea.libs/) or in the manylinux set (auditwheel's policy), so the
#      system FFmpeg is never loaded; the runs below have no FOVEA_LIB or FOVEA_ORT_LIB and an
#      empty LD_LIBRARY_PATH;
#   2. the Python tests of the binding, of the CLI's colour teams and of the TurboVision miner
#      (`fovea.turbovision`, as TurboVision's chute loads it) run against the installed package
#      and its console script (the tracking-peer test, which measures the tracker
#      against supervision's, stays in `make test-python`);
#   3. `fovea detect` from the environment's bin, and `fovea.Engine()` with no arguments, detect
#      the people of vtest.avi with the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MEDIA=${FOVEA_MEDIA:-$ROOT/../shared/media}
PY=$ROOT/.deps/venv/bin/python
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "test-wheel: $*" >&2; exit 1; }

"$PY" scripts/build_wheel.py --profile "${PROFILE:-debug}" --out "$W/dist"
whl=$(ls "$W"/dist/fovea-*.whl)
case "$whl" in *manylinux*) ;; *) fail "$whl is not tagged manylinux";; esac
base=$("$PY" -c 'import sys; print(sys._base_executable)')
"$base" -m venv "$W/venv"
"$W/venv/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$ROOT/.deps/wheels" "$whl" pytest opencv-python-headless pydantic
SP=$("$W/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
[ -f "$SP/fovea/libfovea.so" ] && [ -x "$SP/fovea/bin/fovea" ] && [ -f "$SP/fovea/share/engines/nanodet-g-416.onnx" ] ||
  fail "the installed package lacks its library, CLI or models"

# 1. Libraries: every DT_NEEDED from the entry points down is in the wheel (and then its own
#    needs are checked too) or in the manylinux set, which the system provides with what it needs.
"$PY" - "$W/venv" "$SP" <<'PY'
import json, os, sys
import auditwheel
from elftools.elf.elffile import ELFFile
venv, sp = sys.argv[1], sys.argv[2]
policy = json.load(open(os.path.join(os.path.dirname(auditwheel.__file__), "policy", "manylinux-policy.json")))
allowed = set().union(*(p["lib_whitelist"] for p in policy if p["name"].startswith("manylinux"))) | {"ld-linux-x86-64.so.2"}
libs = os.path.join(sp, "fovea.libs")
vendored = set(os.listdir(libs))

def needed(path):
    with open(path, "rb") as f:
        dyn = ELFFile(f).get_section_by_name(".dynamic")
        return [t.needed for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"] if dyn else []

todo = [os.path.join(sp, "fovea", "libfovea.so"), os.path.join(sp, "fovea", "bin", "fovea")]
seen, bad, used = set(), [], set()
while todo:
    e = todo.pop()
    if e in seen:
        continue
    seen.add(e)
    for n in needed(e):
        if n in vendored:
            used.add(n)
            todo.append(os.path.join(libs, n))
        elif n not in allowed:
            bad.append(f"{os.path.basename(e)} needs {n}: neither in the wheel nor in the manylinux set")
if bad:
    sys.exit("test-wheel: " + "\n  ".join(sorted(set(bad))))
ff = sorted(n.split("-")[0] for n in used if n.startswith(("libav", "libsw")))
assert {"libavcodec", "libavformat", "libavutil", "libswscale"} <= set(ff), ff
print(f"test-wheel: the entry points need {len(used)} libraries from the wheel (FFmpeg's: {' '.join(ff)}) and the rest from the manylinux set")
PY

# 2. The binding's Python tests against the installed package, from outside the checkout.
clean=(env -u FOVEA_LIB -u FOVEA_ORT_LIB -u FOVEA_HOME LD_LIBRARY_PATH= FOVEA_INSTALLED=1 FOVEA_BIN="$W/venv/bin/fovea" FOVEA_MEDIA="$MEDIA")
(cd "$W" && "${clean[@]}" "$W/venv/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/python/test_binding.py" "$ROOT/tests/python/test_faces.py" "$ROOT/tests/python/test_teams.py" \
  "$ROOT/tests/python/test_turbovision.py")

# 3. The CLI from the environment's bin and Engine() with no arguments: the bundled default model.
(cd "$W" && "${clean[@]}" "$W/venv/bin/fovea" detect "$MEDIA/vtest.avi" --duration 1 -q -o out.jsonl 2> detect.log) ||
  fail "fovea detect from the wheel failed: $(cat "$W/detect.log")"
# The models come from the wheel: with FOVEA_HOME (the console script sets it) no source tree is
# looked in, so a missing model would be an error here.
grep -q "model        nanodet-g-416" "$W/detect.log" || fail "unexpected summary: $(cat "$W/detect.log")"
(cd "$W" && "${clean[@]}" FOVEA_HOME="$W/nowhere" "$W/venv/bin/fovea" detect "$MEDIA/vtest.avi" --duration 0.2 -q -o /dev/null 2> nohome.log) &&
  fail "fovea detect found a model without its model home: $(cat "$W/nohome.log")"
[ "$(grep -c '"label":"person"' "$W/out.jsonl")" -ge 5 ] || fail "fovea detect from the wheel found too few people"
(cd "$W" && "${clean[@]}" "$W/venv/bin/python" - "$MEDIA/vtest.avi" <<'PY'
import sys, cv2, fovea
assert "site-packages" in fovea.__file__, fovea.__file__
cap = cv2.VideoCapture(sys.argv[1])
ok, frame = cap.read()
assert ok
with fovea.Engine() as e, e.stream(fps=10) as s:
    s.send(frame, pts=0.0, format="bgr")
    s.flush()
    people = [l for r in s.results() for l in r.labels if l == "person"]
assert len(people) >= 3, people
print(f"test-wheel: fovea.Engine() (no arguments) found {len(people)} people in vtest.avi's first frame; provider {e.provider}")
# fovea.embed with the wheel's default encoder (share/engines), a store read back by pyarrow-free means.
import os, tempfile
with tempfile.TemporaryDirectory() as d:
    r = fovea.embed([sys.argv[1]], os.path.join(d, "store"), frames=2)
    assert r["embedded"] == 1 and r["frames"] == 2 and r["model"].startswith("mobilenetv2"), r
    assert any(n.startswith("part-") for n in os.listdir(os.path.join(d, "store")))
print(f"test-wheel: fovea.embed with the default encoder: {r['model']} on {r['provider']}")
PY
)
echo "test-wheel: ok ($(basename "$whl"), $(( $(stat -c %s "$whl") / 1048576 )) MiB)"
