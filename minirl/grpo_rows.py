"""The rows a GRPO update trains on (chapter 7, section 7.4): every row of the rollout, or with
--skip_zero_groups (and no KL term) only the groups whose rewards differ, the loss rescaled so that
the gradient is the full batch's; and what train_grpo logs about its rows (the entropy over every
row, the mean reward and the share of rows in zero-signal groups).
A speed option: with kl_coef = 0 it changes no number, only how much goes through the network.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .batches import token_logprobs
from .device import all_reduce_sum


def informative_rows(adv: torch.Tensor, group_size: int) -> torch.Tensor:
    """adv (B,) -> bool (B,): the rows of groups with a nonzero advantage. The other groups'
    terms of the loss are exactly 0 (and, with kl_coef = 0, so is their gradient); at least one
    group is kept, so that the optimizer still takes its (momentum-only) step when no group
    carries signal."""
    keep = (adv.view(-1, group_size) != 0).any(dim=1)                      # (B/G,)
    keep[0] |= ~keep.any()
    return keep.repeat_interleave(group_size)                               # (B,)


@dataclass
class UpdateBatch:
    tokens: torch.Tensor          # (B', T) the rows the update trains on
    mask: torch.Tensor            # (B', T-1)
    old_lp: torch.Tensor | None   # (B', T-1) log-probs under the sampling policy (inner_steps > 1)
    ref_lp: torch.Tensor | None   # (B', T-1) under the reference (kl_coef > 0)
    adv: torch.Tensor             # (B',)
    weight: object                # 1.0, or the share that gives the kept rows the whole
                                  # batch's denominator
    all_mask: torch.Tensor        # (B, T-1) the whole rollout's action mask
    skipped_logp_sum: object      # sum of the skipped rows' log-probs (for the logged entropy),
                                  # or 0.0


def update_batch(model, rollout, adv, ref_lp, cfg, log: bool = False) -> UpdateBatch:
    """The rows an update trains on: all of them, or with --skip_zero_groups (and kl_coef = 0) only
    the groups with a signal, the loss rescaled to the whole batch's denominator so that the
    gradient is the full batch's. On a `log` step the skipped rows' log-probs are summed (under the
    weights before the update) so that the logged entropy still covers every row."""
    if not (cfg.skip_zero_groups and ref_lp is None):
        return UpdateBatch(rollout.tokens, rollout.mask, rollout.logprobs, ref_lp, adv, 1.0,
                           rollout.mask, 0.0)
    keep = informative_rows(adv, cfg.group_size)                            # (B,) bool
    mask = rollout.mask[keep]                                               # (B', T-1)
    weight = (mask.sum() / rollout.mask.sum().clamp(min=1) if cfg.loss_type == "dapo"  # kept
              else keep.float().mean())                                     # kept rows, of all B
    skipped = 0.0
    if log and not keep.all():
        with torch.no_grad():
            skipped = (token_logprobs(model, rollout.tokens[~keep]) * rollout.mask[~keep]).sum()
    old_lp = None if rollout.logprobs is None else rollout.logprobs[keep]
    return UpdateBatch(rollout.tokens[keep], mask, old_lp, None, adv[keep], weight, rollout.mask,
                       skipped)


def sampled_entropy(batch: UpdateBatch, first_logp: torch.Tensor) -> torch.Tensor:
    """Mean -log pi(a_t|s_t) of the sampled actions under the policy before the update: at
    temperature 1 an estimate of the per-token entropy (nats), over every row of the rollout."""
    nll = (-first_logp * batch.mask).sum()
    n = batch.mask.sum()
    if not isinstance(batch.skipped_logp_sum, float):   # rows left out of the update
        nll = nll - batch.skipped_logp_sum
        n = batch.all_mask.sum()
    return nll / n.clamp(min=1)


def reward_stats(rewards: torch.Tensor, group_size: int, world: int = 1):
    """rewards (B,) in groups of G -> over every process: (mean reward, share of the rows that are
    in zero-signal groups (all G rewards equal), number of rows), as floats."""
    r = rewards.view(-1, group_size)                                         # (B/G, G)
    n = torch.tensor(float(len(rewards)), device=r.device)
    zero = (r.max(1).values == r.min(1).values).float().sum() * group_size
    totals = all_reduce_sum(torch.stack([rewards.sum(), zero, n]), world)
    return (totals[0] / totals[2]).item(), (totals[1] / totals[2]).item(), totals[2].item()
