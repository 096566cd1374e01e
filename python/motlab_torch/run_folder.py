"""The lab's run folder (docs/architecture.md "Checkpoint files", src-main/checkpoints/run-folder.ts):

  <run>/run.json          config, dataset reference, engine, seed, status (atomic rewrites)
  <run>/metrics.jsonl     one JSON object per line, append-only, fsynced per append
  <run>/checkpoints/step-000500/{model.safetensors, optimizer.safetensors, state.json}

Crash safety as in the lab: run.json is replaced atomically; a checkpoint is written into a
temporary sibling directory (".tmp-" prefix, invisible to listers) and renamed into place only
when every file in it is on disk.
"""
import datetime
import json
import math
import os
import re
import secrets
import shutil

from . import safetensors
from .config import check_model_config, check_training_config, expected_shapes
from .errors import MotlabError

RUN_JSON = "run.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
TEMP_PREFIX = ".tmp-"
RUN_STATUSES = ("created", "running", "paused", "completed", "stopped", "failed")
# "workers": the lab's gradient workers (docs/workers.md); informative here.
RUN_KEYS = ("name", "created", "preset", "size", "model", "training", "dataset", "engine", "workers", "seed", "status",
            "message", "pid", "updated")
REQUIRED_RUN_KEYS = ("name", "created", "model", "training", "dataset", "engine", "seed", "status", "updated")
ISO_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$")


def now_iso():
    """As JavaScript's Date.toISOString(): UTC, milliseconds, "Z"."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms():
    return int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)


def to_json(value, indent=None):
    """JSON as the lab writes it: non-finite numbers become null (JSON.stringify does the same)."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(value), indent=indent, separators=None if indent else (",", ":"), allow_nan=False)


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows, where directories cannot be opened (NTFS journals metadata)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_sibling(path):
    return os.path.join(os.path.dirname(path), f"{TEMP_PREFIX}{os.path.basename(path)}-{os.getpid()}-{secrets.token_hex(4)}")


def write_durable(path, data):
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path, data):
    tmp = temp_sibling(path)
    try:
        write_durable(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    fsync_dir(os.path.dirname(path) or ".")


# ---------------------------------------------------------------------------------------------
# run.json

def check_run_json(run, file):
    def fail(field, why):
        raise MotlabError("invalid_config", f"{file}: {field}: {why}")

    if not isinstance(run, dict):
        fail("(root)", "expected an object")
    for k in run:
        if k not in RUN_KEYS:
            fail(k, "unknown field")
    for k in REQUIRED_RUN_KEYS:
        if k not in run:
            fail(k, "required")
    if not isinstance(run["name"], str) or not run["name"]:
        fail("name", "a non-empty string is required")
    for k in ("created", "updated"):
        if not isinstance(run[k], str) or not ISO_DATETIME.match(run[k]):
            fail(k, "an ISO date-time is required")
    check_model_config(run["model"], f"{file}: model")
    check_training_config(run["training"], f"{file}: training")
    ds = run["dataset"]
    if not isinstance(ds, dict) or set(ds) != {"path", "name"} or not all(isinstance(v, str) for v in ds.values()):
        fail("dataset", 'expected {"path": string, "name": string}')
    if not isinstance(run["engine"], str) or not run["engine"]:
        fail("engine", "a non-empty string is required")
    if not isinstance(run["seed"], int) or run["seed"] < 0:
        fail("seed", "a non-negative integer is required")
    if run["status"] not in RUN_STATUSES:
        fail("status", f"must be one of {', '.join(RUN_STATUSES)}")
    if "pid" in run and (not isinstance(run["pid"], int) or run["pid"] <= 0):
        fail("pid", "a positive integer is required")
    return run


def read_run_json(run_dir):
    file = os.path.join(run_dir, RUN_JSON)
    try:
        with open(file, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise MotlabError("not_found", f"{file}: no run.json (is {run_dir} a run folder?)") from None
    try:
        run = json.loads(text)
    except ValueError as e:
        raise MotlabError("invalid_config", f"{file}: not valid JSON ({e})") from None
    return check_run_json(run, file)


def write_run_json(run_dir, run):
    check_run_json(run, f"run.json for {run_dir}")
    os.makedirs(run_dir, exist_ok=True)
    write_atomic(os.path.join(run_dir, RUN_JSON), (to_json(run, indent=2) + "\n").encode("utf-8"))


def update_run_status(run_dir, **patch):
    """Read, patch, stamp `updated`, write back; a value None removes the field."""
    run = read_run_json(run_dir)
    run.update(patch)
    run["updated"] = now_iso()
    for k, v in patch.items():
        if v is None:
            run.pop(k, None)
    write_run_json(run_dir, run)
    return run


# ---------------------------------------------------------------------------------------------
# metrics.jsonl

def append_metrics(run_dir, record):
    """Append one record as a JSON line and fsync; a torn final line (a crash) is cut off first."""
    file = os.path.join(run_dir, METRICS_FILE)
    line = (to_json(record) + "\n").encode("utf-8")
    with open(file, "a+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size > 0:
            f.seek(size - 1)
            if f.read(1) != b"\n":
                f.seek(0)
                data = f.read()
                f.truncate(data.rfind(b"\n") + 1)
        f.seek(0, os.SEEK_END)
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_metrics(run_dir):
    """Complete records of metrics.jsonl (a torn last line is not one yet)."""
    file = os.path.join(run_dir, METRICS_FILE)
    try:
        with open(file, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    records = []
    complete = data[:data.rfind(b"\n") + 1]
    for number, raw in enumerate(complete.split(b"\n"), 1):
        text = raw.decode("utf-8").strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError as e:
            raise MotlabError("invalid_checkpoint", f"{file}:{number}: corrupt metrics record, not valid JSON ({e})") from None
        if not isinstance(value, dict):
            raise MotlabError("invalid_checkpoint", f"{file}:{number}: corrupt metrics record, not a JSON object")
        records.append(value)
    return records


def truncate_metrics_after_step(run_dir, step):
    """On resume from `step`: keep records with step <= step (and those without a numeric step)."""
    file = os.path.join(run_dir, METRICS_FILE)
    if not os.path.exists(file):
        return
    kept = [r for r in read_metrics(run_dir)
            if not isinstance(r.get("step"), (int, float)) or isinstance(r.get("step"), bool) or r["step"] <= step]
    write_atomic(file, "".join(to_json(r) + "\n" for r in kept).encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Checkpoints

def checkpoint_dir_name(step):
    return f"step-{step:06d}"


def list_checkpoints(run_dir):
    """Complete checkpoints [(step, dir)], oldest first."""
    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        m = re.fullmatch(r"step-(\d+)", entry)
        d = os.path.join(root, entry)
        if m and all(os.path.isfile(os.path.join(d, f)) for f in (MODEL_FILE, STATE_FILE)):
            found.append((int(m.group(1)), d))
    return sorted(found)


def tensor_mismatches(cfg, tensors):
    expected = expected_shapes(cfg)
    problems = []
    missing = [n for n in expected if n not in tensors]
    unexpected = [n for n in tensors if n not in expected]
    if missing:
        problems.append(f"missing tensors {', '.join(missing[:5])}" + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected tensors {', '.join(unexpected[:5])}" + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""))
    for name, shape in expected.items():
        if name in tensors and list(tensors[name].shape) != shape:
            problems.append(f"tensor {name} has shape {list(tensors[name].shape)}, the config needs {shape}")
    return problems


def write_checkpoint(run_dir, step, model, optimizer, state, cfg):
    """model/optimizer: {name: tensor}; state: dict (step is set here). Returns the directory."""
    problems = tensor_mismatches(cfg, model)
    if problems:
        raise MotlabError("internal", f"write_checkpoint: model tensors do not match the config: {'; '.join(problems)}")
    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    if not os.path.isdir(root):
        os.makedirs(root, exist_ok=True)
        fsync_dir(run_dir)
    for entry in os.listdir(root):
        if entry.startswith(TEMP_PREFIX):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
    final = os.path.join(root, checkpoint_dir_name(step))
    temp = temp_sibling(final)
    os.mkdir(temp)
    write_durable(os.path.join(temp, MODEL_FILE),
                  safetensors.encode(model, {"format": "motlab", "config": json.dumps(cfg, separators=(",", ":"))}))
    write_durable(os.path.join(temp, OPTIMIZER_FILE),
                  safetensors.encode(optimizer, {"format": "motlab-optimizer", "step": str(step)}))
    write_durable(os.path.join(temp, STATE_FILE), (to_json({**state, "step": step}, indent=2) + "\n").encode("utf-8"))
    fsync_dir(temp)
    old = None
    if os.path.exists(final):  # a resume from an earlier checkpoint reaches this step again
        old = temp_sibling(final)
        os.rename(final, old)
    os.rename(temp, final)
    fsync_dir(root)
    if old:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_model_file(file):
    """A model.safetensors of the lab or of any implementation of docs/architecture.md -> (config, tensors)."""
    tensors, metadata = safetensors.read_file(file)
    if metadata.get("format") != "motlab":
        raise MotlabError("invalid_checkpoint", f"{file}: __metadata__.format is {json.dumps(metadata.get('format'))}, expected \"motlab\"")
    if "config" not in metadata:
        raise MotlabError("invalid_checkpoint", f"{file}: __metadata__ has no \"config\"")
    try:
        cfg = json.loads(metadata["config"])
    except ValueError as e:
        raise MotlabError("invalid_checkpoint", f"{file}: __metadata__.config is not valid JSON ({e})") from None
    try:
        check_model_config(cfg, f"{file}: config")
    except MotlabError as e:
        raise MotlabError("invalid_checkpoint", str(e)) from None
    problems = tensor_mismatches(cfg, tensors)
    if problems:
        raise MotlabError("invalid_checkpoint", f"{file}: tensors do not match the config in its metadata: {'; '.join(problems)}")
    import numpy as np
    for name, t in tensors.items():
        if not np.isfinite(t).all():
            raise MotlabError("invalid_checkpoint", f"{file}: tensor {name} holds a non-finite value at index {int(np.flatnonzero(~np.isfinite(t))[0])}")
    return cfg, tensors


def read_checkpoint(run_dir, step="latest"):
    """-> {"step", "dir", "config", "model", "optimizer" (or None), "state"}."""
    found = list_checkpoints(run_dir)
    entry = found[-1] if step == "latest" and found else next((c for c in found if c[0] == step), None)
    if entry is None:
        have = f"available steps: {', '.join(str(s) for s, _ in found)}" if found else "it has no checkpoints"
        raise MotlabError("not_found", f"{run_dir}: no checkpoint {'yet' if step == 'latest' else f'at step {step}'} ({have})")
    number, d = entry
    cfg, model = read_model_file(os.path.join(d, MODEL_FILE))
    optimizer = None
    if os.path.exists(os.path.join(d, OPTIMIZER_FILE)):
        optimizer = safetensors.read_file(os.path.join(d, OPTIMIZER_FILE))[0]
    state_file = os.path.join(d, STATE_FILE)
    try:
        with open(state_file, encoding="utf-8") as f:
            state = json.load(f)
    except ValueError as e:
        raise MotlabError("invalid_checkpoint", f"{state_file}: not valid JSON ({e})") from None
    if not isinstance(state, dict):
        raise MotlabError("invalid_checkpoint", f"{state_file}: not a JSON object")
    if state.get("step") != number:
        raise MotlabError("invalid_checkpoint",
                          f"{state_file}: step is {json.dumps(state.get('step'))}, but the directory is {checkpoint_dir_name(number)}")
    return {"step": number, "dir": d, "config": cfg, "model": model, "optimizer": optimizer, "state": state}
