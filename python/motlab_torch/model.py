"""The model family of docs/architecture.md in PyTorch: one forward pass for dense, MoT, every
ablation and the MoE variants (each parameter component has a tower assignment; a token uses its
modality's tower).

This is the PyTorch model of the repository: bench/torch_mot.py (the parity checker the lab's
tests run) imports it from here, and its self-test checks it against a per-token loop reference.

Choices the spec leaves open (the lab makes the same ones):
- MoE "sequence order" and "n_tokens" refer to the tokens of that FFN tower in the routing
  group, flattened window-major (window 0 positions 0..S-1, then window 1, ...). The routing
  group is the forward batch (one process), the whole global micro-batch across processes
  (`GlobalRouting`: router probabilities are gathered, so DDP routes exactly as one process
  would), or one window (evaluation of MoE models).
- Capacities in float64, left to right: token-choice ceil(cf * n * k / E), expert-choice
  min(n, ceil(cf * n / E)).
- Ties in router probabilities go to the lower expert index (token-choice top-k) and to the
  earlier token (expert-choice top-C).
- The load-balancing and z losses apply to token-choice towers only; each MoE tower of each
  layer adds its own terms (summed).
"""
import math
import re

import numpy as np
import torch
import torch.nn.functional as F

from .config import COMPONENTS, check_model_config, expected_shapes, moe_towers, tower_of_modality
from .errors import MotlabError
from .rng import normal_array

RMS_EPS = 1e-5


def modality_lookup(cfg):
    """Token id -> modality index, -1 for ids no modality declares."""
    table = np.full(cfg["vocab_size"], -1, dtype=np.int64)
    for i, m in enumerate(cfg["modalities"]):
        table[m["start"]:m["end"]] = i
    return table


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def rope_tables(seq_len, hd, theta, dtype, device=None):
    j = torch.arange(hd // 2, dtype=torch.float64)
    freq = theta ** (-2.0 * j / hd)
    angle = torch.arange(seq_len, dtype=torch.float64)[:, None] * freq[None, :]  # [S, hd/2]
    angle = torch.cat([angle, angle], dim=-1)
    return angle.cos().to(dtype=dtype, device=device), angle.sin().to(dtype=dtype, device=device)


def swiglu(x, w1, w2, w3):
    return (F.silu(x @ w1.t()) * (x @ w3.t())) @ w2.t()


def grouped(x, towers, n_towers, fn, every_tower=False):
    """fn(t, rows) on the rows of x (first dim) served by each tower t, in place order. With
    every_tower, towers without rows run too (on zero rows): in a distributed run every parameter
    then takes part in every backward pass, as DistributedDataParallel requires, and MoE routing
    joins its collective on every process."""
    if n_towers == 1:
        return fn(0, x)
    out = None
    for t in range(n_towers):
        idx = (towers == t).nonzero(as_tuple=True)[0]
        if idx.numel() == 0 and not every_tower:
            continue
        y = fn(t, x.index_select(0, idx))
        if out is None:
            out = x.new_zeros((x.shape[0],) + tuple(y.shape[1:]))
        out = out.index_copy(0, idx, y)
    return out


# ---------------------------------------------------------------------------------------------
# Initial weights

NORM_WEIGHT = re.compile(r"norm\.\d+\.weight$")  # attention_norm, ffn_norm, q_norm, k_norm, final norm
RESIDUAL_OUTPUT = re.compile(r"(\.wo\.\d+|\.w2\.\d+|\.w2)\.weight$")  # wo, w2, experts' w2


def _tensor_seed(seed, name):
    """A seed per tensor name (FNV-1a style, as the lab's tensorSeed): a tensor's initial values do
    not depend on which other tensors exist."""
    h = (0x811C9DC5 ^ (seed & 0xFFFFFFFF)) & 0xFFFFFFFF
    for ch in name:
        h = ((h ^ ord(ch)) * 0x01000193) & 0xFFFFFFFF
    return h


def lab_init_weights(cfg, seed):
    """The lab's initialisation (initParams in src-main/model/mot.ts), value for value: N(0, 0.02)
    for linears, embeddings and routers, residual outputs (wo, w2) N(0, 0.02/sqrt(2 L)), norms 1;
    each tensor from its own Rng seeded by a hash of its name."""
    residual_std = 0.02 / math.sqrt(2 * cfg["n_layers"])
    out = {}
    for name, shape in expected_shapes(cfg).items():
        count = int(np.prod(shape))
        if NORM_WEIGHT.search(name):
            out[name] = np.ones(shape, dtype=np.float32)
            continue
        std = residual_std if RESIDUAL_OUTPUT.search(name) else 0.02
        out[name] = (std * normal_array(_tensor_seed(seed, name), count)).astype(np.float32).reshape(shape)
    return out


# ---------------------------------------------------------------------------------------------
# MoE routing groups

class LocalRouting:
    """Route over the tokens of this forward pass."""
    world_size = 1

    def gather(self, rows):
        return rows, 0


class GlobalRouting:
    """Route over the global micro-batch split across processes: every process gathers the router
    probabilities and logits of all processes (detached, [n, 2E] each; processes hold consecutive
    windows, so concatenation in rank order is the global sequence order), takes the same
    decisions, and applies the experts to its own tokens. Losses and gradients then equal those
    of one process holding the whole micro-batch."""

    def __init__(self, group, world_size, rank):
        self.group, self.world_size, self.rank = group, world_size, rank

    def gather(self, rows):
        import torch.distributed as dist
        n = torch.tensor([rows.shape[0]], dtype=torch.int64, device=rows.device)
        counts = [torch.zeros_like(n) for _ in range(self.world_size)]
        dist.all_gather(counts, n, group=self.group)
        counts = [int(c.item()) for c in counts]
        width = max(1, max(counts))  # gloo fails (SIGFPE) on empty tensors
        padded = rows.new_zeros((width, rows.shape[1]))
        padded[:rows.shape[0]] = rows
        parts = [torch.zeros_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded, group=self.group)
        return torch.cat([p[:c] for p, c in zip(parts, counts)]), sum(counts[:self.rank])


def moe_forward(cfg, W, L, t, x, routing, with_stats=False):
    """MoE FFN of ffn tower t on its tokens x [n, D] (sequence order) ->
    (y [n, D], aux for the gradient, aux value, routing stats or None)."""
    moe = cfg["moe"]
    E = moe["experts"]
    n = x.shape[0]
    logits = x @ W[f"{L}.feed_forward.router.{t}.weight"].t()  # [n, E]
    p = logits.softmax(-1)
    both, offset = routing.gather(torch.cat([p, logits], 1).detach())
    n_all = both.shape[0]
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    y = torch.zeros_like(x)
    every_expert = routing.world_size > 1  # experts without tokens run on zero rows (see grouped)
    experts = [tuple(W[f"{L}.feed_forward.experts.{t}.{e}.{w}.weight"] for w in ("w1", "w2", "w3")) for e in range(E)]
    if n_all == 0:
        if every_expert:  # no token anywhere: zero-row terms keep router and experts in the graph
            y = y + logits.sum() * 0
            for e in range(E):
                y = y + swiglu(x, *experts[e])
        return y, zero, zero, None
    p_all, logits_all = both[:, :E], both[:, E:]
    mine = slice(offset, offset + n)
    aux, aux_value = zero, zero
    if moe["routing"] == "token_choice":
        k = moe["top_k"]
        order_all = torch.sort(p_all, dim=-1, descending=True, stable=True).indices[:, :k]  # [n_all, k]
        capacity = math.ceil(moe["capacity_factor"] * n_all * k / E)
        chosen = torch.zeros(n_all, E, dtype=torch.int64, device=x.device).scatter(1, order_all, 1)
        keep_all = (chosen > 0) & (chosen.cumsum(0) <= capacity)
        order, keep = order_all[mine], keep_all[mine]
        gates = p.gather(1, order)
        if moe["renormalize"]:
            gates = gates / gates.sum(-1, keepdim=True)
        gate_full = torch.zeros_like(p).scatter(1, order, gates)
        for e in range(E):
            idx = keep[:, e].nonzero(as_tuple=True)[0]
            if idx.numel() or every_expert:
                y = y.index_add(0, idx, swiglu(x.index_select(0, idx), *experts[e]) * gate_full[idx, e:e + 1])
        first = F.one_hot(order_all[:, 0], E).to(x.dtype).mean(0)
        lse = logits.logsumexp(-1)
        if routing.world_size == 1:
            aux = moe["aux_loss"] * E * (first * p.mean(0)).sum() + moe["z_loss"] * lse.pow(2).mean()
            aux_value = aux.detach()
        else:  # this process's share, scaled so that DDP's mean over processes is the global term
            share = routing.world_size / n_all
            aux = share * (moe["aux_loss"] * E * (first * p.sum(0)).sum() + moe["z_loss"] * lse.pow(2).sum())
            aux_value = (moe["aux_loss"] * E * (first * p_all.mean(0)).sum()
                         + moe["z_loss"] * logits_all.logsumexp(-1).pow(2).mean())
        if not with_stats:
            return y, aux, aux_value, None
        kept_rows = [int(keep_all[:, e].sum()) for e in range(E)]
        dropped = n_all * k - sum(kept_rows)
        experts_per_token = None
    else:
        capacity = min(n_all, math.ceil(moe["capacity_factor"] * n_all / E))
        count = torch.zeros(n_all, dtype=torch.int64, device=x.device)
        for e in range(E):
            idx_all = torch.sort(p_all[:, e], descending=True, stable=True).indices[:capacity]
            count[idx_all] += 1
            idx = idx_all[(idx_all >= offset) & (idx_all < offset + n)] - offset
            if idx.numel() or every_expert:
                y = y.index_add(0, idx, swiglu(x.index_select(0, idx), *experts[e]) * p[idx, e:e + 1])
        if not with_stats:
            return y, aux, aux_value, None
        kept_rows = [capacity] * E
        dropped = int((count == 0).sum())
        experts_per_token = np.bincount(count.cpu().numpy(), minlength=E + 1).tolist()
    stats = routing_stats(p_all, logits_all, moe, capacity, kept_rows, dropped, experts_per_token)
    return y, aux, aux_value, stats


def routing_stats(p_all, logits_all, moe, capacity, kept_rows, dropped, experts_per_token):
    """MoeRoutingStats of src-main/model/moe.ts (without layer/tower), plain numbers."""
    p = p_all.double().cpu().numpy()
    lg = logits_all.double().cpu().numpy()
    n, E = p.shape
    mean_prob = p.mean(0)
    first_share = np.bincount(p.argmax(1), minlength=E) / n
    m = lg.max(1, keepdims=True)
    lse = (m + np.log(np.exp(lg - m).sum(1, keepdims=True)))[:, 0]
    return {"routing": moe["routing"], "tokens": int(n), "capacity": int(capacity), "tokensPerExpert": kept_rows,
            "dropped": int(dropped), "meanProb": mean_prob.tolist(), "firstChoiceShare": first_share.tolist(),
            "expertsPerToken": experts_per_token, "loadBalance": float(E * (first_share * mean_prob).sum()),
            "zLoss": float((lse * lse).mean())}


# ---------------------------------------------------------------------------------------------
# The model

class MoTModel(torch.nn.Module):
    """weights: {name: array} of docs/architecture.md's table (default: the lab's initialisation)."""

    def __init__(self, cfg, weights=None, seed=0):
        super().__init__()
        self.cfg = check_model_config(cfg)
        self.shapes = expected_shapes(self.cfg)
        if weights is None:
            weights = lab_init_weights(self.cfg, seed)
        missing = [n for n in self.shapes if n not in weights]
        unexpected = [n for n in weights if n not in self.shapes]
        if missing or unexpected:
            raise MotlabError("invalid_checkpoint", "weights do not match the config: "
                              + "; ".join(filter(None, [missing and f"missing {missing[:5]}",
                                                        unexpected and f"unexpected {unexpected[:5]}"])))
        for n, s in self.shapes.items():
            if list(weights[n].shape) != s:
                raise MotlabError("invalid_checkpoint", f"tensor {n} has shape {list(weights[n].shape)}, the config needs {s}")
        self.names = list(self.shapes)
        self.plist = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.as_tensor(np.asarray(weights[n]), dtype=torch.float32).clone()) for n in self.names])
        self._tables = {}

    def weights(self):
        return {n: self.plist[i] for i, n in enumerate(self.names)}

    def _device_tables(self, device):
        key = str(device)
        if key not in self._tables:
            self._tables[key] = {
                "lookup": torch.as_tensor(modality_lookup(self.cfg), device=device),
                **{c: torch.as_tensor(tower_of_modality(self.cfg, c), dtype=torch.int64, device=device) for c in COMPONENTS},
            }
        return self._tables[key]

    def modalities_of(self, tokens):
        lookup = self._device_tables(tokens.device)["lookup"]
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= lookup.numel()):
            raise MotlabError("invalid_dataset", f"token ids must lie in [0, {lookup.numel()})")
        mod = lookup[tokens]
        if (mod < 0).any():
            bad = tokens[mod < 0][0].item()
            raise MotlabError("invalid_dataset", f"token {bad} belongs to no declared modality, so it has no tower")
        return mod

    def forward(self, tokens, routing=None, with_stats=False, hidden=None):
        """tokens [B, S] int64 -> (logits [B, S, V], aux loss for the gradient, aux value, stats).
        stats: per layer {"layer", "towers": [MoE routing stats]} when with_stats and MoE.
        A list `hidden` gets the residual stream after each block appended, [B*S, D] window-major."""
        routing = routing or LocalRouting()
        cfg = self.cfg
        W = self.weights()
        B, S = tokens.shape
        D, H = cfg["d_model"], cfg["n_heads"]
        hd = D // H
        n_att, n_ffn, n_norm = (len(cfg["towers"][c]) for c in COMPONENTS)
        tables = self._device_tables(tokens.device)
        mod = self.modalities_of(tokens).reshape(-1)
        ta, tf, tn = (tables[c][mod] for c in COMPONENTS)
        dtype = W["embed.weight"].dtype
        cos, sin = rope_tables(S, hd, cfg["rope_theta"], dtype, tokens.device)
        cos, sin = cos[None, :, None, :], sin[None, :, None, :]
        causal = torch.ones(S, S, dtype=torch.bool, device=tokens.device).triu(1)
        aux = torch.zeros((), dtype=dtype, device=tokens.device)
        aux_value = aux.detach()
        moe = moe_towers(cfg)
        every = routing.world_size > 1
        stats = []

        h = W["embed.weight"][tokens.reshape(-1)]  # [N, D], N = B*S flattened window-major
        for l in range(cfg["n_layers"]):
            L = f"layers.{l}"

            def norm(x, kind, L=L):
                return grouped(x, tn, n_norm, lambda t, r: rms_norm(r, W[f"{L}.{kind}.{t}.weight"]), every)

            xa = norm(h, "attention_norm") if cfg["norm_style"] == "pre" else h
            qkv = grouped(xa, ta, n_att, lambda t, r: r @ torch.cat(
                [W[f"{L}.attention.{w}.{t}.weight"] for w in ("wq", "wk", "wv")]).t(), every)
            q, k, v = (z.reshape(B, S, H, hd) for z in qkv.split(D, dim=-1))
            if cfg["qk_norm"]:
                q = grouped(q.reshape(B * S, H, hd), ta, n_att,
                            lambda t, r: rms_norm(r, W[f"{L}.attention.q_norm.{t}.weight"]), every).reshape(B, S, H, hd)
                k = grouped(k.reshape(B * S, H, hd), ta, n_att,
                            lambda t, r: rms_norm(r, W[f"{L}.attention.k_norm.{t}.weight"]), every).reshape(B, S, H, hd)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # [B, H, S, hd]
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            scores = scores.masked_fill(causal, float("-inf"))
            a = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B * S, D)
            o = grouped(a, ta, n_att, lambda t, r: r @ W[f"{L}.attention.wo.{t}.weight"].t(), every)

            layer_terms = []

            def ffn(t, r, L=L, l=l):
                if t in moe:
                    y, extra, value, tower_stats = moe_forward(cfg, W, L, t, r, routing, with_stats)
                    layer_terms.append((t, extra, value, tower_stats))
                    return y
                return swiglu(r, *(W[f"{L}.feed_forward.{w}.{t}.weight"] for w in ("w1", "w2", "w3")))

            if cfg["norm_style"] == "chameleon":
                u = h + norm(o, "attention_norm")
                h = u + norm(grouped(u, tf, n_ffn, ffn, every), "ffn_norm")
            else:
                u = h + o
                h = u + grouped(norm(u, "ffn_norm"), tf, n_ffn, ffn, every)
            for _, extra, value, _ in layer_terms:
                aux = aux + extra
                aux_value = aux_value + value
            if hidden is not None:
                hidden.append(h)
            if moe and with_stats:
                stats.append({"layer": l, "towers": [{"layer": l, "tower": t, **s} for t, _, _, s in
                                                     sorted(layer_terms, key=lambda x: x[0]) if s is not None]})

        final = grouped(h, tn, n_norm, lambda t, r: rms_norm(r, W[f"norm.{t}.weight"]), every)
        logits = final @ W["output.weight"].t()
        return logits.reshape(B, S, -1), aux, aux_value, stats


def token_losses(model, inputs, targets):
    """Per-position cross-entropy [B, S] (no aux)."""
    logits = model(inputs)[0]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none").reshape(targets.shape)
