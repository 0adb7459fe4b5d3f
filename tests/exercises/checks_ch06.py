"""Checks for exercises/ch06_dpo.py (chapter 6, DPO)."""
import math

import torch
import torch.nn.functional as F

import minirl.dpo

EXERCISE_FILE = "ch06_dpo.py"
REFERENCE = {"sequence_logprob": minirl.dpo.sequence_logprob, "dpo_loss": minirl.dpo.dpo_loss}

LP = torch.tensor([[-50.0, -1.0, -2.0, -50.0], [-50.0, -0.5, -50.0, -50.0]])  # -50 = prompt / padding
MASK = torch.tensor([[0, 1, 1, 0], [0, 1, 0, 0]], dtype=torch.float)


# --- sequence_logprob -----------------------------------------------------------------------
def check_sequence_hand_value(fn):
    out = fn(LP, MASK)
    assert tuple(out.shape) == (2,), f"expected shape (2,), got {tuple(out.shape)}"
    assert torch.allclose(out, torch.tensor([-3.0, -0.5])), \
        f"expected [-3.0, -0.5] (sum of the masked log-probs of each row), got {out.tolist()}"


def check_sequence_is_a_sum_not_a_mean(fn):
    lp = torch.tensor([[-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float)
    out = fn(lp, mask)
    assert torch.allclose(out, torch.tensor([-4.0, -1.0])), \
        f"a 4-token response of log-prob -1 each has log-prob -4, a 1-token one -1; got {out.tolist()} " \
        "(did you average instead of summing?)"


def check_sequence_ignores_prompt_and_padding(fn):
    lp = LP.clone()
    lp[MASK == 0] = -1e4
    out = fn(lp, MASK)
    assert torch.allclose(out, torch.tensor([-3.0, -0.5])), \
        f"positions with mask 0 must not count; got {out.tolist()}"


# --- dpo_loss -------------------------------------------------------------------------------
def _args(beta=0.5):
    # h = beta * ((-1 - -2) - (-3 - -2)) = 2 beta
    return torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0]), beta


def check_log2_when_policy_is_reference(fn):
    lp = torch.tensor([-3.0, -0.5, -7.0])
    loss, rc, rr = fn(lp, lp - 2, lp, lp - 2, 0.1)
    assert abs(float(loss) - math.log(2)) < 1e-6, f"policy = reference must give log 2 = 0.6931, got {float(loss):.4f}"
    assert torch.allclose(rc, torch.zeros(3)) and torch.allclose(rr, torch.zeros(3)), \
        "implicit rewards must be 0 when policy = reference"


def check_dpo_hand_value(fn):
    loss, rc, rr = fn(*_args(0.5))
    want = math.log(1 + math.exp(-1))
    assert abs(float(loss) - want) < 1e-5, f"beta=0.5, h=1: expected -log sigmoid(1) = {want:.5f}, got {float(loss):.5f}"
    loss2, _, _ = fn(*_args(2.0))
    want2 = math.log(1 + math.exp(-4))
    assert abs(float(loss2) - want2) < 1e-5, f"beta=2: expected {want2:.5f}, got {float(loss2):.5f} (is beta applied?)"


def check_label_smoothing(fn):
    loss, _, _ = fn(*_args(0.5), label_smoothing=0.1)
    want = 0.9 * math.log(1 + math.exp(-1)) + 0.1 * math.log(1 + math.e)
    assert abs(float(loss) - want) < 1e-5, \
        f"label_smoothing=0.1: expected 0.9*(-log sigmoid(1)) + 0.1*(-log sigmoid(-1)) = {want:.5f}, got {float(loss):.5f}"


def check_rewards_values_and_detached(fn):
    pc = torch.tensor([-1.0, -2.0], requires_grad=True)
    pr = torch.tensor([-3.0, -1.0], requires_grad=True)
    _, rc, rr = fn(pc, pr, torch.tensor([-2.0, -2.0]), torch.tensor([-2.0, -2.0]), 0.5)
    assert torch.allclose(rc, torch.tensor([0.5, 0.0])) and torch.allclose(rr, torch.tensor([-0.5, 0.5])), \
        f"rewards must be beta*(pi - ref): expected [0.5, 0.0] and [-0.5, 0.5], got {rc.tolist()} and {rr.tolist()}"
    assert not rc.requires_grad and not rr.requires_grad, "chosen/rejected rewards must be detached"


def check_gradient_direction_and_mean(fn):
    pc = torch.tensor([-2.0, -4.0, -1.0], requires_grad=True)
    pr = torch.tensor([-2.5, -1.0, -6.0], requires_grad=True)
    ref_c, ref_r = torch.tensor([-2.0, -3.0, -1.0]), torch.tensor([-2.0, -1.5, -5.0])
    loss, _, _ = fn(pc, pr, ref_c, ref_r, 0.1)
    loss.backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all(), \
        "gradient descent must raise the chosen log-prob and lower the rejected one"
    h = 0.1 * ((pc - ref_c) - (pr - ref_r)).detach()
    want = (-F.logsigmoid(h)).mean()
    loss = float(loss.detach())
    assert abs(loss - float(want)) < 1e-6, f"expected the batch MEAN {float(want):.5f}, got {loss:.5f}"


CHECKS = {
    "sequence_logprob": [check_sequence_hand_value, check_sequence_is_a_sum_not_a_mean,
                         check_sequence_ignores_prompt_and_padding],
    "dpo_loss": [check_log2_when_policy_is_reference, check_dpo_hand_value, check_label_smoothing,
                 check_rewards_values_and_detached, check_gradient_direction_and_mean],
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


BUGGY = {
    "sequence_logprob": [seq_mean_instead_of_sum, seq_unmasked],
    "dpo_loss": [dpo_rewards_not_detached, dpo_no_beta, dpo_smoothing_flipped, dpo_reference_sign_flipped,
                 dpo_sum_over_batch],
}
