"""A TurboVision miner on fovea (score-technologies/turbovision, `miner.py` in a chute's Hugging
Face repository): the `Miner` class its chute template loads and calls,

    miner = Miner(path_hf_repo)
    results = miner.predict_batch(batch_images, offset, n_keypoints)   # BGR frames (cv2.imdecode)

each result a `TVFrameResult` (`frame_id`, `boxes` of x1, y1, x2, y2 (ints), `cls_id`, `conf`, and
`keypoints`: `n_keypoints` (x, y) pairs, (0, 0) where not seen) with `model_dump()`. The frames go
through one fovea engine stream per video (frames in memory, no temporary files): the detector,
ByteTrack and the pitch keypoints from the white lines (`[pitch] mode = "lines"`), the same chain
`fovea mine` runs. Boxes carry the validator's class ids (0 ball, 1 goalkeeper, 2 player, 3
referee); a box whose label has none is left out. A `fovea.toml` engine configuration in the
repository replaces the default one (`DEFAULT_CONFIG`)."""
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import Engine

DEFAULT_CONFIG = """
[tracking]
enabled = true
[pitch]
mode = "lines"
"""

# Score Vision's class ids by label (fovea's output::scorevision::class_of).
_CLASSES = {"sports_ball": 0, "ball": 0, "football": 0, "goalkeeper": 1, "person": 2, "player": 2, "football_player": 2, "referee": 3}


@dataclass
class BoundingBox:
    x1: int
    y1: int
    x2: int
    y2: int
    cls_id: int
    conf: float


@dataclass
class TVFrameResult:
    """One frame's result with the fields of TurboVision's `TVFrameResult`; `model_dump()` gives
    the dict the chute reads (it only calls that, so no pydantic is needed here)."""
    frame_id: int
    boxes: list = field(default_factory=list)
    polygons: list = field(default_factory=list)
    keypoints: list = field(default_factory=list)

    def model_dump(self, **_):
        return asdict(self)


def class_id(label):
    """The validator's class id of a fovea label (None: not a Score Vision class)."""
    return _CLASSES.get(label.lower().replace(" ", "_").replace("-", "_"))


class Miner:
    """TurboVision's miner interface on a fovea engine (see the module's documentation)."""

    def __init__(self, path_hf_repo=None, config=None):
        repo_config = Path(path_hf_repo) / "fovea.toml" if path_hf_repo is not None else None
        if config is not None:
            self.engine = Engine(config=config)
        elif repo_config is not None and repo_config.exists():
            self.engine = Engine(path=str(repo_config))
        else:
            self.engine = Engine(config=DEFAULT_CONFIG)
        self._stream, self._next = None, None

    def __repr__(self):
        return f"fovea Miner: {self.engine.provider}, labels {self.engine.labels}"

    def predict_batch(self, batch_images, offset, n_keypoints):
        """One result per image, `frame_id` from `offset` on. Batches that follow on (`offset` the
        frame after the last batch's) continue one video: its tracks and pitch tracking carry
        over; any other offset starts a new video."""
        if self._stream is None or offset != self._next:
            if self._stream is not None:
                self._stream.close()
            self._stream = self.engine.stream(fps=25.0)
        results = []
        for k, image in enumerate(batch_images):
            self._stream.send(image)
            for r in self._stream.results():
                results.append(self._convert(r, offset + k, n_keypoints))
        self._next = offset + len(batch_images)
        return results

    @staticmethod
    def _convert(r, frame_id, n_keypoints):
        boxes = []
        for (x1, y1, x2, y2), score, label in zip(r.boxes.tolist(), r.scores.tolist(), r.labels):
            cls = class_id(label)
            if cls is not None:
                boxes.append(BoundingBox(x1=int(x1), y1=int(y1), x2=int(x2), y2=int(y2), cls_id=cls, conf=float(score)))
        # Truncated as the template does (int()): a point at 1279.6 stays inside a 1280 px frame.
        kps = [(int(x), int(y)) for x, y in r.keypoints][:n_keypoints]
        kps += [(0, 0)] * (n_keypoints - len(kps))
        return TVFrameResult(frame_id=frame_id, boxes=boxes, polygons=[], keypoints=kps)

    def close(self):
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self.engine.close()
