"""`fovea embed` on a Ray cluster (issue 15):

    python -m fovea.ray embed INPUT... -o STORE [--address auto] [--actors N] [--clips-per-task 16]
        [--encoder M.toml] [--frames K | --every S] [--per clip|frame]

The driver lists the clips (as `fovea embed` does: folders walked, `class/clip.ext` labelled, list
files read), leaves out those already in the store, and makes a Ray Dataset of them split into
blocks; `map_batches` runs a pool of actors, each holding fovea through the Python binding (one
encoder session, its own decoder threads), on blocks of clips. Each actor commits its clips
straight into the store as fovea part files (atomic, so the store has the schema, the metadata and
the resumability of `fovea embed`: a rerun after any failure finishes the job) and returns one
summary row per clip. STORE must be a folder every node sees (a shared file system); inputs too.
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


def embed(inputs, store, address=None, actors=None, clips_per_task=16, cpus_per_actor=1, **options):
    """Runs the job on the Ray cluster at `address` (None: `RAY_ADDRESS` or a local one). Returns a
    summary dict."""
    import ray
    import fovea

    t0 = time.time()
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    clips = fovea.collect_clips(inputs)
    os.makedirs(store, exist_ok=True)
    done = set()
    if any(n.startswith("part-") for n in os.listdir(store)):
        import pyarrow.dataset as ds
        done = set(ds.dataset(store, format="parquet").to_table(columns=["path"]).column("path").to_pylist())
    todo = [{"path": c["path"], "label": c["label"] or ""} for c in clips if c["path"] not in done]
    nodes = [n for n in ray.nodes() if n["Alive"]]
    if actors is None:
        actors = max(1, int(sum(n["Resources"].get("CPU", 0) for n in nodes) // cpus_per_actor))
    rows = []
    if todo:
        ds = ray.data.from_items(todo, override_num_blocks=max(1, min(len(todo), actors * 4)))
        out = ds.map_batches(
            Embedder,
            fn_constructor_args=(os.path.abspath(store), options),
            batch_size=clips_per_task,
            concurrency=actors,
            num_cpus=cpus_per_actor,
            batch_format="numpy",
        )
        rows = out.take_all()
    summary = {
        "clips": len(clips),
        "skipped": len(clips) - len(todo),
        "embedded_now": len(rows),
        "actors": actors,
        "nodes": len(nodes),
        "nodes_used": len({r["node"] for r in rows}),
        "processes_used": len({(r["node"], r["pid"]) for r in rows}),
        "seconds": time.time() - t0,
    }
    ray.shutdown()
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fovea.ray", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed", help="embed clips into a Parquet store on a Ray cluster")
    e.add_argument("inputs", nargs="+")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--address", default=None, help="the cluster (default: RAY_ADDRESS, else a local Ray)")
    e.add_argument("--actors", type=int, default=None, help="actors (default: the cluster's CPUs / --cpus-per-actor)")
    e.add_argument("--cpus-per-actor", type=float, default=1)
    e.add_argument("--clips-per-task", type=int, default=16)
    e.add_argument("--encoder")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--frames", type=int)
    g.add_argument("--every", type=float)
    e.add_argument("--per", choices=["clip", "frame"], default="clip")
    e.add_argument("--threads", type=int, default=1, help="encoder threads per actor")
    e.add_argument("--decoders", type=int, default=1, help="clips decoded at once per actor")
    a = ap.parse_args(argv)
    opts = {"per": a.per, "threads": a.threads, "decoders": a.decoders}
    if a.encoder:
        opts["encoder"] = os.path.abspath(a.encoder)
    if a.frames is not None:
        opts["frames"] = a.frames
    if a.every is not None:
        opts["every"] = a.every
    s = embed(a.inputs, a.output, address=a.address, actors=a.actors, clips_per_task=a.clips_per_task,
              cpus_per_actor=a.cpus_per_actor, **opts)
    print(json.dumps(s, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
