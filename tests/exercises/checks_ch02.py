"""Graders for chapter 2 (exercises/ch02_sft.py): causal mask, log-probs, the SFT loss.

Each check takes the function under test and raises AssertionError with a message that says
what was expected and what came back. See tests/exercises/harness.py for how they are run.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl import model as model_mod
from minirl import core, rollout, sft

EXERCISE_FILE = "ch02_sft.py"


def _fmt(t: torch.Tensor, nd: int = 4):
    return [round(x, nd) for x in t.detach().flatten().tolist()] if t.dim() else round(float(t.detach()), nd)


def _assert_close(got, want: torch.Tensor, what: str, tol: float = 1e-5):
    assert isinstance(got, torch.Tensor), f"{what}: expected a tensor, got {type(got).__name__}"
    assert got.shape == want.shape, f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
    g = got.detach().double()
    assert torch.isfinite(g).all() and torch.allclose(g, want.double(), atol=tol, rtol=tol), \
        f"{what}: expected {_fmt(want)}, got {_fmt(got)}"


def _tensor_of_shape(got, shape: tuple, what: str) -> torch.Tensor:
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(shape), \
        f"{what}: expected a tensor of shape {tuple(shape)}, got {getattr(got, 'shape', type(got).__name__)}"
    return got


# --------------------------------------------------------------------------- causal_mask

def check_mask_hand_value(fn):
    """causal_mask(3) is lower-triangular with the diagonal: row t allows keys 0..t."""
    want = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    got = fn(3)
    assert isinstance(got, torch.Tensor) and got.shape == (3, 3), \
        f"causal_mask(3): expected a (3, 3) tensor, got {getattr(got, 'shape', type(got).__name__)}"
    assert torch.equal(got.bool(), want), \
        f"causal_mask(3): expected (True = may attend)\n{want.int().tolist()}\ngot\n{got.int().tolist()}"


def check_mask_is_boolean(fn):
    """The mask is a torch.bool tensor, so ~mask and masked_fill work."""
    got = fn(4)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.bool, \
        f"causal_mask(4): expected dtype torch.bool, got {getattr(got, 'dtype', type(got).__name__)}"


def check_mask_sizes(fn):
    """Shape (T, T) for T = 1, 2, 7, and row t allows exactly t + 1 keys (itself and the past)."""
    for T in (1, 2, 7):
        got = _tensor_of_shape(fn(T), (T, T), f"causal_mask({T})")
        counts = got.bool().sum(dim=1)
        assert counts.tolist() == list(range(1, T + 1)), \
            f"causal_mask({T}): row t should allow t+1 keys {list(range(1, T + 1))}, got {counts.tolist()}"


def check_mask_in_attention(fn):
    """Used as scores.masked_fill(~mask, -inf).softmax(-1), no row is empty (no NaN) and no
    position attends to the future: with the later values made huge, outputs do not change."""
    T = 5
    mask = _tensor_of_shape(fn(T), (T, T), f"causal_mask({T})")
    scores = torch.zeros(T, T)
    att = scores.masked_fill(~mask.bool(), float("-inf")).softmax(-1)
    assert torch.isfinite(att).all(), \
        f"attention weights contain NaN in rows {(~torch.isfinite(att).all(1)).nonzero().flatten().tolist()}: " \
        "a row with no allowed key (the diagonal must be True)"
    want = torch.tensor([1.0 / (t + 1) for t in range(T)])
    assert torch.allclose(att.diagonal(), want), \
        f"uniform scores should give position t weight 1/(t+1) on each of keys 0..t; diagonal " \
        f"expected {_fmt(want)}, got {_fmt(att.diagonal())}"
    assert float(att.triu(1).abs().sum()) == 0.0, "positions attend to the future (weight above the diagonal)"


def causal_mask_transposed(T):  # upper triangular: every token sees the future
    return torch.ones(T, T, dtype=torch.bool).triu()


def causal_mask_no_diagonal(T):  # strictly lower: a token cannot see itself
    return torch.ones(T, T, dtype=torch.bool).tril(-1)


def causal_mask_float(T):  # right pattern, wrong dtype: ~mask fails on floats
    return torch.ones(T, T).tril()


def causal_mask_inverted(T):  # nn.MultiheadAttention's convention: True = blocked
    return torch.ones(T, T, dtype=torch.bool).triu(1)


def causal_mask_all_true(T):  # no mask at all
    return torch.ones(T, T, dtype=torch.bool)


# --------------------------------------------------------------------------- gather_logprobs

def check_gather_hand_value(fn):
    """logits [[0, ln 3], [0, 0]] with targets [1, 0] -> [ln 3/4, ln 1/2] = [-0.2877, -0.6931]."""
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]])               # (1, 2, 2)
    targets = torch.tensor([[1, 0]])
    _assert_close(fn(logits, targets), torch.tensor([[math.log(0.75), math.log(0.5)]]),
                  "gather_logprobs(logits=[[0, ln 3], [0, 0]], targets=[1, 0])")


def check_gather_random(fn):
    """Random (2, 3, 5) logits: out[b, t] = logits[b, t, y] - logsumexp(logits[b, t]), shape (B, T)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, generator=g)
    targets = torch.randint(0, 5, (2, 3), generator=g)
    before = logits.clone()
    want = torch.stack([torch.stack([logits[b, t, targets[b, t]] - torch.logsumexp(logits[b, t], 0)
                                     for t in range(3)]) for b in range(2)])
    _assert_close(fn(logits, targets), want, "gather_logprobs on random logits (B=2, T=3, V=5)")
    assert torch.equal(logits, before), "gather_logprobs modified the logits in place"


def check_gather_probabilities_sum_to_one(fn):
    """Scoring every token of the vocabulary in turn: exp(out) sums to 1 over the vocabulary
    (log-softmax is over the last dimension, V, not over positions)."""
    V = 6
    logits = torch.randn(1, 3, V, generator=torch.Generator().manual_seed(1)).expand(V, 3, V)
    targets = torch.arange(V)[:, None].expand(V, 3)                          # row v scores token v
    out = _tensor_of_shape(fn(logits, targets), (V, 3), f"gather_logprobs of ({V}, 3, {V}) logits")
    total = out.detach().double().exp().sum(dim=0)                           # (3,)
    assert torch.allclose(total, torch.ones(3, dtype=torch.float64), atol=1e-5), \
        f"sum over the vocabulary of pi(v) should be 1 at every position, got {_fmt(total)}"


def check_gather_stable_and_differentiable(fn):
    """Logits [1000, 999] give finite log-probs, and gradients flow back to the logits."""
    logits = torch.tensor([[[1000.0, 999.0]]], requires_grad=True)
    out = fn(logits, torch.tensor([[1]]))
    want = torch.tensor([[math.log(1 / (1 + math.e))]])
    assert isinstance(out, torch.Tensor) and torch.isfinite(out).all(), \
        f"gather_logprobs(logits=[1000, 999], target=1) gave {out.detach().tolist()}: exp(1000) overflows, use torch.log_softmax"
    _assert_close(out, want, "gather_logprobs(logits=[1000, 999], target=1)")
    assert out.requires_grad, "the result carries no gradient: don't detach or use torch.no_grad()"


def check_gather_very_negative_logprobs(fn):
    """An unlikely token keeps its exact, finite log-prob: logits [0, -200] give log pi(1) = -200,
    not log(0) = -inf (softmax underflows to 0 in float32 long before that; log_softmax does not)."""
    logits = torch.tensor([[[0.0, -200.0], [-1000.0, 0.0]]])
    out = fn(logits, torch.tensor([[1, 0]]))
    assert isinstance(out, torch.Tensor) and torch.isfinite(out).all(), \
        f"gather_logprobs(logits=[[0, -200], [-1000, 0]], targets=[1, 0]) gave " \
        f"{out.detach().tolist() if isinstance(out, torch.Tensor) else out!r}: log(softmax(...)) underflows to " \
        "log 0 = -inf; use torch.log_softmax"
    _assert_close(out, torch.tensor([[-200.0, -1000.0]]),
                  "gather_logprobs(logits=[[0, -200], [-1000, 0]], targets=[1, 0])", tol=1e-4)


def check_gather_low_precision_logits(fn):
    """bfloat16 logits (mixed-precision training) give float32 log-probs: the ratios
    exp(logp - logp_old) of chapters 5 and 7 need the precision. Upcast before log_softmax."""
    g = torch.Generator().manual_seed(2)
    logits = (4 * torch.randn(2, 3, 7, generator=g)).bfloat16()
    targets = torch.randint(0, 7, (2, 3), generator=g)
    out = fn(logits, targets)
    assert isinstance(out, torch.Tensor) and out.dtype in (torch.float32, torch.float64), \
        f"gather_logprobs of bfloat16 logits: expected float32 log-probs, got " \
        f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__} (use logits.float() first)"
    want = torch.log_softmax(logits.float(), -1).gather(-1, targets[..., None]).squeeze(-1)
    _assert_close(out, want, "gather_logprobs of bfloat16 logits (computed in float32)", tol=1e-4)


def gather_logprobs_time_axis(logits, targets):  # log_softmax over positions instead of the vocabulary
    return torch.log_softmax(logits, dim=1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def gather_logprobs_no_log(logits, targets):  # probabilities, not log-probabilities
    return torch.softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def gather_logprobs_raw_logits(logits, targets):  # forgets to normalise
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def gather_logprobs_naive(logits, targets):  # log(exp / sum exp): overflows at 1000
    p = logits.exp() / logits.exp().sum(-1, keepdim=True)
    return torch.log(p.gather(-1, targets.unsqueeze(-1)).squeeze(-1))


def gather_logprobs_detached(logits, targets):
    return core.gather_logprobs(logits.detach(), targets)


def gather_logprobs_log_of_softmax(logits, targets):  # softmax is stable, but underflows to 0: log 0 = -inf
    return torch.log(torch.softmax(logits, dim=-1)).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def gather_logprobs_keeps_input_dtype(logits, targets):  # bfloat16 in, bfloat16 out
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)



# --------------------------------------------------------------------------- token_logprobs

class TableLM(nn.Module):
    """A tiny deterministic "language model": logits[b, t] = table[ids[b, t]] + pos[t].
    With pos = 0 it is a bigram model, so every log-prob can be worked out by hand."""

    def __init__(self, table: torch.Tensor, pos: torch.Tensor | None = None):
        super().__init__()
        self.table = nn.Parameter(table.clone().float())
        self.pos = pos
        self.calls: list[tuple[int, ...]] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(ids.shape))
        out = self.table[ids]                                                # (B, L, V)
        if self.pos is not None:
            out = out + self.pos[: ids.size(1)]
        return out


# Rows are log-probabilities already: after token 0 the model says [1/2, 1/4, 1/4], after
# token 1 [1/5, 3/10, 1/2], after token 2 [1/10, 1/10, 4/5].
BIGRAM = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]))


def check_tlp_hand_value(fn):
    """Bigram model, tokens [0, 1, 2, 2] -> [log pi(1|0), log pi(2|1), log pi(2|2)] = log [1/4, 1/2, 4/5]."""
    tokens = torch.tensor([[0, 1, 2, 2]])
    want = torch.log(torch.tensor([[0.25, 0.5, 0.8]]))
    _assert_close(fn(TableLM(BIGRAM), tokens), want,
                  "token_logprobs(bigram model, tokens [0, 1, 2, 2]); entry t must score tokens[t+1] "
                  "given tokens[:t+1]")


def check_tlp_shape(fn):
    """tokens (B, T) -> (B, T-1): one log-prob for every token that has a prefix."""
    tokens = torch.tensor([[0, 1, 2, 0, 1], [2, 2, 1, 0, 0]])
    out = fn(TableLM(BIGRAM), tokens)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4), \
        f"tokens of shape (2, 5): expected log-probs of shape (2, 4), got {getattr(out, 'shape', type(out).__name__)}"


def check_tlp_alignment_by_position(fn):
    """A model that knows only the position: at t it predicts token (t + 1) % 3 with prob 0.98.
    On tokens [0, 1, 2, 0, 1, 2] every entry must then be log 0.98: an off-by-one scores
    the wrong token and gets log 0.01."""
    T, V = 6, 3
    pos = torch.full((T, V), math.log(0.01))
    pos[torch.arange(T), (torch.arange(T) + 1) % V] = math.log(0.98)
    tokens = (torch.arange(T) % V)[None].repeat(2, 1)
    out = fn(TableLM(torch.zeros(V, V), pos), tokens)
    _assert_close(out, torch.full((2, T - 1), math.log(0.98)),
                  "position-predicting model on tokens [0, 1, 2, 0, 1, 2] (log 0.98 = -0.0202 everywhere); "
                  "logits[:, t] must be paired with tokens[:, t+1]", tol=1e-4)


def check_tlp_matches_prefix_by_prefix(fn):
    """A real (random, tiny) GPT: entry t equals log_softmax(model(tokens[:, :t+1])[:, -1])[tokens[:, t+1]],
    the definition computed one prefix at a time."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        cfg = model_mod.GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=16)
        gpt = model_mod.GPT(cfg).eval()
        for p in gpt.parameters():                  # larger weights so the log-probs differ clearly
            p.data.mul_(20.0 if p.dim() > 1 else 1.0)
        tokens = torch.randint(0, 7, (2, 6))
    with torch.no_grad():
        want = torch.stack([torch.log_softmax(gpt(tokens[:, :t + 1])[:, -1], -1)
                            .gather(-1, tokens[:, t + 1, None]).squeeze(-1) for t in range(5)], dim=1)
    _assert_close(fn(gpt, tokens), want, "token_logprobs(tiny GPT) vs the prefix-by-prefix definition", tol=1e-4)


def check_tlp_keeps_gradient(fn):
    """The result is differentiable w.r.t. the model's parameters (training needs it)."""
    lm = TableLM(BIGRAM)
    out = fn(lm, torch.tensor([[0, 1, 2, 2]]))
    assert isinstance(out, torch.Tensor) and out.requires_grad, \
        "token_logprobs returned a tensor without gradient: no torch.no_grad() or .detach() here"
    out.sum().backward()
    assert lm.table.grad is not None and lm.table.grad.abs().sum() > 0, "no gradient reached the model"


def check_tlp_one_model_call(fn):
    """The model is called once, on the whole batch (tokens[:, :-1], shape (B, T-1)): causal
    attention already gives every prefix's prediction in that one pass. One call per prefix or
    per row gives the same numbers T times slower."""
    lm = TableLM(BIGRAM)
    tokens = torch.tensor([[0, 1, 2, 2, 1], [2, 0, 1, 1, 0]])
    out = fn(lm, tokens)
    _tensor_of_shape(out, (2, 4), "token_logprobs of tokens (2, 5)")
    assert len(lm.calls) == 1 and lm.calls[0] in ((2, 4), (2, 5)), \
        f"token_logprobs(model, tokens of shape (2, 5)) called the model {len(lm.calls)} times, with inputs of " \
        f"shapes {lm.calls}; expected one call on the whole batch, tokens[:, :-1] of shape (2, 4)"


def token_logprobs_scores_current_token(model, tokens):  # targets tokens[:, :-1]: off by one
    return core.gather_logprobs(model(tokens[:, :-1]), tokens[:, :-1])


def token_logprobs_shifted_logits(model, tokens):  # logits[:, 1:] paired with tokens[:, 1:]
    return core.gather_logprobs(model(tokens)[:, 1:], tokens[:, 1:])


def token_logprobs_no_log(model, tokens):
    return torch.softmax(model(tokens[:, :-1]), -1).gather(-1, tokens[:, 1:, None]).squeeze(-1)


def token_logprobs_time_softmax(model, tokens):  # normalises over positions
    return torch.log_softmax(model(tokens[:, :-1]), 1).gather(-1, tokens[:, 1:, None]).squeeze(-1)


def token_logprobs_no_grad(model, tokens):
    with torch.no_grad():
        return rollout.token_logprobs(model, tokens)


def token_logprobs_full_length(model, tokens):  # (B, T): scores the whole row including the first token
    return core.gather_logprobs(model(tokens), tokens)


def token_logprobs_prefix_by_prefix(model, tokens):  # the definition, one forward pass per prefix
    cols = [core.gather_logprobs(model(tokens[:, :t + 1])[:, -1], tokens[:, t + 1]) for t in range(tokens.size(1) - 1)]
    return torch.stack(cols, dim=1)



# --------------------------------------------------------------------------- sft_loss

def _hand_batch():
    # position 0: logits [0, ln 3] -> pi = [1/4, 3/4], target 1 -> nll ln(4/3) = 0.2877
    # position 1: logits [0, 0]    -> pi = [1/2, 1/2], target 0 -> nll ln 2    = 0.6931
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]])
    return logits, torch.tensor([[1, 0]])


def _scalar(out, what: str) -> float:
    assert isinstance(out, torch.Tensor), f"{what}: expected a tensor, got {type(out).__name__}"
    assert out.dim() == 0, f"{what}: expected a scalar (shape ()), got shape {tuple(out.shape)}"
    return float(out.detach())


def _expect(got: float, want: float, what: str, tol: float = 1e-5):
    assert math.isfinite(got) and abs(got - want) <= tol * max(1.0, abs(want)), \
        f"{what}: expected {want:.6g}, got {got:.6g}"


def check_sft_hand_value(fn):
    """Two positions with nll ln(4/3) and ln 2: mask [1, 1] -> their mean 0.4904; mask [0, 1] -> ln 2."""
    logits, targets = _hand_batch()
    _expect(_scalar(fn(logits, targets, torch.tensor([[1.0, 1.0]])), "sft_loss"),
            (math.log(4 / 3) + math.log(2)) / 2, "sft_loss with mask [1, 1] (mean of ln 4/3 and ln 2)")
    _expect(_scalar(fn(logits, targets, torch.tensor([[0.0, 1.0]])), "sft_loss"),
            math.log(2), "sft_loss with mask [0, 1] (only the second position counts)")


def check_sft_uniform_is_log_V(fn):
    """Uniform logits (all zero) give cross-entropy log V whatever the targets: here log 11."""
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 11, (3, 5), generator=g)
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1]], dtype=torch.float)
    _expect(_scalar(fn(torch.zeros(3, 5, 11), targets, mask), "sft_loss"), math.log(11),
            "sft_loss with all-zero logits and V = 11 (should be log V)")


def check_sft_ignores_masked_positions(fn):
    """Changing logits and targets where mask = 0 (prompt, padding) leaves the loss unchanged,
    and their logits get zero gradient."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 6, 5, generator=g)
    targets = torch.randint(0, 5, (2, 6), generator=g)
    mask = torch.tensor([[0, 0, 1, 1, 0, 0], [0, 1, 1, 1, 1, 0]], dtype=torch.float)
    base = _scalar(fn(logits, targets, mask), "sft_loss")
    off = mask == 0
    logits2 = logits.clone()
    logits2[off] = 10 * torch.randn(int(off.sum()), 5, generator=g)
    targets2 = targets.clone()
    targets2[off] = (targets[off] + 1) % 5
    _expect(_scalar(fn(logits2, targets2, mask), "sft_loss"), base,
            "sft_loss after changing only the masked-out positions (they must not count)")
    leaf = logits.clone().requires_grad_(True)
    loss = fn(leaf, targets, mask)
    assert isinstance(loss, torch.Tensor) and loss.requires_grad, \
        "the loss carries no gradient back to the logits (don't detach, or build a new tensor from numbers)"
    loss.backward()
    assert leaf.grad is not None, "no gradient reached the logits (don't detach)"
    assert float(leaf.grad[off].abs().max()) == 0.0, "masked-out positions received gradient"


def check_sft_mean_over_masked_tokens(fn):
    """Rows with 1 and 3 response tokens: the loss is the mean over all 4 masked tokens
    (not the mean of row means, not divided by B or by every position)."""
    V = 4
    # target 0 everywhere. Row 0: uniform logits, pi(0) = 1/4, nll ln 4 (one masked token).
    # Row 1: logits [ln 3, 0, 0, 0], pi(0) = 3 / (3 + 3) = 1/2, nll ln 2 (three masked tokens).
    logits = torch.zeros(2, 3, V)
    logits[1, :, 0] = math.log(3.0)
    targets = torch.zeros(2, 3, dtype=torch.long)
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    want = (math.log(4) + 3 * math.log(2)) / 4
    _expect(_scalar(fn(logits, targets, mask), "sft_loss"), want,
            "sft_loss, row 0 one token with nll ln 4, row 1 three tokens with nll ln 2 "
            "(mean over the 4 masked tokens = (ln 4 + 3 ln 2) / 4)")


def check_sft_empty_mask_and_inputs_untouched(fn):
    """An all-zero mask gives loss 0 (not NaN); the inputs are not modified."""
    logits, targets = _hand_batch()
    mask = torch.zeros(1, 2)
    copies = (logits.clone(), targets.clone(), mask.clone())
    _expect(_scalar(fn(logits, targets, mask), "sft_loss"), 0.0,
            "sft_loss with an all-zero mask (divide by max(1, mask.sum()))")
    for name, a, b in zip(("logits", "targets", "mask"), (logits, targets, mask), copies):
        assert torch.equal(a, b), f"sft_loss modified its input {name} in place"


def check_sft_large_logits(fn):
    """Logits [1000, 999] with target 1: loss ln(1 + e) = 1.3133, finite."""
    logits = torch.tensor([[[1000.0, 999.0]]])
    _expect(_scalar(fn(logits, torch.tensor([[1]]), torch.ones(1, 1)), "sft_loss"),
            math.log(1 + math.e), "sft_loss for logits [1000, 999], target 1 (if NaN or inf: exp(1000) "
            "overflows, use log_softmax or F.cross_entropy)")


def check_sft_very_negative_logprob(fn):
    """A target the model finds very unlikely: logits [0, -200], target 1 -> loss 200, finite
    (log(softmax(...)) underflows to log 0 = -inf; log_softmax and F.cross_entropy do not)."""
    logits = torch.tensor([[[0.0, -200.0], [0.0, 0.0]]])
    _expect(_scalar(fn(logits, torch.tensor([[1, 0]]), torch.tensor([[1.0, 0.0]])), "sft_loss"), 200.0,
            "sft_loss for logits [0, -200], target 1 (if inf: log(softmax) underflows; use log_softmax "
            "or F.cross_entropy)")


def sft_loss_unmasked(logits, targets, mask):  # averages over prompt and padding too
    return F.cross_entropy(logits.transpose(1, 2), targets)


def sft_loss_divide_by_batch(logits, targets, mask):
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return (nll * mask).sum() / logits.size(0)


def sft_loss_sum(logits, targets, mask):
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return (nll * mask).sum()


def sft_loss_mean_of_row_means(logits, targets, mask):  # weights short responses more
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return ((nll * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def sft_loss_masked_mean_over_all(logits, targets, mask):  # zeroes prompt tokens but divides by B*T
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return (nll * mask).mean()


def sft_loss_shifts_again(logits, targets, mask):  # the inputs are already aligned
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets[:, 1:], reduction="none")
    m = mask[:, 1:]
    return (nll * m).sum() / m.sum().clamp(min=1)


def sft_loss_wrong_sign(logits, targets, mask):  # the mean log-likelihood, to be maximised
    return -sft.sft_loss(logits, targets, mask)


def sft_loss_nan_on_empty(logits, targets, mask):
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return (nll * mask).sum() / mask.sum()


def sft_loss_naive_softmax(logits, targets, mask):  # log(softmax) by hand: overflows
    p = logits.exp() / logits.exp().sum(-1, keepdim=True)
    nll = -torch.log(p.gather(-1, targets.unsqueeze(-1)).squeeze(-1))
    return (nll * mask).sum() / mask.sum().clamp(min=1)


def sft_loss_in_place(logits, targets, mask):  # "zeroes" the prompt logits in the caller's tensor
    logits.mul_(mask.unsqueeze(-1))
    return sft.sft_loss(logits, targets, mask)


def sft_loss_log_of_softmax(logits, targets, mask):  # log(softmax) by hand: underflows to log 0
    logp = torch.log(torch.softmax(logits, dim=-1)).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return -(logp * mask).sum() / mask.sum().clamp(min=1)



# --------------------------------------------------------------------------- tables

REFERENCE = {
    "causal_mask": model_mod.causal_mask,
    "gather_logprobs": core.gather_logprobs,
    "token_logprobs": rollout.token_logprobs,
    "sft_loss": sft.sft_loss,
}

CHECKS = {
    "causal_mask": [check_mask_hand_value, check_mask_is_boolean, check_mask_sizes, check_mask_in_attention],
    "gather_logprobs": [check_gather_hand_value, check_gather_random, check_gather_probabilities_sum_to_one,
                        check_gather_stable_and_differentiable, check_gather_very_negative_logprobs,
                        check_gather_low_precision_logits],
    "token_logprobs": [check_tlp_hand_value, check_tlp_shape, check_tlp_alignment_by_position,
                       check_tlp_matches_prefix_by_prefix, check_tlp_keeps_gradient, check_tlp_one_model_call],
    "sft_loss": [check_sft_hand_value, check_sft_uniform_is_log_V, check_sft_ignores_masked_positions,
                 check_sft_mean_over_masked_tokens, check_sft_empty_mask_and_inputs_untouched,
                 check_sft_large_logits, check_sft_very_negative_logprob],
}

BUGGY = {
    "causal_mask": [causal_mask_transposed, causal_mask_no_diagonal, causal_mask_float, causal_mask_inverted,
                    causal_mask_all_true],
    "gather_logprobs": [gather_logprobs_time_axis, gather_logprobs_no_log, gather_logprobs_raw_logits,
                        gather_logprobs_naive, gather_logprobs_detached, gather_logprobs_log_of_softmax,
                        gather_logprobs_keeps_input_dtype],
    "token_logprobs": [token_logprobs_scores_current_token, token_logprobs_shifted_logits, token_logprobs_no_log,
                       token_logprobs_time_softmax, token_logprobs_no_grad, token_logprobs_full_length,
                       token_logprobs_prefix_by_prefix],
    "sft_loss": [sft_loss_unmasked, sft_loss_divide_by_batch, sft_loss_sum, sft_loss_mean_of_row_means,
                 sft_loss_masked_mean_over_all, sft_loss_shifts_again, sft_loss_wrong_sign,
                 sft_loss_nan_on_empty, sft_loss_naive_softmax, sft_loss_in_place, sft_loss_log_of_softmax],
}
