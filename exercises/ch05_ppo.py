"""Chapter 5 exercises: PPO and RLHF -- GAE, the clipped losses, the KL leash, Bradley-Terry.

Read chapters/05-ppo-and-rlhf.md first. Fill in each function below where it says
`raise NotImplementedError  # YOUR CODE HERE`; keep the names and signatures. Then grade with

    python -m minirl.grade 5

Only `math` and `torch` are needed. The shared conventions (docs/conventions.md):

    mask    (B, T-1)  1.0 on actions (contiguous in each row, EOS included), 0.0 on prompt and padding
    logp    (B, T-1)  logp[:, t] = log pi(action t | s_t), the log-probability of tokens[:, t+1]
    values  (B, T-1)  values[:, t] = V(s_t), the critic's estimate before action t
    rewards (B, T-1)  the reward of each action

After the last action of a row the episode is over: the value of "the next state" is 0 there.
A "masked mean" of x is (x * mask).sum() / mask.sum().clamp(min=1): a mean over the actions that
ignores prompt and padding, and is 0 (not NaN) for an all-zero mask. The references are in minirl/ppo.py
(gae, ppo_policy_loss, ppo_value_loss, ppo_token_rewards), minirl/core.py (kl_estimate: your
kl_penalty) and minirl/reward_model.py (bradley_terry_loss).
"""
import math  # noqa: F401  (you may find it useful)

import torch


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalized advantage estimation (Schulman et al. 2016, eq. 16).

    rewards, values, mask: (B, T-1); gamma, lam in [0, 1].

        delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)        V(s_{t+1}) = 0 after the last action
        A_t     = delta_t + gamma * lam * A_{t+1}          (so A_t = sum_k (gamma lam)^k delta_{t+k})

    Returns (advantages, returns) with returns = advantages + values, both (B, T-1) float
    tensors (also for integer rewards, e.g. a long tensor of 0/1: never build them with
    zeros_like(rewards)), and both 0 where mask is 0. Values and rewards on prompt or padding
    positions must not matter. Do not modify the inputs.
    Hint: a backwards loop over t is fine here; only the action positions count.
    Difficulty: ★★☆
    """
    raise NotImplementedError  # YOUR CODE HERE


def ppo_policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                    mask: torch.Tensor, clip_eps: float):
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), as a loss to minimise.

    logprobs (B, T-1): log pi_theta of the actions, with gradients; old_logprobs (B, T-1): the same
    under the policy that sampled them (a constant: no gradient may flow into it); advantages (B, T-1).
    Do not modify the inputs (x.detach() shares memory with x: never write into it).

        rho_t = exp(logprobs - old_logprobs)     (the difference of log-probs, never exp(logp) / exp(old):
                                                 for log-probs like -200 both underflow to 0 and 0/0 is NaN)
        loss  = masked mean of max(-A_t rho_t, -A_t clip(rho_t, 1 - eps, 1 + eps))

    Returns (loss, stats): loss a scalar tensor (0 for an all-zero mask); stats a dict with at least
        "clip_frac": the clip fraction, the share of actions whose clipped term is the smaller
                     objective, clip(rho) A < rho A, i.e. where clipping cuts the gradient (a
                     ratio outside [1 - eps, 1 + eps] on the pessimistic side does not count),
        "approx_kl": masked mean of (rho - 1) - log rho,
    each a masked mean over the actions only (0 for an all-zero mask), as a float or a detached 0-d
    tensor (compute them under torch.no_grad(): a logged tensor must not hold the autograd graph).
    Difficulty: ★★★
    Hint: compute the two per-token objectives rho * A and clip(rho) * A as tensors, keep the
    smaller one (torch.min) and negate it; the clip fraction is a comparison of the same two
    tensors.
    """
    raise NotImplementedError  # YOUR CODE HERE


def ppo_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
                   mask: torch.Tensor, clip_eps: float):
    """Clipped value loss (as in CleanRL and TRL).

    values (B, T-1) with gradients; old_values (the critic at rollout time) and returns: constants
    (detach them: a caller may build returns = advantages + values with the gradient attached).

        V_clip = old_values + clip(values - old_values, -eps, eps)
        loss   = 0.5 * masked mean of max((values - returns)^2, (V_clip - returns)^2)

    The errors are squared whatever their size (not Huber / smooth_l1, which agrees only while
    |V - R| <= 1). With clip_eps <= 0 there is no clipping: 0.5 * masked mean of (values - returns)^2.
    An all-zero mask gives 0. Returns (loss, stats); stats may be an empty dict.
    Difficulty: ★★☆
    Hint: clip the step values - old_values, not the values themselves; the max of the two squared
    errors is taken token by token, before the masked mean.
    """
    raise NotImplementedError  # YOUR CODE HERE


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from actions sampled by pi (Schulman 2020).

    logprobs, ref_logprobs: any shape; returns the same shape. With d = logprobs - ref_logprobs:

        k1 = d                      unbiased, can be negative
        k2 = 0.5 * d^2              biased, low variance
        k3 = exp(-d) + d - 1        unbiased and never negative (= (ref/pi) - log(ref/pi) - 1)

    The default kind is "k1". Compute every estimator from d, never from probabilities: for
    log-probs like -200, exp(logprobs) underflows to 0 in float32. Raise ValueError for any other kind.
    Difficulty: ★☆☆
    Hint: compute d once; each estimator is then a one-line expression in d, and the last branch of
    the if/elif chain raises.
    """
    raise NotImplementedError  # YOUR CODE HERE


def ppo_token_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                      mask: torch.Tensor, kl_coef: float, kind: str = "k1") -> torch.Tensor:
    """The per-token reward of RLHF's PPO stage (Ziegler et al. 2019).

    scores (B,): the reward model's (or verifier's) score of each whole response, possibly an
    integer (long) tensor; logprobs, ref_logprobs, mask: (B, T-1); kind: the estimator passed on to
    kl_penalty (default "k1").

        r_t = -kl_coef * kl_penalty(logprobs, ref_logprobs, kind)_t * mask_t
              + scores[b]   if t is the LAST action of row b (its EOS; rows end in padding at different t)

    Returns (B, T-1) floats, 0 on prompt and padding. A row without any action gets no score.
    Difficulty: ★★☆
    Hint: with contiguous actions, the last action of a row is the column where the mask is 1 and
    the next column's mask is 0 (count the column after the end as 0).
    """
    raise NotImplementedError  # YOUR CODE HERE


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Reward-model loss from pairwise preferences (Bradley & Terry 1952; Ouyang et al. 2022, eq. 1).

    chosen, rejected (B,): the reward model's scores of the preferred and the other response.

        loss = - mean log sigmoid(chosen - rejected)

    Returns a scalar tensor. Make it numerically stable: a margin of +-100 must not give inf or nan.
    Difficulty: ★☆☆
    Hint: F.logsigmoid(x) computes log(sigmoid(x)) without ever forming sigmoid(x).
    """
    raise NotImplementedError  # YOUR CODE HERE
