#!/usr/bin/env python3
"""`make soak-serve`: `fovea serve` for SOAK_SECONDS (default 600) under hostile clients on loopback,
bounded in count and time, with its resident memory and open descriptors sampled throughout.

Clients (threads, each loops until the end): slow-loris connections (a byte every few seconds,
SOAK_SLOW at once), garbage bytes, traversal and URL requests (400s), over-large and never-ending
bodies (413, 408), real short detection jobs read to their end and cancelled ones, and a
/healthz probe every half second whose worst latency is reported.

Passes when /healthz always answered within 2 s, the jobs' results equal across runs, resident
memory after the first quarter grows by less than 15% + 20 MB, and open descriptors are back within
16 of their starting count once the clients stop.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from fovea.client import Client  # noqa: E402

BIN = os.environ.get("FOVEA_BIN", str(ROOT / "target" / "release" / "fovea"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
SLOW = int(os.environ.get("SOAK_SLOW", "300"))


def rss_and_fds(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    media = Path(tempfile.mkdtemp(prefix="fovea-soak-"))
    shutil.copy(ROOT / "tests" / "data" / "market_street_10s.mp4", media / "street.mp4")
    (media / "p.m3u8").write_text("#EXTM3U\n#EXTINF:2.0,\nfile:///etc/hostname\n#EXT-X-ENDLIST\n")
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--media-root", str(media), "--header-timeout", "3",
                             "--body-timeout", "3", "--max-connections", "2000", "--max-queued", "64"],
                            stderr=subprocess.PIPE, text=True)
    url = re.search(r"listening on (http://\S+)", proc.stderr.readline()).group(1)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    host, port = url.split("//")[1].split(":")
    port = int(port)
    stop = threading.Event()
    counts = {k: 0 for k in ["slow", "garbage", "refused", "big", "stalled", "jobs", "cancelled", "health"]}
    worst_health = [0.0]
    failures = []
    lock = threading.Lock()

    def count(k):
        with lock:
            counts[k] += 1

    def slow():
        while not stop.is_set():
            try:
                k = socket.create_connection((host, port), timeout=10)
                for _ in range(5):
                    k.sendall(b"G")
                    if stop.wait(1.0):
                        break
                k.close()
                count("slow")
            except OSError:
                time.sleep(0.2)

    def garbage():
        while not stop.is_set():
            try:
                with socket.create_connection((host, port), timeout=10) as k:
                    k.sendall(os.urandom(512))
                    k.settimeout(5)
                    k.recv(1000)
                count("garbage")
            except OSError:
                pass
            stop.wait(0.05)

    def refused():
        c = Client(url, timeout=10)
        bodies = [{"source": "../../etc/passwd"}, {"source": "/etc/shadow"}, {"source": "http://169.254.169.254/"},
                  {"source": "street.mp4", "kind": "score", "options": {"boxes": "x.json", "classifier": "../../../etc/shadow"}},
                  {"source": "street.mp4", "options": {"colour": 1}}]
        while not stop.is_set():
            for b in bodies:
                try:
                    c._json("POST", "/v1/jobs", b)
                    failures.append(f"accepted {b}")
                except Exception as e:  # noqa: BLE001
                    if getattr(e, "status", None) != 400:
                        failures.append(f"{b}: {e}")
                count("refused")
            stop.wait(0.05)

    def big_and_stalled():
        while not stop.is_set():
            try:
                req = urllib.request.Request(url + "/v1/jobs", data=b"{" + b" " * (100 * 1024) + b"}", method="POST")
                urllib.request.urlopen(req, timeout=10)
            except urllib.error.HTTPError as e:
                if e.code == 413:
                    count("big")
            except OSError:
                pass
            try:
                with socket.create_connection((host, port), timeout=10) as k:
                    k.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
                    k.settimeout(10)
                    if k.recv(100).startswith(b"HTTP/1.1 408"):
                        count("stalled")
            except OSError:
                pass

    reference = []

    def jobs():
        c = Client(url, timeout=30)
        n = 0
        while not stop.is_set():
            try:
                j = c.submit("street.mp4", duration=1)["id"]
                frames = list(c.results(j))
                if not reference:
                    reference.extend(frames)
                elif frames != reference:
                    failures.append(f"job {j}: results differ from the first job's")
                count("jobs")
                n += 1
                if n % 3 == 0:
                    k = c.submit("street.mp4")["id"]
                    time.sleep(0.2)
                    c.cancel(k)
                    c.wait(k, timeout=60)
                    count("cancelled")
                c.submit("p.m3u8")
            except Exception as e:  # noqa: BLE001
                if "busy" not in str(e):
                    failures.append(f"job: {e}")
                time.sleep(0.5)

    def health():
        c = Client(url, timeout=5)
        while not stop.is_set():
            t = time.monotonic()
            if not c.healthy():
                failures.append(f"/healthz failed at {time.monotonic():.0f}")
            worst_health[0] = max(worst_health[0], time.monotonic() - t)
            count("health")
            stop.wait(0.5)

    base_rss, base_fds = rss_and_fds(proc.pid)
    threads = [threading.Thread(target=slow, daemon=True) for _ in range(SLOW)]
    threads += [threading.Thread(target=f, daemon=True) for f in (garbage, refused, big_and_stalled, jobs, jobs, health)]
    for t in threads:
        t.start()
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        time.sleep(min(10, SECONDS / 20))
        rss, fds = rss_and_fds(proc.pid)
        samples.append((time.monotonic() - t0, rss, fds))
        print(f"soak-serve: {samples[-1][0]:6.0f} s  rss {rss / 1e6:7.1f} MB  fds {fds:5d}  {counts}", flush=True)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    time.sleep(5)  # the header timeout closes what is left
    end_rss, end_fds = rss_and_fds(proc.pid)
    proc.terminate()
    proc.wait(timeout=60)
    shutil.rmtree(media, ignore_errors=True)
    warm = [s[1] for s in samples[len(samples) // 4: len(samples) // 4 + 2]] or [samples[0][1]]
    late = max(s[1] for s in samples[len(samples) // 4:])
    report = {"seconds": SECONDS, "slow_clients": SLOW, "counts": counts, "worst_healthz_s": round(worst_health[0], 3),
              "rss_start_mb": round(base_rss / 1e6, 1), "rss_warm_mb": round(max(warm) / 1e6, 1), "rss_late_max_mb": round(late / 1e6, 1),
              "rss_end_mb": round(end_rss / 1e6, 1), "fds_start": base_fds, "fds_end": end_fds, "failures": failures[:20]}
    print(json.dumps(report, indent=1))
    ok = (not failures and worst_health[0] < 2.0 and late < max(warm) * 1.15 + 20e6 and end_fds <= base_fds + 16
          and counts["jobs"] > 0 and counts["health"] > 0)
    print("soak-serve:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
