"""Two controls for chapter 8's ceiling of imitation (§8.3): is SFT's sampled ceiling only its
temperature, and can RL with the verifier remove a mistake the teacher makes every time?

    .venv/bin/python benchmarks/ceiling_controls.py            # 2 teachers x 3 seeds, then GRPO
    .venv/bin/python benchmarks/ceiling_controls.py --smoke    # tiny runs, to check the script

From the shipped weak start, for each seed S:
    sft  --init WEAK --seed S --p_wrong 0.3                      (a random teacher: one digit changed)
    sft  --init WEAK --seed S --p_wrong 1 --teacher carry        (a systematic teacher: the carry out
                                                                  of the units always forgotten)
    grpo --init <the carry teacher's student> --seed S --steps 300
(SFT at its defaults, 1,000 steps.) Every policy answers the 500 held-out problems greedily (overall,
and split into the problems whose units carry and those that do not), and draws 16 samples for each
of 200 held-out problems (tasks.heldout_subset) at temperatures 1, 0.7, 0.5 and 0.3: its sampled
success (pass@1) at each. Writes runs/ceiling_controls/ and results/ceiling_controls/results.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import mean, stdev

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, write_results  # noqa: E402

TEMPERATURES = (1.0, 0.7, 0.5, 0.3)
ARMS = {"random": ("sft", ["--p_wrong", "0.3"]), "carry": ("sft", ["--p_wrong", "1", "--teacher", "carry"]),
        "carry_grpo": ("grpo", ["--steps", "300"])}
LABELS = {"random": "SFT, random teacher (p = 0.3)", "carry": "SFT, systematic teacher (forgets the units carry)",
          "carry_grpo": "the same, then GRPO with the verifier (300 steps)"}


def measure(path: str, n: int, prompts: int, smoke: bool) -> dict:
    """Greedy accuracy (all, carry, no carry) and pass@1 at each temperature."""
    import torch

    from minirl.rollout import sample
    from minirl.runs import load_model
    from minirl.tasks import heldout_subset, make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    model = load_model(path, tok, task, kind="GPT")[0].eval()
    pairs = heldout_subset(task, 20) if smoke else task.heldout()      # all 500, or a seeded 20
    with torch.no_grad():
        ok = sample(model, tok, task, [task.prompt(a, b) for a, b in pairs], greedy=True).rewards.tolist()
        carry = [a % 10 + b % 10 >= 10 for a, b in pairs]
        out = {"greedy": mean(ok), "greedy_carry": mean(o for o, c in zip(ok, carry) if c),
               "greedy_no_carry": mean(o for o, c in zip(ok, carry) if not c), "carry_share": mean(carry)}
        sub = heldout_subset(task, prompts)
        for t in TEMPERATURES:
            gen = torch.Generator().manual_seed(0)
            r = sample(model, tok, task, [task.prompt(a, b) for a, b in sub], n, temperature=t, generator=gen,
                       logprobs=False).rewards
            out[f"pass1_T{t:g}"] = float(r.float().mean())
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=str(ROOT / "runs" / "ceiling_controls"))
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    from minirl.sft import ensure_weak_init
    weak = ensure_weak_init(str(ROOT / "runs" / "weak"))
    out, numbers, data = Path(args.out), {"seeds": len(args.seeds)}, {}
    n, prompts = (4, 8) if args.smoke else (16, 200)
    per_arm = {arm: [] for arm in ARMS}
    for seed in args.seeds:
        for arm, (algo, flags) in ARMS.items():
            init = str(out / f"carry_s{seed}" / "model.pt") if arm == "carry_grpo" else weak
            size = ["--steps", "2", "--batch_size", "4"] if args.smoke else []
            cli_run(out / f"{arm}_s{seed}", algo, "--init", init, "--seed", str(seed), *flags, *size)
            got = measure(str(out / f"{arm}_s{seed}" / "model.pt"), n, prompts, args.smoke)
            per_arm[arm].append(got)
            data[f"{arm}.s{seed}"] = got
            print(arm, seed, got, flush=True)
    numbers["start"] = measure(weak, n, prompts, args.smoke)
    numbers.update({f"start.{k}": v for k, v in numbers.pop("start").items()})
    for arm, rows in per_arm.items():
        for key in rows[0]:
            vals = [r[key] for r in rows]
            numbers[f"{arm}.{key}"] = mean(vals)
            numbers[f"{arm}.{key}.sd"] = stdev(vals) if len(vals) > 1 else 0.0
    temps = " | ".join(f"pass@1, T = {t:g}" for t in TEMPERATURES)
    lines = [f"| policy ({len(args.seeds)} seeds) | greedy held-out | greedy, units carry | greedy, no carry | {temps} |",
             "| --- " * (4 + len(TEMPERATURES)) + "|"]
    for arm in ["start", *ARMS]:
        g = lambda k: numbers[f"{arm}.{k}"]  # noqa: E731
        sd = f" ± {100 * g('greedy.sd'):.1f}" if arm != "start" else ""
        lines.append(f"| {LABELS.get(arm, 'the weak start')} | {100 * g('greedy'):.1f}%{sd} | {100 * g('greedy_carry'):.1f}% | "
                     f"{100 * g('greedy_no_carry'):.1f}% | "
                     + " | ".join(f"{100 * g(f'pass1_T{t:g}'):.1f}%" for t in TEMPERATURES) + " |")
    numbers["table"] = "\n".join(lines) + "\n"
    print(numbers["table"])
    if not args.smoke:
        write_results("ceiling_controls", numbers, data)
    return numbers


if __name__ == "__main__":
    main()
