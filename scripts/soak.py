"""Soak: long runs with the resident memory sampled, to show it stays flat after warm-up.

  1. `fovea detect` over a clip of 20,000+ frames (vtest.avi looped, 768x576);
  2. `fovea verify` of that run's boxes on the same clip;
  3. the C ABI: 8 threads, each making stream after stream on one engine (tests/c/test_fovea.c
     soak mode).

For each, VmRSS is read from /proc every 0.5 s; the slope after the first 20% of the run (warm-up)
comes from a least-squares line, in MiB per minute and as the growth the line predicts over the
run. Writes benches/results/soak.json and prints a table for docs/testing.md.

    python scripts/soak.py [--fovea target/release/fovea] [--frames 20000] [--out benches/results/soak.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("FOVEA_MEDIA", ROOT.parent / "shared" / "media"))


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_sampled(name, cmd, env=None):
    print(f"soak: {name}: {' '.join(map(str, cmd))}", flush=True)
    t0 = time.time()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    samples = []
    while p.poll() is None:
        r = rss_mib(p.pid)
        if r is not None:
            samples.append((time.time() - t0, r))
        time.sleep(0.5)
    out, err = p.communicate()
    if p.returncode != 0:
        sys.exit(f"soak: {name} failed ({p.returncode}):\n{err[-3000:]}")
    wall = time.time() - t0
    warm = [s for s in samples if s[0] >= 0.2 * wall]
    n = len(warm)
    if n < 3:
        sys.exit(f"soak: {name}: too few samples ({n})")
    mt = sum(t for t, _ in warm) / n
    mr = sum(r for _, r in warm) / n
    slope = sum((t - mt) * (r - mr) for t, r in warm) / sum((t - mt) ** 2 for t, _ in warm)  # MiB/s
    row = {
        "run": name,
        "wall_s": round(wall, 1),
        "samples": len(samples),
        "rss_after_warmup_mib": round(warm[0][1], 1),
        "rss_peak_mib": round(max(r for _, r in samples), 1),
        "rss_end_mib": round(samples[-1][1], 1),
        "slope_mib_per_min": round(slope * 60, 3),
        "predicted_growth_after_warmup_mib": round(slope * (warm[-1][0] - warm[0][0]), 2),
    }
    print(f"soak: {name}: {row}", flush=True)
    return row, out, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fovea", default=str(ROOT / "target/release/fovea"))
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--out", default=str(ROOT / "benches/results/soak.json"))
    ap.add_argument("--c-rounds", type=int, default=25)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    src = MEDIA / "vtest.avi"
    loops = a.frames // 795 + 1
    clip = tmp / "long.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(src), "-c", "copy", str(clip)], check=True)
    rows = []
    boxes = tmp / "boxes.jsonl"
    row, _, err = run_sampled("detect", [a.fovea, "detect", str(clip), "-o", str(boxes), "-q"])
    frames = sum(1 for _ in open(boxes))
    row["frames"] = frames
    rows.append(row)
    row, _, _ = run_sampled("verify", [a.fovea, "verify", str(clip), "--boxes", str(boxes), "-o", str(tmp / "verdicts.jsonl")])
    row["frames"] = frames
    rows.append(row)
    # The C ABI: the test program against the release library.
    exe = tmp / "test_fovea"
    lib = ROOT / "target/release"
    subprocess.run(["cc", "-std=c11", "-O2", "-Iinclude", "tests/c/test_fovea.c", "-o", str(exe), f"-L{lib}", f"-Wl,-rpath,{lib}", "-lfovea", "-lpthread"], check=True, cwd=ROOT)
    cfg = tmp / "fovea.toml"
    cfg.write_text(f"model = \"{ROOT / 'engines/nanodet-g-416.toml'}\"\nthreads = 1\n")
    n = 40
    row, out, _ = run_sampled("C ABI, 8 threads", [str(exe), "soak", str(cfg), str(src), "768", "576", str(n), "8", str(a.c_rounds)])
    row["frames"] = 8 * a.c_rounds * n
    row["streams"] = 8 * a.c_rounds
    rows.append(row)
    Path(a.out).write_text(json.dumps(rows, indent=2))
    print("| run | frames | wall | RSS after warm-up | peak | slope after warm-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['frames']} | {r['wall_s']} s | {r['rss_after_warmup_mib']} MiB | {r['rss_peak_mib']} MiB | {r['slope_mib_per_min']} MiB/min |")


if __name__ == "__main__":
    main()
