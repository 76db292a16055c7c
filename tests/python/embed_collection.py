"""A UCF101-like collection made from ../shared/media with the ffmpeg CLI (issue 15):
`python tests/python/embed_collection.py OUT [--clips N]` writes

- OUT/collection/CLASS/NAME.{avi,mp4}: N short clips (2-7 s, 320x240) cut from the shared clips
  and from slow pans over the shared images, mpeg4 in AVI and H.264 in MP4 alternately, in class
  folders named after their source;
- OUT/collection/broken/corrupt.mp4 (an MP4 cut short: no index) and broken/audio_only.mp4;
- OUT/copies/NAME.mkv: each clip re-encoded with the other codec, another bitrate and scale;
- OUT/collection.json: the clips, their classes and copies.
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT.parent / "shared" / "media"
# (class, source, seconds of the source)
VIDEOS = [("street", "market_street_1906.mp4", 58.0), ("hall", "vtest.avi", 78.0), ("bunny", "bigbuckbunny.mp4", 5.2)]
IMAGES = [("soccer", "messi5.jpg"), ("parkour", "parkour.jpg")]


def ff(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def plan(n):
    """(class, name, input args, filter, seconds) for n clips, spread over the sources."""
    out = []
    for i in range(n):
        kind = i % 5
        dur = 2.0 + (i * 7 % 11) / 2.0  # 2 .. 7 s
        if kind < 3:
            cls, src, length = VIDEOS[kind] if kind < 2 or i % 10 == 2 else VIDEOS[i % 2]
            dur = min(dur, length - 0.2)
            # Offsets spread over the source, different for every clip of a class.
            start = ((i * 0.6180339887) % 1.0) * max(length - dur, 0.0)
            out.append((cls, f"v_{cls}_{i:04d}", ["-ss", f"{start:.2f}", "-t", f"{dur:.2f}", "-i", str(MEDIA / src)], "scale=320:240", dur))
        else:
            cls, src = IMAGES[kind - 3]
            # A slow pan and zoom over the image, different for every clip.
            z0 = 1.0 + (i % 7) * 0.08
            x = f"(iw-iw/zoom)*{(i * 0.37) % 1.0:.2f}"
            y = f"(ih-ih/zoom)*{(i * 0.61) % 1.0:.2f}"
            vf = f"zoompan=z='{z0}+on*0.002':x='{x}':y='{y}':d=1:s=320x240:fps=25"
            frames = int(dur * 25)
            out.append((cls, f"v_{cls}_{i:04d}", ["-loop", "1", "-framerate", "25", "-t", f"{dur:.2f}", "-i", str(MEDIA / src)], vf + f",trim=end_frame={frames}", dur))
    return out


def make(out: Path, n: int, copies_too=True):
    col, copies = out / "collection", out / "copies"
    clips = []
    jobs = []
    for k, (cls, name, inp, vf, dur) in enumerate(plan(n)):
        h264 = k % 2 == 1
        d = col / cls
        d.mkdir(parents=True, exist_ok=True)
        path = d / (name + (".mp4" if h264 else ".avi"))
        enc = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"] if h264 else ["-c:v", "mpeg4", "-q:v", "4"]
        copy = copies / (name + ".mkv")
        # The copy: the other codec, a lower bitrate, another size.
        cenc = ["-c:v", "mpeg4", "-b:v", "300k"] if h264 else ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "250k", "-pix_fmt", "yuv420p"]
        scale = "400:300" if k % 3 else "256:192"
        jobs.append((path, copy, inp, vf, enc, cenc, scale))
        clips.append({"path": str(path), "label": cls, "copy": str(copy), "seconds": dur})
    copies.mkdir(parents=True, exist_ok=True)

    def one(job):
        path, copy, inp, vf, enc, cenc, scale = job
        ff(*inp, "-an", "-vf", vf, *enc, str(path))
        if copies_too:
            ff("-i", str(path), "-an", "-vf", f"scale={scale}", *cenc, str(copy))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        list(ex.map(one, jobs))
    broken = col / "broken"
    broken.mkdir(parents=True, exist_ok=True)
    full = out / "whole.mp4"
    ff("-t", "3", "-i", str(MEDIA / "bigbuckbunny.mp4"), "-an", "-vf", "scale=320:240", "-c:v", "libx264", "-preset", "veryfast", str(full))
    data = full.read_bytes()
    # No faststart: the index (moov) is at the end; half the file has none.
    (broken / "corrupt.mp4").write_bytes(data[: len(data) // 2])
    full.unlink()
    ff("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", str(broken / "audio_only.mp4"))
    doc = {"clips": clips, "broken": [str(broken / "corrupt.mp4"), str(broken / "audio_only.mp4")]}
    (out / "collection.json").write_text(json.dumps(doc, indent=1))
    return doc


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--clips", type=int, default=44)
    a = ap.parse_args()
    doc = make(a.out, a.clips)
    print(f"{len(doc['clips'])} clips, {len(doc['broken'])} broken in {a.out}", file=sys.stderr)
