"""Supervised fine-tuning (SFT): behaviour cloning of demonstrations.

Given demonstrations (prompt x, response y), maximise their likelihood under the policy:

    L_SFT(theta) = - (1 / |A|) * sum_{(b,t) in A} log pi_theta(y_{b,t} | x_b, y_{b,<t})

where A is the set of response positions (the mask), so the prompt is context, never a target.
In RL words: SFT imitates an expert's actions in the states the expert visited. It needs the
right answer for every prompt, and it can be no better than the demonstrations it copies
(train on a noisy teacher with --p_wrong and watch the ceiling; chapter 8).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .rollout import encode_pairs, evaluate
from .runs import (ConfigError, Run, RunConfig, TrainResult, clip_and_step, make_optimizer, new_policy,
                   opt, pick_device, seed_everything, set_lr)
from .tokenizer import CharTokenizer


@dataclass
class SFTConfig(RunConfig):
    steps: int = opt(1000, "optimizer steps")
    batch_size: int = opt(64, "demonstrations per step")
    lr: float = opt(1e-3, "peak AdamW learning rate")
    p_wrong: float = opt(0.0, "noisy teacher: probability that a demonstration is wrong")

    def validate(self):
        super().validate()
        if not 0.0 <= self.p_wrong <= 1.0:
            raise ConfigError(f"--p_wrong must be in [0, 1], got {self.p_wrong}")


def sft_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked next-token cross-entropy.

    logits (B, T-1, V) = model(tokens[:, :-1]); targets (B, T-1) = tokens[:, 1:]; mask (B, T-1).
    Returns the mean over masked positions of -log softmax(logits)[target].
    """
    nll = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")   # (B, T-1)
    return (nll * mask).sum() / mask.sum().clamp(min=1)


def train_sft(cfg: SFTConfig, model=None) -> TrainResult:
    cfg.validate()
    seed_everything(cfg.seed)
    tok, task = CharTokenizer(), cfg.make_task()
    device = pick_device(cfg.device)
    model = model if model is not None else new_policy(cfg, tok, task, device)
    run = Run("sft", cfg, tok, task)
    optimizer = make_optimizer(model, cfg)
    rng = random.Random(cfg.seed)
    run.restore(model, optimizer, rng)
    model.train()
    bar = run.progress()
    for step in bar:
        pairs = task.sample_train(cfg.batch_size, rng)
        prompts = [task.prompt(a, b) for a, b in pairs]
        responses = [task.demonstration(a, b, cfg.p_wrong, rng) for a, b in pairs]
        tokens, mask = encode_pairs(tok, prompts, responses, device)      # (B, T), (B, T-1)
        logits = model(tokens[:, :-1])                                    # (B, T-1, V)
        loss = sft_loss(logits, tokens[:, 1:], mask)
        loss.backward()
        lr = set_lr(optimizer, cfg, step)
        gnorm = clip_and_step(model, optimizer, cfg.grad_clip)
        row = {}
        if (step + 1) % cfg.log_every == 0:
            row = dict(loss=loss.item(), grad_norm=gnorm, lr=lr)
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row["eval_accuracy"], _ = evaluate(model, tok, task)
            model.train()
        if row:
            row = run.log(step + 1, seconds=run.seconds, **row)
            bar.set_postfix({k: v for k, v in row.items() if k in ("loss", "eval_accuracy")})
    bar.close()
    run.save(model, cfg.steps, optimizer, rng)
    acc, samples = evaluate(model, tok, task, n_samples=8)
    return run.finish(model, {"eval_accuracy": acc, "samples": samples, "p_wrong": cfg.p_wrong})




# The common starting point of every RL chapter: a short SFT run that leaves the model weak
# (about 30% held-out on add2) so that RL has room to show what it adds. Equivalent to
#     python -m minirl sft --steps 200 --lr_schedule constant --out runs/weak
WEAK_INIT = dict(steps=200, lr_schedule="constant")


def ensure_weak_init(out: str = "runs/weak", task: str = "add2", seed: int = 0, **overrides) -> str:
    """Path to the weak-init checkpoint in `out`, training it first (~10 s on CPU) if missing."""
    from pathlib import Path
    path = Path(out) / "model.pt"
    if not path.exists():
        train_sft(SFTConfig(out=out, task=task, seed=seed, progress=False, eval_every=50,
                            **{**WEAK_INIT, **overrides}))
    return str(path)
CLI = (SFTConfig, train_sft, "supervised fine-tuning on (noisy-)teacher demonstrations")
