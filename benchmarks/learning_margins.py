"""Measure what the suite's learning tests assert, over seeds, CPU kernel sets and thread counts, so
that each test's margin sits well inside every measured value (tests must pass on any CPU).

    python benchmarks/learning_margins.py                     # every quantity, seeds 0 1 2,
                                                          # ATEN_CPU_CAPABILITY default and avx2, 1 and 2 threads
    python benchmarks/learning_margins.py --only grpo_gain    # one quantity

Each (capability, threads) pair runs in its own process (the capability is read when torch starts).
Writes results/learning_margins/results.json: for each quantity the value of every run, and its minimum.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def expected_accuracy(model, tok, task) -> float:
    """Mean probability of the right answer on the held-out prompts (tests/test_ppo.py)."""
    import torch

    from minirl.batches import encode_pairs, token_logprobs
    pairs = task.heldout()
    tokens, mask = encode_pairs(tok, [task.prompt(a, b) for a, b in pairs], [task.answer(a, b) for a, b in pairs])
    with torch.no_grad():
        return float((token_logprobs(model, tokens) * mask).sum(1).exp().mean())


def quantities(weak: str, out: Path, seed: int) -> dict:
    """name -> a function of nothing that trains and returns the measured value."""
    from minirl.grpo import GRPOConfig, train_grpo
    from minirl.ppo import PPOConfig, train_ppo
    from minirl.reinforce import ReinforceConfig, train_reinforce
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    start = expected_accuracy(load_model(weak, tok, task)[0], tok, task)
    common = dict(init=weak, progress=False, plot=False, overwrite=True, seed=seed)

    def grpo_gain(steps):
        r = train_grpo(GRPOConfig(**common, out=str(out / "g"), steps=steps, batch_size=16, group_size=8,
                                  eval_every=steps, log_every=1))
        return expected_accuracy(r.model, tok, task) - start

    def reinforce_gain(steps):
        r = train_reinforce(ReinforceConfig(**common, out=str(out / "r"), steps=steps, batch_size=32,
                                            samples_per_prompt=8, lr=2e-4, eval_every=steps, log_every=5))
        return expected_accuracy(r.model, tok, task) - start

    def ppo_gain():
        r = train_ppo(PPOConfig(**common, out=str(out / "p"), steps=20, batch_size=32, samples_per_prompt=2,
                                minibatches=2, eval_every=20))
        return expected_accuracy(r.model, tok, task) - start

    def ppo_kl(beta):
        r = train_ppo(PPOConfig(**common, out=str(out / f"k{beta}"), steps=10, batch_size=32,
                                samples_per_prompt=2, minibatches=2, kl_coef=beta, eval_every=1000, device="cpu"))
        return sum(m["kl"] for m in r.metrics[-5:]) / 5

    def a2c_gain():                 # tests/test_a2c.py: greedy held-out accuracy, 30 iterations
        from minirl.a2c import A2CConfig, train_a2c
        from minirl.evaluation import evaluate
        before = evaluate(load_model(weak, tok, task)[0], tok, task)[0]
        r = train_a2c(A2CConfig(**common, out=str(out / "a"), steps=30, batch_size=32,
                                samples_per_prompt=8, lr=2e-4, eval_every=30, log_every=5))
        return r.summary["eval_accuracy"] - before

    def a2c_value_fall():           # tests/test_mechanisms.py: the critic's held-out value loss
        import torch

        from minirl.a2c import A2CConfig, td_advantages, train_a2c
        from minirl.core import masked_mean
        from minirl.model import ScalarHeadGPT
        from minirl.rollout import sample
        policy = load_model(weak, tok, task, kind="GPT")[0].eval()
        torch.manual_seed(123)
        from minirl.tasks import heldout_subset
        rollout = sample(policy, tok, task, [task.prompt(a, b) for a, b in heldout_subset(task, 100)],
                         4, logprobs=False)
        _, returns = td_advantages(rollout.token_rewards(), torch.zeros_like(rollout.mask),
                                   rollout.mask, 1.0, 8)

        def value_loss(critic):
            with torch.no_grad():
                v = critic(rollout.tokens[:, :-1])
                return float(0.5 * masked_mean((v - returns) ** 2, rollout.mask))
        critic = ScalarHeadGPT.from_policy(load_model(weak, tok, task, kind="GPT")[0])
        before = value_loss(critic)
        train_a2c(A2CConfig(**common, out=str(out / "v"), steps=8, batch_size=8, samples_per_prompt=8,
                            lr=2e-4, value_lr=1e-3, eval_every=1000, log_every=1), value=critic)
        return 1 - value_loss(critic) / before

    return {"a2c_gain_30": a2c_gain, "a2c_value_fall": a2c_value_fall,
            "grpo_gain_30": lambda: grpo_gain(30), "grpo_gain_60": lambda: grpo_gain(60),
            "reinforce_gain_30": lambda: reinforce_gain(30), "reinforce_gain_60": lambda: reinforce_gain(60),
            "ppo_gain_20": ppo_gain, "ppo_kl_free": lambda: ppo_kl(0.0), "ppo_kl_leashed": lambda: ppo_kl(0.5)}


def worker(only: list[str] | None, seeds: list[int]):
    """In this process (capability and threads already set): every quantity for every seed."""
    from minirl.starts import start_path
    weak = str(start_path("weak"))
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for name, fn in quantities(weak, Path(tmp), seed).items():
                if only and name not in only:
                    continue
                print(json.dumps({"name": name, "seed": seed, "value": fn()}), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--capabilities", nargs="+", default=["default", "avx2"])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        import torch
        torch.set_num_threads(int(os.environ["MINIRL_MARGIN_THREADS"]))
        return worker(args.only, args.seeds)
    procs = {}
    for cap in args.capabilities:
        for threads in args.threads:
            env = {**os.environ, "ATEN_CPU_CAPABILITY": cap, "MINIRL_MARGIN_THREADS": str(threads),
                   "OMP_NUM_THREADS": str(threads)}
            cmd = [sys.executable, __file__, "--worker", "--seeds", *map(str, args.seeds),
                   *(["--only", *args.only] if args.only else [])]
            procs[(cap, threads)] = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    runs = []
    for (cap, threads), proc in procs.items():
        for line in proc.stdout:
            runs.append({**json.loads(line), "capability": cap, "threads": threads})
            print(json.dumps(runs[-1]), flush=True)
        proc.wait()
    from benchmarks.common import RESULTS, write_results
    old = RESULTS / "learning_margins" / "results.json"        # --only: keep the other quantities
    if args.only and old.exists():
        runs = [r for r in json.loads(old.read_text())["data"] if r["name"] not in args.only] + runs
    names = sorted({r["name"] for r in runs})
    numbers = {f"{n}.min": min(r["value"] for r in runs if r["name"] == n) for n in names}
    numbers.update({f"{n}.max": max(r["value"] for r in runs if r["name"] == n) for n in names})
    write_results("learning_margins", numbers, runs)


if __name__ == "__main__":
    main()
