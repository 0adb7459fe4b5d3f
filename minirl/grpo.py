"""GRPO: Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath, eq. 3).

PPO needs a critic V(s) to turn rewards into advantages. GRPO drops the critic: for every prompt q
it samples a *group* of G responses o_1..o_G, scores each with the verifier, and uses the group
itself as the baseline. Outcome supervision (one reward per response, the same advantage on every
token of it):

    A_i = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + 1e-4)           std unbiased (n - 1)

and the objective (to maximise; DeepSeekMath eq. 3, with the KL of their eq. 4) is

    J(theta) = E_q (1/G) sum_i (1/|o_i|) sum_t [ min(rho_it A_i, clip(rho_it, 1-eps, 1+eps_high) A_i)
                                                 - beta * KL_k3(pi_theta || pi_ref)_it ]
    rho_it   = pi_theta(o_it | q, o_i<t) / pi_old(o_it | q, o_i<t)
    KL_k3    = exp(ref - logp) - (ref - logp) - 1                    (Schulman's k3: >= 0, unbiased)

We minimise -J. Two critiques of the normalisations, both one flag here:
  * Dr. GRPO (Liu et al. 2025): dividing by the group std up-weights prompts that are nearly always
    solved or nearly always failed, and dividing by |o_i| gives short wrong answers a larger
    per-token push than long ones. Fix: --scale none (no std) and --loss_type dr_grpo (sum over
    tokens / (B x a constant max length)).
  * DAPO (Yu et al. 2025): --loss_type dapo averages over all action tokens of the batch (every
    token counts the same), and a larger upper clip --clip_eps_high 0.28 ("clip-higher") lets
    unlikely-but-good tokens grow.
When every response in a group gets the same reward, all its advantages are 0: the group gives no
gradient at all (we log the share of such groups as `zero_adv_groups`).

With one inner update per batch (the default) the ratio is exactly 1 and GRPO is REINFORCE with a
group-mean baseline (and per-group scaling); with --inner_steps > 1 the batch is reused and the
clipped ratio keeps the policy near the one that sampled it, as in PPO.
The aggregation and the eps in the std follow TRL's GRPOTrainer (loss_type grpo / dapo / dr_grpo).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import torch

from .model import frozen_copy
from .rollout import evaluate, sample, token_logprobs
from .runs import (ConfigError, Run, RunConfig, TrainResult, all_reduce_sum, clip_and_step, data_parallel,
                   init_distributed, make_optimizer, new_policy, opt, pick_device, seed_everything, set_lr, shard)
from .tokenizer import CharTokenizer

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")


@dataclass
class GRPOConfig(RunConfig):
    steps: int = opt(1000, "policy iterations (sample a batch of groups, update)")
    batch_size: int = opt(32, "prompts per step (each sampled group_size times)")
    group_size: int = opt(8, "G: responses sampled per prompt; the group is the baseline")
    lr: float = opt(3e-4, "peak AdamW learning rate (cosine decay to 10%)")
    temperature: float = opt(1.0, "sampling temperature of the rollouts")
    inner_steps: int = opt(1, "gradient updates per sampled batch (>1 makes the clipped ratio matter)")
    clip_eps: float = opt(0.2, "lower clip: rho is kept >= 1 - clip_eps")
    clip_eps_high: float = opt(0.2, "upper clip: rho is kept <= 1 + clip_eps_high (DAPO: 0.28)")
    beta: float = opt(0.0, "weight of the k3 KL penalty to the initial policy (0 = no reference model)")
    loss_type: str = opt("grpo", "grpo (mean of sequence means) | dapo (token mean) | dr_grpo (sum / B*L)")
    scale: str = opt("group", "advantage scaling: group (divide by the group std) | none (Dr. GRPO)")
    eval_every: int = opt(25, "evaluate held-out accuracy every N steps")

    def validate(self):
        super().validate()
        if self.group_size < 2:
            raise ConfigError(f"--group_size must be >= 2 (a group of one has no baseline), got {self.group_size}")
        if self.beta < 0:
            raise ConfigError(f"--beta must be >= 0 (it weighs a KL penalty), got {self.beta}")
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"unknown --loss_type {self.loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
        if self.scale not in ("group", "none"):
            raise ConfigError(f"--scale must be group or none, got {self.scale!r}")
        if not (self.clip_eps > 0 and self.clip_eps_high > 0):
            raise ConfigError("--clip_eps and --clip_eps_high must be > 0 (e.g. 0.2)")
        if self.clip_eps >= 1:
            raise ConfigError(f"--clip_eps must be < 1 (rho is kept >= 1 - clip_eps), got {self.clip_eps}")
        if self.inner_steps < 1:
            raise ConfigError(f"--inner_steps must be >= 1, got {self.inner_steps}")
        if not self.temperature > 0:
            raise ConfigError(f"--temperature must be > 0 (RL needs sampling), got {self.temperature}")


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group") -> torch.Tensor:
    """rewards (B,) with rows [g*G:(g+1)*G] one group -> advantages (B,).

    scale="group": (r - group mean) / (group std + 1e-4), std unbiased (torch's default, n - 1).
    scale="none":  r - group mean (Dr. GRPO). A group whose rewards are all equal gets exactly 0.
    """
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 (a group of one has no baseline), got {group_size}")
    if scale not in ("group", "none"):
        raise ValueError(f"scale must be 'group' or 'none', got {scale!r}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a length that is a multiple of group_size={group_size}, "
                         f"got shape {tuple(rewards.shape)}")
    r = rewards.float().view(-1, group_size)                                # (B/G, G)
    centred = r - r.mean(dim=1, keepdim=True)                               # (B/G, G)
    all_equal = (r.max(dim=1, keepdim=True).values == r.min(dim=1, keepdim=True).values)
    centred = torch.where(all_equal, torch.zeros_like(centred), centred)    # exact 0, no rounding noise
    if scale == "group":
        centred = centred / (r.std(dim=1, keepdim=True) + 1e-4)
    return centred.reshape(-1)                                              # (B,)


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps: float = 0.2,
              clip_eps_high: float | None = None, beta: float = 0.0, loss_type: str = "grpo",
              max_response_len: int | None = None):
    """The clipped GRPO surrogate (to minimise) and detached stats.

    logprobs (B, T-1) under the current policy (with grad); old_logprobs (B, T-1) under the policy
    that sampled; ref_logprobs (B, T-1) under the reference (may be None when beta == 0);
    advantages (B,) one per sequence (or (B, T-1) per token); mask (B, T-1) 1 on actions.
    loss_type: "grpo" = mean over sequences of each sequence's token mean (DeepSeekMath eq. 3);
    "dapo" = sum over all action tokens / their number; "dr_grpo" = sum / (B * max_response_len),
    where max_response_len is a constant (default: the batch's padded width T-1).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if beta > 0 and ref_logprobs is None:
        raise ValueError("beta > 0 needs ref_logprobs (log-probs under the reference policy)")
    clip_eps_high = clip_eps if clip_eps_high is None else clip_eps_high
    mask = mask.to(logprobs.dtype)
    adv = advantages[:, None] if advantages.dim() == 1 else advantages      # (B, 1) or (B, T-1)
    # 1. importance ratio of each action: 1 on the first update after sampling
    ratio = torch.exp(logprobs - old_logprobs)                              # (B, T-1)
    # 2. the PPO-style clipped surrogate, per token (clip range can be asymmetric: DAPO clip-higher)
    surr = ratio * adv
    surr_clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps_high) * adv
    per_token = -torch.min(surr, surr_clipped)                              # (B, T-1)
    # 3. the k3 estimate of KL(pi || pi_ref), added per token
    kl = torch.zeros_like(logprobs)
    if ref_logprobs is not None:
        delta = ref_logprobs - logprobs
        kl = torch.exp(delta) - delta - 1                                   # (B, T-1), >= 0
    if beta > 0:
        per_token = per_token + beta * kl
    # 4. aggregate over tokens and sequences
    masked = per_token * mask
    if loss_type == "grpo":
        loss = (masked.sum(dim=1) / mask.sum(dim=1).clamp(min=1)).mean()
    elif loss_type == "dapo":
        loss = masked.sum() / mask.sum().clamp(min=1)
    else:
        L = mask.size(1) if max_response_len is None else max_response_len
        loss = masked.sum() / (mask.size(0) * L)
    n = mask.sum().clamp(min=1)
    with torch.no_grad():
        clipped = (surr_clipped < surr).to(mask.dtype)                      # the clip was active
        stats = {"clip_frac": (clipped * mask).sum() / n, "kl": (kl * mask).sum() / n,
                 "ratio": (ratio * mask).sum() / n}
    return loss, {k: v.detach() for k, v in stats.items()}


def grpo_update(policy, optimizer, roll, adv, ref_lp, cfg: GRPOConfig, max_len: int, world: int = 1):
    """cfg.inner_steps gradient steps on one rollout. `policy` may be DistributedDataParallel-wrapped;
    then `roll` is this process's share of whole groups, and the loss is weighted so that DDP's
    gradient average equals the one-process gradient on the global batch.
    -> (this process's loss, stats, grad norm), all tensors: reading them waits for the GPU, so the
    training loop reads (and averages over processes) only on the steps it logs."""
    model = getattr(policy, "module", policy)
    for _ in range(cfg.inner_steps):
        logp = token_logprobs(policy, roll.tokens)                          # (B, T-1)
        old = logp.detach() if cfg.inner_steps == 1 else roll.logprobs
        loss, stats = grpo_loss(logp, old, ref_lp, adv, roll.mask, cfg.clip_eps, cfg.clip_eps_high,
                                cfg.beta, cfg.loss_type, max_len)
        if world > 1 and cfg.loss_type == "dapo":   # a token mean: weight by this process's share of tokens
            loss = loss * roll.mask.sum() * world / all_reduce_sum(roll.mask.sum(), world)
        loss.backward()
        gnorm = clip_and_step(model, optimizer, cfg.grad_clip)
    return loss.detach(), stats, gnorm


def train_grpo(cfg: GRPOConfig, model=None) -> TrainResult:
    """Run GRPO; under `torchrun --nproc_per_node N` each process samples whole groups for 1/N of
    the prompts (so group means and stds are exactly those of one process)."""
    cfg.validate()
    seed_everything(cfg.seed)
    tok, task = CharTokenizer(), cfg.make_task()
    device = pick_device(cfg.device)
    rank, world = init_distributed(device)
    if cfg.batch_size % world:
        raise ConfigError(f"world size {world} does not divide --batch_size {cfg.batch_size} prompts; "
                          f"use a multiple of {world}")
    model = model if model is not None else new_policy(cfg, tok, task, device)
    ref = None
    if cfg.beta > 0:                                                        # frozen copy of the start
        ref = frozen_copy(model)
    run = Run("grpo", cfg, tok, task, rank)
    optimizer = make_optimizer(model, cfg)
    rng = random.Random(cfg.seed)             # the same stream everywhere: the same global prompts
    run.restore(model, optimizer, rng)
    if world > 1:
        torch.manual_seed(cfg.seed + 1000 * rank)  # ... but each process samples its own responses
    policy = data_parallel(model, world)
    G, max_len = cfg.group_size, task.max_answer_digits + 1
    step_times = []
    model.train()
    bar = run.progress()
    for step in bar:
        t0 = time.perf_counter()
        pairs = shard(task.sample_train(cfg.batch_size, rng), rank, world)
        prompts = [task.prompt(a, b) for a, b in pairs]
        roll = sample(model, tok, task, prompts, samples_per_prompt=G, temperature=cfg.temperature,
                      logprobs=cfg.inner_steps > 1)       # one inner step: pi_old is the current pi
        adv = group_advantages(roll.rewards, G, cfg.scale)                  # (B,)
        ref_lp = None
        if ref is not None:
            with torch.no_grad():
                ref_lp = token_logprobs(ref, roll.tokens)                   # (B, T-1)
        lr = set_lr(optimizer, cfg, step)
        loss, stats, gnorm = grpo_update(policy, optimizer, roll, adv, ref_lp, cfg, max_len, world)
        dt = time.perf_counter() - t0
        step_times.append(dt)
        row = {}
        if (step + 1) % cfg.log_every == 0:
            r = roll.rewards.view(-1, G)
            n = torch.tensor(float(len(roll.rewards)), device=r.device)
            zero = (r.max(1).values == r.min(1).values).float().sum() * G   # rows in zero-signal groups
            totals = all_reduce_sum(torch.stack([roll.rewards.sum(), zero, n]), world)
            row = dict(loss=all_reduce_sum(loss, world).item() / world, reward_mean=(totals[0] / totals[2]).item(),
                       zero_adv_groups=(totals[1] / totals[2]).item(), clip_frac=stats["clip_frac"].item(),
                       kl=stats["kl"].item(), response_len=roll.response_lengths.mean().item(),
                       grad_norm=gnorm, lr=lr, step_seconds=dt, completions_per_s=totals[2].item() / dt)
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row["eval_accuracy"], _ = evaluate(model, tok, task)
            model.train()
        if row:
            row = run.log(step + 1, seconds=run.seconds, **row)
            bar.set_postfix({k: row[k] for k in ("reward_mean", "eval_accuracy", "completions_per_s") if k in row})
    bar.close()
    run.save(model, cfg.steps, optimizer, rng)
    acc, samples = evaluate(model, tok, task, n_samples=8)
    median = sorted(step_times)[len(step_times) // 2] if step_times else float("nan")   # s per step
    summary = {"eval_accuracy": acc, "samples": samples, "group_size": G, "loss_type": cfg.loss_type,
               "median_step_seconds": round(median, 4), "world_size": world,
               "completions_per_s": round(cfg.batch_size * G / median, 1)}
    return run.finish(model, summary, plot_keys=("eval_accuracy", "reward_mean", "zero_adv_groups", "kl"))


CLI = (GRPOConfig, train_grpo, "GRPO: group-relative policy optimisation with a verifiable reward")
