"""Teacher-forced batches: given token sequences, the log-probabilities a model assigns them.

The one alignment every algorithm shares (docs/conventions.md):

    tokens  (B, T)    [BOS] prompt response [EOS] [PAD ...]
    logp    (B, T-1)  logp[:, t] = log pi(tokens[:, t+1] | tokens[:, :t+1])
    mask    (B, T-1)  1 where tokens[:, t+1] is an action (a response token, its EOS included)

so `logp * mask` keeps exactly the log-probabilities of the actions the policy took. SFT, DPO and
the reward model build their batches with `encode_pairs`; sampled batches come from rollout.py.
Chapter: chapters/02-tiny-gpt-and-sft.md, 2.4 (the alignment: tokens, log-probs, mask).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .core import gather_logprobs


def token_logprobs(model, tokens: torch.Tensor) -> torch.Tensor:
    """tokens (B, T) -> (B, T-1): log-probability the model gives each next token."""
    logits = model(tokens[:, :-1])                                          # (B, T-1, V)
    return gather_logprobs(logits, tokens[:, 1:])


def to_device(x: torch.Tensor, device) -> torch.Tensor:
    """Move a freshly built CPU batch to `device`; on a GPU via pinned memory, without blocking."""
    if torch.device(device).type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def encode_prompts(tokenizer, prompts: list[str], device="cpu"):
    """-> (ids (B, P) right-padded with PAD, lengths (B,)); each row is [BOS] + prompt."""
    ids, lens = tokenizer.encode_batch(prompts)                            # (B, P-1), (B,)
    ids = torch.cat([torch.full((len(prompts), 1), tokenizer.bos_id), ids], dim=1)
    return to_device(ids, device), to_device(lens + 1, device)


def encode_pairs(tokenizer, prompts: list[str], responses: list[str], device="cpu"):
    """Teacher-forced sequences for SFT, DPO, reward models.

    -> tokens (B, T) = [BOS] prompt response [EOS] [PAD...], mask (B, T-1) over response+EOS.
    Built with tensor indexing, not a Python loop per row: SFT on a GPU builds 1,024 of these a
    step.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    p_ids, p_len = tokenizer.encode_batch(prompts)                          # (B, P), (B,)
    r_ids, r_len = tokenizer.encode_batch(responses)                        # (B, R), (B,)
    p_ids = F.pad(p_ids, (0, 1))                                 # >= 1 column each, for gather
    r_ids = F.pad(r_ids, (0, 1))
    p_len = p_len[:, None]                                                  # (B, 1)
    r_len = r_len[:, None]                                                  # (B, 1)
    T = int((p_len + r_len).max()) + 2                                      # + BOS + EOS
    col = torch.arange(T)[None, :]                                          # (1, T)
    in_prompt = (col >= 1) & (col <= p_len)                                 # columns 1 .. p_len
    in_response = (col > p_len) & (col <= p_len + r_len)                   # the next r_len columns
    tokens = torch.full((len(prompts), T), tokenizer.pad_id, dtype=torch.long)
    tokens[:, 0] = tokenizer.bos_id
    tokens = torch.where(in_prompt,
                         p_ids.gather(1, (col - 1).clamp(0, p_ids.size(1) - 1).expand_as(tokens)),
                         tokens)
    tokens = torch.where(in_response,
                         r_ids.gather(1, (col - 1 - p_len).clamp(0, r_ids.size(1) - 1)), tokens)
    tokens = torch.where(col == p_len + r_len + 1, tokenizer.eos_id, tokens)
    t = col[:, :-1]                                             # mask[:, t] is about tokens[:, t+1]
    mask = ((t >= p_len) & (t <= p_len + r_len)).float()                   # response tokens and EOS
    return to_device(tokens, device), to_device(mask, device)
