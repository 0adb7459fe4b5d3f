"""Checks for exercises/ch07_grpo.py (chapter 7, GRPO)."""
import math

import torch

import minirl.grpo

EXERCISE_FILE = "ch07_grpo.py"


def _f(x) -> float:
    """A returned scalar (a number or a one-element tensor) as a float."""
    assert isinstance(x, (int, float)) or (isinstance(x, torch.Tensor) and x.numel() == 1), \
        f"expected a single number, got {getattr(x, 'shape', type(x).__name__)}"
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _adv(out, n: int) -> torch.Tensor:
    """group_advantages' result, checked to be a tensor of shape (n,)."""
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (n,), \
        f"group_advantages of {n} rewards: expected a tensor of shape ({n},), " \
        f"got {getattr(out, 'shape', type(out).__name__)}"
    return out


def _loss_stats(out, *keys):
    """grpo_loss's (loss, stats), checked: a scalar tensor and a dict with the given keys."""
    assert isinstance(out, tuple) and len(out) == 2, f"grpo_loss: return (loss, stats), got {type(out).__name__}"
    loss, stats = out
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, \
        f"grpo_loss: the loss must be a scalar tensor, got {getattr(loss, 'shape', type(loss).__name__)}"
    got = stats if isinstance(stats, dict) else type(stats).__name__
    assert isinstance(stats, dict) and all(k in stats for k in keys), \
        f"grpo_loss: stats must be a dict with keys {list(keys)}, got {got}"
    return loss, stats


def _backward(loss: torch.Tensor):
    assert loss.requires_grad, "grpo_loss carries no gradient: it must be computed from the logprobs " \
                               "(no .detach(), no torch.no_grad(), no new tensor built from numbers)"
    loss.backward()


REFERENCE = {"group_advantages": minirl.grpo.group_advantages, "grpo_loss": minirl.grpo.grpo_loss}


# --- group_advantages -----------------------------------------------------------------------
def check_hand_value_unbiased_std(fn):
    """One group [1, 0, 0, 0]: (r - mean) / (std + 1e-4) with the unbiased std, 0.5."""
    adv = _adv(fn(torch.tensor([1.0, 0.0, 0.0, 0.0]), 4), 4)
    # mean 0.25; unbiased std = sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5
    want = torch.tensor([0.75, -0.25, -0.25, -0.25]) / 0.5001
    assert torch.allclose(adv, want, atol=1e-4), \
        f"expected {want.tolist()} (unbiased std = 0.5, + 1e-4), got {adv.tolist()}"


def check_equal_rewards_give_zero_not_nan(fn):
    """Groups whose rewards are all equal (std 0) get advantage 0, not NaN: the 1e-4 in the denominator."""
    adv = _adv(fn(torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5]), 3), 9)
    assert not torch.isnan(adv).any(), f"a group of equal rewards must give 0, not NaN: {adv.tolist()}"
    assert torch.allclose(adv, torch.zeros(9), atol=1e-6), f"equal rewards must give 0, got {adv.tolist()}"


def check_groups_are_consecutive_and_centred(fn):
    """Rows [g*G, (g+1)*G) form group g (consecutive, not interleaved), each normalised on its own;
    advantages sum to 0 within every group."""
    r = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 3.0])
    adv = _adv(fn(r, 2), 6)
    # groups (1, 0), (1, 1), (0, 3): centred +-0.5, 0, +-1.5; unbiased stds sqrt(0.5), 0, 1.5 sqrt(2)
    s1, s3 = math.sqrt(0.5) + 1e-4, 1.5 * math.sqrt(2) + 1e-4
    want = torch.tensor([0.5 / s1, -0.5 / s1, 0.0, 0.0, -1.5 / s3, 1.5 / s3])
    assert torch.allclose(adv, want, atol=1e-4), \
        f"rows [2g, 2g+1] form group g; expected {want.tolist()}, got {adv.tolist()}"
    g = torch.Generator().manual_seed(0)
    adv = _adv(fn(torch.rand(20, generator=g), 5), 20)
    assert torch.allclose(adv.view(4, 5).sum(1), torch.zeros(4), atol=1e-5), "advantages must sum to 0 in each group"


def check_scale_none(fn):
    """scale="none" (Dr. GRPO) only subtracts the group mean and does not divide by the std."""
    adv = _adv(fn(torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 4.0]), 2, scale="none"), 6)
    assert torch.allclose(adv, torch.tensor([0.5, -0.5, 0.0, 0.0, -1.0, 1.0]), atol=1e-6), \
        f"scale='none' only subtracts the group mean; got {adv.tolist()}"


def check_bad_input_raises(fn):
    """ValueError when the number of rewards is not a multiple of group_size, or group_size < 2."""
    for args in ((torch.zeros(10), 4), (torch.zeros(4), 1)):
        try:
            fn(*args)
        except ValueError:
            continue
        raise AssertionError(f"group_advantages{tuple(a.shape if hasattr(a, 'shape') else a for a in args)} "
                             "must raise ValueError (length not a multiple of group_size, or group_size < 2)")


def check_integer_rewards_give_floats(fn):
    """The verifier's 0/1 rewards as a long tensor: float advantages, the same as for float
    rewards (never build them with zeros_like(rewards), which truncates them to integers)."""
    adv = _adv(fn(torch.tensor([1, 0, 0, 0, 1, 1, 0, 0]), 4), 8)
    assert adv.is_floating_point(), f"group_advantages of long rewards: expected a float tensor, got {adv.dtype}"
    s2 = math.sqrt(1 / 3) + 1e-4                     # group (1, 1, 0, 0): mean 0.5, unbiased std sqrt(1/3)
    want = torch.tensor([0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, 0.5 / s2, 0.5 / s2,
                         -0.5 / s2, -0.5 / s2])
    assert torch.allclose(adv.float(), want, atol=1e-4), \
        f"group_advantages(torch.tensor([1, 0, 0, 0, 1, 1, 0, 0]), 4): expected {[round(x, 4) for x in want.tolist()]}, " \
        f"got {adv.tolist()}"
    adv = _adv(fn(torch.tensor([1, 0, 0, 0]), 4, scale="none"), 4)
    assert adv.is_floating_point() and torch.allclose(adv.float(), torch.tensor([0.75, -0.25, -0.25, -0.25])), \
        f"group_advantages(torch.tensor([1, 0, 0, 0]), 4, scale='none'): expected [0.75, -0.25, -0.25, -0.25], " \
        f"got {adv.tolist()}"


def check_unknown_scale_raises(fn):
    """An unknown `scale` raises ValueError instead of silently falling back to one of the others
    (a typo such as "std" or "Group" must not train with a normalisation nobody asked for)."""
    for scale in ("std", "Group", ""):
        try:
            fn(torch.tensor([1.0, 0.0, 0.0, 0.0]), 4, scale=scale)
        except ValueError:
            continue
        raise AssertionError(f"group_advantages(rewards, 4, scale={scale!r}) must raise ValueError "
                             "(only 'group' and 'none' are documented)")



# --- grpo_loss --------------------------------------------------------------------------------
MASK = torch.tensor([[0, 1, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.float)


def check_aggregations_hand_values(fn):
    """With rho = 1 the per-token loss is -A; rows of 3 and 1 actions, A = [1, -2]: "grpo" averages
    per row then over rows, "dapo" over all actions, "dr_grpo" divides by B * max_response_len."""
    lp = torch.full((2, 5), -1.0)
    lp_off = lp.masked_fill(MASK == 0, -30.0)           # off-mask values must not matter
    adv = torch.tensor([1.0, -2.0])
    want = {"grpo": (-1 + 2) / 2, "dapo": (-3 + 2) / 4, "dr_grpo": (-3 + 2) / (2 * 4)}
    for loss_type, w in want.items():
        loss, _ = _loss_stats(fn(lp_off, lp_off, None, adv, MASK, 0.2, 0.2, 0.0, loss_type, max_response_len=4))
        assert abs(_f(loss) - w) < 1e-6, \
            f"loss_type={loss_type!r}: with rho = 1 the per-token loss is -A; expected {w}, got {_f(loss)}"


def check_equals_reinforce_with_one_inner_step(fn):
    """With old_logprobs = logprobs.detach() (one gradient step per rollout) the gradient equals
    REINFORCE's with group advantages: -mean_i (1/|o_i|) sum_t A_i grad logp_it."""
    g = torch.Generator().manual_seed(1)
    adv = torch.tensor([1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 0.0, 0.0])
    mask = (torch.rand(8, 6, generator=g) > 0.3).float()
    mask[:, 0] = 1
    base = torch.log_softmax(torch.randn(8, 6, 4, generator=g), -1)[..., 0]
    a = base.clone().requires_grad_(True)
    loss, _ = _loss_stats(fn(a, a.detach(), None, adv, mask, 0.2, 0.2, 0.0, "grpo"))
    _backward(loss)
    b = base.clone().requires_grad_(True)
    (-((adv[:, None] * b * mask).sum(1) / mask.sum(1)).mean()).backward()
    assert a.grad is not None and torch.allclose(a.grad, b.grad, atol=1e-6), \
        "with old_logprobs = logprobs.detach() the gradient must equal REINFORCE's: -mean_i (1/|o_i|) sum_t A_i logp_it"


def check_clip_side(fn):
    """rho = e^0.5 > 1 + eps: with A > 0 the clipped term wins (no gradient, clip_frac 1); with A < 0
    the unclipped one is the pessimistic bound (clip_frac 0)."""
    old = torch.zeros(2, 5)
    lp = torch.full((2, 5), 0.5, requires_grad=True)               # rho = e^0.5 = 1.65
    loss, stats = _loss_stats(fn(lp, old, None, torch.ones(2), MASK, 0.2, 0.2, 0.0, "dapo"), "clip_frac")
    assert abs(_f(loss) + 1.2) < 1e-5, f"A = +1, rho = 1.65: the clipped term -1.2 * A wins; got {_f(loss)}"
    if loss.requires_grad:
        loss.backward()
    assert lp.grad is None or torch.all(lp.grad * MASK == 0), "A > 0 and rho > 1 + eps: no gradient (clipped)"
    assert abs(_f(stats["clip_frac"]) - 1.0) < 1e-6, f"every action was clipped: clip_frac 1, got {_f(stats['clip_frac'])}"
    lp = torch.full((2, 5), 0.5, requires_grad=True)
    loss, stats = _loss_stats(fn(lp, old, None, -torch.ones(2), MASK, 0.2, 0.2, 0.0, "dapo"), "clip_frac")
    assert abs(_f(loss) - math.exp(0.5)) < 1e-5, \
        f"A = -1, rho = 1.65: the unclipped term (rho * |A| = 1.65) is the pessimistic one; got {_f(loss)}"
    assert abs(_f(stats["clip_frac"])) < 1e-6, "with A < 0 and rho > 1 the clip is not active: clip_frac 0"


def check_asymmetric_clip(fn):
    """DAPO's clip-higher: the ratio is clipped at 1 + clip_eps_high above and at 1 - clip_eps below."""
    old = torch.zeros(2, 5)
    lp = torch.full((2, 5), math.log(1.25))
    tight, _ = _loss_stats(fn(lp, old, None, torch.ones(2), MASK, 0.2, 0.2, 0.0, "dapo"))
    loose, _ = _loss_stats(fn(lp, old, None, torch.ones(2), MASK, 0.2, 0.28, 0.0, "dapo"))
    assert abs(_f(tight) + 1.2) < 1e-5 and abs(_f(loose) + 1.25) < 1e-5, \
        f"rho = 1.25, A = 1: clip at 1 + clip_eps_high (1.2 -> -1.2, 1.28 -> -1.25); got {_f(tight)}, {_f(loose)}"
    lp = torch.full((2, 5), math.log(0.75))
    low, _ = _loss_stats(fn(lp, old, None, -torch.ones(2), MASK, 0.2, 0.28, 0.0, "dapo"))
    assert abs(_f(low) - 0.8) < 1e-5, f"rho = 0.75, A = -1: clip at 1 - clip_eps = 0.8 -> loss 0.8; got {_f(low)}"


def check_k3_kl(fn):
    """With A = 0 the loss is kl_coef times the k3 estimate of KL(pi || pi_ref), reported as stats["kl"],
    and its gradient pulls logp towards the reference."""
    lp = torch.zeros(2, 5, requires_grad=True)
    ref = torch.full((2, 5), math.log(0.5))
    loss, stats = _loss_stats(fn(lp, lp.detach(), ref, torch.zeros(2), MASK, 0.2, 0.2, 0.5, "dapo"), "kl")
    k3 = 0.5 - math.log(0.5) - 1
    assert abs(_f(stats["kl"]) - k3) < 1e-5, f"k3 = exp(ref - logp) - (ref - logp) - 1 = {k3:.4f}, got {_f(stats['kl'])}"
    assert abs(_f(loss) - 0.5 * k3) < 1e-5, f"loss = kl_coef * k3 = {0.5 * k3:.4f} when A = 0, got {_f(loss)}"
    _backward(loss)
    assert torch.all(lp.grad[MASK.bool()] > 0), "the KL term must pull logp towards the reference (here: down)"


def check_bad_input_raises_loss(fn):
    """ValueError for an unknown loss_type and for a negative kl_coef."""
    lp = torch.zeros(2, 5)
    for kw in (dict(loss_type="sum"), dict(kl_coef=-0.1)):
        args = dict(clip_eps=0.2, clip_eps_high=0.2, kl_coef=0.0, loss_type="grpo")
        args.update(kw)
        try:
            fn(lp, lp, lp, torch.zeros(2), MASK, **args)
        except ValueError:
            continue
        raise AssertionError(f"grpo_loss must raise ValueError for {kw}")


def check_defaults(fn):
    """Called with the five tensors only: clip_eps 0.2 on both sides (clip_eps_high=None means
    clip_eps), kl_coef 0, loss_type "grpo"; and "dr_grpo" without max_response_len divides by
    B * (T-1), the batch width, not by the longest response."""
    old = torch.zeros(2, 5)
    loss, _ = _loss_stats(fn(torch.full((2, 5), 0.5), old, None, torch.ones(2), MASK))
    assert abs(_f(loss) + 1.2) < 1e-5, \
        f"defaults, rho = e^0.5 = 1.65, A = +1: clip at 1 + clip_eps = 1.2 -> loss -1.2; got {_f(loss)} " \
        "(clip_eps_high=None means the same as clip_eps)"
    loss, _ = _loss_stats(fn(torch.full((2, 5), math.log(0.75)), old, None, -torch.ones(2), MASK))
    assert abs(_f(loss) - 0.8) < 1e-5, f"defaults, rho = 0.75, A = -1: clip at 1 - 0.2 -> loss 0.8; got {_f(loss)}"
    lp = torch.full((2, 5), -1.0)
    loss, _ = _loss_stats(fn(lp, lp, None, torch.tensor([1.0, -2.0]), MASK, loss_type="dr_grpo"))
    assert abs(_f(loss) + 0.1) < 1e-6, \
        f"loss_type='dr_grpo' without max_response_len: (-3 + 2) / (B * (T-1)) = -1 / (2 * 5) = -0.1; got {_f(loss)}"


def check_empty_response(fn):
    """A response without any action (an all-zero mask row) adds 0, never NaN: under "grpo" it
    counts as a row with mean 0, and an all-zero mask gives loss 0 (and stats 0) for every loss_type."""
    lp = torch.full((2, 5), -1.0, requires_grad=True)
    mask = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=torch.float)
    loss, _ = _loss_stats(fn(lp, lp.detach(), None, torch.tensor([1.0, -2.0]), mask, 0.2, 0.2, 0.0, "grpo"))
    assert abs(_f(loss) + 0.5) < 1e-6, \
        f"'grpo' with an empty second response: rows give -1 and 0, mean -0.5; got {_f(loss)} " \
        "(divide each row by max(1, its number of actions))"
    for loss_type in ("grpo", "dapo", "dr_grpo"):
        loss, stats = _loss_stats(fn(lp, lp.detach(), None, torch.tensor([1.0, -2.0]), torch.zeros(2, 5), 0.2, 0.2,
                                     0.0, loss_type), "clip_frac", "kl")
        assert _f(loss) == 0.0, f"loss_type={loss_type!r} with an all-zero mask: expected 0, got {_f(loss)}"
        bad = {k: _f(stats[k]) for k in ("clip_frac", "kl") if _f(stats[k]) != 0.0}
        assert not bad, f"loss_type={loss_type!r} with an all-zero mask: expected stats 0, got {bad}"


def _stats_case():
    """Per-token log-ratios and KL terms that vary, with junk on the padding (a mask bug shows)."""
    lp = torch.tensor([[-9.0, -1.0, -0.5, -2.0, -7.0], [-6.0, -1.5, -3.0, -4.0, -5.0]])
    old = lp - torch.tensor([[2.0, 0.1, 0.5, -0.4, 1.5], [-1.0, 0.3, 0.8, -2.0, 3.0]])
    ref = lp - torch.tensor([[3.0, 0.2, -0.3, 0.6, -2.0], [2.5, -0.5, 1.0, 4.0, -3.0]])
    return lp, old, ref, torch.tensor([1.0, -1.0])


def check_stats_ignore_padding(fn):
    """stats["kl"] and stats["clip_frac"] are means over the action tokens only: with log-ratios and
    KL terms that vary from token to token and junk on the padding, kl = masked mean of k3 and
    clip_frac = the share of action tokens whose clipped term is the smaller one (a constant
    log-ratio would hide a mean over every position)."""
    lp, old, ref, adv = _stats_case()
    _, stats = _loss_stats(fn(lp, old, ref, adv, MASK, 0.2, 0.2, 0.1, "dapo"), "clip_frac", "kl")
    d = ref - lp
    k3 = torch.exp(d) - d - 1
    rho, a = torch.exp(lp - old), adv[:, None]
    clipped = (rho.clamp(0.8, 1.2) * a < rho * a).float()
    want_kl, want_cf = float((k3 * MASK).sum() / MASK.sum()), float((clipped * MASK).sum() / MASK.sum())
    assert abs(_f(stats["kl"]) - want_kl) < 1e-5, \
        f"stats['kl'] with mask {MASK.int().tolist()}: expected the mean of k3 over the 4 actions {want_kl:.5g}, " \
        f"got {_f(stats['kl']):.5g}"
    assert abs(_f(stats["clip_frac"]) - want_cf) < 1e-6, \
        f"stats['clip_frac'] with mask {MASK.int().tolist()}: expected {want_cf:.4g} (clipping cuts the gradient on " \
        f"{round(want_cf * 4)} of the 4 actions), got {_f(stats['clip_frac']):.4g}"


def check_stats_detached(fn):
    """The stats are detached tensors (or numbers): logging them must not keep the autograd graph."""
    lp, old, ref, adv = _stats_case()
    lp = lp.clone().requires_grad_(True)
    _, stats = _loss_stats(fn(lp, old, ref, adv, MASK, 0.2, 0.2, 0.1, "grpo"), "clip_frac", "kl")
    attached = [k for k, v in stats.items() if isinstance(v, torch.Tensor) and v.requires_grad]
    assert not attached, f"stats {attached} carry a gradient: .detach() them (or compute them under torch.no_grad())"


def check_very_negative_logprobs(fn):
    """Long-tail tokens (log-probs near -200, float32): rho = exp(logp - old) and the k3 term are
    computed from differences of log-probs, which are exact; exp(logp) / exp(old) is 0 / 0 = NaN."""
    base = torch.full((2, 5), -200.0)
    lp = base + torch.tensor([[0.0, 0.1, -0.1, 0.05, 0.0], [0.0, -0.05, 0.0, 0.0, 0.0]])
    old, ref = base, base - 0.5
    adv = torch.tensor([1.0, -1.0])
    loss, stats = _loss_stats(fn(lp, old, ref, adv, MASK, 0.2, 0.2, 0.1, "dapo"), "kl")
    lr = (lp - old).double()
    d = (ref - lp).double()
    k3 = torch.exp(d) - d - 1
    a = adv.double()[:, None]
    per = -torch.min(torch.exp(lr) * a, torch.exp(lr).clamp(0.8, 1.2) * a) + 0.1 * k3
    m = MASK.double()
    want, want_kl = float((per * m).sum() / m.sum()), float((k3 * m).sum() / m.sum())
    assert math.isfinite(_f(loss)) and abs(_f(loss) - want) < 1e-4, \
        f"'dapo' loss for log-probs near -200 (log-ratios up to +-0.1, ref 0.5 below): expected {want:.5f}, " \
        f"got {_f(loss)} (compute rho = exp(logprobs - old_logprobs), not exp(logprobs) / exp(old_logprobs))"
    assert math.isfinite(_f(stats["kl"])) and abs(_f(stats["kl"]) - want_kl) < 1e-4, \
        f"stats['kl'] for log-probs near -200: expected {want_kl:.5f}, got {_f(stats['kl'])}"



def check_kl_penalty_ignores_padding(fn):
    """The KL penalty is aggregated over the action tokens like the rest of the loss: with A = 0,
    "dapo" gives kl_coef * (masked mean of k3), checked with a k3 that varies from token to token and
    is large on the padding (a constant k3, as in check_k3_kl, would hide kl.mean() over every position)."""
    lp, _, ref, _ = _stats_case()
    loss, _ = _loss_stats(fn(lp, lp, ref, torch.zeros(2), MASK, 0.2, 0.2, 0.5, "dapo"))
    d = ref - lp
    want = 0.5 * float(((torch.exp(d) - d - 1) * MASK).sum() / MASK.sum())
    assert abs(_f(loss) - want) < 1e-5, \
        f"'dapo', A = 0, kl_coef 0.5, mask {MASK.int().tolist()}: expected kl_coef * (mean of k3 over the 4 actions) = " \
        f"{want:.5g}, got {_f(loss):.5g} (the KL term must be masked like the policy term)"



CHECKS = {
    "group_advantages": [check_hand_value_unbiased_std, check_equal_rewards_give_zero_not_nan,
                         check_groups_are_consecutive_and_centred, check_scale_none, check_bad_input_raises,
                         check_integer_rewards_give_floats, check_unknown_scale_raises],
    "grpo_loss": [check_aggregations_hand_values, check_equals_reinforce_with_one_inner_step, check_clip_side,
                  check_asymmetric_clip, check_k3_kl, check_bad_input_raises_loss, check_defaults,
                  check_empty_response, check_stats_ignore_padding, check_stats_detached, check_very_negative_logprobs,
                  check_kl_penalty_ignores_padding],
}


# --- plausible mistakes ---------------------------------------------------------------------
def _check_groups(rewards, group_size):
    if group_size < 2 or rewards.numel() % group_size:
        raise ValueError("bad group")


def adv_biased_std(rewards, group_size, scale="group"):
    _check_groups(rewards, group_size)
    r = rewards.view(-1, group_size)
    c = r - r.mean(1, keepdim=True)
    return (c / (r.std(1, unbiased=False, keepdim=True) + 1e-4) if scale == "group" else c).reshape(-1)


def adv_no_epsilon(rewards, group_size, scale="group"):
    _check_groups(rewards, group_size)
    r = rewards.view(-1, group_size)
    c = r - r.mean(1, keepdim=True)
    return (c / r.std(1, keepdim=True) if scale == "group" else c).reshape(-1)


def adv_batch_baseline(rewards, group_size, scale="group"):
    _check_groups(rewards, group_size)
    c = rewards - rewards.mean()
    return c / (rewards.std() + 1e-4) if scale == "group" else c


def adv_interleaved_groups(rewards, group_size, scale="group"):
    _check_groups(rewards, group_size)
    r = rewards.view(group_size, -1)                     # wrong: groups are consecutive rows
    c = r - r.mean(0, keepdim=True)
    return (c / (r.std(0, keepdim=True) + 1e-4) if scale == "group" else c).reshape(-1)


def _loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, clip_eps_high=None, kl_coef=0.0,
          loss_type="grpo", max_response_len=None, *, side=min, kl_sign=1, swap_bounds=False, use_mask=True,
          none_is_no_upper_clip=False, dr_longest=False, clamp_counts=True, kl_stat_masked=True,
          clip_stat_masked=True, detach_stats=True, from_probabilities=False, kl_term_unmasked=False):
    """A configurable GRPO loss for the buggy variants below; the keyword flags each plant one mistake."""
    if loss_type not in ("grpo", "dapo", "dr_grpo") or kl_coef < 0:
        raise ValueError("bad input")
    hi = (1e9 if none_is_no_upper_clip else clip_eps) if clip_eps_high is None else clip_eps_high
    lo_b, hi_b = (1 - hi, 1 + clip_eps) if swap_bounds else (1 - clip_eps, 1 + hi)
    m = mask if use_mask else torch.ones_like(mask)
    a = advantages[:, None]
    rho = logprobs.exp() / old_logprobs.exp() if from_probabilities else torch.exp(logprobs - old_logprobs)
    s1, s2 = rho * a, torch.clamp(rho, lo_b, hi_b) * a
    per = -(torch.min(s1, s2) if side is min else torch.max(s1, s2))
    kl = torch.zeros_like(per)
    if ref_logprobs is not None:
        if from_probabilities:
            r = ref_logprobs.exp() / logprobs.exp()
            kl = r - torch.log(r) - 1
        else:
            d = kl_sign * (ref_logprobs - logprobs)
            kl = torch.exp(d) - d - 1
    per = per + (0.0 if kl_term_unmasked else kl_coef) * kl
    count = (lambda x: x.clamp(min=1)) if clamp_counts else (lambda x: x)
    if loss_type == "grpo":
        loss = ((per * m).sum(1) / count(m.sum(1))).mean()
    elif loss_type == "dapo":
        loss = (per * m).sum() / count(m.sum())
    else:
        width = int(m.sum(1).max()) if dr_longest else m.size(1)
        loss = (per * m).sum() / (m.size(0) * (max_response_len or width))
    if kl_term_unmasked:
        loss = loss + kl_coef * kl.mean()
    every = torch.ones_like(m)
    km, cm = (m if kl_stat_masked else every), (m if clip_stat_masked else every)
    kl_stat = (kl * km).sum() / count(km.sum())
    return loss, {"clip_frac": ((s2 < s1).float() * cm).sum() / count(cm.sum()),
                  "kl": kl_stat.detach() if detach_stats else kl_stat}


def loss_clip_wrong_side(*a, **k):
    return _loss(*a, **k, side=max)


def loss_kl_sign_flipped(*a, **k):
    return _loss(*a, **k, kl_sign=-1)


def loss_clip_bounds_swapped(*a, **k):
    return _loss(*a, **k, swap_bounds=True)


def loss_unmasked(*a, **k):
    return _loss(*a, **k, use_mask=False)


def loss_dapo_as_grpo(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, clip_eps_high=None,
                      kl_coef=0.0, loss_type="grpo", max_response_len=None):
    return _loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps, clip_eps_high, kl_coef,
                 "grpo" if loss_type == "dapo" else loss_type, max_response_len)


def adv_output_like_rewards(rewards, group_size, scale="group"):  # the output buffer has the rewards' dtype
    _check_groups(rewards, group_size)
    if scale not in ("group", "none"):
        raise ValueError(f"unknown scale {scale!r}")
    out = torch.zeros_like(rewards)
    for g in range(0, rewards.numel(), group_size):
        r = rewards[g:g + group_size].float()
        c = r - r.mean()
        out[g:g + group_size] = c / (r.std() + 1e-4) if scale == "group" else c     # truncated for long rewards
    return out


def adv_unknown_scale_falls_back(rewards, group_size, scale="group"):  # `else:` divides for any other word
    _check_groups(rewards, group_size)
    r = rewards.float().view(-1, group_size)
    c = r - r.mean(1, keepdim=True)
    if scale == "none":
        return c.reshape(-1)
    return (c / (r.std(1, keepdim=True) + 1e-4)).reshape(-1)


def loss_no_upper_clip_when_none(*a, **k):  # reads clip_eps_high=None as "no upper clip"
    return _loss(*a, **k, none_is_no_upper_clip=True)


def loss_dr_grpo_longest_response(*a, **k):  # max_response_len=None read as the longest response, not T-1
    return _loss(*a, **k, dr_longest=True)


def loss_nan_on_empty_response(*a, **k):  # divides by the number of actions without clamping: 0 / 0
    return _loss(*a, **k, clamp_counts=False)


def loss_kl_stat_over_padding(*a, **k):  # logs kl.mean() over every position
    return _loss(*a, **k, kl_stat_masked=False)


def loss_clip_frac_over_padding(*a, **k):  # logs the clip fraction over every position
    return _loss(*a, **k, clip_stat_masked=False)


def loss_stats_keep_graph(*a, **k):  # the logged KL keeps the autograd graph
    return _loss(*a, **k, detach_stats=False)


def loss_ratio_of_probabilities(*a, **k):  # pi / pi_old and pi_ref / pi from probabilities: 0 / 0 far in the tail
    return _loss(*a, **k, from_probabilities=True)



def loss_kl_penalty_over_padding(*a, **k):  # adds kl_coef * kl.mean() over every position to the masked policy loss
    return _loss(*a, **k, kl_term_unmasked=True)



BUGGY = {
    "group_advantages": [adv_biased_std, adv_no_epsilon, adv_batch_baseline, adv_interleaved_groups,
                         adv_output_like_rewards, adv_unknown_scale_falls_back],
    "grpo_loss": [loss_clip_wrong_side, loss_kl_sign_flipped, loss_clip_bounds_swapped, loss_unmasked,
                  loss_dapo_as_grpo, loss_no_upper_clip_when_none, loss_dr_grpo_longest_response,
                  loss_nan_on_empty_response, loss_kl_stat_over_padding, loss_clip_frac_over_padding,
                  loss_stats_keep_graph, loss_ratio_of_probabilities, loss_kl_penalty_over_padding],
}
