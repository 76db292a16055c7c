"""fovea's batch jobs on a Ray cluster (issues 15 and 35):

    python -m fovea.ray detect    INPUT... -o OUT [--config E.toml | --model M.toml] [--format jsonl|scorevision]
                                  [--stride K] [--start S] [--duration D] [--max-fps F]
    python -m fovea.ray keyframes INPUT... -o OUT [--config E.toml | --model M.toml] [--max K] [--min-gap S]
                                  [--stride K] [--policy P.toml] [--image-format jpg|png]
    python -m fovea.ray score     INPUT... -o OUT --boxes DIR [--classifier E.toml] [--line-frames N]
                                  [--time T] [--fastest T] [--homography opencv|consensus]
    python -m fovea.ray embed     INPUT... -o STORE [--encoder M.toml] [--frames K | --every S] [--per clip|frame]
    every command: [--address auto] [--actors N] [--cpus-per-actor C]

INPUT: video files, folders (walked as `fovea embed` walks them) and list files. The driver lists
the videos, leaves out those whose output is already there (a rerun after any failure finishes the
job), and makes a Ray Dataset of the rest; `map_batches` runs a pool of actors, each holding fovea
through the Python binding (one engine, loaded once per actor) on one video at a time. Every video
gets one output, named after its path below the inputs' common folder (`OUT/<path>.jsonl` or
`.json` for detect, the folder `OUT/<path>/` for key frames, `OUT/<path>.json` for score, whose
miner file is `DIR/<path>.json`); each is what the single-machine command writes for that video
(`fovea detect --config`, `fovea keyframes`, `fovea score --json`), put in place atomically when
it is complete. A video that fails is listed in the summary with its error (detect keeps what it
wrote before the error as `<output>.partial`) and tried again by the next run. `embed` commits its
clips into one Parquet store instead (`fovea embed`'s store, resumable the same way). OUT and the
inputs must be on a file system every node sees.
"""
import argparse
import json
import os
import sys
import time


class Embedder:
    """A Ray actor: fovea's encoder and decoders on this node's share of the clips."""

    def __init__(self, store, options):
        import fovea  # noqa: F401 (loaded once per actor)
        import ray
        self.store, self.options = store, options
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch):
        import fovea
        clips = [{"path": p, "label": (None if lab == "" else lab)} for p, lab in zip(batch["path"], batch["label"])]
        report = fovea.embed(clips, self.store, **self.options)
        n = len(clips)
        return {
            "path": list(batch["path"]),
            "node": [self.node] * n,
            "pid": [os.getpid()] * n,
            "failed_in_batch": [report["failed"]] * n,
            "seconds": [report["seconds"]] * n,
        }


def _on_actors(address, items, actor, args, batch_size, blocks, actors, cpus_per_actor, most_actors=None):
    """Maps `items` over a pool of `actor(*args)` on the Ray cluster at `address` (`actors` of
    them, default the cluster's CPUs / `cpus_per_actor`, at most `most_actors`), `batch_size`
    items a call in `blocks(actors)` blocks. Returns the rows the actors gave and the cluster's
    figures for the summary (actors, nodes, nodes and processes used)."""
    import ray

    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        nodes = [n for n in ray.nodes() if n["Alive"]]
        if actors is None:
            actors = max(1, int(sum(n["Resources"].get("CPU", 0) for n in nodes) // cpus_per_actor))
        if most_actors is not None:
            actors = max(1, min(actors, most_actors))
        rows = []
        if items:
            rows = ray.data.from_items(items, override_num_blocks=blocks(actors)).map_batches(
                actor,
                fn_constructor_args=args,
                batch_size=batch_size,
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=cpus_per_actor,
                batch_format="numpy",
            ).take_all()
    finally:
        ray.shutdown()
    return rows, {
        "actors": actors,
        "nodes": len(nodes),
        "nodes_used": len({r["node"] for r in rows}),
        "processes_used": len({(r["node"], r["pid"]) for r in rows}),
    }


def embed(inputs, store, address=None, actors=None, clips_per_task=16, cpus_per_actor=1, **options):
    """Runs the job on the Ray cluster at `address` (None: `RAY_ADDRESS` or a local one). Returns a
    summary dict."""
    import fovea

    t0 = time.time()
    clips = fovea.collect_clips(inputs)
    os.makedirs(store, exist_ok=True)
    done = set()
    if any(n.startswith("part-") for n in os.listdir(store)):
        import pyarrow.dataset as ds
        done = set(ds.dataset(store, format="parquet").to_table(columns=["path"]).column("path").to_pylist())
    todo = [{"path": c["path"], "label": c["label"] or ""} for c in clips if c["path"] not in done]
    rows, cluster = _on_actors(address, todo, Embedder, (os.path.abspath(store), options), clips_per_task,
                               lambda n: max(1, min(len(todo), n * 4)), actors, cpus_per_actor)
    return {
        "clips": len(clips),
        "skipped": len(clips) - len(todo),
        "embedded_now": len(rows),
        **cluster,
        "seconds": time.time() - t0,
    }


SUFFIX = {"detect": {"jsonl": ".jsonl", "scorevision": ".json"}, "keyframes": "", "score": ".json"}


def plan(kind, inputs, out, boxes=None, format="jsonl"):
    """The videos of `inputs` with their outputs under `out` (and, for score, their miner files
    under `boxes`): a list of {"video", "name", "out", "boxes"} dicts, sorted as listed."""
    import fovea
    videos = [c["path"] for c in fovea.collect_clips(inputs)]
    if not videos:
        return []
    base = os.path.commonpath([os.path.dirname(os.path.abspath(v)) for v in videos])
    suffix = SUFFIX[kind][format] if kind == "detect" else SUFFIX[kind]
    todo = []
    for v in videos:
        name = os.path.relpath(os.path.abspath(v), base)
        todo.append({"video": v, "name": name, "out": os.path.join(out, name + suffix),
                     "boxes": "" if boxes is None else os.path.join(boxes, os.path.splitext(name)[0] + ".json")})
    return todo


class Worker:
    """A Ray actor: one fovea engine (detect, keyframes) on this node's share of the videos, each
    output written beside its final name and renamed into place when complete."""

    def __init__(self, kind, engine_config, options):
        import fovea
        import ray
        self.kind, self.options = kind, options
        self.node = ray.get_runtime_context().get_node_id()
        self.engine = None
        if kind in ("detect", "keyframes"):
            config, path = engine_config
            self.engine = fovea.Engine(path=path) if path else fovea.Engine(config=config)

    def one(self, video, out, boxes):
        import fovea
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        tmp = f"{out}.{os.getpid()}.tmp"
        if self.kind == "detect":
            try:
                self.engine.detect_file(video, tmp, **self.options)
            except BaseException:
                if os.path.exists(tmp):
                    os.replace(tmp, out + ".partial")
                raise
            os.replace(tmp, out)
        elif self.kind == "keyframes":
            import shutil
            try:
                self.engine.keyframes(video, tmp, **self.options)
                os.rename(tmp, out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            report = fovea.score(video, boxes, **self.options)
            with open(tmp, "w") as f:
                json.dump(report, f, indent=1)
                f.write("\n")
            os.replace(tmp, out)

    def __call__(self, batch):
        rows = {"video": [], "node": [], "pid": [], "error": [], "seconds": []}
        for video, out, boxes in zip(batch["video"], batch["out"], batch["boxes"]):
            t0 = time.time()
            try:
                self.one(str(video), str(out), str(boxes))
                err = ""
            except Exception as e:  # one video's failure is its row's, the others go on
                err = f"{type(e).__name__}: {e}"
            for k, v in (("video", str(video)), ("node", self.node), ("pid", os.getpid()), ("error", err), ("seconds", time.time() - t0)):
                rows[k].append(v)
        return rows


def run(kind, inputs, out, address=None, actors=None, cpus_per_actor=1, engine_config=("", None), boxes=None, **options):
    """Runs `kind` ("detect", "keyframes" or "score") on the videos of `inputs` over the Ray
    cluster at `address` (None: `RAY_ADDRESS` or a local one), one output per video under `out`.
    `engine_config`: (TOML text, path or None) of the engine for detect and key frames; `boxes`:
    the folder of the miner files for score; `options`: the keyword arguments of the binding's
    call (`Engine.detect_file`, `Engine.keyframes`, `fovea.score`). Returns a summary dict."""
    t0 = time.time()
    todo_all = plan(kind, inputs, out, boxes, options.get("format", "jsonl"))
    todo = [t for t in todo_all if not os.path.exists(t["out"])]
    rows, cluster = _on_actors(address, todo, Worker, (kind, engine_config, options), 1, lambda _: len(todo), actors,
                               cpus_per_actor, most_actors=len(todo) or 1)
    failed = {r["video"]: r["error"] for r in rows if r["error"]}
    return {
        "command": kind,
        "videos": len(todo_all),
        "skipped": len(todo_all) - len(todo),
        "done_now": len(rows) - len(failed),
        "failed": failed,
        **cluster,
        "video_seconds": sum(r["seconds"] for r in rows),
        "seconds": time.time() - t0,
    }


def _cluster_args(p):
    p.add_argument("inputs", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--address", default=None, help="the cluster (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--actors", type=int, default=None, help="actors (default: the cluster's CPUs / --cpus-per-actor)")
    p.add_argument("--cpus-per-actor", type=float, default=1)


def _engine_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--config", help="an engine configuration (TOML), as `fovea detect --config` takes")
    g.add_argument("--model", help="a model manifest (the engine's other settings at their defaults)")


def _engine_config(a):
    """The engine each actor loads: the configuration file as given, else the model (or the
    default one) with as many inference threads as the actor has CPUs (the CLI's default, one per
    core of the machine, would oversubscribe a node running several actors)."""
    if a.config:
        return ("", os.path.abspath(a.config))
    text = f"threads = {max(1, int(a.cpus_per_actor))}\n"
    if a.model:
        text += f"model = '{os.path.abspath(a.model)}'\n"
    return (text, None)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fovea.ray", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("detect", help="detect (and track, classify...) every video: one results file each")
    _cluster_args(d)
    _engine_args(d)
    d.add_argument("--format", choices=["jsonl", "scorevision"], default="jsonl")
    d.add_argument("--stride", type=int)
    d.add_argument("--max-fps", type=float)
    d.add_argument("--start", type=float)
    d.add_argument("--duration", type=float)
    d.add_argument("--iframes", action="store_true", default=None, help="only the key frames (I-frames)")
    k = sub.add_parser("keyframes", help="pick every video's key frames: one folder each")
    _cluster_args(k)
    _engine_args(k)
    k.add_argument("--max", type=int)
    k.add_argument("--min-gap", type=float)
    k.add_argument("--stride", type=int)
    k.add_argument("--policy")
    k.add_argument("--image-format", choices=["jpg", "png"])
    s = sub.add_parser("score", help="score every video's miner file as the validator does: one report each")
    _cluster_args(s)
    s.add_argument("--boxes", required=True, help="the folder of the miner files: DIR/<path>.json for the video <path>")
    s.add_argument("--classifier")
    s.add_argument("--policy")
    s.add_argument("--rules")
    s.add_argument("--line-frames", type=int)
    s.add_argument("--time", type=float)
    s.add_argument("--fastest", type=float)
    s.add_argument("--homography", choices=["opencv", "consensus"])
    e = sub.add_parser("embed", help="embed clips into a Parquet store on a Ray cluster")
    _cluster_args(e)
    e.add_argument("--clips-per-task", type=int, default=16)
    e.add_argument("--encoder")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--frames", type=int)
    g.add_argument("--every", type=float)
    e.add_argument("--per", choices=["clip", "frame"], default="clip")
    e.add_argument("--threads", type=int, default=1, help="encoder threads per actor")
    e.add_argument("--decoders", type=int, default=1, help="clips decoded at once per actor")
    a = ap.parse_args(argv)
    cluster = {"address": a.address, "actors": a.actors, "cpus_per_actor": a.cpus_per_actor}
    path = lambda v: None if v is None else os.path.abspath(v)  # noqa: E731
    if a.command == "embed":
        opts = {"per": a.per, "threads": a.threads, "decoders": a.decoders}
        if a.encoder:
            opts["encoder"] = os.path.abspath(a.encoder)
        if a.frames is not None:
            opts["frames"] = a.frames
        if a.every is not None:
            opts["every"] = a.every
        summary = embed(a.inputs, a.output, clips_per_task=a.clips_per_task, **cluster, **opts)
    else:
        if a.command == "detect":
            opts = {"format": a.format, "stride": a.stride, "max_fps": a.max_fps, "start": a.start, "duration": a.duration,
                    "iframes": a.iframes}
        elif a.command == "keyframes":
            opts = {"max": a.max, "min_gap": a.min_gap, "stride": a.stride, "policy": path(a.policy), "image_format": a.image_format}
        else:
            opts = {"classifier": path(a.classifier), "policy": path(a.policy), "rules": path(a.rules), "line_frames": a.line_frames,
                    "time": a.time, "fastest": a.fastest, "homography": a.homography}
        opts = {k: v for k, v in opts.items() if v is not None}
        extra = {"boxes": os.path.abspath(a.boxes)} if a.command == "score" else {"engine_config": _engine_config(a)}
        summary = run(a.command, a.inputs, os.path.abspath(a.output), **cluster, **extra, **opts)
    print(json.dumps(summary, indent=1))
    return 1 if summary.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
