"""Chapter 6 exercises: Direct Preference Optimization.

Fill in each function where it says YOUR CODE HERE, then grade your work with

    python -m minirl.grade 6

Only torch and math are needed. Shapes: B = batch of preference pairs, T = sequence length.
Conventions (as in the rest of minirl): logprobs[:, t] = log pi(tokens[:, t+1] | tokens[:, :t+1]),
and mask[:, t] = 1 exactly where tokens[:, t+1] is a response token (EOS included).
"""
import math  # noqa: F401  (you may need it)

import torch
import torch.nn.functional as F  # noqa: F401


def sequence_logprob(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log-probability of each whole response: log pi(y | x) = sum_t log pi(y_t | x, y_<t).

    logprobs: (B, T-1) per-token log-probabilities.
    mask:     (B, T-1) 1.0 on response tokens, 0.0 on prompt and padding.
    Returns:  (B,) the masked SUM over each row (not the mean: DPO compares the probabilities of
              whole responses, and the probability of a sequence is the product of its tokens').
              Shape (1,) for a batch of one (do not .squeeze() it to a scalar). The result keeps
              its gradient (DPO trains through it: no .item(), no torch.tensor([...]) of numbers).
              Do not modify the inputs (no masked_fill_ on logprobs).
    Difficulty: ★☆☆
    Hint: multiply by the mask and reduce over the time dimension only.
    """
    raise NotImplementedError  # YOUR CODE HERE


def dpo_loss(pi_chosen: torch.Tensor, pi_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float, label_smoothing: float = 0.0):
    """The DPO loss (Rafailov et al. 2023, eq. 7), with conservative-DPO label smoothing.

    All four inputs are (B,) sequence log-probs (sums over response tokens): the policy's (with
    gradient) and the frozen reference's, for the chosen (preferred) and rejected responses.

        h    = beta * [ (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected) ]          (B,)
        loss = mean over the batch of  -(1 - eps) log sigmoid(h) - eps log sigmoid(-h)
               with eps = label_smoothing

    Returns (loss, chosen_rewards, rejected_rewards): the scalar loss, and the implicit rewards
    beta * (pi_chosen - ref_chosen) and beta * (pi_rejected - ref_rejected), each (B,) and DETACHED
    (they are for logging; no gradient may flow through them).
    Sequence log-probs are sums over many tokens, so margins can be large: h = -200 must give a
    loss of 200, not inf. Hint: F.logsigmoid is the numerically stable log(sigmoid(x));
    torch.log(torch.sigmoid(h)) is log 0 = -inf there.
    Difficulty: ★★☆
    """
    raise NotImplementedError  # YOUR CODE HERE
