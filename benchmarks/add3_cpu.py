"""Chapter 9's CPU baseline for the GPU preset's task: the book's recipe (a weak SFT start, then GRPO
or PPO against the verifier) on 3-digit addition with the default 0.8M model.

    .venv/bin/python benchmarks/add3_cpu.py            # 1 weak start, GRPO and PPO x 3 seeds
    .venv/bin/python benchmarks/add3_cpu.py --smoke    # tiny runs, to check the script

    python -m minirl sft  --task add3 --steps 400 --lr_schedule constant --out START
    python -m minirl grpo --task add3 --init START/model.pt --steps 400 --eval_every 50 --seed S
    python -m minirl ppo  --task add3 --init START/model.pt --seed S            (its defaults: 300)

Writes runs/add3_cpu/ and results/add3_cpu/results.json: per arm the final held-out accuracy (mean,
sd, range over the seeds), the first evaluation at or above 95% and the lowest evaluation on the
way. Finished runs are reused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import mean, stdev

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, write_results  # noqa: E402

ARMS = {"grpo": ["grpo", "--steps", "400", "--eval_every", "50"], "ppo": ["ppo"]}
NAMES = {"grpo": "GRPO, 400 steps", "ppo": "PPO, 300 iterations (its defaults)"}
SMOKE = ["--steps", "2", "--batch_size", "4", "--eval_every", "1"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=str(ROOT / "runs" / "add3_cpu"))
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    steps = ["--steps", "2", "--batch_size", "4"] if args.smoke else ["--steps", "400"]
    _, start = cli_run(out / "start", "sft", "--task", "add3", *steps, "--lr_schedule", "constant")
    numbers, data = {"start": start["eval_accuracy"], "seeds": len(args.seeds)}, {}
    for arm, flags in ARMS.items():
        finals, reach, dips = [], [], []
        for seed in args.seeds:
            flags_now = [flags[0], *SMOKE] if args.smoke else flags
            rows, s = cli_run(out / f"{arm}_s{seed}", *flags_now, "--task", "add3",
                              "--init", str(out / "start" / "model.pt"), "--seed", str(seed))
            curve = [(r["step"], r["eval_accuracy"]) for r in rows if "eval_accuracy" in r]
            data[f"{arm}.s{seed}"] = curve
            finals.append(s["eval_accuracy"])
            reach.append(next((t for t, a in curve if a >= 0.95), None))
            dips.append(min(a for t, a in curve if t > 0))           # the lowest after training began
        numbers.update({f"{arm}.final.mean": mean(finals), f"{arm}.final.sd": stdev(finals) if len(finals) > 1 else 0.0,
                        f"{arm}.final.min": min(finals), f"{arm}.final.max": max(finals),
                        f"{arm}.reached_95": sum(r is not None for r in reach),
                        f"{arm}.dip.min": min(dips)})
        got = [r for r in reach if r is not None]
        if got:
            numbers[f"{arm}.first_95.min"], numbers[f"{arm}.first_95.max"] = min(got), max(got)
    lines = [f"| run (from {100 * numbers['start']:.1f}% held-out, {len(args.seeds)} seeds) | first held-out ≥ 95% "
             "| final held-out (mean ± sd, range) |", "| --- | --- | --- |"]
    for arm in ARMS:
        g = lambda k: numbers.get(f"{arm}.{k}")  # noqa: E731
        unit = "iteration" if arm == "ppo" else "step"
        first = (f"{unit} {g('first_95.min')}–{g('first_95.max')} ({g('reached_95')}/{len(args.seeds)} seeds)"
                 if g("first_95.min") is not None else "—")
        lines.append(f"| {NAMES[arm]} | {first} | {100 * g('final.mean'):.1f}% ± {100 * g('final.sd'):.1f} "
                     f"({100 * g('final.min'):.1f}–{100 * g('final.max'):.1f}%) |")
    numbers["table"] = "\n".join(lines) + "\n"
    print(numbers["table"])
    if not args.smoke:
        write_results("add3_cpu", numbers, data)
    return numbers


if __name__ == "__main__":
    main()
