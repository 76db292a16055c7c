#!/usr/bin/env python3
"""The detection server a Python user would write: asyncio HTTP (POST /jobs {"source": path},
GET /jobs/<id>), each job an asyncio task that decodes with OpenCV and runs NanoDet-g fp32 on one
shared onnxruntime session (2 threads) through a thread-pool executor, NumPy decoding and NMS.

    .deps/venv/bin/python benches/peers/serve_peer.py --port 0     # prints "listening on PORT"
"""
import argparse
import asyncio
import concurrent.futures
import json
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nanodet_numpy as nd  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Jobs:
    def __init__(self, threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(os.path.join(ROOT, "engines", "nanodet-g-416.onnx"), so, providers=["CPUExecutionProvider"])
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
        self.jobs = {}
        self.next = 1

    def infer(self, bgr):
        h, w = bgr.shape[:2]
        outs = self.sess.run(None, {nd.INPUT: nd.preprocess(bgr)})
        boxes, scores, classes = nd.decode({o.name: v for o, v in zip(self.sess.get_outputs(), outs)}, w, h)
        return [{"bbox": b.tolist(), "score": float(s), "class_id": int(c)} for b, s, c in zip(boxes, scores, classes)]

    async def run(self, jid, source):
        job = self.jobs[jid]
        loop = asyncio.get_running_loop()
        cap = cv2.VideoCapture(source)
        while True:
            ok, bgr = await loop.run_in_executor(self.pool, cap.read)
            if not ok:
                break
            dets = await loop.run_in_executor(self.pool, self.infer, bgr)
            job["results"].append(json.dumps({"frame": job["frames"], "detections": dets}))
            job["frames"] += 1
        job["state"] = "done"


async def handle(jobs, reader, writer):
    try:
        line = await reader.readline()
        method, path, _ = line.decode().split(" ", 2)
        length = 0
        while (h := await reader.readline()) not in (b"\r\n", b""):
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":")[1])
        body = await reader.readexactly(length) if length else b""
        if method == "POST" and path == "/jobs":
            jid = jobs.next
            jobs.next += 1
            jobs.jobs[jid] = {"state": "running", "frames": 0, "results": []}
            asyncio.ensure_future(jobs.run(jid, json.loads(body)["source"]))
            out, status = {"id": jid}, "201 Created"
        elif method == "GET" and path.startswith("/jobs/"):
            j = jobs.jobs.get(int(path.rsplit("/", 1)[1]))
            out, status = ({"state": j["state"], "frames": j["frames"]}, "200 OK") if j else ({"error": "no job"}, "404 Not Found")
        else:
            out, status = {"error": "no such endpoint"}, "404 Not Found"
        data = json.dumps(out).encode()
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        await writer.drain()
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    jobs = Jobs(a.threads)
    server = await asyncio.start_server(lambda r, w: handle(jobs, r, w), "127.0.0.1", a.port)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
