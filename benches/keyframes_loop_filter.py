"""`make bench-keyframes-lf`: key frames with stage 1 decoded with and without the codec's loop
filter, side by side on the same videos (alternating, best of the rounds): wall time, stage 1's
decode seconds, and whether the shots, the candidates and the chosen frames are the same; the
largest difference of a candidate's stage-1 quality score. Videos: the key-frame bench video
(made by benches/keyframes_bench.py) and any given on the command line."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(fovea, video, skip, out):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as p:
        p.write(f"[analysis]\nskip_loop_filter = {'true' if skip else 'false'}\n")
    t = time.perf_counter()
    subprocess.run([fovea, "keyframes", video, "-o", out, "--policy", p.name], check=True, capture_output=True)
    wall = time.perf_counter() - t
    os.unlink(p.name)
    with open(os.path.join(out, "keyframes.json")) as f:
        doc = json.load(f)
    return wall, doc


def shape(doc):
    shots = [(s["start_frame"], s["end_frame"]) for s in doc["shots"]]
    cands = {c["frame"]: c for s in doc["shots"] for c in s["candidates"]}
    chosen = [k["frame"] for k in doc["keyframes"]]
    return shots, cands, chosen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="*")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--fovea", default=os.path.join(ROOT, "target", "release", "fovea"))
    ap.add_argument("--json", default=os.path.join(ROOT, "benches", "results", "keyframes_loop_filter.json"))
    a = ap.parse_args()
    videos = a.videos or [os.path.join(ROOT, ".deps", "bench", "keyframes_1080p.mp4")]
    rows = []
    for video in videos:
        walls = {True: [], False: []}
        docs = {}
        with tempfile.TemporaryDirectory() as d:
            for _ in range(a.rounds):
                for skip in (False, True):
                    w, docs[skip] = run(a.fovea, video, skip, os.path.join(d, str(skip)))
                    walls[skip].append(w)
        (s0, c0, k0), (s1, c1, k1) = shape(docs[False]), shape(docs[True])
        common = set(c0) & set(c1)
        row = {
            "video": os.path.basename(video),
            "wall_s": {"loop_filter": min(walls[False]), "skipped": min(walls[True])},
            "stage1_decode_s": {k: docs[v]["summary"]["seconds"]["stage1_decode"] for k, v in (("loop_filter", False), ("skipped", True))},
            "same_shots": s0 == s1,
            "same_candidates": set(c0) == set(c1),
            "same_chosen": k0 == k1,
            "chosen": {"loop_filter": k0, "skipped": k1},
            "max_quality_diff": max((abs(c0[f]["quality"]["score"] - c1[f]["quality"]["score"]) for f in common), default=0.0),
            "max_score_diff": max((abs(c0[f]["score"] - c1[f]["score"]) for f in common), default=0.0),
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"machine": f"{os.cpu_count()} cores", "rounds": a.rounds, "videos": rows}, f, indent=1)
    print("| video | wall s, loop filter / skipped | stage 1 decode s | same shots / candidates / choice | max quality diff |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['video']} | {r['wall_s']['loop_filter']:.2f} / {r['wall_s']['skipped']:.2f} | "
              f"{r['stage1_decode_s']['loop_filter']:.2f} / {r['stage1_decode_s']['skipped']:.2f} | "
              f"{r['same_shots']} / {r['same_candidates']} / {r['same_chosen']} | {r['max_quality_diff']:.4f} |")


if __name__ == "__main__":
    main()
