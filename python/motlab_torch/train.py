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
import contextlib
import json
import os
import signal
import sys
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import ENGINE_NAME
from .config import (PRESET_NAMES, SIZE_NAMES, TRAINING_DEFAULTS, build_model_config, check_run_config_file,
                     check_training_config, flops_per_token, tower_group_of)
from .data import check_matches_model, load_spec, load_split, sample_train_windows
from .distributed import World, launch_local
from .errors import MotlabError
from .evaluate import evaluate_loss
from .model import GlobalRouting, LocalRouting, MoTModel, lab_init_weights, modality_lookup
from .optim import AdamW, learning_rate
from .rng import Rng
from .run_folder import (RUN_JSON, list_checkpoints, now_iso, now_ms, read_checkpoint, read_run_json, to_json,
                         truncate_metrics_after_step, update_run_status, write_checkpoint, write_run_json,
                         append_metrics)

DATA_SEED_SALT = 0x5EED1234


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
# Events: what the lab's trainer emits (TrainEvent), printed for people or as JSON lines

class Events:
    def __init__(self, enabled, jsonl, total_steps):
        self.enabled, self.jsonl, self.total_steps = enabled, jsonl, total_steps

    def emit(self, event):
        if not self.enabled:
            return
        if self.jsonl:
            print(to_json(event), flush=True)
            return
        kind = event["type"]
        if kind == "engine":
            line = f"engine: {event['name']} ({event['detail']})"
        elif kind == "status":
            line = f"{event['status']}: {event['message']}" if event.get("message") else None
        elif kind == "checkpoint":
            line = f"checkpoint: step {event['step']}"
        elif event["record"]["type"] == "eval":
            r = event["record"]
            line = f"eval step {r['step']}: val {format_losses(r['loss'])} over {r['windows']} windows"
        else:
            r = event["record"]
            line = (f"step {r['step']}/{self.total_steps} {format_losses(r['loss'])} {round(r['tokens_per_s'])} tok/s "
                    f"{r['step_ms']:.0f} ms/step")
        if line:
            print(line, flush=True)

    def note(self, text):
        if self.enabled and not self.jsonl:
            print(text, flush=True)


def format_losses(loss):
    parts = ", ".join(f"{k} {'–' if v is None else f'{v:.3f}'}" for k, v in loss.items() if k != "all")
    return f"loss {loss['all']:.3f} ({parts})"


# ---------------------------------------------------------------------------------------------
# Control: signals (and stdin) set local flags; ranks agree on them once per step

class Control:
    def __init__(self):
        self.stop = False
        self.pause = False
        self.interrupts = 0

    def install(self, stdin):
        def on_stop(signum, frame):
            self.interrupts += 1
            if self.interrupts > 1:
                os._exit(130)
            self.stop = True

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        if hasattr(signal, "SIGUSR1"):
            signal.signal(signal.SIGUSR1, lambda s, f: setattr(self, "pause", True))
            signal.signal(signal.SIGUSR2, lambda s, f: setattr(self, "pause", False))
        if stdin:
            def read():
                for line in sys.stdin:
                    word = line.strip().lower()
                    if word == "pause":
                        self.pause = True
                    elif word == "resume":
                        self.pause = False
                    elif word == "stop":
                        self.stop = True
            threading.Thread(target=read, daemon=True).start()

    def agreed(self, world):
        stop, pause = world.all_reduce_cpu([float(self.stop), float(self.pause)], op="max")
        return stop > 0, pause > 0


# ---------------------------------------------------------------------------------------------
# Creating or resuming the run folder (rank 0)

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


def prepare_run(args, run_dir):
    """Create run.json (new run) or apply --steps/--checkpoint-every/--eval-every (resume)."""
    overrides = {k: v for k, v in (("steps", args.steps), ("checkpoint_every", args.checkpoint_every),
                                   ("eval_every", args.eval_every)) if v is not None}
    if args.resume:
        if not os.path.exists(os.path.join(run_dir, RUN_JSON)):
            raise MotlabError("not_found", f"{run_dir} holds no run to resume (no run.json); drop --resume to start a new run there")
        run = read_run_json(run_dir)
        if args.seed is not None and args.seed != run["seed"]:
            raise MotlabError("invalid_config", f"--seed cannot change on --resume (the run was started with seed {run['seed']})")
        run["training"] = check_training_config({**run["training"], **overrides})
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
    model = build_model_config(preset, size, spec, file.get("model", {}))
    now = now_iso()
    run = {"name": os.path.basename(os.path.normpath(run_dir)), "created": now, "updated": now, "preset": preset,
           "size": size, "model": model, "training": training, "dataset": {"path": data_dir, "name": spec["name"]},
           "engine": ENGINE_NAME, "seed": training["seed"], "status": "created"}
    write_run_json(run_dir, run)
    return run


def pick_device(name, world):
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise MotlabError("engine_unavailable", "--device cuda: PyTorch sees no CUDA (or ROCm) device here")
        return torch.device("cuda", world.local_rank % torch.cuda.device_count())
    if name == "mps":
        if not _mps_available():
            raise MotlabError("engine_unavailable", "--device mps: PyTorch sees no Apple MPS device here")
        if world.distributed:
            raise MotlabError("engine_unavailable", "--device mps runs one process only (PyTorch has no MPS process group)")
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available():
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


# ---------------------------------------------------------------------------------------------
# Training

class Trainer:
    def __init__(self, args, world, events, control):
        self.args, self.world, self.events, self.control = args, world, events, control
        self.run_dir = os.path.abspath(args.out)

    # -- rank 0 only ------------------------------------------------------------------------
    def set_status(self, status, message=None):
        if not self.world.leader:
            return
        update_run_status(self.run_dir, status=status, message=message, pid=os.getpid(), engine=ENGINE_NAME)
        self.events.emit({"type": "status", "status": status, **({"message": message} if message else {})})

    def log(self, record):
        if not self.world.leader:
            return
        append_metrics(self.run_dir, record)
        self.events.emit({"type": "metrics", "record": record})

    def save_checkpoint(self):
        if not self.world.leader:
            return
        model = {n: p.detach().cpu() for n, p in zip(self.model.names, self.model.plist)}
        optimizer = {n: t.detach().cpu() for n, t in self.optimizer.state_tensors().items()}
        write_checkpoint(self.run_dir, self.state["step"], model, optimizer, {**self.state, "data_rng": self.data_rng.state()},
                         self.cfg)
        self.events.emit({"type": "checkpoint", "step": self.state["step"]})

    def evaluate(self):
        if not self.world.leader or self.val is None:
            return
        result = evaluate_loss(self.model, self.val, self.tc["eval_windows"], self.device)
        self.log({"type": "eval", "step": self.state["step"], "time": now_ms(), "split": "val", **result})

    # -- every rank ---------------------------------------------------------------------------
    def setup(self):
        args, world = self.args, self.world
        self.device = pick_device(args.device, world)
        if args.threads:
            torch.set_num_threads(args.threads)
        elif self.device.type == "cpu" and world.local_world_size > 1:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_world_size))
        world.init(self.device)

        # Rank 0 prepares the run folder and reads the checkpoint; the others get what they need.
        run, loaded, failure = None, None, None
        if world.leader:
            try:
                run = prepare_run(args, self.run_dir)
                if args.resume and list_checkpoints(self.run_dir):
                    loaded = read_checkpoint(self.run_dir, "latest")
            except MotlabError as e:
                failure = (e.code, e.message)
        shared = world.broadcast_object({
            "failure": failure,
            "run": run,
            "state": loaded and loaded["state"],
            "checkpoint_dir": loaded and loaded["dir"],
            "has_optimizer": bool(loaded and loaded["optimizer"] is not None),
        })
        if shared["failure"]:
            raise MotlabError(*shared["failure"])
        self.run = shared["run"]
        self.cfg, self.tc = self.run["model"], self.run["training"]
        self.events.total_steps = self.tc["steps"]

        # Every rank reads the dataset (a launcher on several machines needs it on each).
        data_dir = os.path.abspath(args.data) if args.data else self.run["dataset"]["path"]
        problem = None
        try:
            spec = load_spec(data_dir)
            check_matches_model(self.cfg, spec, data_dir)
            self.train = load_split(data_dir, spec, "train")
            self.val = load_split(data_dir, spec, "val") if "val" in spec["splits"] else None
        except MotlabError as e:
            problem = (e.code, f"rank {world.rank}: {e.message}" if world.distributed else e.message)
        problems = world.all_reduce_cpu([0.0 if problem is None else 1.0])
        if problem:
            raise MotlabError(*problem)
        if problems[0] > 0:
            raise MotlabError("invalid_dataset", "another training process could not read the dataset (see its error)")

        weights = (lab_init_weights(self.cfg, self.tc["seed"]) if world.leader and not loaded else
                   loaded["model"] if loaded else None)
        if weights is None:  # ranks > 0: placeholders; DDP copies rank 0's weights at construction
            from .config import expected_shapes
            weights = {n: np.zeros(s, dtype=np.float32) for n, s in expected_shapes(self.cfg).items()}
        self.model = MoTModel(self.cfg, weights).to(self.device)
        self.model.train()
        self.optimizer = AdamW(list(zip(self.model.names, self.model.plist)), self.tc)
        self.data_rng = Rng((self.tc["seed"] & 0xFFFFFFFF) ^ DATA_SEED_SALT)
        self.state = {"step": 0, "tokens": 0, "flops": 0, "elapsed_s": 0, "data_rng": self.data_rng.state(),
                      "seed": self.tc["seed"], "engine": ENGINE_NAME, "lr": 0}
        if shared["state"] is not None:
            saved = shared["state"]
            if not shared["has_optimizer"]:
                raise MotlabError("invalid_checkpoint", f"{shared['checkpoint_dir']}: optimizer.safetensors is missing; cannot resume exactly")
            for key in ("step", "tokens", "flops", "elapsed_s", "data_rng"):
                if key not in saved:
                    raise MotlabError("invalid_checkpoint", f"{shared['checkpoint_dir']}/state.json lacks \"{key}\"; cannot resume")
            if world.leader:
                self.optimizer.load_state_tensors(loaded["optimizer"], saved["step"], shared["checkpoint_dir"])
            self.optimizer.step_count = saved["step"]
            self.data_rng = Rng(saved["data_rng"])
            self.state = {**self.state, **saved, "engine": ENGINE_NAME}
            if world.leader:
                truncate_metrics_after_step(self.run_dir, saved["step"])
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP
            # Every tower and expert runs on every rank, on zero rows if need be (model.grouped), so
            # every parameter has a gradient in every backward pass: no unused-parameter search,
            # and accumulation under no_sync keeps every micro-batch's gradient.
            self.net = DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                           broadcast_buffers=False)
            if shared["state"] is not None:
                world.broadcast_tensors([*self.optimizer.m.values(), *self.optimizer.v.values()])
            self.routing = GlobalRouting(world.routing_group, world.world_size, world.rank)
        else:
            self.net = self.model
            self.routing = LocalRouting()
        B = self.tc["batch_size"]
        if B < world.world_size:
            raise MotlabError("invalid_config", f"batch_size {B} is smaller than the number of processes ({world.world_size})")
        shares = [B // world.world_size + (1 if r < B % world.world_size else 0) for r in range(world.world_size)]
        self.window_slice = slice(sum(shares[:world.rank]), sum(shares[:world.rank + 1]))
        self.lookup = torch.as_tensor(modality_lookup(self.cfg))
        detail = (f"PyTorch {torch.__version__} on {self.device}, {world.world_size} process"
                  f"{'es (DDP over ' + world.backend + ')' if world.distributed else ''}, {torch.get_num_threads()} thread(s) each")
        self.events.emit({"type": "engine", "name": ENGINE_NAME, "detail": detail})

    def train_step(self):
        """One optimizer step; returns the train record."""
        cfg, tc, world = self.cfg, self.tc, self.world
        S, B, accum = cfg["seq_len"], tc["batch_size"], tc["grad_accum"]
        names = [m["name"] for m in cfg["modalities"]]
        M = len(names)
        started = time.perf_counter()
        lr = learning_rate(self.state["step"], tc)
        totals = np.zeros(1 + 2 * M)  # Σ CE, Σ CE per target modality, targets per modality
        aux_total, stats = 0.0, None
        for micro in range(accum):
            windows = sample_train_windows(self.train, S, B, self.data_rng)[self.window_slice]
            inputs = torch.as_tensor(windows[:, :-1], device=self.device)
            targets = torch.as_tensor(windows[:, 1:], device=self.device)
            last = micro == accum - 1
            sync = contextlib.nullcontext() if last or not world.distributed else self.net.no_sync()
            with sync:
                logits, aux, aux_value, layer_stats = self.net(inputs, routing=self.routing, with_stats=last)
                ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
                # DDP averages over processes: scale so the average is the gradient of the global mean.
                loss = ce.sum() * (world.world_size / (B * S)) + aux
                loss.backward()
            ce64 = ce.detach().cpu().double().numpy()
            tmod = self.lookup[targets.cpu().reshape(-1)].numpy()
            totals[0] += ce64.sum()
            np.add.at(totals, 1 + tmod, ce64)
            totals[1 + M:] += np.bincount(tmod, minlength=M)
            aux_total += float(aux_value)
            if last:
                stats = layer_stats
        totals = np.array(world.all_reduce_cpu(totals.tolist()))
        mean_loss = (totals[0] / (B * S) + aux_total) / accum

        params = list(zip(self.model.names, self.model.plist))
        exact = torch.float64 if self.device.type != "mps" else torch.float32
        squares = torch.stack([(p.grad.to(exact).pow(2).sum() if p.grad is not None else torch.zeros((), dtype=exact, device=p.device))
                               for _, p in params]).cpu().double().numpy() / (accum * accum)
        towers = {}
        for (name, _), sq in zip(params, squares):
            group = tower_group_of(cfg, name)
            towers[group] = towers.get(group, 0.0) + float(sq)
        grad_norm = float(np.sqrt(squares.sum()))
        loss = {"all": float(mean_loss)}
        for i, m in enumerate(names):
            loss[m] = float(totals[1 + i] / totals[1 + M + i]) if totals[1 + M + i] > 0 else None

        if not np.isfinite(mean_loss) or not np.isfinite(grad_norm):
            found = list_checkpoints(self.run_dir) if world.leader else []
            what = f"loss is {mean_loss}" if not np.isfinite(mean_loss) else f"gradient norm is {grad_norm}"
            per_modality = ", ".join(f"{m} {loss[m]}" for m in names)
            last_ckpt = (f"The last good checkpoint is step {found[-1][0]} ({found[-1][1]}); " if found
                         else "No checkpoint was written yet; ")
            message = (f"Training stopped at step {self.state['step'] + 1}: the {what} ({per_modality}). {last_ckpt}"
                       "lower the learning rate or raise warmup, then resume.")
            self.set_status("failed", message)
            raise MotlabError("non_finite_loss", message)

        clip = min(1.0, tc["grad_clip"] / (grad_norm + 1e-6)) if tc["grad_clip"] > 0 else 1.0
        self.optimizer.apply(lr, (1 / accum) * clip)
        for _, p in params:
            p.grad = None
        step_seconds = time.perf_counter() - started
        tokens_per_step = B * accum * S
        self.state = {**self.state, "step": self.state["step"] + 1, "tokens": self.state["tokens"] + tokens_per_step,
                      "flops": self.state["flops"] + flops_per_token(cfg, "train") * tokens_per_step,
                      "elapsed_s": self.state["elapsed_s"] + step_seconds, "lr": lr}
        record = {"type": "train", "step": self.state["step"], "time": now_ms(), "elapsed_s": self.state["elapsed_s"],
                  "tokens": self.state["tokens"], "flops": self.state["flops"], "lr": lr, "loss": loss,
                  "grad_norm": grad_norm, "grad_norm_towers": {k: float(np.sqrt(v)) for k, v in towers.items()},
                  "tokens_per_s": tokens_per_step / step_seconds, "step_ms": step_seconds * 1000}
        if stats:
            record["moe"] = stats
        return record

    def wait_while_paused(self):
        """-> True to go on, False when a stop arrived while paused."""
        stop, pause = self.control.agreed(self.world)
        if stop or not pause:
            return not stop
        self.set_status("paused")
        while True:
            time.sleep(0.2)
            stop, pause = self.control.agreed(self.world)
            if stop:
                return False
            if not pause:
                self.set_status("running")
                return True

    def loop(self):
        tc = self.tc
        self.set_status("running")
        if self.state["step"] == 0:
            self.evaluate()  # the curve starts at the untrained model
        while self.state["step"] < tc["steps"]:
            if not self.wait_while_paused():
                if self.world.leader:
                    found = list_checkpoints(self.run_dir)
                    if not found or found[-1][0] != self.state["step"]:
                        self.save_checkpoint()
                self.set_status("stopped", f"stopped at step {self.state['step']} of {tc['steps']}")
                return "stopped"
            record = self.train_step()
            self.log(record)
            step = self.state["step"]
            if step % tc["eval_every"] == 0 or step == tc["steps"]:
                self.evaluate()
            if step % tc["checkpoint_every"] == 0 or step == tc["steps"]:
                self.save_checkpoint()
        self.set_status("completed", f"completed {tc['steps']} steps")
        return "completed"


def run_rank(args):
    """Train as this process's rank; returns the exit code."""
    world = World()
    events = Events(world.leader, args.progress_jsonl, args.steps or 0)
    control = Control()
    control.install(args.control_stdin and world.leader)
    trainer = Trainer(args, world, events, control)
    try:
        trainer.setup()
        status = trainer.loop()
        events.note(f"run folder: {trainer.run_dir}")
        return 0 if status in ("completed", "stopped") else 1
    except MotlabError as e:
        if e.code != "non_finite_loss" and world.leader and os.path.exists(os.path.join(trainer.run_dir, RUN_JSON)) \
                and getattr(trainer, "run", None) is not None:
            with contextlib.suppress(Exception):
                trainer.set_status("failed", e.message)
        raise
    except Exception as e:
        if world.leader and getattr(trainer, "run", None) is not None:
            with contextlib.suppress(Exception):
                trainer.set_status("failed", f"{type(e).__name__}: {e}")
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
                    with contextlib.suppress(Exception):
                        update_run_status(run_dir, status="failed", message=message, pid=os.getpid(), engine=ENGINE_NAME)

            return launch_local(argv, args.nproc, lambda: run_rank(args), on_child_failure)
        return run_rank(args)
    except MotlabError as e:
        rank = os.environ.get("RANK", "0")
        prefix = "motlab_torch.train" + (f" (rank {rank})" if os.environ.get("WORLD_SIZE", "1") != "1" else "")
        print(f"{prefix}: {e.message}", file=sys.stderr, flush=True)
        return 2 if e.code in ("invalid_config", "conflict") else 1


def main(argv=None):
    sys.exit(run_from_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
