"""pass@k: does a model solve a problem in k tries? (chapters 8 and 10)

The unbiased estimator of Chen et al. 2021 (eq. 1): from n samples of which c are correct,

    pass@k = 1 - C(n - c, k) / C(n, k)

the chance that k samples drawn without replacement from the n contain a correct one. Greedy
accuracy says what the model answers; pass@k at temperature 1 says what it *can* answer.
"""
from __future__ import annotations

import math

import torch

from .rollout import sample


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021, eq. 1): 1 - C(n-c, k) / C(n, k), for n samples, c correct.

    Computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i), which avoids huge binomials. 1.0 when n - c < k
    (every k-subset then holds a correct sample); 0.0 when c = 0.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@torch.no_grad()
def sampled_metrics(model, tokenizer, task, n: int = 16, ks=(1, 8), n_prompts: int = 200, seed: int = 0) -> dict:
    """pass@k at temperature 1 on held-out prompts (n samples each), plus how varied the right
    answers are: distinct correct responses per prompt, and the share of correct samples that are
    the task's demonstrated answer (task.answer)."""
    pairs = task.heldout()[:n_prompts]
    prompts = [task.prompt(a, b) for a, b in pairs]
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    ro = sample(model, tokenizer, task, prompts, samples_per_prompt=n, temperature=1.0, generator=gen,
                logprobs=False)
    ok = [task.is_correct(p, t) for p, t in zip(ro.prompts, ro.texts)]            # exact, whatever the reward
    out = {f"pass@{k}": 0.0 for k in ks if k <= n}
    distinct, demo_style, n_ok = 0, 0, 0
    for i, pair in enumerate(pairs):
        good = [t.strip() for t, o in zip(ro.texts[i * n:(i + 1) * n], ok[i * n:(i + 1) * n]) if o]
        for k in out:
            out[k] += pass_at_k(n, len(good), int(k[5:])) / len(pairs)
        distinct += len(set(good))
        demo_style += sum(g == task.answer(*pair) for g in good)
        n_ok += len(good)
    out.update(distinct_correct=distinct / len(pairs), demo_style_share=demo_style / n_ok if n_ok else float("nan"))
    return out
