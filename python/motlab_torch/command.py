"""python3 -m motlab_torch.command: the torchrun command line and the files to copy, for a cluster
the lab cannot reach.

  python3 -m motlab_torch.command --config <preset|file.json> [--size S] --data DIR --name RUN
      [--nnodes N] [--nproc-per-node P] [--master-addr HOST] [--master-port PORT] [--device D]
      [--remote-root DIR] [--host HOST] [--steps N] [--checkpoint-every N] [--eval-every N] [--seed N]
      [--resume RUNDIR] [--json]

Prints what to copy (this package, the dataset, the config file; with --resume the run folder),
the command to start on each node, and how to bring the run folder back: the lab opens a run
folder synced back (rsync, a shared filesystem) and updates live as it grows. Nothing is run.
"""
import argparse
import json
import os
import shlex
import sys

from .config import PRESET_NAMES, SIZE_NAMES
from .data import load_spec
from .errors import MotlabError
from .train import read_config_arg

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python3 -m motlab_torch.command", description=__doc__.split("\n")[0])
    ap.add_argument("--config", help=f"a preset ({', '.join(PRESET_NAMES)}) or a JSON run config file")
    ap.add_argument("--size", choices=SIZE_NAMES)
    ap.add_argument("--data", help="the dataset folder here (it is copied)")
    ap.add_argument("--name", help="run name (the run folder's name on the cluster)")
    ap.add_argument("--resume", metavar="RUNDIR", help="continue this run folder (synced back earlier) on the cluster")
    ap.add_argument("--nnodes", type=int, default=1)
    ap.add_argument("--nproc-per-node", type=int, default=1, help="processes per node (usually its GPU count)")
    ap.add_argument("--master-addr", default="$MASTER_ADDR", help="address of node 0 (multi-node)")
    ap.add_argument("--master-port", type=int, default=29500)
    ap.add_argument("--device", default="cuda", choices=("auto", "cpu", "cuda", "mps"))
    ap.add_argument("--remote-root", default="motlab-job", help="folder on the cluster for package, data and runs")
    ap.add_argument("--host", default="HOST", help="cluster login host, for the copy commands")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--checkpoint-every", type=int)
    ap.add_argument("--eval-every", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    args = ap.parse_args(argv)
    for flag in ("nnodes", "nproc_per_node", "steps", "checkpoint_every", "eval_every"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise MotlabError("invalid_config", f"--{flag.replace('_', '-')} must be a positive integer, got {v}")
    return args


def plan(args):
    """-> {"files": [{"local", "remote", "what"}], "mkdir", "command": [argv], "env", "shell", "fetch", "notes": []}."""
    root = args.remote_root.rstrip("/")
    files = [{"local": PACKAGE_DIR, "remote": f"{root}/motlab_torch", "what": "the trainer (needs PyTorch and numpy only)"}]
    train_args = []
    if args.resume:
        run_dir = os.path.abspath(args.resume)
        run_file = os.path.join(run_dir, "run.json")
        if not os.path.exists(run_file):
            raise MotlabError("not_found", f"{run_dir} holds no run to resume (no run.json)")
        with open(run_file, encoding="utf-8") as f:
            run = json.load(f)
        name = args.name or os.path.basename(run_dir)
        data_dir = os.path.abspath(args.data) if args.data else run["dataset"]["path"]
        files.append({"local": run_dir, "remote": f"{root}/runs/{name}", "what": "the run folder to continue"})
    else:
        if not args.config or not args.data:
            raise MotlabError("invalid_config", "--config and --data are required (or --resume RUNDIR)")
        preset, config_file = read_config_arg(args.config)
        data_dir = os.path.abspath(args.data)
        name = args.name or f"{preset}-{args.size or config_file.get('size') or 'small'}"
        if args.config in PRESET_NAMES:
            train_args += ["--config", args.config]
        else:
            files.append({"local": os.path.abspath(args.config), "remote": f"{root}/{os.path.basename(args.config)}",
                          "what": "the run config file"})
            train_args += ["--config", f"{root}/{os.path.basename(args.config)}"]
        if args.size:
            train_args += ["--size", args.size]
    spec = load_spec(data_dir)
    remote_data = f"{root}/data/{os.path.basename(os.path.normpath(data_dir))}"
    files.append({"local": data_dir, "remote": remote_data,
                  "what": f"dataset {spec['name']} (dataset.json, {', '.join(f'{s}.tokens.npy' for s in spec['splits'])})"})
    train_args += ["--data", remote_data, "--out", f"{root}/runs/{name}", "--device", args.device]
    for flag in ("steps", "checkpoint_every", "eval_every", "seed"):
        if getattr(args, flag) is not None:
            train_args += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if args.resume:
        train_args.append("--resume")

    if args.nnodes == 1:
        launcher = ["torchrun", "--standalone", f"--nproc-per-node={args.nproc_per_node}"]
    else:
        launcher = ["torchrun", f"--nnodes={args.nnodes}", f"--nproc-per-node={args.nproc_per_node}", "--node-rank=$NODE_RANK",
                    f"--master-addr={args.master_addr}", f"--master-port={args.master_port}"]
    command = launcher + ["-m", "motlab_torch.train"] + train_args
    env = {"PYTHONPATH": root}
    quote = lambda a: a if a.startswith("--node-rank=$") or a.startswith("--master-addr=$") else shlex.quote(a)  # noqa: E731
    shell = f"PYTHONPATH={shlex.quote(root)} " + " ".join(quote(a) for a in command)
    notes = [
        "Only rank 0 (node 0) writes the run folder; every node needs the package and the dataset.",
        "The global batch is the config's batch_size whatever the number of processes (each takes its share).",
        f"Where torchrun is missing or broken (Debian's PyTorch 1.13 under Python 3.11), on one node: "
        f"PYTHONPATH={shlex.quote(root)} python3 -m motlab_torch.train --nproc {args.nproc_per_node} {' '.join(shlex.quote(a) for a in train_args)}; "
        "on several, any launcher that sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT per process (e.g. srun).",
        "Stop with SIGTERM (a checkpoint is written first); continue with --resume.",
    ]
    fetch = f"rsync -a {shlex.quote(args.host)}:{shlex.quote(root)}/runs/{shlex.quote(name)}/ ./runs/{shlex.quote(name)}/"
    mkdir = f"ssh {shlex.quote(args.host)} mkdir -p {shlex.quote(root)}/data {shlex.quote(root)}/runs"
    return {"files": files, "mkdir": mkdir, "command": command, "env": env, "shell": shell, "fetch": fetch, "notes": notes}


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        p = plan(args)
    except MotlabError as e:
        print(f"motlab_torch.command: {e.message}", file=sys.stderr)
        sys.exit(2 if e.code == "invalid_config" else 1)
    if args.json:
        print(json.dumps(p, indent=2))
        return
    print("# 1. Copy to the cluster (every node, or a shared filesystem):")
    print(p["mkdir"])
    for f in p["files"]:
        trailing = "/" if os.path.isdir(f["local"]) else ""
        print(f"rsync -a {shlex.quote(f['local'])}{trailing} {shlex.quote(args.host)}:{shlex.quote(f['remote'])}{trailing}   # {f['what']}")
    where = "the node" if args.nnodes == 1 else f"every node (NODE_RANK = 0 .. {args.nnodes - 1}; MASTER_ADDR = node 0)"
    print(f"\n# 2. Start on {where}, in the folder holding {args.remote_root} (your home, for a relative --remote-root):")
    print(p["shell"])
    print("\n# 3. Bring the run folder back (repeat while it trains; the lab updates live):")
    print(p["fetch"])
    print("\n# Notes")
    for n in p["notes"]:
        print(f"#  - {n}")


if __name__ == "__main__":
    main()
