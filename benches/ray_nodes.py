"""`python -m fovea.ray detect` on a local Ray cluster of 1 and of 2 nodes (one CPU each, on this
machine), against `fovea detect` over the same videos one after another (`make bench-ray`).

A UCF101-shaped collection (tests/python/embed_collection.py: 320x240, 2-7 s, mpeg4 and H.264 in
class folders) is made at bench time; each run writes one results file per video, checked equal
to the CLI's. Figures: videos/s and frames/s of the whole job, Ray's start-up included (the
cluster itself is started before the clock). Writes benches/results/ray.json.

    python benches/ray_nodes.py [--clips 24] [--out benches/results/ray.json]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import embed_collection  # noqa: E402

FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/release/fovea"))
ENV = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", PYTHONPATH=str(ROOT / "python"))
ENV.setdefault("FOVEA_LIB", str(ROOT / "target/release/libfovea.so"))
RAY = str(Path(sys.executable).with_name("ray"))


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def cluster(nodes):
    port = free_port()
    common = ["--num-cpus", "1", "--object-store-memory", str(100 * 1024 * 1024), "--disable-usage-stats"]
    subprocess.run([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common], check=True, env=ENV, capture_output=True)
    for _ in range(nodes - 1):
        subprocess.run([RAY, "start", "--address", f"127.0.0.1:{port}", *common], check=True, env=ENV, capture_output=True)
    return f"127.0.0.1:{port}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--out", default=str(ROOT / "benches" / "results" / "ray.json"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        doc = embed_collection.make(d, a.clips, copies_too=False)
        col = d / "collection"
        videos = [c["path"] for c in doc["clips"]]
        frames = 0
        t0 = time.time()
        for v in videos:
            o = subprocess.run([FOVEA, "detect", v, "-q", "-o", "-"], capture_output=True, text=True, check=True)
            out = d / "cli" / (os.path.relpath(v, col) + ".jsonl")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(o.stdout)
            frames += len(o.stdout.splitlines())
        cli_s = time.time() - t0
        result = {"clips": len(videos), "frames": frames, "machine": f"{os.cpu_count()} CPUs",
                  "cli_sequential": {"seconds": cli_s, "videos_per_s": len(videos) / cli_s, "fps": frames / cli_s}}
        print(f"fovea detect one after another: {cli_s:.1f} s, {frames / cli_s:.1f} FPS", file=sys.stderr)
        for nodes in (1, 2):
            address = cluster(nodes)
            try:
                out = d / f"ray{nodes}"
                t0 = time.time()
                o = subprocess.run([sys.executable, "-m", "fovea.ray", "detect", str(col), "-o", str(out), "--address", address],
                                   capture_output=True, text=True, env=ENV)
                s = time.time() - t0
                summary = json.loads(o.stdout[o.stdout.index("{"):])
            finally:
                subprocess.run([RAY, "stop", "--force"], env=ENV, capture_output=True)
            # Broken clips of the collection fail as they do for the CLI; the others match it.
            same = all((out / (os.path.relpath(v, col) + ".jsonl")).read_bytes() == (d / "cli" / (os.path.relpath(v, col) + ".jsonl")).read_bytes()
                       for v in videos)
            result[f"ray_{nodes}_nodes"] = {"seconds": s, "videos_per_s": len(videos) / s, "fps": frames / s, "nodes_used": summary["nodes_used"],
                                            "actors": summary["actors"], "equal_to_cli": same}
            print(f"ray, {nodes} node(s): {s:.1f} s, {frames / s:.1f} FPS, equal to the CLI: {same}", file=sys.stderr)
        result["speedup_2_over_1"] = result["ray_1_nodes"]["seconds"] / result["ray_2_nodes"]["seconds"]
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
