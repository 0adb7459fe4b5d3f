"""Rollouts: turning prompts into sampled responses, and responses into per-token log-probs.

The one alignment every algorithm shares (docs/conventions.md):

    tokens  (B, T)    [BOS] prompt response [EOS] [PAD ...]
    logp    (B, T-1)  logp[:, t] = log pi(tokens[:, t+1] | tokens[:, :t+1])
    mask    (B, T-1)  1 where tokens[:, t+1] is an action (a response token, its EOS included)

so `logp * mask` keeps exactly the log-probabilities of the actions the policy took.
Chapter: chapters/02-tiny-gpt-and-sft.md, 2.4 (the alignment: tokens, log-probs, mask).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .core import gather_logprobs, place_on_last_action
from .model import generate


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


@torch.no_grad()
def evaluate(model, tokenizer, task, pairs=None, batch_size: int = 500, n_samples: int = 0):
    """Greedy exact-match accuracy on held-out problems (0..1), and n_samples labelled examples
    drawn from across the set (not only its first, sorted prompts): see `labelled_sample`."""
    pairs = task.heldout() if pairs is None else pairs
    prompts = [task.prompt(a, b) for a, b in pairs]
    show = {round(i * len(prompts) / n_samples) for i in range(n_samples)} if n_samples else set()
    correct = 0.0
    shown = []
    for i in range(0, len(prompts), batch_size):
        r = sample(model, tokenizer, task, prompts[i:i + batch_size], greedy=True)
        # exact, whatever the reward
        ok = [float(task.is_correct(p, t)) for p, t in zip(r.prompts, r.texts)]
        correct += sum(ok)
        shown += [labelled_sample(task, p, t)
                  for j, (p, t) in enumerate(zip(r.prompts, r.texts), i) if j in show]
    return correct / max(1, len(prompts)), shown


def labelled_sample(task, prompt: str, response: str) -> dict:
    """{"prompt": "07+42=", "response": "94", "reads_as": "49", "expected": "49", "correct": True}:
    the model's text, how a person reads it (reversed answers turned back) and the right answer.
    task.show(prompt, response) prints the same as one line."""
    return {"prompt": prompt, "response": response, "reads_as": task.read_answer(response),
            "expected": task.expected(prompt), "correct": bool(task.is_correct(prompt, response))}
