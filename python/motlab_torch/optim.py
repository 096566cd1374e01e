"""AdamW and the learning-rate schedule with the lab's semantics (src-main/training/
{optimizer,schedule}.ts), so that a checkpoint's optimizer state means the same in both engines.

AdamW (decoupled weight decay): with g = raw gradient x scale (scale = 1/grad_accum x clip factor),
  m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
  p = p (1 - lr wd) - lr (m / bc1) / (sqrt(v / bc2) + eps),  bc_i = 1 - b_i^t,
t = the optimizer step (= the training step, saved as state.json "step"). Only tensors of rank >= 2
decay (norm weights do not; the embedding and output head do). A parameter that received no
gradient gets a zero one (the lab's accumulation does the same). Moments are saved as
`<param>.exp_avg` / `<param>.exp_avg_sq` in optimizer.safetensors.
"""
import math

import torch


def learning_rate(step, tc):
    """Learning rate at optimizer step `step` (0-based): linear warmup, then cosine to lr * min_lr_ratio."""
    lr, warmup, steps = tc["lr"], tc["warmup_steps"], tc["steps"]
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    decay_steps = max(1, steps - warmup)
    progress = min(1, (step - warmup) / decay_steps)
    min_lr = lr * tc["min_lr_ratio"]
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


class AdamW:
    def __init__(self, named_params, tc):
        self.params = list(named_params)  # [(name, Parameter)]
        self.beta1, self.beta2, self.eps, self.weight_decay = tc["beta1"], tc["beta2"], tc["eps"], tc["weight_decay"]
        self.m = {n: torch.zeros_like(p) for n, p in self.params}
        self.v = {n: torch.zeros_like(p) for n, p in self.params}
        self.step_count = 0

    @torch.no_grad()
    def apply(self, lr, grad_scale=1.0):
        """One update from each parameter's .grad (None = zero), multiplied by grad_scale first."""
        self.step_count += 1
        b1, b2, eps, wd = self.beta1, self.beta2, self.eps, self.weight_decay
        bc1 = 1 - math.pow(b1, self.step_count)
        bc2 = 1 - math.pow(b2, self.step_count)
        for name, p in self.params:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            if grad_scale != 1:
                g = g * grad_scale
            m, v = self.m[name], self.v[name]
            m.mul_(b1).add_(g * (1 - b1))
            v.mul_(b2).add_(g * g * (1 - b2))
            update = (m / bc1) / ((v / bc2).sqrt() + eps)
            if p.dim() >= 2 and wd > 0:
                p.mul_(1 - lr * wd)
            p.sub_(update * lr)

    def state_tensors(self):
        """{"<param>.exp_avg": tensor, "<param>.exp_avg_sq": tensor} for optimizer.safetensors."""
        out = {}
        for name, _ in self.params:
            out[f"{name}.exp_avg"] = self.m[name]
            out[f"{name}.exp_avg_sq"] = self.v[name]
        return out

    @torch.no_grad()
    def load_state_tensors(self, tensors, step_count, source):
        from .errors import MotlabError
        for name, p in self.params:
            for suffix, target in (("exp_avg", self.m), ("exp_avg_sq", self.v)):
                t = tensors.get(f"{name}.{suffix}")
                if t is None:
                    raise MotlabError("invalid_checkpoint", f"{source}: optimizer state lacks {name}.{suffix}")
                if list(t.shape) != list(p.shape):
                    raise MotlabError("invalid_checkpoint",
                                      f"{source}: {name}.{suffix} has shape {list(t.shape)} but the parameter has {list(p.shape)}")
                target[name].copy_(torch.as_tensor(t, dtype=torch.float32))
        self.step_count = step_count
