"""The training loop of motlab_torch (src-main/training/trainer.ts in PyTorch): AdamW with warmup
+ cosine, gradient accumulation and clipping, per-modality losses every step, validation every
eval_every steps (and at step 0), atomic checkpoints every checkpoint_every steps and at the end,
exact resume; DistributedDataParallel across processes. train.py is the entry point.
"""
import contextlib
import os
import signal
import sys
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import ENGINE_NAME
from .config import expected_shapes, flops_per_token, tower_group_of
from .data import check_matches_model, load_spec, load_split, sample_train_windows
from .errors import MotlabError
from .evaluate import evaluate_loss
from .model import GlobalRouting, LocalRouting, MoTModel, lab_init_weights, modality_lookup
from .optim import AdamW, learning_rate
from .rng import Rng
from .run_folder import append_metrics, list_checkpoints, now_ms, to_json, truncate_metrics_after_step, update_run_status, write_checkpoint

DATA_SEED_SALT = 0x5EED1234


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


def js_number(x):
    """A number as the lab writes it in messages (NaN, Infinity), so both engines read alike."""
    if x is None:
        return "null"
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(float(x))


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
# Training

def device_available(name):
    return torch.cuda.is_available() if name == "cuda" else _mps_available() if name == "mps" else name == "cpu"


def pick_device(name, world):
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if not device_available(name):
        raise MotlabError("engine_unavailable", f"--device {name}: PyTorch sees no "
                          f"{'CUDA (or ROCm)' if name == 'cuda' else 'Apple MPS'} device here")
    if name == "cuda":
        return torch.device("cuda", world.local_rank % torch.cuda.device_count())
    if name == "mps":
        if world.distributed:
            raise MotlabError("engine_unavailable", "--device mps runs one process only (PyTorch has no MPS process group)")
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available():
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


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
    def setup(self, prepared):
        """prepared (rank 0): {"run", "loaded"} from train.prepare, or {"failure": (code, message)}."""
        args, world = self.args, self.world
        self.device = pick_device(args.device, world)
        if args.threads:
            torch.set_num_threads(args.threads)
        elif self.device.type == "cpu" and world.local_world_size > 1:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_world_size))
        world.init(self.device)

        # Rank 0 prepared the run folder and read the checkpoint; the others get what they need.
        loaded = prepared.get("loaded") if world.leader else None
        shared = world.broadcast_object({
            "failure": prepared.get("failure") if world.leader else None,
            "run": prepared.get("run") if world.leader else None,
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
        B = self.tc["batch_size"]  # at least one window per process (train.check_processes)
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
            # This step ran on the weights of step self.state["step"]: a checkpoint of that step holds
            # the weights that broke, so the last good one is the newest before it.
            found = list_checkpoints(self.run_dir) if world.leader else []
            broken = [c for c in found if c[0] == self.state["step"]]
            good = [c for c in found if c[0] < self.state["step"]]
            what = f"loss is {js_number(mean_loss)}" if not np.isfinite(mean_loss) else f"gradient norm is {js_number(grad_norm)}"
            per_modality = ", ".join(f"{m} {js_number(loss[m])}" for m in names)
            broken_ckpt = f"Checkpoint step {broken[0][0]} holds the weights that gave it. " if broken else ""
            last_ckpt = (f"The last good checkpoint is step {good[-1][0]} ({good[-1][1]}); " if good
                         else "No good checkpoint was written; ")
            message = (f"Training stopped at step {self.state['step'] + 1}: the {what} ({per_modality}). {broken_ckpt}{last_ckpt}"
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


