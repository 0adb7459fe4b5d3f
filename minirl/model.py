"""A tiny GPT: the policy (and, with a scalar head, the critic / reward model) of every algorithm.

One readable file in the spirit of nanoGPT. A decoder-only transformer (Radford et al. 2019):

    h_0 = E_tok[x_t] + E_pos[t]
    h_l = h_{l-1} + Attn(LN(h_{l-1}));  h_l = h_l + MLP(LN(h_l))      (pre-LayerNorm blocks)
    logits = LN(h_L) @ E_tok^T                                         (weight tying)

Attention is causal: position t may look at positions <= t only. `generate` samples with a
key/value cache: each new token runs the network on one position and attends to the cached keys
and values of the prefix. Chapter: chapters/02-tiny-gpt-and-sft.md, 2.2 (the KV cache included).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 32
    block_size: int = 32
    n_layer: int = field(default=4, metadata={"help": "number of transformer blocks"})
    n_head: int = field(default=4, metadata={"help": "attention heads per block"})
    n_embd: int = field(default=128, metadata={"help": "width of the residual stream"})
    dropout: float = 0.0
    flash: bool = True  # use F.scaled_dot_product_attention; False = the readable manual path

    def __post_init__(self):
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}; "
                             f"pick e.g. n_embd={self.n_head * max(1, self.n_embd // self.n_head)}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


def causal_mask(T: int, device=None) -> torch.Tensor:
    """(T, T) boolean mask, True where query t may attend to key s, i.e. s <= t."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


class KVCache:
    """Pre-allocated keys and values for every layer: (n_layer, B, n_head, T_max, head_dim)."""

    def __init__(self, config: GPTConfig, batch_size: int, max_len: int, device, dtype):
        hd = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, max_len, hd)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # number of positions already written

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Write k, v (B, H, T, hd) at positions [pos, pos+T); return all keys/values so far."""
        T = k.size(2)
        self.k[layer, :, :, self.pos:self.pos + T] = k
        self.v[layer, :, :, self.pos:self.pos + T] = v
        return self.k[layer, :, :, :self.pos + T], self.v[layer, :, :, :self.pos + T]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.flash = config.flash
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x, cache: KVCache | None = None, layer: int = 0):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                              # 3 x (B, T, C)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        start = 0                                                          # q, k, v: (B, H, T, hd)
        if cache is not None:
            start = cache.pos
            k, v = cache.update(layer, k, v)                               # (B, H, start+T, hd)
        S = k.size(2)
        # query i (absolute position start+i) may see keys 0..start+i
        if T == 1:
            mask = None                                                    # one new token sees all
        elif start == 0:
            mask = "causal"
        else:
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=start)
        p = self.dropout if self.training else 0.0
        if self.flash:
            if mask == "causal":
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
            else:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))         # (B, H, T, S)
            if mask is not None:
                allowed = causal_mask(T, x.device) if mask == "causal" else mask
                att = att.masked_fill(~allowed, float("-inf"))
            att = F.dropout(F.softmax(att, dim=-1), p=p, training=self.training)
            y = att @ v                                                    # (B, H, T, hd)
        y = y.transpose(1, 2).contiguous().view(B, T, C)                   # (B, T, C)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(),
                                 nn.Linear(4 * config.n_embd, config.n_embd),
                                 nn.Dropout(config.dropout))

    def forward(self, x, cache=None, layer=0):
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Causal language model: tokens (B, T) -> next-token logits (B, T, V)."""

    amp_dtype: torch.dtype | None = None   # torch.bfloat16: autocast (device.configure_model)
    compiled_forward = None                # --compile: compiled self.compute (device.compile_plan)

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by 1/sqrt(2L)
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def hidden(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """idx (B, T) -> final hidden states (B, T, C). With a cache, idx continues the cached
        prefix."""
        B, T = idx.shape
        start = cache.pos if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of length {start + T} exceeds block_size="
                             f"{self.config.block_size}; use a larger --block_size or shorter "
                             f"sequences")
        pos = torch.arange(start, start + T, device=idx.device)
        # mixed precision (GPU): matmuls in bfloat16, weights and LayerNorms in float32
        with torch.autocast(idx.device.type, dtype=self.amp_dtype or torch.bfloat16,
                            enabled=self.amp_dtype is not None):
            x = self.drop(self.wte(idx) + self.wpe(pos))                  # (B, T, C)
            for i, block in enumerate(self.blocks):
                x = block(x, cache, i)
        if cache is not None:
            cache.pos += T
        return self.ln_f(x.float())

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """self.compute, compiled under --compile for the calls without a cache (training, scoring);
        a KV-cached decode step always runs eager (device.compile_plan says why)."""
        if cache is None and self.compiled_forward is not None:
            return self.compiled_forward(idx)
        return self.compute(idx, cache)

    def compute(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        return self.hidden(idx, cache) @ self.wte.weight.T                # (B, T, V), tied weights


class ScalarHeadGPT(GPT):
    """The same trunk with a scalar head: tokens (B, T) -> one number per position (B, T).

    Used as the critic V(s_t) (A2C, PPO) and as the reward model r(prompt, response). Build one
    from a trained policy with `ScalarHeadGPT.from_policy(policy)` to start from its features.
    """

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.head = nn.Linear(config.n_embd, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def compute(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        return self.head(self.hidden(idx, cache)).squeeze(-1)             # (B, T)

    @classmethod
    def from_policy(cls, policy: GPT) -> "ScalarHeadGPT":
        model = cls(policy.config).to(next(policy.parameters()).device)
        model.load_state_dict(policy.state_dict(), strict=False)         # trunk only; head stays 0
        model.amp_dtype = policy.amp_dtype
        return model


def frozen_copy(model: GPT) -> GPT:
    """A frozen copy of `model` (same class, config, weights, autocast dtype and device): the
    reference policy of PPO, DPO and GRPO. Built fresh rather than with copy.deepcopy, which would
    also copy a `--compile`d forward that still runs the original model. Built on the meta device
    first, so that no random initialisation runs (the random streams of a run stay as they were)."""
    with torch.device("meta"):
        ref = type(model)(model.config)
    ref = ref.to_empty(device=next(model.parameters()).device)
    ref.load_state_dict(model.state_dict())
    ref.amp_dtype = model.amp_dtype
    return ref.eval().requires_grad_(False)


CUDA_CHECK_EVERY = 8   # generate() on a GPU: tokens between two looks at whether all rows ended


@torch.no_grad()
def generate(model: GPT, prompts: torch.Tensor, prompt_lens: torch.Tensor, max_new_tokens: int,
             eos_id: int, pad_id: int, temperature: float = 1.0, top_k: int | None = None,
             greedy: bool = False, use_cache: bool = True, generator: torch.Generator | None = None,
             check_every: int | None = None):
    """Sample continuations for a batch of prompts of different lengths.

    prompts (B, P): right-padded with pad_id; prompt_lens (B,). Returns tokens
    (B, P + max_new_tokens): each row is prompt + response (ending in EOS unless cut at
    max_new_tokens) + pad_id padding.
    Rows with shorter prompts start generating earlier; while a longer prompt is still being read,
    its own prompt token is forced (the "teacher-forced prefix" used by the LLaMA reference code),
    so every row is laid out left-aligned and contiguous, as docs/conventions.md requires.
    check_every: look every k tokens whether all rows have ended (reading `done` makes the CPU wait
    for the GPU); default 1 on a CPU, CUDA_CHECK_EVERY on a GPU. The tokens are the same for any k.
    """
    B, P = prompts.shape
    device = prompts.device
    total = P + max_new_tokens
    if total > model.config.block_size:
        raise ValueError(f"prompt ({P}) + max_new_tokens ({max_new_tokens}) = {total} exceeds "
                         f"block_size={model.config.block_size}; raise --block_size")
    tokens = torch.full((B, total), pad_id, dtype=torch.long, device=device)
    tokens[:, :P] = prompts
    prompt_lens = prompt_lens.to(device)
    is_prompt = torch.arange(total, device=device)[None, :] < prompt_lens[:, None]  # (B, total)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    start = int(prompt_lens.min())
    was_training = model.training
    model.eval()
    dtype = getattr(model, "amp_dtype", None) or next(model.parameters()).dtype
    cache = KVCache(model.config, B, total, device, dtype) if use_cache else None
    k = check_every or (CUDA_CHECK_EVERY if device.type == "cuda" else 1)
    for t in range(start, total):                      # predict token t from tokens[:, :t]
        if cache is not None:
            logits = model(tokens[:, cache.pos:t], cache)[:, -1]           # (B, V)
        else:
            logits = model(tokens[:, :t])[:, -1]                           # (B, V)
        nxt = sample_next(logits, temperature, top_k, greedy, generator)   # (B,)
        forced = is_prompt[:, t]
        nxt = torch.where(forced, tokens[:, t],
                          torch.where(done, torch.full_like(nxt, pad_id), nxt))
        tokens[:, t] = nxt
        done = done | (~forced & (nxt == eos_id))
        if (t - start + 1) % k == 0 and bool(done.all()):          # a host sync: every k tokens
            break
    model.train(was_training)
    return tokens


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                greedy: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, V) -> next token ids (B,) by argmax, or by sampling
    softmax(logits / temperature)."""
    if greedy or temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]            # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
