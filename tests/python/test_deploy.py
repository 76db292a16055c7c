"""The deployment files (deploy/k8s, deploy/compose.yaml): every Kubernetes manifest valid against
the Kubernetes API schema (kubernetes-validate, strict: unknown fields are errors), the engine
configuration they carry and the flags they pass taken by `fovea serve` as the pods would run it,
the probes' paths answered without the token and the HPA's metric served with it, SIGTERM ending the
service within the pod's grace period, and the memory request above the measured peak."""
import copy
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BIN = os.environ.get("FOVEA_BIN", str(ROOT / "target" / "debug" / "fovea"))
K8S_VERSION = "1.37.0"


def manifests():
    out = []
    for f in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                out.append((f.name, doc))
    return out


def by_kind(kind):
    found = [d for _, d in manifests() if d["kind"] == kind]
    assert found, f"no {kind} in deploy/k8s"
    return found[0]


def test_every_manifest_is_valid_kubernetes():
    docs = manifests()
    kinds = {d["kind"] for _, d in docs}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler", "PersistentVolumeClaim"} <= kinds
    for name, doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    # The kustomization lists every manifest but the adapter's rule (another namespace).
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml", "prometheus-adapter.yaml"}


def test_the_validator_rejects_a_broken_manifest():
    bad = copy.deepcopy(by_kind("Deployment"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"name": "http"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    bad = copy.deepcopy(by_kind("Service"))
    bad["spec"]["portz"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def container():
    return by_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]


def test_the_memory_request_covers_the_measured_peak():
    serve = json.loads((ROOT / "benches" / "results" / "serve.json").read_text())
    peak_mb = max(v["serve"]["peak_rss_mb"] for k, v in serve.items() if "serve" in v and "peer" not in k)
    units = {"Mi": 1, "Gi": 1024}
    res = container()["resources"]
    m = re.fullmatch(r"(\d+)(Mi|Gi)", res["requests"]["memory"])
    request_mb = int(m.group(1)) * units[m.group(2)]
    m = re.fullmatch(r"(\d+)(Mi|Gi)", res["limits"]["memory"])
    limit_mb = int(m.group(1)) * units[m.group(2)]
    assert request_mb >= 1.25 * peak_mb, (request_mb, peak_mb)
    assert limit_mb >= 2 * peak_mb, (limit_mb, peak_mb)


def local_args(args, tmp_path):
    """The pod's `fovea serve` arguments with its mount points moved under tmp_path."""
    mounts = {"/etc/fovea": tmp_path / "etc", "/run/secrets/fovea": tmp_path / "secrets", "/media": tmp_path / "media",
              "/results": tmp_path / "results"}
    out = []
    for a in args:
        if a.startswith("--listen="):
            a = "--listen=127.0.0.1:0"
        for pod, here in mounts.items():
            if "=" in a and a.split("=", 1)[1].startswith(pod):
                flag, value = a.split("=", 1)
                a = f"{flag}={here}{value[len(pod):]}"
        out.append(a)
    for here in mounts.values():
        here.mkdir(parents=True, exist_ok=True)
    return out


def get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def test_fovea_serve_runs_as_the_pod_and_compose_file_say(tmp_path):
    c = container()
    args = local_args(c["args"], tmp_path)
    assert args[0] == "serve"
    (tmp_path / "etc" / "fovea.toml").write_text(by_kind("ConfigMap")["data"]["fovea.toml"])
    token = by_kind("Secret")["stringData"]["token"]
    (tmp_path / "secrets" / "token").write_text(token)
    proc = subprocess.Popen([BIN, *args], stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        m = re.search(r"listening on (https?://\S+)", line)
        assert m, f"fovea serve did not start with the pod's arguments: {line}{proc.stderr.read() if proc.poll() is not None else ''}"
        url = m.group(1)
        for probe in ("readinessProbe", "livenessProbe"):
            status, _ = get(url + c[probe]["httpGet"]["path"])
            assert status == 200, (probe, status)
        # Everything else needs the token: the HPA's metric is served with it.
        assert get(url + "/metrics")[0] == 401
        status, text = get(url + "/metrics", token)
        assert status == 200
        # The HPA's metric is the adapter's rule over a series fovea serves.
        metric = by_kind("HorizontalPodAutoscaler")["spec"]["metrics"][0]["pods"]["metric"]["name"]
        adapter = [d for _, d in manifests() if d["metadata"]["name"] == "fovea-adapter-rules"][0]
        rule = [r for r in yaml.safe_load(adapter["data"]["config.yaml"])["rules"] if r["name"]["as"] == metric][0]
        series = re.fullmatch(r"(\w+)\{(.*)\}", rule["seriesQuery"])
        name, wanted = series.group(1), [l for l in series.group(2).split(",") if "!=" not in l]
        assert re.search(rf"^{name}\{{{','.join(wanted)}\}} \d+", text, re.M), f"{rule['seriesQuery']} not in /metrics:\n{text}"
        grace = by_kind("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=grace) == 0
        assert time.monotonic() - t < grace
    finally:
        if proc.poll() is None:
            proc.kill()
    # The compose file runs the same service the same way.
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]["fovea"]
    assert compose["command"] == c["args"]
    assert compose["image"] == c["image"]
    assert compose["user"] == "{0}:{0}".format(by_kind("Deployment")["spec"]["template"]["spec"]["securityContext"]["runAsUser"])
