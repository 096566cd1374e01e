"""Validation loss per modality on the evaluation windows (src-main/training/evaluate.ts): window k
is tokens[kS, kS+S) -> targets shifted by one; a modality's loss is the mean over all targets of
that modality across the windows. MoE routing depends on the batch, so a model with MoE towers is
evaluated one window per forward pass (as the lab and bench/torch_mot.py do)."""
import numpy as np
import torch
import torch.nn.functional as F

from .data import eval_window_count, eval_windows
from .errors import MotlabError
from .model import modality_lookup


@torch.no_grad()
def evaluate_loss(model, tokens, max_windows, device):
    """model: a MoTModel (not the DDP wrapper) -> {"windows": n, "loss": {"all": x, modality: x | None}}."""
    cfg = model.cfg
    S = cfg["seq_len"]
    count = eval_window_count(len(tokens), S, max_windows)
    if count == 0:
        raise MotlabError("invalid_dataset", f"the split has fewer than {S + 1} tokens: no evaluation window of seq_len {S}")
    names = [m["name"] for m in cfg["modalities"]]
    lookup = modality_lookup(cfg)
    sums = np.zeros(len(names))
    counts = np.zeros(len(names), dtype=np.int64)
    per_batch = 1 if cfg.get("moe") else 8
    was_training = model.training
    model.eval()
    try:
        for first in range(0, count, per_batch):
            win = eval_windows(tokens, S, first, min(per_batch, count - first))
            inputs = torch.as_tensor(win[:, :-1], device=device)
            targets = torch.as_tensor(win[:, 1:], device=device)
            logits = model(inputs)[0]
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
            ce = ce.cpu().double().numpy()
            tmod = lookup[win[:, 1:].reshape(-1)]
            np.add.at(sums, tmod, ce)
            counts += np.bincount(tmod, minlength=len(names))
    finally:
        model.train(was_training)
    loss = {"all": float(sums.sum() / counts.sum())}
    for i, name in enumerate(names):
        loss[name] = float(sums[i] / counts[i]) if counts[i] else None
    return {"windows": count, "loss": loss}
