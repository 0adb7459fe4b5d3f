"""GRPO, Group Relative Policy Optimization, in one file that depends on torch only.

Shao et al. 2024, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language
Models", eq. 3 (with outcome supervision and the KL estimator of their eq. 4).

For every prompt q, sample a group of G completions o_1..o_G from the current policy, score each
with a reward function, and use the group itself as the baseline (no value network):

    A_i = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + eps)          the same A_i on every token of o_i

The objective (maximised; we minimise its negative) is

    J(theta) = E_q (1/G) sum_i (1/|o_i|) sum_t [ min(rho_it A_i, clip(rho_it, 1 - e, 1 + e) A_i)
                                                 - beta * KL_it ]      beta = kl_coef
    rho_it = pi_theta(o_it | q, o_i,<t) / pi_old(o_it | q, o_i,<t)
    KL_it  = pi_ref / pi_theta - log(pi_ref / pi_theta) - 1         (the "k3" estimator, >= 0)

i.e. a token mean inside each completion, then a mean over completions. With inner_steps=1 the
ratio is exactly 1 and the loss is REINFORCE with a group-mean baseline; with inner_steps > 1 the
same samples are reused and the clip keeps the policy near the one that sampled them, as in PPO.
The std is the unbiased one (n - 1) and eps = 1e-4, as in TRL's GRPOTrainer. A group whose
rewards are all equal has all advantages 0 and contributes no gradient.

The policy is any callable tokens (B, T) -> logits (B, T, V): a causal LM. Sampling is a plain
loop that re-runs the full forward for every new token (no KV cache is assumed). Prompts are
bucketed by token length and each bucket is sampled on its own, so no row ever sees padding in
front of it: ragged prompts are handled exactly, at the cost of one sampling loop per length.
After sampling, rows are right-padded with pad_id; padding only ever follows a row's last action,
which a causal model cannot see from earlier positions, and the action mask drops it.
Dropout makes log-probs noisy: put your model in eval mode (model.eval()) before training.
"""
from __future__ import annotations

import copy
import random
import time

import torch


# --- the pure loss functions ------------------------------------------------------------------
def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """rewards (B,), rows [g*G:(g+1)*G] being the group of prompt g -> advantages (B,)."""
    if group_size < 2 or rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"need 1-D rewards whose length is a multiple of group_size >= 2, "
                         f"got shape {tuple(rewards.shape)} and group_size={group_size}")
    r = rewards.float().view(-1, group_size)                                # (B/G, G)
    adv = (r - r.mean(dim=1, keepdim=True)) / (r.std(dim=1, keepdim=True) + eps)
    same = r.max(dim=1, keepdim=True).values == r.min(dim=1, keepdim=True).values
    return torch.where(same, torch.zeros_like(adv), adv).view(-1)           # (B,), 0 if all equal


def token_logprobs(policy, tokens: torch.Tensor) -> torch.Tensor:
    """tokens (B, T) -> (B, T-1): log pi(tokens[:, t+1] | tokens[:, :t+1])."""
    logits = policy(tokens[:, :-1])                                         # (B, T-1, V)
    logp = torch.log_softmax(logits.float(), dim=-1)                        # (B, T-1, V)
    return logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)         # (B, T-1)


def grpo_loss(logp, old_logp, ref_logp, advantages, mask, clip_eps: float = 0.2,
              kl_coef: float = 0.0):
    """The GRPO loss to minimise, and detached statistics.

    logp (B, T-1) under the policy being trained (with grad); old_logp (B, T-1) under the policy
    that sampled; ref_logp (B, T-1) under the frozen reference, or None when kl_coef == 0;
    advantages (B,); mask (B, T-1), 1 on the sampled tokens (the actions, EOS included).
    old_logp and advantages are constants (detached here). clip_frac: the share of actions
    whose clipped term is the smaller one, i.e. where the clip cuts the gradient.
    """
    if kl_coef > 0 and ref_logp is None:
        raise ValueError("kl_coef > 0 needs ref_logp, the log-probs under the reference policy")
    mask = mask.to(logp.dtype)
    adv = advantages.detach()[:, None]                                      # (B, 1)
    ratio = torch.exp(logp - old_logp.detach())                             # (B, T-1)
    surrogate = ratio * adv                                                 # (B, T-1)
    surrogate_clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv
    per_token = -torch.min(surrogate, surrogate_clipped)                    # (B, T-1)
    kl = torch.zeros_like(logp)
    if ref_logp is not None:                                                # reported always
        d = ref_logp - logp                                                 # log(pi_ref / pi_theta)
        kl = torch.exp(d) - d - 1                                           # (B, T-1), k3 >= 0
    if kl_coef > 0:
        per_token = per_token + kl_coef * kl
    n_actions = mask.sum(dim=1).clamp(min=1)                                # (B,)
    loss = ((per_token * mask).sum(dim=1) / n_actions).mean()               # token mean, then mean
    with torch.no_grad():
        n = mask.sum().clamp(min=1)
        clipped = (surrogate_clipped < surrogate).to(mask.dtype)            # the clip cuts here
        stats = {"kl": ((kl * mask).sum() / n).item(),
                 "clip_frac": ((clipped * mask).sum() / n).item()}
    return loss, stats


# --- sampling ---------------------------------------------------------------------------------
@torch.no_grad()
def sample(policy, prompt_ids: list, max_new_tokens: int, eos_id: int, pad_id: int,
           temperature: float = 1.0, generator: torch.Generator | None = None, device="cpu"):
    """Sample a completion for each prompt (a list of token-id lists).

    -> tokens (B, T) = prompt, completion (ending in EOS unless cut at max_new_tokens), pad_id...
       mask (B, T-1): mask[b, t] = 1 iff tokens[b, t+1] was sampled (an action, EOS included).
    """
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("every prompt must encode to at least one token (e.g. a BOS)")
    rows = [None] * len(prompt_ids)
    for length in sorted({len(p) for p in prompt_ids}):                     # one bucket per length
        idx = [i for i, p in enumerate(prompt_ids) if len(p) == length]
        x = torch.tensor([prompt_ids[i] for i in idx], dtype=torch.long, device=device)   # (b, L)
        done = torch.zeros(len(idx), dtype=torch.bool, device=device)       # (b,)
        for _ in range(max_new_tokens):
            logits = policy(x)[:, -1].float() / temperature                 # (b, V), full recompute
            probs = torch.softmax(logits, dim=-1)                           # (b, V)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)   # (b,)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)      # finished rows: pad
            x = torch.cat([x, nxt[:, None]], dim=1)
            done = done | (nxt == eos_id)
            if bool(done.all()):
                break
        for j, i in enumerate(idx):
            rows[i] = x[j].tolist()
    T = max(len(r) for r in rows)
    tokens = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), T - 1)
    for b, (row, p) in enumerate(zip(rows, prompt_ids)):
        completion = row[len(p):]
        n = completion.index(eos_id) + 1 if eos_id in completion else len(completion)
        tokens[b, :len(p) + n] = torch.tensor(row[:len(p) + n])
        mask[b, len(p) - 1:len(p) - 1 + n] = 1                              # tokens p .. p+n-1
    return tokens.to(device), mask.to(device)


# --- the training loop --------------------------------------------------------------------------
def train_grpo(policy, params, prompts, reward_fn, encode, decode, eos_id: int, pad_id: int, *,
               steps: int, batch_size: int, group_size: int = 8, lr: float = 1e-4,
               max_new_tokens: int, temperature: float = 1.0, clip_eps: float = 0.2,
               kl_coef: float = 0.0, inner_steps: int = 1, warmup: int = 10,
               grad_clip: float = 1.0, ref_policy=None, seed: int = 0, log=print,
               log_every: int = 10):
    """Train `policy` with GRPO; returns one dict of statistics per step.

    policy(tokens (B, T)) -> logits (B, T, V); params: the tensors to optimise (AdamW, a linear
    warmup over `warmup` steps, then constant lr: Adam's first steps are large);
    prompts: a list of strings or a callable rng -> prompt string; reward_fn(prompt, completion)
    -> float; encode(prompt) -> token ids (include any BOS yourself); decode(ids) -> completion
    string (it gets the sampled ids before EOS); ref_policy: the frozen reference for kl_coef > 0
    (default: a deepcopy of policy when it is an nn.Module). log: called with a line of text
    every log_every steps, or None.
    """
    if group_size < 2 or steps < 1 or batch_size < 1 or inner_steps < 1 or not temperature > 0:
        raise ValueError("need group_size >= 2, steps, batch_size, inner_steps >= 1, "
                         "temperature > 0")
    params = [p for p in params]
    device = params[0].device
    if kl_coef > 0 and ref_policy is None:
        if not isinstance(policy, torch.nn.Module):
            raise ValueError("kl_coef > 0 with a policy that is not an nn.Module: pass ref_policy")
        ref_policy = copy.deepcopy(policy).eval().requires_grad_(False)     # frozen start
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = random.Random(seed)                                               # which prompts
    gen = torch.Generator(device=device).manual_seed(seed)                  # which completions
    history = []
    for step in range(steps):
        t0 = time.perf_counter()
        # 1. a batch of prompts, each repeated group_size times (rows [g*G:(g+1)*G] = group g)
        batch = [prompts(rng) if callable(prompts) else rng.choice(prompts)
                 for _ in range(batch_size)]
        batch = [p for p in batch for _ in range(group_size)]                            # (B,)
        prompt_ids = [list(encode(p)) for p in batch]
        tokens, mask = sample(policy, prompt_ids, max_new_tokens, eos_id, pad_id, temperature,
                              gen, device)                                  # (B, T), (B, T-1)
        # 2. score the completions, turn the rewards into group-relative advantages
        completions = []
        for row, p, m in zip(tokens.tolist(), prompt_ids, mask.sum(dim=1).long().tolist()):
            ids = row[len(p):len(p) + m]
            completions.append(decode(ids[:-1] if ids and ids[-1] == eos_id else ids))
        rewards = [float(reward_fn(p, c)) for p, c in zip(batch, completions)]
        rewards = torch.tensor(rewards, device=device)                     # (B,)
        adv = group_advantages(rewards, group_size)                                     # (B,)
        # 3. log-probs of the sampling policy and of the reference (no grad)
        with torch.no_grad():
            old_logp = token_logprobs(policy, tokens) if inner_steps > 1 else None      # (B, T-1)
            ref_logp = token_logprobs(ref_policy, tokens) if kl_coef > 0 else None      # (B, T-1)
        # 4. inner_steps gradient steps on this batch
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / max(1, warmup))
        for _ in range(inner_steps):
            logp = token_logprobs(policy, tokens)                                       # (B, T-1)
            old = logp.detach() if old_logp is None else old_logp
            loss, stats = grpo_loss(logp, old, ref_logp, adv, mask, clip_eps, kl_coef)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            max_norm = grad_clip if grad_clip > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            optimizer.step()
        r = rewards.view(-1, group_size)
        row = dict(step=step + 1, reward_mean=rewards.mean().item(), loss=loss.item(), **stats,
                   zero_adv_groups=(r.max(1).values == r.min(1).values).float().mean().item(),
                   response_len=mask.sum(dim=1).mean().item(), grad_norm=float(grad_norm),
                   seconds=time.perf_counter() - t0)
        history.append(row)
        if log is not None and ((step + 1) % log_every == 0 or step + 1 == steps):
            log(f"grpo step {step + 1}/{steps}  reward {row['reward_mean']:.3f}  "
                f"loss {row['loss']:+.4f}  "
                f"kl {row['kl']:.4f}  zero-signal groups {row['zero_adv_groups']:.2f}")
    return history
