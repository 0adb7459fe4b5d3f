"""Graders for chapter 9 (exercises/ch09_scale.py): parameters, FLOPs and MFU, data parallelism,
the memory a method holds, the learning-rate schedule.

Each check takes the function under test and raises AssertionError with a message that says
what was expected and what came back. See tests/exercises/harness.py for how they are run.

Where minirl has the function, it is the reference (device.train_flops_per_token, device.shard,
optim.set_lr). Where the computation lives inline in minirl (the MFU and the loss weighting of
sft.train_sft) or in the chapters' tables (the memory accounting of sections 5.9 and 9.4), the
reference is written below, named reference_*, and checked against minirl where minirl has a
number to compare with (model.GPT's parameter count, memory.models_held's totals).
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from minirl import device, memory, optim
from minirl.model import GPT, GPTConfig

EXERCISE_FILE = "ch09_scale.py"

DEFAULT = dict(vocab_size=23, block_size=32, n_layer=4, n_embd=128)       # every arithmetic trainer's model
N_DEFAULT, N_PRESET = 800_384, 25_248_256
MIB = 2 ** 20


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _kind(x) -> str:
    return f"a tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__


def _number(out, what: str) -> float:
    assert _is_number(out), f"{what}: expected a Python int or float, got {_kind(out)}"
    assert math.isfinite(out), f"{what}: expected a finite number, got {out}"
    return float(out)


def _float(out, what: str) -> float:
    assert isinstance(out, float), f"{what}: expected a Python float (float(...)), got {_kind(out)}"
    return out


def _close(got: float, want: float, what: str, rel: float = 1e-9, abs_: float = 0.0):
    assert math.isclose(got, want, rel_tol=rel, abs_tol=abs_), f"{what}: expected {want:,.10g}, got {got:,.10g}"


def _gpt(vocab_size, block_size, n_layer, n_embd) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=1, n_embd=n_embd))


# --------------------------------------------------------------------------- count_parameters

def reference_count_parameters(vocab_size: int, block_size: int, n_layer: int, n_embd: int) -> int:
    """The count of minirl's own model: build model.GPT and add up its tensors."""
    return _gpt(vocab_size, block_size, n_layer, n_embd).num_params()


def _count(fn, *args) -> int:
    out = fn(*args)
    assert _is_int(out), f"count_parameters{args}: expected a Python int, got {_kind(out)}" + \
        (f" ({out})" if isinstance(out, float) else "")
    return out


def check_count_default_model(fn):
    """The default arithmetic model (vocabulary 23, 32 positions, 4 blocks, width 128) has 800,384
    parameters: chapter 2's table, 2,944 + 4,096 + 264,192 + 526,848 + 2,304."""
    got = _count(fn, 23, 32, 4, 128)
    assert got == N_DEFAULT, f"count_parameters(23, 32, 4, 128): expected 800,384 (chapter 2, section 2.2), got {got:,}"


def check_count_tiny_model_by_hand(fn):
    """vocabulary 5, 4 positions, 1 block of width 2: 10 (tokens, tied) + 8 (positions) + 8 + 24 (attention:
    2x6 + 6, 2x2 + 2) + 16 + 18 (MLP: 2x8 + 8, 8x2 + 2) + 8 (two LayerNorms in the block) + 4 (final one)
    = 96, against minirl's model.GPT of the same shape."""
    want = 10 + 8 + (12 + 6 + 4 + 2) + (16 + 8 + 16 + 2) + 8 + 4
    assert want == reference_count_parameters(5, 4, 1, 2) == 96
    got = _count(fn, 5, 4, 1, 2)
    assert got == want, f"count_parameters(vocab 5, block 4, 1 layer, width 2): expected {want} " \
                        f"(10 + 8 + 24 + 42 + 8 + 4), got {got}"


def check_count_each_part(fn):
    """One more token or position adds n_embd parameters (the output layer is the token embedding,
    not a second matrix); one more block adds 12 C^2 + 13 C (4 C^2 + 4 C attention, 8 C^2 + 5 C MLP,
    4 C LayerNorm): 198,272 for C = 128."""
    base = _count(fn, 23, 32, 4, 128)
    more_vocab, more_pos = _count(fn, 24, 32, 4, 128), _count(fn, 23, 33, 4, 128)
    more_layer = _count(fn, 23, 32, 5, 128)
    assert more_vocab - base == 128, \
        f"one more vocabulary entry should add 128 parameters (one tied row), added {more_vocab - base:,}"
    assert more_pos - base == 128, f"one more position should add 128 parameters, added {more_pos - base:,}"
    assert more_layer - base == 12 * 128 ** 2 + 13 * 128, \
        f"one more block of width 128 should add 12 C^2 + 13 C = 198,272 parameters, added {more_layer - base:,}"


def check_count_against_minirl_models(fn):
    """The GPU preset (8 blocks of width 512: 25,248,256) and two odd shapes, against model.GPT itself."""
    for shape in ((23, 32, 8, 512), (11, 7, 3, 24), (40, 16, 2, 36)):
        want = N_PRESET if shape == (23, 32, 8, 512) else reference_count_parameters(*shape)
        got = _count(fn, *shape)
        assert got == want, f"count_parameters{shape}: expected {want:,} (minirl's model.GPT), got {got:,}"


def _count_parts(vocab_size, block_size, n_layer, n_embd, tied=True, biases=True, final_ln=True, positions=True):
    c = n_embd
    attn = 4 * c * c + (4 * c if biases else 0)
    mlp = 8 * c * c + (5 * c if biases else 0)
    return (vocab_size * c * (1 if tied else 2) + (block_size * c if positions else 0)
            + n_layer * (attn + mlp + 4 * c) + (2 * c if final_ln else 0))


def count_untied_output(vocab_size, block_size, n_layer, n_embd):  # a separate output matrix: no weight tying
    return _count_parts(vocab_size, block_size, n_layer, n_embd, tied=False)


def count_without_biases(vocab_size, block_size, n_layer, n_embd):  # only the weight matrices
    return _count_parts(vocab_size, block_size, n_layer, n_embd, biases=False)


def count_forgets_final_layernorm(vocab_size, block_size, n_layer, n_embd):  # 2 LayerNorms per block, none after
    return _count_parts(vocab_size, block_size, n_layer, n_embd, final_ln=False)


def count_without_position_table(vocab_size, block_size, n_layer, n_embd):  # the N of the FLOP count, not the model
    return _count_parts(vocab_size, block_size, n_layer, n_embd, positions=False)


def count_mlp_not_widened(vocab_size, block_size, n_layer, n_embd):  # an MLP of width C instead of 4 C
    c = n_embd
    return vocab_size * c + block_size * c + n_layer * (4 * c * c + 4 * c + 2 * c * c + 2 * c + 4 * c) + 2 * c


# --------------------------------------------------------------------------- train_flops_per_token

def _flops(fn, model, seq_len, what) -> float:
    return _number(fn(model, seq_len), what)


def check_flops_default_model(fn):
    """The default model on a 10-token add2 demonstration (input length T = 9):
    6 x 796,288 + 12 x 4 x 128 x 9 = 4,833,024."""
    got = _flops(fn, _gpt(**DEFAULT), 9, "train_flops_per_token(default model, 9)")
    _close(got, 6 * 796_288 + 12 * 4 * 128 * 9, "train_flops_per_token(default model, seq_len 9) = 6 N + 12 L C T")


def check_flops_tiny_model_by_hand(fn):
    """vocabulary 7, 8 positions, 1 block of width 4: N = 312 parameters, 32 of them in the position
    table, so 6 x 280 + 12 x 1 x 4 x 5 = 1,920 FLOPs per token at T = 5."""
    model = _gpt(7, 8, 1, 4)
    assert model.num_params() == 312 and model.wpe.weight.numel() == 32
    got = _flops(fn, model, 5, "train_flops_per_token(tiny model, 5)")
    _close(got, 1920.0, "train_flops_per_token(vocab 7, block 8, 1 layer, width 4; seq_len 5) = 6 x 280 + 12 x 4 x 5")


def check_flops_attention_term(fn):
    """One more token of sequence adds 12 L C FLOPs per token (attention's Q K^T and A V, forward and
    backward): 6,144 for the default model; at seq_len 0 only 6 N is left."""
    model = _gpt(**DEFAULT)
    a = _flops(fn, model, 9, "train_flops_per_token(model, 9)")
    b = _flops(fn, model, 10, "train_flops_per_token(model, 10)")
    _close(b - a, 12.0 * 4 * 128, "train_flops_per_token(model, 10) - train_flops_per_token(model, 9) = 12 L C")
    _close(_flops(fn, model, 0, "train_flops_per_token(model, 0)"), 6.0 * 796_288,
           "train_flops_per_token(default model, seq_len 0) = 6 N (N without the position table)")


def check_flops_position_table_excluded(fn):
    """Two models that differ only in their number of positions (32 and 64) cost the same per token:
    a position embedding is looked up, it multiplies nothing; the length that counts is seq_len,
    not block_size."""
    short, long = _gpt(23, 32, 2, 64), _gpt(23, 64, 2, 64)
    a = _flops(fn, short, 12, "train_flops_per_token(block 32, 12)")
    b = _flops(fn, long, 12, "train_flops_per_token(block 64, 12)")
    want = 6.0 * (short.num_params() - 32 * 64) + 12 * 2 * 64 * 12
    _close(a, want, "train_flops_per_token(vocab 23, block 32, 2 layers, width 64; seq_len 12)")
    _close(b, want, "train_flops_per_token of the same model with 64 positions, seq_len 12")


def _n_without_positions(model):
    return sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()


def flops_forward_only(model, seq_len):  # 2 N: the forward pass alone
    c = model.config
    return 2 * _n_without_positions(model) + 12 * c.n_layer * c.n_embd * seq_len


def flops_no_attention(model, seq_len):  # 6 N alone
    return 6 * _n_without_positions(model)


def flops_with_position_table(model, seq_len):  # counts the looked-up position table as multiplied
    c = model.config
    return 6 * sum(p.numel() for p in model.parameters()) + 12 * c.n_layer * c.n_embd * seq_len


def flops_block_size(model, seq_len):  # the model's maximum length instead of the trained one
    c = model.config
    return 6 * _n_without_positions(model) + 12 * c.n_layer * c.n_embd * c.block_size


def flops_attention_per_sequence(model, seq_len):  # T^2: the attention FLOPs of a whole sequence, not a token
    c = model.config
    return 6 * _n_without_positions(model) + 12 * c.n_layer * c.n_embd * seq_len ** 2


# --------------------------------------------------------------------------- mfu

def reference_mfu(flops_per_token, tokens_per_s, peak_flops, world_size=1):
    """MFU as minirl/sft.py logs it: FLOPs/token x tokens/s (all processes) / (peak of one device x world)."""
    if peak_flops is None:
        return None
    if peak_flops <= 0 or world_size < 1:
        raise ValueError(f"peak_flops must be > 0 and world_size >= 1, got {peak_flops}, {world_size}")
    return float(flops_per_token * tokens_per_s / (peak_flops * world_size))


def check_mfu_hand_value(fn):
    """6e6 FLOPs/token at 1e6 tokens/s on one device of peak 1e13 FLOP/s (world_size left at its
    default): 6e12 / 1e13 = 0.6, as a Python float (a fraction, not a percentage)."""
    got = _float(fn(6e6, 1e6, 1e13), "mfu(6e6, 1e6, 1e13)")
    _close(got, 0.6, "mfu(6e6 FLOPs/token, 1e6 tokens/s, peak 1e13)", rel=1e-9)


def check_mfu_several_devices(fn):
    """The same 1e6 tokens/s spread over 4 devices uses a quarter of each: 0.15; and an H100-like
    case, 1.5e8 FLOPs/token at 2e6 tokens/s on 2 devices of 989e12: 0.15167."""
    _close(_float(fn(6e6, 1e6, 1e13, 4), "mfu(6e6, 1e6, 1e13, 4)"), 0.15,
           "mfu(6e6, 1e6 tokens/s over all 4 devices, peak 1e13 each, world_size 4)")
    _close(_float(fn(1.5e8, 2e6, 989e12, world_size=2), "mfu(1.5e8, 2e6, 989e12, world_size=2)"),
           1.5e8 * 2e6 / (989e12 * 2), "mfu(1.5e8, 2e6, 989e12, world_size=2)")


def check_mfu_no_peak(fn):
    """peak_flops None (a CPU, an unknown GPU) gives None: no MFU is invented."""
    out = fn(4.8e6, 20_502.0, None)
    assert out is None, f"mfu(4.8e6, 20502, peak None): expected None, got {out!r}"


def check_mfu_bad_input_raises(fn):
    """A peak of 0 or less, or a world size below 1, raises ValueError (not a ZeroDivisionError, not inf)."""
    for args in ((6e6, 1e6, 0.0), (6e6, 1e6, -1e13), (6e6, 1e6, 1e13, 0)):
        try:
            out = fn(*args)
        except ValueError:
            continue
        raise AssertionError(f"mfu{args}: expected ValueError, got {out!r}")


def mfu_ignores_world(flops_per_token, tokens_per_s, peak_flops, world_size=1):  # divides by one device's peak
    return reference_mfu(flops_per_token, tokens_per_s, peak_flops, 1 if world_size >= 1 else world_size)


def mfu_times_world(flops_per_token, tokens_per_s, peak_flops, world_size=1):  # takes tokens/s to be per device twice
    out = reference_mfu(flops_per_token, tokens_per_s, peak_flops, world_size)
    return None if out is None else out * world_size ** 2


def mfu_percent(flops_per_token, tokens_per_s, peak_flops, world_size=1):  # a percentage, not a fraction
    out = reference_mfu(flops_per_token, tokens_per_s, peak_flops, world_size)
    return None if out is None else 100.0 * out


def mfu_no_none_branch(flops_per_token, tokens_per_s, peak_flops, world_size=1):  # TypeError on a CPU
    if peak_flops <= 0 or world_size < 1:
        raise ValueError("bad input")
    return flops_per_token * tokens_per_s / (peak_flops * world_size)


def mfu_unchecked(flops_per_token, tokens_per_s, peak_flops, world_size=1):  # no ValueError: inf, negatives, 0/0
    if peak_flops is None:
        return None
    den = peak_flops * world_size
    return float("inf") if den == 0 else flops_per_token * tokens_per_s / den


# --------------------------------------------------------------------------- shard

def _shard(fn, batch, rank, world):
    out = fn(batch, rank, world)
    assert isinstance(out, list), f"shard(batch of {len(batch)}, rank {rank}, world {world}): expected a list, " \
                                  f"got {_kind(out)}"
    return out


def check_shard_hand_value(fn):
    """shard([10, 11, 12, 13, 14, 15], rank=1, world=3) is [12, 13]: the second of three consecutive pieces."""
    got = _shard(fn, [10, 11, 12, 13, 14, 15], 1, 3)
    assert got == [12, 13], f"shard([10, ..., 15], rank 1, world 3): expected [12, 13], got {got}"


def check_shard_union_is_the_batch(fn):
    """For world 1, 2, 4 and 8 on a batch of 8, the shards of ranks 0, 1, ... concatenated in order are
    exactly the batch (nothing dropped, nothing repeated), each of length 8 / world."""
    batch = list("abcdefgh")
    for world in (1, 2, 4, 8):
        shards = [_shard(fn, list(batch), r, world) for r in range(world)]
        assert all(len(s) == 8 // world for s in shards), \
            f"world {world}: expected shards of {8 // world} rows, got lengths {[len(s) for s in shards]}"
        joined = [x for s in shards for x in s]
        assert joined == batch, f"world {world}: the shards of ranks 0..{world - 1} joined give {joined}, " \
                                f"expected the batch {batch}"


def check_shard_keeps_groups_whole(fn):
    """GRPO's layout: 4 prompts x G = 3 answers as consecutive rows, 2 processes: each process gets
    2 whole groups (prompts 0, 1 and prompts 2, 3), so every group's statistics are computed in one place."""
    batch = [(p, i) for p in range(4) for i in range(3)]                 # (prompt, answer)
    for rank in (0, 1):
        got = _shard(fn, list(batch), rank, 2)
        want = batch[6 * rank:6 * rank + 6]
        assert got == want, f"shard(4 groups of 3 consecutive rows, rank {rank}, world 2): expected the rows of " \
                            f"prompts {[2 * rank, 2 * rank + 1]}, {want}, got {got}"


def check_shard_not_divisible_raises(fn):
    """A world size that does not divide the batch raises ValueError (10 rows over 4, 3 over 2)."""
    for n, world in ((10, 4), (3, 2)):
        try:
            out = fn(list(range(n)), 0, world)
        except ValueError:
            continue
        raise AssertionError(f"shard(batch of {n}, rank 0, world {world}): expected ValueError, got {out!r}")


def check_shard_input_untouched(fn):
    """The global batch is not modified (every process builds it and the trainer reuses it), and the
    result is a new list, not the batch itself."""
    batch = [5, 6, 7, 8]
    got = _shard(fn, batch, 1, 2)
    assert batch == [5, 6, 7, 8], f"shard modified its input: [5, 6, 7, 8] became {batch}"
    assert got == [7, 8], f"shard([5, 6, 7, 8], rank 1, world 2): expected [7, 8], got {got}"
    whole = _shard(fn, batch, 0, 1)
    assert whole == batch and whole is not batch, "shard(batch, 0, 1): expected a new list equal to the batch"


def shard_strided(batch, rank, world):  # every world-th row: splits GRPO's groups across processes
    if len(batch) % world:
        raise ValueError("not divisible")
    return batch[rank::world]


def shard_drops_remainder(batch, rank, world):  # no error: the last len % world rows are never trained on
    n = len(batch) // world
    return batch[rank * n:(rank + 1) * n]


def shard_ranks_reversed(batch, rank, world):  # rank 0 takes the last piece
    if len(batch) % world:
        raise ValueError("not divisible")
    n = len(batch) // world
    r = world - 1 - rank
    return batch[r * n:(r + 1) * n]


def shard_pops_rows(batch, rank, world):  # takes its rows out of the caller's list
    if len(batch) % world:
        raise ValueError("not divisible")
    n = len(batch) // world
    out = batch[rank * n:(rank + 1) * n]
    del batch[rank * n:(rank + 1) * n]
    return out


def shard_returns_the_batch_alone(batch, rank, world):  # world 1 hands back the caller's list itself
    if len(batch) % world:
        raise ValueError("not divisible")
    if world == 1:
        return batch
    n = len(batch) // world
    return batch[rank * n:(rank + 1) * n]


# --------------------------------------------------------------------------- data_parallel_loss

def reference_data_parallel_loss(logprobs, mask, n_tokens_all, world_size):
    """sft.train_sft's weighting: the shard's token mean x (its tokens x world / all tokens), i.e.
    -world x (the shard's sum) / (all tokens); 0, not NaN, when there is no token."""
    n_all = torch.as_tensor(n_tokens_all, dtype=torch.float32).clamp(min=1)
    n_k = mask.sum()
    shard_mean = -(logprobs * mask).sum() / n_k.clamp(min=1)
    return shard_mean * n_k * world_size / n_all


def _scalar_loss(out, what):
    assert isinstance(out, torch.Tensor) and out.dim() == 0, f"{what}: expected a scalar tensor, got {_kind(out)}"
    assert torch.isfinite(out.detach()), f"{what}: expected a finite loss, got {float(out.detach())}"
    return out


def _backward(loss, what):
    assert loss.requires_grad, f"{what} carries no gradient: compute it from the logprobs " \
                               "(no .detach(), no .item(), no new tensor built from numbers)"
    loss.backward()


class _Toy:
    """A tiny shared "model": log-probs of target tokens from per-row features, log_softmax(x W)."""

    def __init__(self, seed=0, rows=6, T=5, V=4, D=3):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(rows, T, D, generator=g, dtype=torch.float64)
        self.y = torch.randint(0, V, (rows, T), generator=g)
        self.W0 = torch.randn(D, V, generator=g, dtype=torch.float64)

    def logprobs(self, W, rows):
        lp = torch.log_softmax(self.x[rows] @ W, -1)
        return lp.gather(-1, self.y[rows, :, None]).squeeze(-1)            # (rows, T)


def _dp_gradients(fn, toy, mask, shards, n_as_tensor=False):
    """(gradient of the one-process token mean, average over the processes of the gradients of fn)."""
    W = toy.W0.clone().requires_grad_(True)
    rows_all = [r for s in shards for r in s]
    lp = toy.logprobs(W, rows_all)
    m = mask[rows_all]
    (-(lp * m).sum() / m.sum()).backward()
    want = W.grad.clone()
    n_all = mask[rows_all].sum()
    grads = []
    for k, rows in enumerate(shards):
        Wk = toy.W0.clone().requires_grad_(True)
        n = n_all.clone() if n_as_tensor else int(n_all)
        loss = _scalar_loss(fn(toy.logprobs(Wk, rows), mask[rows], n, len(shards)),
                            f"data_parallel_loss on process {k}")
        _backward(loss, f"data_parallel_loss on process {k}")
        grads.append(Wk.grad.clone())
    return want, torch.stack(grads).mean(0)                            # DDP: equal weights


def check_dp_hand_value(fn):
    """logprobs [[-1, -2, -3]], mask [[1, 1, 0]], 4 tokens in the global batch, 2 processes:
    -2 x (-1 - 2) / 4 = 1.5 (this shard's share of the global token mean, times the 2 that DDP's
    averaging divides by)."""
    lp = torch.tensor([[-1.0, -2.0, -3.0]], requires_grad=True)
    out = _scalar_loss(fn(lp, torch.tensor([[1.0, 1.0, 0.0]]), 4, 2), "data_parallel_loss(hand example)")
    assert abs(float(out.detach()) - 1.5) < 1e-6, \
        f"data_parallel_loss(logprobs [[-1, -2, -3]], mask [[1, 1, 0]], n_tokens_all 4, world_size 2): " \
        f"expected 1.5, got {float(out.detach()):.6g}"


def check_dp_one_process_is_the_masked_mean(fn):
    """world_size 1 with n_tokens_all = mask.sum(): the plain masked mean, value and gradient
    (d loss / d logprobs = -mask / 5 for 5 tokens out of 8 positions)."""
    lp = torch.tensor([[-0.5, -1.0, -4.0, -9.0], [-2.0, -0.25, -1.5, -7.0]], requires_grad=True)
    m = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    out = _scalar_loss(fn(lp, m, 5, 1), "data_parallel_loss(world_size 1)")
    assert abs(float(out.detach()) - (1.0 + 4.0 + 2.0 + 0.25 + 1.5) / 5) < 1e-6, \
        f"data_parallel_loss with one process: expected the masked mean 1.75, got {float(out.detach()):.6g}"
    _backward(out, "data_parallel_loss")
    assert torch.allclose(lp.grad, -m / 5, atol=1e-6), \
        f"d loss / d logprobs with one process: expected -mask / 5, got {lp.grad.tolist()}"


def check_dp_equal_shards_match_one_process(fn):
    """Two processes whose shards hold the same number of response tokens (3 and 3): the average of
    their gradients (DDP) equals the gradient of one process on the whole batch."""
    toy = _Toy(seed=1, rows=4)
    mask = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 1, 1, 0, 0]], dtype=torch.float64)
    want, got = _dp_gradients(fn, toy, mask, [[0, 1], [2, 3]])
    assert torch.allclose(got, want, atol=1e-9), \
        f"two shards of 3 tokens each: the average of the processes' gradients should be the one-process " \
        f"gradient {[round(x, 5) for x in want.flatten().tolist()[:4]]}..., got " \
        f"{[round(x, 5) for x in got.flatten().tolist()[:4]]}..."


def check_dp_unequal_shards_match_one_process(fn):
    """Shards with 1 and 7 response tokens (2 processes), and 2, 5 and 9 (3 processes): the average of
    the gradients still equals the one-process gradient of the token mean, which needs each process's
    loss weighted by its share of the tokens. n_tokens_all is passed as an int and as a 0-d tensor
    (what an all-reduce of mask.sum() gives)."""
    toy = _Toy(seed=2, rows=6)
    mask = torch.zeros(6, 5, dtype=torch.float64)
    for r, (s, e) in enumerate(((1, 2), (0, 4), (1, 4), (2, 5), (0, 5), (0, 4))):
        mask[r, s:e] = 1
    for shards in ([[0], [1, 2]], [[0, 2], [3, 5], [1, 4]]):
        counts = [int(mask[s].sum()) for s in shards]
        for as_tensor in (False, True):
            want, got = _dp_gradients(fn, toy, mask, shards, n_as_tensor=as_tensor)
            ratio = float(got.norm() / want.norm())
            assert torch.allclose(got, want, atol=1e-9), \
                f"{len(shards)} shards with {counts} response tokens (n_tokens_all as " \
                f"{'a tensor' if as_tensor else 'an int'}): the average of the processes' gradients is not the " \
                f"one-process gradient of the token mean (norm ratio {ratio:.4f}, expected 1; max difference " \
                f"{float((got - want).abs().max()):.3g})"


def check_dp_empty_shard(fn):
    """A shard without a response token gives loss 0 and a zero gradient, not NaN (the other processes
    carry the batch); a global batch without one (n_tokens_all 0) gives 0 too."""
    lp = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]], requires_grad=True)
    for n_all in (6, 0):
        out = _scalar_loss(fn(lp, torch.zeros(2, 2), n_all, 2),
                           f"data_parallel_loss(empty shard, n_tokens_all {n_all})")
        assert abs(float(out.detach())) < 1e-12, \
            f"data_parallel_loss with an all-zero mask, n_tokens_all {n_all}: expected 0, got {float(out.detach())}"
        if out.requires_grad:
            lp.grad = None
            out.backward()
            assert lp.grad is None or (torch.isfinite(lp.grad).all() and not lp.grad.any()), \
                f"data_parallel_loss with an all-zero mask: expected a zero gradient, got {lp.grad.tolist()}"


def dp_plain_shard_mean(logprobs, mask, n_tokens_all, world_size):  # DDP then averages shard means: unweighted
    return -(logprobs * mask).sum() / mask.sum().clamp(min=1)


def dp_share_without_world(logprobs, mask, n_tokens_all, world_size):  # right direction, 1/world of the size
    return -(logprobs * mask).sum() / max(1, int(n_tokens_all))


def dp_world_times_shard_mean(logprobs, mask, n_tokens_all, world_size):  # compensates DDP's 1/world, not the tokens
    return -world_size * (logprobs * mask).sum() / mask.sum().clamp(min=1)


def dp_nan_on_empty(logprobs, mask, n_tokens_all, world_size):  # sft's formula without the clamp: 0/0 on an empty shard
    n_k = mask.sum()
    return -(logprobs * mask).sum() / n_k * n_k * world_size / n_tokens_all


def dp_sum(logprobs, mask, n_tokens_all, world_size):  # a sum over tokens: scales with the batch
    return -(logprobs * mask).sum()


def dp_weight_inverted(logprobs, mask, n_tokens_all, world_size):  # the share turned upside down
    n_k = mask.sum().clamp(min=1)
    return -(logprobs * mask).sum() / n_k * max(1, int(n_tokens_all)) / (n_k * world_size)


# --------------------------------------------------------------------------- bytes_per_parameter

def reference_bytes_per_parameter(trained, precision="float32"):
    """Chapter 9, section 9.4 (float32: 4 + 4 + 8 trained, 4 frozen) and chapter 5, section 5.9
    (mixed precision: 2 + 2 + 12 trained, 2 frozen)."""
    if precision == "float32":
        w, g, o = 4, 4, 8
    elif precision == "mixed":
        w, g, o = 2, 2, 12
    else:
        raise ValueError(f"unknown precision {precision!r}; use 'float32' or 'mixed'")
    return {"weights": w, "grads": g if trained else 0, "optimizer": o if trained else 0}


def _bpp(fn, *args, **kwargs) -> dict:
    what = f"bytes_per_parameter({', '.join([repr(a) for a in args] + [f'{k}={v!r}' for k, v in kwargs.items()])})"
    out = fn(*args, **kwargs)
    assert isinstance(out, dict) and set(out) == {"weights", "grads", "optimizer"}, \
        f"{what}: expected a dict with keys 'weights', 'grads', 'optimizer', got " \
        f"{sorted(out) if isinstance(out, dict) else _kind(out)}"
    assert all(_is_int(v) for v in out.values()), f"{what}: expected Python ints, got {out}"
    return out


def check_bpp_float32_trained(fn):
    """A trained float32 model (the default precision): 4 bytes of weights, 4 of gradients and 8 of
    AdamW's two moments, 16 in all."""
    got = _bpp(fn, True)
    assert got == {"weights": 4, "grads": 4, "optimizer": 8}, \
        f"bytes_per_parameter(True): expected weights 4, grads 4, optimizer 8 (two Adam moments), got {got}"


def check_bpp_frozen(fn):
    """A frozen model keeps its weights only: 4 bytes in float32, 2 in mixed precision (bf16 weights)."""
    for precision, w in (("float32", 4), ("mixed", 2)):
        got = _bpp(fn, False, precision)
        assert got == {"weights": w, "grads": 0, "optimizer": 0}, \
            f"bytes_per_parameter(False, {precision!r}): expected weights {w}, grads 0, optimizer 0 " \
            f"(a frozen model has no gradients and no optimizer), got {got}"


def check_bpp_mixed_trained(fn):
    """Mixed precision, trained: bf16 weights (2) and gradients (2), and 12 bytes of optimizer state,
    the float32 master weights and the two float32 moments: 16 in all, the same as float32."""
    got = _bpp(fn, True, precision="mixed")
    assert got == {"weights": 2, "grads": 2, "optimizer": 12}, \
        f"bytes_per_parameter(True, 'mixed'): expected weights 2, grads 2, optimizer 12 " \
        f"(fp32 master copy + two fp32 moments), got {got}"


def check_bpp_unknown_precision_raises(fn):
    """An unknown precision ("fp32", "bf16", "") raises ValueError instead of falling back to float32."""
    for precision in ("fp32", "bf16", ""):
        try:
            out = fn(True, precision)
        except ValueError:
            continue
        raise AssertionError(f"bytes_per_parameter(True, {precision!r}): expected ValueError, got {out!r}")


def bpp_adam_states_once(trained, precision="float32"):  # one moment buffer instead of two
    out = reference_bytes_per_parameter(trained, precision)
    return {**out, "optimizer": out["optimizer"] - 4 if trained else 0}


def bpp_frozen_with_grads(trained, precision="float32"):  # a frozen model charged for gradients
    out = reference_bytes_per_parameter(True, precision)
    return out if trained else {**out, "optimizer": 0}


def bpp_frozen_like_trained(trained, precision="float32"):  # every model costs 16 bytes
    return reference_bytes_per_parameter(True, precision)


def bpp_mixed_without_master_copy(trained, precision="float32"):  # forgets the fp32 master weights: 12 bytes
    out = reference_bytes_per_parameter(trained, precision)
    return {**out, "optimizer": 8} if precision == "mixed" and trained else out


def bpp_mixed_frozen_in_float32(trained, precision="float32"):  # a frozen model kept at 4 bytes in mixed precision
    out = reference_bytes_per_parameter(trained, precision)
    return {**out, "weights": 4} if precision == "mixed" and not trained else out


def bpp_unknown_is_float32(trained, precision="float32"):  # a typo silently means float32
    return reference_bytes_per_parameter(trained, "mixed" if precision == "mixed" else "float32")


# --------------------------------------------------------------------------- models_held

ALGOS = ("sft", "reinforce", "a2c", "ppo", "rlhf", "dpo", "grpo")


def reference_models_held(algo, kl_coef=0.0, reward_model=False):
    """minirl's own accounting (memory.models_held, chapter 9, section 9.4) split into (trained, frozen).
    DPO keeps no reference network: dpo.train_dpo computes the reference's log-probs of its fixed
    pairs once, before training."""
    table = {"sft": (1, 0), "reinforce": (1, 0), "a2c": (2, 0), "ppo": (2, 1 + bool(reward_model)), "rlhf": (2, 2),
             "dpo": (1, 0), "grpo": (1, int(kl_coef > 0))}
    if algo not in table:
        raise ValueError(f"unknown algo {algo!r}; one of {', '.join(ALGOS)}")
    return table[algo]


def _held(fn, algo, **kwargs) -> tuple:
    what = f"models_held({algo!r}{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
    out = fn(algo, **kwargs)
    assert isinstance(out, tuple) and len(out) == 2 and all(_is_int(x) for x in out), \
        f"{what}: expected a tuple of two ints (trained, frozen), got {out!r}"
    return out


def check_held_chapter_table(fn):
    """Every algorithm: SFT and REINFORCE (1, 0), A2C (2, 0), PPO (2, 1), RLHF (2, 2), DPO (1, 0: the
    reference's log-probs of the fixed pairs are computed once, before training), GRPO (1, 0) with
    kl_coef 0 and (1, 1) with kl_coef 0.04."""
    rows = [("sft", {}, (1, 0)), ("reinforce", {}, (1, 0)), ("a2c", {}, (2, 0)), ("ppo", {}, (2, 1)),
            ("rlhf", {}, (2, 2)), ("dpo", {}, (1, 0)), ("grpo", {}, (1, 0)), ("grpo", {"kl_coef": 0.04}, (1, 1))]
    for algo, kw, want in rows:
        got = _held(fn, algo, **kw)
        assert got == want, f"models_held({algo!r}{', kl_coef=0.04' if kw else ''}): expected (trained, frozen) = " \
                            f"{want}, got {got}"


def check_held_totals_match_minirl(fn):
    """trained + frozen is the number of networks minirl's memory.models_held reports for the same
    run (chapter 8's comparison prints it), for every algorithm, with and without a reward model or a KL."""
    for algo in ALGOS:
        for kl_coef, rm in ((0.0, False), (0.1, False), (0.0, True)):
            cfg = SimpleNamespace(kl_coef=kl_coef, reward_model="runs/rm/model.pt" if rm else "")
            kw = {"kl_coef": kl_coef} if algo == "grpo" else {"reward_model": rm} if algo == "ppo" else {}
            if (kl_coef and algo != "grpo") or (rm and algo != "ppo"):
                continue
            got = _held(fn, algo, **kw)
            want = memory.models_held(algo, cfg)
            assert sum(got) == want, f"models_held({algo!r}, {kw}): {got} is {sum(got)} networks, minirl holds {want}"


def check_held_options(fn):
    """PPO with a learned reward model is RLHF (2, 2); kl_coef matters only for GRPO and reward_model only
    for PPO (DPO with kl_coef 0.1 is still (1, 0), GRPO with reward_model=True still (1, 0))."""
    cases = [("ppo", {"reward_model": True}, (2, 2)), ("dpo", {"kl_coef": 0.1}, (1, 0)),
             ("grpo", {"reward_model": True}, (1, 0)), ("ppo", {"kl_coef": 0.5}, (2, 1)), ("grpo", {"kl_coef": 0.0}, (1, 0))]
    for algo, kw, want in cases:
        got = _held(fn, algo, **kw)
        assert got == want, f"models_held({algo!r}, {kw}): expected {want}, got {got}"


def check_held_unknown_algo_raises(fn):
    """An unknown algorithm ("PPO", "trpo", "") raises ValueError instead of guessing."""
    for algo in ("PPO", "trpo", ""):
        try:
            out = fn(algo)
        except ValueError:
            continue
        raise AssertionError(f"models_held({algo!r}): expected ValueError, got {out!r}")


def held_critic_frozen(algo, kl_coef=0.0, reward_model=False):  # counts the critic as a frozen network
    t, f = reference_models_held(algo, kl_coef, reward_model)
    return (t - 1, f + 1) if algo in ("a2c", "ppo", "rlhf") else (t, f)


def held_grpo_always_reference(algo, kl_coef=0.0, reward_model=False):  # a reference even at kl_coef 0
    return (1, 1) if algo == "grpo" else reference_models_held(algo, kl_coef, reward_model)


def held_dpo_keeps_reference(algo, kl_coef=0.0, reward_model=False):  # a reference network minirl never keeps
    return (1, 1) if algo == "dpo" else reference_models_held(algo, kl_coef, reward_model)


def held_ppo_ignores_reward_model(algo, kl_coef=0.0, reward_model=False):
    return reference_models_held(algo, kl_coef, False)


def held_unknown_is_one_model(algo, kl_coef=0.0, reward_model=False):  # a typo silently counts one network
    try:
        return reference_models_held(algo, kl_coef, reward_model)
    except ValueError:
        return (1, 0)


def held_beta_everywhere(algo, kl_coef=0.0, reward_model=False):  # any kl_coef adds a reference, whatever the method
    t, f = reference_models_held(algo, kl_coef, reward_model)
    return (t, f + 1) if kl_coef > 0 and algo != "grpo" else (t, f)


# --------------------------------------------------------------------------- training_memory_mib

def reference_training_memory_mib(algo, n_params, precision="float32", kl_coef=0.0, reward_model=False):
    """n_params x (trained x 16 + frozen x 4 (float32) or 2 (mixed)) bytes, in MiB."""
    if n_params < 0:
        raise ValueError(f"n_params must be >= 0, got {n_params}")
    trained, frozen = reference_models_held(algo, kl_coef, reward_model)
    per_trained = sum(reference_bytes_per_parameter(True, precision).values())
    per_frozen = sum(reference_bytes_per_parameter(False, precision).values())
    return float(n_params * (trained * per_trained + frozen * per_frozen) / MIB)


def _mib(fn, algo, n, **kwargs) -> tuple[float, str]:
    what = f"training_memory_mib({algo!r}, {n:,}{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
    return _float(fn(algo, n, **kwargs), what), what


def check_mem_chapter9_table_default_model(fn):
    """The default model (800,384 parameters), as in chapter 9's table: SFT 12.2 MiB, A2C 24.4, PPO 27.5,
    RLHF 30.5, GRPO 12.2 (15.3 with a KL reference), DPO 12.2 (its policy alone); exactly n x bytes / 2^20."""
    rows = [("sft", {}, 16, 12.2), ("a2c", {}, 32, 24.4), ("ppo", {}, 36, 27.5), ("rlhf", {}, 40, 30.5),
            ("dpo", {}, 16, 12.2), ("grpo", {}, 16, 12.2), ("grpo", {"kl_coef": 0.04}, 20, 15.3)]
    for algo, kw, nbytes, table in rows:
        got, what = _mib(fn, algo, N_DEFAULT, **kw)
        _close(got, N_DEFAULT * nbytes / MIB, f"{what} ({nbytes} bytes per parameter, about {table} MiB)",
               rel=1e-9)


def check_mem_chapter9_table_gpu_preset(fn):
    """The same for the --preset gpu model (25,248,256 parameters): SFT 385 MiB, A2C 771 (770.5),
    PPO 867, RLHF 963, GRPO with a KL reference 482."""
    for algo, kw, nbytes, table in (("sft", {}, 16, 385), ("a2c", {}, 32, 771), ("ppo", {}, 36, 867),
                                    ("rlhf", {}, 40, 963), ("grpo", {"kl_coef": 0.04}, 20, 482)):
        got, what = _mib(fn, algo, N_PRESET, **kw)
        _close(got, N_PRESET * nbytes / MIB, f"{what} ({nbytes} bytes per parameter, about {table} MiB)", rel=1e-9)


def check_mem_mixed_precision_7b_rlhf(fn):
    """Chapter 5, section 5.9: RLHF with a 7e9-parameter policy in mixed precision holds
    2 x 112 GB (trained) + 2 x 14 GB (frozen) = 252e9 bytes = 240,325.9 MiB; the same policy with
    GRPO (kl_coef 0) holds 112e9 bytes = 106,811.5 MiB."""
    got, what = _mib(fn, "rlhf", 7 * 10 ** 9, precision="mixed")
    _close(got, 252e9 / MIB, f"{what} (252 GB, in MiB)", rel=1e-9)
    got, what = _mib(fn, "grpo", 7 * 10 ** 9, precision="mixed")
    _close(got, 112e9 / MIB, f"{what} (112 GB, in MiB)", rel=1e-9)


def check_mem_options(fn):
    """PPO with a learned reward model costs what RLHF costs (2 x 16 + 2 x 4 bytes per parameter), and
    0 parameters cost 0.0."""
    got, what = _mib(fn, "ppo", 1_000_000, reward_model=True)
    _close(got, 40e6 / MIB, f"{what} (= RLHF)", rel=1e-9)
    got, what = _mib(fn, "a2c", 0)
    assert got == 0.0, f"{what}: expected 0.0, got {got}"


def check_mem_bad_input_raises(fn):
    """An unknown algorithm or precision, or a negative parameter count, raises ValueError."""
    for args, kw in ((("trpo", 1000), {}), (("sft", 1000), {"precision": "bf16"}), (("sft", -1), {})):
        try:
            out = fn(*args, **kw)
        except ValueError:
            continue
        raise AssertionError(f"training_memory_mib{args}{' ' + str(kw) if kw else ''}: expected ValueError, "
                             f"got {out!r}")


def _mem_variant(per_trained, per_frozen, mib=MIB):
    def mem(algo, n_params, precision="float32", kl_coef=0.0, reward_model=False):
        if n_params < 0:
            raise ValueError("negative")
        trained, frozen = reference_models_held(algo, kl_coef, reward_model)
        reference_bytes_per_parameter(True, precision)              # raises for an unknown precision
        return float(n_params * (trained * per_trained(precision) + frozen * per_frozen(precision)) / mib)
    return mem


def _full(precision):
    return sum(reference_bytes_per_parameter(True, precision).values())


def _weights(precision):
    return sum(reference_bytes_per_parameter(False, precision).values())


mem_adam_states_once = _mem_variant(lambda p: _full(p) - 4, _weights)          # 12 bytes per trained parameter
mem_adam_states_once.__name__ = "mem_adam_states_once"
mem_frozen_like_trained = _mem_variant(_full, _full)                            # every network 16 bytes
mem_frozen_like_trained.__name__ = "mem_frozen_like_trained"
mem_megabytes = _mem_variant(_full, _weights, mib=10 ** 6)                      # MB, not MiB
mem_megabytes.__name__ = "mem_megabytes"
mem_weights_only = _mem_variant(_weights, _weights)                             # forgets gradients and AdamW
mem_weights_only.__name__ = "mem_weights_only"
mem_mixed_frozen_in_float32 = _mem_variant(_full, lambda p: 4)                  # frozen copies kept in float32
mem_mixed_frozen_in_float32.__name__ = "mem_mixed_frozen_in_float32"


# --------------------------------------------------------------------------- set_lr

def _optimizer(n_groups=1):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5 + i} for i in range(n_groups)]
    return torch.optim.SGD(groups, lr=0.5)


def _cfg(lr=1e-3, lr_schedule="cosine", steps=11, warmup=0):
    return SimpleNamespace(lr=lr, lr_schedule=lr_schedule, steps=steps, warmup=warmup)


def _lr(fn, cfg, step, n_groups=1):
    opt = _optimizer(n_groups)
    what = f"set_lr(step {step}; lr {cfg.lr:g}, {cfg.lr_schedule}, {cfg.steps} steps, warmup {cfg.warmup})"
    out = fn(opt, cfg, step)
    assert _is_number(out), f"{what}: expected the learning rate as a Python float, got {_kind(out)}"
    groups = [g["lr"] for g in opt.param_groups]
    assert all(_is_number(g) and math.isclose(g, out, rel_tol=1e-12) for g in groups), \
        f"{what}: returned {out:.6g} but the optimizer's param groups hold {groups}: set group['lr'] in every group"
    return float(out), what


def _cos(step, steps):
    frac = min(1.0, step / max(1, steps - 1))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))


def check_lr_constant(fn):
    """"constant" without warmup: cfg.lr at every step, written into the optimizer."""
    for step in (0, 3, 10):
        got, what = _lr(fn, _cfg(lr=3e-4, lr_schedule="constant"), step)
        _close(got, 3e-4, what, rel=1e-12)


def check_lr_cosine_hand_values(fn):
    """"cosine", 11 steps, lr 1e-3: 1e-3 at step 0, 5.5e-4 half way (step 5), 1e-4 at the last step
    (step 10), and still 1e-4 past the end (step 12)."""
    for step, want in ((0, 1e-3), (5, 5.5e-4), (10, 1e-4), (12, 1e-4), (2, 1e-3 * _cos(2, 11))):
        got, what = _lr(fn, _cfg(), step)
        _close(got, want, what, rel=1e-9)


def check_lr_warmup(fn):
    """warmup 4: the rate is scaled by (step + 1) / 4 for steps 0..3 (1/4, 1/2, 3/4, 1) and left alone
    after; with the cosine the two factors multiply (step 1 of 11: 0.5 x the cosine's value)."""
    for step, scale in ((0, 0.25), (1, 0.5), (2, 0.75), (3, 1.0), (6, 1.0)):
        got, what = _lr(fn, _cfg(lr=2e-3, lr_schedule="constant", warmup=4), step)
        _close(got, 2e-3 * scale, what, rel=1e-9)
    got, what = _lr(fn, _cfg(warmup=4), 1)
    _close(got, 1e-3 * _cos(1, 11) * 0.5, what, rel=1e-9)


def check_lr_every_param_group(fn):
    """An optimizer with two param groups (a policy and its head, say): both get the new rate."""
    got, what = _lr(fn, _cfg(lr_schedule="constant"), 0, n_groups=2)
    _close(got, 1e-3, what, rel=1e-12)


def check_lr_one_step_run(fn):
    """A run of one step (steps 1, so steps - 1 = 0: no 0 / 0) has the full rate at step 0, and
    warmup 1 scales nothing."""
    got, what = _lr(fn, _cfg(steps=1, warmup=1), 0)
    _close(got, 1e-3, what, rel=1e-12)


def _set(optimizer, lr):
    for g in optimizer.param_groups:
        g["lr"] = lr
    return lr


def lr_warmup_from_zero(optimizer, cfg, step):  # step / warmup: the first step does nothing
    lr = optim.set_lr(optimizer, SimpleNamespace(**{**vars(cfg), "warmup": 0}), step)
    return _set(optimizer, lr * min(1.0, step / max(1, cfg.warmup)))


def lr_cosine_to_zero(optimizer, cfg, step):  # decays to 0 instead of 0.1 lr
    lr = cfg.lr
    if cfg.lr_schedule == "cosine":
        lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, cfg.steps - 1))))
    return _set(optimizer, lr * min(1.0, (step + 1) / max(1, cfg.warmup)))


def lr_frac_over_steps(optimizer, cfg, step):  # step / steps: the last step never reaches 0.1 lr
    lr = cfg.lr
    if cfg.lr_schedule == "cosine":
        lr = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / cfg.steps))))
    return _set(optimizer, lr * min(1.0, (step + 1) / max(1, cfg.warmup)))


def lr_first_group_only(optimizer, cfg, step):
    lr = optim.set_lr(_optimizer(), cfg, step)
    optimizer.param_groups[0]["lr"] = lr
    return lr


def lr_not_written(optimizer, cfg, step):  # computes the rate and never tells the optimizer
    return optim.set_lr(_optimizer(), cfg, step)


def lr_no_clamp_past_end(optimizer, cfg, step):  # frac > 1 past the last step: the cosine climbs back up
    lr = cfg.lr
    if cfg.lr_schedule == "cosine":
        lr = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, cfg.steps - 1))))
    return _set(optimizer, lr * min(1.0, (step + 1) / max(1, cfg.warmup)))


# --------------------------------------------------------------------------- tables

REFERENCE = {
    "count_parameters": reference_count_parameters,
    "train_flops_per_token": device.train_flops_per_token,
    "mfu": reference_mfu,
    "shard": device.shard,
    "data_parallel_loss": reference_data_parallel_loss,
    "bytes_per_parameter": reference_bytes_per_parameter,
    "models_held": reference_models_held,
    "training_memory_mib": reference_training_memory_mib,
    "set_lr": optim.set_lr,
}
CHECKS = {
    "count_parameters": [check_count_default_model, check_count_tiny_model_by_hand, check_count_each_part,
                         check_count_against_minirl_models],
    "train_flops_per_token": [check_flops_default_model, check_flops_tiny_model_by_hand, check_flops_attention_term,
                              check_flops_position_table_excluded],
    "mfu": [check_mfu_hand_value, check_mfu_several_devices, check_mfu_no_peak, check_mfu_bad_input_raises],
    "shard": [check_shard_hand_value, check_shard_union_is_the_batch, check_shard_keeps_groups_whole,
              check_shard_not_divisible_raises, check_shard_input_untouched],
    "data_parallel_loss": [check_dp_hand_value, check_dp_one_process_is_the_masked_mean,
                           check_dp_equal_shards_match_one_process, check_dp_unequal_shards_match_one_process,
                           check_dp_empty_shard],
    "bytes_per_parameter": [check_bpp_float32_trained, check_bpp_frozen, check_bpp_mixed_trained,
                            check_bpp_unknown_precision_raises],
    "models_held": [check_held_chapter_table, check_held_totals_match_minirl, check_held_options,
                    check_held_unknown_algo_raises],
    "training_memory_mib": [check_mem_chapter9_table_default_model, check_mem_chapter9_table_gpu_preset,
                            check_mem_mixed_precision_7b_rlhf, check_mem_options, check_mem_bad_input_raises],
    "set_lr": [check_lr_constant, check_lr_cosine_hand_values, check_lr_warmup, check_lr_every_param_group,
               check_lr_one_step_run],
}
BUGGY = {
    "count_parameters": [count_untied_output, count_without_biases, count_forgets_final_layernorm,
                         count_without_position_table, count_mlp_not_widened],
    "train_flops_per_token": [flops_forward_only, flops_no_attention, flops_with_position_table, flops_block_size,
                              flops_attention_per_sequence],
    "mfu": [mfu_ignores_world, mfu_times_world, mfu_percent, mfu_no_none_branch, mfu_unchecked],
    "shard": [shard_strided, shard_drops_remainder, shard_ranks_reversed, shard_pops_rows,
              shard_returns_the_batch_alone],
    "data_parallel_loss": [dp_plain_shard_mean, dp_share_without_world, dp_world_times_shard_mean, dp_nan_on_empty,
                           dp_sum, dp_weight_inverted],
    "bytes_per_parameter": [bpp_adam_states_once, bpp_frozen_with_grads, bpp_frozen_like_trained,
                            bpp_mixed_without_master_copy, bpp_mixed_frozen_in_float32, bpp_unknown_is_float32],
    "models_held": [held_critic_frozen, held_grpo_always_reference, held_dpo_keeps_reference,
                    held_ppo_ignores_reward_model, held_unknown_is_one_model, held_beta_everywhere],
    "training_memory_mib": [mem_adam_states_once, mem_frozen_like_trained, mem_megabytes, mem_weights_only,
                            mem_mixed_frozen_in_float32],
    "set_lr": [lr_warmup_from_zero, lr_cosine_to_zero, lr_frac_over_steps, lr_first_group_only, lr_not_written,
               lr_no_clamp_past_end],
}
