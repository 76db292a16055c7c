"""Test and benchmark videos for `fovea keyframes`, made with the ffmpeg CLI from ../shared/media:
shots of real clips and pans over real photos joined by hard cuts at known frames, with planted
bad frames (gaussian blur, near-black, blown out) and a duplicated shot.
"""
import os
import subprocess

MEDIA = os.environ.get("FOVEA_MEDIA") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "media")

# (source, start second or None for a photo panned across)
SOURCES = [
    ("market_street_1906.mp4", 5.0),
    ("bigbuckbunny.mp4", 0.3),
    ("vtest.avi", 10.0),
    ("messi5.jpg", None),
    ("market_street_1906.mp4", 40.0),
    ("bigbuckbunny.mp4", 3.0),
    ("parkour.jpg", None),
    ("vtest.avi", 10.0),  # the same shot as the third: a duplicate
    ("market_street_1906.mp4", 25.0),
]
DUPLICATE = (2, 7)


def make(path, width=640, height=360, fps=25, shot_frames=50, shots=SOURCES, bad=True, crf=20, preset="veryfast"):
    """Writes the video; returns {"cuts": [...], "bad": {"blur": (a, b), ...}, "shots": [(start, end)], "frames": n}."""
    args = ["ffmpeg", "-v", "error", "-y"]
    chains = []
    seconds = shot_frames / fps + 0.5
    for k, (name, start) in enumerate(shots):
        src = os.path.join(MEDIA, name)
        if start is None:
            args += ["-loop", "1", "-framerate", str(fps), "-t", f"{seconds}", "-i", src]
            # A slow pan across the photo, scaled to cover the frame.
            move = f"scale={width * 5 // 4}:{height * 5 // 4}:force_original_aspect_ratio=increase,crop={width}:{height}:x='(iw-{width})*t/{seconds}':y='(ih-{height})/2'"
        else:
            args += ["-ss", f"{start}", "-t", f"{seconds}", "-i", src]
            move = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
        chains.append(f"[{k}:v]fps={fps},{move},setsar=1,format=yuv420p,trim=end_frame={shot_frames},setpts=PTS-STARTPTS[v{k}]")
    n = len(shots)
    graph = ";".join(chains) + ";" + "".join(f"[v{k}]" for k in range(n)) + f"concat=n={n}:v=1:a=0[c]"
    planted = {}
    if bad:
        # Ten frames (0.4 s) each, inside shots 0, 4 and 6.
        planted = {
            "blur": (10, 19),
            "dark": (4 * shot_frames + 5, 4 * shot_frames + 14),
            "blown": (6 * shot_frames + 25, 6 * shot_frames + 34),
        }
        b, d, o = planted["blur"], planted["dark"], planted["blown"]
        graph += (
            f";[c]gblur=sigma={max(6, width // 80)}:enable='between(n,{b[0]},{b[1]})',"
            f"lutyuv=y='val*0.06':u=128:v=128:enable='between(n,{d[0]},{d[1]})',"
            f"lutyuv=y='min(255,val*3+150)':enable='between(n,{o[0]},{o[1]})'[out]"
        )
    else:
        graph += ";[c]null[out]"
    args += ["-filter_complex", graph, "-map", "[out]", "-r", str(fps), "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", path]
    subprocess.run(args, check=True)
    total = n * shot_frames
    return {
        "cuts": [k * shot_frames for k in range(1, n)],
        "shots": [(k * shot_frames, (k + 1) * shot_frames) for k in range(n)],
        "bad": planted,
        "frames": total,
        "fps": fps,
    }
