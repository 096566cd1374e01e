"""python3 -m motlab_torch.train: train a MoT Lab model in PyTorch and write a lab run folder.

  python3 -m motlab_torch.train --config <preset|file.json> [--size tiny|small|base] --data DIR --out RUNDIR
      [--steps N] [--checkpoint-every N] [--eval-every N] [--seed N] [--resume]
      [--device auto|cpu|cuda|mps] [--nproc N] [--threads T] [--progress-jsonl] [--control-stdin]

The same semantics as `motlab train` (src-main/training/trainer.ts): AdamW with warmup + cosine,
gradient accumulation and clipping, per-modality losses every step, validation every eval_every
steps (and at step 0), atomic checkpoints every checkpoint_every steps and at the end, exact
resume from the latest checkpoint. Initial weights and training windows come from the lab's own
generator, so a run started here and one started by the lab are the same run.

Processes: one by default; `--nproc N` starts N local processes; under torchrun (or any launcher
setting RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) each process is one rank. The global batch is
the config's batch_size whatever the number of processes: every rank draws the same global batch
and takes its share of consecutive windows; DistributedDataParallel averages gradients and the
loss is scaled so the average is the gradient of the global mean. MoE routing gathers the router
probabilities of all ranks, so expert choice and token-choice capacity see the global batch just
as one process would. Only rank 0 touches the run folder.

Control: SIGTERM / SIGINT stop after the current step with a checkpoint (a second one exits at
once); SIGUSR1 pauses, SIGUSR2 resumes; with --control-stdin, lines "pause", "resume", "stop".
--progress-jsonl prints one JSON event per line on stdout (the lab's TrainEvent shapes).
"""
import argparse
import json
import os
import sys

from . import ENGINE_NAME
from .config import PRESET_NAMES, SIZE_NAMES, TRAINING_DEFAULTS, build_model_config, check_run_config_file, check_training_config
from .data import load_spec
from .distributed import World, launch_local
from .errors import MotlabError
from .lock import acquire_run_lock
from .run_folder import RUN_JSON, list_checkpoints, now_iso, read_checkpoint, read_run_json, update_run_status, write_run_json


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python3 -m motlab_torch.train", description=__doc__.split("\n")[0])
    ap.add_argument("--config", help=f"a preset ({', '.join(PRESET_NAMES)}) or a JSON run config file")
    ap.add_argument("--size", choices=SIZE_NAMES, help="model and schedule size (default: small, or the config file's)")
    ap.add_argument("--data", help="dataset folder (dataset.json + <split>.tokens.npy); with --resume, a new location of the run's dataset")
    ap.add_argument("--out", required=True, help="run folder to create (or to continue with --resume)")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--checkpoint-every", type=int)
    ap.add_argument("--eval-every", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    ap.add_argument("--nproc", type=int, default=1, help="start N local processes (DDP); ignored under a launcher")
    ap.add_argument("--threads", type=int, help="torch threads per process (default: cores / local processes)")
    ap.add_argument("--progress-jsonl", action="store_true", help="print one JSON event per line on stdout")
    ap.add_argument("--control-stdin", action="store_true", help='read "pause", "resume", "stop" lines from stdin')
    args = ap.parse_args(argv)
    for flag in ("steps", "checkpoint_every", "eval_every", "nproc", "threads"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise MotlabError("invalid_config", f"--{flag.replace('_', '-')} must be a positive integer, got {v}")
    if args.seed is not None and args.seed < 0:
        raise MotlabError("invalid_config", f"--seed must be a non-negative integer, got {args.seed}")
    return args


# ---------------------------------------------------------------------------------------------
# Creating or resuming the run folder (rank 0, before PyTorch is even imported: bad input fails fast)

def read_config_arg(config_arg):
    if config_arg in PRESET_NAMES:
        return config_arg, {}
    if config_arg.endswith(".json") or os.path.exists(config_arg):
        try:
            with open(config_arg, encoding="utf-8") as f:
                raw = json.load(f)
        except FileNotFoundError:
            raise MotlabError("invalid_config", f"cannot read config file {config_arg}: no such file") from None
        except (OSError, ValueError) as e:
            raise MotlabError("invalid_config", f"cannot read config file {config_arg}: {e}") from None
        file = check_run_config_file(raw, config_arg)
        return file.get("preset", "dense"), file
    raise MotlabError("invalid_config", f'--config "{config_arg}" is neither a preset ({", ".join(PRESET_NAMES)}) nor a JSON file')


def check_processes(training, processes):
    if training["batch_size"] < processes:
        raise MotlabError("invalid_config", f"batch_size {training['batch_size']} is smaller than the number of processes "
                                            f"({processes}): every process needs at least one window of the global batch")


# The run lock this process holds (rank 0 only), released when the entry point returns.
held_lock = None


def take_run_lock(run_dir):
    global held_lock
    if held_lock is None:
        held_lock = acquire_run_lock(run_dir, "train")


def release_run_lock():
    global held_lock
    if held_lock is not None:
        held_lock.release()
        held_lock = None


def prepare_run(args, run_dir, processes=1):
    """Create run.json (new run) or apply --steps/--checkpoint-every/--eval-every (resume), under the run lock."""
    overrides = {k: v for k, v in (("steps", args.steps), ("checkpoint_every", args.checkpoint_every),
                                   ("eval_every", args.eval_every)) if v is not None}
    if args.resume:
        if not os.path.exists(os.path.join(run_dir, RUN_JSON)):
            raise MotlabError("not_found", f"{run_dir} holds no run to resume (no run.json); drop --resume to start a new run there")
        take_run_lock(run_dir)
        run = read_run_json(run_dir)
        if args.seed is not None and args.seed != run["seed"]:
            raise MotlabError("invalid_config", f"--seed cannot change on --resume (the run was started with seed {run['seed']})")
        run["training"] = check_training_config({**run["training"], **overrides})
        check_processes(run["training"], processes)
        run["updated"] = now_iso()
        write_run_json(run_dir, run)
        return run
    if os.path.exists(os.path.join(run_dir, RUN_JSON)):
        raise MotlabError("conflict", f"{run_dir} already holds a run; pass --resume to continue it, or choose another --out")
    if not args.config:
        raise MotlabError("invalid_config", "--config <preset|file.json> is required")
    if not args.data:
        raise MotlabError("invalid_config", "--data <datasetDir> is required")
    preset, file = read_config_arg(args.config)
    size = args.size or file.get("size") or "small"
    data_dir = os.path.abspath(args.data)
    spec = load_spec(data_dir)
    if args.seed is not None:
        overrides["seed"] = args.seed
    training = check_training_config({**TRAINING_DEFAULTS[size], **file.get("training", {}), **overrides})
    check_processes(training, processes)
    model = build_model_config(preset, size, spec, file.get("model", {}))
    now = now_iso()
    run = {"name": os.path.basename(os.path.normpath(run_dir)), "created": now, "updated": now, "preset": preset,
           "size": size, "model": model, "training": training, "dataset": {"path": data_dir, "name": spec["name"]},
           "engine": ENGINE_NAME, "seed": training["seed"], "status": "created"}
    take_run_lock(run_dir)
    write_run_json(run_dir, run)
    return run


def check_device(args, processes):
    """An explicitly requested device that is missing fails before the run folder is made."""
    if args.device == "mps" and processes > 1:
        raise MotlabError("engine_unavailable", "--device mps runs one process only (PyTorch has no MPS process group)")
    if args.device in ("cuda", "mps"):
        from .trainer import device_available
        if not device_available(args.device):
            raise MotlabError("engine_unavailable", f"--device {args.device}: PyTorch sees no "
                              f"{'CUDA (or ROCm)' if args.device == 'cuda' else 'Apple MPS'} device here")


def prepare(args, processes):
    """The run folder made ready and the checkpoint to resume from: {"run", "loaded"}."""
    run_dir = os.path.abspath(args.out)
    run = prepare_run(args, run_dir, processes)
    loaded = read_checkpoint(run_dir, "latest") if args.resume and list_checkpoints(run_dir) else None
    return {"run": run, "loaded": loaded}


# ---------------------------------------------------------------------------------------------

def run_rank(args, prepared=None):
    """Train as this process's rank; returns the exit code. `prepared`: rank 0's prepare(args)."""
    world = World()
    if world.leader and prepared is None:
        check_device(args, world.world_size)
        try:
            prepared = prepare(args, world.world_size)
        except MotlabError as e:
            if not world.distributed:
                raise
            prepared = {"failure": (e.code, e.message)}  # the other ranks learn it at start-up
    from .trainer import Control, Events, Trainer
    events = Events(world.leader, args.progress_jsonl, args.steps or 0)
    control = Control()
    control.install(args.control_stdin and world.leader)
    trainer = Trainer(args, world, events, control)
    try:
        trainer.setup(prepared or {})
        status = trainer.loop()
        events.note(f"run folder: {trainer.run_dir}")
        return 0 if status in ("completed", "stopped") else 1
    except MotlabError as e:
        if e.code != "non_finite_loss" and world.leader and getattr(trainer, "run", None) is not None:
            try:
                trainer.set_status("failed", e.message)
            except Exception:  # noqa: BLE001 - the original error is what matters
                pass
        raise
    except Exception as e:
        if world.leader and getattr(trainer, "run", None) is not None:
            try:
                trainer.set_status("failed", f"{type(e).__name__}: {e}")
            except Exception:  # noqa: BLE001
                pass
        raise
    finally:
        world.shutdown()


def run_from_argv(argv):
    try:
        args = parse_args(argv)
        if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
            run_dir = os.path.abspath(args.out)

            def on_child_failure(message):
                print(f"motlab_torch.train: {message}", file=sys.stderr, flush=True)
                if os.path.exists(os.path.join(run_dir, RUN_JSON)):
                    try:
                        update_run_status(run_dir, status="failed", message=message, pid=os.getpid(), engine=ENGINE_NAME)
                    except Exception:  # noqa: BLE001 - reporting the child's failure is what matters
                        pass

            check_device(args, args.nproc)
            prepared = prepare(args, args.nproc)  # bad input fails here, before any process starts
            return launch_local(argv, args.nproc, lambda: run_rank(args, prepared), on_child_failure)
        return run_rank(args)
    except MotlabError as e:
        rank = os.environ.get("RANK", "0")
        prefix = "motlab_torch.train" + (f" (rank {rank})" if os.environ.get("WORLD_SIZE", "1") != "1" else "")
        print(f"{prefix}: {e.message}", file=sys.stderr, flush=True)
        return 2 if e.code in ("invalid_config", "conflict") else 1
    finally:
        release_run_lock()


def main(argv=None):
    sys.exit(run_from_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
