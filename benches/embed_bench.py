"""`make bench-embed` (issue 15): fovea embed vs the Python peer (benches/peers/embed_peer.py:
OpenCV decode of the same sampled frames + onnxruntime on the same encoder, batched), side by
side in one run on a 300-clip collection made like the tests' (tests/python/embed_collection.py);
both encoders compared (speed, and re-encoded copies found top-1); UCF101 (13,320 clips of about
7 s) extrapolated from clips/s; peak RSS of `fovea embed` over 300 and 1,000 clips (flat).
Writes benches/results/embed.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import embed_collection  # noqa: E402

FOVEA = str(ROOT / "target" / "release" / "fovea")
PY = sys.executable
WORK = ROOT / ".deps" / "bench" / "embed"


def timed(cmd):
    """(seconds, peak RSS MB of the child) of one command."""
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = p.communicate()
    dt = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[:3]} failed: {err[-2000:]}")
    return dt, err


def rss_of(cmd):
    """Peak RSS (MB) of a command, via /usr/bin/time-free wait4."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{cmd[:3]} failed")
    return ru.ru_maxrss / 1024


def collection(n, copies_too=True):
    d = WORK / f"c{n}"
    if not (d / "collection.json").exists():
        embed_collection.make(d, n, copies_too)
    return d


def top1(store, copies):
    a = pq.read_table(store).to_pandas()
    a = a[a.error.isna()].reset_index(drop=True)
    b = pq.read_table(copies).to_pandas()
    A, B = np.stack(a.embedding.to_numpy()), np.stack(b.embedding.to_numpy())
    best = np.argmax(B @ A.T, axis=1)
    return float(np.mean([Path(a.path[i]).stem == Path(p).stem for i, p in zip(best, b.path)]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rss-clips", type=int, default=1000)
    ap.add_argument("--speed-only", action="store_true", help="the side-by-side speed only (no encoders, no RSS)")
    a = ap.parse_args()
    d = collection(a.clips)
    clips = json.loads((d / "collection.json").read_text())["clips"]
    seconds = sum(c["seconds"] for c in clips)
    res = {"clips": len(clips) + 2, "video_seconds": round(seconds, 1), "machine": f"{os.cpu_count()} cores", "rounds": []}
    for r in range(a.rounds):
        row = {}
        subprocess.run(["rm", "-rf", str(d / f"store_fovea_{r}"), str(d / f"store_fp32_{r}"), str(d / f"peer_{r}.parquet")])
        for name, cmd in [
            ("fovea", [FOVEA, "embed", str(d / "collection"), "-o", str(d / f"store_fovea_{r}"), "-q"]),
            ("fovea_fp32", [FOVEA, "embed", str(d / "collection"), "-o", str(d / f"store_fp32_{r}"), "-q", "--encoder", str(ROOT / "engines/mobilenetv2.toml")]),
            ("peer", [PY, str(ROOT / "benches/peers/embed_peer.py"), str(d / "collection"), "-o", str(d / f"peer_{r}.parquet")]),
        ]:
            dt, _ = timed(cmd)
            row[name] = round(dt, 2)
        row["speedup"] = round(row["peer"] / row["fovea"], 2)
        row["speedup_fp32"] = round(row["peer"] / row["fovea_fp32"], 2)
        print(f"round {r}: fovea {row['fovea']} s (fp32 {row['fovea_fp32']} s), peer {row['peer']} s: {row['speedup']}x ({row['speedup_fp32']}x)", file=sys.stderr)
        res["rounds"].append(row)
    f = float(np.median([x["fovea"] for x in res["rounds"]]))
    p = float(np.median([x["peer"] for x in res["rounds"]]))
    frames = 8 * len(clips)
    res["fovea"] = {"seconds": f, "clips_per_s": round(res["clips"] / f, 1), "frames_per_s": round(frames / f, 1)}
    res["peer"] = {"seconds": p, "clips_per_s": round(res["clips"] / p, 1), "frames_per_s": round(frames / p, 1)}
    f32 = float(np.median([x["fovea_fp32"] for x in res["rounds"]]))
    res["fovea_fp32"] = {"seconds": f32, "clips_per_s": round(res["clips"] / f32, 1), "frames_per_s": round(frames / f32, 1)}
    res["speedup"] = round(p / f, 2)
    res["speedup_same_precision"] = round(p / f32, 2)
    # Peer and fovea agree (same encoder, same frames; resize filters differ slightly).
    fa = pq.read_table(d / "store_fp32_0").to_pandas().set_index("path")
    pa_ = pq.read_table(d / "peer_0.parquet").to_pandas().set_index("path")
    common = [x for x in pa_.index if pa_.embedding[x] is not None and fa.embedding.get(x) is not None]
    cos = [float(np.dot(fa.embedding[x], pa_.embedding[x])) for x in common]
    res["peer_vs_fovea_fp32_cosine"] = {"min": round(min(cos), 4), "median": round(float(np.median(cos)), 4)}
    # UCF101: 13,320 clips of about 7.2 s; the collection's clips average seconds / clips.
    mean_s = seconds / len(clips)
    per_clip = f / res["clips"] * (7.2 / mean_s)
    res["ucf101_minutes_estimate"] = round(13320 * per_clip / 60, 1)
    res["ucf101_note"] = f"clips/s scaled by clip length (7.2 s vs {mean_s:.1f} s here): decoding every frame is the bound"
    if a.speed_only:
        print(json.dumps(res, indent=1))
        (ROOT / "benches" / "results" / "embed_speed.json").write_text(json.dumps(res, indent=1))
        return
    # Encoders: speed and retrieval of re-encoded copies.
    res["encoders"] = {}
    for enc in ["mobilenetv2-ov-bf16", "mobilenetv2", "efficientnet-lite0"]:
        st, cp = d / f"enc_{enc}", d / f"enc_{enc}_copies"
        subprocess.run(["rm", "-rf", str(st), str(cp)])
        dt, _ = timed([FOVEA, "embed", str(d / "collection"), "-o", str(st), "-q", "--encoder", str(ROOT / f"engines/{enc}.toml")])
        timed([FOVEA, "embed", str(d / "copies"), "-o", str(cp), "-q", "--encoder", str(ROOT / f"engines/{enc}.toml")])
        t0 = time.time()
        o = subprocess.run([PY, "-c", f"""
import onnxruntime as ort, numpy as np, time
so = ort.SessionOptions(); so.intra_op_num_threads = 2
x = np.random.default_rng(0).normal(size=(32, 3, 224, 224)).astype(np.float32)
if '{enc}'.endswith('ov-bf16'):
    import openvino as ov
    m = ov.Core().compile_model('{ROOT}/engines/mobilenetv2-b8.xml', 'CPU', {{'INFERENCE_PRECISION_HINT': 'bf16'}})
    r = m.create_infer_request(); run = lambda: [r.infer({{'image': x[i:i + 8]}}) for i in range(0, 32, 8)]
else:
    s = ort.InferenceSession('{ROOT}/engines/{enc}.onnx', so); run = lambda: s.run(None, {{'image': x}})
run(); t = time.time()
for _ in range(5): run()
print(32 * 5 / (time.time() - t))"""], capture_output=True, text=True, check=True)
        res["encoders"][enc] = {"embed_seconds": round(dt, 2), "copies_top1": round(top1(st, cp), 4),
                                "encoder_only_frames_per_s": round(float(o.stdout.strip()), 1)}
        print(f"{enc}: {res['encoders'][enc]}", file=sys.stderr)
    # Peak RSS over 300 and 1,000 clips.
    res["peak_rss_mb"] = {}
    for n in sorted({a.clips, a.rss_clips}):
        dn = collection(n, copies_too=False)
        subprocess.run(["rm", "-rf", str(dn / "store_rss")])
        res["peak_rss_mb"][str(n)] = round(rss_of([FOVEA, "embed", str(dn / "collection"), "-o", str(dn / "store_rss"), "-q"]), 1)
    print(json.dumps(res, indent=1))
    out = ROOT / "benches" / "results" / "embed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
