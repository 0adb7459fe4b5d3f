"""Graders for chapter 5 (exercises/ch05_ppo.py): GAE, PPO's clipped losses, the KL leash and
the Bradley-Terry reward-model loss.

Each check takes the function under test and raises AssertionError with a message that says
what was expected and what came back. See tests/exercises/harness.py for how they are run.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from minirl import core, ppo, reward_model

EXERCISE_FILE = "ch05_ppo.py"


def _fmt(t, nd: int = 4):
    return [round(x, nd) for x in t.detach().flatten().tolist()] if t.dim() else round(float(t.detach()), nd)


def _close(got, want, what: str, tol: float = 1e-5):
    want = torch.as_tensor(want, dtype=torch.float64)
    assert isinstance(got, torch.Tensor), f"{what}: expected a tensor, got {type(got).__name__}"
    assert got.shape == want.shape, f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
    g = got.detach().double()
    assert torch.isfinite(g).all() and torch.allclose(g, want, atol=tol, rtol=tol), \
        f"{what}: expected {_fmt(want)}, got {_fmt(g)}"


def _loss_stats(out, what):
    assert isinstance(out, tuple) and len(out) == 2, f"{what}: return (loss, stats), got {type(out).__name__}"
    return out


def _backward(loss: torch.Tensor, what: str):
    assert loss.requires_grad, f"{what} carries no gradient: it must be computed from its inputs " \
                               "(no .detach(), no torch.no_grad(), no new tensor built from numbers)"
    loss.backward()


def _shaped(got, shape, what: str) -> torch.Tensor:
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(shape), \
        f"{what}: expected a tensor of shape {tuple(shape)}, got {getattr(got, 'shape', type(got).__name__)}"
    return got


def _gae_out(out, shape):
    """(advantages, returns) of the given shape from a gae call."""
    assert isinstance(out, tuple) and len(out) == 2, f"gae: return (advantages, returns), got {type(out).__name__}"
    return _shaped(out[0], shape, "gae advantages"), _shaped(out[1], shape, "gae returns")


def _batch(seed=0, B=5, T=8):
    """rewards, values, mask (B, T): each row a prompt, a contiguous response, then padding."""
    g = torch.Generator().manual_seed(seed)
    start, length = torch.randint(1, 3, (B,), generator=g), torch.randint(1, 5, (B,), generator=g)
    idx = torch.arange(T)[None, :]
    mask = ((idx >= start[:, None]) & (idx < (start + length)[:, None])).double()
    return torch.randn(B, T, generator=g, dtype=torch.float64), torch.randn(B, T, generator=g, dtype=torch.float64), mask


def _returns_to_go(rewards, mask, gamma):
    out = torch.zeros_like(rewards)
    for b in range(rewards.size(0)):
        g = 0.0
        for t in reversed(range(rewards.size(1))):
            if mask[b, t]:
                g = float(rewards[b, t]) + gamma * g
                out[b, t] = g
    return out


# --------------------------------------------------------------------------- gae

def check_gae_hand_value(fn):
    """rewards [_, 0, 0, 1, _], values [_, .5, .6, .7, _], actions at 1..3, gamma .9, lam .8."""
    r = torch.tensor([[5.0, 0.0, 0.0, 1.0, 7.0]], dtype=torch.float64)
    v = torch.tensor([[9.0, 0.5, 0.6, 0.7, 3.0]], dtype=torch.float64)
    m = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    adv, ret = _gae_out(fn(r, v, m, 0.9, 0.8), m.shape)
    # deltas: 0.3 (no bootstrap after the last action), 0.9*.7-.6 = .03, 0.9*.6-.5 = .04; then backwards
    _close(adv, [[0.0, 0.21712, 0.246, 0.3, 0.0]], "advantages (delta_t + gamma*lam*A_{t+1}, from the end)")
    _close(ret, [[0.0, 0.71712, 0.846, 1.0, 0.0]], "returns (advantages + values on actions, 0 elsewhere)")


def check_gae_lambda_one_is_monte_carlo(fn):
    """lam = 1: A_t = (discounted return-to-go) - V(s_t)."""
    r, v, m = _batch(1)
    adv, ret = _gae_out(fn(r, v, m, 0.9, 1.0), m.shape)
    want = _returns_to_go(r, m, 0.9)
    _close(adv * m, (want - v) * m, "with lam=1 advantages = returns-to-go - values", tol=1e-6)
    _close(ret * m, want, "with lam=1 returns = the discounted returns-to-go", tol=1e-6)


def check_gae_lambda_zero_is_td_error(fn):
    """lam = 0: A_t = delta_t = r_t + gamma V(s_{t+1}) - V(s_t), with V = 0 after the last action."""
    r, v, m = _batch(2)
    nxt = torch.cat([v[:, 1:] * m[:, 1:], torch.zeros(v.size(0), 1, dtype=v.dtype)], dim=1)
    adv, _ = _gae_out(fn(r, v, m, 0.8, 0.0), m.shape)
    _close(adv * m, (r + 0.8 * nxt - v) * m, "with lam=0 advantages = one-step TD errors", tol=1e-6)


def check_gae_masking_and_no_inplace(fn):
    """Prompt/padding rewards and values change nothing; outputs are 0 there; inputs untouched."""
    r, v, m = _batch(3)
    r2, v2 = r.clone(), v.clone()
    r2[m == 0] += 50.0
    v2[m == 0] -= 50.0
    keep = (r2.clone(), v2.clone(), m.clone())
    a1, _ = _gae_out(fn(r, v, m, 0.95, 0.9), m.shape)
    a2, ret2 = _gae_out(fn(r2, v2, m, 0.95, 0.9), m.shape)
    _close(a2, a1, "advantages when prompt/padding rewards and values are changed", tol=1e-6)
    _close(ret2 * (1 - m), torch.zeros_like(m), "returns off the mask")
    assert all(torch.equal(x, y) for x, y in zip(keep, (r2, v2, m))), "gae modified its inputs in place"


def check_gae_integer_rewards(fn):
    """The verifier's rewards as a long tensor: advantages and returns are floats, the same as for
    float rewards (never build them with zeros_like(rewards))."""
    r = torch.tensor([[5, 0, 0, 1, 7]])
    v = torch.tensor([[9.0, 0.5, 0.6, 0.7, 3.0]], dtype=torch.float64)
    m = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    adv, ret = _gae_out(fn(r, v, m, 0.9, 0.8), m.shape)
    for name, out in (("advantages", adv), ("returns", ret)):
        assert out.is_floating_point(), f"gae with long rewards: expected float {name}, got {out.dtype}"
    _close(adv, [[0.0, 0.21712, 0.246, 0.3, 0.0]], "advantages for long rewards [[5, 0, 0, 1, 7]]")
    _close(ret, [[0.0, 0.71712, 0.846, 1.0, 0.0]], "returns for long rewards [[5, 0, 0, 1, 7]]")


def gae_forwards(rewards, values, mask, gamma, lam):            # recursion run left to right
    nxt = torch.cat([values[:, 1:] * mask[:, 1:], torch.zeros_like(values[:, :1])], dim=1)
    delta = (rewards + gamma * nxt - values) * mask
    adv, acc = torch.zeros_like(delta), torch.zeros_like(delta[:, 0])
    for t in range(delta.size(1)):
        acc = delta[:, t] + gamma * lam * acc * mask[:, t]
        adv[:, t] = acc
    adv = adv * mask
    return adv, (adv + values) * mask


def gae_lambda_gamma_swapped(rewards, values, mask, gamma, lam):
    return ppo.gae(rewards, values, mask, lam, gamma)


def gae_bootstrap_past_end(rewards, values, mask, gamma, lam):  # V of the padding after EOS leaks in
    nxt = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)
    delta = (rewards + gamma * nxt - values) * mask
    adv, acc = torch.zeros_like(delta), torch.zeros_like(delta[:, 0])
    for t in reversed(range(delta.size(1))):
        acc = delta[:, t] + gamma * lam * acc
        adv[:, t] = acc
    adv = adv * mask
    return adv, (adv + values) * mask


def gae_returns_are_advantages(rewards, values, mask, gamma, lam):
    adv, _ = ppo.gae(rewards, values, mask, gamma, lam)
    return adv, adv


def gae_int_buffer(rewards, values, mask, gamma, lam):  # the advantage buffer has the rewards' dtype
    values = values * mask
    nxt = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)
    adv, acc = torch.zeros_like(rewards), torch.zeros_like(values[:, 0])
    for t in reversed(range(rewards.size(1))):
        acc = (rewards[:, t] + gamma * nxt[:, t] - values[:, t] + gamma * lam * acc) * mask[:, t]
        adv[:, t] = acc                                                # truncated when rewards are long
    return adv, (adv + values) * mask



# --------------------------------------------------------------------------- ppo_policy_loss

def _policy_case():
    log_ratio = torch.log(torch.tensor([[1.5, 0.5, 1.5, 0.5, 1.1, 3.0]], dtype=torch.float64))
    adv = torch.tensor([[1.0, -1.0, -1.0, 1.0, 2.0, 9.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    return log_ratio, adv, mask


def check_policy_hand_value(fn):
    """rho [1.5, .5, 1.5, .5, 1.1 | masked], A [1, -1, -1, 1, 2], eps .2 -> mean(-1.2, .8, 1.5, -.5, -2.2)."""
    log_ratio, adv, mask = _policy_case()
    loss, stats = _loss_stats(fn(log_ratio.clone().requires_grad_(), torch.zeros_like(adv), adv, mask, 0.2),
                              "ppo_policy_loss")
    _close(loss, (-1.2 + 0.8 + 1.5 - 0.5 - 2.2) / 5, "loss = masked mean of max(-A rho, -A clip(rho))")
    assert isinstance(stats, dict) and "clip_frac" in stats and "approx_kl" in stats, \
        f"ppo_policy_loss: stats must be a dict with 'clip_frac' and 'approx_kl', got {stats!r}"


def check_policy_gradient_flat_past_the_clip(fn):
    """Past the clip in the direction the advantage pushes, the gradient is 0; elsewhere it flows."""
    log_ratio, adv, mask = _policy_case()
    logp = log_ratio.clone().requires_grad_()
    loss, _ = _loss_stats(fn(logp, torch.zeros_like(adv), adv, mask, 0.2), "ppo_policy_loss")
    _backward(loss, "ppo_policy_loss")
    g = logp.grad[0]
    assert g[0] == 0 and g[1] == 0, f"rho=1.5 with A>0 and rho=0.5 with A<0 are clipped: gradient must be 0, got {_fmt(g)}"
    assert g[2] > 0 and g[3] < 0, ("rho=1.5 with A<0 and rho=0.5 with A>0 are NOT clipped (pessimistic bound): "
                                   f"expected gradients -A*rho/5 = [0.3, -0.1], got {_fmt(g[2:4])}")
    assert g[5] == 0, "the masked position must get no gradient"


def check_policy_equals_pg_at_ratio_one(fn):
    """When logprobs == old_logprobs, value and gradient equal those of -mean(A * logp)."""
    _, adv, mask = _batch(4)
    logp = (-torch.rand(adv.shape, dtype=torch.float64)).requires_grad_()
    loss, stats = _loss_stats(fn(logp, logp.detach().clone(), adv, mask, 0.2), "ppo_policy_loss")
    _close(loss, -(adv * mask).sum() / mask.sum(), "loss at rho = 1")
    (grad,) = torch.autograd.grad(loss, logp)
    _close(grad, -adv * mask / mask.sum(), "gradient at rho = 1 (the policy-gradient one)")
    _close(torch.as_tensor(stats["approx_kl"]).double(), 0.0, "stats['approx_kl'] at rho = 1")


def check_policy_old_logprobs_get_no_gradient(fn):
    """old_logprobs come from the sampling policy: the loss must treat them as constants."""
    _, adv, mask = _batch(5)
    logp = torch.randn(adv.shape, dtype=torch.float64).requires_grad_()
    old = (logp.detach() + 0.1).requires_grad_()
    loss, _ = _loss_stats(fn(logp, old, adv, mask, 0.2), "ppo_policy_loss")
    _backward(loss, "ppo_policy_loss")
    assert old.grad is None or not old.grad.any(), "a gradient reached old_logprobs: detach them"
    assert logp.grad is not None and logp.grad.any(), "no gradient reached logprobs"


def _stat(stats, key: str) -> float:
    assert isinstance(stats, dict) and key in stats, f"ppo_policy_loss: stats has no {key!r}: {stats!r}"
    x = stats[key]
    assert isinstance(x, (int, float)) or (isinstance(x, torch.Tensor) and x.numel() == 1), \
        f"stats[{key!r}]: expected a number or a 0-d tensor, got {getattr(x, 'shape', type(x).__name__)}"
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def check_policy_clip_frac(fn):
    """clip_frac is the share of actions whose clipped term is the smaller one, i.e. where clipping
    cuts the gradient (docs/conventions.md): 2 of the 5 actions of the hand case (rho 1.5 with A > 0,
    rho 0.5 with A < 0). A ratio outside [1 - eps, 1 + eps] on the pessimistic side keeps its
    gradient and does not count; the masked position does not count either."""
    log_ratio, adv, mask = _policy_case()
    _, stats = _loss_stats(fn(log_ratio.clone().requires_grad_(), torch.zeros_like(adv), adv, mask, 0.2),
                           "ppo_policy_loss")
    cf = _stat(stats, "clip_frac")
    assert abs(cf - 0.4) < 1e-6, \
        f"stats['clip_frac'] for rho [1.5, .5, 1.5, .5, 1.1], A [1, -1, -1, 1, 2], eps 0.2: expected 0.4 (the " \
        f"clipped term is the smaller objective on 2 of 5 actions), got {cf:.4g} (0.8 counts every ratio outside " \
        "[0.8, 1.2], including the two whose gradient is not cut)"


def _stats_case():
    """Per-token log-ratios that vary, and different junk on the padding: a mask bug shows."""
    log_ratio = torch.tensor([[0.1, -0.3, 0.5, 2.0], [0.05, 1.5, -1.0, 0.4]], dtype=torch.float64)
    adv = torch.tensor([[0.5, -1.0, 2.0, 9.0], [1.0, 7.0, -3.0, -0.5]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    return log_ratio, adv, mask


def check_policy_stats_ignore_padding(fn):
    """approx_kl and clip_frac are means over the actions only: with log-ratios that vary from token
    to token and junk on the padding, approx_kl = masked mean of (rho - 1) - log rho."""
    log_ratio, adv, mask = _stats_case()
    _, stats = _loss_stats(fn(log_ratio.clone().requires_grad_(), torch.zeros_like(adv), adv, mask, 0.2),
                           "ppo_policy_loss")
    rho = log_ratio.exp()
    want_kl = float(((rho - 1 - log_ratio) * mask).sum() / mask.sum())
    clipped = (rho.clamp(0.8, 1.2) * adv < rho * adv).double()
    want_cf = float((clipped * mask).sum() / mask.sum())
    kl, cf = _stat(stats, "approx_kl"), _stat(stats, "clip_frac")
    assert abs(kl - want_kl) < 1e-6, \
        f"stats['approx_kl'] with mask {mask.int().tolist()}: expected the mean over the 5 actions {want_kl:.5g}, " \
        f"got {kl:.5g}"
    assert abs(cf - want_cf) < 1e-6, \
        f"stats['clip_frac'] with mask {mask.int().tolist()}: expected {want_cf:.4g} (2 of the 5 actions), got {cf:.4g}"


def check_policy_stats_detached(fn):
    """The stats are for logging: numbers or detached tensors, never attached to the autograd graph
    (a logged tensor with a graph keeps the whole graph alive)."""
    log_ratio, adv, mask = _stats_case()
    logp = log_ratio.clone().requires_grad_()
    _, stats = _loss_stats(fn(logp, torch.zeros_like(adv), adv, mask, 0.2), "ppo_policy_loss")
    assert isinstance(stats, dict), f"ppo_policy_loss: stats must be a dict, got {type(stats).__name__}"
    attached = [k for k, v in stats.items() if isinstance(v, torch.Tensor) and v.requires_grad]
    assert not attached, f"stats {attached} carry a gradient: compute them under torch.no_grad() or .detach() them"


def check_policy_empty_mask(fn):
    """A batch without any action (an all-zero mask) gives loss 0, clip_frac 0 and approx_kl 0, not
    NaN: divide by mask.sum().clamp(min=1)."""
    log_ratio, adv, _ = _policy_case()
    loss, stats = _loss_stats(fn(log_ratio.clone().requires_grad_(), torch.zeros_like(adv), adv,
                                 torch.zeros_like(adv), 0.2), "ppo_policy_loss")
    _close(loss, 0.0, "ppo_policy_loss with an all-zero mask (divide by max(1, mask.sum()))")
    for key in ("clip_frac", "approx_kl"):
        got = _stat(stats, key)
        assert got == 0.0, f"stats[{key!r}] with an all-zero mask: expected 0, got {got}"


def check_policy_very_negative_logprobs(fn):
    """Long-tail tokens have log-probs like -200: rho = exp(logp - old) stays exact (here e^0.1,
    e^-0.1, 1), whereas exp(logp) / exp(old) is 0 / 0 = NaN in float32."""
    old = torch.tensor([[-200.0, -150.0, -300.0]])
    logp = (old + torch.tensor([[0.1, -0.1, 0.0]])).requires_grad_()
    adv = torch.tensor([[1.0, 1.0, -1.0]])
    loss, stats = _loss_stats(fn(logp, old, adv, torch.ones(1, 3), 0.2), "ppo_policy_loss")
    want = (-math.exp(0.1) - math.exp(-0.1) + 1.0) / 3
    _close(loss, want, "ppo_policy_loss for log-probs near -200 with log-ratios [0.1, -0.1, 0] "
           "(compute rho = exp(logprobs - old_logprobs))", tol=1e-4)
    kl = _stat(stats, "approx_kl")
    assert math.isfinite(kl), f"stats['approx_kl'] for log-probs near -200: expected a finite number, got {kl}"


def check_policy_inputs_untouched(fn):
    """The inputs are not modified, checked with a partial mask and junk off it:
    advantages.detach() and old_logprobs.detach() share memory with the caller's tensors."""
    log_ratio, adv, mask = _stats_case()
    old = torch.zeros_like(adv) - torch.arange(8, dtype=adv.dtype).view(2, 4)
    copies = (adv.clone(), old.clone(), mask.clone())
    _loss_stats(fn((old + log_ratio).requires_grad_(), old, adv, mask, 0.2), "ppo_policy_loss")
    for name, x, x0 in zip(("advantages", "old_logprobs", "mask"), (adv, old, mask), copies):
        assert torch.equal(x, x0), f"ppo_policy_loss modified its input {name} in place: {_fmt(x0)} became {_fmt(x)}"


def policy_min_instead_of_max(logprobs, old_logprobs, advantages, mask, clip_eps):
    ratio = torch.exp(logprobs - old_logprobs.detach())
    x = torch.minimum(-advantages * ratio, -advantages * ratio.clamp(1 - clip_eps, 1 + clip_eps))
    return (x * mask).sum() / mask.sum(), {"clip_frac": 0.4, "approx_kl": 0.0}


def policy_old_not_detached(logprobs, old_logprobs, advantages, mask, clip_eps):
    ratio = torch.exp(logprobs - old_logprobs)
    x = torch.maximum(-advantages * ratio, -advantages * ratio.clamp(1 - clip_eps, 1 + clip_eps))
    return (x * mask).sum() / mask.sum(), {"clip_frac": 0.4, "approx_kl": ((ratio - 1) - (logprobs - old_logprobs)).mean()}


def policy_no_clip(logprobs, old_logprobs, advantages, mask, clip_eps):
    ratio = torch.exp(logprobs - old_logprobs.detach())
    return (-advantages * ratio * mask).sum() / mask.sum(), {"clip_frac": 0.4, "approx_kl": 0.0}


def policy_mask_ignored(logprobs, old_logprobs, advantages, mask, clip_eps):
    loss, stats = ppo.ppo_policy_loss(logprobs, old_logprobs, advantages, torch.ones_like(mask), clip_eps)
    return loss, {**stats, "clip_frac": 0.4}


def _ppo_from_ratio(ratio, logprobs, old_logprobs, advantages, mask, clip_eps, n):
    """The clipped loss and its stats from a given ratio, divided by n (for the variants below)."""
    adv = advantages.detach()
    per = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - clip_eps, 1 + clip_eps))
    with torch.no_grad():
        clipped = (ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv < ratio * adv).to(ratio.dtype)
        log_ratio = logprobs - old_logprobs
        stats = {"clip_frac": (clipped * mask).sum() / n, "approx_kl": ((ratio - 1 - log_ratio) * mask).sum() / n}
    return (per * mask).sum() / n, stats


def policy_clip_frac_outside_range(logprobs, old_logprobs, advantages, mask, clip_eps):  # CleanRL: |rho - 1| > eps
    loss, stats = ppo.ppo_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps)
    ratio = torch.exp(logprobs - old_logprobs).detach()
    return loss, {**stats, "clip_frac": core.masked_mean(((ratio - 1).abs() > clip_eps).to(ratio.dtype), mask)}


def policy_approx_kl_over_padding(logprobs, old_logprobs, advantages, mask, clip_eps):  # .mean() for the log
    loss, stats = ppo.ppo_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps)
    log_ratio = (logprobs - old_logprobs).detach()
    return loss, {**stats, "approx_kl": (log_ratio.exp() - 1 - log_ratio).mean()}


def policy_stats_keep_graph(logprobs, old_logprobs, advantages, mask, clip_eps):  # logged with the graph attached
    loss, stats = ppo.ppo_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps)
    log_ratio = logprobs - old_logprobs.detach()
    return loss, {**stats, "approx_kl": core.masked_mean(log_ratio.exp() - 1 - log_ratio, mask)}


def policy_nan_on_empty(logprobs, old_logprobs, advantages, mask, clip_eps):  # 0 / 0 without an action
    ratio = torch.exp(logprobs - old_logprobs.detach())
    return _ppo_from_ratio(ratio, logprobs, old_logprobs, advantages, mask, clip_eps, mask.sum())


def policy_ratio_of_probabilities(logprobs, old_logprobs, advantages, mask, clip_eps):  # pi / pi_old underflows
    ratio = logprobs.exp() / old_logprobs.detach().exp()
    return _ppo_from_ratio(ratio, logprobs, old_logprobs, advantages, mask, clip_eps, mask.sum().clamp(min=1))



def policy_zeroes_padding_in_place(logprobs, old_logprobs, advantages, mask, clip_eps):  # detach() shares memory
    adv = advantages.detach()
    adv[mask == 0] = 0.0
    return ppo.ppo_policy_loss(logprobs, old_logprobs, adv, mask, clip_eps)



# --------------------------------------------------------------------------- ppo_value_loss

def _value_case():
    values = torch.tensor([[1.0, 0.0, 0.5, 42.0]], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([[0.0, 0.0, 0.4, 0.0]], dtype=torch.float64)
    returns = torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    return values, old, returns, mask


def check_value_hand_value(fn):
    """V [1, 0, .5 | masked], V_old [0, 0, .4], R [1, 1, 0], eps .2 -> 0.5 * mean(.64, 1, .25)."""
    values, old, returns, mask = _value_case()
    loss, _ = _loss_stats(fn(values, old, returns, mask, 0.2), "ppo_value_loss")
    _close(loss, 0.5 * (0.64 + 1.0 + 0.25) / 3, "value loss (token 0: V clipped to 0.2, error 0.64)")


def check_value_clip_gradient(fn):
    """The clipped token (V moved 1.0 from V_old) gets no gradient; the others do; padding none."""
    values, old, returns, mask = _value_case()
    loss, _ = _loss_stats(fn(values, old, returns, mask, 0.2), "ppo_value_loss")
    _backward(loss, "ppo_value_loss")
    g = values.grad[0]
    assert g[0] == 0 and g[3] == 0, f"expected no gradient on the clipped and the masked token, got {_fmt(g)}"
    _close(g[1:3], [-1.0 / 3, 0.5 / 3], "gradient of the unclipped tokens, (V - R) / n_actions")


def check_value_no_clip(fn):
    """clip_eps = 0 means no clipping: 0.5 * masked mean (V - R)^2."""
    values, old, returns, mask = _value_case()
    loss, _ = _loss_stats(fn(values, old, returns, mask, 0.0), "ppo_value_loss")
    _close(loss, 0.5 * (0.0 + 1.0 + 0.25) / 3, "unclipped value loss")


def check_value_large_errors_are_squared(fn):
    """The value loss is 0.5 (V - R)^2 for any size of error: V = V_old = 0, R = [3, -2] give
    0.5 * mean(9, 4) = 3.25 and gradient (V - R) / 2 = [-1.5, 1]. Huber's loss (F.smooth_l1_loss)
    agrees only while |V - R| <= 1."""
    values = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    loss, _ = _loss_stats(fn(values, torch.zeros(1, 2, dtype=torch.float64),
                             torch.tensor([[3.0, -2.0]], dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64),
                             0.2), "ppo_value_loss")
    _close(loss, 3.25, "value loss for V = V_old = 0, R = [3, -2] (0.5 * mean of the squared errors 9 and 4)")
    _backward(loss, "ppo_value_loss")
    _close(values.grad, [[-1.5, 1.0]], "d loss / d values for errors V - R = [-3, 2]")


def check_value_empty_mask(fn):
    """An all-zero mask gives value loss 0, not NaN: divide by mask.sum().clamp(min=1)."""
    values, old, returns, mask = _value_case()
    loss, _ = _loss_stats(fn(values, old, returns, torch.zeros_like(mask), 0.2), "ppo_value_loss")
    _close(loss, 0.0, "ppo_value_loss with an all-zero mask (divide by max(1, mask.sum()))")


def check_value_targets_get_no_gradient(fn):
    """old_values and returns are constants: when the caller built returns = advantages + values with
    the gradient still attached, the critic's gradient is still (V - R) / n_actions, and no gradient
    reaches old_values."""
    values = torch.tensor([[0.5, 0.1, -0.3]], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([[0.1, -0.15, 0.05]], dtype=torch.float64)
    returns = values + adv                                              # built with gradient
    old = (values.detach() + 0.01).requires_grad_()
    loss, _ = _loss_stats(fn(values, old, returns, torch.ones(1, 3, dtype=torch.float64), 0.2), "ppo_value_loss")
    _backward(loss, "ppo_value_loss")
    _close(values.grad, (-adv / 3).tolist(), "d loss / d values with returns built from values "
           "(detach the returns: the target must not move with V)")
    assert old.grad is None or not old.grad.any(), f"a gradient reached old_values ({_fmt(old.grad)}): detach them"


def value_min_instead_of_max(values, old_values, returns, mask, clip_eps):
    vc = old_values + (values - old_values).clamp(-clip_eps, clip_eps) if clip_eps > 0 else values
    x = torch.minimum((values - returns) ** 2, (vc - returns) ** 2)
    return 0.5 * (x * mask).sum() / mask.sum(), {}


def value_no_half(values, old_values, returns, mask, clip_eps):
    loss, stats = ppo.ppo_value_loss(values, old_values, returns, mask, clip_eps)
    return 2 * loss, stats


def value_clip_around_returns(values, old_values, returns, mask, clip_eps):
    vc = returns + (values - returns).clamp(-clip_eps, clip_eps) if clip_eps > 0 else values
    x = torch.maximum((values - returns) ** 2, (vc - returns) ** 2)
    return 0.5 * (x * mask).sum() / mask.sum(), {}


def value_mask_ignored(values, old_values, returns, mask, clip_eps):
    return ppo.ppo_value_loss(values, old_values, returns, torch.ones_like(mask), clip_eps)


def value_huber(values, old_values, returns, mask, clip_eps):  # smooth_l1 is 0.5 x^2 only for |x| <= 1
    returns, old_values = returns.detach(), old_values.detach()
    vc = old_values + (values - old_values).clamp(-clip_eps, clip_eps) if clip_eps > 0 else values
    x = torch.maximum(F.smooth_l1_loss(values, returns, reduction="none"), F.smooth_l1_loss(vc, returns, reduction="none"))
    return (x * mask).sum() / mask.sum().clamp(min=1), {}


def value_nan_on_empty(values, old_values, returns, mask, clip_eps):  # 0 / 0 without an action
    returns, old_values = returns.detach(), old_values.detach()
    vc = old_values + (values - old_values).clamp(-clip_eps, clip_eps) if clip_eps > 0 else values
    x = torch.maximum((values - returns) ** 2, (vc - returns) ** 2)
    return 0.5 * (x * mask).sum() / mask.sum(), {}


def value_targets_not_detached(values, old_values, returns, mask, clip_eps):  # the target moves with V
    vc = old_values + (values - old_values).clamp(-clip_eps, clip_eps) if clip_eps > 0 else values
    x = torch.maximum((values - returns) ** 2, (vc - returns) ** 2)
    return 0.5 * (x * mask).sum() / mask.sum().clamp(min=1), {}



# --------------------------------------------------------------------------- kl_penalty

def check_kl_hand_values(fn):
    """logp [-1, -2], ref [-2, -1]: k1 [1, -1], k2 [.5, .5], k3 [e^-1, e - 2]."""
    logp = torch.tensor([-1.0, -2.0], dtype=torch.float64)
    ref = torch.tensor([-2.0, -1.0], dtype=torch.float64)
    _close(fn(logp, ref, "k1"), [1.0, -1.0], "k1 = logp - ref")
    _close(fn(logp, ref, "k2"), [0.5, 0.5], "k2 = 0.5 (logp - ref)^2")
    _close(fn(logp, ref, "k3"), [math.exp(-1), math.e - 2], "k3 = exp(ref - logp) - (ref - logp) - 1")


def check_kl_k3_properties(fn):
    """k3 >= 0 everywhere, and k3 ~ 0.5 d^2 for small d."""
    d = torch.linspace(-4, 4, 81, dtype=torch.float64)
    k3 = _shaped(fn(d, torch.zeros_like(d), "k3"), d.shape, "kl_penalty(logp, ref, 'k3')")
    assert (k3 >= -1e-12).all(), f"k3 must never be negative; min {float(k3.min()):.4g}"
    small = torch.tensor([0.01, -0.01, 0.003], dtype=torch.float64)
    _close(fn(small, torch.zeros(3, dtype=torch.float64), "k3"), 0.5 * small ** 2, "k3 for small d", tol=2e-2)


def check_kl_unknown_kind(fn):
    """An unknown estimator name raises ValueError."""
    try:
        fn(torch.zeros(2), torch.zeros(2), "k7")
    except ValueError:
        return
    raise AssertionError("kl_penalty(..., 'k7') should raise ValueError")


def check_kl_default_is_k1(fn):
    """Called without `kind`, the documented default k1 = logp - ref is used."""
    logp = torch.tensor([-1.0, -2.0], dtype=torch.float64)
    ref = torch.tensor([-2.0, -1.0], dtype=torch.float64)
    _close(fn(logp, ref), [1.0, -1.0], "kl_penalty(logp, ref) with the default kind (k1 = logp - ref)")


def check_kl_very_negative_logprobs(fn):
    """Long-tail tokens (log-probs near -200, float32): every estimator is computed from
    d = logp - ref, which is exact, never from probabilities exp(logp) that underflow to 0."""
    logp = torch.tensor([-200.0, -300.5])
    ref = torch.tensor([-201.0, -300.0])
    d = torch.tensor([1.0, -0.5], dtype=torch.float64)
    for kind, want in (("k1", d), ("k2", 0.5 * d ** 2), ("k3", torch.exp(-d) + d - 1)):
        out = fn(logp, ref, kind)
        assert isinstance(out, torch.Tensor) and torch.isfinite(out).all(), \
            f"kl_penalty(logp=[-200, -300.5], ref=[-201, -300], {kind!r}) gave " \
            f"{out.tolist() if isinstance(out, torch.Tensor) else out!r}: exp(-200) underflows to 0 in float32; " \
            "compute from d = logp - ref"
        _close(out, want.tolist(), f"kl_penalty(logp=[-200, -300.5], ref=[-201, -300], {kind!r})", tol=1e-4)


def kl_k3_ratio_inverted(logprobs, ref_logprobs, kind="k1"):
    d = logprobs - ref_logprobs
    return torch.exp(d) - d - 1 if kind == "k3" else core.kl_estimate(logprobs, ref_logprobs, kind)


def kl_k2_no_half(logprobs, ref_logprobs, kind="k1"):
    d = logprobs - ref_logprobs
    return d ** 2 if kind == "k2" else core.kl_estimate(logprobs, ref_logprobs, kind)


def kl_k1_reversed(logprobs, ref_logprobs, kind="k1"):
    return ref_logprobs - logprobs if kind == "k1" else core.kl_estimate(logprobs, ref_logprobs, kind)


def kl_default_k3(logprobs, ref_logprobs, kind="k3"):  # the default changed to chapter 7's estimator
    return core.kl_estimate(logprobs, ref_logprobs, kind)


def kl_k3_from_probabilities(logprobs, ref_logprobs, kind="k1"):  # r = pi_ref / pi: 0 / 0 in the long tail
    if kind != "k3":
        return core.kl_estimate(logprobs, ref_logprobs, kind)
    r = ref_logprobs.exp() / logprobs.exp()
    return r - torch.log(r) - 1



# --------------------------------------------------------------------------- ppo_token_rewards

def _reward_case():
    mask = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.float64)
    logp = torch.tensor([[-1.0, -0.5, -0.2, -0.1, -3.0]] * 3, dtype=torch.float64)
    ref = torch.tensor([[-2.0, -1.0, -0.2, -0.6, -1.0]] * 3, dtype=torch.float64)
    return torch.tensor([2.0, -1.0, 5.0], dtype=torch.float64), logp, ref, mask


def check_rewards_hand_value(fn):
    """Rows end at different positions (then padding); the third row has no action at all."""
    scores, logp, ref, mask = _reward_case()
    out = fn(scores, logp, ref, mask, 0.1, "k1")
    # k1 = [1, .5, 0, .5, -2]; -0.1 k1 on actions; score on the last action of each row
    _close(out, [[0.0, -0.05, 0.0, -0.05 + 2.0, 0.0], [0.0, 0.0, -1.0, 0.0, 0.0], [0.0] * 5],
           "per-token rewards (score on the last action, -beta*KL on every action)")


def check_rewards_score_never_on_padding(fn):
    """With kl_coef = 0 the only nonzero entry of each row is its score, on its last action."""
    scores, logp, ref, mask = _reward_case()
    out = _shaped(fn(scores, logp, ref, mask, 0.0, "k3"), mask.shape, "ppo_token_rewards")
    _close(out * (1 - mask), torch.zeros_like(mask), "rewards on prompt and padding positions")
    _close(out.sum(dim=1), [2.0, -1.0, 0.0], "row sums with kl_coef = 0 (each row's score; none without actions)")


def check_rewards_pass_kind_on(fn):
    """`kind` selects the KL estimator (k2 and k3 give other penalties than k1), and without it the
    default is k1."""
    scores, logp, ref, mask = _reward_case()
    d = logp - ref
    last = torch.zeros_like(mask)
    last[0, 3], last[1, 2] = 2.0, -1.0
    for kind, kl in (("k2", 0.5 * d ** 2), ("k3", torch.exp(-d) + d - 1), (None, d)):
        args = (scores, logp, ref, mask, 0.1) + ((kind,) if kind else ())
        _close(fn(*args), -0.1 * kl * mask + last,
               f"ppo_token_rewards(..., kl_coef=0.1{', ' + repr(kind) if kind else ''}) "
               f"(the KL penalty with estimator {kind or 'k1, the default'})")


def check_rewards_integer_scores(fn):
    """The verifier's scores as a long tensor, with float32 log-probs: float rewards, each score on
    its row's last action."""
    _, logp, ref, mask = _reward_case()
    out = fn(torch.tensor([1, 0, 1]), logp.float(), ref.float(), mask.float(), 0.1, "k1")
    assert isinstance(out, torch.Tensor) and out.is_floating_point(), \
        f"ppo_token_rewards with long scores: expected a float tensor, got " \
        f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__}"
    _close(out, [[0.0, -0.05, 0.0, -0.05 + 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [0.0] * 5],
           "ppo_token_rewards(scores=torch.tensor([1, 0, 1]) (long), ...)")


def rewards_score_on_last_column(scores, logprobs, ref_logprobs, mask, kl_coef, kind="k1"):
    out = -kl_coef * core.kl_estimate(logprobs, ref_logprobs, kind) * mask
    out = out.clone()
    out[:, -1] += scores
    return out


def rewards_kl_unmasked(scores, logprobs, ref_logprobs, mask, kl_coef, kind="k1"):
    from minirl.core import place_on_last_action
    return -kl_coef * core.kl_estimate(logprobs, ref_logprobs, kind) + place_on_last_action(scores, mask)


def rewards_kl_sign(scores, logprobs, ref_logprobs, mask, kl_coef, kind="k1"):
    return ppo.ppo_token_rewards(scores, logprobs, ref_logprobs, mask, -kl_coef, kind)


def rewards_ignores_kind(scores, logprobs, ref_logprobs, mask, kl_coef, kind="k1"):  # kl_penalty(logp, ref): kind dropped
    return ppo.ppo_token_rewards(scores, logprobs, ref_logprobs, mask, kl_coef)


def rewards_scatter_scores(scores, logprobs, ref_logprobs, mask, kl_coef, kind="k1"):  # scatter_add needs one dtype
    out = -kl_coef * core.kl_estimate(logprobs, ref_logprobs, kind) * mask
    last = (mask * torch.arange(mask.size(1))).argmax(dim=1, keepdim=True)
    has_action = mask.sum(dim=1, keepdim=True) > 0
    return out.scatter_add(1, last, scores[:, None] * has_action)



# --------------------------------------------------------------------------- bradley_terry_loss

def check_bt_equal_is_log2(fn):
    """Equal rewards: the model is unsure, loss = log 2."""
    _close(fn(torch.zeros(4), torch.zeros(4)), math.log(2), "loss for equal rewards")


def check_bt_hand_value_and_gradient(fn):
    """chosen [2, 0], rejected [0, 1] -> -(log sigma(2) + log sigma(-1)) / 2; d/dchosen = -(1 - sigma(d)) / 2."""
    c = torch.tensor([2.0, 0.0], dtype=torch.float64, requires_grad=True)
    r = torch.tensor([0.0, 1.0], dtype=torch.float64)
    loss = fn(c, r)
    _close(loss, -(math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(1)))) / 2, "loss")
    _backward(loss, "bradley_terry_loss")
    d = torch.tensor([2.0, -1.0], dtype=torch.float64)
    _close(c.grad, -(1 - torch.sigmoid(d)) / 2, "gradient with respect to the chosen rewards")


def check_bt_stable(fn):
    """Margins of +-200 give losses 0 and 200: finite, no overflow (use logsigmoid / softplus)."""
    loss = fn(torch.tensor([200.0, 0.0]), torch.tensor([0.0, 200.0]))
    _close(loss, 100.0, "loss for margins +200 and -200", tol=1e-4)


def bt_swapped(chosen, rejected):
    return -F.logsigmoid(rejected - chosen).mean()


def bt_naive_log_sigmoid(chosen, rejected):
    return -torch.log(torch.sigmoid(chosen - rejected)).mean()


def bt_sum(chosen, rejected):
    return -F.logsigmoid(chosen - rejected).sum()


REFERENCE = {"gae": ppo.gae, "ppo_policy_loss": ppo.ppo_policy_loss, "ppo_value_loss": ppo.ppo_value_loss,
             "kl_penalty": core.kl_estimate, "ppo_token_rewards": ppo.ppo_token_rewards,
             "bradley_terry_loss": reward_model.bradley_terry_loss}
CHECKS = {
    "gae": [check_gae_hand_value, check_gae_lambda_one_is_monte_carlo, check_gae_lambda_zero_is_td_error,
            check_gae_masking_and_no_inplace, check_gae_integer_rewards],
    "ppo_policy_loss": [check_policy_hand_value, check_policy_gradient_flat_past_the_clip,
                        check_policy_equals_pg_at_ratio_one, check_policy_old_logprobs_get_no_gradient,
                        check_policy_clip_frac, check_policy_stats_ignore_padding, check_policy_stats_detached,
                        check_policy_empty_mask, check_policy_very_negative_logprobs, check_policy_inputs_untouched],
    "ppo_value_loss": [check_value_hand_value, check_value_clip_gradient, check_value_no_clip,
                       check_value_large_errors_are_squared, check_value_empty_mask,
                       check_value_targets_get_no_gradient],
    "kl_penalty": [check_kl_hand_values, check_kl_k3_properties, check_kl_unknown_kind, check_kl_default_is_k1,
                   check_kl_very_negative_logprobs],
    "ppo_token_rewards": [check_rewards_hand_value, check_rewards_score_never_on_padding, check_rewards_pass_kind_on,
                          check_rewards_integer_scores],
    "bradley_terry_loss": [check_bt_equal_is_log2, check_bt_hand_value_and_gradient, check_bt_stable],
}
BUGGY = {
    "gae": [gae_forwards, gae_lambda_gamma_swapped, gae_bootstrap_past_end, gae_returns_are_advantages, gae_int_buffer],
    "ppo_policy_loss": [policy_min_instead_of_max, policy_old_not_detached, policy_no_clip, policy_mask_ignored,
                        policy_clip_frac_outside_range, policy_approx_kl_over_padding, policy_stats_keep_graph,
                        policy_nan_on_empty, policy_ratio_of_probabilities, policy_zeroes_padding_in_place],
    "ppo_value_loss": [value_min_instead_of_max, value_no_half, value_clip_around_returns, value_mask_ignored,
                       value_huber, value_nan_on_empty, value_targets_not_detached],
    "kl_penalty": [kl_k3_ratio_inverted, kl_k2_no_half, kl_k1_reversed, kl_default_k3, kl_k3_from_probabilities],
    "ppo_token_rewards": [rewards_score_on_last_column, rewards_kl_unmasked, rewards_kl_sign, rewards_ignores_kind,
                          rewards_scatter_scores],
    "bradley_terry_loss": [bt_swapped, bt_naive_log_sigmoid, bt_sum],
}
