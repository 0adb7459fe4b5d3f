"""Graders for chapter 1 (exercises/ch01_vocabulary.py): returns and a softmax policy.

Each check takes the function under test and raises AssertionError with a message that says
what was expected and what came back. See tests/exercises/harness.py for how they are run.
"""
from __future__ import annotations

import math

import torch

from minirl import env

EXERCISE_FILE = "ch01_vocabulary.py"


def _num(x) -> float:
    """A returned scalar (float, int or one-element tensor) as a float."""
    if isinstance(x, torch.Tensor):
        assert x.numel() == 1, f"expected a single number, got a tensor of shape {tuple(x.shape)}"
        return float(x.detach())
    assert isinstance(x, (int, float)), f"expected a float, got {type(x).__name__}"
    return float(x)


def _vec(x) -> torch.Tensor:
    """A returned sequence of numbers as a float64 tensor (the type itself is checked separately)."""
    assert isinstance(x, (torch.Tensor, list, tuple)), f"expected a 1-D tensor, got {type(x).__name__}"
    if isinstance(x, torch.Tensor):
        return x.detach().double()
    return torch.as_tensor(x, dtype=torch.float64)


def _close(got: float, want: float, what: str, tol: float = 1e-5):
    assert math.isfinite(got) and abs(got - want) <= tol * max(1.0, abs(want)), \
        f"{what}: expected {want:.6g}, got {got:.6g}"


# --------------------------------------------------------------------------- discounted_return

def check_hand_computed(fn):
    """rewards [1, 2, 3], gamma 0.5 -> 1 + 0.5*2 + 0.25*3 = 2.75."""
    _close(_num(fn([1.0, 2.0, 3.0], 0.5)), 2.75, "discounted_return([1, 2, 3], gamma=0.5)")


def check_sparse_final_reward(fn):
    """The corridor's situation: only the last of four steps pays +1, so G_0 = gamma^3."""
    _close(_num(fn([0.0, 0.0, 0.0, 1.0], 0.9)), 0.9 ** 3,
           "discounted_return([0, 0, 0, 1], gamma=0.9) (the reward 3 steps away is worth gamma^3)")


def check_gamma_zero_and_one(fn):
    """gamma = 0 keeps only r_0; gamma = 1 is the plain sum."""
    r = [2.0, -1.0, 4.0, 0.5]
    _close(_num(fn(list(r), 0.0)), 2.0, "with gamma=0 only the first reward counts; discounted_return")
    _close(_num(fn(list(r), 1.0)), 5.5, "with gamma=1 the return is the plain sum; discounted_return")


def check_recursion_random(fn):
    """G_0 = r_0 + gamma * G_0(rewards[1:]) on random episodes; also accepts a tensor."""
    g = torch.Generator().manual_seed(0)
    for n in (1, 3, 7):
        r = torch.randn(n, generator=g, dtype=torch.float64)
        want = sum(0.8 ** k * float(r[k]) for k in range(n))
        before = r.clone()
        _close(_num(fn(r, 0.8)), want, f"discounted_return of a length-{n} tensor, gamma=0.8")
        assert torch.equal(r, before), "discounted_return modified its input rewards in place"


def check_empty_episode(fn):
    """An episode with no rewards has return 0."""
    _close(_num(fn([], 0.9)), 0.0, "discounted_return([], 0.9)")


def check_returns_a_python_float(fn):
    """The docstring promises a Python float: for a list, a tensor and an empty episode alike, not a
    0-d tensor."""
    for rewards, want, what in (([1.0, 2.0, 3.0], 2.75, "[1.0, 2.0, 3.0]"),
                                (torch.tensor([1.0, 2.0, 3.0]), 2.75, "tensor([1., 2., 3.])"), ([], 0.0, "[]")):
        got = fn(rewards, 0.5)
        assert isinstance(got, float), \
            f"discounted_return({what}, 0.5): expected a Python float, got {type(got).__name__} {got!r} " \
            "(return float(...), not a tensor)"
        _close(got, want, f"discounted_return({what}, 0.5)")


def check_integer_rewards(fn):
    """Rewards given as ints (a list of ints, a long tensor) are numbers like any other:
    [1, 2, 3] with gamma 0.5 is still 2.75, not a sum truncated to integers."""
    for rewards, what in (([1, 2, 3], "[1, 2, 3]"), (torch.tensor([1, 2, 3]), "torch.tensor([1, 2, 3]) (long)")):
        _close(_num(fn(rewards, 0.5)), 2.75, f"discounted_return({what}, gamma=0.5)")
    _close(_num(fn([0, 0, 1], 0.9)), 0.81, "discounted_return([0, 0, 1], gamma=0.9) (integer rewards)")


def discounted_return_no_discount(rewards, gamma):
    return float(sum(float(r) for r in rewards))


def discounted_return_gamma_k_plus_1(rewards, gamma):
    return float(sum(gamma ** (k + 1) * float(r) for k, r in enumerate(rewards)))


def discounted_return_reversed(rewards, gamma):  # discounts the *first* reward the most
    rewards = [float(r) for r in rewards]
    return float(sum(gamma ** (len(rewards) - 1 - k) * r for k, r in enumerate(rewards)))


def discounted_return_skips_last(rewards, gamma):  # off-by-one loop bound
    rewards = [float(r) for r in rewards]
    return float(sum(gamma ** k * rewards[k] for k in range(len(rewards) - 1)))


def discounted_return_mean(rewards, gamma):
    rewards = [float(r) for r in rewards]
    return float(sum(gamma ** k * r for k, r in enumerate(rewards)) / max(1, len(rewards)))


def discounted_return_tensor(rewards, gamma):  # right number, but a 0-d tensor, not a Python float
    r = torch.as_tensor(rewards, dtype=torch.float64)
    return (r * gamma ** torch.arange(len(r), dtype=torch.float64)).sum()


def _rtg_in_input_dtype(rewards, gamma):
    """The backward recursion written into zeros_like(the rewards): a long tensor for integer rewards."""
    r = torch.as_tensor(rewards)
    out = torch.zeros_like(r)
    g = 0.0
    for t in reversed(range(len(r))):
        g = float(r[t]) + gamma * g
        out[t] = g                                    # truncated to an integer when r is a long tensor
    return out


def discounted_return_int_dtype(rewards, gamma):  # G_0 from a returns-to-go buffer of the rewards' dtype
    return float(_rtg_in_input_dtype(rewards, gamma)[0]) if len(rewards) else 0.0



# --------------------------------------------------------------------------- returns_to_go

def _close_vec(got, want: list[float], what: str, tol: float = 1e-5):
    got = _vec(got)
    want_t = torch.tensor(want, dtype=torch.float64)
    assert got.shape == want_t.shape, f"{what}: expected shape {tuple(want_t.shape)}, got {tuple(got.shape)}"
    assert torch.allclose(got, want_t, atol=tol, rtol=tol), \
        f"{what}: expected {[round(w, 6) for w in want]}, got {[round(v, 6) for v in got.tolist()]}"


def check_rtg_hand_computed(fn):
    """rewards [1, 2, 3], gamma 0.5 -> [1 + 0.5*2 + 0.25*3, 2 + 0.5*3, 3] = [2.75, 3.5, 3]."""
    _close_vec(fn([1.0, 2.0, 3.0], 0.5), [2.75, 3.5, 3.0], "returns_to_go([1, 2, 3], gamma=0.5)")


def check_rtg_is_a_float_tensor(fn):
    """Returns a 1-D floating-point torch.Tensor with one entry per step."""
    out = fn([0.0, 1.0, 0.0, 1.0], 0.9)
    assert isinstance(out, torch.Tensor), f"expected a torch.Tensor, got {type(out).__name__}"
    assert out.shape == (4,), f"expected shape (4,) for 4 rewards, got {tuple(out.shape)}"
    assert out.is_floating_point(), f"expected a float tensor, got dtype {out.dtype}"


def check_rtg_sparse_final_reward(fn):
    """Only the last step pays: G_t = gamma^(n-1-t), larger the closer t is to the reward."""
    _close_vec(fn([0.0, 0.0, 0.0, 1.0], 0.9), [0.729, 0.81, 0.9, 1.0],
               "returns_to_go([0, 0, 0, 1], gamma=0.9)")


def check_rtg_recursion_random(fn):
    """On random episodes: G_t = r_t + gamma G_{t+1}, G_{n-1} = r_{n-1}, G_0 = the discounted return;
    the input tensor is left unchanged."""
    g = torch.Generator().manual_seed(1)
    for n, gamma in ((1, 0.9), (5, 0.9), (8, 0.5)):
        r = torch.randn(n, generator=g)
        before = r.clone()
        want = [sum(gamma ** k * float(r[t + k]) for k in range(n - t)) for t in range(n)]
        _close_vec(fn(r, gamma), want, f"returns_to_go of a random length-{n} tensor, gamma={gamma}")
        assert torch.equal(r, before), "returns_to_go modified its input rewards in place"


def check_rtg_gamma_zero_and_one(fn):
    """gamma = 0 gives the rewards themselves; gamma = 1 the reversed cumulative sum."""
    r = [2.0, -1.0, 4.0, 0.5]
    _close_vec(fn(list(r), 0.0), r, "with gamma=0, G_t = r_t; returns_to_go")
    _close_vec(fn(list(r), 1.0), [5.5, 3.5, 4.5, 0.5], "with gamma=1, G_t = r_t + ... + r_{n-1}; returns_to_go")


def check_rtg_integer_rewards(fn):
    """Integer rewards (a list of ints, a long tensor such as a verifier's 0/1) give a float tensor
    with the exact returns: [1, 2, 3], gamma 0.5 -> [2.75, 3.5, 3.0], not truncated to [2, 3, 3]."""
    for rewards, what, want in (([1, 2, 3], "[1, 2, 3]", [2.75, 3.5, 3.0]),
                                (torch.tensor([0, 0, 1]), "torch.tensor([0, 0, 1]) (long)", [0.25, 0.5, 1.0])):
        out = fn(rewards, 0.5)
        assert isinstance(out, torch.Tensor) and out.is_floating_point(), \
            f"returns_to_go({what}, 0.5): expected a float tensor, got " \
            f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__} " \
            "(convert the rewards to float before computing)"
        _close_vec(out, want, f"returns_to_go({what}, gamma=0.5)")


def check_rtg_empty_episode(fn):
    """An episode with no rewards has no returns: an empty float tensor of shape (0,)."""
    out = fn([], 0.9)
    assert isinstance(out, torch.Tensor) and out.shape == (0,) and out.is_floating_point(), \
        f"returns_to_go([], 0.9): expected an empty float tensor of shape (0,), got " \
        f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}" \
        f"{' ' + str(out.dtype) if isinstance(out, torch.Tensor) else ''}"


def returns_to_go_forward_cumsum(rewards, gamma):  # accumulates from the start instead of the end
    r = torch.as_tensor(rewards, dtype=torch.float32)
    out, g = torch.zeros_like(r), 0.0
    for t in range(len(r)):
        g = float(r[t]) + gamma * g
        out[t] = g
    return out


def returns_to_go_discount_from_start(rewards, gamma):  # gamma^(t+k) instead of gamma^k
    r = torch.as_tensor(rewards, dtype=torch.float32)
    n = len(r)
    return torch.tensor([sum(gamma ** k * float(r[k]) for k in range(t, n)) for t in range(n)])


def returns_to_go_one_step(rewards, gamma):  # G_t = r_t + gamma r_{t+1}: forgets the recursion
    r = torch.as_tensor(rewards, dtype=torch.float32)
    nxt = torch.cat([r[1:], torch.zeros(1)]) if len(r) else r
    return r + gamma * nxt


def returns_to_go_reversed_output(rewards, gamma):  # built backwards, never flipped back
    r = torch.as_tensor(rewards, dtype=torch.float32)
    out, g = [], 0.0
    for t in range(len(r) - 1, -1, -1):
        g = float(r[t]) + gamma * g
        out.append(g)
    return torch.tensor(out)


def returns_to_go_list(rewards, gamma):  # right numbers, but a list, not a tensor
    return env.returns_to_go(rewards, gamma).tolist()


def returns_to_go_int_dtype(rewards, gamma):  # buffer of the rewards' dtype: integer rewards are truncated
    return _rtg_in_input_dtype(rewards, gamma).float()


def returns_to_go_seeded_with_last(rewards, gamma):  # starts from G_{n-1} = r_{n-1}: IndexError on []
    r = torch.as_tensor(rewards, dtype=torch.float32)
    out = [float(r[-1])]
    for t in reversed(range(len(r) - 1)):
        out.insert(0, float(r[t]) + gamma * out[0])
    return torch.tensor(out)



# --------------------------------------------------------------------------- softmax_policy

LOGITS = torch.tensor([1.0, 0.0, -1.0, 2.0])   # softmax ~ [0.237, 0.087, 0.032, 0.644]


def _sample(fn, logits, seed=0):
    out = fn(logits, torch.Generator().manual_seed(seed))
    assert isinstance(out, tuple) and len(out) == 2, \
        f"expected a tuple (actions, logprobs), got {type(out).__name__}"
    a, lp = out
    assert isinstance(a, torch.Tensor) and isinstance(lp, torch.Tensor), \
        f"expected two tensors, got ({type(a).__name__}, {type(lp).__name__})"
    return a, lp


def _sample_batch(fn, logits, seed=0):
    """_sample for (B, A) logits, also checking that both results have shape (B,) and the actions lie in 0..A-1."""
    a, lp = _sample(fn, logits, seed)
    B = logits.size(0)
    assert a.shape == (B,) and lp.shape == (B,), \
        f"for logits of shape {tuple(logits.shape)} expected actions and logprobs of shape ({B},), " \
        f"got {tuple(a.shape)}, {tuple(lp.shape)}"
    A = logits.size(-1)
    assert bool(((a >= 0) & (a < A)).all()), f"actions must be indices in 0..{A - 1}, got {a[:8].tolist()}"
    return a, lp


def check_shapes_and_dtypes(fn):
    """(A,) logits -> a scalar action and log-prob; (B, A) -> shape (B,) each; actions are integers."""
    a, lp = _sample(fn, LOGITS)
    assert a.shape == () and lp.shape == (), \
        f"for logits of shape (4,) expected scalar tensors, got shapes {tuple(a.shape)}, {tuple(lp.shape)}"
    a, lp = _sample(fn, LOGITS.repeat(5, 1))
    assert a.shape == (5,) and lp.shape == (5,), \
        f"for logits of shape (5, 4) expected shapes (5,), (5,), got {tuple(a.shape)}, {tuple(lp.shape)}"
    assert not a.is_floating_point() and a.dtype != torch.bool, \
        f"actions should be integer indices (torch.long), got dtype {a.dtype}"
    assert bool(((a >= 0) & (a < 4)).all()), f"actions must lie in 0..3, got {a.tolist()}"


def check_logprob_of_sampled_action(fn):
    """logprobs[b] = log_softmax(logits[b])[actions[b]] for the action that was sampled."""
    logits = torch.tensor([[1.0, 0.0, -1.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, -2.0, 0.5, 0.5]]).repeat(20, 1)
    a, lp = _sample_batch(fn, logits)
    want = torch.log_softmax(logits, -1).gather(-1, a.long()[:, None]).squeeze(-1)
    bad = (lp.detach().float() - want).abs() > 1e-5
    if bad.any():
        i = int(bad.nonzero()[0])
        raise AssertionError(
            f"row {i}: logits {logits[i].tolist()}, sampled action {int(a[i])}: expected log pi(a) = "
            f"{float(want[i]):.4f}, got {float(lp[i]):.4f} (a log-probability is <= 0; use log_softmax)")


def check_samples_follow_softmax(fn):
    """20,000 draws from the same state: action frequencies match softmax(logits) within 0.02."""
    n = 20000
    a, _ = _sample_batch(fn, LOGITS.repeat(n, 1))
    freq = torch.bincount(a.long().flatten(), minlength=4)[:4].double() / n
    want = torch.softmax(LOGITS.double(), -1)
    assert (freq - want).abs().max() <= 0.02, \
        f"action frequencies {[round(f, 3) for f in freq.tolist()]} should match softmax(logits) " \
        f"{[round(p, 3) for p in want.tolist()]} (sample a ~ softmax(logits): not the argmax, not uniformly)"


def check_uses_generator(fn):
    """The same seeded generator gives the same actions; a different seed gives different ones."""
    logits = torch.zeros(200, 5)
    a1, _ = _sample_batch(fn, logits, seed=123)
    a2, _ = _sample_batch(fn, logits, seed=123)
    a3, _ = _sample_batch(fn, logits, seed=7)
    assert torch.equal(a1, a2), "two calls with identically seeded generators sampled different actions: " \
                                "draw the randomness from `generator` (e.g. torch.multinomial(..., generator=generator))"
    assert not torch.equal(a1, a3), "generators with different seeds gave identical actions"


def check_logprobs_are_differentiable(fn):
    """d logprob / d logits = onehot(a) - softmax(logits): the gradient the policy gradient needs."""
    logits = LOGITS.clone().requires_grad_(True)
    a, lp = _sample(fn, logits)
    assert a.shape == () and lp.shape == (), \
        f"for logits of shape (4,) expected scalar tensors, got shapes {tuple(a.shape)}, {tuple(lp.shape)}"
    assert lp.requires_grad, "logprobs carry no gradient: don't detach them or compute them under torch.no_grad()"
    lp.backward()
    want = torch.nn.functional.one_hot(a.long(), 4).float() - torch.softmax(LOGITS, -1)
    assert logits.grad is not None and torch.allclose(logits.grad, want, atol=1e-5), \
        f"gradient of log pi(a={int(a)}) w.r.t. logits: expected {[round(x, 4) for x in want.tolist()]}, " \
        f"got {None if logits.grad is None else [round(x, 4) for x in logits.grad.tolist()]}"


def check_large_logits_are_stable(fn):
    """logits [1000, 999]: finite log-probs log(1/(1+e^-1)) = -0.3133 or -1.3133."""
    logits = torch.tensor([[1000.0, 999.0]]).repeat(50, 1)
    a, lp = _sample_batch(fn, logits)
    want = torch.log_softmax(logits, -1).gather(-1, a.long()[:, None]).squeeze(-1)
    assert torch.isfinite(lp).all(), f"for logits [1000, 999] got non-finite log-probs {lp[:4].tolist()}: " \
                                     "exp(1000) overflows; use torch.log_softmax, or subtract the max first"
    bad = (lp.detach().float() - want).abs() > 1e-4
    if bad.any():
        i = int(bad.nonzero()[0])
        raise AssertionError(f"logits [1000, 999], sampled action {int(a[i])}: expected log pi(a) = "
                             f"{float(want[i]):.4f}, got {float(lp[i]):.4f}")


def check_batch_of_one(fn):
    """(1, A) logits are a batch of one state: actions and log-probs of shape (1,), not scalars."""
    a, lp = _sample(fn, LOGITS[None])
    assert a.shape == (1,) and lp.shape == (1,), \
        f"for logits of shape (1, 4) expected actions and logprobs of shape (1,), got {tuple(a.shape)}, " \
        f"{tuple(lp.shape)} (squeeze only the sampled dimension: .squeeze(-1), not .squeeze())"
    want = torch.log_softmax(LOGITS, -1)[a.long()]
    assert torch.allclose(lp.detach().float(), want, atol=1e-5), \
        f"logits (1, 4), sampled action {a.tolist()}: expected log pi(a) = {want.tolist()}, got {lp.tolist()}"


def check_default_generator_is_torchs(fn):
    """Called without a generator (the default None) it draws from torch's global generator: after
    torch.manual_seed(s) the same s gives the same actions and another seed different ones."""
    logits = torch.zeros(200, 5)

    def draw(seed):
        torch.manual_seed(seed)
        out = fn(logits)
        assert isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], torch.Tensor), \
            f"softmax_policy(logits): expected a tuple (actions, logprobs), got {type(out).__name__}"
        assert out[0].shape == (200,), f"for logits of shape (200, 5) expected actions of shape (200,), " \
                                       f"got {tuple(out[0].shape)}"
        return out[0]
    with torch.random.fork_rng():
        a1, a2, a3 = draw(0), draw(0), draw(1)
    assert torch.equal(a1, a2), "softmax_policy(logits) twice after torch.manual_seed(0) sampled different actions"
    assert not torch.equal(a1, a3), \
        "softmax_policy(logits) sampled the same 200 actions after torch.manual_seed(0) and torch.manual_seed(1): " \
        "with generator=None draw from torch's global generator (pass generator=None on to torch.multinomial)"


def softmax_policy_argmax(logits, generator=None):  # greedy: always the most likely action
    logp = torch.log_softmax(logits, -1)
    a = logp.argmax(-1)
    return a, logp.gather(-1, a.unsqueeze(-1)).squeeze(-1)


def softmax_policy_prob_not_log(logits, generator=None):  # returns pi(a), not log pi(a)
    p = torch.softmax(logits, -1)
    a = torch.multinomial(p.reshape(-1, p.size(-1)), 1, generator=generator).reshape(p.shape[:-1])
    return a, p.gather(-1, a.unsqueeze(-1)).squeeze(-1)


def softmax_policy_raw_logit(logits, generator=None):  # unnormalised: logits[a] instead of log pi(a)
    p = torch.softmax(logits, -1)
    a = torch.multinomial(p.reshape(-1, p.size(-1)), 1, generator=generator).reshape(p.shape[:-1])
    return a, logits.gather(-1, a.unsqueeze(-1)).squeeze(-1)


def softmax_policy_logprob_of_argmax(logits, generator=None):  # samples a, but scores the argmax
    logp = torch.log_softmax(logits, -1)
    a = torch.multinomial(logp.exp().reshape(-1, logp.size(-1)), 1, generator=generator).reshape(logp.shape[:-1])
    return a, logp.max(-1).values


def softmax_policy_uniform(logits, generator=None):  # ignores the logits when sampling
    logp = torch.log_softmax(logits, -1)
    flat = torch.ones_like(logp).reshape(-1, logp.size(-1))
    a = torch.multinomial(flat, 1, generator=generator).reshape(logp.shape[:-1])
    return a, logp.gather(-1, a.unsqueeze(-1)).squeeze(-1)


def softmax_policy_naive_exp(logits, generator=None):  # exp without subtracting the max: overflows
    p = logits.exp() / logits.exp().sum(-1, keepdim=True)
    p = torch.nan_to_num(p, nan=1.0 / logits.size(-1))
    a = torch.multinomial(p.reshape(-1, p.size(-1)), 1, generator=generator).reshape(p.shape[:-1])
    return a, torch.log(p.gather(-1, a.unsqueeze(-1)).squeeze(-1))


def softmax_policy_detached(logits, generator=None):  # kills the gradient the policy gradient needs
    with torch.no_grad():
        return env.softmax_policy(logits, generator)


def softmax_policy_ignores_generator(logits, generator=None):  # global RNG: not reproducible
    return env.softmax_policy(logits, None)


def softmax_policy_squeeze_all(logits, generator=None):  # .squeeze() also drops a batch of one
    logp = torch.log_softmax(logits, -1)
    flat = logp.reshape(-1, logp.size(-1))
    a = torch.multinomial(flat.exp(), 1, generator=generator)
    return a.squeeze(), flat.gather(-1, a).squeeze()


def softmax_policy_fresh_generator(logits, generator=None):  # a new Generator() always has the same seed
    return env.softmax_policy(logits, generator if generator is not None else torch.Generator())



# --------------------------------------------------------------------------- tables

REFERENCE = {
    "discounted_return": env.discounted_return,
    "returns_to_go": env.returns_to_go,
    "softmax_policy": env.softmax_policy,
}

CHECKS = {
    "discounted_return": [check_hand_computed, check_sparse_final_reward, check_gamma_zero_and_one,
                          check_recursion_random, check_empty_episode, check_returns_a_python_float,
                          check_integer_rewards],
    "returns_to_go": [check_rtg_hand_computed, check_rtg_is_a_float_tensor, check_rtg_sparse_final_reward,
                      check_rtg_recursion_random, check_rtg_gamma_zero_and_one, check_rtg_integer_rewards,
                      check_rtg_empty_episode],
    "softmax_policy": [check_shapes_and_dtypes, check_logprob_of_sampled_action, check_samples_follow_softmax,
                       check_uses_generator, check_logprobs_are_differentiable, check_large_logits_are_stable,
                       check_batch_of_one, check_default_generator_is_torchs],
}

BUGGY = {
    "discounted_return": [discounted_return_no_discount, discounted_return_gamma_k_plus_1,
                          discounted_return_reversed, discounted_return_skips_last, discounted_return_mean,
                          discounted_return_tensor, discounted_return_int_dtype],
    "returns_to_go": [returns_to_go_forward_cumsum, returns_to_go_discount_from_start, returns_to_go_one_step,
                      returns_to_go_reversed_output, returns_to_go_list, returns_to_go_int_dtype,
                      returns_to_go_seeded_with_last],
    "softmax_policy": [softmax_policy_argmax, softmax_policy_prob_not_log, softmax_policy_raw_logit,
                       softmax_policy_logprob_of_argmax, softmax_policy_uniform, softmax_policy_naive_exp,
                       softmax_policy_detached, softmax_policy_ignores_generator, softmax_policy_squeeze_all,
                       softmax_policy_fresh_generator],
}
