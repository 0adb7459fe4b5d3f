"""GRPO with its default settings from the shipped weak start, seeds 0, 1, 2: time to 95% held-out
accuracy, final accuracy, seconds per step, completions per second, and one figure.

    python benchmarks/grpo_curves.py                 # runs/grpo_curves/, chapters/figures/ch07_seeds.{png,svg}
    python benchmarks/grpo_curves.py --seeds 0 --steps 200
    python benchmarks/grpo_curves.py --plot_only     # redraw both figures (also ch07_groups.png) from the runs

Each seed runs `python -m minirl grpo --init weak --seed N` (the shipped weak start, minirl/starts.py)
with every other flag at its default.
Seeds run one after another, each with the number of threads given by --threads.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import first_reach, save_figure  # noqa: E402


def run_seed(seed: int, out: Path, steps: int | None) -> dict:
    from minirl.grpo import GRPOConfig, train_grpo
    from minirl.sft import ensure_weak_init
    weak = ensure_weak_init(str(out / "weak"))
    weak_acc = json.loads((out / "weak" / "summary.json").read_text())["eval_accuracy"]
    kw = {"steps": steps} if steps else {}
    res = train_grpo(GRPOConfig(init=weak, out=str(out / f"grpo{seed}"), seed=seed, progress=False,
                                overwrite=True, **kw))
    ev = [(m["step"], m["seconds"], m["eval_accuracy"]) for m in res.metrics if "eval_accuracy" in m]
    hit = first_reach(ev, 0.95)
    return {"seed": seed, "weak_accuracy": weak_acc, "final_accuracy": res.summary["eval_accuracy"],
            "best_accuracy": max(a for _, _, a in ev), "min_accuracy_after_95": min(
                [a for s, _, a in ev if hit[0] is not None and s >= hit[0]] or [None]) if hit[0] else None,
            "step_to_95": hit[0], "seconds_to_95": hit[1], "wall_seconds": res.summary["wall_seconds"],
            "median_step_seconds": res.summary["median_step_seconds"],
            "completions_per_s": res.summary["completions_per_s"], "curve": ev}


def plot(results: list[dict], path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    for r in results:
        steps_, secs, accs = zip(*r["curve"])
        label = f"seed {r['seed']} (start {r['weak_accuracy']:.0%})"
        ax[0].plot(steps_, accs, marker=".", ms=3, label=label)
        ax[1].plot(secs, accs, marker=".", ms=3, label=label)
    for a, x in zip(ax, ("step", "wall seconds")):
        a.axhline(0.95, color="gray", ls=":", lw=1)
        a.set(xlabel=x, ylabel="held-out exact match", ylim=(0, 1.02))
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle("GRPO with default settings from three weak SFT models (add2)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_groups(out: Path, seeds, path: Path):
    """Mean sampled reward, share of all-equal groups and held-out accuracy over steps, per seed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minirl.runs import read_metrics
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
    for seed in seeds:
        rows = read_metrics(out / f"grpo{seed}")
        for a, key in zip(ax, ("reward_mean", "zero_adv_groups", "eval_accuracy")):
            pts = [(r["step"], r[key]) for r in rows if key in r]
            a.plot(*zip(*pts), label=f"seed {seed}")
    for a, title in zip(ax, ("mean sampled reward (temperature 1)", "share of groups with all rewards equal",
                             "held-out accuracy (greedy)")):
        a.set(title=title, xlabel="step", ylim=(0, 1.02))
        a.grid(alpha=0.3)
    ax[0].legend()
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="override the default number of GRPO steps")
    p.add_argument("--out", default=str(ROOT / "runs" / "grpo_curves"))
    p.add_argument("--figure", default="ch07_seeds", help="where the seeds figure goes (PNG and SVG; a bare "
                   "name: chapters/figures/; '' = none)")
    p.add_argument("--groups_figure", default="ch07_groups",
                   help="what the groups see, for the first two seeds ('' = none)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--plot_only", action="store_true", help="redraw the figures from the runs in --out")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.plot_only:
        results = json.loads((out / "results.json").read_text())
    else:
        results = []
        for seed in args.seeds:
            r = run_seed(seed, out, args.steps)
            results.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "curve"}))
        (out / "results.json").write_text(json.dumps(results, indent=1))
    if args.figure:
        plot(results, Path(args.figure))
    if args.groups_figure:
        plot_groups(out, [r["seed"] for r in results][:2], Path(args.groups_figure))


if __name__ == "__main__":
    main()
