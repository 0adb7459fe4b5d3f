"""Checks for exercises/ch10_what_rl_adds.py (chapter 10): the entropy of the policy, pass@k
averaged over problems for every k, and the number of distinct right answers."""
import math
import random
import traceback
from fractions import Fraction

import torch

import minirl.core
import minirl.passk

EXERCISE_FILE = "ch10_what_rl_adds.py"

REFERENCE = {"entropy_from_logits": minirl.core.entropy_from_logits,
             "mean_pass_at_k": minirl.passk.mean_pass_at_k,
             "distinct_correct": minirl.passk.distinct_correct}


# --- entropy_from_logits --------------------------------------------------------------------
def _tensor_of_shape(got, shape: tuple, what: str) -> torch.Tensor:
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(shape), \
        f"{what}: expected a tensor of shape {tuple(shape)} (one entropy per position), got " \
        f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}"
    assert got.is_floating_point(), f"{what}: expected a floating-point tensor, got {got.dtype}"
    return got


def _assert_close(got, want: torch.Tensor, what: str, tol: float = 1e-5):
    got = _tensor_of_shape(got, want.shape, what)
    g = got.detach().double()

    def show(x):
        return [[round(v, 5) for v in row] for row in x.tolist()]
    assert torch.isfinite(g).all(), \
        f"{what}: expected {show(want)}, got {show(g)} (not finite: use torch.log_softmax, " \
        "not log(softmax(...)) or exp(logits) / sum)"
    err = (g - want.double()).abs().max().item()
    assert err <= tol, f"{what}: expected {show(want)}, got {show(g)} (largest error {err:.2g})"


def _entropy64(logits: torch.Tensor) -> torch.Tensor:
    """-sum pi log pi over the last dimension, in float64."""
    logp = torch.log_softmax(logits.detach().double(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def check_entropy_hand_values(fn):
    """Uniform over V gives log V (V = 2, 4, 1000); logits [0, ln 3] (pi = [1/4, 3/4]) give
    ln 4 - (3/4) ln 3 = 0.5623; logits [ln 2, 0, 0] (pi = [1/2, 1/4, 1/4]) give 1.5 ln 2; an almost
    one-hot distribution ([0, 0, 50]) gives about 0."""
    for V in (2, 4, 1000):
        _assert_close(fn(torch.zeros(1, 1, V)), torch.tensor([[math.log(V)]]),
                      f"entropy_from_logits(zeros(1, 1, {V})) (uniform over {V} tokens: log {V})", tol=1e-4)
    _assert_close(fn(torch.tensor([[[0.0, math.log(3.0)]]])), torch.tensor([[math.log(4) - 0.75 * math.log(3)]]),
                  "entropy_from_logits([[[0, ln 3]]]) (pi = [1/4, 3/4])")
    _assert_close(fn(torch.tensor([[[math.log(2.0), 0.0, 0.0]]])), torch.tensor([[1.5 * math.log(2)]]),
                  "entropy_from_logits([[[ln 2, 0, 0]]]) (pi = [1/2, 1/4, 1/4], in nats)")
    _assert_close(fn(torch.tensor([[[0.0, 0.0, 50.0]]])), torch.tensor([[0.0]]),
                  "entropy_from_logits([[[0, 0, 50]]]) (almost one-hot: about 0)")


def check_entropy_one_value_per_position(fn):
    """Random (3, 5, 7) logits give a (3, 5) tensor: out[b, t] = -sum_a pi log pi of logits[b, t],
    the sum over the vocabulary only (not over T, not a mean over V); the logits are not modified."""
    logits = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(0)) * 2
    before = logits.clone()
    _assert_close(fn(logits), _entropy64(logits), "entropy_from_logits of random (3, 5, 7) logits")
    assert torch.equal(logits, before), "entropy_from_logits modified its input logits in place"
    one = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(1))
    _assert_close(fn(one), _entropy64(one), "entropy_from_logits of random (1, 4, 3) logits")


def check_entropy_stable_at_huge_logits(fn):
    """Logits [1000, 999, -1000] and [0, 200] give finite entropies, right to 1e-3: the third
    token's probability underflows to 0 and log(softmax) gives 0 * log 0 = nan; exp(1000) overflows.
    (The tolerance leaves room for float32 rounding at 1000, e.g. logsumexp(z) - E_pi[z].)"""
    logits = torch.tensor([[[1000.0, 999.0, -1000.0], [0.0, 200.0, 0.0]]])
    p = 1 / (1 + math.e)                                                   # pi of the 999 logit
    want = torch.tensor([[-(1 - p) * math.log(1 - p) - p * math.log(p), 0.0]])
    _assert_close(fn(logits), want, "entropy_from_logits([[[1000, 999, -1000], [0, 200, 0]]])", tol=1e-3)
    big = torch.tensor([[[3000.0, 3000.0, 3000.0, 3000.0]]])
    _assert_close(fn(big), torch.tensor([[math.log(4)]]), "entropy_from_logits([[[3000, 3000, 3000, 3000]]]) "
                  "(uniform: log 4)", tol=1e-3)


def check_entropy_shift_invariant(fn):
    """Adding a constant to all the logits of a position (a different constant at each position,
    up to +-100) does not change the distribution, so it does not change the entropy."""
    logits = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(2))
    shift = torch.tensor([[0.0, 7.0, -50.0, 100.0], [-3.0, 25.0, -100.0, 0.5]])[..., None]
    base = _tensor_of_shape(fn(logits), (2, 4), "entropy_from_logits of random (2, 4, 6) logits")
    _assert_close(fn(logits + shift), base.detach().double(),
                  "entropy_from_logits(logits + c) against entropy_from_logits(logits) (c constant per position)",
                  tol=1e-4)
    _assert_close(base, _entropy64(logits), "entropy_from_logits of random (2, 4, 6) logits")


def check_entropy_between_zero_and_log_v(fn):
    """0 <= H <= log V for sharp and flat distributions alike (logits scaled by 0.01 to 100):
    an entropy is never negative (the sign) and never above the uniform's log V."""
    g = torch.Generator().manual_seed(3)
    V = 11
    for scale in (0.01, 1.0, 10.0, 100.0):
        logits = scale * torch.randn(4, 6, V, generator=g)
        out = _tensor_of_shape(fn(logits), (4, 6), f"entropy_from_logits of (4, 6, {V}) logits x {scale}").detach()
        assert torch.isfinite(out).all(), f"entropy_from_logits of logits x {scale}: got non-finite values"
        lo, hi = out.min().item(), out.max().item()
        assert lo >= -1e-6, f"entropy_from_logits of random logits x {scale}: got {lo:.4g} < 0; H = -sum pi log pi " \
                            "is never negative (the minus sign?)"
        assert hi <= math.log(V) + 1e-5, f"entropy_from_logits of random logits x {scale}: got {hi:.4g} > " \
                                         f"log V = {math.log(V):.4g}"
        _assert_close(out, _entropy64(logits), f"entropy_from_logits of random (4, 6, {V}) logits x {scale}", tol=1e-4)


def check_entropy_differentiable(fn):
    """The entropy keeps its gradient (it is a loss term: the entropy bonus): d(sum_t w_t H_t)/dz
    = -w pi (log pi + H) at every position."""
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 3, 5, generator=g).requires_grad_(True)
    w = torch.rand(2, 3, generator=g) + 0.5
    out = _tensor_of_shape(fn(logits), (2, 3), "entropy_from_logits of (2, 3, 5) logits")
    assert out.requires_grad, "entropy_from_logits returned a tensor without a gradient (.detach(), .item() " \
                              "or a new tensor built from numbers?): the entropy bonus needs d H / d logits"
    (out * w).sum().backward()
    assert logits.grad is not None, "no gradient reached the logits"
    logp = torch.log_softmax(logits.detach().double(), -1)
    h = -(logp.exp() * logp).sum(-1, keepdim=True)
    want = -w.double()[..., None] * logp.exp() * (logp + h)
    err = (logits.grad.double() - want).abs().max().item()
    assert err <= 1e-5, f"d(sum w * H)/d logits: largest error {err:.2g} against -w pi (log pi + H)"


def check_entropy_low_precision_logits(fn):
    """bfloat16 logits (mixed-precision training) give a float32 entropy, computed in float32:
    upcast before log_softmax."""
    logits = (3 * torch.randn(2, 4, 9, generator=torch.Generator().manual_seed(5))).bfloat16()
    out = fn(logits)
    assert isinstance(out, torch.Tensor) and out.dtype in (torch.float32, torch.float64), \
        f"entropy_from_logits of bfloat16 logits: expected a float32 entropy, got " \
        f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__} (use logits.float() first)"
    _assert_close(out, _entropy64(logits.float()), "entropy_from_logits of bfloat16 logits (computed in float32)",
                  tol=1e-4)


def entropy_wrong_sign(logits):  # sum pi log pi: the minus sign forgotten
    logp = torch.log_softmax(logits.float(), dim=-1)
    return (logp.exp() * logp).sum(-1)


def entropy_summed_over_t(logits):  # one number per sequence instead of one per position
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1).sum(-1)


def entropy_log_of_softmax(logits):  # log(softmax): 0 * log 0 = nan once a probability underflows
    p = torch.softmax(logits.float(), dim=-1)
    return -(p * torch.log(p)).sum(-1)


def entropy_naive_exp(logits):  # exp(logits) / sum: exp(1000) = inf
    e = torch.exp(logits.float())
    p = e / e.sum(-1, keepdim=True)
    return -(p * torch.log(p)).sum(-1)


def entropy_mean_over_vocab(logits):  # .mean(-1) where the definition sums
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).mean(-1)


def entropy_in_bits(logits):  # log base 2
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1) / math.log(2)


def entropy_detached(logits):  # no gradient for the entropy bonus
    logp = torch.log_softmax(logits.detach().float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def entropy_keeps_input_dtype(logits):  # bfloat16 in, bfloat16 out
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


# --- mean_pass_at_k -------------------------------------------------------------------------
def _exact_mean(counts, n, k) -> float:
    """The mean over problems of 1 - C(n-c, k)/C(n, k), in exact fractions."""
    return float(sum(1 - Fraction(math.comb(n - c, k), math.comb(n, k)) for c in counts) / len(counts))


def _call(fn, counts, n, ks):
    """fn(counts, n, ks), with an exception inside fn turned into a rejection that names it."""
    try:
        return fn(counts, n, ks)
    except NotImplementedError:
        raise
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = f" in {tb[-1].name}, line {tb[-1].lineno}" if tb else ""
        hint = " (float factorials and math.gamma overflow past 170!: use math.comb on ints, or the product " \
               "form of pass_at_k)" if isinstance(e, OverflowError) else ""
        shown = counts if len(counts) <= 10 else f"<{len(counts)} problems>"
        raise AssertionError(f"mean_pass_at_k({shown}, n={n}, ks={ks!r}) raised {type(e).__name__}: {e}"
                             f"{where}{hint}") from None


def _passk_dict(got, ks, what: str) -> dict:
    """got must be {k: Python float} with exactly the keys ks."""
    ks = list(ks)
    assert isinstance(got, dict), f"{what}: expected a dict {{k: pass@k}}, got {type(got).__name__} {got!r}"
    assert set(got) == set(ks), f"{what}: expected the keys {ks} (the ks asked for, as ints), got {list(got)}"
    for k, v in got.items():
        assert isinstance(v, float), f"{what}: the value for k={k} should be a Python float, got " \
                                     f"{type(v).__name__} {v!r} (float(...), not a tensor or a Fraction)"
        assert math.isfinite(v), f"{what}: the value for k={k} is {v!r}"
    return got


def _passk_eq(got, want: dict, what: str, tol: float = 1e-9):
    got = _passk_dict(got, want, what)
    for k, w in want.items():
        assert abs(got[k] - w) <= tol, f"{what}: pass@{k} expected {w:.10g}, got {got[k]!r}"


def check_mean_passk_hand_values(fn):
    """The docstring's example, {1: 0.5, 2: 11/18}, and a few more worked out with exact
    binomials: pass@k is 1 - C(n-c, k)/C(n, k) per problem, then averaged over the problems."""
    counts = [0, 2, 4]
    _passk_eq(_call(fn, counts, 4, (1, 2)), {1: 0.5, 2: 11 / 18}, "mean_pass_at_k([0, 2, 4], n=4, ks=(1, 2))")
    assert counts == [0, 2, 4], "mean_pass_at_k modified the caller's counts"
    for counts, n, ks in [([1, 3], 5, (1, 2, 5)), ([0, 0, 1], 3, (1, 2, 3)), ([2], 10, (1, 3, 9)),
                          ([5, 1, 0, 7], 8, (2, 4))]:
        want = {k: _exact_mean(counts, n, k) for k in ks}
        _passk_eq(_call(fn, list(counts), n, ks), want, f"mean_pass_at_k({counts}, n={n}, ks={ks})")


def check_mean_passk_at_1_is_mean_accuracy(fn):
    """pass@1 = mean(c) / n: the accuracy of one sample, averaged over the problems."""
    rng = random.Random(0)
    for n in (1, 16, 100):
        counts = [rng.randint(0, n) for _ in range(23)]
        _passk_eq(_call(fn, counts, n, [1]), {1: sum(counts) / len(counts) / n},
                  f"mean_pass_at_k(counts of 23 problems, n={n}, ks=[1]) (pass@1 = mean(c) / n)", tol=1e-12)


def check_mean_passk_monotone_in_k(fn):
    """pass@k never decreases with k (more tries can only help), stays in [0, 1], and ends
    above pass@1 when some problem is solved sometimes but not always (0 < c < n)."""
    n = 32
    counts = [0, 1, 3, 16, 31, 32, 0, 5]
    ks = list(range(1, n + 1))
    got = _passk_dict(_call(fn, counts, n, ks), ks, f"mean_pass_at_k({counts}, n={n}, ks=1..{n})")
    vals = [got[k] for k in ks]
    assert all(0.0 <= v <= 1.0 for v in vals), f"mean_pass_at_k: values outside [0, 1]: {vals}"
    for k in range(1, n):
        assert vals[k] >= vals[k - 1] - 1e-12, \
            f"mean_pass_at_k({counts}, n={n}): pass@{k + 1} = {vals[k]:.6g} < pass@{k} = {vals[k - 1]:.6g}; " \
            "pass@k cannot fall as k grows"
    assert vals[-1] > vals[0] + 0.1, \
        f"mean_pass_at_k({counts}, n={n}): pass@{n} = {vals[-1]:.6g} is not above pass@1 = {vals[0]:.6g}, but " \
        f"problems with 0 < c < n are solved for sure in n tries (expected pass@{n} = 0.75, pass@1 = {88 / 256:.6g})"


def check_mean_passk_at_n_is_share_solved(fn):
    """pass@n = the share of problems that at least one of the n samples solves (c > 0)."""
    for counts, n in [([0, 0, 1, 3, 8, 0, 2], 8), ([0, 1], 2), ([4, 4, 4], 4), ([0, 0, 0, 0, 0], 6),
                      ([1] + [0] * 9, 256)]:
        want = sum(c > 0 for c in counts) / len(counts)
        _passk_eq(_call(fn, counts, n, (n,)), {n: want},
                  f"mean_pass_at_k({counts}, n={n}, ks=({n},)) (pass@n = share of problems with c > 0)")


def check_mean_passk_keys_are_ks(fn):
    """The keys are exactly the ks asked for, as ints, whatever their order or container (a list,
    a tuple, a range, a single k), each with its own value."""
    counts, n = [0, 2, 5, 8, 1], 8
    for ks in ([1, 4, 8], [8, 1, 2], (3,), range(1, 5), (2, 6)):
        want = {k: _exact_mean(counts, n, k) for k in ks}
        _passk_eq(_call(fn, counts, n, ks), want, f"mean_pass_at_k({counts}, n={n}, ks={ks!r})")


def check_mean_passk_large_n_no_overflow(fn):
    """n = 256 samples, k up to 256: no overflow (C(256, 128) is about 6e75; math.comb on ints or
    the product form are fine, floating-point factorials are not), and the exact values."""
    n = 256
    counts = list(range(0, n + 1, 8)) + [1, 2, 255]
    ks = [2 ** i for i in range(9)]
    got = _call(fn, counts, n, ks)
    _passk_eq(got, {k: _exact_mean(counts, n, k) for k in ks}, "mean_pass_at_k(33 problems, n=256, ks=1..256)")


def _one_passk(n, c, k):
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def passk_c_over_n_for_every_k(counts, n, ks):  # pass@1 reported for every k
    return {k: sum(c / n for c in counts) / len(counts) for k in ks}


def passk_not_subtracted_from_one(counts, n, ks):  # C(n-c, k)/C(n, k): the chance of NO right sample
    return {k: sum(math.comb(n - c, k) / math.comb(n, k) for c in counts) / len(counts) for k in ks}


def passk_averaged_over_k(counts, n, ks):  # divides by the number of ks instead of the number of problems
    return {k: sum(_one_passk(n, c, k) for c in counts) / len(ks) for k in ks}


def passk_with_replacement(counts, n, ks):  # the biased 1 - (1 - c/n)^k
    return {k: sum(1.0 - (1.0 - c / n) ** k for c in counts) / len(counts) for k in ks}


def passk_of_the_mean_count(counts, n, ks):  # pass@k of the average c, not the average of pass@k
    c = round(sum(counts) / len(counts))
    return {k: _one_passk(n, c, k) for k in ks}


def passk_float_gamma(counts, n, ks):  # binomials from math.gamma: OverflowError past n = 170
    def comb(a, b):
        return 0.0 if b > a else math.gamma(a + 1) / (math.gamma(b + 1) * math.gamma(a - b + 1))
    return {k: sum(1.0 - comb(n - c, k) / comb(n, k) for c in counts) / len(counts) for k in ks}


def passk_string_keys(counts, n, ks):  # {"pass@1": ...}: the log's names, not the ks
    return {f"pass@{k}": sum(_one_passk(n, c, k) for c in counts) / len(counts) for k in ks}


# --- distinct_correct -----------------------------------------------------------------------
def _int_eq(got, want: int, what: str):
    assert isinstance(got, int) and not isinstance(got, bool), \
        f"{what}: expected a Python int, got {type(got).__name__} {got!r}"
    assert got == want, f"{what}: expected {want}, got {got}"


def check_distinct_hand_values(fn):
    """The docstring's example (2), one answer repeated (1), four different right answers (4),
    three right and one wrong (3), every sample wrong (0), a single right sample (1)."""
    texts, ok = ["3*7+9", " 3*7+9", "9+7*3", "30"], [True, True, True, False]
    _int_eq(fn(texts, ok), 2, f"distinct_correct({texts}, {ok})")
    assert texts == ["3*7+9", " 3*7+9", "9+7*3", "30"] and ok == [True, True, True, False], \
        "distinct_correct modified its inputs"
    for texts, ok, want in [(["12", "12", "12"], [True] * 3, 1), (["1+2", "2+1", "(1+2)", "3"], [True] * 4, 4),
                            (["7*3+9", "3*7+9", "30", "9+3*7"], [True, True, False, True], 3),
                            (["5", "6", "7"], [False] * 3, 0), (["42"], [True], 1)]:
        _int_eq(fn(texts, ok), want, f"distinct_correct({texts}, {ok})")


def check_distinct_ignores_wrong_answers(fn):
    """Wrong answers never count: not many different ones, not one repeated often."""
    for texts, ok, want in [(["5", "6", "7", "8", "9"], [False, False, False, False, True], 1),
                            (["13", "13", "13", "13", "31"], [False, False, False, False, True], 1),
                            (["13"] * 6 + ["31"] * 2, [False] * 6 + [True] * 2, 1),
                            (["a", "b", "c", "d"], [False] * 4, 0)]:
        _int_eq(fn(texts, ok), want, f"distinct_correct({texts}, {ok}) (wrong answers do not count)")


def check_distinct_strips_surrounding_whitespace(fn):
    """Surrounding whitespace of every kind (spaces, tabs, newlines) is removed before comparing:
    " 42", "42\\n" and "\\t42 " are one answer."""
    for texts, ok, want in [(["42", " 42", "42\n", "\t42 ", "42\r\n"], [True] * 5, 1),
                            ([" 3*7+9", "3*7+9\n", "9+7*3\t", "30 "], [True, True, True, False], 2),
                            (["  ", "7"], [False, True], 1)]:
        _int_eq(fn(texts, ok), want, f"distinct_correct({texts!r}, {ok}) (str.strip() removes tabs and newlines too)")


def check_distinct_empty_is_zero(fn):
    """No samples give 0 (an int), and so do samples none of which is right."""
    _int_eq(fn([], []), 0, "distinct_correct([], [])")
    _int_eq(fn(["1", "1", "2"], [False, False, False]), 0, "distinct_correct(['1', '1', '2'], [False] * 3)")


def check_distinct_returns_python_int(fn):
    """The count is a Python int (not a float, a bool, a tensor or the set itself), also when
    it is 0 or 1."""
    for texts, ok, want in [(["7"], [True], 1), (["7"], [False], 0), (["1", "2"], [True, True], 2)]:
        got = fn(texts, ok)
        assert isinstance(got, int) and not isinstance(got, bool), \
            f"distinct_correct({texts}, {ok}): expected a Python int, got {type(got).__name__} {got!r} " \
            "(len(...) of a set is one)"
        assert got == want, f"distinct_correct({texts}, {ok}): expected {want}, got {got}"


def check_distinct_random_samples(fn):
    """200 random sets of samples (answers drawn from a small pool, padded with whitespace, with
    random verdicts): the count of different stripped right answers."""
    rng = random.Random(0)
    pool = ["3*7+9", "9+7*3", "7*3+9", "9+3*7", "30", "21+9"]
    for _ in range(200):
        m = rng.randint(0, 12)
        texts = [rng.choice(["", " ", "\t", "\n"]) + rng.choice(pool) + rng.choice(["", " ", "\n", " \t"])
                 for _ in range(m)]
        ok = [rng.random() < 0.5 for _ in range(m)]
        want = len({t.strip() for t, o in zip(texts, ok) if o})
        _int_eq(fn(list(texts), list(ok)), want, f"distinct_correct({texts!r}, {ok})")


def distinct_counts_wrong_answers(texts, correct):  # every different text, right or wrong
    return len({t.strip() for t in texts})


def distinct_no_strip(texts, correct):  # " 42" and "42" counted as two answers
    return len({t for t, ok in zip(texts, correct) if ok})


def distinct_total_correct(texts, correct):  # how many samples are right, not how many different answers
    return sum(1 for ok in correct if ok)


def distinct_strips_spaces_only(texts, correct):  # strip(" "): a tab or a newline stays
    return len({t.strip(" ") for t, ok in zip(texts, correct) if ok})


def distinct_float(texts, correct):  # a float where an int is promised
    return float(len({t.strip() for t, ok in zip(texts, correct) if ok}))


CHECKS = {
    "entropy_from_logits": [check_entropy_hand_values, check_entropy_one_value_per_position,
                            check_entropy_stable_at_huge_logits, check_entropy_shift_invariant,
                            check_entropy_between_zero_and_log_v, check_entropy_differentiable,
                            check_entropy_low_precision_logits],
    "mean_pass_at_k": [check_mean_passk_hand_values, check_mean_passk_at_1_is_mean_accuracy,
                       check_mean_passk_monotone_in_k, check_mean_passk_at_n_is_share_solved,
                       check_mean_passk_keys_are_ks, check_mean_passk_large_n_no_overflow],
    "distinct_correct": [check_distinct_hand_values, check_distinct_ignores_wrong_answers,
                         check_distinct_strips_surrounding_whitespace, check_distinct_empty_is_zero,
                         check_distinct_returns_python_int, check_distinct_random_samples],
}

BUGGY = {
    "entropy_from_logits": [entropy_wrong_sign, entropy_summed_over_t, entropy_log_of_softmax, entropy_naive_exp,
                            entropy_mean_over_vocab, entropy_in_bits, entropy_detached, entropy_keeps_input_dtype],
    "mean_pass_at_k": [passk_c_over_n_for_every_k, passk_not_subtracted_from_one, passk_averaged_over_k,
                       passk_with_replacement, passk_of_the_mean_count, passk_float_gamma, passk_string_keys],
    "distinct_correct": [distinct_counts_wrong_answers, distinct_no_strip, distinct_total_correct,
                         distinct_strips_spaces_only, distinct_float],
}
