"""PPO, Proximal Policy Optimization, with a value model and a KL penalty, in one file (torch only).

Schulman et al. 2017, "Proximal Policy Optimization Algorithms", eq. 7 (the clipped surrogate),
with advantages by GAE, Schulman et al. 2016, "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", eq. 16, and the per-token KL penalty to a frozen reference of
Ziegler et al. 2019. Per action t of a sampled completion (the score sits on its last action):

    r_t     = - beta (log pi_old(a_t|s_t) - log pi_ref(a_t|s_t))  +  [t is last] * score(x, y)
    delta_t = r_t + gamma V(s_{t+1}) - V(s_t)                         V = 0 after the last action
    A_t     = sum_{k >= 0} (gamma lambda)^k delta_{t+k},      R_t = A_t + V(s_t)   (the targets)
    rho_t   = pi_theta(a_t|s_t) / pi_old(a_t|s_t)
    L^CLIP  = - mean_t min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)
    L^V     = 0.5 mean_t max((V - R)^2, (V_old + clip(V - V_old, -eps_v, eps_v) - R)^2)

Means are over the batch's actions; A is whitened over them. Each rollout is reused for a few
epochs of minibatch steps, which is what the clip is for. The clip fraction is the share of
actions whose clipped term is the smaller one, i.e. where the clip cuts the gradient.

The policy is any callable tokens (B, T) -> logits (B, T, V): a causal LM. The value model is any
callable tokens (B, T) -> values (B, T); by default, for an nn.Module policy, a copy of it with a
linear head on its logits (`ValueHead`, started at V = 0). Sampling is a plain loop that re-runs
the full forward for every new token; prompts are bucketed by token length, so no row ever sees
padding in front of it. Dropout makes log-probs noisy: put your model in eval mode first.
"""
from __future__ import annotations

import copy
import random
import time

import torch


# --- the pure functions -------------------------------------------------------------------------
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over the entries where mask is 1 (0 for an empty mask), a 0-dim tensor."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the masked entries (population std); 0 off the mask."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """rewards, values (V(s_t)), mask: (B, T-1) -> (advantages, returns = advantages + values),
    both (B, T-1) and 0 off the mask. The actions of a row are contiguous."""
    values = values * mask
    mask = mask.to(values.dtype)
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)   # (B, T-1)
    deltas = (rewards + gamma * next_values - values) * mask                # (B, T-1)
    n = deltas.size(-1)
    idx = torch.arange(n, device=deltas.device)
    power = (idx[:, None] - idx[None, :]).clamp(min=0).to(deltas.dtype)     # (T-1, T-1): j - t
    discount = torch.where(idx[:, None] >= idx[None, :], (gamma * lam) ** power, 0.0)
    advantages = (deltas @ discount) * mask                                 # (B, T-1)
    return advantages, (advantages + values) * mask


def token_rewards(scores, logp_old, ref_logp, mask, kl_coef: float):
    """scores (B,), the rest (B, T-1) -> r_t (B, T-1): -kl_coef * (log pi_old - log pi_ref) on
    every action (the k1 estimate of the KL) and each row's score on its last action."""
    last = (mask * torch.arange(mask.size(1), device=mask.device)).argmax(dim=1)   # (B,)
    on_last = torch.zeros_like(mask)
    has_action = mask.sum(dim=1) > 0
    on_last[has_action, last[has_action]] = scores[has_action].to(mask.dtype)
    return -kl_coef * (logp_old - ref_logp) * mask + on_last                # (B, T-1)


def ppo_policy_loss(logp, old_logp, advantages, mask, clip_eps: float = 0.2):
    """The clipped surrogate to minimise, and detached stats. logp (B, T-1) with grad; old_logp
    and advantages (B, T-1) are constants (detached here); mask (B, T-1), 1 on the actions."""
    old_logp = old_logp.detach()
    adv = advantages.detach()
    ratio = torch.exp(logp - old_logp)                                      # (B, T-1)
    surrogate = ratio * adv
    surrogate_clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv
    loss = masked_mean(-torch.min(surrogate, surrogate_clipped), mask)
    with torch.no_grad():
        clipped = (surrogate_clipped < surrogate).to(logp.dtype)            # the clip cuts here
        log_ratio = logp - old_logp
        stats = {"clip_frac": masked_mean(clipped, mask).item(),
                 "approx_kl": masked_mean(ratio - 1 - log_ratio, mask).item()}   # k3, old || new
    return loss, stats


def ppo_value_loss(values, old_values, returns, mask, clip_eps: float = 0.2):
    """0.5 masked mean of max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2). values
    (B, T-1) with grad; old_values, returns (B, T-1) constants. clip_eps = 0: unclipped."""
    old_values = old_values.detach()
    returns = returns.detach()
    loss_unclipped = (values - returns) ** 2
    if clip_eps <= 0:
        return 0.5 * masked_mean(loss_unclipped, mask)
    v_clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
    loss_clipped = (v_clipped - returns) ** 2
    return 0.5 * masked_mean(torch.maximum(loss_unclipped, loss_clipped), mask)


def token_logprobs(policy, tokens: torch.Tensor) -> torch.Tensor:
    """tokens (B, T) -> (B, T-1): log pi(tokens[:, t+1] | tokens[:, :t+1])."""
    logits = policy(tokens[:, :-1])                                         # (B, T-1, V)
    logp = torch.log_softmax(logits.float(), dim=-1)                        # (B, T-1, V)
    return logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)         # (B, T-1)


class ValueHead(torch.nn.Module):
    """V(s_t) for any causal LM: a copy of the policy and a linear head on its logits (which are
    a linear function of its last hidden state). tokens (B, T) -> values (B, T); starts at 0."""

    def __init__(self, policy: torch.nn.Module, vocab_size: int):
        super().__init__()
        self.body = copy.deepcopy(policy).train(policy.training).requires_grad_(True)
        self.head = torch.nn.Linear(vocab_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(tokens).float()).squeeze(-1)            # (B, T)


# --- sampling -----------------------------------------------------------------------------------
@torch.no_grad()
def sample(policy, prompt_ids: list, max_new_tokens: int, eos_id: int, pad_id: int,
           temperature: float = 1.0, generator: torch.Generator | None = None, device="cpu"):
    """Sample a completion per prompt (token-id lists) -> tokens (B, T) right-padded with pad_id,
    mask (B, T-1): mask[b, t] = 1 iff tokens[b, t+1] was sampled (an action, EOS included)."""
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("every prompt must encode to at least one token (e.g. a BOS)")
    rows = [None] * len(prompt_ids)
    for length in sorted({len(p) for p in prompt_ids}):                     # one bucket per length
        idx = [i for i, p in enumerate(prompt_ids) if len(p) == length]
        x = torch.tensor([prompt_ids[i] for i in idx], dtype=torch.long, device=device)  # (b, L)
        done = torch.zeros(len(idx), dtype=torch.bool, device=device)       # (b,)
        for _ in range(max_new_tokens):
            probs = torch.softmax(policy(x)[:, -1].float() / temperature, dim=-1)   # (b, V)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)       # (b,)
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
def train_ppo(policy, params, prompts, reward_fn, encode, decode, eos_id: int, pad_id: int, *,
              steps: int, batch_size: int, samples_per_prompt: int = 2, lr: float = 1e-4,
              max_new_tokens: int, temperature: float = 1.0, epochs: int = 2, minibatches: int = 2,
              clip_eps: float = 0.2, value_clip: float = 0.2, gamma: float = 1.0,
              lam: float = 0.95, kl_coef: float = 0.02, whiten: bool = True, warmup: int = 10,
              value_model=None, value_params=None, value_lr: float = 1e-3, ref_policy=None,
              grad_clip: float = 1.0, seed: int = 0, log=print, log_every: int = 10):
    """Train `policy` with PPO; returns one dict of statistics per step.

    policy(tokens (B, T)) -> logits (B, T, V); params: its tensors to optimise (AdamW, linear
    warmup over `warmup` steps, then constant lr); prompts: a list of strings or a callable rng ->
    prompt; reward_fn(prompt, completion) -> float; encode(prompt) -> token ids (with any BOS);
    decode(ids) -> completion string (the ids before EOS). value_model(tokens) -> (B, T) with
    value_params (default: a ValueHead on a copy of policy); ref_policy: the frozen reference
    for kl_coef > 0 (default: a copy of policy). log: a callable for a line of text, or None.
    """
    n = batch_size * samples_per_prompt
    if steps < 1 or n < 1 or epochs < 1 or minibatches < 1 or n % minibatches:
        raise ValueError("need steps, epochs >= 1 and minibatches dividing batch x samples")
    params = [p for p in params]
    device = params[0].device
    if not isinstance(policy, torch.nn.Module) and (value_model is None or
                                                     (kl_coef > 0 and ref_policy is None)):
        raise ValueError("a policy that is not an nn.Module: pass value_model, value_params "
                         "and ref_policy")
    if kl_coef > 0 and ref_policy is None:
        ref_policy = copy.deepcopy(policy).eval().requires_grad_(False)     # frozen start
    if value_model is None:
        vocab = policy(torch.tensor([list(encode(prompts[0] if not callable(prompts) else
                                                 prompts(random.Random(seed))))],
                                    device=device)).size(-1)
        value_model = ValueHead(policy, vocab).to(device)
        value_params = value_model.parameters()
    value_params = [p for p in value_params]
    opt_pi = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    opt_v = torch.optim.AdamW(value_params, lr=value_lr, weight_decay=0.0)
    rng = random.Random(seed)                                               # which prompts
    gen = torch.Generator(device=device).manual_seed(seed)                  # completions, batches
    max_norm = grad_clip if grad_clip > 0 else float("inf")
    history = []
    for step in range(steps):
        t0 = time.perf_counter()
        # 1. rollout: samples_per_prompt completions for each of batch_size prompts, scored
        batch = [prompts(rng) if callable(prompts) else rng.choice(prompts)
                 for _ in range(batch_size)]
        batch = [p for p in batch for _ in range(samples_per_prompt)]      # (n,)
        prompt_ids = [list(encode(p)) for p in batch]
        tokens, mask = sample(policy, prompt_ids, max_new_tokens, eos_id, pad_id, temperature,
                              gen, device)                                  # (n, T), (n, T-1)
        scores = []
        for row, p, text, m in zip(tokens.tolist(), prompt_ids, batch, mask.sum(1).long().tolist()):
            ids = row[len(p):len(p) + m]
            scores.append(float(reward_fn(text, decode(ids[:-1] if ids[-1:] == [eos_id] else ids))))
        scores = torch.tensor(scores, device=device)                        # (n,)
        # 2. pi_old, pi_ref and V_old on the rollout; rewards, GAE advantages and returns
        with torch.no_grad():
            old_logp = token_logprobs(policy, tokens) * mask                # (n, T-1)
            ref_logp = token_logprobs(ref_policy, tokens) * mask if kl_coef > 0 else old_logp
            old_values = value_model(tokens[:, :-1]) * mask                 # (n, T-1): V(s_t)
            rewards = token_rewards(scores, old_logp, ref_logp, mask, kl_coef)   # (n, T-1)
            advantages, returns = gae(rewards, old_values, mask, gamma, lam)
            if whiten:
                advantages = masked_whiten(advantages, mask)
        # 3. epochs of minibatch steps on this one rollout
        for group in opt_pi.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / max(1, warmup))
        for group in opt_v.param_groups:
            group["lr"] = value_lr * min(1.0, (step + 1) / max(1, warmup))
        stats = []
        for _ in range(epochs):
            for idx in torch.randperm(n, generator=gen, device=device).chunk(minibatches):
                m = mask[idx]
                logp = token_logprobs(policy, tokens[idx])                  # (b, T-1)
                pi_loss, s = ppo_policy_loss(logp, old_logp[idx], advantages[idx], m, clip_eps)
                values = value_model(tokens[idx, :-1])                      # (b, T-1)
                v_loss = ppo_value_loss(values, old_values[idx], returns[idx], m, value_clip)
                opt_pi.zero_grad(set_to_none=True)
                opt_v.zero_grad(set_to_none=True)
                (pi_loss + v_loss).backward()           # separate models: each gets its own loss
                torch.nn.utils.clip_grad_norm_(params, max_norm)
                torch.nn.utils.clip_grad_norm_(value_params, max_norm)
                opt_pi.step()
                opt_v.step()
                stats.append(dict(s, policy_loss=pi_loss.item(), value_loss=v_loss.item()))
        kl = ((old_logp - ref_logp) * mask).sum(dim=1).mean().item()       # nats per completion
        row = dict(step=step + 1, reward_mean=scores.mean().item(), kl=kl,
                   **{k: sum(s[k] for s in stats) / len(stats) for k in stats[0]},
                   response_len=mask.sum(dim=1).mean().item(), seconds=time.perf_counter() - t0)
        history.append(row)
        if log is not None and ((step + 1) % log_every == 0 or step + 1 == steps):
            log(f"ppo step {step + 1}/{steps}  reward {row['reward_mean']:.3f}  kl {kl:.4f}  "
                f"clip frac {row['clip_frac']:.3f}  value loss {row['value_loss']:.4f}")
    return history
