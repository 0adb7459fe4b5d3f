"""Checks for exercises/ch06_dpo.py (chapter 6, DPO)."""
import math

import torch
import torch.nn.functional as F

import minirl.dpo

EXERCISE_FILE = "ch06_dpo.py"
REFERENCE = {"sequence_logprob": minirl.dpo.sequence_logprob, "dpo_loss": minirl.dpo.dpo_loss}

LP = torch.tensor([[-50.0, -1.0, -2.0, -50.0], [-50.0, -0.5, -50.0, -50.0]])  # -50 = prompt / padding
MASK = torch.tensor([[0, 1, 1, 0], [0, 1, 0, 0]], dtype=torch.float)


def _shaped(out, shape, what: str) -> torch.Tensor:
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(shape), \
        f"{what}: expected a tensor of shape {tuple(shape)}, got {getattr(out, 'shape', type(out).__name__)}"
    return out


def _scalar(x, what: str) -> float:
    assert isinstance(x, torch.Tensor) and x.numel() == 1, \
        f"{what}: expected a scalar tensor, got {getattr(x, 'shape', type(x).__name__)}"
    return float(x.detach())


def _dpo(fn, *args, **kwargs):
    """(loss, chosen_rewards, rejected_rewards) from a dpo_loss call on a batch of B pairs."""
    out = fn(*args, **kwargs)
    assert isinstance(out, tuple) and len(out) == 3, \
        f"dpo_loss: return (loss, chosen_rewards, rejected_rewards), got {type(out).__name__}"
    B = args[0].shape
    _scalar(out[0], "dpo_loss's loss")
    return out[0], _shaped(out[1], B, "chosen_rewards"), _shaped(out[2], B, "rejected_rewards")


# --- sequence_logprob -----------------------------------------------------------------------
def check_sequence_hand_value(fn):
    """Masked log-probs [-1, -2] and [-0.5] (prompt/padding at -50) sum to [-3.0, -0.5], shape (B,)."""
    out = _shaped(fn(LP.clone(), MASK.clone()), (2,), "sequence_logprob of a (2, 4) batch")
    assert torch.allclose(out, torch.tensor([-3.0, -0.5])), \
        f"expected [-3.0, -0.5] (sum of the masked log-probs of each row), got {out.tolist()}"


def check_sequence_is_a_sum_not_a_mean(fn):
    """Four actions of log-prob -1 make a sequence of log-prob -4, one makes -1: a sum, not a mean."""
    lp = torch.tensor([[-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float)
    out = _shaped(fn(lp, mask), (2,), "sequence_logprob of a (2, 4) batch")
    assert torch.allclose(out, torch.tensor([-4.0, -1.0])), \
        f"a 4-token response of log-prob -1 each has log-prob -4, a 1-token one -1; got {out.tolist()} " \
        "(did you average instead of summing?)"


def check_sequence_ignores_prompt_and_padding(fn):
    """Setting the prompt/padding log-probs to -1e4 changes nothing: only mask = 1 positions count."""
    lp = LP.clone()
    lp[MASK == 0] = -1e4
    out = _shaped(fn(lp, MASK), (2,), "sequence_logprob of a (2, 4) batch")
    assert torch.allclose(out, torch.tensor([-3.0, -0.5])), \
        f"positions with mask 0 must not count; got {out.tolist()}"


def check_sequence_batch_of_one(fn):
    """A batch of one response gives shape (1,), not a scalar (): squeeze nothing, or only dim 1."""
    out = fn(LP[:1].clone(), MASK[:1].clone())
    _shaped(out, (1,), "sequence_logprob of a (1, 4) batch (one response)")
    assert torch.allclose(out.detach(), torch.tensor([-3.0])), f"expected [-3.0], got {out.tolist()}"


def check_sequence_keeps_gradient(fn):
    """DPO trains through these sums: the result is differentiable, with d out[b] / d logprobs[b, t]
    = mask[b, t] (no .item(), no new tensor built from Python numbers)."""
    lp = LP.clone().requires_grad_(True)
    out = _shaped(fn(lp, MASK.clone()), (2,), "sequence_logprob of a (2, 4) batch")
    assert out.requires_grad, "sequence_logprob returned a tensor without gradient: DPO back-propagates through it"
    out.sum().backward()
    assert lp.grad is not None and torch.equal(lp.grad, MASK), \
        f"d sum(out) / d logprobs: expected the mask {MASK.tolist()}, got {None if lp.grad is None else lp.grad.tolist()}"


def check_sequence_inputs_untouched(fn):
    """The inputs are not modified, checked with a partial mask and junk log-probs off it
    (masked_fill_ or index assignment would zero the caller's prompt log-probs)."""
    lp, mask = LP.clone(), MASK.clone()
    out = _shaped(fn(lp, mask), (2,), "sequence_logprob of a (2, 4) batch")
    assert torch.equal(lp, LP) and torch.equal(mask, MASK), \
        f"sequence_logprob modified its inputs in place: logprobs {LP.tolist()} became {lp.tolist()}"
    assert torch.allclose(out.detach(), torch.tensor([-3.0, -0.5])), f"expected [-3.0, -0.5], got {out.tolist()}"



# --- dpo_loss -------------------------------------------------------------------------------
def _args(beta=0.5):
    # h = beta * ((-1 - -2) - (-3 - -2)) = 2 beta
    return torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0]), beta


def check_log2_when_policy_is_reference(fn):
    """Policy = reference: every margin h is 0, so the loss is -log sigmoid(0) = log 2 and the
    implicit rewards are 0."""
    lp = torch.tensor([-3.0, -0.5, -7.0])
    loss, rc, rr = _dpo(fn, lp, lp - 2, lp, lp - 2, 0.1)
    assert abs(float(loss) - math.log(2)) < 1e-6, f"policy = reference must give log 2 = 0.6931, got {float(loss):.4f}"
    assert torch.allclose(rc, torch.zeros(3)) and torch.allclose(rr, torch.zeros(3)), \
        "implicit rewards must be 0 when policy = reference"


def check_dpo_hand_value(fn):
    """One pair with margin h = beta * 2: beta 0.5 -> -log sigmoid(1), beta 2 -> -log sigmoid(4)."""
    loss, _, _ = _dpo(fn, *_args(0.5))
    want = math.log(1 + math.exp(-1))
    assert abs(float(loss) - want) < 1e-5, f"beta=0.5, h=1: expected -log sigmoid(1) = {want:.5f}, got {float(loss):.5f}"
    loss2, _, _ = _dpo(fn, *_args(2.0))
    want2 = math.log(1 + math.exp(-4))
    assert abs(float(loss2) - want2) < 1e-5, f"beta=2: expected {want2:.5f}, got {float(loss2):.5f} (is beta applied?)"


def check_label_smoothing(fn):
    """label_smoothing = 0.1 mixes in the flipped label: 0.9 * (-log sigmoid(h)) + 0.1 * (-log sigmoid(-h))."""
    loss, _, _ = _dpo(fn, *_args(0.5), label_smoothing=0.1)
    want = 0.9 * math.log(1 + math.exp(-1)) + 0.1 * math.log(1 + math.e)
    assert abs(float(loss) - want) < 1e-5, \
        f"label_smoothing=0.1: expected 0.9*(-log sigmoid(1)) + 0.1*(-log sigmoid(-1)) = {want:.5f}, got {float(loss):.5f}"


def check_rewards_values_and_detached(fn):
    """The implicit rewards are beta * (policy - reference) log-probs, per pair, and carry no gradient."""
    pc = torch.tensor([-1.0, -2.0], requires_grad=True)
    pr = torch.tensor([-3.0, -1.0], requires_grad=True)
    _, rc, rr = _dpo(fn, pc, pr, torch.tensor([-2.0, -2.0]), torch.tensor([-2.0, -2.0]), 0.5)
    assert torch.allclose(rc, torch.tensor([0.5, 0.0])) and torch.allclose(rr, torch.tensor([-0.5, 0.5])), \
        f"rewards must be beta*(pi - ref): expected [0.5, 0.0] and [-0.5, 0.5], got {rc.tolist()} and {rr.tolist()}"
    assert not rc.requires_grad and not rr.requires_grad, "chosen/rejected rewards must be detached"


def check_gradient_direction_and_mean(fn):
    """A gradient step raises every chosen log-prob and lowers every rejected one, and the loss is
    the mean over the batch of -log sigmoid(h)."""
    pc = torch.tensor([-2.0, -4.0, -1.0], requires_grad=True)
    pr = torch.tensor([-2.5, -1.0, -6.0], requires_grad=True)
    ref_c, ref_r = torch.tensor([-2.0, -3.0, -1.0]), torch.tensor([-2.0, -1.5, -5.0])
    loss, _, _ = _dpo(fn, pc, pr, ref_c, ref_r, 0.1)
    assert loss.requires_grad, "dpo_loss carries no gradient: it must be computed from the policy log-probs " \
                               "(no .detach(), no torch.no_grad(), no new tensor built from numbers)"
    loss.backward()
    assert pc.grad is not None and pr.grad is not None and (pc.grad < 0).all() and (pr.grad > 0).all(), \
        "gradient descent must raise the chosen log-prob and lower the rejected one"
    h = 0.1 * ((pc - ref_c) - (pr - ref_r)).detach()
    want = (-F.logsigmoid(h)).mean()
    loss = float(loss.detach())
    assert abs(loss - float(want)) < 1e-6, f"expected the batch MEAN {float(want):.5f}, got {loss:.5f}"


def check_dpo_large_margins_are_stable(fn):
    """Sequence log-probs are sums over many tokens, so margins get large: h = -200 gives loss 200,
    and with label_smoothing 0.1, h = +200 gives 0.1 * 200 = 20; finite, never inf
    (log(sigmoid(h)) underflows to log 0; F.logsigmoid does not)."""
    ref = torch.tensor([-100.0])
    loss, _, _ = _dpo(fn, torch.tensor([-500.0]), ref, ref, ref, 0.5)          # h = 0.5 * (-400) = -200
    got = _scalar(loss, "dpo_loss's loss")
    assert math.isfinite(got) and abs(got - 200.0) < 1e-3, \
        f"pi_chosen -500, the others -100, beta 0.5 (h = -200): expected loss 200, got {got} " \
        "(use F.logsigmoid, not torch.log(torch.sigmoid(...)))"
    loss, _, _ = _dpo(fn, ref, torch.tensor([-500.0]), ref, ref, 0.5, label_smoothing=0.1)   # h = +200
    got = _scalar(loss, "dpo_loss's loss")
    assert math.isfinite(got) and abs(got - 20.0) < 1e-3, \
        f"h = +200 with label_smoothing 0.1: expected 0.9 * 0 + 0.1 * 200 = 20, got {got}"



CHECKS = {
    "sequence_logprob": [check_sequence_hand_value, check_sequence_is_a_sum_not_a_mean,
                         check_sequence_ignores_prompt_and_padding, check_sequence_batch_of_one,
                         check_sequence_keeps_gradient, check_sequence_inputs_untouched],
    "dpo_loss": [check_log2_when_policy_is_reference, check_dpo_hand_value, check_label_smoothing,
                 check_rewards_values_and_detached, check_gradient_direction_and_mean,
                 check_dpo_large_margins_are_stable],
}


# --- plausible mistakes (each must fail at least one check) ---------------------------------
def seq_mean_instead_of_sum(logprobs, mask):
    return (logprobs * mask).sum(1) / mask.sum(1)


def seq_unmasked(logprobs, mask):
    return logprobs.sum(1)


def dpo_rewards_not_detached(pc, pr, rc, rr, beta, label_smoothing=0.0):
    h = beta * ((pc - rc) - (pr - rr))
    loss = (-(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)).mean()
    return loss, beta * (pc - rc), beta * (pr - rr)


def dpo_no_beta(pc, pr, rc, rr, beta, label_smoothing=0.0):
    h = (pc - rc) - (pr - rr)
    loss = (-(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)).mean()
    return loss, (beta * (pc - rc)).detach(), (beta * (pr - rr)).detach()


def dpo_smoothing_flipped(pc, pr, rc, rr, beta, label_smoothing=0.0):
    h = beta * ((pc - rc) - (pr - rr))
    loss = (-label_smoothing * F.logsigmoid(h) - (1 - label_smoothing) * F.logsigmoid(-h)).mean()
    return loss, (beta * (pc - rc)).detach(), (beta * (pr - rr)).detach()


def dpo_reference_sign_flipped(pc, pr, rc, rr, beta, label_smoothing=0.0):
    h = beta * ((pc + rc) - (pr + rr))
    loss = (-(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)).mean()
    return loss, (beta * (pc + rc)).detach(), (beta * (pr + rr)).detach()


def dpo_sum_over_batch(pc, pr, rc, rr, beta, label_smoothing=0.0):
    h = beta * ((pc - rc) - (pr - rr))
    loss = (-(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)).sum()
    return loss, (beta * (pc - rc)).detach(), (beta * (pr - rr)).detach()


def seq_squeezed(logprobs, mask):  # .squeeze() also drops a batch of one
    return (logprobs * mask).sum(dim=1, keepdim=True).squeeze()


def seq_python_floats(logprobs, mask):  # rebuilt from numbers: no gradient
    return torch.tensor([(lp * m).sum().item() for lp, m in zip(logprobs, mask)])


def seq_masked_fill_in_place(logprobs, mask):  # zeroes the caller's prompt log-probs
    return logprobs.masked_fill_(mask == 0, 0.0).sum(dim=1)


def dpo_naive_log_sigmoid(pc, pr, rc, rr, beta, label_smoothing=0.0):  # log(sigmoid(h)) = log 0 for h = -200
    h = beta * ((pc - rc) - (pr - rr))
    loss = (-(1 - label_smoothing) * torch.log(torch.sigmoid(h))
            - label_smoothing * torch.log(torch.sigmoid(-h))).mean()
    return loss, (beta * (pc - rc)).detach(), (beta * (pr - rr)).detach()



BUGGY = {
    "sequence_logprob": [seq_mean_instead_of_sum, seq_unmasked, seq_squeezed, seq_python_floats,
                         seq_masked_fill_in_place],
    "dpo_loss": [dpo_rewards_not_detached, dpo_no_beta, dpo_smoothing_flipped, dpo_reference_sign_flipped,
                 dpo_sum_over_batch, dpo_naive_log_sigmoid],
}
