"""REINFORCE vs A2C from the same weak SFT init, several seeds: held-out accuracy against rollouts
and against seconds. Writes runs/pg_curves/summary.json, results/pg_curves/results.json and\nchapters/figures/ch04_reinforce_vs_a2c.{png,svg}.

    .venv/bin/python benchmarks/pg_curves.py                 # defaults of both commands, seeds 0 1 2
    .venv/bin/python benchmarks/pg_curves.py --jobs 2        # two runs at a time (one thread each: slower seconds)

Every run is `python -m minirl reinforce|a2c --init runs/weak/model.pt --seed S` with default flags,
plus one-step-TD A2C (--n_steps 1) to show the bias of bootstrapping from an untrained critic.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, first_step, save_figure, write_results  # noqa: E402

VARIANTS = {"reinforce": ["reinforce"], "a2c": ["a2c"], "a2c_td1": ["a2c", "--n_steps", "1"]}


def run_one(name, seed, init, out, extra, threads):
    rows, summary = cli_run(out / f"{name}_s{seed}", *VARIANTS[name], "--init", init, "--seed", str(seed), *extra,
                            threads=threads)
    return name, seed, rows, summary


def numbers(results, start: float) -> dict:
    """Per variant and seed: final accuracy, the first evaluated step at +25 points over the start, and
    the range of the critic's explained variance; per variant the mean, lowest and highest final."""
    from minirl.report import markdown_table
    out, rows = {"start": start}, []
    for name in dict.fromkeys(r[0] for r in results):
        finals = []
        for _, seed, hist, s in (r for r in results if r[0] == name):
            k = f"{name}.s{seed}"
            finals.append(s["eval_accuracy"])
            out[f"{k}.final"] = s["eval_accuracy"]
            out[f"{k}.step_at_25"] = first_step(hist, start + 0.25)
            ev = [r["explained_variance"] for r in hist if "explained_variance" in r]
            if ev:
                out[f"{k}.ev_min"], out[f"{k}.ev_max"] = min(ev), max(ev)
            rows.append({"run": f"{name}, seed {seed}", "final": s["eval_accuracy"],
                         "at25": out[f"{k}.step_at_25"] or "never",
                         "ev": f"{min(ev):.2f} to {max(ev):.2f}" if ev else "-"})
        out.update({f"{name}.mean": sum(finals) / len(finals), f"{name}.min": min(finals), f"{name}.max": max(finals)})
    out["table"] = markdown_table(rows, ["run", ("final", "{:.1%}"), "at25", "ev"],
                                  {"final": "final held-out", "at25": f"first step at +25 points (≥ {start + 0.25:.1%})",
                                   "ev": "critic's explained variance (logged)"}) + "\n"
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--td1_seeds", type=int, default=1, help="seeds for the one-step-TD variant")
    p.add_argument("--out", default="runs/pg_curves")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed to every run")
    args = p.parse_args()
    from minirl.sft import ensure_weak_init
    init = ensure_weak_init(str(ROOT / "runs" / "weak"))
    out = ROOT / args.out
    jobs = [(v, s) for v in args.variants for s in (args.seeds[:args.td1_seeds] if v == "a2c_td1" else args.seeds)]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: run_one(j[0], j[1], init, out, args.extra, 1 if args.jobs > 1 else None), jobs))
    from minirl.evaluation import evaluate
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    start = evaluate(load_model(init, tok, task, kind="GPT")[0], tok, task)[0]
    summary = {"init": init, "init_accuracy": start, "runs": []}
    for name, seed, rows, s in results:
        evals = [r for r in rows if "eval_accuracy" in r]
        summary["runs"].append({"variant": name, "seed": seed, "final_accuracy": s["eval_accuracy"],
                                "best_accuracy": max(r["eval_accuracy"] for r in evals),
                                "wall_seconds": s["wall_seconds"], "steps": s["steps"],
                                "gain_points": round(100 * (s["eval_accuracy"] - start), 1)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    write_results("pg_curves", numbers(results, start), data=summary, threads=1 if args.jobs > 1 else None)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colors = {"reinforce": "tab:blue", "a2c": "tab:orange", "a2c_td1": "tab:red"}
    labels = {"reinforce": "REINFORCE (running-mean baseline)", "a2c": "A2C, Monte Carlo target (default)",
              "a2c_td1": "A2C, one-step TD target"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, x, xlabel in ((axes[0], "rollouts", "sampled responses"), (axes[1], "seconds", "seconds (2-core CPU)")):
        seen = set()
        for name, seed, rows, _ in results:
            pts = [(0, start)] + [(r[x], r["eval_accuracy"]) for r in rows if "eval_accuracy" in r]
            ax.plot(*zip(*pts), color=colors[name], alpha=0.8, label=None if name in seen else labels[name])
            seen.add(name)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("held-out exact match (add2)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"from the same weak SFT init ({start:.0%}); one line per seed")
    fig.tight_layout()
    save_figure(fig, "ch04_reinforce_vs_a2c")


if __name__ == "__main__":
    main()
