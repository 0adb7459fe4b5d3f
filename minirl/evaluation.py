"""Held-out evaluation: greedy exact match on the task's fixed held-out problems, with a few
labelled samples to look at (chapter 2, section 2.5)."""
from __future__ import annotations

import torch

from .rollout import sample


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
