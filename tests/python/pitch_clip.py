"""Broadcast camera paths for composited soccer clips (score_clip.py paints them): a camera standing
beyond the near touchline, above the halfway line (as a main broadcast camera does), that looks at
a point of the pitch with a field of view; its homography maps the template (cm) to the frame.
Paths: a pan across the pitch, a zoom into a penalty area, a cut between two views, a pan from a
higher camera farther back and off the halfway line, a low camera near the touchline. The registration
being measured (`fovea detect --pitch lines`) knows none of these: its search assumes other camera
positions, and the paths' numbers are not in fovea."""
import numpy as np

from score_clip import W, H, L, WID

POS = np.array([L / 2 + 700.0, WID + 4100.0, 1900.0])
POS_HIGH = np.array([L / 2 - 1500.0, WID + 6500.0, 3200.0])
POS_LOW = np.array([L / 2 + 500.0, WID + 2200.0, 900.0])


def camera_at(pos, look, fov, w=W, h=H):
    """Template cm -> pixels for a camera at `pos` (cm, height up) looking at `look` on the pitch
    with a horizontal field of view of `fov` degrees."""
    f = np.array([look[0] - pos[0], look[1] - pos[1], -pos[2]])
    f /= np.linalg.norm(f)
    r = np.cross([0.0, 0.0, 1.0], f)
    r /= np.linalg.norm(r)
    d = np.cross(r, f)
    fpx = w / 2 / np.tan(np.radians(fov) / 2)
    K = np.array([[fpx, 0, w / 2], [0, fpx, h / 2], [0, 0, 1.0]])
    R = np.stack([r, d, f])
    A = np.array([[1.0, 0, -pos[0]], [0, 1.0, -pos[1]], [0, 0, -pos[2]]])
    Hm = K @ R @ A
    return Hm / Hm[2, 2]


def path(kind, frames):
    """The camera of each frame of a path: `pan`, `zoom`, `cut`, `high` or `low`."""
    def cam(f):
        t = f / max(frames - 1, 1)
        if kind == "pan":
            return camera_at(POS, (2600 + 6800 * t, 3400), 42)
        if kind == "zoom":
            return camera_at(POS, (1900 + 600 * t, 3500), 52 - 26 * t)
        if kind == "high":  # a higher camera farther back and off the halfway line
            return camera_at(POS_HIGH, (3200 + 4800 * t, 3600), 46)
        if kind == "low":  # a low camera near the touchline, zoomed on the left penalty area
            return camera_at(POS_LOW, (1700 + 400 * t, 3400), 60 - 10 * t)
        if kind == "cut":
            if f < frames // 2:
                return camera_at(POS, (3600 + 900 * t, 3000), 40)
            return camera_at(POS, (9900 + 300 * t, 3700), 30)
        raise ValueError(kind)
    return cam
