"""The service image `make image` builds (issue 35), run with podman (`make test-image`): it is
small enough, runs as a non-root user with the health check, serves on a loopback port of the
host, a job submitted over HTTP gives exactly `fovea detect`'s results on the same file (the same
binary on the host), SIGTERM ends it gracefully within its grace period, and with a read-only root
file system it writes nothing but its results mount."""
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG = os.environ.get("FOVEA_IMAGE", "localhost/fovea:" + next(
    l.split('"')[1] for l in (ROOT / "Cargo.toml").read_text().splitlines() if l.startswith("version = ")))
BIN = os.environ.get("FOVEA_IMAGE_BIN", str(ROOT / "target/release/fovea"))
TOKEN = "image-test-token-0123456789"
ENV = dict(os.environ, CONTAINERS_CONF=str(ROOT / ".deps/image/containers.conf"))
MAX_MB = 450


def podman(*args, check=True, timeout=120):
    o = subprocess.run(["podman", *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout)
    if check:
        assert o.returncode == 0, (args, o.stderr[-2000:])
    return o


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def request(url, method="GET", body=None, token=TOKEN):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(url, container, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if request(url + "/readyz", token=None)[0] == 200:
                return
        except OSError:
            pass
        if podman("inspect", "--format", "{{.State.Running}}", container, check=False).stdout.strip() != "true":
            break
        time.sleep(0.3)
    pytest.fail("the service never became ready:\n" + podman("logs", container, check=False).stderr[-3000:])


@pytest.fixture(scope="module")
def mounts(tmp_path_factory):
    d = tmp_path_factory.mktemp("image")
    media, results, secret = d / "media", d / "results", d / "secret"
    for p in (media, results, secret):
        p.mkdir()
    (media / "street.mp4").write_bytes((ROOT / "tests/data/market_street_10s.mp4").read_bytes())
    (media / "long.mp4").write_bytes((ROOT.parent / "shared/media/market_street_1906.mp4").read_bytes())
    (secret / "token").write_text(TOKEN)
    # The image's user (10001) writes the results, as a pod's fsGroup would let it.
    os.chmod(results, 0o777)
    return media, results, secret


def run(name, mounts, port, *extra):
    media, results, secret = mounts
    podman("rm", "-f", "-t", "0", name, check=False)
    podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", "-v", f"{media}:/media:ro", "-v", f"{results}:/results",
           "-v", f"{secret}:/run/secrets/fovea:ro", *extra, TAG)


def test_the_image_is_small_non_root_and_has_the_health_check():
    cfg = json.loads(podman("image", "inspect", TAG).stdout)[0]
    assert cfg["Size"] <= MAX_MB * 1_000_000, f"{cfg['Size'] / 1e6:.0f} MB unpacked"
    c = cfg["Config"]
    assert c["User"] == "10001:10001" and c["Entrypoint"] == ["/opt/fovea/bin/fovea"] and c["Cmd"][0] == "serve"
    assert "/healthz" in " ".join(cfg.get("Healthcheck", {}).get("Test", [])), cfg.get("Healthcheck")
    assert {"/media", "/results"} <= set(c["Volumes"])
    # deploy/compose.yaml checks health with the image's own command.
    import yaml
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert compose["services"]["fovea"]["healthcheck"]["test"] == cfg["Healthcheck"]["Test"]
    # What runs: the CLI, FFmpeg and both runtimes load in the image.
    o = podman("run", "--rm", TAG, "--version")
    assert o.stdout.startswith("fovea "), o.stdout
    # The OCI archive make image saves, read back by skopeo as any OCI tool reads it: the same
    # configuration.
    archive = ROOT / "dist" / f"fovea-{TAG.rsplit(':', 1)[1]}.oci.tar"
    o = subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{archive}"], capture_output=True, text=True, timeout=120)
    assert o.returncode == 0, o.stderr
    oci = json.loads(o.stdout)["config"]
    assert (oci["User"], oci["Entrypoint"], oci["Cmd"]) == (c["User"], c["Entrypoint"], c["Cmd"]), oci


def test_a_job_over_http_equals_fovea_detect_and_nothing_outside_the_mounts_is_written(mounts):
    port, name = free_port(), f"fovea-image-test-{os.getpid()}"
    try:
        # A read-only root file system without even a writable /tmp: anything the service wrote
        # outside its mounts would fail.
        run(name, mounts, port, "--read-only", "--read-only-tmpfs=false")
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, name)
        assert request(url + "/healthz", token=None)[0] == 200
        assert podman("healthcheck", "run", name, check=False).returncode == 0, "the image's health check passes"
        assert request(url + "/v1/jobs", "POST", {"source": "street.mp4"}, token=None)[0] == 401
        status, body = request(url + "/v1/jobs", "POST", {"source": "street.mp4", "options": {"duration": 3}})
        assert status in (200, 201, 202), body
        job = json.loads(body)["id"]
        deadline = time.monotonic() + 180
        while True:
            st = json.loads(request(f"{url}/v1/jobs/{job}")[1])
            if st["state"] in ("done", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, st
            time.sleep(0.2)
        assert st["state"] == "done", st
        got = [json.loads(l) for l in request(f"{url}/v1/jobs/{job}/results")[1].decode().splitlines() if l.strip()]
        cli = subprocess.run([BIN, "detect", str(mounts[0] / "street.mp4"), "--duration", "3", "-q", "-o", "-"], capture_output=True,
                             text=True, check=True).stdout
        want = [json.loads(l) for l in cli.splitlines() if l.strip()]
        assert len(got) == len(want) == 90 and got == want
        assert (mounts[1] / f"job-{job}.out").exists(), "the results are in the results mount"
        uid = podman("exec", name, "sh", "-c", "id -u; id -g").stdout.split()
        assert uid == ["10001", "10001"], uid
        top = podman("top", name, "user", "comm").stdout
        assert "root" not in top, top
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def test_sigterm_lets_the_running_job_finish_within_the_grace_period(mounts):
    port, name = free_port(), f"fovea-image-term-{os.getpid()}"
    try:
        run(name, mounts, port)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, name)
        status, body = request(url + "/v1/jobs", "POST", {"source": "long.mp4", "options": {"duration": 4}})
        assert status in (200, 201, 202), body
        job = json.loads(body)["id"]
        # The results streamed to a reader while the service stops (the service removes its
        # results files when it exits).
        lines = []

        def read():
            req = urllib.request.Request(f"{url}/v1/jobs/{job}/results", headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(req, timeout=120) as r:
                lines.extend(l for l in r.read().decode().splitlines() if l.strip())

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 60
        while (st := json.loads(request(f"{url}/v1/jobs/{job}")[1]))["frames"] < 5:
            assert st["state"] in ("queued", "running") and time.monotonic() < deadline, st
            time.sleep(0.1)
        t0 = time.monotonic()
        podman("kill", "--signal", "TERM", name)
        code = int(podman("wait", name, timeout=60).stdout.strip())
        took = time.monotonic() - t0
        logs = podman("logs", name).stderr
        assert code == 0 and took < 30, (code, took, logs[-2000:])
        assert "stopping" in logs, logs[-2000:]
        reader.join(timeout=30)
        # The job ran to its end within the grace period: every frame of its 4 seconds.
        want = subprocess.run([BIN, "detect", str(mounts[0] / "long.mp4"), "--duration", "4", "-q", "-o", "-"], capture_output=True,
                              text=True, check=True).stdout.splitlines()
        assert len(lines) == len(want) > 50 and [json.loads(l) for l in lines] == [json.loads(l) for l in want]
        diff = podman("diff", name).stdout.split("\n")
        # podman itself writes /etc/hosts, /etc/hostname and /etc/resolv.conf into a container.
        assert not [l for l in diff if l.strip() and l.split()[-1] not in ("/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
                                                                          "/run", "/run/.containerenv")], diff
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
