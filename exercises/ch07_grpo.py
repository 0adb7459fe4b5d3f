"""Chapter 7 exercises: Group Relative Policy Optimization.

Fill in each function where it says YOUR CODE HERE, then grade your work with

    python -m minirl.grade 7

Only torch and math are needed. Shapes: B = number of sampled responses (prompts x G),
G = group size, T = sequence length. logprobs[:, t] is the log-probability of token t+1, and
mask[:, t] = 1.0 exactly where tokens[:, t+1] is an action (a sampled response token, EOS included).
"""
import math  # noqa: F401  (you may need it)

import torch


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group") -> torch.Tensor:
    """Group-relative advantages (Shao et al. 2024, DeepSeekMath, outcome supervision).

    rewards: (B,), where rows [g*G:(g+1)*G] are the G responses to prompt g (consecutive); floats,
             or the verifier's 0/1 as an integer (long) tensor: the advantages are floats either
             way (convert with rewards.float(); never build the output with zeros_like(rewards)).
    scale="group": A_i = (r_i - mean of its group) / (std of its group + 1e-4)
                   with the UNBIASED std (divide by G - 1; torch's default).
    scale="none":  A_i = r_i - mean of its group (Dr. GRPO, Liu et al. 2025).
    A group whose rewards are all equal must get advantages exactly 0 (never NaN).
    Raise ValueError if group_size < 2, if len(rewards) is not a multiple of group_size, or for
    any other `scale` (no silent fallback: a typo such as "std" must not pick a normalisation).
    Returns (B,) floats.
    Difficulty: ★★☆
    Hint: rewards.float().view(-1, group_size) puts one group per row; statistics over dim=1 with
    keepdim=True broadcast back; check the arguments before you reshape.
    """
    raise NotImplementedError  # YOUR CODE HERE


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, clip_eps_high=None,
              kl_coef=0.0, loss_type="grpo", max_response_len=None):
    """The clipped GRPO loss to MINIMISE, and a dict of detached stats.

    logprobs (B, T-1) under the current policy (with gradient); old_logprobs (B, T-1) under the
    policy that sampled the batch; ref_logprobs (B, T-1) under the reference policy, or None when
    kl_coef == 0; advantages (B,) one per response; mask (B, T-1).

    Per token (DeepSeekMath eq. 3; the upper clip may differ, as in DAPO's clip-higher):
        rho  = exp(logprobs - old_logprobs)     (from the difference: exp(logprobs) / exp(old) is
                                                 0 / 0 for log-probs like -200; the same for k3)
        pg   = -min(rho * A, clip(rho, 1 - clip_eps, 1 + clip_eps_high) * A)
        k3   = exp(ref - logprobs) - (ref - logprobs) - 1          (>= 0; a KL estimate)
        loss_t = pg + kl_coef * k3
    (clip_eps_high=None, the default, means clip_eps_high = clip_eps: the same clip on both sides.)
    Aggregate over the action tokens only (the KL term too, like the policy term):
        "grpo":    mean over responses of (sum_t mask * loss_t) / (number of actions of that response)
        "dapo":    (sum of mask * loss_t over the batch) / (number of actions in the batch)
        "dr_grpo": (sum of mask * loss_t over the batch) / (B * max_response_len)
                   (max_response_len=None means the batch width T-1, not the longest response)
    A response without any action contributes 0 (divide by max(1, number of actions)), and an
    all-zero mask gives loss 0 for every loss_type, never NaN.
    Raise ValueError for an unknown loss_type or kl_coef < 0.
    Return (loss, stats) with stats at least
        "clip_frac": the clip fraction, the share of action tokens whose clipped term is the smaller
                     objective, clip(rho) A < rho A, i.e. where clipping cuts the gradient,
        "kl":        mean k3 over the action tokens (0 when ref_logprobs is None),
    both means over the action tokens only (0 for an all-zero mask), as detached tensors.
    Difficulty: ★★★
    Hint: build the (B, T-1) per-token loss first (policy term plus kl_coef times k3) and aggregate
    only at the end: the three loss_types differ only in what the masked sum is divided by.
    """
    raise NotImplementedError  # YOUR CODE HERE
