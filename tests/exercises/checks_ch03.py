"""Graders for chapter 3 (exercises/ch03_reinforce.py): returns-to-go, baselines, the REINFORCE loss.

Each check takes the function under test and raises AssertionError with a message that says
what was expected and what came back. See tests/exercises/harness.py for how they are run.
"""
from __future__ import annotations

import torch

from minirl import reinforce

EXERCISE_FILE = "ch03_reinforce.py"


def _fmt(t, nd: int = 4):
    return [round(x, nd) for x in t.detach().flatten().tolist()] if t.dim() else round(float(t.detach()), nd)


def _assert_close(got, want: torch.Tensor, what: str, tol: float = 1e-5):
    assert isinstance(got, torch.Tensor), f"{what}: expected a tensor, got {type(got).__name__}"
    assert got.shape == want.shape, f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
    g = got.detach().double()
    assert torch.isfinite(g).all() and torch.allclose(g, want.double(), atol=tol, rtol=tol), \
        f"{what}: expected {_fmt(want)}, got {_fmt(got)}"


def _backward(loss: torch.Tensor, what: str):
    assert loss.requires_grad, f"{what} carries no gradient: it must be computed from the logprobs " \
                               "(no .detach(), no torch.no_grad(), no new tensor built from numbers)"
    loss.backward()


def _loop_returns(rewards, mask, gamma):
    out = torch.zeros_like(rewards)
    for b in range(rewards.size(0)):
        g = 0.0
        for t in reversed(range(rewards.size(1))):
            g = (float(rewards[b, t]) + gamma * g) if mask[b, t] else 0.0
            out[b, t] = g
    return out


# --------------------------------------------------------------------------- discounted_returns

def check_returns_gamma_one(fn):
    """gamma = 1: G_t is the plain sum of the rewards from t on: [1, 2, 3] -> [6, 5, 3]."""
    _assert_close(fn(torch.tensor([[1.0, 2.0, 3.0]]), torch.ones(1, 3), 1.0), torch.tensor([[6.0, 5.0, 3.0]]),
                  "discounted_returns(rewards [1, 2, 3], all actions, gamma 1) (sum the *future*, not the past)")


def check_returns_discount_hand_value(fn):
    """A reward of 1 on the last action, gamma 0.5: one step earlier it is worth 0.5, two steps 0.25."""
    r = torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]])
    _assert_close(fn(r, m, 0.5), torch.tensor([[0.0, 0.25, 0.5, 1.0, 0.0]]),
                  "discounted_returns(rewards [0,0,0,1,0], mask [0,1,1,1,0], gamma 0.5); G_t = r_t + gamma G_{t+1}")


def check_returns_respect_mask(fn):
    """Rewards outside the mask do not count, and positions outside the mask get 0."""
    r = torch.tensor([[5.0, 0.0, 1.0, 7.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    _assert_close(fn(r, m, 1.0), torch.tensor([[0.0, 1.0, 1.0, 0.0]]),
                  "discounted_returns(rewards [5, 0, 1, 7], mask [0, 1, 1, 0], gamma 1)")


def check_returns_random_batches(fn):
    """Random rewards, rows with different prompt lengths and response lengths, gamma in {0, 0.7, 1},
    against the backward recursion; the inputs are left unchanged."""
    g = torch.Generator().manual_seed(0)
    r = torch.randn(5, 8, generator=g)
    starts, lens = torch.tensor([0, 1, 3, 2, 0]), torch.tensor([8, 3, 1, 5, 2])
    pos = torch.arange(8)[None]
    m = ((pos >= starts[:, None]) & (pos < (starts + lens)[:, None])).float()
    r0, m0 = r.clone(), m.clone()
    for gamma in (0.0, 0.7, 1.0):
        _assert_close(fn(r, m, gamma), _loop_returns(r, m, gamma), f"discounted_returns on a random batch, gamma {gamma}")
    assert torch.equal(r, r0) and torch.equal(m, m0), "discounted_returns modified its inputs in place"


def check_returns_integer_rewards(fn):
    """The verifier's 0/1 rewards as a long tensor: the returns are floats, [[0, .25, .5, 1, 0]]
    for gamma 0.5, not truncated to integers (never build the output with zeros_like(rewards))."""
    r = torch.tensor([[0, 0, 0, 1, 0], [0, 1, 0, 0, 0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0]])
    out = fn(r, m, 0.5)
    assert isinstance(out, torch.Tensor) and out.is_floating_point(), \
        f"discounted_returns(long rewards, float mask, 0.5): expected a float tensor, got " \
        f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__}"
    _assert_close(out, torch.tensor([[0.0, 0.25, 0.5, 1.0, 0.0], [0.5, 1.0, 0.0, 0.0, 0.0]]),
                  "discounted_returns(long rewards [[0,0,0,1,0], [0,1,0,0,0]], gamma 0.5)")


def returns_forward(rewards, mask, gamma):  # accumulates the past instead of the future
    out, g = torch.zeros_like(rewards), torch.zeros(rewards.size(0))
    for t in range(rewards.size(1)):
        g = (rewards[:, t] + gamma * g) * mask[:, t]
        out[:, t] = g
    return out


def returns_mask_ignored(rewards, mask, gamma):
    out, g = torch.zeros_like(rewards), torch.zeros(rewards.size(0))
    for t in reversed(range(rewards.size(1))):
        g = rewards[:, t] + gamma * g
        out[:, t] = g
    return out


def returns_discount_off_by_one(rewards, mask, gamma):  # discounts the immediate reward too
    out, g = torch.zeros_like(rewards), torch.zeros(rewards.size(0))
    for t in reversed(range(rewards.size(1))):
        g = gamma * (rewards[:, t] + g) * mask[:, t]
        out[:, t] = g
    return out


def returns_only_output_masked(rewards, mask, gamma):  # off-mask rewards still leak in
    return returns_mask_ignored(rewards, mask, gamma) * mask


def returns_int_buffer(rewards, mask, gamma):  # the output buffer has the rewards' dtype: long truncates
    out, g = torch.zeros_like(rewards), torch.zeros(rewards.size(0))
    for t in reversed(range(rewards.size(1))):
        g = (rewards[:, t] + gamma * g) * mask[:, t]
        out[:, t] = g
    return out



# --------------------------------------------------------------------------- baseline_advantages

def check_baseline_hand_value(fn):
    """returns [[0, 1, 1], [0, 0, 0]], mask [[0, 1, 1], [0, 1, 1]], b = 0.25 -> G - b on the actions."""
    G = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    m = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    _assert_close(fn(G, m, 0.25), torch.tensor([[0.0, 0.75, 0.75], [0.0, -0.25, -0.25]]),
                  "baseline_advantages(returns, mask, baseline 0.25)")


def check_baseline_is_action_independent(fn):
    """The advantage of one action must not move when *another* episode's return changes: a
    baseline computed from this batch's returns depends on the actions and biases the gradient."""
    G = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    m = torch.ones(4, 2)
    a = fn(G, m, 0.3)
    G2 = G.clone()
    G2[3] = 5.0
    b = fn(G2, m, 0.3)
    for out in (a, b):
        assert isinstance(out, torch.Tensor) and out.shape == G.shape, \
            f"baseline_advantages: expected shape {tuple(G.shape)}, got {getattr(out, 'shape', type(out).__name__)}"
    _assert_close(b[:3], a[:3].detach(), "advantages of rows 0-2 after only row 3's return changed "
                  "(use the baseline you are given, not a mean of this batch)")
    _assert_close(b[3] - a[3], torch.tensor([4.0, 4.0]), "change of row 3's advantage when its return grows by 4")


def check_baseline_respects_mask(fn):
    """Prompt and padding positions get advantage 0, whatever the baseline."""
    G = torch.tensor([[0.0, 2.0, 2.0, 0.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    _assert_close(fn(G, m, 0.5), torch.tensor([[0.0, 1.5, 1.5, 0.0]]),
                  "baseline_advantages(returns [0, 2, 2, 0], mask [0, 1, 1, 0], baseline 0.5)")


def check_baseline_inputs_untouched(fn):
    """The inputs are not modified, checked with a partial mask and nonzero returns off the mask
    (masked_fill_ and index assignment write into the caller's tensor)."""
    G = torch.tensor([[3.0, 1.0, 0.5, 2.0], [7.0, 7.0, 0.0, -1.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    G0, m0 = G.clone(), m.clone()
    out = fn(G, m, 0.5)
    assert torch.equal(G, G0) and torch.equal(m, m0), \
        f"baseline_advantages modified its inputs in place: returns {_fmt(G0)} became {_fmt(G)}"
    _assert_close(out, torch.tensor([[0.0, 0.5, 0.0, 0.0], [0.0, 0.0, -0.5, -1.5]]),
                  "baseline_advantages(returns, partial mask, baseline 0.5)")


def baseline_batch_mean(returns, mask, baseline):  # uses this batch's own returns: depends on the actions
    b = (returns * mask).sum() / mask.sum()
    return (returns - b) * mask


def baseline_mask_ignored(returns, mask, baseline):
    return returns - baseline


def baseline_row_mean(returns, mask, baseline):  # each episode's own mean: depends on its own actions
    b = (returns * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True)
    return (returns - 0.5 * (b + baseline)) * mask


def baseline_masked_fill_in_place(returns, mask, baseline):  # "clears" the padding in the caller's tensor
    returns.masked_fill_(mask == 0, 0.0)
    return returns - baseline * mask



# --------------------------------------------------------------------------- reinforce_loss

def _loss_value(fn, lp, adv, m):
    out = fn(lp, adv, m)
    assert isinstance(out, torch.Tensor) and out.dim() == 0, \
        f"reinforce_loss must return a scalar tensor, got {getattr(out, 'shape', type(out).__name__)}"
    return out


def check_loss_hand_value(fn):
    """logprobs [-1, -2, -3], advantages [1, 2, 100], mask [1, 1, 0] -> -((-1)(1) + (-2)(2)) / 2 = 2.5."""
    out = _loss_value(fn, torch.tensor([[-1.0, -2.0, -3.0]]), torch.tensor([[1.0, 2.0, 100.0]]),
                      torch.tensor([[1.0, 1.0, 0.0]]))
    _assert_close(out, torch.tensor(2.5), "reinforce_loss (minus the mean over the 2 actions)")


def check_loss_score_function_gradient(fn):
    """On a 2-action softmax pi = softmax(theta), the gradient of the loss must be
    -mean_i A_i (onehot(a_i) - pi): the score-function (REINFORCE) estimate."""
    theta = torch.tensor([0.3, -0.4], requires_grad=True)
    actions = torch.tensor([0, 1, 1, 0, 1])
    adv = torch.tensor([1.0, -0.5, 2.0, 0.25, 0.0])
    logp = torch.log_softmax(theta, 0)[actions][None]
    _backward(_loss_value(fn, logp, adv[None], torch.ones(1, 5)), "reinforce_loss")
    pi = torch.softmax(theta.detach(), 0)
    want = -torch.stack([a_ * (torch.eye(2)[a] - pi) for a, a_ in zip(actions, adv)]).mean(0)
    assert theta.grad is not None, "no gradient reached the policy parameters"
    _assert_close(theta.grad, want, "d loss / d theta on a 2-action softmax")


def check_loss_mask_and_mean(fn):
    """Masked positions get no gradient; the mean is over the actions (sum of the mask), not over
    every position: d loss / d logprobs = -A * mask / sum(mask)."""
    lp = torch.randn(2, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    adv = torch.tensor([[3.0, 1.0, -1.0, 5.0], [0.5, 0.5, -2.0, 1.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    _backward(_loss_value(fn, lp, adv, m), "reinforce_loss")
    _assert_close(lp.grad, -adv * m / 5, "d loss / d logprobs with 5 actions out of 8 positions")


def check_loss_advantages_are_constants(fn):
    """No gradient may flow into the advantages (they are targets, e.g. from a critic)."""
    lp = torch.tensor([[-0.5, -1.0]], requires_grad=True)
    adv = torch.tensor([[1.0, -1.0]], requires_grad=True)
    _backward(_loss_value(fn, lp, adv, torch.ones(1, 2)), "reinforce_loss")
    assert adv.grad is None or float(adv.grad.abs().sum()) == 0.0, \
        f"gradient flowed into the advantages ({_fmt(adv.grad)}): detach them"
    _assert_close(lp.grad, torch.tensor([[-0.5, 0.5]]), "d loss / d logprobs")


def check_loss_empty_mask(fn):
    """A batch without any action (an all-zero mask) gives loss 0 and a zero gradient, not NaN:
    divide by mask.sum().clamp(min=1)."""
    lp = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    out = _loss_value(fn, lp, torch.tensor([[1.0, -2.0, 3.0]]), torch.zeros(1, 3))
    assert torch.isfinite(out.detach()) and abs(float(out.detach())) < 1e-12, \
        f"reinforce_loss with an all-zero mask: expected 0, got {float(out.detach())} (divide by max(1, mask.sum()))"
    if out.requires_grad:
        out.backward()
        assert lp.grad is None or (torch.isfinite(lp.grad).all() and not lp.grad.any()), \
            f"reinforce_loss with an all-zero mask: expected a zero gradient, got {_fmt(lp.grad)}"


def check_loss_inputs_untouched(fn):
    """The inputs are not modified, checked with a partial mask and junk advantages off it:
    advantages.detach() shares memory with advantages, so writing into it writes into the caller's."""
    lp = torch.tensor([[-9.0, -1.0, -2.0, -7.0]], requires_grad=True)
    adv = torch.tensor([[5.0, 1.0, -1.0, 3.0]])
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    adv0, m0 = adv.clone(), m.clone()
    out = _loss_value(fn, lp, adv, m)
    assert torch.equal(adv, adv0) and torch.equal(m, m0), \
        f"reinforce_loss modified its inputs in place: advantages {_fmt(adv0)} became {_fmt(adv)}"
    _assert_close(out, torch.tensor(-0.5), "reinforce_loss(logprobs [-9, -1, -2, -7], advantages [5, 1, -1, 3], "
                  "mask [0, 1, 1, 0]) = -((-1)(1) + (-2)(-1)) / 2")


def loss_sign_flipped(logprobs, advantages, mask):  # gradient ascent on -J
    return (logprobs * advantages.detach() * mask).sum() / mask.sum()


def loss_mask_ignored(logprobs, advantages, mask):
    return -(logprobs * advantages.detach()).mean()


def loss_mean_over_positions(logprobs, advantages, mask):  # divides by B*T, not by the number of actions
    return -(logprobs * advantages.detach() * mask).mean()


def loss_not_detached(logprobs, advantages, mask):
    return -(logprobs * advantages * mask).sum() / mask.sum()


def loss_sum(logprobs, advantages, mask):
    return -(logprobs * advantages.detach() * mask).sum()


def loss_nan_on_empty(logprobs, advantages, mask):  # 0 / 0 when there is no action
    return -(logprobs * advantages.detach() * mask).sum() / mask.sum()



def loss_zeroes_padding_in_place(logprobs, advantages, mask):  # detach() shares memory with the caller's tensor
    adv = advantages.detach()
    adv[mask == 0] = 0.0
    return -(logprobs * adv).sum() / mask.sum().clamp(min=1)



EXERCISES = ("discounted_returns", "baseline_advantages", "reinforce_loss")
REFERENCE = {name: getattr(reinforce, name) for name in EXERCISES}
CHECKS = {
    "discounted_returns": [check_returns_gamma_one, check_returns_discount_hand_value, check_returns_respect_mask,
                           check_returns_random_batches, check_returns_integer_rewards],
    "baseline_advantages": [check_baseline_hand_value, check_baseline_is_action_independent,
                            check_baseline_respects_mask, check_baseline_inputs_untouched],
    "reinforce_loss": [check_loss_hand_value, check_loss_score_function_gradient, check_loss_mask_and_mean,
                       check_loss_advantages_are_constants, check_loss_empty_mask, check_loss_inputs_untouched],
}
BUGGY = {
    "discounted_returns": [returns_forward, returns_mask_ignored, returns_discount_off_by_one,
                           returns_only_output_masked, returns_int_buffer],
    "baseline_advantages": [baseline_batch_mean, baseline_mask_ignored, baseline_row_mean,
                            baseline_masked_fill_in_place],
    "reinforce_loss": [loss_sign_flipped, loss_mask_ignored, loss_mean_over_positions, loss_not_detached, loss_sum,
                       loss_nan_on_empty, loss_zeroes_padding_in_place],
}
