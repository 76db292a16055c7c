"""A 1080p composited clip with a small ball (12-20 px across, tuxfootball's ball sprite resized)
on the painted pitch of score_clip.py, players around it: for tiled detection. `make(tmp)` writes
ball.mkv and returns it with the true ball box and people boxes per frame."""
import subprocess
from pathlib import Path

import cv2
import numpy as np

import score_clip
from sprite_clip import SPRITES

W, H = 1920, 1080


def make(tmp, frames=30, seed=5):
    tmp = Path(tmp)
    rng = np.random.default_rng(seed)
    ball = cv2.imread(str(SPRITES / "football.png"), cv2.IMREAD_UNCHANGED)
    truth, people = [], []
    for f in range(frames):
        Hm = score_clip.camera(f)
        img = cv2.resize(score_clip.pitch_image(Hm, rng), (W, H), interpolation=cv2.INTER_LINEAR)
        people.append([])
        for k in range(6):
            p = score_clip.project(Hm, [[2600 + 700 * k, 1500 + 800 * (k % 4)]])[0] * (W / 1280)
            people[-1].append(score_clip.paste(img, score_clip.sprite(["team1", "team2"][k % 2], f + k, scale=2.2), p[0], p[1]))
        size = 12 + (f % 9)  # 12..20 px
        b = cv2.resize(ball, (size, size), interpolation=cv2.INTER_AREA)
        x, y = int(300 + 45 * f), int(500 + 120 * np.sin(f / 4))
        box = score_clip.paste(img, b, x + size / 2, y + size)
        truth.append(box)
        cv2.imwrite(str(tmp / f"b{f:03d}.png"), img)
    video = tmp / "ball.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-framerate", "25", "-i", str(tmp / "b%03d.png"), "-c:v", "ffv1", str(video)], check=True)
    return video, truth, people
