"""Figures of the book that no notebook draws: each one trains its runs (or reuses finished ones) and
draws from their metrics.jsonl.

    .venv/bin/python benchmarks/book_figures.py sft_formats   # chapters/figures/ch02_sft_seeds.{png,svg}
    .venv/bin/python benchmarks/book_figures.py dpo_nll       # chapters/figures/ch06_dpo_vs_nll.{png,svg}

sft_formats  `python -m minirl sft [--no-reverse] --seed S --eval_every 25` for S = 0, 1, 2: reversed vs
             plain answers (runs/sft_rev, runs/sft_plain, with _s1 and _s2 for seeds 1 and 2); the steps
             to 90% and 99% held-out and the final accuracy go to results/sft_formats/results.json
dpo_nll      `python -m minirl dpo --init runs/weak/model.pt --pairs corrupt --beta 0.1 --lr 1e-4` (the
             fixed-pair recipe that chapter 6 shows failing) with and without `--rpo_alpha 1`
             (runs/dpo_q, runs/dpo_nll_q)
A run folder that already holds a summary.json is reused: delete it to train it again. Results
depend on the thread count (OMP_NUM_THREADS); the chapters say which one their numbers come from.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, first_step, save_figure, write_results  # noqa: E402


def run(folder: str, *flags: str) -> list[dict]:
    """Train `python -m minirl <flags> --out runs/<folder>` unless it is finished; its metrics rows."""
    return cli_run(ROOT / "runs" / folder, *flags)[0]


def curve(rows, key):
    pts = [(r["step"], r[key]) for r in rows if key in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def sft_formats(plt):
    from minirl.report import markdown_table
    fig, ax = plt.subplots(figsize=(7, 3.6))
    numbers, table = {}, []
    for fmt, flags, color in (("reversed", [], "tab:blue"), ("plain", ["--no-reverse"], "tab:orange")):
        for seed, ls in zip((0, 1, 2), ("-", "--", ":")):
            name = ("sft_rev" if fmt == "reversed" else "sft_plain") + ("" if seed == 0 else f"_s{seed}")
            rows = run(name, "sft", *flags, "--seed", str(seed), "--eval_every", "25")
            ax.plot(*curve(rows, "eval_accuracy"), ls=ls, color=color, label=f"{fmt} answer, seed {seed}")
            final = curve(rows, "eval_accuracy")[1][-1]
            row = {"format": fmt, "seed": seed, "at90": first_step(rows, 0.9), "at99": first_step(rows, 0.99),
                   "final": final}
            numbers.update({f"{fmt}.s{seed}.{k}": v for k, v in row.items() if k not in ("format", "seed")})
            table.append({**row, "at90": f"step {row['at90']}" if row["at90"] else "never",
                          "at99": f"step {row['at99']}" if row["at99"] else "never"})
    numbers["table"] = markdown_table(table, ["format", "seed", "at90", "at99", ("final", "{:.1%}")],
                                      {"at90": "first ≥ 90% held-out", "at99": "first ≥ 99%",
                                       "final": "after 1000 steps"}) + "\n"
    write_results("sft_formats", numbers)
    ax.set(xlabel="step (batch 64)", ylabel="held-out exact match", ylim=(-0.02, 1.02),
           title="SFT on add2: reversed vs plain answer, three seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig, "ch02_sft_seeds"


FIXED_PAIRS = ("--pairs", "corrupt", "--beta", "0.1", "--lr", "1e-4")   # chapter 6's failing recipe, explicitly


def dpo_nll(plt):
    from minirl.sft import ensure_weak_init
    init = ensure_weak_init(str(ROOT / "runs" / "weak"))
    start = json.loads((Path(init).parent / "summary.json").read_text())["eval_accuracy"]
    fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))
    for label, folder, extra in (("DPO", "dpo_q", []), ("DPO + NLL (α = 1)", "dpo_nll_q", ["--rpo_alpha", "1"])):
        rows = run(folder, "dpo", "--init", init, *FIXED_PAIRS, *extra)
        steps, acc = curve(rows, "eval_accuracy")
        ax[0].plot([0] + steps, [start] + acc, marker=".", label=label)
        ax[1].plot(*curve(rows, "chosen_reward"), label=label)
    ax[0].set(xlabel="step", ylabel="held-out exact match", ylim=(0, 1.02))
    ax[1].set(xlabel="step", title="implicit reward of the chosen answers")
    ax[1].axhline(0, color="gray", lw=0.8)
    for a in ax:
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    return fig, "ch06_dpo_vs_nll"


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("figures", nargs="*", help="sft_formats and/or dpo_nll (default: both)")
    args = p.parse_args(argv)
    bad = set(args.figures) - {"sft_formats", "dpo_nll"}
    if bad:
        p.error(f"unknown figure(s) {', '.join(sorted(bad))}; choose sft_formats and/or dpo_nll")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for name in args.figures or ["sft_formats", "dpo_nll"]:
        fig, file = {"sft_formats": sft_formats, "dpo_nll": dpo_nll}[name](plt)
        save_figure(fig, file)


if __name__ == "__main__":
    main()
