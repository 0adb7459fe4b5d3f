"""pass@k: does a model solve a problem in k tries?

The unbiased estimator of Chen et al. 2021 (eq. 1): from n samples of which c are correct,

    pass@k = 1 - C(n - c, k) / C(n, k)

the chance that k samples drawn without replacement from the n contain a correct one. Greedy
accuracy says what the model answers; pass@k at temperature 1 says what it *can* answer.
Chapter: chapters/10-what-rl-adds.md, 10.2 (also used by chapter 8's comparisons).
"""
from __future__ import annotations

import math

import torch

from .core import entropy_from_logits
from .rollout import sample
from .tasks import heldout_subset


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021, eq. 1): 1 - C(n-c, k) / C(n, k), for n samples, c
    correct.

    Computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i), which avoids huge binomials. 1.0 when
    n - c < k (every k-subset then holds a correct sample); 0.0 when c = 0.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(counts: list[int], n: int, ks) -> dict:
    """{k: pass@k averaged over problems} for problems with counts[i] correct of n samples each.

    pass@1 = (0 + 2/4 + 1) / 3; pass@2 = (0 + 5/6 + 1) / 3:

    >>> mean_pass_at_k([0, 2, 4], 4, (1, 2))
    {1: 0.5, 2: 0.611111111111111}
    """
    return {k: sum(pass_at_k(n, c, k) for c in counts) / len(counts) for k in ks}


def distinct_correct(texts: list[str], correct: list[bool]) -> int:
    """How many different right answers one problem's samples hold (surrounding spaces ignored).

    >>> distinct_correct(["3*7+9", " 3*7+9", "9+7*3", "30"], [True, True, True, False])
    2
    """
    return len({t.strip() for t, ok in zip(texts, correct) if ok})


@torch.no_grad()
def heldout_samples(model, tokenizer, task, n: int, n_prompts: int, seed: int = 0,
                    chunk: int = 0, entropy: bool = False) -> dict:
    """n samples at temperature 1 for each of n_prompts held-out problems (tasks.heldout_subset).

    -> {"pairs": [(a, b), ...] (P,), "texts": [[n responses] per prompt], "correct": [[n bools]
    per prompt] (exact match, whatever the reward), and with entropy=True "entropy": the mean over
    every sampled action of H(pi(.|s_t)) in nats (core.entropy_from_logits)}. chunk > 0 samples
    that many prompts at a time (bounded memory; a different random stream than one batch).
    """
    pairs = heldout_subset(task, n_prompts)
    prompts = [task.prompt(a, b) for a, b in pairs]
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    texts = []
    ok = []
    ent_sum = 0.0
    ent_n = 0.0
    step = chunk or len(pairs)
    for i in range(0, len(pairs), step):
        rollout = sample(model, tokenizer, task, prompts[i:i + step], samples_per_prompt=n,
                         temperature=1.0, generator=gen, logprobs=False)
        texts += rollout.texts
        # exact, whatever the reward
        ok += [task.is_correct(q, t) for q, t in zip(rollout.prompts, rollout.texts)]
        if entropy:
            h = entropy_from_logits(model(rollout.tokens[:, :-1]))             # (B, T-1)
            ent_sum = ent_sum + float((h * rollout.mask).sum())
            ent_n = ent_n + float(rollout.mask.sum())
    out = {"pairs": pairs, "texts": [texts[j * n:(j + 1) * n] for j in range(len(pairs))],
           "correct": [ok[j * n:(j + 1) * n] for j in range(len(pairs))]}
    if entropy:
        out["entropy"] = ent_sum / max(ent_n, 1.0)
    return out


@torch.no_grad()
def sampled_metrics(model, tokenizer, task, n: int = 16, ks=(1, 8), n_prompts: int = 200,
                    seed: int = 0) -> dict:
    """pass@k at temperature 1 on held-out prompts (n samples each), plus how varied the right
    answers are: distinct correct responses per prompt, and the share of correct samples that are
    the task's demonstrated answer (task.answer)."""
    s = heldout_samples(model, tokenizer, task, n, n_prompts, seed)
    pairs = s["pairs"]
    out = {f"pass@{k}": 0.0 for k in ks if k <= n}
    distinct = 0
    demo_style = 0
    n_ok = 0
    for pair, texts, ok in zip(pairs, s["texts"], s["correct"]):
        good = [t.strip() for t, o in zip(texts, ok) if o]
        for k in out:
            out[k] += pass_at_k(n, len(good), int(k[5:])) / len(pairs)
        distinct += distinct_correct(texts, ok)
        demo_style += sum(g == task.answer(*pair) for g in good)
        n_ok += len(good)
    out.update(distinct_correct=distinct / len(pairs),
               demo_style_share=demo_style / n_ok if n_ok else float("nan"))
    return out


def passk_curve(model, tokenizer, task, n: int = 256, n_prompts: int = 100, seed: int = 0,
                chunk: int = 16) -> dict:
    """Chapter 10's measurements of one policy, from n samples on each of n_prompts held-out
    problems: pass@k for k = 1, 2, 4, ..., n (unbiased, averaged over prompts), the share of prompts
    no sample solves, distinct correct answers per prompt, and the mean per-token entropy of the
    policy."""
    s = heldout_samples(model, tokenizer, task, n, n_prompts, seed, chunk=chunk, entropy=True)
    counts = [sum(ok) for ok in s["correct"]]                                 # c per prompt
    ks = [2 ** i for i in range(n.bit_length()) if 2 ** i <= n]
    return {"pass@k": mean_pass_at_k(counts, n, ks),
            "unsolved": sum(c == 0 for c in counts) / len(counts),
            "distinct_correct": sum(map(distinct_correct, s["texts"], s["correct"])) / len(counts),
            "entropy": s["entropy"], "counts": counts}
