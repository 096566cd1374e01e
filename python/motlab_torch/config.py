"""Model and training configuration, with the lab's semantics and field names.

Mirrors src-main/model/{config,presets}.ts and src-main/training/config.ts: the model config is
the JSON stored in every checkpoint's metadata (snake_case, docs/architecture.md), presets are
functions of the dataset's modalities, and every field of a run config file is checked (an
unknown field is an error naming it).
"""
import json
import math
import re

from .errors import MotlabError

COMPONENTS = ("attention", "ffn", "norm")
MODEL_KEYS = ("vocab_size", "d_model", "n_layers", "n_heads", "ffn_hidden", "seq_len", "norm_style", "qk_norm",
              "rope_theta", "modalities", "towers", "moe")
MOE_KEYS = ("experts", "routing", "top_k", "capacity_factor", "renormalize", "aux_loss", "z_loss", "towers")

PRESET_NAMES = ("dense", "mot", "mot-ffn", "mot-text-isolated", "mot-image-isolated", "mot-speech-isolated",
                "moe4x", "moe4x-topk", "mot-moe")
SIZE_NAMES = ("tiny", "small", "base")
SIZES = {
    "tiny": {"d_model": 32, "n_layers": 2, "n_heads": 2, "ffn_hidden": 64, "seq_len": 32},
    "small": {"d_model": 128, "n_layers": 4, "n_heads": 4, "ffn_hidden": 352, "seq_len": 128},
    "base": {"d_model": 512, "n_layers": 8, "n_heads": 8, "ffn_hidden": 1376, "seq_len": 512},
}


def _training(steps, batch_size, lr, warmup_steps, checkpoint_every, eval_every, eval_windows):
    return {"steps": steps, "batch_size": batch_size, "grad_accum": 1, "lr": lr, "min_lr_ratio": 0.1,
            "warmup_steps": warmup_steps, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
            "grad_clip": 1, "checkpoint_every": checkpoint_every, "eval_every": eval_every,
            "eval_windows": eval_windows, "seed": 0}


TRAINING_DEFAULTS = {
    "tiny": _training(40, 4, 3e-3, 4, 20, 10, 8),
    "small": _training(1000, 8, 2e-3, 50, 100, 50, 32),
    "base": _training(20000, 16, 6e-4, 500, 1000, 250, 64),
}
TRAINING_KEYS = tuple(TRAINING_DEFAULTS["tiny"])


# ---------------------------------------------------------------------------------------------
# Checks (each failure names the field)

def _fail(where, field, why):
    raise MotlabError("invalid_config", f"{where}: {field}: {why}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _int(where, field, v, lo=None):
    if not _is_int(v):
        _fail(where, field, f"expected an integer, got {json.dumps(v)}")
    if lo is not None and v < lo:
        _fail(where, field, f"must be at least {lo}, got {v}")


def _num(where, field, v, lo=None, lo_open=False, hi=None, hi_open=False):
    if not _is_num(v):
        _fail(where, field, f"expected a number, got {json.dumps(v)}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        _fail(where, field, f"must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v >= hi if hi_open else v > hi):
        _fail(where, field, f"must be {'<' if hi_open else '<='} {hi}, got {v}")


def _unknown(where, obj, allowed, prefix=""):
    if not isinstance(obj, dict):
        _fail(where, prefix.rstrip(".") or "(root)", f"expected an object, got {json.dumps(obj)[:60]}")
    extra = [k for k in obj if k not in allowed]
    if extra:
        _fail(where, prefix + extra[0], f"unknown field (allowed: {', '.join(allowed)})")


def check_moe(moe, n_ffn_towers, where="model config"):
    _unknown(where, moe, MOE_KEYS, "moe.")
    missing = [k for k in MOE_KEYS if k not in moe]
    if missing:
        _fail(where, f"moe.{missing[0]}", "required")
    _int(where, "moe.experts", moe["experts"], 2)
    if moe["experts"] > 64:
        _fail(where, "moe.experts", "at most 64")
    if moe["routing"] not in ("expert_choice", "token_choice"):
        _fail(where, "moe.routing", f"must be expert_choice or token_choice, got {json.dumps(moe['routing'])}")
    _int(where, "moe.top_k", moe["top_k"], 1)
    _num(where, "moe.capacity_factor", moe["capacity_factor"], 0, lo_open=True)
    if not isinstance(moe["renormalize"], bool):
        _fail(where, "moe.renormalize", "expected true or false")
    _num(where, "moe.aux_loss", moe["aux_loss"], 0)
    _num(where, "moe.z_loss", moe["z_loss"], 0)
    if not isinstance(moe["towers"], list) or not moe["towers"]:
        _fail(where, "moe.towers", "expected a non-empty list of ffn tower indices")
    for t in moe["towers"]:
        _int(where, "moe.towers", t, 0)
        if t >= n_ffn_towers:
            _fail(where, "moe.towers", f"ffn tower {t} does not exist ({n_ffn_towers} ffn towers)")
    if moe["routing"] == "token_choice" and moe["top_k"] > moe["experts"]:
        _fail(where, "moe.top_k", f"cannot exceed experts ({moe['experts']})")


def check_model_config(cfg, where="model config"):
    """Validate a complete model config (as src-main/model/config.ts); returns it."""
    _unknown(where, cfg, MODEL_KEYS)
    missing = [k for k in MODEL_KEYS if k != "moe" and k not in cfg]
    if missing:
        _fail(where, missing[0], "required")
    _int(where, "vocab_size", cfg["vocab_size"], 2)
    _int(where, "d_model", cfg["d_model"], 2)
    _int(where, "n_layers", cfg["n_layers"], 1)
    _int(where, "n_heads", cfg["n_heads"], 1)
    _int(where, "ffn_hidden", cfg["ffn_hidden"], 1)
    _int(where, "seq_len", cfg["seq_len"], 2)
    if cfg["d_model"] % cfg["n_heads"]:
        _fail(where, "n_heads", f"must divide d_model ({cfg['d_model']})")
    if (cfg["d_model"] // cfg["n_heads"]) % 2:
        _fail(where, "n_heads", "head size d_model/n_heads must be even for RoPE")
    if cfg["norm_style"] not in ("chameleon", "pre"):
        _fail(where, "norm_style", f"must be chameleon or pre, got {json.dumps(cfg['norm_style'])}")
    if not isinstance(cfg["qk_norm"], bool):
        _fail(where, "qk_norm", "expected true or false")
    _num(where, "rope_theta", cfg["rope_theta"], 0, lo_open=True)
    mods = cfg["modalities"]
    if not isinstance(mods, list) or not 1 <= len(mods) <= 8:
        _fail(where, "modalities", "expected a list of 1 to 8 modalities")
    names = []
    for i, m in enumerate(mods):
        _unknown(where, m, ("name", "start", "end"), f"modalities.{i}.")
        if not isinstance(m.get("name"), str) or not re.fullmatch(r"[a-z][a-z0-9_]*", m["name"]):
            _fail(where, f"modalities.{i}.name", 'a lowercase identifier such as "text"')
        _int(where, f"modalities.{i}.start", m.get("start"), 0)
        _int(where, f"modalities.{i}.end", m.get("end"), 1)
        if m["end"] <= m["start"]:
            _fail(where, f"modalities.{i}.end", "must be greater than start")
        if m["end"] > cfg["vocab_size"]:
            _fail(where, f"modalities.{i}.end", f"exceeds vocab_size ({cfg['vocab_size']})")
        if m["name"] in names:
            _fail(where, f"modalities.{i}.name", f'duplicate modality "{m["name"]}"')
        for o in mods[:i]:
            if m["start"] < o["end"] and o["start"] < m["end"]:
                _fail(where, f"modalities.{i}", f'token range overlaps "{o["name"]}"')
        names.append(m["name"])
    _unknown(where, cfg["towers"], COMPONENTS, "towers.")
    for c in COMPONENTS:
        groups = cfg["towers"].get(c)
        if not isinstance(groups, list) or not groups or not all(isinstance(g, list) and g for g in groups):
            _fail(where, f"towers.{c}", "expected a non-empty list of non-empty lists of modality names")
        flat = [n for g in groups for n in g]
        for n in flat:
            if n not in names:
                _fail(where, f"towers.{c}", f'unknown modality "{n}" (have {", ".join(names)})')
        for n in names:
            if flat.count(n) != 1:
                _fail(where, f"towers.{c}", f'modality "{n}" must be in exactly one tower (found in {flat.count(n)})')
    if cfg.get("moe") is not None:
        check_moe(cfg["moe"], len(cfg["towers"]["ffn"]), where)
    elif "moe" in cfg:
        _fail(where, "moe", "must be an object when present")
    return cfg


def check_training_config(tc, where="training settings"):
    _unknown(where, tc, TRAINING_KEYS)
    missing = [k for k in TRAINING_KEYS if k not in tc]
    if missing:
        _fail(where, missing[0], "required")
    for k in ("steps", "batch_size", "grad_accum", "checkpoint_every", "eval_every", "eval_windows"):
        _int(where, k, tc[k], 1)
    for k in ("warmup_steps", "seed"):
        _int(where, k, tc[k], 0)
    _num(where, "lr", tc["lr"], 0, lo_open=True)
    _num(where, "min_lr_ratio", tc["min_lr_ratio"], 0, hi=1)
    _num(where, "weight_decay", tc["weight_decay"], 0)
    _num(where, "beta1", tc["beta1"], 0, hi=1, hi_open=True)
    _num(where, "beta2", tc["beta2"], 0, hi=1, hi_open=True)
    _num(where, "eps", tc["eps"], 0, lo_open=True)
    _num(where, "grad_clip", tc["grad_clip"], 0)
    return tc


def check_run_config_file(raw, source):
    """{preset?, size?, model? (partial), training? (partial)}: the lab's --config file.json."""
    where = f"config file {source}"
    _unknown(where, raw, ("preset", "size", "model", "training", "workers"))  # workers: the lab's threads, not used here
    if "preset" in raw and raw["preset"] not in PRESET_NAMES:
        _fail(where, "preset", f"must be one of {', '.join(PRESET_NAMES)}, got {json.dumps(raw['preset'])}")
    if "size" in raw and raw["size"] not in SIZE_NAMES:
        _fail(where, "size", f"must be one of {', '.join(SIZE_NAMES)}, got {json.dumps(raw['size'])}")
    if "model" in raw:
        _unknown(where, raw["model"], MODEL_KEYS, "model.")
    if "training" in raw:
        _unknown(where, raw["training"], TRAINING_KEYS, "training.")
    return raw


# ---------------------------------------------------------------------------------------------
# Presets

def _isolate(names, alone, preset):
    if alone not in names:
        raise MotlabError("invalid_config", f'Preset "{preset}" needs a modality named "{alone}"; the dataset has {", ".join(names)}')
    rest = [n for n in names if n != alone]
    return [[alone], rest] if rest else [[alone]]


def _moe(routing, towers):
    if routing == "expert_choice":
        return {"experts": 4, "routing": routing, "top_k": 1, "capacity_factor": 1, "renormalize": False,
                "aux_loss": 0, "z_loss": 0, "towers": towers}
    return {"experts": 4, "routing": routing, "top_k": 1, "capacity_factor": 1.25, "renormalize": False,
            "aux_loss": 0.01, "z_loss": 0.001, "towers": towers}


def preset_architecture(preset, modalities):
    """{"towers": ..., ["moe": ...]} of a preset for these modalities."""
    names = [m["name"] for m in modalities]
    shared = [list(names)]
    untied = [[n] for n in names]
    same = lambda t: {"attention": t, "ffn": t, "norm": t}  # noqa: E731
    if preset == "dense":
        return {"towers": same(shared)}
    if preset == "mot":
        return {"towers": same(untied)}
    if preset == "mot-ffn":
        return {"towers": {"attention": shared, "ffn": untied, "norm": shared}}
    if preset in ("mot-text-isolated", "mot-image-isolated", "mot-speech-isolated"):
        return {"towers": same(_isolate(names, preset.split("-")[1], preset))}
    if preset == "moe4x":
        return {"towers": same(shared), "moe": _moe("expert_choice", [0])}
    if preset == "moe4x-topk":
        return {"towers": same(shared), "moe": _moe("token_choice", [0])}
    if preset == "mot-moe":
        if "text" not in names:
            raise MotlabError("invalid_config", f'Preset "mot-moe" needs a modality named "text"; the dataset has {", ".join(names)}')
        return {"towers": same(untied), "moe": _moe("expert_choice", [names.index("text")])}
    raise MotlabError("invalid_config", f'unknown preset "{preset}" (presets: {", ".join(PRESET_NAMES)})')


def build_model_config(preset, size, dataset_spec, overrides=None):
    """A complete, validated model config (as buildModelConfig in presets.ts; same key order)."""
    cfg = {"vocab_size": dataset_spec["vocab_size"], **SIZES[size], "norm_style": "chameleon", "qk_norm": False,
           "rope_theta": 10000, "modalities": [dict(m) for m in dataset_spec["modalities"]],
           **preset_architecture(preset, dataset_spec["modalities"])}
    cfg.update(overrides or {})
    return check_model_config(cfg)


# ---------------------------------------------------------------------------------------------
# Derived tables

def tower_of_modality(cfg, component):
    """Per modality index (declaration order) the tower index of `component`."""
    return [next(t for t, g in enumerate(cfg["towers"][component]) if m["name"] in g) for m in cfg["modalities"]]


def moe_towers(cfg):
    return set(cfg["moe"]["towers"]) if cfg.get("moe") else set()


def expected_shapes(cfg):
    """docs/architecture.md's tensor table for this config, in table order (model/tensor-names.ts)."""
    V, D, F_, H = cfg["vocab_size"], cfg["d_model"], cfg["ffn_hidden"], cfg["n_heads"]
    n_att, n_ffn, n_norm = (len(cfg["towers"][c]) for c in COMPONENTS)
    moe = moe_towers(cfg)
    shapes = {"embed.weight": [V, D]}
    for l in range(cfg["n_layers"]):
        for w in ("wq", "wk", "wv", "wo"):
            for t in range(n_att):
                shapes[f"layers.{l}.attention.{w}.{t}.weight"] = [D, D]
        if cfg["qk_norm"]:
            for w in ("q_norm", "k_norm"):
                for t in range(n_att):
                    shapes[f"layers.{l}.attention.{w}.{t}.weight"] = [D // H]
        for t in range(n_norm):
            shapes[f"layers.{l}.attention_norm.{t}.weight"] = [D]
        for t in range(n_norm):
            shapes[f"layers.{l}.ffn_norm.{t}.weight"] = [D]
        for t in range(n_ffn):
            if t in moe:
                shapes[f"layers.{l}.feed_forward.router.{t}.weight"] = [cfg["moe"]["experts"], D]
                for e in range(cfg["moe"]["experts"]):
                    shapes[f"layers.{l}.feed_forward.experts.{t}.{e}.w1.weight"] = [F_, D]
                    shapes[f"layers.{l}.feed_forward.experts.{t}.{e}.w2.weight"] = [D, F_]
                    shapes[f"layers.{l}.feed_forward.experts.{t}.{e}.w3.weight"] = [F_, D]
            else:
                shapes[f"layers.{l}.feed_forward.w1.{t}.weight"] = [F_, D]
                shapes[f"layers.{l}.feed_forward.w2.{t}.weight"] = [D, F_]
                shapes[f"layers.{l}.feed_forward.w3.{t}.weight"] = [F_, D]
    for t in range(n_norm):
        shapes[f"norm.{t}.weight"] = [D]
    shapes["output.weight"] = [V, D]
    return shapes


def tower_group_of(cfg, name):
    """Component tower of a parameter for per-tower gradient norms ("ffn.image"), as trainer.ts."""
    if name in ("embed.weight", "output.weight"):
        return name.split(".")[0]

    def label(component, t):
        groups = cfg["towers"][component]
        return f"{component}.{'+'.join(groups[t]) if t < len(groups) else t}"

    m = re.fullmatch(r"layers\.\d+\.attention\.[a-z_]+\.(\d+)\.weight", name)
    if m:
        return label("attention", int(m.group(1)))
    m = re.fullmatch(r"layers\.\d+\.(?:attention_norm|ffn_norm)\.(\d+)\.weight", name) or re.fullmatch(r"norm\.(\d+)\.weight", name)
    if m:
        return label("norm", int(m.group(1)))
    m = re.match(r"layers\.\d+\.feed_forward\.(?:w1|w2|w3|router|experts)\.(\d+)\.", name)
    if m:
        return label("ffn", int(m.group(1)))
    return "other"


def parameter_counts(cfg):
    """N_active and totals (model/accounting.ts): output head counts as active, embedding does not."""
    V, D, L, H, F_ = cfg["vocab_size"], cfg["d_model"], cfg["n_layers"], cfg["n_heads"], cfg["ffn_hidden"]
    moe = cfg.get("moe")
    hd = D // H
    attention_tower = 4 * D * D + (2 * hd if cfg["qk_norm"] else 0)
    norm_tower = 2 * L * D + D

    def ffn_active(t):
        if not moe or t not in moe["towers"]:
            return 3 * D * F_
        experts = moe["top_k"] if moe["routing"] == "token_choice" else min(moe["capacity_factor"], moe["experts"])
        return moe["experts"] * D + experts * 3 * D * F_

    ffn_towers = tower_of_modality(cfg, "ffn")
    active = {m["name"]: L * (attention_tower + ffn_active(ffn_towers[i])) + norm_tower + V * D
              for i, m in enumerate(cfg["modalities"])}
    return {"active_per_token": max(active.values()), "active_per_modality": active}


def flops_per_token(cfg, mode):
    """'train' = 6 N_active + 12 L S D, 'forward' = 2 N_active + 4 L S D."""
    active = parameter_counts(cfg)["active_per_token"]
    attention = cfg["n_layers"] * cfg["seq_len"] * cfg["d_model"]
    return 6 * active + 12 * attention if mode == "train" else 2 * active + 4 * attention
