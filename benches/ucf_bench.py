"""`make bench-ucf` (issue 33): `fovea embed` at UCF101's scale, side by side in one run with the
Python peer (benches/peers/embed_peer.py: OpenCV decodes as a user would, onnxruntime fp32 on the
same MobileNetV2). The collection is made here, shaped like UCF101: N clips (default 2,000) of
6.5-7.5 s at 320x240, 25 fps, Xvid (MPEG-4 part 2) in AVI, in 101 class folders, cut from the
shared clips and from slow pans over the shared photos. Prints and writes benches/results/ucf.json:
clips/s with defaults, the time extrapolated to UCF101's 13,320 clips, and the speed-up.

    python benches/ucf_bench.py [--clips 2000] [--gop 12]

`--gop` is the encoder's key-frame interval (FFmpeg's libxvid default, 12, unless given): sparse
decoding seeks between key frames, so the figure depends on it; the results name it.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import embed_collection  # noqa: E402

FOVEA = str(ROOT / "target" / "release" / "fovea")
PY = sys.executable
WORK = ROOT / ".deps" / "bench" / "ucf"


def make(n, gop):
    """The collection (made once per size and GOP): CLASS/v_CLASS_gGG_cCC.avi."""
    d = WORK / f"c{n}_g{gop}"
    done = d / "made.json"
    if done.exists():
        return d, json.loads(done.read_text())
    media = embed_collection.MEDIA
    videos = [("market_street_1906.mp4", 58.0, []), ("vtest.avi", 78.0, []), ("bigbuckbunny.mp4", 10.2, ["-stream_loop", "1"])]
    jobs = []
    for i in range(n):
        cls = f"Class{i % 101:03d}"
        dur = 6.5 + (i * 7 % 11) / 10.0
        kind = i % 5
        flip = ",hflip" if i % 2 else ""
        if kind < 3:
            src, length, loop = videos[kind]
            start = ((i * 0.6180339887) % 1.0) * (length - dur)
            inp = [*loop, "-ss", f"{start:.2f}", "-t", f"{dur:.2f}", "-i", str(media / src)]
            vf = "scale=320:240" + flip
        else:
            src = ["messi5.jpg", "parkour.jpg"][kind - 3]
            z0 = 1.0 + (i % 7) * 0.08
            x = f"(iw-iw/zoom)*{(i * 0.37) % 1.0:.2f}"
            y = f"(ih-ih/zoom)*{(i * 0.61) % 1.0:.2f}"
            inp = ["-loop", "1", "-framerate", "25", "-t", f"{dur:.2f}", "-i", str(media / src)]
            vf = f"zoompan=z='{z0}+on*0.002':x='{x}':y='{y}':d=1:s=320x240:fps=25,trim=end_frame={int(dur * 25)}" + flip
        path = d / cls / f"v_{cls}_g{i // 101 + 1:02d}_c{i % 7 + 1:02d}_{i:05d}.avi"
        jobs.append((path, inp, vf, dur))
    for p, *_ in jobs:
        p.parent.mkdir(parents=True, exist_ok=True)

    def one(job):
        path, inp, vf, dur = job
        subprocess.run(["ffmpeg", "-v", "error", "-y", *inp, "-an", "-vf", f"{vf},fps=25", "-t", f"{dur:.2f}",
                        "-c:v", "libxvid", "-g", str(gop), "-q:v", "4", str(path)], check=True)

    t0 = time.time()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        list(ex.map(one, jobs))
    info = {"clips": n, "gop": gop, "seconds_to_make": round(time.time() - t0, 1),
            "video_seconds": round(sum(j[3] for j in jobs), 1)}
    done.write_text(json.dumps(info))
    return d, info


def timed(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"{cmd[:3]} failed: {p.stderr[-2000:]}")
    return time.time() - t0, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=2000)
    ap.add_argument("--gop", type=int, default=12)
    a = ap.parse_args()
    d, info = make(a.clips, a.gop)
    print(f"collection: {info}", file=sys.stderr)
    subprocess.run(["rm", "-rf", str(d / "store"), str(d / "peer.parquet")])
    f, err = timed([FOVEA, "embed", str(d), "-o", str(d / "store")])
    summary = [l for l in err.splitlines() if "clips" in l][-3:]
    p, _ = timed([PY, str(ROOT / "benches/peers/embed_peer.py"), str(d), "-o", str(d / "peer.parquet")])
    n = info["clips"]
    res = {
        "collection": {**info, "format": "320x240, 25 fps, Xvid in AVI, 101 class folders"},
        "machine": f"{os.cpu_count()} cores",
        "fovea": {"seconds": round(f, 1), "clips_per_s": round(n / f, 1), "summary": summary},
        "peer": {"seconds": round(p, 1), "clips_per_s": round(n / p, 1)},
        "speedup": round(p / f, 2),
        "ucf101_minutes": {"fovea": round(13320 * f / n / 60, 1), "peer": round(13320 * p / n / 60, 1)},
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(res, indent=1))
    out = ROOT / "benches" / "results" / "ucf.json"
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
