"""Do the copy-out files' defaults improve a start? Train minirl's GPT on add2 with one file.

Not a copy-out file: it imports minirl for the model, the task and the greedy evaluation, and
trains with standalone/<algo>.py at that file's defaults (only the run length and the batch are
given: they have no defaults). One JSON line per run: start, seed, held-out accuracy before and
after. Usage (from the repository root):

    python standalone/measure_defaults.py ALGO START_CHECKPOINT --seeds 0 1 2 [--steps N]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from minirl.evaluation import evaluate  # noqa: E402
from minirl.runs import load_model  # noqa: E402
from minirl.tasks import make_task  # noqa: E402
from minirl.tokenizer import CharTokenizer  # noqa: E402

# the run length and batch of each algorithm (everything else: the file's defaults)
RUNS = {"reinforce": dict(steps=30, batch_size=16),
        "grpo": dict(steps=30, batch_size=16),
        "ppo": dict(steps=20, batch_size=64),
        "dpo": dict(steps=30, batch_size=64)}


def load(algo: str):
    spec = importlib.util.spec_from_file_location(algo, ROOT / "standalone" / f"{algo}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(algo: str, start: str, seed: int, steps: int | None = None, **overrides) -> dict:
    """Train minirl's GPT from `start` with standalone/<algo>.py; -> before/after accuracy."""
    mod = load(algo)
    tok, task = CharTokenizer(), make_task("add2")
    model, _ = load_model(start)
    model.eval()
    torch.manual_seed(seed)
    encode = lambda s: [tok.bos_id] + tok.encode(s)                      # noqa: E731
    decode = lambda ids: tok.decode(ids, strict=True)                     # noqa: E731
    before = evaluate(model, tok, task)[0]
    kw = {**RUNS[algo], **({"steps": steps} if steps else {}), **overrides}
    t0 = time.perf_counter()
    if algo == "dpo":
        rng = random.Random(seed)
        prompts = [task.prompt(a, b) for a, b in task.sample_train(512, rng)]
        def answer_text(ids):                                             # no special tokens
            text = decode(ids)
            if "\ufffd" in text:
                raise ValueError("not an answer")
            return text
        answer = lambda p: task.answer(*task.operands(p))                 # noqa: E731
        pairs = mod.on_policy_pairs(model, prompts, answer, encode, answer_text,
                                    tok.eos_id, tok.pad_id, max_new_tokens=task.max_answer_len + 1,
                                    seed=seed)
        kw["batch_size"] = min(kw["batch_size"], len(pairs))
        mod.train_dpo(model, model.parameters(), pairs, encode, tok.eos_id, tok.pad_id,
                      encode_response=tok.encode, seed=seed, log=None, **kw)
    else:
        def prompt(rng):
            a, b = task.sample_train(1, rng)[0]
            return task.prompt(a, b)
        train = getattr(mod, f"train_{algo}")
        train(model, model.parameters(), prompt, task.reward, encode, decode, tok.eos_id,
              tok.pad_id, max_new_tokens=task.max_answer_len + 1, seed=seed, log=None, **kw)
    after = evaluate(model, tok, task)[0]
    return dict(algo=algo, start=start, seed=seed, before=before, after=after, **kw,
                seconds=round(time.perf_counter() - t0, 1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algo", choices=sorted(RUNS))
    parser.add_argument("start", help="a minirl model.pt, e.g. the add2 weak start")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for s in args.seeds:
        print(json.dumps(run(args.algo, args.start, s, args.steps)), flush=True)
