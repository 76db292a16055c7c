"""`fovea.turbovision.Miner` (issue 32) as TurboVision's chute calls it: BGR frames in memory in
batches, `predict_batch(batch_images, offset, n_keypoints)`, results read with `model_dump()` and
checked against the chute template's schema (score-technologies/turbovision,
chute_template/schemas.py: frame_id, boxes of int x1..y2 + cls_id + conf, keypoints as int pairs),
on a composited broadcast clip with known keypoints."""
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import BaseModel

import pitch_clip
import score_clip

ROOT = Path(__file__).resolve().parents[2]
# The source tree's binding and build; with FOVEA_INSTALLED, the installed package (the pip
# wheel in a fresh environment: scripts/test_wheel.sh).
if not os.environ.get("FOVEA_INSTALLED"):
    if str(ROOT / "python") not in sys.path:
        sys.path.insert(0, str(ROOT / "python"))
    os.environ.setdefault("FOVEA_LIB", str(ROOT / "target/debug/libfovea.so"))

from fovea.turbovision import Miner  # noqa: E402

if os.environ.get("FOVEA_INSTALLED"):
    import fovea.turbovision  # noqa: E402
    assert "site-packages" in fovea.turbovision.__file__, fovea.turbovision.__file__

FRAMES = 20


class SVBox(BaseModel):  # the chute template's schema
    x1: int
    y1: int
    x2: int
    y2: int
    cls_id: int
    conf: float = 1.0


class SVFrameResult(BaseModel):
    frame_id: int
    boxes: list[SVBox] | None = None
    polygons: list[dict] | None = None
    keypoints: list[tuple[int, int]] | None = None


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    video, _, frames, _ = score_clip.make(tmp_path_factory.mktemp("tv"), frames=FRAMES, cam=pitch_clip.path("pan", FRAMES))
    cap = cv2.VideoCapture(str(video))
    images = []
    while (f := cap.read()[1]) is not None:
        images.append(f)
    assert len(images) == FRAMES
    return images, frames


def test_batches_give_the_templates_schema_and_the_pitch_keypoints(clip):
    images, truth = clip
    miner = Miner(None)
    try:
        out = miner.predict_batch(images[:8], 0, 32) + miner.predict_batch(images[8:], 8, 32)
    finally:
        miner.close()
    assert [r.frame_id for r in out] == list(range(FRAMES))
    registered = 0
    for r in out:
        sv = SVFrameResult(**r.model_dump())
        assert len(sv.keypoints) == 32 and all(isinstance(v, int) for p in sv.keypoints for v in p)
        assert all(b.cls_id in (0, 1, 2, 3) and b.x1 <= b.x2 and b.y1 <= b.y2 for b in sv.boxes)
        ours, want = np.array(sv.keypoints, float), np.array(truth[str(r.frame_id)]["keypoints"])
        both = (ours != 0).any(1) & (want != 0).any(1)
        registered += (ours != 0).any()
        if both.any():
            assert np.median(np.linalg.norm(ours[both] - want[both], axis=1)) < 6.0, f"frame {r.frame_id}"
    assert registered >= FRAMES - 2
    assert sum(len(r.boxes) for r in out) > 0, "the players are found"


def test_fewer_or_more_keypoints_than_the_template_are_padded_or_cut(clip):
    images, _ = clip
    miner = Miner(None)
    try:
        assert all(len(r.keypoints) == 40 and r.keypoints[32:] == [(0, 0)] * 8 for r in miner.predict_batch(images[:2], 0, 40))
        assert all(len(r.keypoints) == 10 for r in miner.predict_batch(images[2:4], 2, 10))
    finally:
        miner.close()


def test_a_repository_configuration_replaces_the_default(clip, tmp_path):
    images, _ = clip
    (tmp_path / "fovea.toml").write_text("[tracking]\nenabled = true\n")
    miner = Miner(tmp_path)
    try:
        assert all(r.keypoints == [(0, 0)] * 32 for r in miner.predict_batch(images[:2], 0, 32)), "no [pitch]: no keypoints"
    finally:
        miner.close()
