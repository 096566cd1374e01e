"""The lab's dataset format (README "Datasets", src-main/data/{format,dataset}.ts): a folder with
dataset.json and, per split, a 1-D `<split>.tokens.npy` of uint16 or int32 token ids. Training
windows are random crops of seq_len + 1 tokens drawn with the run's Rng (exactly one draw per
window, so the Rng state is the whole data cursor); evaluation windows are the non-overlapping
windows [k S, k S + S] from the start of the split.
"""
import json
import os
import re

import numpy as np

from .errors import MotlabError


def load_spec(data_dir):
    file = os.path.join(data_dir, "dataset.json")
    try:
        with open(file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise MotlabError("not_found", f"Dataset file {file} is missing or unreadable ({e.strerror or e})") from None
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise MotlabError("invalid_dataset", f"{file} is not valid JSON ({e})") from None

    def fail(field, why):
        raise MotlabError("invalid_dataset", f"{file}: {field}: {why}")

    if not isinstance(spec, dict):
        fail("(root)", "expected an object")
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        fail("name", "a non-empty string is required")
    V = spec.get("vocab_size")
    if not isinstance(V, int) or isinstance(V, bool) or V < 2:
        fail("vocab_size", "an integer >= 2 is required")
    mods = spec.get("modalities")
    if not isinstance(mods, list) or not 1 <= len(mods) <= 8:
        fail("modalities", "a list of 1 to 8 modalities is required")
    for i, m in enumerate(mods):
        if not isinstance(m, dict) or set(m) != {"name", "start", "end"}:
            fail(f"modalities.{i}", 'expected exactly {"name", "start", "end"}')
        if not isinstance(m["name"], str) or not re.fullmatch(r"[a-z][a-z0-9_]*", m["name"]):
            fail(f"modalities.{i}.name", 'a lowercase identifier such as "text"')
        if not all(isinstance(m[k], int) and not isinstance(m[k], bool) for k in ("start", "end")) or m["start"] < 0:
            fail(f"modalities.{i}", "start and end must be non-negative integers")
        if m["end"] <= m["start"]:
            fail(f"modalities.{i}.end", "must be greater than start")
        if m["end"] > V:
            fail(f"modalities.{i}.end", f"exceeds vocab_size ({V})")
        for j, o in enumerate(mods[:i]):
            if m["start"] < o["end"] and o["start"] < m["end"]:
                fail(f"modalities.{i}", f'token range overlaps "{o["name"]}"')
            if m["name"] == o["name"]:
                fail(f"modalities.{i}.name", f'duplicate modality "{m["name"]}"')
    splits = spec.get("splits")
    if not isinstance(splits, list) or not splits or not all(isinstance(s, str) and re.fullmatch(r"[a-z][a-z0-9_-]*", s) for s in splits):
        fail("splits", "a non-empty list of split names such as \"train\" is required")
    return spec


def load_split(data_dir, spec, split):
    """A split's tokens (memory-mapped), every id checked against the modality ranges."""
    if split not in spec["splits"]:
        raise MotlabError("invalid_dataset", f"{data_dir} has no split \"{split}\" (it has {', '.join(spec['splits'])})")
    file = os.path.join(data_dir, f"{split}.tokens.npy")
    try:
        tokens = np.load(file, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise MotlabError("not_found", f"Dataset file {file} is missing") from None
    except (ValueError, OSError) as e:
        raise MotlabError("invalid_dataset", f"{file}: not a valid .npy file ({e})") from None
    if tokens.dtype not in (np.dtype("<u2"), np.dtype("<i4")):
        raise MotlabError("invalid_dataset", f"{file}: token ids must be uint16 or int32, found dtype {tokens.dtype.str}")
    if tokens.ndim != 1:
        raise MotlabError("invalid_dataset", f"{file}: token ids must be a 1-D array, found shape {tokens.shape}")
    table = modality_table(spec)
    count, first = 0, -1
    chunk = 1 << 22
    for begin in range(0, len(tokens), chunk):
        part = np.asarray(tokens[begin:begin + chunk], dtype=np.int64)
        bad = (part < 0) | (part >= len(table))
        bad[~bad] = table[part[~bad]] < 0
        if bad.any():
            first = begin + int(np.flatnonzero(bad)[0]) if first < 0 else first
            count += int(bad.sum())
    if count:
        token = int(tokens[first])
        where = f"outside [0, {spec['vocab_size']})" if token < 0 or token >= spec["vocab_size"] else "in no modality's range"
        ranges = ", ".join(f"{m['name']} [{m['start']}, {m['end']})" for m in spec["modalities"])
        raise MotlabError("invalid_dataset", f"{file}: {count} invalid token id(s); the first is {token} at position {first} "
                                             f"({where}). Modalities: {ranges}")
    return tokens


def modality_table(spec):
    table = np.full(max([spec["vocab_size"]] + [m["end"] for m in spec["modalities"]]), -1, dtype=np.int64)
    for i, m in enumerate(spec["modalities"]):
        table[m["start"]:m["end"]] = i
    return table


def check_matches_model(cfg, spec, source):
    describe = lambda ms: " ".join(f"{m['name']}[{m['start']},{m['end']})" for m in ms)  # noqa: E731
    if spec["vocab_size"] != cfg["vocab_size"] or describe(spec["modalities"]) != describe(cfg["modalities"]):
        raise MotlabError("invalid_dataset",
                          f"{source} does not match the model: dataset vocab {spec['vocab_size']} {describe(spec['modalities'])}, "
                          f"model vocab {cfg['vocab_size']} {describe(cfg['modalities'])}")


def sample_train_windows(tokens, seq_len, batch_size, rng):
    """[batch_size, seq_len + 1] int64 random crops; one rng.int call per window (sampleTrainBatch)."""
    starts = len(tokens) - seq_len
    if starts < 1:
        raise MotlabError("invalid_dataset",
                          f"The training split has {len(tokens)} tokens; a window of seq_len {seq_len} needs at least {seq_len + 1}")
    out = np.empty((batch_size, seq_len + 1), dtype=np.int64)
    for b in range(batch_size):
        s = rng.int(starts)
        out[b] = tokens[s:s + seq_len + 1]
    return out


def eval_window_count(length, seq_len, max_windows):
    available = (length - 1) // seq_len if length > seq_len else 0
    return max(0, min(int(max_windows), available))


def eval_windows(tokens, seq_len, first, count):
    """Windows first .. first+count-1 as [count, seq_len + 1] int64 (inputs = [:, :-1], targets = [:, 1:])."""
    return np.stack([np.asarray(tokens[k * seq_len:k * seq_len + seq_len + 1], dtype=np.int64)
                     for k in range(first, first + count)])
