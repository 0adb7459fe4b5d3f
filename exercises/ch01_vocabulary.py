"""Chapter 1 exercises: the RL vocabulary as code.

Read chapters/01-vocabulary.md first. Fill in each function below where it says
`raise NotImplementedError  # YOUR CODE HERE`; keep the names and signatures. Then grade with

    python -m minirl.grade 1

Only `math` and `torch` are needed. The reference solutions live in minirl/env.py; try not to
peek until the grader says PASS (or until you are truly stuck).
"""
import math  # noqa: F401  (you may find it useful)

import torch


def discounted_return(rewards, gamma: float) -> float:
    """The discounted return of one whole trajectory, seen from its first step.

    rewards: the rewards r_0, r_1, ..., r_{n-1} of one episode, as a list of numbers or a 1-D
             tensor of shape (n,). Integer rewards (a list of ints, a long tensor) count as the
             numbers they are: compute in floating point. An empty episode has return 0.0.
    gamma:   the discount factor, 0 <= gamma <= 1.

        G_0 = r_0 + gamma r_1 + gamma^2 r_2 + ... = sum_{k=0}^{n-1} gamma^k r_k

    Returns a Python float (float(...), not a 0-d tensor), whatever the type of `rewards`.
    Do not modify `rewards`.
    Example: rewards [1, 2, 3], gamma 0.5 -> 1 + 0.5*2 + 0.25*3 = 2.75.
    Difficulty: ★☆☆
    Hint: a loop over the rewards with a running factor gamma**k is enough; the traps are the type
    of the result and the empty episode, not the sum.
    """
    raise NotImplementedError  # YOUR CODE HERE


def returns_to_go(rewards, gamma: float) -> torch.Tensor:
    """The discounted return from every step of one trajectory onwards.

    rewards: a list of numbers or a 1-D tensor, shape (n,); integers included (a verifier's 0/1).

        G_t = sum_{k=0}^{n-1-t} gamma^k r_{t+k}

    Hint: the recursion G_t = r_t + gamma G_{t+1}, with G_n = 0, gives all of them in one
    backwards pass; G_0 is `discounted_return(rewards, gamma)`.

    Returns a 1-D float tensor of shape (n,), also for integer rewards (never truncate a return
    to an integer); an empty episode gives an empty float tensor of shape (0,). Do not modify `rewards`.
    Example: rewards [1, 2, 3], gamma 0.5 -> tensor([2.75, 3.5, 3.0]).
    Difficulty: ★☆☆
    """
    raise NotImplementedError  # YOUR CODE HERE


def softmax_policy(logits: torch.Tensor, generator: torch.Generator | None = None):
    """Act with a softmax policy: sample an action and report its log-probability.

    logits:    (A,) scores of the A actions in one state, or (B, A) for B states at once
               (B may be 1).
    generator: a torch.Generator to draw the random numbers from (pass it on to
               torch.multinomial or torch.rand), or None (the default) for torch's global
               generator, so that torch.manual_seed(...) makes the draw reproducible.

        pi(a | s) = exp(logits[a]) / sum_b exp(logits[b])          (softmax)
        a ~ pi(. | s),   logprob = log pi(a | s)

    Returns (actions, logprobs):
        actions:  integer (long) tensor, shape () for (A,) logits or (B,) for (B, A) logits
                  (shape (1,) for (1, A): squeeze only the sampled dimension);
        logprobs: float tensor of the same shape, log pi(a | s) of the action actually sampled.
    The log-probabilities must stay differentiable with respect to `logits` (the policy gradient
    of chapter 3 back-propagates through them) and finite for large logits such as [1000, 999]
    (torch.log_softmax is stable; exp(1000) is not).
    Difficulty: ★★☆
    Hint: treat (A,) logits as a batch of one (logits.unsqueeze(0)), so that one code path serves
    both shapes, and remove that dimension again at the end; torch.multinomial expects
    probabilities, not logits.
    """
    raise NotImplementedError  # YOUR CODE HERE
