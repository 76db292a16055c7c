# fovea: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
PY := .deps/venv/bin/python
FOVEA := target/release/fovea
MEDIA ?= ../shared/media
BENCH_VIDEOS := $(MEDIA)/vtest.avi $(MEDIA)/market_street_1906.mp4
BENCH_FRAMES ?= 300

.PHONY: all setup build demo test lint bench bench-criterion bench-pipeline bench-roi kernels-check reference roi-reference int8 int8-report clean

all: build

# Idempotent: installs only what is missing (Debian packages, ONNX Runtime, Python venv).
setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release

demo: build
	@mkdir -p out
	$(FOVEA) detect tests/data/market_street_10s.mp4 -o out/demo.jsonl
	@echo "results: out/demo.jsonl ($$(wc -l < out/demo.jsonl) frames)"

test: setup
	$(CARGO) test --all-targets
	$(CARGO) test --doc
	$(MAKE) lint
	FOVEA_BIN=target/debug/fovea $(PY) -m pytest -q tests/python

lint:
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) fmt --check

# Benchmarks (not tests): criterion stage benches, then the pipeline side by side with the
# Python peer (OpenCV + onnxruntime + NumPy) on the same videos, frames and threads.
bench: bench-criterion bench-pipeline bench-roi

bench-criterion: setup
	$(CARGO) bench --bench detect --bench track --bench roi
	$(PY) benches/peers/bytetrack_peer.py

# The validator's ROI workload (5602 ROIs over 750 1080p frames), fovea vs a per-ROI Python loop.
bench-roi: build
	$(PY) benches/peers/roi_compare.py --rounds 3

# Compile-checks every CUDA kernel for sm_80 and sm_90 (nvcc 13, ptxas 12, NVRTC 12 from PyPI,
# into .deps/cuda); no GPU needed. CI runs it after the tests.
kernels-check: setup
	bash scripts/check_kernels.sh

bench-pipeline: build
	$(PY) benches/peers/compare.py $(BENCH_VIDEOS) --frames $(BENCH_FRAMES) --threads 2 --rounds 5

# Regenerates the INT8 model and the TensorRT calibration table from the calibration set
# (frames listed in engines/calib/nanodet-g-416.frames.json, re-made from the clips by fovea).
CALIB := .deps/calib/nanodet-g-416
int8: build
	$(FOVEA) calib $(BENCH_VIDEOS) --frames 20 --model engines/nanodet-g-416.toml -o $(CALIB)
	cmp $(CALIB)/frames.json engines/calib/nanodet-g-416.frames.json
	$(PY) scripts/quantize_int8.py --calib $(CALIB)

# INT8 vs fp32 on held-out frames (the calibration frames excluded).
int8-report: build
	$(FOVEA) compare $(BENCH_VIDEOS) --exclude engines/calib/nanodet-g-416.frames.json --every 5 --json benches/results/int8_accuracy.json

# Regenerates tests/data/*.reference.json with the independent Python reference.
reference: setup
	$(PY) scripts/reference.py

# Regenerates tests/data/roi_reference* (OpenCV crops, resizes and colour statistics).
roi-reference: setup
	$(PY) scripts/roi_reference.py

clean:
	$(CARGO) clean
	rm -rf out
