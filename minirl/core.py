"""The math every algorithm shares, written once.

Every function here is pure (tensors in, tensors out, inputs never modified) and follows the
tensor contract of docs/conventions.md: per-token tensors are (B, T-1), `mask` is 1 on actions,
and a row's actions are contiguous. The algorithm files import these, so their own "pure
functions" sections show only what is new to each algorithm.

    masked_mean, masked_mean_std, masked_whiten     statistics over the actions only
    discounted_cumsum                               returns-to-go, n-step sums, GAE
    gather_logprobs                                 log pi(a) from logits
    entropy_from_logits                             H(pi(.|s)) at every position
    kl_estimate                                     Schulman's k1 / k2 / k3 estimators of KL
    clipped_surrogate                               PPO's clipped objective and its clip fraction
    explained_variance                              how much of the return a critic explains

Derived in chapters/03-reinforce.md, 3.3 (returns-to-go), chapters/04-actor-critic.md, 4.2-4.3
(n-step sums, explained variance), chapters/05-ppo-and-rlhf.md, 5.2-5.4 (clip, GAE, KL).
"""
from __future__ import annotations

import torch

KL_KINDS = ("k1", "k2", "k3")


# --- statistics over the actions ------------------------------------------------------------
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over the entries where mask is 1 (0 for an empty mask), a 0-dim tensor.

    >>> masked_mean(torch.tensor([[1., 2., 9.]]), torch.tensor([[1., 1., 0.]]))
    tensor(1.5000)
    """
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """(mean, population std) of x over the masked entries, as Python floats (for logging).

    >>> masked_mean_std(torch.tensor([1., 3., 100.]), torch.tensor([1., 1., 0.]))
    (2.0, 1.0)
    """
    mean = masked_mean(x, mask)
    return float(mean), float(masked_mean(((x - mean) * mask) ** 2, mask)) ** 0.5


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the masked entries; 0 off the mask. Used to whiten advantages.

    >>> masked_whiten(torch.tensor([1., 3., 7.]), torch.tensor([1., 1., 0.]))
    tensor([-1.,  1.,  0.])
    """
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask


# --- discounting ----------------------------------------------------------------------------
def place_on_last_action(seq_values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """seq_values (B,), mask (B, T-1) -> (B, T-1) with each value on its row's last action."""
    last = (mask * torch.arange(mask.size(1), device=mask.device)).argmax(dim=1)   # (B,)
    out = torch.zeros_like(mask)
    has_action = mask.sum(dim=1) > 0
    out[has_action, last[has_action]] = seq_values[has_action].to(out.dtype)
    return out


def discounted_cumsum(x: torch.Tensor, factor: float, window: int | None = None) -> torch.Tensor:
    """y_t = sum_{0 <= k < window} factor^k x_{t+k} along the last dim (window None: to the end).

    The backward recursion y_t = x_t + factor y_{t+1} (Spinning Up's `discount_cumsum`) written
    as one product with the discount matrix D[j, t] = factor^(j - t) for 0 <= j - t < window, so
    there is no Python loop over time steps. x (..., T) -> (..., T).
        returns-to-go   G_t = discounted_cumsum(r, gamma)
        n-step sums     discounted_cumsum(r, gamma, window=n)
        GAE             A_t = discounted_cumsum(delta, gamma * lam)

    >>> discounted_cumsum(torch.tensor([1., 2., 3.]), 0.5)
    tensor([2.7500, 3.5000, 3.0000])
    """
    n = x.size(-1)
    idx = torch.arange(n, device=x.device)
    power = (idx[:, None] - idx[None, :]).clamp(min=0).to(x.dtype)                  # (T, T): j - t
    keep = idx[:, None] >= idx[None, :]
    if window is not None:
        keep = keep & (idx[:, None] - idx[None, :] < window)
    discount = torch.where(keep, factor ** power, 0.0)                              # (T, T)
    return x @ discount


# --- log-probabilities and KL -----------------------------------------------------------------
def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """logits (..., V), targets (...) -> log softmax(logits)[targets], shape (...).

    In float32 even under bf16 autocast: ratios exp(logp - logp_old) need the precision.

    >>> gather_logprobs(torch.zeros(1, 4), torch.tensor([2]))
    tensor([-1.3863])
    """
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """logits (B, T, V) -> entropy H(pi(.|s_t)) = -sum_a pi(a|s_t) log pi(a|s_t), shape (B, T),
    in nats.

    >>> entropy_from_logits(torch.zeros(1, 1, 4))            # uniform over 4 tokens: log 4
    tensor([[1.3863]])
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                kind: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from actions sampled from pi (Schulman 2020,
    "Approximating KL divergence"), with log r = logp - ref_logp:

        k1 = log r               unbiased for the KL's value, can be negative
        k2 = 0.5 (log r)^2       biased, low variance, >= 0
        k3 = exp(-log r) + log r - 1     unbiased and >= 0

    An unbiased value is not an unbiased gradient: in the reward and in the loss each has a
    different expected gradient (the table in chapter 5, section 5.4, which derives every entry;
    chapter 7 repeats it). Shapes: any, the same for both inputs.

    >>> kl_estimate(torch.tensor([0.]), torch.tensor([-1.]), "k2")
    tensor([0.5000])
    """
    diff = logprobs - ref_logprobs
    if kind == "k1":
        return diff
    if kind == "k2":
        return 0.5 * diff ** 2
    if kind == "k3":
        return torch.exp(-diff) + diff - 1
    raise ValueError(f"unknown KL estimator {kind!r}; use one of {KL_KINDS}")


# --- the clipped surrogate --------------------------------------------------------------------
def clipped_surrogate(logprobs, old_logprobs, advantages, clip_eps: float,
                      clip_eps_high: float | None = None):
    """PPO's clipped objective per token (Schulman et al. 2017, eq. 7), as a loss to minimise:

        rho_t = exp(logp_t - logp_old_t)
        loss_t = -min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps_high) A_t)

    logprobs (B, T-1) carry gradients; old_logprobs and advantages ((B, T-1), or (B, 1) to give
    every token of a row the same A) are constants and detached here. eps_high defaults to eps
    (DAPO's "clip-higher" makes it larger). Returns (loss_t, ratio, clipped), all (B, T-1);
    `clipped` is 1 where the clipped term is the smaller one, i.e. where the gradient is cut: its
    masked mean is the *clip fraction* every trainer logs.

    >>> loss, ratio, clipped = clipped_surrogate(torch.log(torch.tensor([1.5])), torch.zeros(1),
    ...                                          torch.ones(1), 0.2)
    >>> loss, clipped
    (tensor([-1.2000]), tensor([1.]))
    """
    clip_eps_high = clip_eps if clip_eps_high is None else clip_eps_high
    ratio = torch.exp(logprobs - old_logprobs.detach())                               # (B, T-1)
    adv = advantages.detach()
    surrogate = ratio * adv
    surrogate_clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps_high) * adv
    clipped = (surrogate_clipped < surrogate).to(logprobs.dtype)
    return -torch.min(surrogate, surrogate_clipped), ratio, clipped


# --- critics ----------------------------------------------------------------------------------
def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalized advantage estimation (Schulman et al. 2016, eq. 16).

    rewards, values, mask: (B, T-1); values[:, t] = V(s_t). The value after the last action is 0.
    Returns (advantages, returns = advantages + values), both (B, T-1) and 0 off the mask:
        delta_t = r_t + gamma V(s_{t+1}) - V(s_t),     A_t = sum_k (gamma lam)^k delta_{t+k}
    """
    values = values * mask
    mask = mask.to(values.dtype)
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)   # (B, T-1)
    deltas = (rewards + gamma * next_values - values) * mask                             # (B, T-1)
    advantages = discounted_cumsum(deltas, gamma * lam) * mask                           # (B, T-1)
    return advantages, (advantages + values) * mask


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(R - V) / Var(R) over the actions: 1 = a perfect critic, 0 = no better than a
    constant, < 0 = worse than one. NaN when the returns do not vary.

    >>> explained_variance(torch.tensor([1., 2.]), torch.tensor([1., 3.]), torch.ones(2))
    0.75
    """
    _, std_r = masked_mean_std(returns, mask)
    _, std_err = masked_mean_std(returns - values, mask)
    return float("nan") if std_r == 0 else 1.0 - std_err ** 2 / std_r ** 2
