"""What RL adds (chapter 10): pass@k from k = 1 to 256, and how varied the answers are, for a
weak start and for SFT, GRPO and PPO trained from it, on add2 and on countdown.

    .venv/bin/python benchmarks/passk_curves.py               # 2 tasks x 3 algorithms x 3 seeds
    .venv/bin/python benchmarks/passk_curves.py --smoke       # tiny runs, to check the script
    .venv/bin/python benchmarks/passk_curves.py --plot_only   # redraw from OUT/results.json

For each task T, from T's weak start (200 SFT steps, seed 0: minirl.sft.ensure_weak_init), and seed S:
    python -m minirl sft  --task T --init START --seed S
    python -m minirl grpo --task T --init START --seed S --steps GRPO_STEPS
    python -m minirl ppo  --task T --init START --seed S
(SFT and PPO at their defaults; GRPO's default 700 steps cut to --grpo_steps). Then for every
policy, the start included: n = 256 samples at temperature 1 on each of 100 held-out problems, and
from them (minirl.passk.passk_curve) pass@k for k = 1, 2, 4, ..., 256 (the unbiased estimator of
Chen et al. 2021), the share of problems that no sample solves, distinct correct answers per
problem, and the mean per-token entropy. Greedy held-out accuracy is each run's own eval_accuracy.
Runs go one after another; finished runs in --out are reused.

The control is a blind guesser, computed exactly rather than sampled: it writes a uniformly random
candidate answer (add2: one of the 199 sums 0..198; countdown: one of the left-to-right expressions
over an ordered subset of the numbers, the form of the demonstrations, about 62 per problem), so its
pass@k is the mean over problems of 1 - (1 - q)^k, q the share of candidates that are right.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, markdown_table, results_json, save_figure, write_results  # noqa: E402

TASKS = ("add2", "countdown")
ALGOS = ("sft", "grpo", "ppo")
SMOKE = {"sft": ["--steps", "3"], "grpo": ["--steps", "2", "--batch_size", "4"],
         "ppo": ["--steps", "2", "--batch_size", "4"]}


def policy_metrics(path: str, task: str, n: int, prompts: int) -> dict:
    """passk_curve of the checkpoint at `path` (sampling seed 0)."""
    from minirl.passk import passk_curve
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    t = make_task(task)
    model, _ = load_model(path, CharTokenizer(), t, kind="GPT")
    model.eval()
    m = passk_curve(model, CharTokenizer(), t, n=n, n_prompts=prompts, seed=0)
    return {**{k: v for k, v in m.items() if k != "counts"}, "pass@k": {str(k): v for k, v in m["pass@k"].items()}}


def candidates(task, nums) -> list[str]:
    """countdown: every left-to-right expression (the demonstrations' form) over an ordered subset of nums."""
    import itertools
    return sorted({task._canonical(perm, code) for r in range(1, len(nums) + 1)
                   for perm in set(itertools.permutations(nums, r)) for code in range(3 ** (r - 1))})


def guesser(task_name: str, prompts: int, ks) -> dict:
    """{"task", "algo": "guess", "pass@k"}: the exact pass@k of the blind guesser (module docstring)."""
    from minirl.tasks import heldout_subset, make_task
    task = make_task(task_name)
    qs = []
    for pair in heldout_subset(task, prompts):
        if task_name == "countdown":
            cands = candidates(task, pair[0])
            qs.append(sum(task.is_correct(task.prompt(*pair), e) for e in cands) / len(cands))
        else:
            qs.append(1 / 199)                                  # one right sum among 0..198
    return {"task": task_name, "algo": "guess", "pass@k": {str(k): sum(1 - (1 - q) ** k for q in qs) / len(qs)
                                                           for k in ks}}


def run_all(args, out: Path) -> list[dict]:
    from minirl.sft import ensure_weak_init
    results = []
    for task in args.tasks:
        start = ensure_weak_init(str(out / f"start_{task}"), task=task, seed=0,
                                 **({"steps": 3} if args.smoke else {}))
        greedy = json.loads((Path(start).parent / "summary.json").read_text())["eval_accuracy"]
        results.append({"task": task, "algo": "start", "seed": 0, "greedy": greedy, "wall": 0.0,
                        **policy_metrics(start, task, args.n, args.prompts)})
        print(json.dumps(results[-1]), flush=True)
        for seed in args.seeds:
            for algo in ALGOS:
                flags = SMOKE[algo] if args.smoke else (["--steps", str(args.grpo_steps)] if algo == "grpo" else [])
                folder = out / f"{task}_{algo}_s{seed}"
                _, s = cli_run(folder, algo, "--task", task, "--init", start, "--seed", str(seed), *flags)
                results.append({"task": task, "algo": algo, "seed": seed, "greedy": s["eval_accuracy"],
                                "wall": s["wall_seconds"],
                                **policy_metrics(str(folder / "model.pt"), task, args.n, args.prompts)})
                print(json.dumps(results[-1]), flush=True)
    return results


def summarise(results: list[dict], prompts: int) -> list[dict]:
    """One row per (task, policy): means over seeds of greedy accuracy, pass@k at a few k, the share
    of problems unsolved at k = n, distinct correct answers and entropy; then the blind guesser."""
    rows = []
    for task in dict.fromkeys(r["task"] for r in results):
        for algo in ("start",) + ALGOS:
            rs = [r for r in results if r["task"] == task and r["algo"] == algo]
            if not rs:
                continue
            ks = sorted(int(k) for k in rs[0]["pass@k"])
            at = lambda k: mean([r["pass@k"][str(k)] for r in rs])  # noqa: E731
            rows.append({"task": task, "policy": algo, "seeds": len(rs), "greedy": mean([r["greedy"] for r in rs]),
                         **{f"pass@{k}": at(k) for k in ks if k in (1, 4, 16, 64, ks[-1])},
                         "unsolved": mean([r["unsolved"] for r in rs]),
                         "distinct": mean([r["distinct_correct"] for r in rs]),
                         "entropy": mean([r["entropy"] for r in rs])})
        g = guesser(task, prompts, [int(k[5:]) for k in rows[-1] if k.startswith("pass@")])
        rows.append({"task": task, "policy": "blind guess", "seeds": "-", "greedy": "-",
                     **{f"pass@{k}": v for k, v in g["pass@k"].items()}, "unsolved": "-", "distinct": "-",
                     "entropy": "-"})
    return rows


def plot(results: list[dict], prompts: int):
    """pass@k against k (log scale), one panel per task; mean over seeds with the min..max band, and
    the blind guesser dashed."""
    import matplotlib.pyplot as plt
    tasks = list(dict.fromkeys(r["task"] for r in results))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ks = sorted(int(k) for k in results[0]["pass@k"])
        g = guesser(task, prompts, ks)["pass@k"]
        ax.plot(ks, [g[str(k)] for k in ks], "--", color="black", lw=1, label="blind guess")
        for algo, colour in zip(("start",) + ALGOS, ("grey", "tab:blue", "tab:green", "tab:red")):
            rs = [r for r in results if r["task"] == task and r["algo"] == algo]
            if not rs:
                continue
            ks = sorted(int(k) for k in rs[0]["pass@k"])
            val = [[r["pass@k"][str(k)] for k in ks] for r in rs]
            ax.plot(ks, [mean(v) for v in zip(*val)], "o-", ms=3, color=colour,
                    label={"start": "weak start"}.get(algo, algo.upper()))
            if len(rs) > 1:
                ax.fill_between(ks, [min(v) for v in zip(*val)], [max(v) for v in zip(*val)], color=colour, alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k (samples per problem)")
        ax.set_ylabel("pass@k (held-out)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--grpo_steps", type=int, default=400, help="GRPO iterations (its default is 700)")
    p.add_argument("--n", type=int, default=256, help="samples per held-out problem (the largest k)")
    p.add_argument("--prompts", type=int, default=100, help="held-out problems")
    p.add_argument("--out", default=str(ROOT / "runs" / "passk"))
    p.add_argument("--figure", default="ch10_passk", help="figure name under chapters/figures/ ('' = none)")
    p.add_argument("--smoke", action="store_true", help="tiny runs and few samples, to check the script")
    p.add_argument("--plot_only", action="store_true", help="redraw from OUT/results.json")
    args = p.parse_args(argv)
    if args.smoke:
        args.n, args.prompts = min(args.n, 8), min(args.prompts, 4)
    out = Path(args.out)
    results = results_json(out, args.plot_only, lambda: run_all(args, out))
    rows = summarise(results, args.prompts)
    pct = lambda v: v if isinstance(v, str) else f"{100 * v:.1f}"  # noqa: E731
    print(markdown_table([{k: (pct(v) if k.startswith(("pass", "greedy", "unsolved")) else
                               f"{v:.2f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows]))
    if args.figure:
        save_figure(plot(results, args.prompts), out / "passk.png" if args.smoke else args.figure)
    if not args.smoke:
        command = ["python", "benchmarks/passk_curves.py", *[a for a in (argv or sys.argv[1:]) if a != "--plot_only"]]
        write_results("passk", chapter_numbers(rows), results, command=" ".join(command))
    return results


NAMES = {"start": "weak start", "sft": "SFT", "grpo": "GRPO", "ppo": "PPO", "blind guess": "blind guess (exact)"}


def chapter_numbers(rows: list[dict]) -> dict:
    """The numbers chapter 10 quotes: "<task>.<policy>.<column>" for every cell of summarise's rows,
    and per task its table ("table.<task>") as Markdown."""
    numbers = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        ks = [k for k in mine[0] if k.startswith("pass@")]
        lines = ["| policy | greedy held-out | " + " | ".join(ks) + " | unsolved at " + ks[-1][5:]
                 + " | distinct right answers | entropy (nats/token) |", "|---" * (len(ks) + 5) + "|"]
        for r in mine:
            policy = r["policy"].replace(" ", "_")
            numbers.update({f"{task}.{policy}.{k}": v for k, v in r.items()
                            if k not in ("task", "policy") and not isinstance(v, str)})
            pct = lambda v: "—" if isinstance(v, str) else f"{100 * v:.1f}%"  # noqa: E731
            seeds = f" ({r['seeds']} seeds)" if isinstance(r["seeds"], int) and r["policy"] != "start" else ""
            lines.append(f"| {NAMES[r['policy']]}{seeds} | {pct(r['greedy'])} | "
                         + " | ".join(pct(r[k]) for k in ks) + f" | {pct(r['unsolved'])} | "
                         + ("—" if isinstance(r["distinct"], str) else f"{r['distinct']:.2f}") + " | "
                         + ("—" if isinstance(r["entropy"], str) else f"{r['entropy']:.3f}") + " |")
        numbers[f"table.{task}"] = "\n".join(lines) + "\n"
    return numbers


if __name__ == "__main__":
    main()
