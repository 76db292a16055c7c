"""`make bench-keyframes`: a 2-minute 1080p H.264 video at 25 fps made from ../shared/media
(24 shots of 5 s joined by hard cuts, planted bad frames), then side by side in one run:
`fovea keyframes` (release build) against the Python peers of benches/peers/keyframes_peer.py
(one-stage and two-stage), and the ffmpeg CLI decoding the file once (`-f null`: decode only, the
floor any key-frame tool that looks at every frame stands on). Writes
benches/results/keyframes.json and prints a table.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import keyframes_clip  # noqa: E402

PY = sys.executable


def sources():
    """24 shots: Market Street and vtest at distinct times, Big Buck Bunny, two photo pans each."""
    out, market, vtest = [], 0, 0
    for k in range(24):
        if k % 6 == 5:
            out.append(("messi5.jpg" if k % 12 == 5 else "parkour.jpg", None))
        elif k % 6 in (1, 3):
            out.append(("vtest.avi", 2.0 + 9.0 * vtest))
            vtest += 1
        elif k == 12:
            out.append(("bigbuckbunny.mp4", 0.1))
        else:
            out.append(("market_street_1906.mp4", 1.0 + 4.9 * market))
            market += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", default=os.path.join(ROOT, "benches", "results", "keyframes.json"))
    a = ap.parse_args()
    video = os.path.join(ROOT, ".deps", "bench", "keyframes_1080p.mp4")
    os.makedirs(os.path.dirname(video), exist_ok=True)
    if not os.path.exists(video):
        t = time.perf_counter()
        keyframes_clip.make(video, width=1920, height=1080, fps=25, shot_frames=125, shots=sources(), crf=23)
        print(f"made {video} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    fovea = os.path.join(ROOT, "target", "release", "fovea")
    rows = {"fovea keyframes": [], "python two-stage": [], "python one-stage": [], "ffmpeg CLI decode": []}
    detail = {}
    for _ in range(a.rounds):
        out = os.path.join(ROOT, ".deps", "bench", "keyframes_out")
        t = time.perf_counter()
        subprocess.run([fovea, "keyframes", video, "-o", out], check=True, capture_output=True)
        rows["fovea keyframes"].append(time.perf_counter() - t)
        with open(os.path.join(out, "keyframes.json")) as f:
            detail["fovea"] = json.load(f)["summary"]
        t = time.perf_counter()
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", video, "-f", "null", "-"], check=True)
        rows["ffmpeg CLI decode"].append(time.perf_counter() - t)
        for mode in ("two-stage", "one-stage"):
            p = subprocess.run([PY, os.path.join(ROOT, "benches", "peers", "keyframes_peer.py"), video, "--mode", mode], check=True, capture_output=True, text=True)
            r = json.loads(p.stdout)
            rows[f"python {mode}"].append(r["seconds"])
            detail[mode] = r
    best = {k: min(v) for k, v in rows.items()}
    result = {
        "video": {"path": video, "size": "1920x1080", "fps": 25, "seconds": 120, "frames": 3000},
        "machine": f"{os.cpu_count()} cores",
        "rounds": a.rounds,
        "seconds_best": best,
        "real_time_factor": {k: v / 120.0 for k, v in best.items()},
        "fovea_vs_two_stage": best["python two-stage"] / best["fovea keyframes"],
        "fovea_vs_one_stage": best["python one-stage"] / best["fovea keyframes"],
        "fovea_over_ffmpeg_decode": best["fovea keyframes"] / best["ffmpeg CLI decode"],
        "detail": detail,
    }
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"| run | wall s | x real time | frames measured | detector frames |")
    print(f"|---|---|---|---|---|")
    fs = detail["fovea"]
    print(f"| fovea keyframes | {best['fovea keyframes']:.1f} | {best['fovea keyframes'] / 120:.3f} | {fs['stage1_frames']} | {fs['stage2_frames']} |")
    for mode in ("two-stage", "one-stage"):
        d = detail[mode]
        print(f"| Python {mode} | {best['python ' + mode]:.1f} | {best['python ' + mode] / 120:.3f} | {d['measured']} | {d['detector_frames']} |")
    print(f"| ffmpeg CLI decode only | {best['ffmpeg CLI decode']:.1f} | {best['ffmpeg CLI decode'] / 120:.3f} | | |")
    print(f"fovea vs Python two-stage: {result['fovea_vs_two_stage']:.2f}x; vs one-stage: {result['fovea_vs_one_stage']:.2f}x; "
          f"fovea / ffmpeg CLI decode: {result['fovea_over_ffmpeg_decode']:.2f}x")
    print("fovea seconds by stage:", json.dumps(fs["seconds"]))


if __name__ == "__main__":
    main()
