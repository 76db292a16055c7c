"""fovea for Python: the C API through ctypes.

    import cv2, fovea
    with fovea.Engine(path="fovea.toml") as engine, engine.stream(fps=25) as stream:
        ok, frame = cap.read()                       # BGR, H x W x 3, uint8
        stream.send(frame, pts=0.0, format="bgr")    # no copy: fovea reads the array's memory
        for result in stream.results():              # results queued so far
            print(result.frame, result.boxes, result.labels)

Frames are passed without copying when their rows are contiguous (any row stride); other layouts
are copied once. Errors raise `fovea.Error`, which carries fovea's status code and message.
The library is found at $FOVEA_LIB, else next to this package (the pip wheel), else in the
source tree's target/release or target/debug. ONNX Runtime is the installed `onnxruntime`
package's library unless $FOVEA_ORT_LIB says otherwise; `Engine()` with no arguments runs the
default model (the wheel's, else the source tree's), as `fovea detect` does.
"""
import ctypes as C
import json
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["Engine", "Stream", "Result", "Detection", "Error", "version", "embed", "collect_clips", "score"]

_HERE = Path(__file__).resolve().parent


# The runtime libraries fovea loads, from the PyPI packages that carry them:
# (environment variable, package, file inside the package).
_RUNTIMES = [
    ("FOVEA_ORT_LIB", "onnxruntime", Path("capi") / "libonnxruntime.so.1.31.1"),
    ("FOVEA_OPENVINO_LIB", "openvino", Path("libs") / "libopenvino_c.so.2641"),
]


def _environment():
    """What the library needs from an installed package: ONNX Runtime's library from the
    `onnxruntime` package and OpenVINO's from the `openvino` package (neither imported), and the
    models folder (FOVEA_HOME). Set only where the caller did not; the `fovea` console script runs
    the CLI with the same."""
    import importlib.util
    for var, package, file in _RUNTIMES:
        if var in os.environ:
            continue
        spec = importlib.util.find_spec(package)
        for d in (spec.submodule_search_locations or []) if spec else []:
            if (Path(d) / file).exists():
                os.environ[var] = str(Path(d) / file)
                break
    share = _HERE / "share"
    if "FOVEA_HOME" not in os.environ and share.is_dir():
        os.environ["FOVEA_HOME"] = str(share)


_environment()


def _find_library():
    env = os.environ.get("FOVEA_LIB")
    if env:
        return env
    for p in [_HERE / "libfovea.so", _HERE.parents[1] / "target/release/libfovea.so", _HERE.parents[1] / "target/debug/libfovea.so"]:
        if p.exists():
            return str(p)
    raise OSError("libfovea.so not found: set FOVEA_LIB, or build fovea (cargo build --release)")


class _Stats(C.Structure):
    _fields_ = [("pixels", C.c_uint64), ("mean", C.c_float * 3), ("std", C.c_float * 3), ("brightness", C.c_float),
                ("green_dominance", C.c_float), ("green_fraction", C.c_float), ("dark_fraction", C.c_float)]


class _Detection(C.Structure):
    _fields_ = [("x1", C.c_float), ("y1", C.c_float), ("x2", C.c_float), ("y2", C.c_float), ("score", C.c_float),
                ("class_id", C.c_uint32), ("track_id", C.c_int64), ("label", C.c_char_p), ("source", C.c_uint32),
                ("label_score", C.c_float), ("verdict", C.c_uint32), ("rule", C.c_char_p), ("rule_value", C.c_float),
                ("rule_limit", C.c_float), ("flags", C.c_uint32), ("team", C.c_int32), ("stats", _Stats),
                ("score_count", C.c_size_t), ("score_labels", C.POINTER(C.c_char_p)), ("score_values", C.POINTER(C.c_float)),
                ("object_keypoint_count", C.c_size_t), ("object_keypoints", C.POINTER(C.c_float))]


class _Box(C.Structure):
    _fields_ = [("x1", C.c_float), ("y1", C.c_float), ("x2", C.c_float), ("y2", C.c_float), ("score", C.c_float),
                ("class_id", C.c_uint32), ("id", C.c_int64)]


class _Result(C.Structure):
    _fields_ = [("frame", C.c_uint64), ("pts", C.c_double), ("count", C.c_size_t), ("detections", C.POINTER(_Detection)),
                ("keypoint_count", C.c_size_t), ("keypoints", C.POINTER(C.c_float)),
                ("keypoint_confidences", C.POINTER(C.c_float)), ("predicted", C.c_uint32)]


_CALLBACK = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.POINTER(_Result))

_lib = C.CDLL(_find_library())
_status = C.c_uint32
for name, res, args in [
    ("fovea_version", C.c_char_p, []),
    ("fovea_status_str", C.c_char_p, [_status]),
    ("fovea_last_error", C.c_char_p, []),
    ("fovea_engine_create", _status, [C.c_char_p, C.c_char_p, C.POINTER(C.c_void_p)]),
    ("fovea_engine_create_from_file", _status, [C.c_char_p, C.POINTER(C.c_void_p)]),
    ("fovea_engine_destroy", None, [C.c_void_p]),
    ("fovea_engine_last_error", C.c_char_p, [C.c_void_p]),
    ("fovea_engine_label_count", C.c_size_t, [C.c_void_p]),
    ("fovea_engine_label", C.c_char_p, [C.c_void_p, C.c_uint32]),
    ("fovea_engine_provider", C.c_char_p, [C.c_void_p]),
    ("fovea_engine_last_report", C.c_char_p, [C.c_void_p]),
    ("fovea_engine_process_file", _status, [C.c_void_p, C.c_char_p, _CALLBACK, C.c_void_p]),
    ("fovea_engine_verify_file", _status, [C.c_void_p, C.c_char_p, C.c_char_p, _CALLBACK, C.c_void_p]),
    ("fovea_engine_keyframes", _status, [C.c_void_p, C.c_char_p, C.c_char_p, C.c_char_p]),
    ("fovea_engine_detect_file", _status, [C.c_void_p, C.c_char_p, C.c_char_p, C.c_char_p]),
    ("fovea_stream_send_frame_with_boxes", _status, [C.c_void_p, C.c_void_p, C.c_size_t, C.c_uint32, C.c_uint32, C.c_size_t,
                                                     C.c_uint32, C.c_double, C.POINTER(_Box), C.c_size_t]),
    ("fovea_stream_create", _status, [C.c_void_p, C.c_double, C.POINTER(C.c_void_p)]),
    ("fovea_stream_destroy", None, [C.c_void_p]),
    ("fovea_stream_last_error", C.c_char_p, [C.c_void_p]),
    ("fovea_stream_send_frame", _status, [C.c_void_p, C.c_void_p, C.c_size_t, C.c_uint32, C.c_uint32, C.c_size_t, C.c_uint32, C.c_double]),
    ("fovea_stream_receive", _status, [C.c_void_p, C.POINTER(C.POINTER(_Result))]),
    ("fovea_stream_flush", _status, [C.c_void_p]),
    ("fovea_stream_report", C.c_char_p, [C.c_void_p]),
    ("fovea_result_destroy", None, [C.POINTER(_Result)]),
    ("fovea_embed", _status, [C.c_char_p, C.c_char_p, C.c_char_p]),
    ("fovea_embed_collect", _status, [C.c_char_p]),
    ("fovea_last_embed_report", C.c_char_p, []),
    ("fovea_score", _status, [C.c_char_p, C.c_char_p, C.c_char_p]),
    ("fovea_last_score_report", C.c_char_p, []),
]:
    f = getattr(_lib, name)
    f.restype, f.argtypes = res, args

OK, NEED_MORE_DATA, END_OF_STREAM, CALLBACK_STOPPED = 0, 1, 2, 109
_FORMATS = {"rgb": 0, "bgr": 1, "nv12": 2}


def version():
    return _lib.fovea_version().decode()


class Error(Exception):
    """A fovea call failed: `status` is fovea's status code, `name` its description."""

    def __init__(self, status, message):
        self.status = status
        self.name = _lib.fovea_status_str(status).decode()
        self.message = message
        super().__init__(f"{message} ({self.name}, status {status})")


def _c(what, s):
    """`s` (text, or a path: str, bytes, PathLike) as bytes for C, refusing a NUL byte, where C
    would quietly cut the string ("a.mp4\\0.txt" must not become "a.mp4")."""
    b = os.fsencode(s)
    i = b.find(b"\0")
    if i >= 0:
        raise ValueError(f"{what} holds a NUL byte at byte {i}: C strings end there")
    return b


MAX_CLASS_ID = 65535
_I64 = (-(1 << 63), (1 << 63) - 1)


def _paths_json(inputs):
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return json.dumps([i if isinstance(i, dict) else os.fspath(i) for i in inputs]).encode()


def collect_clips(inputs):
    """The clips `embed` would embed for `inputs`: a list of {"path", "label"} dicts (folders
    walked, `class/clip.ext` labelled, list files read), as `fovea embed` finds them."""
    s = _lib.fovea_embed_collect(_paths_json(inputs))
    if s != OK:
        raise Error(s, _lib.fovea_last_error().decode())
    return json.loads(_lib.fovea_last_embed_report().decode())


def embed(inputs, store, encoder=None, frames=None, every=None, per="clip", batch=None, decoders=None, threads=None):
    """Embeds clips into the Parquet store folder `store`, as `fovea embed` does (resumable:
    clips already in the store are skipped; a clip that fails is recorded with its error).
    `inputs`: a path or a list of paths (files, folders, list files) or {"path", "label"} dicts.
    `encoder`: an image-encoder manifest (default: $FOVEA_ENCODER, else the default encoder).
    `frames` (per clip, spread evenly; default 8) or `every` (seconds). Returns the run's report."""
    opts = {"per": per}
    if encoder is not None:
        opts["encoder"] = os.fspath(encoder)
    if every is not None:
        opts["sample"] = {"every": float(every)}
    elif frames is not None:
        opts["sample"] = {"frames": int(frames)}
    for k, v in (("batch", batch), ("decoders", decoders), ("threads", threads)):
        if v is not None:
            opts[k] = int(v)
    s = _lib.fovea_embed(_paths_json(inputs), _c("store", store), json.dumps(opts).encode())
    if s != OK:
        raise Error(s, _lib.fovea_last_error().decode())
    return json.loads(_lib.fovea_last_embed_report().decode())


def score(video, boxes, classifier=None, time=None, fastest=None, rules=None, line_frames=None, policy=None, threads=None, per_frame=True,
          frames=None, homography=None):
    """Scores the Score Vision miner file `boxes` made on `video` as `fovea score` does (the
    validator's rules and box score, the keypoint score, speed and final). `classifier`: a
    zero-shot image-encoder manifest deciding each kept box's class (without one the box score is
    an upper bound); `time`/`fastest`: the miner's and the fastest miner's seconds; `frames`: the
    frames to validate as the validator chose them (default every frame); `homography`: "opencv"
    (the validator's, default) or "consensus" (fovea's largest consistent set). Returns the report
    (a dict, as `fovea score --json` prints it)."""
    opts = {"per_frame": bool(per_frame)}
    if homography is not None:
        opts["homography"] = str(homography)
    if frames is not None:
        opts["frames"] = sorted(int(f) for f in frames)
    for k, v in (("classifier", classifier), ("rules", rules), ("policy", policy)):
        if v is not None:
            opts[k] = os.fspath(v)
    for k, v in (("time", time), ("fastest", fastest)):
        if v is not None:
            opts[k] = float(v)
    for k, v in (("line_frames", line_frames), ("threads", threads)):
        if v is not None:
            opts[k] = int(v)
    s = _lib.fovea_score(_c("video", video), _c("boxes", boxes), json.dumps(opts).encode())
    if s != OK:
        raise Error(s, _lib.fovea_last_error().decode())
    return json.loads(_lib.fovea_last_score_report().decode())


SOURCES = ("detector", "filter", "classifier", "track", "colour")
VERDICTS = ("keep", "reject", "invalid")
FLAG_CLAMPED, FLAG_UNCERTAIN = 1, 2


class Detection:
    """`label` is the classifier's (or its track's, or colour's) when one decided the object, else
    the model's class name; `source` says who decided last (one of SOURCES). With rules:
    `verdict` (one of VERDICTS), `rule` (None when kept), `rule_value`, `rule_limit`, `stats` (a
    dict of the ROI's colour statistics); with teams: `team` (0, 1 or None); with a classifier:
    `label_score` and `probabilities` (label -> probability of its last step); `flags` (FLAG_* bits);
    with a pose model: `keypoints` ([x, y, confidence] per keypoint, in the model's order), else []."""
    __slots__ = ("bbox", "score", "class_id", "label", "track_id", "source", "verdict", "rule", "rule_value", "rule_limit",
                 "flags", "team", "label_score", "stats", "probabilities", "keypoints")

    def __init__(self, bbox, score, class_id, label, track_id, source="detector", verdict="keep", rule=None, rule_value=None,
                 rule_limit=None, flags=0, team=None, label_score=None, stats=None, probabilities=None, keypoints=None):
        self.bbox, self.score, self.class_id, self.label, self.track_id = bbox, score, class_id, label, track_id
        self.source, self.verdict, self.rule, self.rule_value, self.rule_limit = source, verdict, rule, rule_value, rule_limit
        self.flags, self.team, self.label_score, self.stats = flags, team, label_score, stats
        self.probabilities = probabilities or {}
        self.keypoints = keypoints or []

    def __repr__(self):
        extra = f" {self.verdict} ({self.rule})" if self.verdict != "keep" else ""
        return f"Detection({self.label} {self.score:.3f} {self.bbox} track {self.track_id}{extra})"


def _number(v):
    return None if math.isnan(v) else float(v)


class Result:
    """One frame's results: `detections` as objects, and the same as NumPy arrays: `boxes`
    (N x 4 float32, x1 y1 x2 y2), `scores`, `class_ids`, `track_ids` (-1: no track), `labels`,
    `sources` (who decided last, one of SOURCES); per detection too: `verdicts`, `rules`,
    `rule_values`, `rule_limits`, `flags`, `teams`, `label_scores`, `stats`, `probabilities`,
    `object_keypoints` (see `Detection`). `keypoints`: the pitch keypoints ([x, y] pairs in the
    template's order, [0, 0] where not seen) when the engine's `[pitch]` stage runs, else empty;
    `keypoint_confidences`: theirs (0 where not seen). `predicted`: the detector skipped the frame
    (the configuration's `interval`) and its boxes are the tracks' predictions."""

    def __init__(self, r):
        self.frame, self.pts = int(r.frame), float(r.pts)
        self.predicted = bool(r.predicted)
        k = int(r.keypoint_count)
        self.keypoints = [[float(r.keypoints[2 * i]), float(r.keypoints[2 * i + 1])] for i in range(k)]
        self.keypoint_confidences = [float(r.keypoint_confidences[i]) for i in range(k)] if k and r.keypoint_confidences else []
        n = int(r.count)
        if n:
            raw = np.ctypeslib.as_array(C.cast(r.detections, C.POINTER(C.c_uint8)), shape=(n * C.sizeof(_Detection),))
            dt = np.dtype({"names": ["box", "score", "class_id", "track_id"], "formats": [("<f4", 4), "<f4", "<u4", "<i8"],
                           "offsets": [0, 16, 20, 24], "itemsize": C.sizeof(_Detection)})
            rec = raw.view(dt).copy()
            self.boxes, self.scores = rec["box"], rec["score"]
            self.class_ids, self.track_ids = rec["class_id"], rec["track_id"]
            ds = [r.detections[i] for i in range(n)]
            self.labels = [d.label.decode() for d in ds]
            self.sources = [SOURCES[d.source] if d.source < len(SOURCES) else "unknown" for d in ds]
            self.verdicts = [VERDICTS[d.verdict] if d.verdict < len(VERDICTS) else "unknown" for d in ds]
            self.rules = [d.rule.decode() if d.rule else None for d in ds]
            self.rule_values = [_number(d.rule_value) for d in ds]
            self.rule_limits = [_number(d.rule_limit) for d in ds]
            self.flags = [int(d.flags) for d in ds]
            self.teams = [None if d.team < 0 else int(d.team) for d in ds]
            self.label_scores = [float(d.label_score) for d in ds]
            self.stats = [None if d.stats.pixels == 0 else {
                "pixels": int(d.stats.pixels), "mean": list(d.stats.mean), "std": list(d.stats.std),
                "brightness": d.stats.brightness, "green_dominance": d.stats.green_dominance,
                "green_fraction": d.stats.green_fraction, "dark_fraction": d.stats.dark_fraction} for d in ds]
            self.probabilities = [{d.score_labels[k].decode(): float(d.score_values[k]) for k in range(d.score_count)} for d in ds]
            self.object_keypoints = [[[float(d.object_keypoints[3 * j + c]) for c in range(3)] for j in range(d.object_keypoint_count)]
                                     for d in ds]
        else:
            self.boxes = np.zeros((0, 4), np.float32)
            self.scores, self.class_ids, self.track_ids = np.zeros(0, np.float32), np.zeros(0, np.uint32), np.zeros(0, np.int64)
            self.labels, self.sources, self.verdicts, self.rules, self.rule_values, self.rule_limits = [], [], [], [], [], []
            self.flags, self.teams, self.label_scores, self.stats, self.probabilities = [], [], [], [], []
            self.object_keypoints = []

    @property
    def detections(self):
        return [Detection(tuple(float(v) for v in self.boxes[i]), float(self.scores[i]), int(self.class_ids[i]), self.labels[i],
                          None if self.track_ids[i] < 0 else int(self.track_ids[i]), self.sources[i], self.verdicts[i], self.rules[i],
                          self.rule_values[i], self.rule_limits[i], self.flags[i], self.teams[i], self.label_scores[i],
                          self.stats[i], self.probabilities[i], self.object_keypoints[i])
                for i in range(len(self.labels))]

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        return f"Result(frame {self.frame}, {len(self)} detections)"


class _Handle:
    """Closing on `with` exit and on garbage collection (close twice is harmless)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _handle(self):
        if not getattr(self, "_h", None):
            raise Error(111, f"the {type(self).__name__.lower()} is closed")
        return self._h


class Engine(_Handle):
    """A loaded model with its settings: `Engine(config="model = '...'")` (TOML text; relative
    paths from `base_dir`, default the current directory), `Engine(path="fovea.toml")`, or
    `Engine()`: the default model with default settings.
    Thread-safe; make one `Stream` per video."""

    def __init__(self, config=None, path=None, base_dir=None):
        if config is not None and path is not None:
            raise ValueError("give config (TOML text) or path, not both")
        if config is None and path is None:
            config = ""  # the default model, every setting at its default
        h = C.c_void_p()
        if path is not None:
            s = _lib.fovea_engine_create_from_file(_c("path", path), C.byref(h))
        else:
            s = _lib.fovea_engine_create(_c("config", config), None if base_dir is None else _c("base_dir", base_dir), C.byref(h))
        if s != OK:
            raise Error(s, _lib.fovea_last_error().decode())
        self._h = h
        self.labels = [_lib.fovea_engine_label(h, i).decode() for i in range(_lib.fovea_engine_label_count(h))]
        self.provider = _lib.fovea_engine_provider(h).decode()

    def stream(self, fps=0.0):
        return Stream(self, fps)

    def last_report(self):
        """The report of the last `process_file` call as a dict (frames, detections per class,
        seconds per stage, tracks, classifier calls made and saved, model and provider), or None
        before any call or when its input could not be opened."""
        text = _lib.fovea_engine_last_report(self._handle()).decode()
        return json.loads(text) if text else None

    def process_file(self, path, callback=None):
        """Processes a whole file. With `callback(result) -> bool|None` each frame's result is
        handed over in order (return False to stop); without, the results are returned as a list."""
        return self._file_call(lambda cb: _lib.fovea_engine_process_file(self._handle(), _c("path", path), cb, None), callback)

    def detect_file(self, video, out, format="jsonl", stride=None, max_fps=None, start=None, duration=None, iframes=None):
        """Processes `video` and writes its results to the file `out` in `format` ("jsonl" or
        "scorevision"): the bytes `fovea detect --config` writes with this engine's configuration
        (the results before an error are kept in `out`, then the error is raised). `iframes`: only
        the key frames. Returns the run's report (as `last_report`)."""
        opts = {k: v for k, v in {"format": format, "stride": stride, "max_fps": max_fps, "start": start,
                                  "duration": duration, "iframes": iframes}.items() if v is not None}
        s = _lib.fovea_engine_detect_file(self._handle(), _c("video", video), _c("out", out), json.dumps(opts).encode())
        if s != OK:
            raise Error(s, _lib.fovea_engine_last_error(self._h).decode())
        return self.last_report()

    def verify_file(self, video, boxes, callback=None):
        """Verifies the boxes of `boxes` (a Score Vision JSON file or fovea JSONL) on `video` as
        `fovea verify` does with this engine's configuration (its rules, else the built-in Score
        Vision set; its classifier; teams): every frame with boxes, each box a `Detection` with its
        verdict, rule, statistics, label, source and team. Results as for `process_file`."""
        return self._file_call(
            lambda cb: _lib.fovea_engine_verify_file(self._handle(), _c("video", video), _c("boxes", boxes), cb, None), callback)

    def keyframes(self, video, out_dir, max=None, min_gap=None, policy=None, stride=None, image_format=None):
        """Picks the key frames of `video` with this engine's model, as `fovea keyframes` does,
        writing the images, keyframes.json and contact_sheet.png into `out_dir`; returns the
        keyframes.json document as a dict (per key frame: file, frame, time, shot, every score and
        why it won; per shot: the cut and its candidates; the frames each stage saw)."""
        opts = {k: v for k, v in {"max": max, "min_gap": min_gap, "policy": None if policy is None else os.fspath(policy),
                                  "stride": stride, "image_format": image_format}.items() if v is not None}
        s = _lib.fovea_engine_keyframes(self._handle(), _c("video", video), _c("out_dir", out_dir), json.dumps(opts).encode())
        if s != OK:
            raise Error(s, _lib.fovea_engine_last_error(self._h).decode())
        return self.last_report()

    def _file_call(self, call, callback):
        out = []
        failure = []

        def trampoline(_user, r):
            try:
                res = Result(r.contents)
                if callback is None:
                    out.append(res)
                    return 0
                return 1 if callback(res) is False else 0
            except BaseException as e:  # never unwind through C
                failure.append(e)
                return 1

        cb = _CALLBACK(trampoline)
        s = call(cb)
        if failure:
            raise failure[0]
        if s not in (OK, CALLBACK_STOPPED):
            raise Error(s, _lib.fovea_engine_last_error(self._h).decode())
        return out if callback is None else None

    def close(self):
        if getattr(self, "_h", None):
            _lib.fovea_engine_destroy(self._h)
            self._h = None


class Stream(_Handle):
    """Per-video state on an engine. Use from one thread at a time."""

    def __init__(self, engine, fps=0.0):
        h = C.c_void_p()
        s = _lib.fovea_stream_create(engine._handle(), float(fps), C.byref(h))
        if s != OK:
            raise Error(s, _lib.fovea_engine_last_error(engine._h).decode())
        self._h, self._engine = h, engine

    def _check(self, s):
        if s not in (OK, NEED_MORE_DATA, END_OF_STREAM):
            raise Error(s, _lib.fovea_stream_last_error(self._h).decode())
        return s

    @staticmethod
    def frame_args(frame, format="bgr"):
        """(array kept alive, pointer, byte length, width, height, row stride) for `frame`, without
        copying when its rows are contiguous."""
        a = np.asarray(frame)
        if a.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {a.dtype}")
        if format == "nv12":
            if a.ndim != 2 or a.shape[0] % 3 != 0:
                raise ValueError(f"an NV12 frame is a (height * 3 / 2) x width uint8 array, got shape {a.shape}")
            h, w = a.shape[0] * 2 // 3, a.shape[1]
            # Rows must be contiguous and move forwards through memory (a view flipped with
            # [::-1] or a broadcast one is copied; fovea takes one non-negative row stride).
            if a.strides[1] != 1 or a.strides[0] < w:
                a = np.ascontiguousarray(a)
        else:
            if a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"a {format} frame is a height x width x 3 uint8 array, got shape {a.shape}")
            h, w = a.shape[:2]
            if a.strides[1:] != (3, 1) or a.strides[0] < 3 * w:
                a = np.ascontiguousarray(a)
        stride = a.strides[0]
        length = stride * (a.shape[0] - 1) + (w if format == "nv12" else w * 3)
        return a, a.ctypes.data, length, w, h, stride

    def send(self, frame, pts=0.0, format="bgr", boxes=None):
        """Detects (and tracks) objects in one frame: H x W x 3 uint8 ("bgr", OpenCV's order, or
        "rgb"), or (H * 3 / 2) x W uint8 ("nv12"). Its result is queued for `receive`.
        Verify mode: `boxes`, a list of (x1, y1, x2, y2, score, class_id[, id]) in pixels of the
        frame, go through the stages (rules, classifier, teams) in place of the detector's."""
        if format not in _FORMATS:
            raise ValueError(f"format must be one of {sorted(_FORMATS)}, got {format!r}")
        a, ptr, length, w, h, stride = self.frame_args(frame, format)
        if boxes is None:
            self._check(_lib.fovea_stream_send_frame(self._handle(), ptr, length, w, h, stride, _FORMATS[format], float(pts)))
        else:
            arr = (_Box * len(boxes))()
            for k, b in enumerate(boxes):
                if len(b) not in (6, 7):
                    raise ValueError(f"box {k}: expected (x1, y1, x2, y2, score, class_id[, id]), got {b!r}")
                # ctypes wraps integers silently (2**32 would become class 0): check them here.
                cls, oid = int(b[5]), int(b[6]) if len(b) == 7 and b[6] is not None else -1
                if not 0 <= cls <= MAX_CLASS_ID:
                    raise ValueError(f"box {k}: class_id {cls} is outside 0..={MAX_CLASS_ID}")
                if not _I64[0] <= oid <= _I64[1]:
                    raise ValueError(f"box {k}: id {oid} does not fit in 64 bits")
                arr[k] = _Box(*(float(v) for v in b[:5]), cls, oid)
            self._check(_lib.fovea_stream_send_frame_with_boxes(self._handle(), ptr, length, w, h, stride, _FORMATS[format], float(pts),
                                                                arr, len(boxes)))
        del a

    def receive(self):
        """The next result, or None when there is none yet (or the stream has ended)."""
        p = C.POINTER(_Result)()
        if self._check(_lib.fovea_stream_receive(self._handle(), C.byref(p))) != OK:
            return None
        try:
            return Result(p.contents)
        finally:
            _lib.fovea_result_destroy(p)

    def results(self):
        """Every result queued so far."""
        while (r := self.receive()) is not None:
            yield r

    def report(self):
        """What the stream did so far, as a dict: the run report `Engine.last_report()` gives
        (frames processed, detections per class, seconds per stage (conversion, preprocessing,
        waiting for the model, inference, postprocessing, tracking, statistics, rules, ROI
        tensors, classifier), tracks, ROIs, classifier calls made and saved, teams), its video
        None."""
        return json.loads(_lib.fovea_stream_report(self._handle()).decode())

    def flush(self):
        """No more frames; the queued results can still be received (with colour teams, the
        clip's results are queued now, with their teams)."""
        self._check(_lib.fovea_stream_flush(self._handle()))

    def close(self):
        if getattr(self, "_h", None):
            _lib.fovea_stream_destroy(self._h)
            self._h = None
