#!/usr/bin/env python3
"""Compiles a self-contained CUDA source with NVRTC (through ctypes), as fovea's runtime does.

usage: nvrtc_compile.py LIBNVRTC SOURCE.cu compute_XX OUT.ptx
"""
import ctypes
import sys


def main():
    lib, src, arch, out = sys.argv[1:5]
    nvrtc = ctypes.CDLL(lib)
    prog = ctypes.c_void_p()
    code = open(src, "rb").read()
    check = lambda r, what: r == 0 or sys.exit(f"nvrtc: {what} failed ({nvrtc.nvrtcGetErrorString(r)})")
    nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p
    check(nvrtc.nvrtcCreateProgram(ctypes.byref(prog), code, src.encode(), 0, None, None), "create")
    opts = [f"--gpu-architecture={arch}".encode(), b"-default-device"]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    r = nvrtc.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(prog, log)
    if r != 0:
        sys.exit(f"nvrtc: {src} for {arch}:\n{log.value.decode()}")
    nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetPTX(prog, ptx)
    open(out, "wb").write(ptx.value)


if __name__ == "__main__":
    main()
