"""`fovea serve` against hostile clients (issue 29), a real server process on loopback: every path
option's traversal, playlists and concat lists naming files elsewhere, the symbolic-link race,
URL sources (SSRF) refused by default and reachable when allowed, bounded waits on dead sources,
a planted results folder, slow clients with /healthz answering throughout, the connection cap,
the body deadline, TLS with a generated certificate, and the deployment checks."""
import json
import os
import re
import resource
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from test_serve import BIN, MEDIA, ROOT, Server, detect_alone  # noqa: F401

sys.path.insert(0, str(ROOT / "python"))
from fovea.client import Client, Error  # noqa: E402

SECRET = "TOP-SECRET-LINE-7f3a"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A media root with a clip, and beside it (outside) a secret file and a clip."""
    base = tmp_path_factory.mktemp("sec")
    media = base / "media"
    media.mkdir()
    shutil.copy(ROOT / "tests" / "data" / "market_street_10s.mp4", media / "street.mp4")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.toml").write_text(f"{SECRET} = [\n")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(media / "street.mp4"), "-t", "2", "-c:v", "libx264",
                    "-preset", "ultrafast", "-f", "mpegts", str(outside / "x.ts")], check=True)
    return media


@pytest.fixture(scope="module")
def server(root):
    s = Server(root)
    yield s
    s.stop()


def post(url, body, headers=None):
    req = urllib.request.Request(url + "/v1/jobs", data=json.dumps(body).encode() if not isinstance(body, bytes) else body,
                                 method="POST", headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_every_path_option_refuses_traversal_and_never_echoes_a_file(server, root):
    """Issue 29.1: source, boxes, rules, policy and classifier go through one resolver; `..`,
    absolute paths outside, and classifier paths that are not fovea's own models are 400; a file in
    the root that does not parse fails its job without a word of its content."""
    c = Client(server.url)
    secret = root.parent / "outside" / "secret.toml"
    (root / "boxes.json").write_text(json.dumps({"frames": {"0": {"objects": [], "keypoints": []}}}))
    base = {"boxes": "boxes.json"}
    cases = [
        ({"source": "../outside/secret.toml"}, "'..' is not allowed"),
        ({"source": str(secret)}, "outside the media root"),
        ({"source": "street.mp4", "kind": "score", "options": {"boxes": "../outside/secret.toml"}}, "'..' is not allowed"),
        ({"source": "street.mp4", "kind": "score", "options": {**base, "rules": "../../outside/secret.toml"}}, "'..' is not allowed"),
        ({"source": "street.mp4", "kind": "score", "options": {**base, "rules": str(secret)}}, "outside the media root"),
        ({"source": "street.mp4", "kind": "score", "options": {**base, "policy": "../outside/secret.toml"}}, "'..' is not allowed"),
        ({"source": "street.mp4", "kind": "score", "options": {**base, "classifier": "../../../../etc/shadow"}}, "fovea's own models"),
        ({"source": "street.mp4", "kind": "score", "options": {**base, "classifier": str(secret)}}, "fovea's own models"),
        ({"source": "street.mp4", "kind": "score", "options": {**base, "classifier": "engines/../../outside/secret"}}, "fovea's own models"),
    ]
    for body, want in cases:
        status, answer = post(server.url, body)
        assert status == 400 and want in answer["error"], (body, answer)
        assert SECRET not in answer["error"]
    # Files inside the root that are not what they claim: the job fails, its error names the file
    # as the client did and says nothing of the content.
    (root / "bad-rules.toml").write_text(f"{SECRET} = [\n")
    (root / "bad-boxes.json").write_text(json.dumps({"frames": {"0": {"objects": [{"bbox": SECRET}]}}}))
    for opts, name in [({**base, "rules": "bad-rules.toml"}, "bad-rules.toml"), ({"boxes": "bad-boxes.json"}, "bad-boxes.json")]:
        j = c.submit_score("street.mp4", opts.pop("boxes"), **opts)
        st = c.wait(j["id"], timeout=60)
        assert st["state"] == "failed" and name in st["error"], st
        assert SECRET not in st["error"] and "/proc/self/fd" not in st["error"], st
    # One of fovea's own models by name is accepted.
    status, answer = post(server.url, {"source": "street.mp4", "kind": "score", "options": {**base, "classifier": "mobilenetv2"}})
    assert status == 201, answer
    c.cancel(answer["id"])


@pytest.mark.parametrize("name,text", [
    ("abs.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\nfile://{outside}/x.ts\n#EXT-X-ENDLIST\n"),
    ("rel.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\n../outside/x.ts\n#EXT-X-ENDLIST\n"),
    ("list.ffconcat", "ffconcat version 1.0\nfile '{outside}/x.ts'\n"),
])
def test_a_playlist_or_concat_list_in_the_root_reads_nothing_outside_it(server, root, name, text):
    """Issue 29.2: the same playlist is decoded by `fovea detect` (the CLI reads what FFmpeg reads)
    but a job refuses it: single-file demuxers, the file protocol, and nothing opened but itself."""
    outside = root.parent / "outside"
    (root / name).write_text(text.format(outside=outside))
    if name.endswith(".m3u8"):
        assert len(detect_alone(root / name)) > 0, "the playlist is readable media (so the refusal is the guard's)"
    c = Client(server.url)
    st = c.wait(c.submit(name)["id"], timeout=60)
    assert st["state"] == "failed" and st["frames"] == 0, st
    assert "single-file container" in st["error"] and str(outside) not in st["error"], st


def test_a_link_planted_after_the_check_does_not_escape(root):
    """Issue 29.3: a missing source is accepted; a symbolic link planted before the job runs is
    opened beneath the root (RESOLVE_BENEATH), so the job fails instead of reading outside."""
    s = Server(root, "--max-running", "1")
    try:
        c = Client(s.url)
        blocker = c.submit("street.mp4")["id"]
        for i in range(2):
            (root / f"race{i}.mp4").unlink(missing_ok=True)
        late = [c.submit(f"race{i}.mp4")["id"] for i in range(2)]
        assert c.status(late[0])["state"] == "queued"
        (root / "race0.mp4").symlink_to(root.parent / "outside" / "x.ts")   # absolute, outside
        (root / "race1.mp4").symlink_to(Path("..") / "outside" / "x.ts")    # relative, climbing out
        c.wait(blocker, timeout=120)
        for j in late:
            st = c.wait(j, timeout=60)
            assert st["state"] == "failed" and "outside the media root" in st["error"] and st["frames"] == 0, st
        # A link that stays inside the root is followed.
        (root / "inside.mp4").unlink(missing_ok=True)
        (root / "inside.mp4").symlink_to("street.mp4")
        assert c.wait(c.submit("inside.mp4", duration=1)["id"], timeout=60)["state"] == "done"
    finally:
        s.stop()


class Http:
    """A local HTTP server (the SSRF target) serving `folder`."""

    def __init__(self, folder):
        self.proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(folder)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = int(re.search(r"port (\d+)", self.proc.stdout.readline()).group(1))
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_url_sources_are_off_by_default_and_reach_only_what_is_allowed(server, root):
    """Issue 29.4: a local HTTP service is refused by default (400), refused when only public hosts
    are allowed (loopback is private), and read when its address is listed; a closed port, a port
    that speaks no HTTP and an open HTTP port answer the client the same 'source unavailable'."""
    http = Http(root)
    url = f"http://127.0.0.1:{http.port}/street.mp4"
    try:
        status, answer = post(server.url, {"source": url})
        assert status == 400 and "URL sources are off" in answer["error"], answer
        public = Server(root, "--allow-url", "public")
        try:
            for u in (url, f"http://localhost:{http.port}/street.mp4", f"http://[::ffff:127.0.0.1]:{http.port}/street.mp4",
                      "http://10.1.2.3/x.mp4", "http://169.254.169.254/latest/meta-data/"):
                status, answer = post(public.url, {"source": u})
                assert status == 400 and answer["error"] == "source: source unavailable (not allowed by this service's --allow-url)", (u, answer)
        finally:
            public.stop()
        allowed = Server(root, "--allow-url", "127.0.0.1", "--source-timeout", "3")
        try:
            c = Client(allowed.url)
            st = c.wait(c.submit(url, duration=2)["id"], timeout=60)
            assert st["state"] == "done" and st["frames"] > 0, st
            # A URL is read as a live source (frames may be dropped when behind): the frames that
            # came are the file's.
            got = [f["frame"] for f in c.results(st["id"])]
            want = [f["frame"] for f in detect_alone(root / "street.mp4", "--duration", "2")]
            assert len(got) >= 1 and set(got) <= set(want), (got, want)
            # Closed port, a port that accepts and says nothing, a port that answers garbage.
            closed = free_port()
            silent = socket.socket()
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            garbage = socket.socket()
            garbage.bind(("127.0.0.1", 0))
            garbage.listen(16)

            def talk():
                while True:
                    try:
                        conn, _ = garbage.accept()
                    except OSError:
                        return
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                    conn.close()
            threading.Thread(target=talk, daemon=True).start()
            errors = {}
            t0 = time.monotonic()
            jobs = {name: c.submit(f"http://127.0.0.1:{port}/a.mp4")["id"] for name, port in
                    [("closed", closed), ("silent", silent.getsockname()[1]), ("garbage", garbage.getsockname()[1])]}
            for name, j in jobs.items():
                st = c.wait(j, timeout=60)
                assert st["state"] == "failed", st
                errors[name] = st["error"]
            took = time.monotonic() - t0
            assert len(set(errors.values())) == 1 and "source unavailable" in errors["closed"], errors
            # Issue 29.8: a dead source holds its runner for about --source-timeout, not minutes.
            assert took < 20, f"dead sources took {took:.1f} s with --source-timeout 3"
            silent.close()
            garbage.close()
        finally:
            allowed.stop()
    finally:
        http.stop()


def test_an_allowed_playlist_cannot_send_its_segments_to_another_host(root, tmp_path):
    """A playlist on an allowed host naming a segment on a host that is not allowed: the segment is
    refused at its own open (io_open check), so no frame comes from it."""
    allowed_dir = tmp_path / "allowed"
    allowed_dir.mkdir()
    target = Http(root.parent / "outside")
    (allowed_dir / "p.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\nhttp://127.0.0.2:{target.port}/x.ts\n#EXT-X-ENDLIST\n")
    origin = Http(allowed_dir)
    s = Server(root, "--allow-url", "127.0.0.1/32", "--source-timeout", "3")
    try:
        c = Client(s.url)
        st = c.wait(c.submit(f"http://127.0.0.1:{origin.port}/p.m3u8")["id"], timeout=60)
        assert st["state"] == "failed" and st["frames"] == 0, st
        assert any("refused to open" in line and "127.0.0.2" in line for line in s.log), "the refusal is logged"
    finally:
        s.stop()
        origin.stop()
        target.stop()


def test_results_are_private_and_a_planted_results_file_is_not_followed(root, tmp_path):
    """Issue 29.5: the default results folder is new, random and 0700, its files 0600; in a given
    folder, a symbolic link planted where a job's results go is refused (the job is not accepted)
    and its target is untouched."""
    s = Server(root)
    try:
        c = Client(s.url)
        j = c.submit("street.mp4", duration=1)["id"]
        [d] = Path(tempfile.gettempdir()).glob(f"fovea-serve-{s.proc.pid}-*")
        assert d.name != f"fovea-serve-{s.proc.pid}"
        assert stat.S_IMODE(d.stat().st_mode) == 0o700 and d.stat().st_uid == os.getuid()
        assert stat.S_IMODE((d / f"job-{j}.out").stat().st_mode) == 0o600
        c.wait(j, timeout=60)
    finally:
        s.stop()
    results = tmp_path / "results"
    results.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    # An earlier run's job files (a container restarted in its pod) are removed at start-up, a
    # link as a link (its target kept); files not named as job results stay.
    (results / "job-1.out").symlink_to(victim)
    (results / "job-7.out").write_text("an earlier run's results\n")
    (results / "notes.txt").write_text("not the service's\n")
    s = Server(root, "--results-dir", str(results))
    try:
        assert sorted(p.name for p in results.iterdir()) == ["notes.txt"] and victim.read_text() == "keep me\n"
        assert any("removed 2 results files of an earlier run" in line for line in s.log), s.log
        # A link planted while the service runs is never written through.
        (results / "job-1.out").symlink_to(victim)
        status, answer = post(s.url, {"source": "street.mp4"})
        assert status == 500 and "results file" in answer["error"] and str(results) not in answer["error"], answer
        assert victim.read_text() == "keep me\n"
        status, answer = post(s.url, {"source": "street.mp4", "options": {"duration": 1}})
        assert status == 201
        st = Client(s.url).wait(answer["id"], timeout=60)
        assert st["state"] == "done" and victim.read_text() == "keep me\n"
    finally:
        s.stop()


def raise_nofile():
    """Raises this process's open-files limit (the server inherits it); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def test_slow_clients_do_not_take_the_service_down(root):
    """Issue 29.6: 1,100 connections sending a byte now and then; /healthz answers throughout, and
    the header timeout closes them; a kept-alive connection idle past the timeout is closed; a body
    that does not arrive is a 408 in JSON; a body past --max-body is a 413 in JSON."""
    # 1,100 slow clients (the count) where this process may open that many sockets.
    count = min(1100, raise_nofile() - 200)
    assert count >= 500, f"the open-files limit leaves room for only {count} clients"
    s = Server(root, "--header-timeout", "2", "--body-timeout", "2", "--max-connections", "4000")
    host, port = s.url.split("//")[1].split(":")
    port = int(port)
    socks = []
    try:
        for _ in range(count):
            k = socket.create_connection((host, port))
            k.sendall(b"G")
            socks.append(k)
        worst = 0.0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5:
            for k in socks[::50]:
                try:
                    k.sendall(b"E")
                except OSError:
                    pass
            t = time.monotonic()
            assert Client(s.url, timeout=5).healthy()
            worst = max(worst, time.monotonic() - t)
            time.sleep(0.1)
        assert worst < 1.0, f"/healthz took {worst:.2f} s under {count} slow clients"
        # They were all closed by the header timeout.
        closed = 0
        for k in socks:
            k.settimeout(5)
            try:
                closed += k.recv(100) == b"" or True
            except (ConnectionResetError, OSError):
                closed += 1
        assert closed == len(socks)
        # Keep-alive idle past the timeout.
        k = socket.create_connection((host, port))
        k.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in k.recv(1000)
        time.sleep(3)
        k.settimeout(5)
        assert k.recv(100) == b"", "an idle kept-alive connection is closed after the header timeout"
        # A body that never arrives.
        k = socket.create_connection((host, port))
        k.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sou")
        k.settimeout(10)
        answer = k.recv(4000).decode()
        assert answer.startswith("HTTP/1.1 408") and '"error"' in answer and "--body-timeout" in answer, answer
        # Too large a body: 413 with a JSON error like every other.
        big = json.dumps({"source": "a" * (70 * 1024)}).encode()
        status, answer = post(s.url, big)
        assert status == 413 and "--max-body" in answer["error"], answer
    finally:
        for k in socks:
            k.close()
        s.stop()


def test_connections_past_the_cap_get_503_and_the_service_recovers(root):
    s = Server(root, "--header-timeout", "2", "--max-connections", "20")
    host, port = s.url.split("//")[1].split(":")
    socks = [socket.create_connection((host, int(port))) for _ in range(20)]
    try:
        time.sleep(0.3)
        k = socket.create_connection((host, int(port)))
        k.settimeout(5)
        answer = k.recv(1000).decode()
        assert answer.startswith("HTTP/1.1 503") and "max-connections" in answer, answer
        time.sleep(2.5)  # the idle ones are closed by the header timeout
        assert Client(s.url).healthy()
    finally:
        for k in socks:
            k.close()
        s.stop()


def test_tls_with_a_generated_certificate_and_the_deployment_checks(root, tmp_path):
    """Issue 29.7: HTTPS by rustls with a generated certificate (the client verifies it); plain HTTP
    to it fails; a non-loopback listener without a token is refused at start; the Bearer scheme is
    case-insensitive; /healthz says nothing of the model or versions."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    tok = tmp_path / "token"
    tok.write_text("t0ken\n")
    s = Server(root, "--tls-cert", str(cert), "--tls-key", str(key), "--token-file", str(tok))
    try:
        assert s.url.startswith("https://")
        c = Client(s.url, token="t0ken", cafile=cert)
        assert c.healthy()
        st = c.wait(c.submit("street.mp4", duration=1)["id"], timeout=60)
        assert st["state"] == "done"
        assert len(list(c.results(st["id"]))) == len(detect_alone(root / "street.mp4", "--duration", "1"))
        with pytest.raises(Exception):
            Client(s.url, token="t0ken").jobs()  # the system's CAs do not know the certificate
        with pytest.raises(Exception):
            urllib.request.urlopen(s.url.replace("https", "http") + "/healthz", timeout=5)
        import ssl
        ctx = ssl.create_default_context(cafile=str(cert))
        for scheme in ("bearer", "BEARER", "Bearer"):
            req = urllib.request.Request(s.url + "/v1/jobs", headers={"Authorization": f"{scheme} t0ken"})
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                assert r.status == 200
        with urllib.request.urlopen(s.url + "/healthz", context=ctx, timeout=10) as r:
            assert json.loads(r.read()) == {"status": "ok"}
    finally:
        s.stop()
    r = subprocess.run([BIN, "serve", "--listen", "0.0.0.0:0", "--media-root", str(root)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not a loopback address" in r.stderr and "--token-file" in r.stderr, r.stderr
