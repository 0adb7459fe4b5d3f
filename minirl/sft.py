"""Supervised fine-tuning (SFT): behaviour cloning of demonstrations.

Given demonstrations (prompt x, response y), maximise their likelihood under the policy:

    L_SFT(theta) = - (1 / |A|) * sum_{(b,t) in A} log pi_theta(y_{b,t} | x_b, y_{b,<t})

where A is the set of response positions (the mask), so the prompt is context, never a target.
In RL words: SFT imitates an expert's actions in the states the expert visited. It needs the
right answer for every prompt. Sampled at temperature 1 it reproduces the demonstrations' mistakes
too; greedy decoding can rise above a noisy teacher's random errors but not its systematic ones
(train on a noisy teacher with --p_wrong).
Chapter: chapters/02-tiny-gpt-and-sft.md, 2.4; the noisy teacher: chapters/08-sft-vs-rl.md, 8.3.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import starts
from .batches import encode_pairs
from .config import ConfigError, RunConfig, config_field
from .core import masked_mean
from .device import all_reduce_sum, cpu_threads, data_parallel, init_distributed, shard
from .launch import new_policy, start
from .optim import clip_grad_norm, make_optimizer, set_lr
from .runs import Run, TrainResult


@dataclass
class SFTConfig(RunConfig):
    p_wrong: float = config_field(0.0, "noisy teacher: probability that a demonstration is wrong "
                                       "(0 = a perfect teacher)",
                                at_most=1)
    teacher: str = config_field("random", "the noisy teacher's mistakes: random (one digit "
                                          "changed) | carry (always one slip: the carry out of "
                                          "the units forgotten; addition only)",
                                choices=("random", "carry"))

    def validate(self):
        super().validate()
        if self.teacher == "carry" and not self.task.startswith("add"):
            raise ConfigError(f"--teacher carry forgets a carry of addition; --task {self.task} "
                              "is not addition (use --teacher random)")


def sft_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked next-token cross-entropy.

    logits (B, T-1, V) = model(tokens[:, :-1]); targets (B, T-1) = tokens[:, 1:]; mask (B, T-1).
    Returns the mean over masked positions of -log softmax(logits)[target].
    """
    nll = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")   # (B, T-1)
    return masked_mean(nll, mask)


def train_sft(cfg: SFTConfig, model=None) -> TrainResult:
    """Run SFT; under `torchrun --nproc_per_node N` each process takes 1/N of every global
    batch."""
    tok, task, device = start(cfg)
    rank, world = init_distributed(device, cfg.batch_size)
    model = model if model is not None else new_policy(cfg, tok, task, device)
    run = Run("sft", cfg, tok, task, rank, world, show=("loss", "eval_accuracy", "tokens_per_s",
                                                         "mfu"), plot=("eval_accuracy", "loss"))
    optimizer = make_optimizer(model, cfg)
    rng = random.Random(cfg.seed)   # the same stream in every process: the same global batch
    run.keep(model, optimizer, rng)            # what a checkpoint holds (--resume: restored)
    ddp = data_parallel(model, world)
    model.train()
    for step in run.steps():
        pairs = task.sample_train(cfg.batch_size, rng)
        responses = [task.demonstration(a, b, cfg.p_wrong, rng, cfg.teacher) for a, b in pairs]
        pairs = shard(pairs, rank, world)
        responses = shard(responses, rank, world)
        tokens, mask = encode_pairs(tok, [task.prompt(a, b) for a, b in pairs], responses, device)
        set_lr(optimizer, cfg, step)
        logits = ddp(tokens[:, :-1])                                      # (B/world, T-1, V)
        loss = sft_loss(logits, tokens[:, 1:], mask)
        if world > 1:   # DDP averages gradients over processes: weight each by its share of tokens
            n_all = all_reduce_sum(mask.sum(), world)
            loss = loss * mask.sum() * world / n_all
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(model, cfg.grad_clip)
        optimizer.step()

        # --- logging (skip on first read) ---
        if (step + 1) % cfg.log_every == 0:
            run.add(loss=all_reduce_sum(loss.detach(), world).item() / world, grad_norm=grad_norm)
        run.step(step + 1, tokens=tokens[:, :-1])       # with tokens/s and MFU in the log
    return run.finish(model, {"p_wrong": cfg.p_wrong, "world_size": world})


# The recipe of the weak start every RL chapter begins from: a short SFT run that leaves the model
# weak, so that RL has room to show what it adds. It pins two CPU threads, because float sums
# depend on how they are split over threads. The trained file ships (minirl/checkpoints/weak.pt, see
# starts.py): other CPUs' kernels would train another model from the same seed.
#     python -m minirl sft --steps 200 --lr_schedule constant --threads 2 --out runs/weak
WEAK_INIT = dict(steps=200, lr_schedule="constant", threads=2)


def ensure_weak_init(out: str = "runs/weak", task: str = "add2", seed: int = 0,
                     retrain: bool = False, **overrides) -> str:
    """Path to a weak start in `out`/model.pt: the shipped file when one was made with this recipe
    (WEAK_INIT with `overrides`, on `task` with `seed`), else (or with retrain=True) trained
    here."""
    recipe = {"task": task, "seed": seed, **WEAK_INIT, **overrides}
    shipped = None if retrain else starts.find(recipe)
    if shipped:
        return str(starts.copy_to(shipped, out))
    path = Path(out) / "model.pt"
    if retrain or not path.exists():
        with cpu_threads():                       # the pinned thread count ends with the run
            train_sft(SFTConfig(out=out, progress=False, eval_every=50, overwrite=True, **recipe))
    return str(path)


CLI = (SFTConfig, train_sft, "supervised fine-tuning on (noisy-)teacher demonstrations")
