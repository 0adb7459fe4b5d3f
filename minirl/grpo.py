"""GRPO: Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath, eq. 3; chapter 7).

GRPO drops PPO's critic: for each prompt q it samples a group of G responses, scores each with the
verifier, and uses the group as the baseline (one advantage per response, on every token of it):

    A_i = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + 1e-4)              std unbiased (n - 1)
    J(theta) = E_q (1/G) sum_i (1/|o_i|) sum_t [min(rho_it A_i, clip(rho_it, 1-eps, 1+eps_high) A_i)
                                                - beta KL_k3(pi_theta || pi_ref)_it]
    rho_it = pi_theta(o_it | q, o_i<t) / pi_old(o_it | q, o_i<t),    beta = --kl_coef

and minimises -J. With one inner step per batch (the default) rho = 1: GRPO is REINFORCE with a
group baseline; with --inner_steps > 1 the clip keeps the policy near the sampler, as in PPO. A
group whose rewards are all equal has advantages 0 and gives no gradient (chapter 7, section 7.4).

Relatives, one flag each (section 7.5; `group_advantages` and `grpo_loss` give each formula):
Dr. GRPO (--scale none --loss_type dr_grpo), DAPO (--loss_type dapo, --clip_eps_high 0.28), RLOO
(--baseline loo --scale none), REINFORCE++'s normalisation (--scale batch), GSPO (--loss_type gspo).
Speed: --skip_zero_groups (grpo_rows.py). Aggregation and the eps follow TRL's trainer.
"""
from __future__ import annotations

import random
from typing import ClassVar

import torch

from .batches import token_logprobs
from .config import RunConfig, config_field, defaults
from .core import clipped_surrogate, kl_estimate, masked_mean
from .device import all_reduce_sum, data_parallel, init_distributed, shard
from .grpo_rows import reward_stats, sampled_entropy, update_batch
from .launch import new_policy, start
from .model import frozen_copy
from .optim import clip_grad_norm, make_optimizer, set_lr
from .rollout import sample
from .runs import Run, TrainResult

LOSS_TYPES = ("grpo", "dapo", "dr_grpo", "gspo")
SCALES = ("group", "none", "batch")
BASELINES = ("mean", "loo")


@defaults(steps=700, batch_size=32, lr=3e-4, eval_every=25)
class GRPOConfig(RunConfig):
    group_size: int = config_field(8, "G: responses sampled per prompt; the group is the baseline "
                                      "(>= 2)", at_least=2)
    temperature: float = config_field(1.0, "sampling temperature of the rollouts (> 0: RL needs "
                                           "sampling)", above=0)
    inner_steps: int = config_field(1, "gradient updates per sampled batch (>1 makes the clipped "
                                       "ratio matter)", at_least=1)
    clip_eps: float = config_field(0.2, "lower clip: rho is kept >= 1 - clip_eps", above=0, below=1)
    clip_eps_high: float = config_field(0.2, "upper clip: rho is kept <= 1 + clip_eps_high "
                                             "(DAPO: 0.28)", above=0)
    kl_coef: float = config_field(0.0, "beta: weight of the k3 KL penalty to the initial policy "
                                       "(0 = no reference model)")
    RENAMED: ClassVar[dict] = {"beta": "kl_coef"}       # the old flag, accepted for now
    loss_type: str = config_field("grpo", "grpo (mean of sequence means) | dapo (token mean) | "
                                          "dr_grpo (sum / B*L) | gspo (one clipped ratio per "
                                          "sequence)", choices=LOSS_TYPES)
    scale: str = config_field("group", "advantage scaling: group (divide by the group std) | "
                                       "none (Dr. GRPO, RLOO) | batch (divide by the batch std: "
                                       "REINFORCE++)", choices=SCALES)
    baseline: str = config_field("mean", "group baseline: mean (GRPO: the group mean, r_i "
                                         "included) | loo (RLOO: the mean of the other G-1 "
                                         "rewards)", choices=BASELINES)
    skip_zero_groups: bool = config_field(False, "leave the groups whose rewards are all equal "
                                                 "out of the update (the same gradient when "
                                                 "kl_coef = 0, less compute)")


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group",
                     baseline: str = "mean", world: int = 1) -> torch.Tensor:
    """rewards (B,) with rows [g*G:(g+1)*G] one group -> advantages (B,), floats.

    baseline="mean": r_i - mean(r_1..r_G)                    (GRPO; r_i is part of its own baseline)
    baseline="loo":  r_i - mean_{j != i} r_j = G/(G-1) (r_i - mean)     (RLOO, Ahmadian et al. 2024)
    then scale="group": divide by (group std + 1e-4), std unbiased (torch's default, n - 1);
         scale="none":  nothing (Dr. GRPO; with baseline="loo", RLOO);
         scale="batch": divide by (std of all B centred advantages + 1e-4) (REINFORCE++, Hu 2025).
    The centred advantages of every group sum to 0, so the batch mean is already 0 and is not
    subtracted again. With `world` > 1 processes (each holding whole groups) the batch std is
    that of the global batch. A group whose rewards are all equal gets exactly 0.
    """
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 (a group of one has no baseline), "
                         f"got {group_size}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, got {baseline!r}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a length that is a multiple of "
                         f"group_size={group_size}, got shape {tuple(rewards.shape)}")
    r = rewards.float().view(-1, group_size)                                # (B/G, G)
    centred = r - r.mean(dim=1, keepdim=True)                               # (B/G, G)
    all_equal = (r.max(dim=1, keepdim=True).values == r.min(dim=1, keepdim=True).values)
    # exact 0, no rounding noise
    centred = torch.where(all_equal, torch.zeros_like(centred), centred)
    # --- the variants of chapter 7, section 7.5 (GRPO itself: mean baseline, scale "group") ---
    if baseline == "loo":
        centred = centred * (group_size / (group_size - 1))
    if scale == "group":
        centred = centred / (r.std(dim=1, keepdim=True) + 1e-4)
    elif scale == "batch":
        # std over the global batch
        sums = all_reduce_sum(torch.stack([centred.pow(2).sum(),
                                           torch.tensor(float(centred.numel()),
                                                        device=centred.device)]), world)
        std = (sums[0] / (sums[1] - 1).clamp(min=1)).sqrt()                 # unbiased, batch mean 0
        centred = centred / (std + 1e-4)
    return centred.reshape(-1)                                              # (B,)


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps: float = 0.2,
              clip_eps_high: float | None = None, kl_coef: float = 0.0, loss_type: str = "grpo",
              max_response_len: int | None = None):
    """The clipped GRPO surrogate (to minimise) and detached stats.

    logprobs (B, T-1) under the current policy (with grad); old_logprobs (B, T-1) under the policy
    that sampled; ref_logprobs (B, T-1) under the reference (may be None when kl_coef == 0);
    advantages (B,) one per sequence (or (B, T-1) per token); mask (B, T-1) 1 on actions.
    loss_type: "grpo" = mean over sequences of each sequence's token mean (DeepSeekMath eq. 3);
    "dapo" = sum over all action tokens / their number; "dr_grpo" = sum / (B * max_response_len),
    where max_response_len is a constant (default: the batch's padded width T-1); "gspo" = mean over
    sequences of the clipped surrogate of the sequence ratio s_i = exp(masked mean_t (logp - old))
    (Zheng et al. 2025, eq. 5-7; advantages must then be one per sequence, and clip_frac is the
    share of clipped sequences). The KL term is a per-token mean of each sequence for grpo and gspo.
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
    if kl_coef < 0:
        raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
    if kl_coef > 0 and ref_logprobs is None:
        raise ValueError("kl_coef > 0 needs ref_logprobs (log-probs under the reference policy)")
    if loss_type == "gspo" and advantages.dim() != 1:
        raise ValueError("loss_type gspo needs one advantage per sequence, shape (B,)")
    mask = mask.to(logprobs.dtype)
    n_actions = mask.sum(dim=1).clamp(min=1)                                # (B,)
    # 3. the k3 estimate of KL(pi || pi_ref) per token (reported always, in the loss if kl_coef > 0)
    kl = torch.zeros_like(logprobs)
    if ref_logprobs is not None:
        kl = kl_estimate(logprobs, ref_logprobs, "k3")                      # (B, T-1), >= 0
    # --- a variant (section 7.5): GSPO, one clipped ratio per sequence ---
    if loss_type == "gspo":
        # 1-2. one length-normalised ratio per sequence, s_i = exp(mean_t log rho_it), clipped
        seq_logp = (logprobs * mask).sum(dim=1) / n_actions                 # (B,)
        seq_old = (old_logprobs.detach() * mask).sum(dim=1) / n_actions     # (B,)
        per_seq, ratio, clipped = clipped_surrogate(seq_logp, seq_old, advantages, clip_eps,
                                                    clip_eps_high)
        loss = (per_seq + kl_coef * (kl * mask).sum(dim=1) / n_actions).mean()
        seq = torch.ones_like(per_seq)
        stats = {"clip_frac": masked_mean(clipped, seq), "ratio": masked_mean(ratio, seq)}
    else:
        adv = advantages[:, None] if advantages.dim() == 1 else advantages  # (B, 1) or (B, T-1)
        # 1-2. the importance ratio of each action (1 on the first update after sampling) and the
        #      PPO-style clipped surrogate per token (the clip range may be asymmetric: DAPO
        #      clip-higher)
        per_token, ratio, clipped = clipped_surrogate(logprobs, old_logprobs, adv, clip_eps,
                                                      clip_eps_high)
        if kl_coef > 0:
            per_token = per_token + kl_coef * kl
        # 4. aggregate over tokens and sequences: GRPO's mean of sequence means; the variants
        #    of section 7.5 (DAPO's token mean, Dr. GRPO's constant denominator) below it
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


def grpo_step_loss(model, batch, cfg: GRPOConfig, max_len: int, world: int = 1):
    """The loss of one inner step on `batch` (from `update_batch`) -> (loss, stats, logp).
    pi_old is the policy that sampled: with one inner step that is the current policy (ratio 1).
    The loss carries batch.weight (the --skip_zero_groups rescaling) and, under DDP with DAPO's
    token mean, this process's share of the batch's tokens, so that DDP's gradient average equals
    the one-process gradient on the global batch. logp (B', T-1) is returned detached."""
    logp = token_logprobs(model, batch.tokens)                              # (B', T-1), with grad
    old = logp.detach() if cfg.inner_steps == 1 else batch.old_lp  # pi_old: the sampling policy
    loss, stats = grpo_loss(logp, old, batch.ref_lp, batch.adv, batch.mask, cfg.clip_eps,
                            cfg.clip_eps_high, cfg.kl_coef, cfg.loss_type, max_len)
    loss = loss * batch.weight
    if world > 1 and cfg.loss_type == "dapo":
        # a token mean: weight by this process's share of tokens
        loss = loss * batch.all_mask.sum() * world / all_reduce_sum(batch.all_mask.sum(), world)
    return loss, stats, logp.detach()


def train_grpo(cfg: GRPOConfig, model=None) -> TrainResult:
    """Run GRPO; under `torchrun --nproc_per_node N` each process samples whole groups for 1/N of
    the prompts (so group means and stds are exactly those of one process)."""
    tok, task, device = start(cfg)
    rank, world = init_distributed(device, cfg.batch_size)
    model = model if model is not None else new_policy(cfg, tok, task, device)
    ref = None
    if cfg.kl_coef > 0:                       # frozen copy of the start
        ref = frozen_copy(model)
    run = Run("grpo", cfg, tok, task, rank, world, log_eval_seconds=True,
              show=("reward_mean", "eval_accuracy", "completions_per_s"),
              plot=("eval_accuracy", "reward_mean", "zero_adv_groups", "kl_per_token"))
    optimizer = make_optimizer(model, cfg)
    rng = random.Random(cfg.seed)             # the same stream everywhere: the same global prompts
    if world > 1:
        torch.manual_seed(cfg.seed + 1000 * rank)  # ... but each process samples its own responses
    run.keep(model, optimizer, rng)            # what a checkpoint holds (--resume: restored)
    ddp = data_parallel(model, world)          # the model itself in one process
    G = cfg.group_size
    max_len = task.max_answer_len + 1
    model.train()
    for step in run.steps():
        # 1. a group of G responses to each prompt, scored by the verifier
        pairs = shard(task.sample_train(cfg.batch_size, rng), rank, world)
        prompts = [task.prompt(a, b) for a, b in pairs]
        rollout = sample(model, tok, task, prompts, samples_per_prompt=G,
                         temperature=cfg.temperature,
                         logprobs=cfg.inner_steps > 1)    # one inner step: pi_old is the current pi
        # 2. group-relative advantages (and the reference's log-probs for the KL term)
        adv = group_advantages(rollout.rewards, G, cfg.scale, cfg.baseline, world)  # (B,)
        ref_lp = None
        if ref is not None:
            with torch.no_grad():
                ref_lp = token_logprobs(ref, rollout.tokens)                # (B, T-1)
        # 3. inner_steps updates of the clipped surrogate on this rollout (one by default)
        set_lr(optimizer, cfg, step)
        logs = (step + 1) % cfg.log_every == 0
        batch = update_batch(model, rollout, adv, ref_lp, cfg, logs)  # every row, unless skipped
        for i in range(cfg.inner_steps):
            loss, stats, logp = grpo_step_loss(ddp, batch, cfg, max_len, world)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = clip_grad_norm(model, cfg.grad_clip)
            optimizer.step()
            if i == 0:
                first_logp = logp                                           # before any update
        dt = run.lap()                                        # this step's seconds

        # --- logging (skip on first read) ---
        if logs:
            reward_mean, zero_share, rows = reward_stats(rollout.rewards, G, world)
            run.add(loss=all_reduce_sum(loss.detach(), world).item() / world,
                    reward_mean=reward_mean, zero_adv_groups=zero_share,
                    clip_frac=stats["clip_frac"].item(), kl_per_token=stats["kl"].item(),
                    entropy=sampled_entropy(batch, first_logp).item(),
                    response_len=rollout.response_lengths.mean().item(), grad_norm=grad_norm,
                    step_seconds=dt, completions_per_s=rows / dt)
        run.step(step + 1)
    return run.finish(model, {"group_size": G, "loss_type": cfg.loss_type, "world_size": world},
                      completions_per_step=cfg.batch_size * G)


CLI = (GRPOConfig, train_grpo, "GRPO: group-relative policy optimisation with a verifiable reward")
