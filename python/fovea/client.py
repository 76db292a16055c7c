"""A client for `fovea serve`, the detection service (standard library only).

    from fovea.client import Client
    c = Client("http://127.0.0.1:8080", token=None)
    job = c.submit("clips/match.mp4", stride=2, classes=["person", "sports_ball"])
    for frame in c.results(job["id"]):          # streamed while the job runs
        print(frame["frame"], len(frame["detections"]))
    print(c.status(job["id"])["state"])         # done | failed | cancelled
    report = c.score("clips/challenge.mp4", "clips/miner.json", time=3.2)   # a score job

Every method raises `fovea.client.Error` (with the HTTP status and the service's message) on an
error answer.
"""
import json
import time
import urllib.error
import urllib.request

__all__ = ["Client", "Error"]


class Error(Exception):
    """An error answer of the service: `status` (HTTP status) and `message` (the service's)."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class Client:
    def __init__(self, url="http://127.0.0.1:8080", token=None, timeout=30.0, cafile=None):
        """`cafile`: a PEM file of the certificate authority (or the self-signed certificate) an
        https:// service presents, when the system's do not cover it."""
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.context = None
        if cafile is not None:
            import ssl
            self.context = ssl.create_default_context(cafile=str(cafile))

    def _request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            return urllib.request.urlopen(req, timeout=self.timeout, context=self.context)
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                message = json.loads(text).get("error", text)
            except ValueError:
                message = text
            raise Error(e.code, message) from None

    def _json(self, method, path, body=None):
        with self._request(method, path, body) as r:
            return json.loads(r.read())

    def submit(self, source, **options):
        """Starts a job on `source` (a path under the service's media root, or a URL); `options`:
        classes, score, nms_iou, stride, max_fps, start, duration, iframes, tracking, format, pitch ("lines":
        the 32 pitch keypoints per frame from the white lines, "model": the configuration's pitch
        keypoint model, "off"), teams. Returns the job's status (with its "id")."""
        return self._json("POST", "/v1/jobs", {"source": source, "options": options})

    def submit_mine(self, source, **options):
        """Starts a mine job (`fovea mine`): the Score Vision miner's response on the video
        `source` (tracking, roles by colour, the pitch keypoints, `processing_time`); `options` as
        `submit`'s. Its results are the response, one dict, when it ends (`mine` waits for it)."""
        return self._json("POST", "/v1/jobs", {"source": source, "kind": "mine", "options": options})

    def mine(self, source, timeout=None, **options):
        """A mine job run to its end: returns the Score Vision response. Raises `Error` when the
        job failed."""
        job = self.submit_mine(source, **options)
        st = self.wait(job["id"], timeout=timeout)
        if st["state"] != "done":
            raise Error(500, f"mine job {job['id']} {st['state']}: {st.get('error')}")
        return next(self.results(job["id"]))

    def submit_score(self, source, boxes, **options):
        """Starts a score job: the miner's Score Vision file `boxes` (a path under the media
        root) scored on the video `source` as the validator scores it (`fovea score`); `options`:
        time, fastest, line_frames, rules, classifier, policy, threads, per_frame. Its results are
        the report, one dict, when it ends (`score` waits for it)."""
        return self._json("POST", "/v1/jobs", {"source": source, "kind": "score", "options": {"boxes": boxes, **options}})

    def score(self, source, boxes, timeout=None, **options):
        """A score job run to its end: returns its report (as `fovea score --json` prints it).
        Raises `Error` when the job failed (status 500, with fovea's error)."""
        job = self.submit_score(source, boxes, **options)
        st = self.wait(job["id"], timeout=timeout)
        if st["state"] != "done":
            raise Error(500, f"score job {job['id']} {st['state']}: {st.get('error')}")
        return next(self.results(job["id"]))

    def status(self, job_id):
        return self._json("GET", f"/v1/jobs/{job_id}")

    def jobs(self):
        return self._json("GET", "/v1/jobs")["jobs"]

    def cancel(self, job_id):
        return self._json("DELETE", f"/v1/jobs/{job_id}")

    def results(self, job_id):
        """The job's frames (JSONL jobs: one dict per frame, yielded as they come while it runs),
        or the whole Score Vision document (format="scorevision") as one dict."""
        with self._request("GET", f"/v1/jobs/{job_id}/results") as r:
            if r.headers.get_content_type() == "application/json":
                yield json.loads(r.read())
                return
            for line in r:
                if line.strip():
                    yield json.loads(line)

    def wait(self, job_id, timeout=None, poll=0.1):
        """Polls until the job has ended; returns its status."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            s = self.status(job_id)
            if s["state"] in ("done", "failed", "cancelled"):
                return s
            if end is not None and time.monotonic() > end:
                raise TimeoutError(f"job {job_id} still {s['state']} after {timeout} s")
            time.sleep(poll)

    def healthy(self):
        try:
            with self._request("GET", "/healthz"):
                return True
        except (Error, OSError):
            return False

    def ready(self):
        try:
            with self._request("GET", "/readyz"):
                return True
        except (Error, OSError):
            return False

    def metrics(self):
        """The Prometheus text exposition."""
        with self._request("GET", "/metrics") as r:
            return r.read().decode()
