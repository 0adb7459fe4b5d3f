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
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .rollout import encode_pairs, evaluate
from .runs import (ConfigError, Run, RunConfig, TrainResult, all_reduce_sum, clip_and_step, data_parallel,
                   init_distributed, make_optimizer, new_policy, opt, peak_flops, pick_device, seed_everything,
                   set_lr, shard, train_flops_per_token)
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
    """Run SFT; under `torchrun --nproc_per_node N` each process takes 1/N of every global batch."""
    cfg.validate()
    seed_everything(cfg.seed)
    tok, task = CharTokenizer(), cfg.make_task()
    device = pick_device(cfg.device)
    rank, world = init_distributed(device)
    if cfg.batch_size % world:
        raise ConfigError(f"world size {world} does not divide the batch of {cfg.batch_size}; "
                          f"use a --batch_size that is a multiple of {world}")
    model = model if model is not None else new_policy(cfg, tok, task, device)
    run = Run("sft", cfg, tok, task, rank)
    optimizer = make_optimizer(model, cfg)
    rng = random.Random(cfg.seed)            # the same stream in every process: the same global batch
    run.restore(model, optimizer, rng)
    ddp = data_parallel(model, world)
    model.train()
    peak = peak_flops(device)
    bar = run.progress()
    tokens_seen, t_last = 0, time.perf_counter()
    for step in bar:
        pairs = task.sample_train(cfg.batch_size, rng)
        responses = [task.demonstration(a, b, cfg.p_wrong, rng) for a, b in pairs]
        pairs, responses = shard(pairs, rank, world), shard(responses, rank, world)
        tokens, mask = encode_pairs(tok, [task.prompt(a, b) for a, b in pairs], responses, device)
        logits = ddp(tokens[:, :-1])                                      # (B/world, T-1, V)
        loss = sft_loss(logits, tokens[:, 1:], mask)
        if world > 1:   # DDP averages gradients over processes: weight each by its share of tokens
            n_all = all_reduce_sum(mask.sum(), world)
            loss = loss * mask.sum() * world / n_all
        loss.backward()
        lr = set_lr(optimizer, cfg, step)
        gnorm = clip_and_step(model, optimizer, cfg.grad_clip)
        tokens_seen += tokens[:, :-1].numel() * world
        row = {}
        if (step + 1) % cfg.log_every == 0:
            if device.type == "cuda":
                torch.cuda.synchronize()
            dt, t_last = time.perf_counter() - t_last, time.perf_counter()
            row = dict(loss=all_reduce_sum(loss.detach(), world).item() / world, grad_norm=gnorm, lr=lr,
                       tokens_per_s=tokens_seen / dt)
            if peak:
                row["mfu"] = train_flops_per_token(model, tokens.size(1) - 1) * row["tokens_per_s"] / (peak * world)
            tokens_seen = 0
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row["eval_accuracy"], _ = evaluate(model, tok, task)
            model.train()
            t_last = time.perf_counter()                                  # keep evaluation out of tokens/s
        if row:
            row = run.log(step + 1, seconds=run.seconds, **row)
            bar.set_postfix({k: v for k, v in row.items() if k in ("loss", "eval_accuracy", "tokens_per_s", "mfu")})
    bar.close()
    run.save(model, cfg.steps, optimizer, rng)
    acc, samples = evaluate(model, tok, task, n_samples=8)
    rates = [m["tokens_per_s"] for m in run.metrics if "tokens_per_s" in m]
    summary = {"eval_accuracy": acc, "samples": samples, "p_wrong": cfg.p_wrong, "world_size": world,
               "tokens_per_s": round(sorted(rates)[len(rates) // 2]) if rates else None}
    mfus = [m["mfu"] for m in run.metrics if "mfu" in m]
    if mfus:
        summary["mfu"] = round(sorted(mfus)[len(mfus) // 2], 4)
    return run.finish(model, summary)


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
