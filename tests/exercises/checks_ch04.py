"""Graders for chapter 4 (exercises/ch04_actor_critic.py): TD advantages and the A2C loss.

Each check takes the function under test and raises AssertionError with a message that says
what was expected and what came back. See tests/exercises/harness.py for how they are run.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from minirl import a2c, core
from minirl.core import masked_mean_std

EXERCISE_FILE = "ch04_actor_critic.py"


def _fmt(t, nd: int = 4):
    return [round(x, nd) for x in t.detach().flatten().tolist()] if t.dim() else round(float(t.detach()), nd)


def _assert_close(got, want: torch.Tensor, what: str, tol: float = 1e-5):
    assert isinstance(got, torch.Tensor), f"{what}: expected a tensor, got {type(got).__name__}"
    assert got.shape == want.shape, f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
    g = got.detach().double()
    assert torch.isfinite(g).all() and torch.allclose(g, want.double(), atol=tol, rtol=tol), \
        f"{what}: expected {_fmt(want)}, got {_fmt(got)}"


def _pair(out, what):
    assert isinstance(out, tuple) and len(out) == 2, f"{what}: return (advantages, returns), got {type(out).__name__}"
    return out


# --------------------------------------------------------------------------- td_advantages

def check_td_hand_value(fn):
    """rewards [0, 0, 1], values [0.5, 0.6, 0.8], gamma 0.9 -> returns r + 0.9 V(next) = [0.54, 0.72, 1.0]."""
    adv, ret = _pair(fn(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.6, 0.8]]), torch.ones(1, 3), 0.9),
                     "td_advantages")
    _assert_close(ret, torch.tensor([[0.54, 0.72, 1.0]]), "returns (the TD target r_t + gamma V(s_{t+1}))")
    _assert_close(adv, torch.tensor([[0.04, 0.12, 0.2]]), "advantages (returns - V(s_t))")


def check_td_perfect_critic(fn):
    """A deterministic episode (reward 1 at the 5th action) and the true values V(s_t) = 0.9^(4-t):
    every TD error is 0. Values off the mask are junk and must not matter."""
    g = 0.9
    r = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
    v = torch.tensor([[3.0, g ** 4, g ** 3, g ** 2, g, 1.0, 7.0]])
    adv, ret = _pair(fn(r, v, m, g), "td_advantages")
    _assert_close(adv, torch.zeros(1, 7), "advantages under a perfect critic (prompt/padding must be 0 too)")
    _assert_close(ret, v * m, "returns under a perfect critic")


def check_td_no_bootstrap_after_last_action(fn):
    """The value at the position after the last action (here 100) belongs to no state of the episode."""
    r = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    v = torch.tensor([[9.0, 0.5, 0.25, 100.0]])
    adv, ret = _pair(fn(r, v, m, 1.0), "td_advantages")
    _assert_close(ret, torch.tensor([[0.0, 0.25, 1.0, 0.0]]), "returns with the episode ending at position 2")
    _assert_close(adv, torch.tensor([[0.0, -0.25, 0.75, 0.0]]), "advantages with the episode ending at position 2")


def check_td_detached_and_telescoping(fn):
    """With gamma 1 the TD errors of an episode sum to (sum of rewards) - V(s_0); nothing carries a
    gradient back into the values; the inputs are not modified."""
    g = torch.Generator().manual_seed(1)
    r, v = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g).requires_grad_(True)
    m = torch.ones(3, 5)
    r0, v0 = r.clone(), v.detach().clone()
    adv, ret = _pair(fn(r, v, m, 1.0), "td_advantages")
    _assert_close(adv.sum(1), r.sum(1) - v0[:, 0], "sum over t of the TD errors (gamma 1)")
    assert not adv.requires_grad and not ret.requires_grad, \
        "advantages/returns carry a gradient into the critic: compute them from values.detach()"
    assert torch.equal(r, r0) and torch.equal(v.detach(), v0), "td_advantages modified its inputs in place"


def check_td_integer_rewards(fn):
    """The verifier's 0/1 rewards as a long tensor: returns and advantages are floats
    (rewards [[0, 0, 1]], values [[0.5, 0.6, 0.8]], gamma 0.9 -> returns [[0.54, 0.72, 1.0]])."""
    adv, ret = _pair(fn(torch.tensor([[0, 0, 1]]), torch.tensor([[0.5, 0.6, 0.8]]), torch.ones(1, 3), 0.9),
                     "td_advantages")
    for name, out in (("returns", ret), ("advantages", adv)):
        assert isinstance(out, torch.Tensor) and out.is_floating_point(), \
            f"td_advantages with long rewards: expected float {name}, got " \
            f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__} (never build them with " \
            "zeros_like(rewards))"
    _assert_close(ret, torch.tensor([[0.54, 0.72, 1.0]]), "returns for long rewards [[0, 0, 1]]")
    _assert_close(adv, torch.tensor([[0.04, 0.12, 0.2]]), "advantages for long rewards [[0, 0, 1]]")


def check_td_inputs_untouched_partial_mask(fn):
    """With a partial mask and junk off it, the inputs are left as they were. values.detach() shares
    memory with values: writing into it (values[mask == 0] = 0) writes into the caller's critic outputs."""
    r = torch.tensor([[5.0, 0.0, 1.0, 7.0], [0.0, 1.0, 3.0, 3.0]])
    v = torch.tensor([[9.0, 0.5, 0.25, 100.0], [0.5, 0.5, -4.0, 8.0]], requires_grad=True)
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    r0, v0, m0 = r.clone(), v.detach().clone(), m.clone()
    _, ret = _pair(fn(r, v, m, 1.0), "td_advantages")
    assert torch.equal(r, r0) and torch.equal(v.detach(), v0) and torch.equal(m, m0), \
        f"td_advantages modified its inputs in place: values {_fmt(v0)} became {_fmt(v)}, " \
        f"rewards {_fmt(r0)} became {_fmt(r)} (clone before writing)"
    _assert_close(ret, torch.tensor([[0.0, 0.25, 1.0, 0.0], [0.5, 1.0, 0.0, 0.0]]), "returns with a partial mask")


def _next_values(values, mask):
    return torch.cat([values[:, 1:] * mask[:, 1:], torch.zeros_like(values[:, :1])], 1)


def td_missing_gamma(rewards, values, mask, gamma):
    values = values.detach()
    ret = (rewards + _next_values(values, mask)) * mask
    return (ret - values) * mask, ret


def td_bootstrap_past_end(rewards, values, mask, gamma):  # uses V of the position after EOS
    values = values.detach()
    nxt = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], 1)
    ret = (rewards + gamma * nxt) * mask
    return (ret - values) * mask, ret


def td_mask_ignored(rewards, values, mask, gamma):
    values = values.detach()
    ret = rewards + gamma * _next_values(values, mask)
    return ret - values, ret


def td_not_detached(rewards, values, mask, gamma):
    ret = (rewards + gamma * _next_values(values, mask)) * mask
    return (ret - values) * mask, ret


def td_off_by_one(rewards, values, mask, gamma):  # bootstraps from V(s_t) instead of V(s_{t+1})
    values = values.detach()
    ret = (rewards + gamma * values) * mask
    return (ret - values) * mask, ret


def td_int_buffer(rewards, values, mask, gamma):  # the returns buffer has the rewards' dtype: long truncates
    values = values.detach()
    nxt, ret = _next_values(values, mask), torch.zeros_like(rewards)
    for t in range(rewards.size(1)):
        ret[:, t] = (rewards[:, t] + gamma * nxt[:, t]) * mask[:, t]
    return (ret - values) * mask, ret


def td_zeroes_padding_in_place(rewards, values, mask, gamma):  # detach() shares memory: writes into the caller's values
    values = values.detach()
    values[mask == 0] = 0.0
    nxt = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], 1)
    ret = (rewards + gamma * nxt) * mask
    return (ret - values) * mask, ret



# --------------------------------------------------------------------------- a2c_loss

def _loss(out):
    loss = out[0] if isinstance(out, tuple) else out
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, \
        f"a2c_loss must return (scalar loss, stats), got {getattr(loss, 'shape', type(loss).__name__)}"
    return loss


def _backward(loss: torch.Tensor):
    assert loss.requires_grad, "a2c_loss carries no gradient: it must be computed from logprobs, values " \
                               "and entropy (no .detach(), no torch.no_grad(), no new tensor built from numbers)"
    loss.backward()


def check_a2c_hand_value(fn):
    """logprobs [-1, -2], advantages [1, -1], values [0.5, 1], returns [1.5, 1], entropy [0.3, 0.5],
    value_coef 2, entropy_coef 0.1: -0.5 + 2 * 0.25 - 0.1 * 0.4 = -0.04."""
    out = fn(torch.tensor([[-1.0, -2.0]]), torch.tensor([[0.5, 1.0]]), torch.tensor([[1.0, -1.0]]),
             torch.tensor([[1.5, 1.0]]), torch.ones(1, 2), torch.tensor([[0.3, 0.5]]), 2.0, 0.1)
    _assert_close(_loss(out), torch.tensor(-0.04), "a2c_loss = policy + 2 * 0.5 * MSE - 0.1 * entropy")
    assert isinstance(out, tuple) and isinstance(out[1], dict), "return (loss, stats) with stats a dict"
    for key, want in (("policy_loss", -0.5), ("value_loss", 0.25), ("entropy", 0.4)):
        assert key in out[1] and abs(float(out[1][key]) - want) < 1e-5, f"stats[{key!r}]: expected {want}, got {out[1].get(key)}"


def check_a2c_value_gradient_target_detached(fn):
    """The critic's gradient is value_coef * (V - R) * mask / sum(mask), even when the caller built R
    (and A) from V with the gradient attached: the target must not be pulled towards V."""
    m = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    r = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    v = torch.tensor([[0.1, 0.2, 0.4, 0.7]], requires_grad=True)
    lp = torch.tensor([[-0.5, -1.0, -1.5, -0.2]], requires_grad=True)
    ret = r + torch.cat([v[:, 1:] * m[:, 1:], torch.zeros(1, 1)], 1)          # built with gradient
    adv = (ret - v) * m
    _backward(_loss(fn(lp, v, adv, ret, m, None, 0.5, 0.0)))
    _assert_close(v.grad, 0.5 * (v - ret).detach() * m / 3, "d loss / d values (is the target detached?)")


def check_a2c_policy_gradient_and_mask(fn):
    """The actor's gradient is -A * mask / sum(mask); masked positions change nothing."""
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    lp = torch.randn(2, 4, generator=torch.Generator().manual_seed(2), requires_grad=True)
    adv = torch.tensor([[5.0, 1.0, -1.0, 5.0], [0.5, 0.5, -2.0, 1.0]])
    v = torch.zeros(2, 4, requires_grad=True)
    ret = torch.tensor([[9.0, 1.0, 0.0, 9.0], [1.0, 1.0, 1.0, 1.0]])
    _backward(_loss(fn(lp, v, adv, ret, m, None, 1.0, 0.0)))
    _assert_close(lp.grad, -adv * m / 6, "d loss / d logprobs (6 actions)")
    _assert_close(v.grad, -ret * m / 6, "d loss / d values (6 actions)")


def check_a2c_entropy_bonus(fn):
    """The entropy is a bonus: d loss / d entropy = -entropy_coef * mask / sum(mask) (more entropy, lower loss)."""
    m = torch.tensor([[1.0, 1.0, 0.0]])
    ent = torch.tensor([[0.5, 1.0, 9.0]], requires_grad=True)
    z = torch.zeros(1, 3)
    _backward(_loss(fn(z, z, z, z, m, ent, 1.0, 0.2)))
    assert ent.grad is not None, "no gradient reached the entropy"
    _assert_close(ent.grad, -0.2 * m / 2, "d loss / d entropy")


def _stats(out, what: str) -> dict:
    assert isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict), \
        f"{what}: return (loss, stats) with stats a dict, got {type(out).__name__}"
    missing = [k for k in ("policy_loss", "value_loss", "entropy") if k not in out[1]]
    assert not missing, f"{what}: stats has no {missing}"
    return out[1]


def check_a2c_defaults(fn):
    """Called with the five tensors only, the defaults apply: entropy=None (no entropy term,
    stats["entropy"] 0), value_coef=1.0, entropy_coef=0.0: -0.5 + 1.0 * 0.25 = -0.25."""
    out = fn(torch.tensor([[-1.0, -2.0]]), torch.tensor([[0.5, 1.0]]), torch.tensor([[1.0, -1.0]]),
             torch.tensor([[1.5, 1.0]]), torch.ones(1, 2))
    _assert_close(_loss(out), torch.tensor(-0.25),
                  "a2c_loss(logprobs, values, advantages, returns, mask) with the defaults "
                  "(policy -0.5 + value_coef 1.0 * value loss 0.25)")
    stats = _stats(out, "a2c_loss")
    assert abs(float(stats["entropy"])) < 1e-12, f"stats['entropy'] without an entropy: expected 0.0, got {stats['entropy']!r}"


def check_a2c_stats_are_floats_over_the_actions(fn):
    """stats holds Python floats (for logging), each a mean over the actions only: with a partial
    mask and different junk on every prompt/padding position, stats["value_loss"] is
    0.5 * masked mean (V - R)^2, and so on, not a mean over every position."""
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    lp = torch.tensor([[-9.0, -1.0, -2.0, -7.0], [-0.5, -1.5, -3.0, -6.0]])
    adv = torch.tensor([[5.0, 1.0, -1.0, 4.0], [2.0, 0.5, 7.0, 3.0]])
    v = torch.tensor([[4.0, 0.5, 1.0, -3.0], [0.0, 2.0, 9.0, 6.0]])
    ret = torch.tensor([[0.0, 1.5, 0.0, 2.0], [1.0, 1.0, -9.0, -5.0]])
    ent = torch.tensor([[9.0, 0.2, 0.4, 5.0], [0.6, 0.8, 7.0, 3.0]])
    out = fn(lp, v, adv, ret, m, ent, 1.0, 0.1)
    stats = _stats(out, "a2c_loss")
    n = m.sum()
    want = {"policy_loss": float(-(lp * adv * m).sum() / n), "value_loss": float(0.5 * ((v - ret) ** 2 * m).sum() / n),
            "entropy": float((ent * m).sum() / n)}
    for key, w in want.items():
        got = stats[key]
        assert isinstance(got, float), \
            f"stats[{key!r}]: expected a Python float (.item()), got {type(got).__name__} {got!r}"
        assert abs(got - w) < 1e-5, \
            f"stats[{key!r}] with mask {m.int().tolist()}: expected the mean over the 4 actions {w:.5g}, got {got:.5g}"
    _assert_close(_loss(out), torch.tensor(want["policy_loss"] + want["value_loss"] - 0.1 * want["entropy"]),
                  "a2c_loss with a partial mask")


def check_a2c_empty_mask(fn):
    """A batch without any action (an all-zero mask) gives loss 0 and stats 0, not NaN:
    divide by mask.sum().clamp(min=1)."""
    z = torch.tensor([[-1.0, -2.0]])
    out = fn(z, torch.tensor([[0.5, 1.0]]), torch.tensor([[1.0, -1.0]]), torch.tensor([[1.5, 1.0]]),
             torch.zeros(1, 2), torch.tensor([[0.3, 0.5]]), 1.0, 0.1)
    loss = float(_loss(out).detach())
    assert loss == 0.0, f"a2c_loss with an all-zero mask: expected 0, got {loss} (divide by max(1, mask.sum()))"
    stats = _stats(out, "a2c_loss")
    bad = {k: stats[k] for k in ("policy_loss", "value_loss", "entropy") if float(stats[k]) != 0.0}
    assert not bad, f"a2c_loss with an all-zero mask: expected stats 0, got {bad}"


def check_a2c_large_value_errors_are_squared(fn):
    """The value term is 0.5 (V - R)^2 however large the error: V = 0, R = [3, -2] give
    0.5 * mean(9, 4) = 3.25 and gradient (V - R) / 2 = [-1.5, 1]. Huber's loss (F.smooth_l1_loss)
    agrees only while |V - R| <= 1."""
    v = torch.zeros(1, 2, requires_grad=True)
    z = torch.zeros(1, 2)
    out = fn(z, v, z, torch.tensor([[3.0, -2.0]]), torch.ones(1, 2), None, 1.0, 0.0)
    loss = _loss(out)
    _assert_close(loss, torch.tensor(3.25), "a2c_loss with V = 0, R = [3, -2] (0.5 * mean of squared errors 9, 4)")
    _backward(loss)
    _assert_close(v.grad, torch.tensor([[-1.5, 1.0]]), "d loss / d values for errors V - R = [-3, 2]")


def _masked_mean(x, m):
    return (x * m).sum() / m.sum()


def a2c_target_not_detached(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0,
                            entropy_coef=0.0):
    pl = -_masked_mean(logprobs * advantages.detach(), mask)
    vl = 0.5 * _masked_mean((values - returns) ** 2, mask)
    ent = _masked_mean(entropy, mask) if entropy is not None else torch.zeros(())
    return pl + value_coef * vl - entropy_coef * ent, dict(policy_loss=pl.item(), value_loss=vl.item(), entropy=ent.item())


def a2c_no_half(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0, entropy_coef=0.0):
    pl = -_masked_mean(logprobs * advantages.detach(), mask)
    vl = _masked_mean((values - returns.detach()) ** 2, mask)
    ent = _masked_mean(entropy, mask) if entropy is not None else torch.zeros(())
    return pl + value_coef * vl - entropy_coef * ent, dict(policy_loss=pl.item(), value_loss=vl.item(), entropy=ent.item())


def a2c_entropy_penalty(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0, entropy_coef=0.0):
    pl = -_masked_mean(logprobs * advantages.detach(), mask)
    vl = 0.5 * _masked_mean((values - returns.detach()) ** 2, mask)
    ent = _masked_mean(entropy, mask) if entropy is not None else torch.zeros(())
    return pl + value_coef * vl + entropy_coef * ent, dict(policy_loss=pl.item(), value_loss=vl.item(), entropy=ent.item())


def a2c_mask_ignored(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0, entropy_coef=0.0):
    pl = -(logprobs * advantages.detach()).mean()
    vl = 0.5 * ((values - returns.detach()) ** 2).mean()
    ent = entropy.mean() if entropy is not None else torch.zeros(())
    return pl + value_coef * vl - entropy_coef * ent, dict(policy_loss=pl.item(), value_loss=vl.item(), entropy=ent.item())


def a2c_advantage_not_detached(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0,
                               entropy_coef=0.0):
    pl = -_masked_mean(logprobs * advantages, mask)
    vl = 0.5 * _masked_mean((values - returns.detach()) ** 2, mask)
    ent = _masked_mean(entropy, mask) if entropy is not None else torch.zeros(())
    return pl + value_coef * vl - entropy_coef * ent, dict(policy_loss=pl.item(), value_loss=vl.item(), entropy=ent.item())


def _safe_mean(x, m):
    return (x * m).sum() / m.sum().clamp(min=1)


def a2c_cleanrl_value_coef(logprobs, values, advantages, returns, mask, entropy=None, value_coef=0.5,
                           entropy_coef=0.0):  # CleanRL's vf_coef 0.5 as the default, not the documented 1.0
    return a2c.a2c_loss(logprobs, values, advantages, returns, mask, entropy, value_coef, entropy_coef)


def a2c_stats_tensors(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0, entropy_coef=0.0):
    pl = -_safe_mean(logprobs * advantages.detach(), mask)
    vl = 0.5 * _safe_mean((values - returns.detach()) ** 2, mask)
    ent = _safe_mean(entropy, mask) if entropy is not None else torch.zeros(())
    return pl + value_coef * vl - entropy_coef * ent, dict(policy_loss=pl.detach(), value_loss=vl.detach(),
                                                           entropy=ent.detach())   # tensors, not floats


def a2c_stats_over_padding(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0,
                           entropy_coef=0.0):  # the loss is masked, the logged numbers are not
    loss, _ = a2c.a2c_loss(logprobs, values, advantages, returns, mask, entropy, value_coef, entropy_coef)
    return loss, dict(policy_loss=(-(logprobs * advantages).mean()).item(),
                      value_loss=(0.5 * ((values - returns) ** 2).mean()).item(),
                      entropy=entropy.mean().item() if entropy is not None else 0.0)


def a2c_nan_on_empty(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0, entropy_coef=0.0):
    pl = -_masked_mean(logprobs * advantages.detach(), mask)                   # 0 / 0 without an action
    vl = 0.5 * _masked_mean((values - returns.detach()) ** 2, mask)
    ent = _masked_mean(entropy, mask) if entropy is not None else torch.zeros(())
    return pl + value_coef * vl - entropy_coef * ent, dict(policy_loss=pl.item(), value_loss=vl.item(), entropy=ent.item())


def a2c_huber_value_loss(logprobs, values, advantages, returns, mask, entropy=None, value_coef=1.0,
                         entropy_coef=0.0):  # smooth_l1 = 0.5 x^2 only for |x| <= 1
    pl = -_safe_mean(logprobs * advantages.detach(), mask)
    vl = _safe_mean(F.smooth_l1_loss(values, returns.detach(), reduction="none"), mask)
    ent = _safe_mean(entropy, mask) if entropy is not None else torch.zeros(())
    return pl + value_coef * vl - entropy_coef * ent, dict(policy_loss=pl.item(), value_loss=vl.item(), entropy=ent.item())



# --------------------------------------------------------------------------- explained_variance

def _ev(fn, values, returns, mask, what) -> float:
    out = fn(values, returns, mask)
    assert isinstance(out, float), f"{what}: expected a Python float, got " \
        f"{'a tensor of shape ' + str(tuple(out.shape)) if isinstance(out, torch.Tensor) else type(out).__name__}"
    return out


def _ev_close(got: float, want: float, what: str, tol: float = 1e-5):
    assert math.isfinite(got) and abs(got - want) < tol, f"{what}: expected {want:.6g}, got {got:.6g}"


def check_ev_hand_value(fn):
    """values [1, 2], returns [1, 3], both actions: 1 - Var([0, 1]) / Var([1, 3]) = 1 - 0.25 / 1 = 0.75."""
    got = _ev(fn, torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 3.0]]), torch.ones(1, 2), "explained_variance")
    _ev_close(got, 0.75, "explained_variance(values [1, 2], returns [1, 3])")


def check_ev_perfect_constant_and_worse(fn):
    """A perfect critic explains everything (1); predicting the mean return everywhere explains
    nothing (0); predicting the returns upside down is worse than that: Var(2 (R - mean)) / Var(R)
    = 4, so 1 - 4 = -3."""
    R = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0, 1.0]])
    m = torch.ones(1, 6)
    _ev_close(_ev(fn, R.clone(), R, m, "explained_variance"), 1.0, "explained_variance(values = returns)")
    _ev_close(_ev(fn, torch.full((1, 6), 4 / 6), R, m, "explained_variance"), 0.0,
              "explained_variance(values = the mean return 2/3 everywhere)")
    _ev_close(_ev(fn, 2 * (4 / 6) - R, R, m, "explained_variance"), -3.0,
              "explained_variance(values = 2 mean - returns)")


def check_ev_ignores_a_constant_offset(fn):
    """A critic that is 1.5 too high everywhere still explains every bit of the variance: 1.0
    (the variance of returns - values, not their mean square)."""
    R = torch.tensor([[0.2, 0.9, -0.4, 1.3]])
    _ev_close(_ev(fn, R + 1.5, R, torch.ones(1, 4), "explained_variance"), 1.0,
              "explained_variance(values = returns + 1.5)")


def check_ev_over_the_actions_only(fn):
    """Prompt and padding positions hold junk (values 9, returns -7) that must not count; the
    actions carry returns that vary per token: over the actions EV = 1 - 0.03125 / 0.6875 = 0.9545."""
    v = torch.tensor([[9.0, 0.25, 1.0, 9.0], [9.0, 9.0, -0.5, 1.25]])
    R = torch.tensor([[-7.0, 0.0, 1.0, -7.0], [-7.0, -7.0, -1.0, 1.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    v0, R0, m0 = v.clone(), R.clone(), m.clone()
    err = (R - v)[m.bool()]
    want = 1 - err.var(unbiased=False).item() / R[m.bool()].var(unbiased=False).item()
    got = _ev(fn, v, R, m, "explained_variance")
    assert torch.equal(v, v0) and torch.equal(R, R0) and torch.equal(m, m0), "explained_variance modified its inputs"
    _ev_close(got, want, "explained_variance with junk on prompt and padding (mask [[0,1,1,0], [0,0,1,1]])")


def check_ev_integer_returns_and_undefined(fn):
    """0/1 returns as a long tensor give the same float as float returns (0.63 here); returns that do
    not vary over the actions give NaN, also for an all-zero mask (nothing to explain)."""
    v = torch.tensor([[0.2, 0.5, 0.9]])
    _ev_close(_ev(fn, v, torch.tensor([[0, 1, 1]]), torch.ones(1, 3), "explained_variance(long returns)"),
              1 - ((0.04 + 0.25 + 0.01) / 3 - (0.4 / 3) ** 2) / (2 / 9), "explained_variance(values [0.2, 0.5, 0.9], "
              "long returns [0, 1, 1])")
    for R, m, what in ((torch.ones(1, 3), torch.ones(1, 3), "returns all 1"),
                       (torch.tensor([[0.0, 1.0, 0.0]]), torch.zeros(1, 3), "an all-zero mask")):
        got = _ev(fn, v, R, m, f"explained_variance({what})")
        assert math.isnan(got), f"explained_variance with {what}: the returns do not vary, expected nan, got {got}"


def ev_variance_of_values(values, returns, mask):  # Var(V) / Var(R): how much the critic varies, not what it explains
    _, s_v = masked_mean_std(values, mask)
    _, s_r = masked_mean_std(returns.float(), mask)
    return float("nan") if s_r == 0 else 1.0 - s_v ** 2 / s_r ** 2


def ev_mean_squared_error(values, returns, mask):  # the MSE instead of the variance: punishes a constant offset
    _, s_r = masked_mean_std(returns.float(), mask)
    mse = float(((returns - values) ** 2 * mask).sum() / mask.sum().clamp(min=1))
    return float("nan") if s_r == 0 else 1.0 - mse / s_r ** 2


def ev_mask_ignored(values, returns, mask):  # statistics over padding and prompt too
    r, e = returns.float().flatten(), (returns - values).float().flatten()
    return float("nan") if r.var() == 0 else 1.0 - float(e.var() / r.var())


def ev_zero_when_undefined(values, returns, mask):  # invents 0 where the ratio is undefined
    out = core.explained_variance(values, returns, mask)
    return 0.0 if math.isnan(out) else out


def ev_tensor(values, returns, mask):  # a 0-d tensor, not a float
    return torch.tensor(core.explained_variance(values, returns, mask))


def ev_ratio_without_one_minus(values, returns, mask):  # the unexplained share
    _, s_e = masked_mean_std(returns.float() - values, mask)
    _, s_r = masked_mean_std(returns.float(), mask)
    return float("nan") if s_r == 0 else s_e ** 2 / s_r ** 2


REFERENCE = {"td_advantages": a2c.td_advantages, "a2c_loss": a2c.a2c_loss,
             "explained_variance": core.explained_variance}
CHECKS = {
    "td_advantages": [check_td_hand_value, check_td_perfect_critic, check_td_no_bootstrap_after_last_action,
                      check_td_detached_and_telescoping, check_td_integer_rewards,
                      check_td_inputs_untouched_partial_mask],
    "a2c_loss": [check_a2c_hand_value, check_a2c_value_gradient_target_detached, check_a2c_policy_gradient_and_mask,
                 check_a2c_entropy_bonus, check_a2c_defaults, check_a2c_stats_are_floats_over_the_actions,
                 check_a2c_empty_mask, check_a2c_large_value_errors_are_squared],
    "explained_variance": [check_ev_hand_value, check_ev_perfect_constant_and_worse, check_ev_ignores_a_constant_offset,
                           check_ev_over_the_actions_only, check_ev_integer_returns_and_undefined],
}
BUGGY = {
    "td_advantages": [td_missing_gamma, td_bootstrap_past_end, td_mask_ignored, td_not_detached, td_off_by_one,
                      td_int_buffer, td_zeroes_padding_in_place],
    "a2c_loss": [a2c_target_not_detached, a2c_no_half, a2c_entropy_penalty, a2c_mask_ignored,
                 a2c_advantage_not_detached, a2c_cleanrl_value_coef, a2c_stats_tensors, a2c_stats_over_padding,
                 a2c_nan_on_empty, a2c_huber_value_loss],
    "explained_variance": [ev_variance_of_values, ev_mean_squared_error, ev_mask_ignored, ev_zero_when_undefined,
                           ev_tensor, ev_ratio_without_one_minus],
}
