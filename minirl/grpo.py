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
Three more estimators from recent work, each one flag (chapter 7 compares them all):
  * RLOO (Ahmadian et al. 2024): --baseline loo --scale none. Each response's baseline is the mean
    of the OTHER G-1 rewards, b_i = (sum_j r_j - r_i) / (G-1), which does not depend on o_i, so
    the gradient is unbiased. Since r_i - b_i = G/(G-1) (r_i - mean), GRPO's centring is RLOO
    shrunk by (G-1)/G; dividing by a group std (which includes r_i) is what makes GRPO biased.
  * REINFORCE++ (Hu 2025), its "baseline" form: --scale batch centres on the group mean, then
    divides by the std of the advantages over the whole batch (every prompt of the step), not
    per group, so a prompt with little spread is not blown up by a tiny std.
  * GSPO (Zheng et al. 2025): --loss_type gspo uses one ratio per SEQUENCE, the length-normalised
    s_i = (pi_theta(o_i|q) / pi_old(o_i|q))^(1/|o_i|) = exp(mean_t log rho_it), and clips s_i:
        J = E_q (1/G) sum_i min(s_i A_i, clip(s_i, 1-eps, 1+eps_high) A_i)
    With one inner step s_i = 1 and its gradient equals loss_type grpo's; it differs (whole
    responses are clipped, not single tokens) once a batch is reused (--inner_steps > 1).
When every response in a group gets the same reward, all its advantages are 0: the group gives no
gradient at all (we log the share of such groups as `zero_adv_groups`; --skip_zero_groups leaves
them out of the update's forward and backward pass, which with beta = 0 changes nothing but time).

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

from .config import RunConfig, config_field
from .core import clipped_surrogate, kl_estimate, masked_mean
from .device import (all_reduce_sum, data_parallel, init_distributed, rank_rng_states,
                     restore_rank_rng, shard)
from .model import frozen_copy
from .optim import clip_grad_norm, make_optimizer, set_lr
from .rollout import evaluate, sample, token_logprobs
from .runs import Run, TrainResult, new_policy, start

LOSS_TYPES = ("grpo", "dapo", "dr_grpo", "gspo")
SCALES = ("group", "none", "batch")
BASELINES = ("mean", "loo")


@dataclass
class GRPOConfig(RunConfig):
    steps: int = config_field(700, "policy iterations (sample a batch of groups, update)", at_least=1)
    batch_size: int = config_field(32, "prompts per step (each sampled group_size times)", at_least=1, at_most=65536)
    group_size: int = config_field(8, "G: responses sampled per prompt; the group is the baseline (>= 2)",
                                   at_least=2, at_most=1024)
    lr: float = config_field(3e-4, "peak AdamW learning rate (cosine decay to 10%)", above=0, at_most=10)
    temperature: float = config_field(1.0, "sampling temperature of the rollouts (> 0: RL needs sampling)",
                                      above=0, at_most=100)
    inner_steps: int = config_field(1, "gradient updates per sampled batch (>1 makes the clipped ratio matter)",
                                    at_least=1, at_most=1000)
    clip_eps: float = config_field(0.2, "lower clip: rho is kept >= 1 - clip_eps", above=0, below=1)
    clip_eps_high: float = config_field(0.2, "upper clip: rho is kept <= 1 + clip_eps_high (DAPO: 0.28)",
                                        above=0, at_most=100)
    beta: float = config_field(0.0, "weight of the k3 KL penalty to the initial policy (0 = no reference model)",
                               at_most=1000)
    loss_type: str = config_field("grpo", "grpo (mean of sequence means) | dapo (token mean) | dr_grpo (sum / B*L) "
                                          "| gspo (one clipped ratio per sequence)", choices=LOSS_TYPES)
    scale: str = config_field("group", "advantage scaling: group (divide by the group std) | none (Dr. GRPO, RLOO) "
                                       "| batch (divide by the batch std: REINFORCE++)", choices=SCALES)
    baseline: str = config_field("mean", "group baseline: mean (GRPO: the group mean, r_i included) | loo (RLOO: "
                                         "the mean of the other G-1 rewards)", choices=BASELINES)
    eval_every: int = config_field(25, "evaluate held-out accuracy every N steps", at_least=1)
    skip_zero_groups: bool = config_field(False, "leave the groups whose rewards are all equal out of the "
                                                 "update (the same gradient when beta = 0, less compute)")


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group", baseline: str = "mean",
                     world: int = 1) -> torch.Tensor:
    """rewards (B,) with rows [g*G:(g+1)*G] one group -> advantages (B,), floats.

    baseline="mean": r_i - mean(r_1..r_G)                     (GRPO; r_i is part of its own baseline)
    baseline="loo":  r_i - mean_{j != i} r_j = G/(G-1) (r_i - mean)     (RLOO, Ahmadian et al. 2024)
    then scale="group": divide by (group std + 1e-4), std unbiased (torch's default, n - 1);
         scale="none":  nothing (Dr. GRPO; with baseline="loo", RLOO);
         scale="batch": divide by (std of all B centred advantages + 1e-4) (REINFORCE++, Hu 2025).
    The centred advantages of every group sum to 0, so the batch mean is already 0 and is not
    subtracted again. With `world` > 1 processes (each holding whole groups) the batch std is
    that of the global batch. A group whose rewards are all equal gets exactly 0.
    """
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 (a group of one has no baseline), got {group_size}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, got {baseline!r}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a length that is a multiple of group_size={group_size}, "
                         f"got shape {tuple(rewards.shape)}")
    r = rewards.float().view(-1, group_size)                                # (B/G, G)
    centred = r - r.mean(dim=1, keepdim=True)                               # (B/G, G)
    all_equal = (r.max(dim=1, keepdim=True).values == r.min(dim=1, keepdim=True).values)
    centred = torch.where(all_equal, torch.zeros_like(centred), centred)    # exact 0, no rounding noise
    if baseline == "loo":
        centred = centred * (group_size / (group_size - 1))
    if scale == "group":
        centred = centred / (r.std(dim=1, keepdim=True) + 1e-4)
    elif scale == "batch":                                                  # std over the global batch
        sums = all_reduce_sum(torch.stack([centred.pow(2).sum(), torch.tensor(float(centred.numel()),
                                                                              device=centred.device)]), world)
        std = (sums[0] / (sums[1] - 1).clamp(min=1)).sqrt()                 # unbiased, batch mean 0
        centred = centred / (std + 1e-4)
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
    where max_response_len is a constant (default: the batch's padded width T-1); "gspo" = mean over
    sequences of the clipped surrogate of the sequence ratio s_i = exp(masked mean_t (logp - old))
    (Zheng et al. 2025, eq. 5-7; advantages must then be one per sequence, and clip_frac is the share
    of clipped sequences). The KL term is a per-token mean of each sequence for grpo and gspo.
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if beta > 0 and ref_logprobs is None:
        raise ValueError("beta > 0 needs ref_logprobs (log-probs under the reference policy)")
    if loss_type == "gspo" and advantages.dim() != 1:
        raise ValueError("loss_type gspo needs one advantage per sequence, shape (B,)")
    mask = mask.to(logprobs.dtype)
    n_actions = mask.sum(dim=1).clamp(min=1)                                # (B,)
    # 3. the k3 estimate of KL(pi || pi_ref) per token (reported always, in the loss if beta > 0)
    kl = torch.zeros_like(logprobs)
    if ref_logprobs is not None:
        kl = kl_estimate(logprobs, ref_logprobs, "k3")                      # (B, T-1), >= 0
    if loss_type == "gspo":
        # 1-2. one length-normalised ratio per sequence, s_i = exp(mean_t log rho_it), clipped
        seq_logp = (logprobs * mask).sum(dim=1) / n_actions                 # (B,)
        seq_old = (old_logprobs.detach() * mask).sum(dim=1) / n_actions     # (B,)
        per_seq, ratio, clipped = clipped_surrogate(seq_logp, seq_old, advantages, clip_eps, clip_eps_high)
        loss = (per_seq + beta * (kl * mask).sum(dim=1) / n_actions).mean()
        seq = torch.ones_like(per_seq)
        stats = {"clip_frac": masked_mean(clipped, seq), "ratio": masked_mean(ratio, seq)}
    else:
        adv = advantages[:, None] if advantages.dim() == 1 else advantages  # (B, 1) or (B, T-1)
        # 1-2. the importance ratio of each action (1 on the first update after sampling) and the
        #      PPO-style clipped surrogate per token (the clip range may be asymmetric: DAPO clip-higher)
        per_token, ratio, clipped = clipped_surrogate(logprobs, old_logprobs, adv, clip_eps, clip_eps_high)
        if beta > 0:
            per_token = per_token + beta * kl
        # 4. aggregate over tokens and sequences
        masked = per_token * mask
        if loss_type == "grpo":
            loss = (masked.sum(dim=1) / n_actions).mean()
        elif loss_type == "dapo":
            loss = masked.sum() / mask.sum().clamp(min=1)
        else:
            L = mask.size(1) if max_response_len is None else max_response_len
            loss = masked.sum() / (mask.size(0) * L)
        stats = {"clip_frac": masked_mean(clipped, mask), "ratio": masked_mean(ratio, mask)}
    stats["kl"] = masked_mean(kl, mask)                                     # per token
    return loss, {k: v.detach() for k, v in stats.items()}


def informative_rows(adv: torch.Tensor, group_size: int) -> torch.Tensor:
    """adv (B,) -> bool (B,): the rows of groups with a nonzero advantage. The other groups' terms of
    the loss are exactly 0 (and, with beta = 0, so is their gradient); at least one group is kept,
    so that the optimizer still takes its (momentum-only) step when no group carries signal."""
    keep = (adv.view(-1, group_size) != 0).any(dim=1)                      # (B/G,)
    keep[0] |= ~keep.any()
    return keep.repeat_interleave(group_size)                               # (B,)


def grpo_update(policy, optimizer, roll, adv, ref_lp, cfg: GRPOConfig, max_len: int, world: int = 1,
                log: bool = True):
    """cfg.inner_steps gradient steps on one rollout. `policy` may be DistributedDataParallel-wrapped;
    then `roll` is this process's share of whole groups, and the loss is weighted so that DDP's
    gradient average equals the one-process gradient on the global batch. cfg.skip_zero_groups (with
    beta = 0): only informative rows go through the network, the loss keeps the whole batch's
    denominator, so the gradient is the full batch's; `log`: the entropy stat covers every row.
    -> (this process's loss, stats, grad norm), all tensors: reading them waits for the GPU, so the
    training loop reads (and averages over processes) only on the steps it logs."""
    model = getattr(policy, "module", policy)
    tokens, mask, old_lp, weight, keep = roll.tokens, roll.mask, roll.logprobs, 1.0, None
    if cfg.skip_zero_groups and ref_lp is None:
        keep = informative_rows(adv, cfg.group_size)                        # (B,) bool
        tokens, mask, adv = tokens[keep], mask[keep], adv[keep]             # (B', T), (B', T-1), (B',)
        old_lp = None if old_lp is None else old_lp[keep]
        weight = (mask.sum() / roll.mask.sum().clamp(min=1) if cfg.loss_type == "dapo"   # kept tokens
                  else keep.float().mean())                                 # kept rows, of all B
    for i in range(cfg.inner_steps):
        logp = token_logprobs(policy, tokens)                               # (B', T-1)
        old = logp.detach() if cfg.inner_steps == 1 else old_lp            # pi_old: the sampling policy
        loss, stats = grpo_loss(logp, old, ref_lp, adv, mask, cfg.clip_eps, cfg.clip_eps_high,
                                cfg.beta, cfg.loss_type, max_len)
        loss = loss * weight
        if i == 0:        # mean -log pi(a_t|s_t) of the sampled actions: at temperature 1, an estimate of
            nll, n = (-logp.detach() * mask).sum(), mask.sum()              # the per-token entropy (nats)
            if log and keep is not None and not keep.all():                 # over all B rows, skipped too
                with torch.no_grad():
                    nll = nll - (token_logprobs(model, roll.tokens[~keep]) * roll.mask[~keep]).sum()
                n = roll.mask.sum()
            entropy = nll / n.clamp(min=1)
        if world > 1 and cfg.loss_type == "dapo":   # a token mean: weight by this process's share of tokens
            loss = loss * roll.mask.sum() * world / all_reduce_sum(roll.mask.sum(), world)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(model, cfg.grad_clip)
        optimizer.step()
    return loss.detach(), {**stats, "entropy": entropy}, grad_norm


def train_grpo(cfg: GRPOConfig, model=None) -> TrainResult:
    """Run GRPO; under `torchrun --nproc_per_node N` each process samples whole groups for 1/N of
    the prompts (so group means and stds are exactly those of one process)."""
    tok, task, device = start(cfg)
    rank, world = init_distributed(device, cfg.batch_size)
    model = model if model is not None else new_policy(cfg, tok, task, device)
    ref = None
    if cfg.beta > 0:                                                        # frozen copy of the start
        ref = frozen_copy(model)
    run = Run("grpo", cfg, tok, task, rank, log_eval_seconds=True)
    optimizer = make_optimizer(model, cfg)
    rng = random.Random(cfg.seed)             # the same stream everywhere: the same global prompts
    if world > 1:
        torch.manual_seed(cfg.seed + 1000 * rank)  # ... but each process samples its own responses
    run.keep(model, optimizer, rng)                   # what a checkpoint holds (--resume: restored)
    restore_rank_rng(run.resume_state, rank)       # --resume under torchrun: each its own stream
    policy = data_parallel(model, world)
    G, max_len = cfg.group_size, task.max_answer_len + 1
    step_times = []
    model.train()
    for step in run.steps():
        t0 = time.perf_counter()
        pairs = shard(task.sample_train(cfg.batch_size, rng), rank, world)
        prompts = [task.prompt(a, b) for a, b in pairs]
        roll = sample(model, tok, task, prompts, samples_per_prompt=G, temperature=cfg.temperature,
                      logprobs=cfg.inner_steps > 1)       # one inner step: pi_old is the current pi
        adv = group_advantages(roll.rewards, G, cfg.scale, cfg.baseline, world)   # (B,)
        ref_lp = None
        if ref is not None:
            with torch.no_grad():
                ref_lp = token_logprobs(ref, roll.tokens)                   # (B, T-1)
        lr = set_lr(optimizer, cfg, step)
        loss, stats, gnorm = grpo_update(policy, optimizer, roll, adv, ref_lp, cfg, max_len, world,
                                         log=(step + 1) % cfg.log_every == 0)
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
                       kl_per_token=stats["kl"].item(), entropy=stats["entropy"].item(),
                       response_len=roll.response_lengths.mean().item(),
                       grad_norm=gnorm, lr=lr, step_seconds=dt, completions_per_s=totals[2].item() / dt)
        run.step(step + 1, row, show=("reward_mean", "eval_accuracy", "completions_per_s"),
                 state=lambda: {"rank_rng": rank_rng_states(world)})
    acc, samples = evaluate(model, tok, task, n_samples=8)
    median = sorted(step_times)[len(step_times) // 2] if step_times else float("nan")   # s per step
    summary = {"eval_accuracy": acc, "samples": samples, "group_size": G, "loss_type": cfg.loss_type,
               "median_step_seconds": round(median, 4), "world_size": world,
               "completions_per_s": round(cfg.batch_size * G / median, 1)}
    return run.finish(model, summary, plot_keys=("eval_accuracy", "reward_mean", "zero_adv_groups", "kl_per_token"),
                      state=lambda: {"rank_rng": rank_rng_states(world)})


CLI = (GRPOConfig, train_grpo, "GRPO: group-relative policy optimisation with a verifiable reward")
