#!/usr/bin/env python3
"""`make bench-serve`: the detection service under load, side by side in one run.

Five 720p clips (12 s each, 60 s of video; made once from ../shared/media/market_street_1906.mp4
into .deps/bench/serve/) are processed (1) one at a time by `fovea detect`, (2) as 5 concurrent
jobs of one `fovea serve`, and (3) as 5 concurrent jobs of a Python asyncio + onnxruntime server
(benches/peers/serve_peer.py), for fovea with its default model and with the fp32 model on ONNX
Runtime (the peer's model). Reported: aggregate frames/s, the gap between consecutive result lines
a client streaming a job sees (p50/p95), the server's peak RSS, and its RSS after 5 and after 50
sequential short jobs. Writes benches/results/serve.json.

    .deps/venv/bin/python benches/serve_bench.py [--fovea target/release/fovea]
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from fovea.client import Client  # noqa: E402

CLIPS = os.path.join(ROOT, ".deps", "bench", "serve")
FP32 = "engines/nanodet-g-416.toml"


def make_clips():
    os.makedirs(CLIPS, exist_ok=True)
    src = os.path.join(ROOT, "..", "shared", "media", "market_street_1906.mp4")
    out = []
    for i in range(5):
        p = os.path.join(CLIPS, f"clip{i}.mp4")
        if not os.path.exists(p):
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(12 * i), "-i", src, "-t", "12", "-vf", "scale=1280:720",
                            "-c:v", "libx264", "-preset", "veryfast", "-an", p], check=True)
        out.append(p)
    short = os.path.join(CLIPS, "short.mp4")
    if not os.path.exists(short):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", out[0], "-t", "2", "-c", "copy", short], check=True)
    return out, short


def rss(pid, key="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def back_to_back(fovea, clips, model):
    frames, t0 = 0, time.perf_counter()
    for c in clips:
        out = subprocess.run([fovea, "detect", c, "-q", "-o", "-", *(["--model", model] if model else [])],
                             check=True, capture_output=True, text=True).stdout
        frames += sum(1 for line in out.splitlines() if line.strip())
    return frames / (time.perf_counter() - t0), frames


def serve(fovea, clips, short, model):
    args = [fovea, "serve", "--listen", "127.0.0.1:0", "--media-root", CLIPS, "--max-queued", "64"]
    proc = subprocess.Popen(args + (["--model", model] if model else []), stderr=subprocess.PIPE, text=True)
    url = re.search(r"listening on (http://\S+)", proc.stderr.readline()).group(1)
    threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
    c = Client(url)
    try:
        gaps = []

        def stream(jid):
            last = None
            for _ in c.results(jid):
                now = time.perf_counter()
                if last is not None:
                    gaps.append(now - last)
                last = now

        t0 = time.perf_counter()
        ids = [c.submit(os.path.basename(p))["id"] for p in clips]
        readers = [threading.Thread(target=stream, args=(i,)) for i in ids]
        for r in readers:
            r.start()
        for r in readers:
            r.join()
        wall = time.perf_counter() - t0
        frames = sum(c.status(i)["frames"] for i in ids)
        peak = rss(proc.pid, "VmHWM")
        seq = []
        for k in range(50):
            c.wait(c.submit(os.path.basename(short))["id"], timeout=120)
            if k + 1 in (5, 50):
                seq.append(rss(proc.pid))
        gaps.sort()
        return {"fps": frames / wall, "frames": frames, "wall_s": wall, "gap_p50_ms": 1e3 * gaps[len(gaps) // 2],
                "gap_p95_ms": 1e3 * gaps[int(len(gaps) * 0.95)], "peak_rss_mb": peak / 2**20,
                "rss_after_5_mb": seq[0] / 2**20, "rss_after_50_mb": seq[1] / 2**20, "rss_growth": seq[1] / seq[0] - 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def peer(clips):
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "benches", "peers", "serve_peer.py")], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r"listening on (\d+)", proc.stdout.readline()).group(1))
    base = f"http://127.0.0.1:{port}"

    def call(method, path, body=None):
        req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(), method=method)
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    try:
        t0 = time.perf_counter()
        ids = [call("POST", "/jobs", {"source": p})["id"] for p in clips]
        while any(call("GET", f"/jobs/{i}")["state"] != "done" for i in ids):
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        frames = sum(call("GET", f"/jobs/{i}")["frames"] for i in ids)
        return {"fps": frames / wall, "frames": frames, "wall_s": wall, "peak_rss_mb": rss(proc.pid, "VmHWM") / 2**20}
    finally:
        proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fovea", default=os.path.join(ROOT, "target", "release", "fovea"))
    a = ap.parse_args()
    clips, short = make_clips()
    res = {}
    for name, model in (("default model", None), ("fp32, ONNX Runtime", FP32)):
        b2b, frames = back_to_back(a.fovea, clips, model)
        s = serve(a.fovea, clips, short, model)
        assert s["frames"] == frames, (s["frames"], frames)
        res[name] = {"back_to_back_fps": b2b, "serve": s, "serve_vs_back_to_back": s["fps"] / b2b}
        print(f"{name}: fovea detect back to back {b2b:.1f} FPS; fovea serve 5 jobs {s['fps']:.1f} FPS "
              f"({s['fps'] / b2b:.2f}x), gaps p50 {s['gap_p50_ms']:.1f} ms p95 {s['gap_p95_ms']:.1f} ms, peak RSS "
              f"{s['peak_rss_mb']:.0f} MB, RSS after 5 / 50 jobs {s['rss_after_5_mb']:.0f} / {s['rss_after_50_mb']:.0f} MB "
              f"({100 * s['rss_growth']:+.1f}%)", file=sys.stderr)
    p = peer(clips)
    res["python asyncio + onnxruntime fp32 peer"] = p
    print(f"python peer: 5 jobs {p['fps']:.1f} FPS, peak RSS {p['peak_rss_mb']:.0f} MB", file=sys.stderr)
    os.makedirs(os.path.join(ROOT, "benches", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "benches", "results", "serve.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
