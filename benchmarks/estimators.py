"""GRPO and its relatives side by side (chapter 7, section 7.5; the table and figure are in its lab
appendix, chapters/lab/07-grpo.md): GRPO, Dr. GRPO, DAPO, RLOO, REINFORCE++ and GSPO from the one weak
start, the same prompts and completions per step, several seeds. Prints a markdown
table (accuracy per seed, gradient updates, seconds to 90%) and draws held-out accuracy against
completions sampled and against wall seconds into chapters/figures/ch07_estimators.{png,svg}.

    .venv/bin/python benchmarks/estimators.py                  # 6 estimators x seeds 0 1 2
    .venv/bin/python benchmarks/estimators.py --steps 4 --seeds 0 --figure '' --results ''   # a smoke run
    .venv/bin/python benchmarks/estimators.py --plot_only      # redraw from runs/estimators/

Every run is `python -m minirl grpo --init runs/weak/model.pt --seed S --steps N --eval_every E` plus
the estimator's flags below (all others at GRPO's defaults: 32 prompts x 8 completions per step, lr
3e-4). Runs go one after another with --threads threads each, so the seconds are comparable.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (cli_run, first_reach, grouped, markdown_table, results_json,  # noqa: E402
                               save_figure, write_results)

# name -> (flags, what differs from GRPO)
ESTIMATORS = {
    "GRPO": ([], "group mean, group std, mean of per-sequence token means"),
    "Dr. GRPO": (["--scale", "none", "--loss_type", "dr_grpo"], "no std, sum over tokens / (B x max length)"),
    "DAPO": (["--loss_type", "dapo", "--clip_eps_high", "0.28"], "token mean over the batch, clip-higher"),
    "RLOO": (["--baseline", "loo", "--scale", "none"], "leave-one-out mean, no std"),
    "REINFORCE++": (["--scale", "batch"], "group mean, one std for the whole batch"),
    "GSPO": (["--loss_type", "gspo", "--inner_steps", "2"], "one clipped ratio per sequence, 2 updates per batch"),
}


def run_all(args, out: Path) -> list[dict]:
    from minirl.sft import ensure_weak_init
    init = args.init or ensure_weak_init(str(ROOT / "runs" / "weak"))
    results = []
    for name in args.estimators:
        flags = ESTIMATORS[name][0]
        for seed in args.seeds:
            folder = out / f"{name.replace('. ', '_').replace('+', 'p').lower()}_s{seed}"
            rows, summary = cli_run(folder, "grpo", "--init", init, "--seed", str(seed), "--steps", str(args.steps),
                                    "--eval_every", str(args.eval_every), *flags, threads=args.threads)
            config = json.loads((folder / "config.json").read_text())
            completions = config["batch_size"] * config["group_size"]          # per step
            curve = [(r["step"] * completions, r["seconds"], r["eval_accuracy"]) for r in rows if "eval_accuracy" in r]
            results.append({"estimator": name, "seed": seed, "final_accuracy": summary["eval_accuracy"],
                            "updates": args.steps * config["inner_steps"], "wall_seconds": summary["wall_seconds"],
                            "seconds_to_90": first_reach(curve, 0.9)[1], "curve": curve})
            print(json.dumps({k: v for k, v in results[-1].items() if k != "curve"}), flush=True)
    return results


def table(results: list[dict]) -> str:
    rows = []
    for name in dict.fromkeys(r["estimator"] for r in results):
        runs = [r for r in results if r["estimator"] == name]
        finals = [r["final_accuracy"] for r in runs]
        hits = [r["seconds_to_90"] for r in runs]
        rows.append({"estimator": name, "flags": " ".join(ESTIMATORS[name][0]) or "(defaults)",
                     "updates": runs[0]["updates"], "final": " / ".join(f"{100 * a:.1f}" for a in finals),
                     "mean": f"{100 * sum(finals) / len(finals):.1f}",
                     "to90": " / ".join("never" if h is None else f"{h:.0f}" for h in hits),
                     "wall": f"{sum(r['wall_seconds'] for r in runs) / len(runs):.0f}"})
    return markdown_table(rows, headers={"final": "final % per seed", "mean": "mean %", "to90": "s to 90% per seed",
                                         "wall": "wall s"})


def slug(name: str) -> str:
    return name.lower().replace(". ", "_").replace("+", "p")                # "Dr. GRPO" -> dr_grpo


def numbers(results: list[dict]) -> dict:
    """The chapters' numbers: per estimator the final accuracy per seed, mean and sd, and updates."""
    from statistics import mean, stdev
    out = {"table": table(results) + "\n"}
    for name, runs in grouped(results, "estimator").items():
        finals = [r["final_accuracy"] for r in runs]
        out.update({f"{slug(name)}.s{r['seed']}": r["final_accuracy"] for r in runs})
        out.update({f"{slug(name)}.mean": mean(finals), f"{slug(name)}.sd": stdev(finals) if len(finals) > 1 else 0.0,
                    f"{slug(name)}.updates": runs[0]["updates"]})
    return out


def plot(results: list[dict], path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for i, name in enumerate(dict.fromkeys(r["estimator"] for r in results)):
        runs = [r for r in results if r["estimator"] == name]
        for j, r in enumerate(runs):
            x, secs, acc = zip(*r["curve"])
            kw = dict(color=f"C{i}", lw=1.2, alpha=0.8, label=name if j == 0 else None)
            ax[0].plot(x, [100 * a for a in acc], **kw)
            ax[1].plot(secs, [100 * a for a in acc], **kw)
    for a, xlabel in zip(ax, ("completions sampled", "wall-clock seconds")):
        a.axhline(90, color="gray", ls=":", lw=1)
        a.set(xlabel=xlabel, ylim=(0, 101))
        a.grid(alpha=0.3)
    ax[0].set_ylabel("held-out exact match (%)")
    ax[0].legend(fontsize=8, loc="lower right")
    seeds = sorted({r["seed"] for r in results})
    fig.suptitle(f"GRPO's relatives from one weak start (add2), seeds {', '.join(map(str, seeds))}: one line per seed")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=list(ESTIMATORS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=150, help="GRPO steps per run (32 x 8 = 256 completions each)")
    p.add_argument("--eval_every", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--init", default=None, help="the start (default: the weak start, runs/weak/model.pt)")
    p.add_argument("--out", default=str(ROOT / "runs" / "estimators"))
    p.add_argument("--figure", default="ch07_estimators", help="PNG and SVG; a bare name goes to chapters/figures/; "
                   "'' = none")
    p.add_argument("--plot_only", action="store_true", help="redraw from --out/results.json")
    p.add_argument("--results", default="estimators", help="write results/<this>/results.json for the "
                   "chapters ('' = do not)")
    args = p.parse_args(argv)
    out = Path(args.out)
    results = results_json(out, args.plot_only, lambda: run_all(args, out))
    print(table(results))
    if args.results:
        write_results(args.results, numbers(results), data=[{k: v for k, v in r.items() if k != "curve"}
                                                            for r in results], threads=args.threads)
    if args.figure:
        plot(results, Path(args.figure))
    return results


if __name__ == "__main__":
    main()
