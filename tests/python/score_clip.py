"""Composites a broadcast-like soccer clip with known geometry, for `fovea score` and the rules:
a pitch seen through a known camera homography (template centimetres -> pixels, panning from
frame to frame) with its lines painted as broadcast lines look, tuxfootball's player sprites
(two teams, their goalkeepers, a recoloured referee) standing on it, and a ball. Writes the clip
and a perfect Score Vision submission (boxes with ids and classes, the 32 keypoints projected by
the camera, [0, 0] where outside the frame). `make(tmp)` returns what the tests need. Nothing
derived from the sprites (GPL-2+) is kept: everything lives in the caller's temporary folder."""
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np

from sprite_clip import SPRITES, referee

W, H = 1280, 720
L, WID = 12000.0, 7000.0
PBW, PBL, GBW, GBL, CCR, PSD = 4100.0, 2015.0, 1832.0, 550.0, 915.0, 1100.0

TEMPLATE = np.array([
    (0, 0), (0, (WID - PBW) / 2), (0, (WID - GBW) / 2), (0, (WID + GBW) / 2), (0, (WID + PBW) / 2), (0, WID),
    (GBL, (WID - GBW) / 2), (GBL, (WID + GBW) / 2), (PSD, WID / 2),
    (PBL, (WID - PBW) / 2), (PBL, (WID - GBW) / 2), (PBL, (WID + GBW) / 2), (PBL, (WID + PBW) / 2),
    (L / 2, 0), (L / 2, WID / 2 - CCR), (L / 2, WID / 2 + CCR), (L / 2, WID),
    (L - PBL, (WID - PBW) / 2), (L - PBL, (WID - GBW) / 2), (L - PBL, (WID + GBW) / 2), (L - PBL, (WID + PBW) / 2),
    (L - PSD, WID / 2), (L - GBL, (WID - GBW) / 2), (L - GBL, (WID + GBW) / 2),
    (L, 0), (L, (WID - PBW) / 2), (L, (WID - GBW) / 2), (L, (WID + GBW) / 2), (L, (WID + PBW) / 2), (L, WID),
    (L / 2 - CCR, WID / 2), (L / 2 + CCR, WID / 2),
], dtype=np.float64)
EDGES = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (7, 8), (10, 11), (11, 12), (12, 13), (14, 15), (15, 16), (16, 17),
         (18, 19), (19, 20), (20, 21), (23, 24), (25, 26), (26, 27), (27, 28), (28, 29), (29, 30), (1, 14), (2, 10),
         (3, 7), (4, 8), (5, 13), (6, 17), (14, 25), (18, 26), (23, 27), (24, 28), (21, 29), (17, 30)]
# Broadcast lines after blending and compression: light, still green enough for the grass range.
LINE_BGR = (140, 212, 152)


def camera(f):
    """Template cm -> image px for frame f: the left half of the pitch, panning right."""
    x0 = 200.0 + 40.0 * f
    src = np.float32([[x0, 300], [x0 + 6400, 300], [x0 + 6400, 6700], [x0, 6700]])
    dst = np.float32([[180, 190], [1100, 190], [1270, 700], [10, 700]])
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def project(Hm, pts):
    p = np.asarray(pts, np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(p, Hm).reshape(-1, 2)


def keypoints(Hm):
    kp = project(Hm, TEMPLATE)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] < W) & (kp[:, 1] >= 0) & (kp[:, 1] < H)
    kp[~inside] = 0
    return kp


def pitch_image(Hm, rng):
    img = np.zeros((H, W, 3), np.uint8)
    for x in range(0, W, 90):
        img[:, x:x + 90] = (45, 135, 50) if (x // 90) % 2 else (52, 150, 58)
    img = (img.astype(np.int32) + rng.integers(0, 10, img.shape)).clip(0, 255).astype(np.uint8)
    img[:120] = (70, 60, 90)  # the stands above the pitch
    def seg(a, b, n=60):
        t = np.linspace(0, 1, n)[:, None]
        return project(Hm, a + (b - a) * t)
    for a, b in EDGES:
        pts = seg(TEMPLATE[a - 1], TEMPLATE[b - 1]).round().astype(np.int32)
        cv2.polylines(img, [pts], False, LINE_BGR, 3, cv2.LINE_8)
    ang = np.linspace(0, 2 * np.pi, 120)
    circle = np.stack([L / 2 + CCR * np.cos(ang), WID / 2 + CCR * np.sin(ang)], 1)
    cv2.polylines(img, [project(Hm, circle).round().astype(np.int32)], True, LINE_BGR, 3, cv2.LINE_8)
    for spot in (TEMPLATE[8], TEMPLATE[21]):
        p = project(Hm, [spot])[0]
        cv2.circle(img, (int(round(p[0])), int(round(p[1]))), 3, LINE_BGR, -1)
    return img


def sprite(folder, k, scale=1.5):
    d = SPRITES / folder / "running" / ["s", "se", "e", "ne", "n", "nw", "w", "sw"][k % 8]
    files = sorted(p.name for p in d.iterdir())
    im = cv2.imread(str(d / files[k % len(files)]), cv2.IMREAD_UNCHANGED)
    return cv2.resize(im, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def paste(frame, im, cx, foot):
    """Pastes `im` with its bottom-centre at (cx, foot); returns the visible pixels' box."""
    a = im[..., 3] > 0
    ys, xs = np.nonzero(a)
    x = int(cx - (xs.min() + xs.max()) / 2)
    y = int(foot - ys.max() - 1)
    h, w = im.shape[:2]
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
    if x1 <= x0 or y1 <= y0:
        return None  # out of view
    sub = im[y0 - y:y1 - y, x0 - x:x1 - x]
    alpha = sub[..., 3:4].astype(np.float32) / 255
    roi = frame[y0:y1, x0:x1]
    roi[:] = (sub[..., :3] * alpha + roi * (1 - alpha)).astype(np.uint8)
    return [int(x + xs.min()), int(y + ys.min()), int(x + xs.max() + 1), int(y + ys.max() + 1)]


# Who stands where (template cm), moving a little each frame; class ids: 0 ball, 1 goalkeeper,
# 2 player, 3 referee.
CAST = [(1, "team1", 2, (2500, 1500)), (2, "team1", 2, (3300, 3600)), (3, "team1", 2, (4200, 5200)), (4, "team1", 2, (5200, 2500)),
        (11, "team2", 2, (2900, 2600)), (12, "team2", 2, (3900, 4300)), (13, "team2", 2, (4800, 1600)), (14, "team2", 2, (5600, 4800)),
        (21, "team1_goalie", 1, (700, 3400)), (30, "referee", 3, (4500, 3300))]


def make(tmp, frames=24, seed=3, cam=None):
    """`cam(f)`: the camera of frame f (template cm -> pixels); default `camera`."""
    cam = cam or camera
    tmp = Path(tmp)
    assert SPRITES.exists(), "tuxfootball sprites missing: run make setup"
    rng = np.random.default_rng(seed)
    ball = cv2.imread(str(SPRITES / "football.png"), cv2.IMREAD_UNCHANGED)
    out = {}
    cams = []
    for f in range(frames):
        Hm = cam(f)
        cams.append(Hm)
        img = pitch_image(Hm, rng)
        objects = []
        # Far players first, so nearer ones are painted over them.
        placed = sorted(CAST, key=lambda c: c[3][1])
        for pid, who, cls, (x, y) in placed:
            pos = np.array([[x + 25.0 * f, y + 10.0 * f * (1 if pid % 2 else -1)]])
            foot = project(Hm, pos)[0]
            im = sprite("team1" if who == "referee" else who, pid + f)
            if who == "referee":
                im = referee(im)
            box = paste(img, im, foot[0], foot[1])
            if box is not None:
                objects.append({"id": pid, "bbox": box, "class_id": cls, "who": who})
        bp = project(Hm, [[3600 + 60.0 * f, 3000]])[0]
        box = paste(img, ball, bp[0], bp[1])
        if box is not None:
            objects.append({"id": 99, "bbox": box, "class_id": 0, "who": "ball"})
        cv2.imwrite(str(tmp / f"s{f:03d}.png"), img)
        out[str(f)] = {"objects": objects, "keypoints": keypoints(Hm).round(2).tolist()}
    video = tmp / "match.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-framerate", "25", "-i", str(tmp / "s%03d.png"), "-c:v", "ffv1", str(video)], check=True)
    sub = tmp / "perfect.json"
    sub.write_text(json.dumps({"frames": out}))
    return video, sub, out, cams


if __name__ == "__main__":
    import sys
    make(sys.argv[1])
