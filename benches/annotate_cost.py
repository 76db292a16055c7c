"""What --annotate costs end to end (issue 17's target: <= 15% of detect's wall time at 720p).

`fovea detect CLIP` and `fovea detect CLIP --annotate OUT.mp4` alternate, ROUNDS times each, on a
720p clip made once from ../shared/media/bigbuckbunny.mp4 by the ffmpeg CLI; medians of the wall
times and the annotator's own busy seconds, written to benches/results/annotate.json.

    make bench-annotate          (.deps/venv/bin/python benches/annotate_cost.py [ROUNDS])
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEDIA = os.environ.get("FOVEA_MEDIA", os.path.join(ROOT, "..", "shared", "media"))
CLIP = os.path.join(ROOT, ".deps", "bench", "bbb_720p_300.mp4")
FOVEA = os.path.join(ROOT, "target", "release", "fovea")


def make_clip():
    if os.path.exists(CLIP):
        return
    os.makedirs(os.path.dirname(CLIP), exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "3", "-i", os.path.join(MEDIA, "bigbuckbunny.mp4"),
                    "-frames:v", "300", "-vf", "scale=1280:720", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-an",
                    CLIP], check=True)


def run(extra):
    t = time.perf_counter()
    p = subprocess.run([FOVEA, "detect", CLIP, "-q", "-o", os.devnull] + extra, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(p.stderr)
    busy = re.search(r"annotated .* ([0-9.]+) s on its own thread", p.stderr)
    codec = re.search(r"annotated .*?, (\w+), [0-9.]+ s on its own", p.stderr)
    return wall, float(busy.group(1)) if busy else None, codec.group(1) if codec else None


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    make_clip()
    plain, annotated, busy = [], [], []
    codec = None
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "a.mp4")
        run([])  # warm the page cache and the model file
        for _ in range(rounds):
            plain.append(run([])[0])
            w, b, codec = run(["--annotate", out])
            annotated.append(w)
            busy.append(b)
    p, a = statistics.median(plain), statistics.median(annotated)
    res = {
        "clip": "bigbuckbunny 1280x720, 300 frames (H.264)",
        "rounds": rounds,
        "detect_wall_s": round(p, 3),
        "detect_annotate_wall_s": round(a, 3),
        "added_percent": round(100 * (a - p) / p, 1),
        "annotator_busy_s": round(statistics.median(busy), 3),
        "codec": codec,
        "cores": os.cpu_count(),
    }
    print(json.dumps(res, indent=1))
    with open(os.path.join(ROOT, "benches", "results", "annotate.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
