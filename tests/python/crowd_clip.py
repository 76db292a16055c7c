"""A crowded composited clip for the duplicate and oversized-box rules: the pitch of score_clip.py
with tuxfootball's players standing in tight groups (occlusions, a goal-mouth crowd) and alone,
every true box known, plus planted boxes a miner should not send: near copies of a true player's
box (IoU 0.6-0.9 with it) and one box around each group. `make(tmp)` returns the video, the miner
file (true and planted boxes, each object's `kind`) and the frames."""
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np

import score_clip
from score_clip import W, H, project, paste, sprite
from sprite_clip import SPRITES, referee


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)


def near_copy(b, rng):
    """A box like `b` (shifted, rescaled) with IoU 0.6-0.9."""
    w, h = b[2] - b[0], b[3] - b[1]
    for _ in range(1000):
        s = rng.uniform(0.8, 1.25)
        dx, dy = rng.uniform(-0.25, 0.25) * w, rng.uniform(-0.2, 0.2) * h
        cx, cy = (b[0] + b[2]) / 2 + dx, (b[1] + b[3]) / 2 + dy
        c = [int(round(cx - w * s / 2)), int(round(cy - h * s / 2)), int(round(cx + w * s / 2)), int(round(cy + h * s / 2))]
        if 0.6 <= iou(b, c) <= 0.9:
            return c
    raise AssertionError("no near copy")


def make(tmp, frames=20, seed=11):
    tmp = Path(tmp)
    rng = np.random.default_rng(seed)
    teams = ["team1", "team2"]
    out = {}
    for f in range(frames):
        Hm = score_clip.camera(f)
        img = score_clip.pitch_image(Hm, rng)
        people = []  # (foot x, foot y, folder, class, group)
        # Three tight groups (2-4 players, either team, feet 0-30 px apart) and a goal-mouth crowd.
        for g, (x, y) in enumerate([(2600, 2200), (4200, 4400), (5200, 1800)]):
            foot = project(Hm, [[x + 30.0 * f, y]])[0]
            for k in range(int(rng.integers(2, 4))):
                people.append((foot[0] + rng.uniform(-60, 60), foot[1] + rng.uniform(-25, 25), teams[int(rng.integers(0, 2))], 2, g))
        gm = project(Hm, [[600, 3500]])[0]
        people.append((gm[0], gm[1], "team1_goalie", 1, 3))
        for k in range(3):
            people.append((gm[0] + rng.uniform(-40, 40), gm[1] + rng.uniform(-20, 25), teams[k % 2], 2, 3))
        # Players alone, and the referee.
        for k, (x, y) in enumerate([(3400, 1200), (3700, 3300), (5600, 5600), (3000, 5800)]):
            p = project(Hm, [[x - 20.0 * f, y]])[0]
            people.append((p[0], p[1], teams[k % 2], 2, None))
        r = project(Hm, [[4600, 3000]])[0]
        people.append((r[0], r[1], "referee", 3, None))
        objects = []
        for i, (x, y, who, cls, g) in enumerate(sorted(people, key=lambda p: p[1])):
            im = sprite("team1" if who == "referee" else who, i + f)
            if who == "referee":
                im = referee(im)
            objects.append({"id": 1000 * f + i, "bbox": paste(img, im, x, y), "class_id": cls, "kind": "true", "group": g})
        true = [o for o in objects]
        # Planted: near copies of a third of the true players, one box around each group.
        for o in true:
            if rng.random() < 0.35:
                objects.append({"id": 900000 + len(objects), "bbox": near_copy(o["bbox"], rng), "class_id": o["class_id"], "kind": "duplicate", "of": o["id"]})
        for g in range(4):
            members = [o["bbox"] for o in true if o["group"] == g]
            if len(members) >= 2:
                b = [min(m[0] for m in members) - 4, min(m[1] for m in members) - 4, max(m[2] for m in members) + 4, max(m[3] for m in members) + 4]
                objects.append({"id": 800000 + g, "bbox": b, "class_id": 2, "kind": "oversized"})
        order = rng.permutation(len(objects))
        cv2.imwrite(str(tmp / f"c{f:03d}.png"), img)
        out[str(f)] = {"objects": [objects[i] for i in order], "keypoints": []}
    video = tmp / "crowd.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-framerate", "25", "-i", str(tmp / "c%03d.png"), "-c:v", "ffv1", str(video)], check=True)
    sub = tmp / "crowd.json"
    sub.write_text(json.dumps({"frames": out}))
    return video, sub, out


if __name__ == "__main__":
    import sys
    make(sys.argv[1])
