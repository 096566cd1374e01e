#!/usr/bin/env python3
"""An independent PyTorch implementation of docs/architecture.md (the MoT Lab model family).

Written from the spec, not from the lab's TypeScript, so that the two can check each other:
a checkpoint written by the lab must give the same losses here, and a model written here must
load in the lab. Needs only Debian's python3-torch + python3-numpy; run it with
/usr/bin/python3. The safetensors reader/writer (python/motlab_torch/safetensors.py) is our
own (json/struct/numpy), not the pip `safetensors` package.

CLI (stable; other code and tests depend on it)
-----------------------------------------------
  torch_mot.py eval --checkpoint <dir with model.safetensors | the file> [--checkpoint ...]
                    --data <datasetDir> [--split val] [--windows N] [--threads T] [--json]
      Evaluation loss. Window k (k = 0, 1, ..., N-1; default: every window that fits) uses
      tokens[k*S : k*S+S] as inputs and tokens[k*S+1 : k*S+S+1] as targets, S = seq_len;
      it stops early when the split has too few tokens. The loss of modality m is the mean
      cross-entropy over positions whose TARGET token is of modality m; "all" is the mean over
      every target. No auxiliary losses. Prints (with --json) one line:
        {"step": <state.json step or null>, "windows": N,
         "loss": {"all": x, "<modality>": x | null, ...},
         "targets": {"all": n, "<modality>": n, ...}}
      With several --checkpoint options, one such line per checkpoint, in the order given.
      Batching: a model with any MoE tower is evaluated ONE WINDOW PER FORWARD PASS, because
      expert-choice routing sees the whole batch and token-choice capacity depends on the
      number of tokens in it; the lab's evaluation does the same. Dense/MoT models are
      evaluated in batches of windows (mathematically identical).

  torch_mot.py hidden --checkpoint <dir | file> --out <file.safetensors> [--checkpoint ... --out ...]
                      --data <datasetDir> [--split val] [--windows N]
      The residual stream after every block for eval's windows (MoE models one window per
      forward pass, as eval), written as safetensors: `layers.{l}` F32 [N, D] for each layer l
      (N = windows * S, window-major), `modality` I32 [N] (index into the modalities, input
      tokens), `token` I32 [N], `position` I32 [N] (index in the window), and
      __metadata__ {"modalities": "<JSON list of names>"}. One --out per --checkpoint, in order;
      prints {"out", "windows", "layers"} per checkpoint.

  torch_mot.py init --config <model config .json> --out <dir> [--seed N] [--norm-noise X]
      Random weights for the config -> <dir>/model.safetensors (metadata {"format": "motlab",
      "config": <config JSON>}) and <dir>/state.json {"step": 0}. Linear weights ~ N(0, 1/in),
      embedding ~ N(0, 1), norm weights 1 + X * N(0, 1) (X = 0 by default).

  torch_mot.py bench --config <model config .json> --batch B --steps N
                     [--threads T] [--warmup W] [--seed N]
      N AdamW steps on uniformly random tokens after W warm-up steps (default 2), prints JSON
      {"ms_per_step", "steps", "warmup", "batch", "seq_len", "threads", "params",
       "gflop_per_step", "gflop_per_s", "final_loss", "torch"}; ms_per_step excludes warm-up.

  torch_mot.py shapes --config <model config .json>
      Prints {tensor name: shape} of docs/architecture.md's table, in table order.

  torch_mot.py selftest
      Checks the model against this file: the tower-grouped model equals a per-token loop
      reference (every preset style, both norm styles, qk_norm, both MoE routings), dense
      equals MoT when every tower holds the same weights, causality, RoPE, gradients and the
      safetensors reader/writer. Prints "selftest ok" and exits 0, or raises.

A model config file is the JSON object stored in the checkpoint metadata (snake_case fields of
docs/architecture.md); a file of the form {"model": {...}} is accepted too. --threads sets
torch.set_num_threads (default 1).

The model itself is python/motlab_torch/model.py (the repository's one PyTorch model, also
used by the motlab_torch trainer); its docstring lists the choices the spec leaves open. This
script adds the command line above, the random test initialisation of `init`, and the self-test's
per-token loop reference, written as differently as possible from the model.
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# The model lives in the motlab_torch package (python/ in the repository); this script is its
# command line for the lab's parity tests and benchmarks.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from motlab_torch import safetensors  # noqa: E402
from motlab_torch.config import (COMPONENTS, check_model_config, expected_shapes, moe_towers,  # noqa: E402,F401
                                 parameter_counts, tower_of_modality)
from motlab_torch.errors import MotlabError  # noqa: E402
from motlab_torch.model import (RMS_EPS, MoTModel, modality_lookup, rope_tables, rotate_half,  # noqa: E402,F401
                                token_losses)


def check_config(cfg):
    """A model config dict (or {"model": {...}}), validated; raises MotlabError naming the field."""
    if "model" in cfg and isinstance(cfg["model"], dict) and "vocab_size" not in cfg:
        cfg = cfg["model"]
    return check_model_config(cfg)


def write_safetensors(path, tensors, metadata=None, int_as_i32=False):
    safetensors.write_file(path, tensors, metadata, int_as_i32)


def read_safetensors(path):
    return safetensors.read_file(path)


def init_weights(cfg, seed=0, norm_noise=0.0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in expected_shapes(cfg).items():
        if len(shape) == 1:
            out[name] = 1.0 + norm_noise * torch.randn(shape, generator=g)
        elif name == "embed.weight":
            out[name] = torch.randn(shape, generator=g)
        else:
            out[name] = torch.randn(shape, generator=g) / math.sqrt(shape[1])
    return {n: w.numpy() for n, w in out.items()}


# ---------------------------------------------------------------------------------------------
# Data

def load_dataset_split(data_dir, split):
    with open(os.path.join(data_dir, "dataset.json")) as f:
        spec = json.load(f)
    if split not in spec.get("splits", []):
        raise ValueError(f"{data_dir}: dataset has no split {split!r} (has {spec.get('splits')})")
    path = os.path.join(data_dir, f"{split}.tokens.npy")
    tokens = np.load(path, mmap_mode="r", allow_pickle=False)
    if tokens.ndim != 1 or tokens.dtype not in (np.dtype("<u2"), np.dtype("<i4")):
        raise ValueError(f"{path}: expected a 1-D uint16 or int32 array, got {tokens.dtype} {tokens.shape}")
    return spec, tokens


def load_checkpoint_model(path):
    file = os.path.join(path, "model.safetensors") if os.path.isdir(path) else path
    tensors, metadata = read_safetensors(file)
    if metadata.get("format") != "motlab" or "config" not in metadata:
        raise ValueError(f"{file}: __metadata__ lacks format=motlab and config")
    cfg = check_config(json.loads(metadata["config"]))
    step = None
    state_file = os.path.join(os.path.dirname(file), "state.json")
    if os.path.exists(state_file):
        with open(state_file) as f:
            step = json.load(f).get("step")
    return MoTModel(cfg, tensors), step


# ---------------------------------------------------------------------------------------------
# Commands

def cmd_eval(args):
    for path in args.checkpoint:
        eval_checkpoint(path, args)


def eval_windows(cfg, args):
    """(tokens, n windows, windows per forward pass) of eval's windows for this checkpoint's config."""
    spec, tokens = load_dataset_split(args.data, args.split)
    if spec["vocab_size"] != cfg["vocab_size"] or [(m["name"], m["start"], m["end"]) for m in spec["modalities"]] != [
            (m["name"], m["start"], m["end"]) for m in cfg["modalities"]]:
        raise ValueError(f"{args.data}: vocabulary or modalities differ from the checkpoint's config")
    available = max(0, (len(tokens) - 1) // cfg["seq_len"])
    n = available if args.windows is None else min(args.windows, available)
    return tokens, n, 1 if cfg.get("moe") else 8


def eval_checkpoint(path, args):
    model, step = load_checkpoint_model(path)
    model.eval()
    cfg = model.cfg
    S = cfg["seq_len"]
    tokens, n, batch = eval_windows(cfg, args)
    names = [m["name"] for m in cfg["modalities"]]
    sums = np.zeros(len(names) + 1)
    counts = np.zeros(len(names) + 1, dtype=np.int64)
    lookup = modality_lookup(cfg)
    with torch.no_grad():
        for k0 in range(0, n, batch):
            ks = range(k0, min(n, k0 + batch))
            win = np.stack([np.asarray(tokens[k * S:k * S + S + 1], dtype=np.int64) for k in ks])
            inputs, targets = torch.as_tensor(win[:, :-1]), torch.as_tensor(win[:, 1:])
            ce = token_losses(model, inputs, targets).double().numpy().reshape(-1)
            tmod = lookup[win[:, 1:].reshape(-1)]
            sums[-1] += ce.sum()
            counts[-1] += ce.size
            for i in range(len(names)):
                sel = tmod == i
                sums[i] += ce[sel].sum()
                counts[i] += sel.sum()
    mean = lambda i: float(sums[i] / counts[i]) if counts[i] else None
    result = {"step": step, "windows": n,
              "loss": {"all": mean(-1), **{name: mean(i) for i, name in enumerate(names)}},
              "targets": {"all": int(counts[-1]), **{name: int(counts[i]) for i, name in enumerate(names)}}}
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(f"step {step}, {n} windows of {S} tokens")
        for key, value in result["loss"].items():
            print(f"  {key:>10}: {'-' if value is None else f'{value:.6f}'}  ({result['targets'][key]} targets)")


def cmd_hidden(args):
    if len(args.out) != len(args.checkpoint):
        raise ValueError("hidden: give one --out per --checkpoint")
    for path, out in zip(args.checkpoint, args.out):
        hidden_states(path, out, args)


def hidden_states(path, out_file, args):
    model, _ = load_checkpoint_model(path)
    model.eval()
    cfg = model.cfg
    S = cfg["seq_len"]
    tokens, n, batch = eval_windows(cfg, args)
    inputs = np.stack([np.asarray(tokens[k * S:k * S + S], dtype=np.int64) for k in range(n)]) if n else np.zeros((0, S), np.int64)
    layers = [[] for _ in range(cfg["n_layers"])]
    with torch.no_grad():
        for k0 in range(0, n, batch):
            hidden = []
            model(torch.as_tensor(inputs[k0:k0 + batch]), hidden=hidden)
            for l, h in enumerate(hidden):
                layers[l].append(h.reshape(-1, cfg["d_model"]).numpy())
    D = cfg["d_model"]
    out = {f"layers.{l}": np.concatenate(hs) if hs else np.zeros((0, D), np.float32) for l, hs in enumerate(layers)}
    flat = inputs.reshape(-1)
    out["token"] = flat.astype(np.int32)
    out["modality"] = modality_lookup(cfg)[flat].astype(np.int32)
    out["position"] = np.tile(np.arange(S, dtype=np.int32), n)
    write_safetensors(out_file, out, {"modalities": json.dumps([m["name"] for m in cfg["modalities"]])}, int_as_i32=True)
    print(json.dumps({"out": out_file, "windows": n, "layers": cfg["n_layers"]}), flush=True)


def read_config_file(path):
    with open(path) as f:
        return check_config(json.load(f))


def cmd_init(args):
    cfg = read_config_file(args.config)
    weights = init_weights(cfg, args.seed, args.norm_noise)
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), weights,
                      {"format": "motlab", "config": json.dumps(cfg)})
    with open(os.path.join(args.out, "state.json"), "w") as f:
        json.dump({"step": 0, "source": "torch_mot.py init", "seed": args.seed}, f)
    print(json.dumps({"out": args.out, "tensors": len(weights)}))


def cmd_bench(args):
    torch.set_num_threads(args.threads)
    cfg = read_config_file(args.config)
    torch.manual_seed(args.seed)
    model = MoTModel(cfg, init_weights(cfg, args.seed))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    S, V = cfg["seq_len"], cfg["vocab_size"]
    lookup = torch.as_tensor(modality_lookup(cfg))
    usable = (lookup >= 0).nonzero(as_tuple=True)[0]
    counts = parameter_counts(cfg)["active_per_modality"]
    active = [counts[m["name"]] for m in cfg["modalities"]]
    times, loss_value, flops = [], float("nan"), 0.0
    for step in range(args.warmup + args.steps):
        batch = usable[torch.randint(len(usable), (args.batch, S + 1))]
        start = time.perf_counter()
        logits, aux = model(batch[:, :-1])[:2]
        loss = F.cross_entropy(logits.reshape(-1, V), batch[:, 1:].reshape(-1)) + aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - start
        if step >= args.warmup:
            times.append(elapsed)
            mods = lookup[batch[:, :-1]].reshape(-1).tolist()
            flops += sum(6 * active[m] + 12 * cfg["n_layers"] * S * cfg["d_model"] for m in mods)
        loss_value = loss.item()
    ms = 1000 * sum(times) / max(1, len(times))
    gflop = flops / max(1, len(times)) / 1e9
    print(json.dumps({"ms_per_step": ms, "steps": args.steps, "warmup": args.warmup, "batch": args.batch, "seq_len": S,
                      "threads": args.threads, "params": sum(p.numel() for p in model.parameters()),
                      "gflop_per_step": gflop, "gflop_per_s": gflop / (ms / 1000) if ms else None,
                      "final_loss": loss_value, "torch": torch.__version__}))


def cmd_shapes(args):
    print(json.dumps(expected_shapes(read_config_file(args.config))))


# ---------------------------------------------------------------------------------------------
# Self-test: a per-token loop reference, written as differently as possible from the model.

def reference_forward(cfg, W, tokens):
    """Token by token, loop by loop. W: {name: tensor}; tokens [B, S]. -> (logits, aux)."""
    B, S = tokens.shape
    D, H = cfg["d_model"], cfg["n_heads"]
    hd = D // H
    lookup = modality_lookup(cfg)
    towers = {c: tower_of_modality(cfg, c) for c in COMPONENTS}
    flat = [int(x) for x in tokens.reshape(-1)]
    mods = [int(lookup[x]) for x in flat]
    tw = lambda c, i: towers[c][mods[i]]

    def rms(x, w):
        return x / torch.sqrt((x * x).mean() + RMS_EPS) * w

    def rope(x, pos):  # x [hd]: pairs (j, j + hd/2) rotated by pos * theta^(-2j/hd)
        out = x.clone()
        for j in range(hd // 2):
            ang = pos * cfg["rope_theta"] ** (-2.0 * j / hd)
            c, s = math.cos(ang), math.sin(ang)
            out[j] = x[j] * c - x[j + hd // 2] * s
            out[j + hd // 2] = x[j + hd // 2] * c + x[j] * s
        return out

    def dense_ffn(x, w1, w2, w3):
        a = w1 @ x
        return w2 @ (a * torch.sigmoid(a) * (w3 @ x))

    aux = torch.zeros((), dtype=W["embed.weight"].dtype)
    h = [W["embed.weight"][x].clone() for x in flat]
    for l in range(cfg["n_layers"]):
        P = lambda name: W[f"layers.{l}.{name}"]
        xa = [rms(h[i], P(f"attention_norm.{tw('norm', i)}.weight")) if cfg["norm_style"] == "pre" else h[i]
              for i in range(len(flat))]
        q, k, v = [], [], []
        for i in range(len(flat)):
            t = tw("attention", i)
            qi, ki, vi = (P(f"attention.{w}.{t}.weight") @ xa[i] for w in ("wq", "wk", "wv"))
            heads_q, heads_k = [], []
            for j in range(H):
                qh, kh = qi[j * hd:(j + 1) * hd], ki[j * hd:(j + 1) * hd]
                if cfg["qk_norm"]:
                    qh = rms(qh, P(f"attention.q_norm.{t}.weight"))
                    kh = rms(kh, P(f"attention.k_norm.{t}.weight"))
                pos = i % S
                heads_q.append(rope(qh, pos))
                heads_k.append(rope(kh, pos))
            q.append(heads_q)
            k.append(heads_k)
            v.append([vi[j * hd:(j + 1) * hd] for j in range(H)])
        u = []
        for i in range(len(flat)):
            b0 = (i // S) * S
            heads = []
            for j in range(H):
                scores = torch.stack([q[i][j] @ k[m][j] / math.sqrt(hd) for m in range(b0, i + 1)])
                weights = torch.exp(scores - scores.max())
                weights = weights / weights.sum()
                heads.append(sum(weights[m - b0] * v[m][j] for m in range(b0, i + 1)))
            o = P(f"attention.wo.{tw('attention', i)}.weight") @ torch.cat(heads)
            if cfg["norm_style"] == "chameleon":
                u.append(h[i] + rms(o, P(f"attention_norm.{tw('norm', i)}.weight")))
            else:
                u.append(h[i] + o)
        ffn_in = u if cfg["norm_style"] == "chameleon" else [rms(u[i], P(f"ffn_norm.{tw('norm', i)}.weight")) for i in range(len(flat))]
        ffn_out = [None] * len(flat)
        for t in range(len(cfg["towers"]["ffn"])):
            members = [i for i in range(len(flat)) if tw("ffn", i) == t]
            if not members:
                continue
            if t not in moe_towers(cfg):
                for i in members:
                    ffn_out[i] = dense_ffn(ffn_in[i], *(P(f"feed_forward.{w}.{t}.weight") for w in ("w1", "w2", "w3")))
                continue
            moe = cfg["moe"]
            E, n = moe["experts"], len(members)
            expert = lambda e, x: dense_ffn(x, *(P(f"feed_forward.experts.{t}.{e}.{w}.weight") for w in ("w1", "w2", "w3")))
            probs = {}
            lse = []
            for i in members:
                logit = P(f"feed_forward.router.{t}.weight") @ ffn_in[i]
                probs[i] = torch.softmax(logit, 0)
                lse.append(torch.logsumexp(logit, 0))
                ffn_out[i] = torch.zeros(D, dtype=logit.dtype)
            if moe["routing"] == "token_choice":
                cap = math.ceil(moe["capacity_factor"] * n * moe["top_k"] / E)
                used = [0] * E
                first_counts = [0] * E
                for i in members:
                    ranked = sorted(range(E), key=lambda e: (-probs[i][e].item(), e))[:moe["top_k"]]
                    first_counts[ranked[0]] += 1
                    total = sum(probs[i][e] for e in ranked)
                    for e in ranked:
                        used[e] += 1
                        if used[e] <= cap:
                            gate = probs[i][e] / total if moe["renormalize"] else probs[i][e]
                            ffn_out[i] = ffn_out[i] + gate * expert(e, ffn_in[i])
                mean_p = [sum(probs[i][e] for i in members) / n for e in range(E)]
                aux = aux + moe["aux_loss"] * E * sum(first_counts[e] / n * mean_p[e] for e in range(E))
                aux = aux + moe["z_loss"] * sum(x * x for x in lse) / n
            else:
                cap = min(n, math.ceil(moe["capacity_factor"] * n / E))
                for e in range(E):
                    picked = sorted(members, key=lambda i: (-probs[i][e].item(), i))[:cap]
                    for i in picked:
                        ffn_out[i] = ffn_out[i] + probs[i][e] * expert(e, ffn_in[i])
        if cfg["norm_style"] == "chameleon":
            h = [u[i] + rms(ffn_out[i], P(f"ffn_norm.{tw('norm', i)}.weight")) for i in range(len(flat))]
        else:
            h = [u[i] + ffn_out[i] for i in range(len(flat))]
    logits = [W["output.weight"] @ rms(h[i], W[f"norm.{tw('norm', i)}.weight"]) for i in range(len(flat))]
    return torch.stack(logits).reshape(B, S, -1), aux


def selftest_config(kind, norm_style="chameleon", qk_norm=False, routing="expert_choice"):
    names = ["text", "image", "speech"]
    shared, untied = [names], [[n] for n in names]
    towers = {
        "dense": dict(attention=shared, ffn=shared, norm=shared),
        "mot": dict(attention=untied, ffn=untied, norm=untied),
        "mot-ffn": dict(attention=shared, ffn=untied, norm=shared),
        "text-isolated": dict(attention=[["text"], ["image", "speech"]], ffn=[["text"], ["image", "speech"]],
                              norm=[["text"], ["image", "speech"]]),
        "moe": dict(attention=shared, ffn=shared, norm=shared),
        "mot-moe": dict(attention=untied, ffn=untied, norm=untied),
        "mixed": dict(attention=[["image"], ["text", "speech"]], ffn=untied, norm=[["speech", "text"], ["image"]]),
    }[kind]
    cfg = {"vocab_size": 24, "d_model": 8, "n_layers": 2, "n_heads": 2, "ffn_hidden": 12, "seq_len": 10,
           "norm_style": norm_style, "qk_norm": qk_norm, "rope_theta": 10000.0,
           "modalities": [{"name": "text", "start": 0, "end": 12}, {"name": "image", "start": 12, "end": 20},
                          {"name": "speech", "start": 20, "end": 24}],
           "towers": towers}
    if kind in ("moe", "mot-moe"):
        tc = routing == "token_choice"
        cfg["moe"] = {"experts": 3, "routing": routing, "top_k": 2 if tc else 1, "capacity_factor": 0.8 if tc else 1.3,
                      "renormalize": tc, "aux_loss": 0.01 if tc else 0.0, "z_loss": 0.001 if tc else 0.0,
                      "towers": [0]}
    return check_config(cfg)


TOWER_INDEX = re.compile(r"^(layers\.\d+\.attention\.\w+\.|layers\.\d+\.(?:attention_norm|ffn_norm)\."
                         r"|layers\.\d+\.feed_forward\.(?:w1|w2|w3|router|experts)\.|norm\.)\d+")


def untower(name):
    """The name of the same weight in a one-tower model: the tower index becomes 0."""
    return TOWER_INDEX.sub(lambda m: m.group(1) + "0", name)


def selftest():
    import tempfile
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 24, (2, 10), generator=g)
    tokens[0, :6] = torch.tensor([0, 1, 2, 3, 4, 5])  # a run of text, so towers are uneven
    checked = 0

    def model64(cfg, seed):
        return MoTModel(cfg, init_weights(cfg, seed, 0.3)).double()

    # 1. Grouped model == per-token loop reference, for every structural variant.
    variants = []
    for kind in ("dense", "mot", "mot-ffn", "text-isolated", "mixed"):
        for style in ("chameleon", "pre"):
            for qk in (False, True):
                variants.append(selftest_config(kind, style, qk))
    for kind in ("moe", "mot-moe"):
        for routing in ("token_choice", "expert_choice"):
            for style in ("chameleon", "pre"):
                variants.append(selftest_config(kind, style, style == "pre", routing))
    for i, cfg in enumerate(variants):
        m = model64(cfg, seed=i)
        with torch.no_grad():
            logits, aux = m(tokens)[:2]
            ref, ref_aux = reference_forward(cfg, m.weights(), tokens)
        err = (logits - ref).abs().max().item()
        assert err < 1e-10, f"variant {i} ({cfg['towers']}, {cfg['norm_style']}, moe={cfg.get('moe')}): max diff {err}"
        assert abs(aux.item() - ref_aux.item()) < 1e-12, f"variant {i}: aux {aux.item()} vs {ref_aux.item()}"
        if cfg.get("moe", {}).get("routing") == "token_choice":
            assert aux.item() > 0
        checked += 1

    # 2. Dense == MoT when every tower holds the dense weights (also with a shared MoE FFN).
    for dense_kind, mot_kind, routing in (("dense", "mot", None), ("dense", "mixed", None), ("moe", "moe", "token_choice")):
        for style in ("chameleon", "pre"):
            dcfg = selftest_config(dense_kind, style, True, routing or "expert_choice")
            dense = model64(dcfg, seed=7)
            mcfg = selftest_config(mot_kind, style, True, routing or "expert_choice")
            if dense_kind == "moe":  # split attention and norms, keep the one MoE ffn tower
                mcfg["towers"] = dict(attention=[["text"], ["image"], ["speech"]], ffn=[["text", "image", "speech"]],
                                      norm=[["image"], ["text", "speech"]])
            dw = {n: w.detach().numpy() for n, w in dense.weights().items()}
            tied = {name: dw[untower(name)] for name in expected_shapes(mcfg)}
            mot = MoTModel(mcfg, tied).double()
            with torch.no_grad():
                a, aux_a = dense(tokens)[:2]
                b, aux_b = mot(tokens)[:2]
            assert (a - b).abs().max().item() < 1e-12, f"dense vs tied MoT ({mot_kind}, {style}) differ"
            assert abs(aux_a.item() - aux_b.item()) < 1e-15
            checked += 1

    # 3. Causality (not for expert-choice, which sees the whole batch by design).
    cfg = selftest_config("mot-moe", "chameleon", True, "token_choice")
    cfg["moe"]["capacity_factor"] = 10.0  # no drops, so routing is per token
    m = model64(cfg, seed=3)
    changed = tokens.clone()
    changed[:, 6] = (changed[:, 6] + 5) % 24
    with torch.no_grad():
        a = m(tokens)[0]
        b = m(changed)[0]
    assert (a[:, :6] - b[:, :6]).abs().max().item() < 1e-12 and (a[:, 6:] - b[:, 6:]).abs().max().item() > 1e-6
    checked += 1

    # 4. RoPE: a rotated q.k depends only on the offset of the positions.
    cos, sin = rope_tables(16, 8, 10000.0, torch.float64)
    qv, kv = torch.randn(8, dtype=torch.float64, generator=g), torch.randn(8, dtype=torch.float64, generator=g)
    rot = lambda x, p: x * cos[p] + rotate_half(x) * sin[p]
    assert abs(rot(qv, 7) @ rot(kv, 3) - rot(qv, 12) @ rot(kv, 8)) < 1e-12
    assert abs(rot(qv, 0) @ rot(kv, 0) - qv @ kv) < 1e-12
    checked += 1

    # 5. Gradients reach every weight a token used (training mode, float32, aux included).
    cfg = selftest_config("mot-moe", "chameleon", True, "token_choice")
    m = MoTModel(cfg, init_weights(cfg, 5))
    logits, aux = m(tokens)[:2]
    loss = F.cross_entropy(logits.reshape(-1, 24), torch.roll(tokens, -1, 1).reshape(-1)) + aux
    loss.backward()
    for name, p in zip(m.names, m.plist):
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert m.plist[m.names.index("layers.0.feed_forward.router.0.weight")].grad.abs().sum() > 0
    checked += 1

    # 6. safetensors: write/read round trip, BF16 and F16 reading, header layout.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.safetensors")
        ws = init_weights(cfg, 1, 0.2)
        write_safetensors(path, ws, {"format": "motlab", "config": json.dumps(cfg)})
        back, meta = read_safetensors(path)
        assert json.loads(meta["config"]) == cfg and set(back) == set(ws)
        assert all(np.array_equal(back[n], ws[n]) for n in ws)
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
        assert n % 8 == 0
        a = np.array([1.5, -2.25, 3.0e-3], dtype="<f4")
        h = json.dumps({"b": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
                        "h": {"dtype": "F16", "shape": [3], "data_offsets": [6, 12]}}).encode()
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + (a.view("<u4") >> 16).astype("<u2").tobytes() + a.astype("<f2").tobytes())
        back, _ = read_safetensors(path)
        assert np.array_equal(back["b"], ((a.view("<u4") >> 16) << 16).view("<f4"))
        assert np.array_equal(back["h"], a.astype("<f2").astype("<f4"))
    checked += 1
    print(f"selftest ok ({checked} checks)")


# ---------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    e = sub.add_parser("eval")
    e.add_argument("--checkpoint", required=True, action="append")
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="val")
    e.add_argument("--windows", type=int)
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--json", action="store_true")
    hd = sub.add_parser("hidden")
    hd.add_argument("--checkpoint", required=True, action="append")
    hd.add_argument("--data", required=True)
    hd.add_argument("--out", required=True, action="append")
    hd.add_argument("--split", default="val")
    hd.add_argument("--windows", type=int)
    i = sub.add_parser("init")
    i.add_argument("--config", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--norm-noise", type=float, default=0.0)
    b = sub.add_parser("bench")
    b.add_argument("--config", required=True)
    b.add_argument("--batch", type=int, required=True)
    b.add_argument("--steps", type=int, required=True)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("shapes")
    s.add_argument("--config", required=True)
    sub.add_parser("selftest")
    args = ap.parse_args(argv)
    torch.set_num_threads(getattr(args, "threads", 1))
    {"eval": cmd_eval, "hidden": cmd_hidden, "init": cmd_init, "bench": cmd_bench, "shapes": cmd_shapes,
     "selftest": lambda _: selftest()}[args.command](args)


if __name__ == "__main__":
    try:
        main()
    except (ValueError, OSError, KeyError, MotlabError) as err:
        print(f"torch_mot.py: error: {err}", file=sys.stderr)
        sys.exit(2)
