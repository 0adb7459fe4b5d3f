"""The shared math of minirl/core.py, against hand-computed values and against the definitions."""
import doctest
import math

import pytest
import torch

import minirl.core as core
from minirl.core import (clipped_surrogate, discounted_cumsum, explained_variance, gather_logprobs, kl_estimate,
                         masked_mean, masked_mean_std, masked_whiten)


def test_docstring_examples():
    assert doctest.testmod(core).failed == 0


def test_masked_mean_ignores_padding_and_handles_an_empty_mask():
    x = torch.tensor([[1.0, 2.0, 100.0], [3.0, -50.0, -50.0]])
    m = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert masked_mean(x, m).item() == pytest.approx(2.0)
    assert masked_mean(x, torch.zeros_like(m)).item() == 0.0               # no NaN for an empty mask


def test_masked_mean_std_is_the_population_std_of_the_actions():
    x = torch.tensor([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0, 1000.0])
    m = torch.tensor([1.0] * 8 + [0.0])
    assert masked_mean_std(x, m) == pytest.approx((5.0, 2.0))


def test_masked_whiten_has_zero_mean_unit_std_on_the_mask_and_zero_off_it():
    torch.manual_seed(0)
    x, m = torch.randn(4, 6) * 3 + 1, (torch.rand(4, 6) > 0.3).float()
    w = masked_whiten(x, m)
    assert masked_mean(w, m).item() == pytest.approx(0.0, abs=1e-6)
    assert masked_mean(w ** 2, m).item() == pytest.approx(1.0, rel=1e-4)
    assert (w[m == 0] == 0).all()


def loop_cumsum(x, factor, window=None):
    """The backward recursion, written as a Python loop (the definition)."""
    out = torch.zeros_like(x)
    T = x.size(-1)
    for t in range(T):
        end = T if window is None else min(T, t + window)
        out[..., t] = sum(factor ** (k - t) * x[..., k] for k in range(t, end))
    return out


@pytest.mark.parametrize("factor", [1.0, 0.9, 0.5, 0.0])
@pytest.mark.parametrize("window", [None, 1, 2, 5])
def test_discounted_cumsum_matches_the_recursion(factor, window):
    torch.manual_seed(1)
    x = torch.randn(3, 7)
    assert torch.allclose(discounted_cumsum(x, factor, window), loop_cumsum(x, factor, window), atol=1e-6)


def test_discounted_cumsum_by_hand():
    x = torch.tensor([0.0, 0.0, 1.0])
    assert torch.allclose(discounted_cumsum(x, 0.9), torch.tensor([0.81, 0.9, 1.0]))
    assert torch.allclose(discounted_cumsum(torch.tensor([1.0, 2.0, 3.0]), 1.0, window=2), torch.tensor([3.0, 5.0, 3.0]))


def test_gather_logprobs_is_log_softmax_at_the_target():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]])
    lp = gather_logprobs(logits, torch.tensor([[0, 2]]))
    z = math.log(math.exp(2) + 1 + math.exp(-1))
    assert torch.allclose(lp, torch.tensor([[2 - z, -math.log(3)]]))


def test_gather_logprobs_is_stable_for_huge_logits():
    lp = gather_logprobs(torch.tensor([[1e4, -1e4]]), torch.tensor([1]))
    assert torch.isfinite(lp).all() and lp.item() == pytest.approx(-2e4)


def test_kl_estimators_by_hand():
    logp, ref = torch.tensor([0.0, -1.0]), torch.tensor([-1.0, 0.0])
    assert torch.allclose(kl_estimate(logp, ref, "k1"), torch.tensor([1.0, -1.0]))
    assert torch.allclose(kl_estimate(logp, ref, "k2"), torch.tensor([0.5, 0.5]))
    assert torch.allclose(kl_estimate(logp, ref, "k3"), torch.tensor([math.exp(-1), math.exp(1) - 2]))
    with pytest.raises(ValueError, match="k1"):
        kl_estimate(logp, ref, "k4")


def test_kl_estimators_are_unbiased_where_the_theory_says():
    """Sample a ~ p for p, q two categoricals: k1 and k3 average to KL(p || q); k2 does not."""
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.3, 0.5])
    exact = float((p * (p / q).log()).sum())
    a = torch.multinomial(p, 400_000, replacement=True, generator=torch.Generator().manual_seed(0))
    logp, logq = p.log()[a], q.log()[a]
    for kind in ("k1", "k3"):
        assert kl_estimate(logp, logq, kind).mean().item() == pytest.approx(exact, abs=0.005), kind
    assert abs(kl_estimate(logp, logq, "k2").mean().item() - exact) > 0.01          # biased: 0.294 vs 0.275
    assert (kl_estimate(logp, logq, "k3") >= 0).all()


def test_clipped_surrogate_by_hand_and_its_clip_fraction():
    old = torch.zeros(4)
    logp = torch.log(torch.tensor([1.5, 0.5, 1.1, 0.7]))
    adv = torch.tensor([1.0, -1.0, 1.0, 1.0])
    loss, ratio, clipped = clipped_surrogate(logp, old, adv, 0.2)
    # rho A vs clip(rho) A: 1.5 -> 1.2 (clipped), -0.5 vs -0.8 -> -0.8 (clipped), 1.1 (inside), 0.7 vs 0.8 -> 0.7
    assert torch.allclose(loss, -torch.tensor([1.2, -0.8, 1.1, 0.7]))
    assert clipped.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert torch.allclose(ratio, torch.tensor([1.5, 0.5, 1.1, 0.7]))


def test_clipped_surrogate_gradient_is_zero_where_clipped_and_a_where_not():
    logp = torch.log(torch.tensor([1.5, 1.1])).requires_grad_()
    loss, _, _ = clipped_surrogate(logp, torch.zeros(2), torch.tensor([2.0, 2.0]), 0.2)
    loss.sum().backward()
    assert torch.allclose(logp.grad, torch.tensor([0.0, -2.0 * 1.1]))     # d(-rho A)/dlogp = -rho A


def test_clipped_surrogate_asymmetric_clip_higher():
    loss, _, clipped = clipped_surrogate(torch.log(torch.tensor([1.25])), torch.zeros(1), torch.ones(1), 0.2, 0.28)
    assert clipped.item() == 0.0 and loss.item() == pytest.approx(-1.25)


def test_clipped_surrogate_does_not_modify_its_inputs():
    logp, old, adv = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    copies = [t.clone() for t in (logp, old, adv)]
    clipped_surrogate(logp, old, adv, 0.2)
    assert all(torch.equal(a, b) for a, b in zip((logp, old, adv), copies))


def test_explained_variance():
    R, m = torch.tensor([1.0, 2.0, 3.0, 4.0, 99.0]), torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    assert explained_variance(R, R, m) == pytest.approx(1.0)
    assert explained_variance(torch.full_like(R, 2.5), R, m) == pytest.approx(0.0)
    assert explained_variance(R + 7.0, R, m) == pytest.approx(1.0)          # a constant offset is not variance
    assert explained_variance(-R, R, m) < 0
    assert math.isnan(explained_variance(R, torch.ones(5), m))
