"""Preference pairs for DPO and what to watch while it trains.

Where the pairs come from decides what DPO can learn. Three sources, one flag (--pairs):

    corrupt    chosen = the right answer, rejected = it with one digit changed (task.wrong_answer).
               Off-policy: the rejected answer is usually one the model would never write.
    offset     chosen = the right answer, rejected = the answer to a +- k problem, k in {1, 2, 3}
               (e.g. 49 vs 47): a near miss of the kind a weak adder makes.
    on_policy  rejected = an answer the policy itself samples and gets wrong; chosen = one of its
               own correct samples when it has one, else the demonstration (the right answer).
               The verifier labels every pair; prompts with no wrong sample give no pair.

Diagnostics (held-out, no training data): greedy exact match and the share of each answer digit
that is right (writing order), log pi(correct answer | prompt), and the preference accuracy and
margin of the implicit reward beta (log pi - log pi_ref) on fixed held-out (right, corrupted)
pairs. Chapter: chapters/06-dpo.md, 6.4 (where the pairs come from), 6.9 (the logs).
"""
from __future__ import annotations

import random

import torch

from .batches import encode_pairs, token_logprobs
from .rollout import sample

PAIR_SOURCES = ("corrupt", "offset", "on_policy")


def offset_answer(task, a: int, b: int, rng: random.Random, max_offset: int = 3) -> str:
    """The answer written as the task writes it, but off by k = +-1..max_offset (never
    negative)."""
    target = task.target(a, b)
    k = rng.choice([d for d in range(-max_offset, max_offset + 1) if d != 0 and target + d >= 0])
    s = str(target + k)
    return s[::-1] if task.reverse else s


def on_policy_pairs(model, tokenizer, task, problems, samples_per_prompt: int = 8,
                    temperature: float = 1.0,
                    rng: random.Random | None = None) -> list[tuple[str, str, str]]:
    """Sample `samples_per_prompt` answers per problem from `model`; one (prompt, chosen, rejected)
    pair per problem with at least one wrong sample (chosen: a correct sample, else the answer)."""
    rng = rng or random.Random(0)
    prompts = [task.prompt(a, b) for a, b in problems]
    was_training = model.training
    rollout = sample(model, tokenizer, task, prompts, samples_per_prompt=samples_per_prompt,
                     temperature=temperature, logprobs=False)
    model.train(was_training)
    pairs = []
    alphabet = set(getattr(tokenizer, "alphabet", "0123456789"))
    for i, ((a, b), prompt) in enumerate(zip(problems, prompts)):
        texts = rollout.texts[i * samples_per_prompt:(i + 1) * samples_per_prompt]
        right = [t for t in texts if task.is_correct(prompt, t)]
        # a wrong answer the tokenizer can write back
        wrong = [t for t in dict.fromkeys(texts)
                 if t.strip() and not task.is_correct(prompt, t) and set(t) <= alphabet]
        if wrong:
            pairs.append((prompt, rng.choice(right) if right else task.answer(a, b),
                          rng.choice(wrong)))
    return pairs


def make_pairs(source: str, task, n: int, rng: random.Random, model=None, tokenizer=None,
               samples_per_prompt: int = 8, temperature: float = 1.0) -> list[tuple[str, str, str]]:
    """n (prompt, chosen, rejected) triples from the training split (on_policy: at most n, from n
    problems; needs the model that samples)."""
    if source not in PAIR_SOURCES:
        raise ValueError(f"unknown pair source {source!r}; choose one of "
                         f"{', '.join(PAIR_SOURCES)}")
    if source == "corrupt":
        return task.preference_pairs(n, rng)
    problems = task.sample_train(n, rng)
    if source == "offset":
        return [(task.prompt(a, b), task.answer(a, b), offset_answer(task, a, b, rng))
                for a, b in problems]
    if model is None:
        raise ValueError("on_policy pairs need the policy that samples them")
    return on_policy_pairs(model, tokenizer, task, problems, samples_per_prompt, temperature, rng)


def sequence_logprobs(model, tokenizer, prompts, responses,
                      batch_size: int = 1024) -> torch.Tensor:
    """log pi(response | prompt), a sum over the response's tokens (EOS included), for each row
    -> (N,). No gradient; batched, so a whole dataset's reference log-probs can be computed once."""
    device = next(model.parameters()).device
    was_training = model.training
    out = []
    model.eval()                                                    # no dropout in a reference
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            tokens, mask = encode_pairs(tokenizer, prompts[i:i + batch_size],
                                        responses[i:i + batch_size], device)
            out.append((token_logprobs(model, tokens) * mask).sum(dim=1))    # (b,)
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, device=device)


def pair_logprobs(model, tokenizer, pairs) -> torch.Tensor:
    """(2N,): log pi of the N chosen answers, then of the N rejected ones (sums over tokens)."""
    prompts = [p for p, _, _ in pairs]
    return sequence_logprobs(model, tokenizer, prompts + prompts,
                             [c for _, c, _ in pairs] + [r for _, _, r in pairs])


def heldout_pairs(task, seed: int = 99) -> list[tuple[str, str, str]]:
    """Fixed (prompt, right answer, one-digit corruption) pairs on the held-out problems."""
    rng = random.Random(seed)
    return [(task.prompt(a, b), task.answer(a, b), task.wrong_answer(a, b, rng))
            for a, b in task.heldout()]


def digit_accuracy(task, prompts, texts) -> list[float]:
    """Share of answers whose i-th written character is right, for i = 0 .. max_answer_len - 1
    (writing order: for reversed answers position 0 is the units digit). Answers shorter than i+1
    characters do not count at position i."""
    answers = [task.answer(*task.operands(p)) for p in prompts]
    out = []
    for i in range(task.max_answer_len):
        hits = [t.strip()[i:i + 1] == a[i] for a, t in zip(answers, texts) if len(a) > i]
        out.append(sum(hits) / max(1, len(hits)))
    return out


def diagnostics(model, tokenizer, task, pairs, ref_logp: torch.Tensor, beta: float) -> dict:
    """Held-out diagnostics of a DPO policy. pairs: heldout_pairs(task); ref_logp (2N,): the
    reference's sequence log-probs of their chosen then rejected answers."""
    was_training = model.training
    model.eval()
    logp = pair_logprobs(model, tokenizer, pairs)                                   # (2N,)
    rollout = sample(model, tokenizer, task, [p for p, _, _ in pairs], greedy=True, logprobs=False)
    model.train(was_training)
    N = len(pairs)
    margin = beta * ((logp[:N] - ref_logp[:N]) - (logp[N:] - ref_logp[N:]))        # (N,)
    right = sum(task.is_correct(p, t) for p, t in zip(rollout.prompts, rollout.texts))
    row = {"eval_accuracy": right / max(1, N),
           "heldout_logp_correct": logp[:N].mean().item(),
           "heldout_pref_accuracy": (margin > 0).float().mean().item(),
           "heldout_margin": margin.mean().item()}
    for i, acc in enumerate(digit_accuracy(task, rollout.prompts, rollout.texts)):
        row[f"digit{i}_accuracy"] = acc
    return row
