"""The optimizer, its learning-rate schedule and gradient clipping, shared by every trainer.

Every training loop in minirl updates in the same four visible lines (CleanRL's style):

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = clip_grad_norm(model, cfg.grad_clip)
    optimizer.step()

Chapter: chapters/02-tiny-gpt-and-sft.md, 2.4 (the training loop).
"""
from __future__ import annotations

import math

import torch


def make_optimizer(model, cfg, lr: float | None = None):
    """AdamW over the model's parameters at cfg.lr (or `lr`), with cfg.weight_decay."""
    on_cuda = next(model.parameters()).device.type == "cuda"
    # fused: one kernel per step on a GPU
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr if lr is None else lr,
                             weight_decay=cfg.weight_decay, betas=(0.9, 0.99), fused=on_cuda)


def set_lr(optimizer, cfg, step: int, peak: float | None = None) -> float:
    """Learning rate at `step`: constant, or cosine from lr down to 0.1 lr at the last step (or at
    step cfg.decay_steps, if that comes sooner, then flat); during the first cfg.warmup steps it is
    scaled by (step + 1) / warmup (Adam's first steps are large). `peak` (default cfg.lr): the same
    schedule for another model, scaled to this peak (A2C's and PPO's value model). Returns the
    rate it set."""
    lr = cfg.lr
    if cfg.lr_schedule == "cosine":
        decay = min(cfg.steps, getattr(cfg, "decay_steps", 0) or cfg.steps)
        frac = min(1.0, step / max(1, decay - 1))
        lr = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
    lr = lr * min(1.0, (step + 1) / max(1, cfg.warmup))
    if peak is not None:
        lr = peak * lr / cfg.lr
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def clip_grad_norm(model, max_norm: float) -> torch.Tensor:
    """Clip the global gradient norm to max_norm (0 = no clipping) and return the norm before
    clipping.

    The norm comes back as a 0-dim tensor, not a float: reading it (`float(norm)`, `run.log`) makes
    the CPU wait for the GPU, so trainers read it only on the steps they log."""
    params = [p for p in model.parameters() if p.grad is not None]
    return torch.nn.utils.clip_grad_norm_(params,
                                          max_norm if max_norm > 0 else float("inf")).detach()
