"""Chapter 3 exercises: REINFORCE -- returns-to-go, a baseline, the policy-gradient loss.

Read chapters/03-reinforce.md first. Fill in each function below where it says
`raise NotImplementedError  # YOUR CODE HERE`; keep the names and signatures. Then grade with

    python -m minirl.grade 3

Only `math` and `torch` are needed. The shared conventions (docs/conventions.md, minirl/batches.py):

    logprobs (B, T-1)  logprobs[:, t] = log pi(tokens[:, t+1] | tokens[:, :t+1])
    mask     (B, T-1)  1.0 where tokens[:, t+1] is an action (a sampled response token, EOS included),
                       0.0 on prompt and padding. The actions of a row are contiguous.
    rewards  (B, T-1)  the reward of each action; for the arithmetic task, the verifier's 0/1 sits
                       on the last action of each row and every other entry is 0.

The references are minirl.reinforce.discounted_returns, baseline_advantages and reinforce_loss.
"""
import math  # noqa: F401  (you may find it useful)

import torch


def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Returns-to-go: what each action earned from its own step to the end of its episode.

    rewards, mask (B, T-1); gamma in [0, 1]. The rewards may be an integer (long) tensor, such as
    the verifier's 0/1: the result is a float tensor all the same (do not build it with
    torch.zeros_like(rewards), which would truncate every return to an integer). Returns (B, T-1):

        G_t = r_t + gamma r_{t+1} + gamma^2 r_{t+2} + ...     (over the actions of the row)
            = r_t + gamma G_{t+1}                              (so compute it backwards in time)

    and 0 where mask is 0. Rewards at positions where mask is 0 do not count.

    Example: rewards [[0, 0, 0, 1, 0]], mask [[0, 1, 1, 1, 0]], gamma 0.5
             -> [[0, 0.25, 0.5, 1, 0]]
    Do not modify the inputs.
    Difficulty: ★★☆
    Hint: walk the columns from the last to the first with a running (B,) return; multiplying by
    mask[:, t] at each step both ignores off-mask rewards and makes the result 0 there.
    """
    raise NotImplementedError  # YOUR CODE HERE


def baseline_advantages(returns: torch.Tensor, mask: torch.Tensor, baseline: float) -> torch.Tensor:
    """Advantages with a baseline: A_t = G_t - b on the actions, 0 elsewhere.

    returns, mask (B, T-1); baseline: a float, the running mean of returns of *earlier* batches.
    Returns (B, T-1). The baseline must not depend on this batch's actions (chapter 3 shows why
    that keeps the gradient unbiased), so use the number you are given, not a statistic of
    `returns`.

    Example: returns [[0, 1, 1]], mask [[0, 1, 1]], baseline 0.25 -> [[0, 0.75, 0.75]]
    Do not modify the inputs (no masked_fill_ or index assignment on `returns`).
    Difficulty: ★☆☆
    Hint: multiplying by the mask is the out-of-place way to put 0 on prompt and padding.
    """
    raise NotImplementedError  # YOUR CODE HERE


def reinforce_loss(logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The REINFORCE surrogate loss (Williams 1992), to minimise with gradient descent.

    logprobs (B, T-1) log pi(a_t | s_t) of the actions taken, with gradient;
    advantages (B, T-1) A_t; mask (B, T-1).

        L = - (1 / sum(mask)) * sum_{b,t} mask[b,t] * logprobs[b,t] * A[b,t]

    i.e. minus the mean over all actions in the batch. The advantages are constants: no gradient
    may flow into them (detach them; but advantages.detach() shares memory with the caller's
    tensor, so do not write into it: multiply by the mask instead). Returns a scalar tensor;
    0 (not NaN), with a zero gradient, if the mask is empty: divide by mask.sum().clamp(min=1).
    Its gradient is the score-function estimate -mean(A_t * grad log pi(a_t|s_t)).
    Difficulty: ★☆☆
    Hint: the denominator is the number of actions (mask.sum()), not the number of positions; check
    the sign by asking which way a positive advantage should push logprobs.
    """
    raise NotImplementedError  # YOUR CODE HERE
