"""Rollouts: prompts in, sampled responses out, each scored by the task's verifier.

`sample` returns a `Rollout`: the (B, T) tokens in the alignment of batches.py
(docs/conventions.md), the (B, T-1) action mask, the rewards, and (when asked) the sampler's own
log-probabilities.
Held-out evaluation (greedy decoding through `sample`) is in evaluation.py.
Chapter: chapters/03-reinforce.md (sampling a batch); 2.4 for the alignment.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .batches import encode_pairs, to_device  # noqa: F401  (their old home: still importable)
from .batches import encode_prompts, token_logprobs
from .core import place_on_last_action
from .model import generate


def response_mask(tokens: torch.Tensor, prompt_lens: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Action mask (B, T-1) of generated sequences: from the first response token through the
    first EOS after the prompt (or to the end if there is none)."""
    B, T = tokens.shape
    pos = torch.arange(1, T, device=tokens.device)[None, :]        # position of tokens[:, t+1]
    in_response = pos >= prompt_lens[:, None]                              # (B, T-1)
    is_eos = (tokens[:, 1:] == eos_id) & in_response
    eos_before = (is_eos.cumsum(dim=1) - is_eos.long()) > 0    # an EOS came strictly earlier
    return (in_response & ~eos_before).float()


@dataclass
class Rollout:
    """A batch of sampled episodes. B = number of prompts x samples per prompt."""
    tokens: torch.Tensor        # (B, T) prompt + response + padding
    mask: torch.Tensor          # (B, T-1) 1 on actions
    logprobs: torch.Tensor | None   # (B, T-1) log pi_old(action) at sampling time, detached,
                                    # 0 off-mask; None when sample(logprobs=False) skipped
                                    # computing them
    rewards: torch.Tensor       # (B,) sequence reward from the verifier
    prompts: list[str]          # (B,)
    texts: list[str]            # (B,) decoded responses
    prompt_lens: torch.Tensor   # (B,)

    @property
    def response_lengths(self) -> torch.Tensor:
        return self.mask.sum(dim=1)                                        # (B,)

    def token_rewards(self) -> torch.Tensor:
        """(B, T-1): the sequence reward placed on the last action of each row, 0 elsewhere."""
        return place_on_last_action(self.rewards, self.mask)


def score(task, prompts: list[str], texts: list[str]) -> list[float]:
    """Every row's reward in one call: the task's batched `rewards` if it has one, else `reward`
    once per distinct (prompt, text) pair (a group of G samples often repeats an answer). A
    subclass that overrides `reward` but not `rewards` gets its own `reward`."""
    owner = next((c for c in type(task).__mro__ if "reward" in vars(c)), None)
    if owner is not None and "rewards" in vars(owner):
        return task.rewards(prompts, texts)
    seen = {}
    for pair in zip(prompts, texts):
        if pair not in seen:
            seen[pair] = task.reward(*pair)
    return [seen[pair] for pair in zip(prompts, texts)]


@torch.no_grad()
def sample(model, tokenizer, task, prompts: list[str], samples_per_prompt: int = 1,
           temperature: float = 1.0, top_k: int | None = None, greedy: bool = False,
           max_new_tokens: int | None = None, generator=None, logprobs: bool = True) -> Rollout:
    """Sample responses for every prompt (each repeated samples_per_prompt times, consecutively,
    so rows [g*G:(g+1)*G] form the group of prompt g) and score them with the task's verifier.
    logprobs=False skips the forward pass that scores the sampled tokens (Rollout.logprobs is then
    None): for a caller that recomputes them anyway, like GRPO with one gradient step per rollout.
    Greedy decoding is not a policy's sample, so its Rollout has no log-probs either."""
    device = next(model.parameters()).device
    prompts = [p for p in prompts for _ in range(samples_per_prompt)]
    ids, lens = encode_prompts(tokenizer, prompts, device)
    max_new = max_new_tokens or task.max_answer_len + 1
    tokens = generate(model, ids, lens, max_new, tokenizer.eos_id, tokenizer.pad_id,
                      temperature=temperature, top_k=top_k, greedy=greedy, generator=generator)
    mask = response_mask(tokens, lens, tokenizer.eos_id)
    keep = int((mask.sum(dim=0) > 0).nonzero().max()) + 2 if mask.any() else tokens.size(1)
    tokens = tokens[:, :keep]                                # drop columns after every row ended
    mask = mask[:, :keep - 1]
    old_lp = token_logprobs(model, tokens) * mask if logprobs and not greedy else None
    texts, rewards = decode_and_score(tokenizer, task, prompts, tokens, lens)
    return Rollout(tokens, mask, old_lp, rewards, prompts, texts, lens)


def decode_and_score(tokenizer, task, prompts: list[str], tokens: torch.Tensor,
                     lens: torch.Tensor):
    """tokens (B, T), lens (B,) -> (B response texts, rewards (B,) on tokens' device): the host
    side of a rollout, one device -> host copy for the whole batch and one `score` call."""
    rows = tokens.tolist()
    starts = lens.tolist()
    texts = [tokenizer.decode(row[n:], strict=True) for row, n in zip(rows, starts)]
    return texts, torch.tensor(score(task, prompts, texts), device=tokens.device)


def __getattr__(name):
    """`evaluate` and `labelled_sample` moved to evaluation.py (which imports this module); their
    old import from here still works for this release."""
    if name in ("evaluate", "labelled_sample"):
        from . import evaluation
        return getattr(evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
