"""Can RL make a policy solve problems that its start almost never solves (chapter 10, §10.6)? GRPO
from an add3 start whose samples are rarely but not never right, in the task's own format, and
pass@k for k = 1 ... 256 before and after (the measurement of Yue et al. 2025).

    .venv/bin/python benchmarks/rare_success.py            # the start's search, then GRPO x 3 seeds
    .venv/bin/python benchmarks/rare_success.py --smoke    # tiny runs, to check the script

The start: `python -m minirl sft --task add3 --steps K --lr_schedule constant` from random weights,
with K the first of --search whose pass@256 on 100 held-out add3 problems (tasks.heldout_subset,
256 samples each at temperature 1) is at least 1% (so that some groups can see a reward), reported
as found. Then for each seed S: `python -m minirl grpo --task add3 --init START --seed S --steps 300
--eval_every 50`, and every policy's pass@k curve on the same 100 problems, with the problems each
policy solves at k = 256 (solved by at least one sample) compared with the start's: gained, lost.
Writes runs/rare_success/, results/rare_success/results.json, chapters/figures/ch10_rare_success.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, save_figure, write_results  # noqa: E402


def curve(path: str, n: int, prompts: int) -> dict:
    from minirl.passk import passk_curve
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    task = make_task("add3")
    model = load_model(path, CharTokenizer(), task, kind="GPT")[0].eval()
    m = passk_curve(model, CharTokenizer(), task, n=n, n_prompts=prompts, seed=0)
    return {"pass@k": {str(k): v for k, v in m["pass@k"].items()}, "unsolved": m["unsolved"],
            "entropy": m["entropy"], "solved": [c > 0 for c in m["counts"]]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--search", type=int, nargs="+", default=[20, 30, 40, 60, 80, 100, 125, 150, 200, 250, 300])
    p.add_argument("--steps", type=int, default=300, help="GRPO steps")
    p.add_argument("--out", default=str(ROOT / "runs" / "rare_success"))
    p.add_argument("--figure", default="ch10_rare_success")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    n, prompts = (8, 4) if args.smoke else (256, 100)
    tiny = ["--batch_size", "4"] if args.smoke else []
    search = args.search[:1] if args.smoke else args.search
    start, tried = None, []
    for k in search:
        folder = out / f"start_sft{k}"
        _, s = cli_run(folder, "sft", "--task", "add3", "--steps", str(k), "--lr_schedule", "constant",
                       "--eval_every", str(k), *tiny)
        got = curve(str(folder / "model.pt"), n, prompts)
        tried.append({"steps": k, "greedy": s["eval_accuracy"], "pass@1": got["pass@k"]["1"],
                      f"pass@{n}": got["pass@k"][str(n)]})
        print(tried[-1], flush=True)
        if got["pass@k"][str(n)] >= 0.01 or args.smoke:
            start = {"steps": k, "path": str(folder / "model.pt"), "greedy": s["eval_accuracy"], **got}
            break
    if start is None:
        raise SystemExit(f"no start in --search {search} reached pass@{n} >= 1%: {tried}")
    runs = []
    for seed in args.seeds:
        folder = out / f"grpo_s{seed}"
        size = ["--steps", "2", "--batch_size", "4", "--eval_every", "1"] if args.smoke else \
               ["--steps", str(args.steps), "--eval_every", "50"]
        _, s = cli_run(folder, "grpo", "--task", "add3", "--init", start["path"], "--seed", str(seed), *size)
        got = curve(str(folder / "model.pt"), n, prompts)
        got.update(greedy=s["eval_accuracy"], seed=seed,
                   gained=sum(a and not b for a, b in zip(got["solved"], start["solved"])) / prompts,
                   lost=sum(b and not a for a, b in zip(got["solved"], start["solved"])) / prompts)
        runs.append(got)
        print({k: v for k, v in got.items() if k != "solved"}, flush=True)
    ks = list(start["pass@k"])
    numbers = {"start.steps": start["steps"], "start.greedy": start["greedy"], "start.unsolved": start["unsolved"],
               "grpo.greedy": mean(r["greedy"] for r in runs), "grpo.unsolved": mean(r["unsolved"] for r in runs),
               "grpo.gained": mean(r["gained"] for r in runs), "grpo.lost": mean(r["lost"] for r in runs),
               "grpo.gained.max": max(r["gained"] for r in runs), "seeds": len(runs), "n": n, "prompts": prompts}
    for k in ks:
        numbers[f"start.pass@{k}"] = start["pass@k"][k]
        numbers[f"grpo.pass@{k}"] = mean(r["pass@k"][k] for r in runs)
        numbers[f"grpo.pass@{k}.min"] = min(r["pass@k"][k] for r in runs)
        numbers[f"grpo.pass@{k}.max"] = max(r["pass@k"][k] for r in runs)
    shown = [k for k in ks if int(k) in (1, 4, 16, 64, 256) or k == ks[-1]]
    lines = ["| policy | greedy held-out | " + " | ".join(f"pass@{k}" for k in shown) + " | unsolved at "
             f"{ks[-1]} | problems gained / lost at {ks[-1]} |", "| --- " * (len(shown) + 4) + "|"]
    lines.append(f"| add3 start (SFT {start['steps']} steps) | {100 * start['greedy']:.1f}% | "
                 + " | ".join(f"{100 * numbers[f'start.pass@{k}']:.1f}%" for k in shown)
                 + f" | {100 * start['unsolved']:.0f}% | — |")
    lines.append(f"| GRPO {args.steps} steps ({len(runs)} seeds) | {100 * numbers['grpo.greedy']:.1f}% | "
                 + " | ".join(f"{100 * numbers[f'grpo.pass@{k}']:.1f}%" for k in shown)
                 + f" | {100 * numbers['grpo.unsolved']:.0f}% | {100 * numbers['grpo.gained']:.0f}% / "
                 f"{100 * numbers['grpo.lost']:.0f}% |")
    numbers["table"] = "\n".join(lines) + "\n"
    print(numbers["table"])
    data = {"search": tried, "start": {k: v for k, v in start.items() if k != "solved"},
            "runs": [{k: v for k, v in r.items() if k != "solved"} for r in runs]}
    save_figure(figure(start, runs), out / "rare_success.png" if args.smoke else args.figure)
    if not args.smoke:
        write_results("rare_success", numbers, data)
    return numbers


def figure(start: dict, runs: list[dict]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ks = [int(k) for k in start["pass@k"]]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(ks, [start["pass@k"][str(k)] for k in ks], "o-", color="grey", ms=3, label="add3 start")
    vals = [[r["pass@k"][str(k)] for k in ks] for r in runs]
    ax.plot(ks, [mean(v) for v in zip(*vals)], "o-", color="tab:green", ms=3, label=f"GRPO ({len(runs)} seeds)")
    ax.fill_between(ks, [min(v) for v in zip(*vals)], [max(v) for v in zip(*vals)], color="tab:green", alpha=0.2)
    ax.set(xscale="log", xlabel="k (samples per problem)", ylabel="pass@k (held-out add3)",
           title="GRPO from a start that is rarely right")
    ax.set_xscale("log", base=2)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
