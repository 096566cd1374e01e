"""python3 -m motlab_torch.bench: ms per training step of the real trainer, 1 and N processes.

  python3 -m motlab_torch.bench [--presets dense,mot] [--size small] [--nproc 1,2] [--steps 10]
      [--warmup 2] [--threads 1] [--data DIR] [--json]

Each (preset, process count) trains a fresh run folder with `python3 -m motlab_torch.train` for
warmup + steps steps and reports the median `step_ms` of the steps after the warm-up, as the
trainer logs it (forward, backward, gradient all-reduce and optimizer; not evaluation or
checkpoints). --data defaults to the lab's built-in fashion-tri dataset.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from .config import PRESET_NAMES, SIZE_NAMES

BUILTIN_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "assets", "datasets", "fashion-tri")


def measure(preset, size, nproc, steps, warmup, threads, data, work):
    out = os.path.join(work, f"{preset}-{size}-{nproc}")
    config = os.path.join(work, f"{preset}-{size}.json")
    with open(config, "w") as f:
        json.dump({"preset": preset, "size": size,
                   "training": {"steps": warmup + steps, "eval_every": 100000, "checkpoint_every": 100000, "eval_windows": 1}}, f)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(__file__)), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, "-m", "motlab_torch.train", "--config", config, "--data", data, "--out", out,
                        "--nproc", str(nproc), "--threads", str(threads), "--device", "cpu"],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"motlab_torch.bench: training {preset} {size} with {nproc} process(es) failed:\n{r.stderr}")
    with open(os.path.join(out, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    times = [r["step_ms"] for r in records if r["type"] == "train" and r["step"] > warmup]
    with open(os.path.join(out, "run.json")) as f:
        run = json.load(f)
    return {"preset": preset, "size": size, "nproc": nproc, "threads": threads, "ms_per_step": statistics.median(times),
            "steps": len(times), "batch": run["training"]["batch_size"], "seq_len": run["model"]["seq_len"]}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m motlab_torch.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--presets", default="dense,mot")
    ap.add_argument("--size", default="small", choices=SIZE_NAMES)
    ap.add_argument("--nproc", default="1,2")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--data", default=BUILTIN_DATA)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    presets = args.presets.split(",")
    for p in presets:
        if p not in PRESET_NAMES:
            ap.error(f"unknown preset {p!r} (presets: {', '.join(PRESET_NAMES)})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="motlab-torch-bench-") as work:
        for preset in presets:
            for n in (int(x) for x in args.nproc.split(",")):
                row = measure(preset, args.size, n, args.steps, args.warmup, args.threads, os.path.abspath(args.data), work)
                rows.append(row)
                if not args.json:
                    print(f"{preset:>12} {args.size:<6} {n} process(es) x {args.threads} thread(s): "
                          f"{row['ms_per_step']:8.1f} ms/step (median of {row['steps']}, batch {row['batch']} x {row['seq_len']})",
                          flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
