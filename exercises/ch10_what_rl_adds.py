"""Chapter 10 exercises: measuring what RL adds to a policy.

Read chapter 10 (What RL adds) first. Fill in each function below where it says
`raise NotImplementedError  # YOUR CODE HERE`; keep the names and signatures. Then grade with

    python -m minirl.grade 10

Only `math` and `torch` are needed. The question behind all three functions: when RL raises a
model's accuracy, has it taught the model answers it could not find before, or has it only made
the model pick, more often, answers it could already sample? Greedy accuracy cannot tell the two
apart. These three measurements can:

    mean_pass_at_k      pass@k for k from 1 to n: at k = 1 how often one sample is right, at large k
                        whether the model can solve a problem at all (in n tries)
    entropy_from_logits how spread out the policy's next-token distribution is, position by position
    distinct_correct    how many different right answers the samples of one problem contain

Sharpening shows as a higher pass@1 with an unchanged or lower pass@k at large k, a lower entropy
and fewer distinct right answers. New capability shows as a higher pass@k at large k: problems
that no sample of the old policy solved are solved now.

The references are minirl.core.entropy_from_logits, minirl.passk.mean_pass_at_k and
minirl.passk.distinct_correct; try not to peek until the grader says PASS.
"""
import math  # noqa: F401  (you may find it useful)

import torch  # noqa: F401


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """The entropy of the policy at every position, in nats.

    logits: (B, T, V) the model's scores; logits[b, t] defines pi(.|s_t) = softmax(logits[b, t]).
    Returns (B, T), one entropy per position (not summed or averaged over T: the caller masks out
    the prompt and the padding and takes the mean over the actions it cares about):

        H(pi(.|s_t)) = - sum_a pi(a|s_t) log pi(a|s_t)          (natural log: nats, not bits)

    H is 0 when the policy puts all its mass on one token and log V when it is uniform over the V
    tokens, so 0 <= H <= log V always. A policy that RL has sharpened has a lower entropy: its
    samples differ less from one another, which is why low entropy and a flat pass@k curve often
    come together. The entropy is also a loss term (chapter 4's entropy bonus), so the result must
    keep its gradient with respect to the logits.

    Compute it from torch.log_softmax, upcast to float32 first (bfloat16 logits give a float32
    entropy). log(softmax(x)) is not the same thing: a token whose probability underflows to 0
    gives 0 * log 0 = 0 * (-inf) = nan, and logits like [1000, 999, -1000] do exactly that.
    Adding a constant to all the logits of a position does not change its distribution, so it
    must not change its entropy. Do not modify `logits` in place.

    Examples:
        logits [0, 0, 0, 0]  (uniform over 4)   -> log 4 = 1.3863
        logits [0, ln 3]     (pi = [1/4, 3/4])   -> -(1/4 ln 1/4 + 3/4 ln 3/4) = ln 4 - (3/4) ln 3 = 0.5623
        logits [0, 0, 50]    (almost one-hot)    -> about 0 (2e-20)
    Difficulty: ★☆☆
    Hint: with logp = log_softmax(...), pi is logp.exp(), and the sum runs over the last dimension.
    """
    raise NotImplementedError  # YOUR CODE HERE


def mean_pass_at_k(counts, n: int, ks) -> dict:
    """pass@k averaged over problems, for every k in ks.

    counts: a list of ints, one per problem: counts[i] = c_i, the number of correct samples among
            the n samples drawn (at temperature 1) for problem i, 0 <= c_i <= n.
    n:      the number of samples per problem (the same for every problem).
    ks:     the k to report (a list, tuple or range of ints, each 1 <= k <= n).
    Returns {k: pass@k} with exactly the keys of ks (ints, in the order of ks) and Python floats as
    values, where pass@k is the mean over problems of the unbiased estimator of Chen et al. (2021):

        pass@k = (1 / P) sum_i [ 1 - C(n - c_i, k) / C(n, k) ]          (C = binomial coefficient)

    the chance that k samples drawn without replacement from problem i's n contain a right one
    (1 when n - c_i < k). Average the per-problem estimates, not the counts: counts [0, n] and
    [n/2, n/2] have the same mean c, but the first gives pass@k = 1/2 for every k (one problem is
    never solved, however many tries), while the second climbs to 1 as k grows.

    Why the whole curve: pass@1 = mean(c_i) / n is the accuracy of one sample, what RL optimises.
    pass@n is the share of problems that at least one of n samples solves: what the model can do
    at all, given n tries. If RL only sharpens the distribution, pass@1 goes up while pass@n stays
    where it was (or drops, when answers that were rarely sampled are no longer sampled at all); a
    policy that learned something new solves problems at large k that it never solved before.

    n = 256 is a typical value, and C(256, 128) is about 6e75: exact integer binomials
    (math.comb) are fine, and so is the product form of chapter 8's pass_at_k, but factorials or
    math.gamma in floating point overflow past 170!. You may write a helper pass_at_k(n, c, k) in
    this file (your chapter 8 one) and call it.

    Example: counts [0, 2, 4] with n = 4:
        pass@1 = (0 + 2/4 + 1) / 3 = 0.5
        pass@2 = (0 + (1 - C(2, 2)/C(4, 2)) + 1) / 3 = (0 + 5/6 + 1) / 3 = 11/18
        mean_pass_at_k([0, 2, 4], 4, (1, 2)) -> {1: 0.5, 2: 0.611111111111111}
    Do not modify `counts`.
    Difficulty: ★☆☆
    Hint: one estimate per (problem, k), then a mean over the problems for each k.
    """
    raise NotImplementedError  # YOUR CODE HERE


def distinct_correct(texts, correct) -> int:
    """How many different right answers one problem's samples contain.

    texts:   a list of the n sampled responses (str) for one problem.
    correct: a list of n bools, correct[j] = whether texts[j] is right (the verifier's verdict).
    Returns a Python int: the number of distinct texts among the correct ones, after removing
    surrounding whitespace (str.strip(): spaces, tabs, newlines), so " 42" and "42\\n" are one
    answer. Wrong answers never count, however many different ones there are or however often
    they repeat. No samples (empty lists) give 0.

    Why: pass@k says whether a problem gets solved, not how. On a task with many right answers
    (countdown: "3*7+9", "9+7*3" and "7*3+9" all make 30 from 3, 7 and 9) a policy that keeps
    several of them is still exploring; one that RL has sharpened tends to repeat the one answer
    it was rewarded for most, so its count drops towards 1 even when its accuracy rises. (On add2
    there is only one right answer, so the count is 0 or 1 there.)

    Example:
        distinct_correct(["3*7+9", " 3*7+9", "9+7*3", "30"], [True, True, True, False]) -> 2
        ("3*7+9" twice once stripped, "9+7*3" once; "30" is wrong)
    Do not modify the lists.
    Difficulty: ★☆☆
    Hint: a set.
    """
    raise NotImplementedError  # YOUR CODE HERE
