"""Composites a soccer clip from tuxfootball's player sprites (two teams, their goalkeepers, a
referee made by recolouring a sprite) on a striped pitch, with known boxes and identities:
`python tests/python/sprite_clip.py OUTDIR` writes OUTDIR/pitch.mkv and OUTDIR/boxes.json. Used
by test_teams.py and the Go tests. Nothing derived from the sprites is kept in the repository
(GPL-2+): frames and boxes go to the caller's temporary folder."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SPRITES = ROOT / ".deps/tuxfootball/usr/share/games/tuxfootball/graphics"
W, H, FRAMES = 960, 540, 16


def sprite(folder, pose, direction, k):
    d = SPRITES / folder / pose / direction
    files = sorted(os.listdir(d))
    im = cv2.imread(str(d / files[k % len(files)]), cv2.IMREAD_UNCHANGED)
    return cv2.resize(im, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)


def referee(im):
    """A team-1 sprite recoloured: clothes (saturated pixels) turned black-and-yellow."""
    out = im.copy()
    bgr = out[..., :3].astype(np.int32)
    sat = bgr.max(-1) - bgr.min(-1)
    clothes = (out[..., 3] > 0) & (sat > 40) & (bgr[..., 0] > bgr[..., 2])
    out[..., :3][clothes] = (20, 200, 230)
    return out


def paste(frame, im, x, y):
    a = im[..., 3:4].astype(np.float32) / 255
    h, w = im.shape[:2]
    roi = frame[y:y + h, x:x + w]
    roi[:] = (im[..., :3] * a + roi * (1 - a)).astype(np.uint8)
    ys, xs = np.nonzero(im[..., 3] > 0)
    return [int(x + xs.min()), int(y + ys.min()), int(x + xs.max() + 1), int(y + ys.max() + 1)]


def make(tmp_path):
    """Writes pitch.mkv and boxes.json (Score Vision format, with each object's "who") into
    `tmp_path`; returns (video, boxes, frames)."""
    tmp_path = Path(tmp_path)
    assert SPRITES.exists(), "tuxfootball sprites missing: run make setup"
    rng = np.random.default_rng(7)
    cast = [(i, "team1", 2) for i in range(1, 6)] + [(i, "team2", 2) for i in range(11, 16)]
    cast += [(21, "team1_goalie", 1), (22, "team2_goalie", 1), (30, "referee", 3)]
    frames = {}
    dirs = ["s", "se", "e", "ne", "n", "nw", "w", "sw"]
    for f in range(FRAMES):
        pitch = np.zeros((H, W, 3), np.uint8)
        for x in range(0, W, 80):
            pitch[:, x:x + 80] = (40, 140, 50) if (x // 80) % 2 else (50, 160, 60)
        pitch = (pitch + rng.integers(0, 12, pitch.shape)).clip(0, 255).astype(np.uint8)
        objects = []
        # Goalkeepers stand at the ends of the play (the outer columns), the others anywhere.
        gk = [int(rng.integers(0, 3)) * 6, int(rng.integers(0, 3)) * 6 + 5]
        rest = [c for c in rng.permutation(18) if c % 6 not in (0, 5)][:len(cast) - 2]
        cells = rest[:len(cast) - 3] + gk + rest[len(cast) - 3:]
        for (pid, who, cls), cell in zip(cast, cells):
            folder = "team1" if who == "referee" else who
            im = sprite(folder, "running", dirs[(pid + f) % 8], f)
            if who == "referee":
                im = referee(im)
            # Below the top 150 px (the scoreboard band the validator drops).
            cx, cy = (cell % 6) * 150 + 30 + int(rng.integers(0, 20)), (cell // 6) * 100 + 152 + int(rng.integers(0, 10))
            objects.append({"id": pid, "bbox": paste(pitch, im, cx, cy), "class_id": cls, "who": who})
        cv2.imwrite(str(tmp_path / f"f{f:03d}.png"), pitch)
        frames[str(f)] = {"objects": objects, "keypoints": []}
    video = tmp_path / "pitch.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-framerate", "25", "-i", str(tmp_path / "f%03d.png"), "-c:v", "ffv1", str(video)], check=True)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"frames": frames}))
    return video, boxes, frames


if __name__ == "__main__":
    make(sys.argv[1])
