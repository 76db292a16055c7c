"""The `fovea` console script of the pip wheel: runs the package's CLI binary with the
environment the binding sets (ONNX Runtime from the onnxruntime package, the bundled models)."""
import os
import sys
from pathlib import Path

from . import _environment


def main():
    _environment()
    exe = Path(__file__).resolve().parent / "bin" / "fovea"
    if not exe.exists():
        sys.exit(f"fovea: {exe} missing (this is the binding from a source tree: run target/release/fovea)")
    os.execv(str(exe), [str(exe)] + sys.argv[1:])
