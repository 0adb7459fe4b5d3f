"""Chapter 4 exercises: actor-critic -- TD advantages and the A2C loss.

Read chapters/04-actor-critic.md first. Fill in each function below where it says
`raise NotImplementedError  # YOUR CODE HERE`; keep the names and signatures. Then grade with

    python -m minirl.grade 4

Only `math` and `torch` are needed. The shared conventions (docs/conventions.md):

    mask    (B, T-1)  1.0 on actions (contiguous in each row), 0.0 on prompt and padding
    rewards (B, T-1)  the reward of each action
    values  (B, T-1)  values[:, t] = V(s_t), the critic's estimate of the return from the state
                      *before* action t (for an LLM: the critic's output at position t)

After the last action of a row the episode is over: the value of "the next state" is 0 there.
The references are minirl.a2c.td_advantages (with n_steps=1), minirl.a2c.a2c_loss and
minirl.core.explained_variance.
"""
import math  # noqa: F401  (you may find it useful)

import torch


def td_advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float):
    """One-step temporal-difference targets and advantages.

    rewards, values, mask (B, T-1); gamma in [0, 1]. The rewards may be an integer (long) tensor,
    such as the verifier's 0/1. Returns (advantages, returns), both (B, T-1) float tensors:

        returns[:, t]    = r_t + gamma * V(s_{t+1})      with V(s_{t+1}) = 0 if action t is the last one
        advantages[:, t] = returns[:, t] - V(s_t)        (the TD error delta_t)

    and both 0 where mask is 0. They are *targets*: compute them from values.detach(), so that
    neither carries a gradient. Do not modify the inputs: values.detach() shares its memory with
    `values`, so `v = values.detach(); v[mask == 0] = 0` writes into the caller's tensor (clone first,
    or multiply by the mask instead).

    Example: rewards [[0, 0, 1]], values [[0.5, 0.6, 0.8]], all actions, gamma 0.9
             -> returns [[0.54, 0.72, 1.0]], advantages [[0.04, 0.12, 0.2]]
    Difficulty: ★★☆
    Hint: V(s_{t+1}) is `values` shifted one column to the left; multiplying it by the mask of the
    next column makes it 0 after each row's last action.
    """
    raise NotImplementedError  # YOUR CODE HERE


def a2c_loss(logprobs: torch.Tensor, values: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
             mask: torch.Tensor, entropy: torch.Tensor | None = None, value_coef: float = 1.0,
             entropy_coef: float = 0.0):
    """The advantage actor-critic loss, to minimise. Every tensor is (B, T-1); means are over the
    actions (divide by sum(mask)):

        policy_loss = - mean(logprobs * advantages)          advantages: constants (detach)
        value_loss  = 0.5 * mean((values - returns)^2)       returns: a fixed target (detach!);
                                                             squared for any size of error, not Huber
        entropy     = mean(entropy)                          (0 if entropy is None)
        loss        = policy_loss + value_coef * value_loss - entropy_coef * entropy

    Gradients: the policy term reaches logprobs only; the value term reaches values only, as
    value_coef * (values - returns) / sum(mask) -- even if the caller built `returns` from
    `values` with the gradient still attached.

    The defaults (entropy=None, value_coef=1.0, entropy_coef=0.0) give policy_loss + value_loss.
    An all-zero mask gives loss 0 and stats 0, not NaN (divide by mask.sum().clamp(min=1)).

    Returns (loss, stats): loss a scalar tensor; stats a dict of Python floats (.item(), not
    tensors) with at least "policy_loss", "value_loss" and "entropy" (0.0 if entropy is None),
    each the same mean over the actions as in the loss.
    Difficulty: ★★☆
    Hint: write one masked-mean helper, (x * mask).sum() / mask.sum().clamp(min=1), use it for all
    three terms, and detach the advantages and returns inside the function whatever the caller did.
    """
    raise NotImplementedError  # YOUR CODE HERE


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """How much of the variance of the returns the critic explains, over the actions (chapter 4,
    section 4.3; `train_a2c` and `train_ppo` log it as `explained_variance`):

        EV = 1 - Var(returns - values) / Var(returns)

    values, returns, mask: (B, T-1); the returns may be an integer (long) tensor (a verifier's 0/1
    with gamma 1). Both variances are over the masked positions only (prompt and padding ignored),
    each around its own masked mean; population or unbiased variance gives the same ratio, as long as
    you use the same one for both. Compute from values.detach(): this is a number for the log.

    1 is a perfect critic, 0 is no better than predicting the mean return everywhere, below 0 is worse
    than that. A critic that is off by the same constant everywhere still explains everything: the
    variance of (returns - values) ignores a constant offset, unlike the mean squared error.
    When the returns do not vary over the actions (Var = 0: all rewards equal, or no action at all)
    the ratio is undefined: return float("nan"), not 0 or 1 (a log should not invent a number).

    Returns a Python float. Do not modify the inputs.
    Example: values [1, 2], returns [1, 3], both actions -> 1 - Var([0, 1]) / Var([1, 3]) = 1 - 0.25 / 1 = 0.75.
    Difficulty: ★★☆
    Hint: a masked variance is the masked mean of the squared deviations from the masked mean;
    compute the one of the returns first, and stop with NaN if it is 0.
    """
    raise NotImplementedError  # YOUR CODE HERE
