#!/usr/bin/env python3
"""Prints the pipeline benchmark as a Markdown table: fovea detector-only and end-to-end vs the
Python peer, from the JSON files `make bench-pipeline` writes."""
import json
import os
import sys

fovea = json.load(open(sys.argv[1]))
python = {os.path.basename(r["video"]): r for r in json.load(open(sys.argv[2]))}
print("| video | frames | detector only (FPS) | fovea end to end (FPS) | e2e / detector | Python peer (FPS) | fovea / peer |")
print("|---|---|---|---|---|---|---|")
for r in fovea:
    name = os.path.basename(r["video"])
    p = python.get(name, {}).get("end_to_end_fps")
    print(f"| {name} | {r['frames']} | {r['detector_only_fps']:.1f} | {r['end_to_end_fps']:.1f} | {r['ratio']:.2f} | "
          f"{p:.1f} | {r['end_to_end_fps'] / p:.2f}x |" if p else "| - | - |")
