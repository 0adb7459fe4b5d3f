"""The experiments of chapter 8 at full size: every `python -m minirl compare --experiment X` run the
chapter quotes, then its figures redrawn from its CSV files into chapters/figures/ch08_*.{png,svg}
and all tables gathered in runs/compare/tables.md.

    .venv/bin/python benchmarks/compare_experiments.py                    # all six, in order
    .venv/bin/python benchmarks/compare_experiments.py ceiling countdown  # some of them
    .venv/bin/python benchmarks/compare_experiments.py --jobs 3 ceiling   # 3 runs side by side

A finished experiment's figures can be redrawn without training: its folder holds everything they
show (config.json, curves.csv, results.csv, table.csv).

Each experiment is exactly the command line printed before it runs; results land in
runs/compare/<experiment>/ (curves.csv, results.csv, table.csv, table.md, PNGs). Finished
experiments are not re-run (delete their folder to redo one). The `algos` experiment runs with
PyTorch's default of two threads, as `python -m minirl compare` does (to compare its seconds, run it
alone, with --jobs 1); the other four run with one thread, so two of them, or with
--jobs several runs of one, can share the CPU without changing a single accuracy (accuracies are
deterministic for a seed and a thread count; only wall seconds grow).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import save_figure, write_results  # noqa: E402

# flags of each experiment (everything else: CompareConfig defaults)
EXPERIMENTS = {
    "algos": {},                        # the defaults of `python -m minirl compare`
    "ceiling": {"completions": 49152},
    "countdown": {"completions": 24576},
    "hybrid": {"completions": 16384},
    "dense": {"completions": 49152, "barely_steps": 150},
    "updates": {"seeds": 3},            # 32,768 completions, as in algos
}
TAGS = {"completions": "completions", "seconds": "seconds", "ceiling": "teacher",   # ch08_<experiment>_<tag>
        "updates": "per_update"}
THREADS = {"algos": 2}                  # PyTorch threads per experiment (the others: 1)
SHOWN = {"algos": ("completions",), "ceiling": ("completions", "ceiling"),   # what chapter 8 shows
         "updates": ("completions", "updates")}


def book_figures(folder: Path, figures: Path) -> list[Path]:
    """Redraw the figures chapter 8 shows of a finished experiment (SHOWN) from the files in `folder`
    into figures/ch08_<name>_<tag> (PNG and SVG) -> the PNG paths."""
    import dataclasses

    from minirl.compare import CompareConfig, equal_time, experiment_figures
    from minirl.report import read_csv
    saved = json.loads((folder / "config.json").read_text())
    cfg = CompareConfig(**{f.name: saved[f.name] for f in dataclasses.fields(CompareConfig) if f.name in saved})
    figs = experiment_figures(cfg, read_csv(folder / "curves.csv"), read_csv(folder / "table.csv"),
                              equal_time(cfg, read_csv(folder / "results.csv")))
    shown = SHOWN.get(cfg.experiment, ("completions",))
    return [save_figure(fig, figures / f"ch08_{cfg.experiment}_{TAGS[key]}") for key, fig in figs.items()
            if key in shown]


def slug(arm: str) -> str:
    """An arm's name as a results key: "sft p=0.3 then grpo" -> "sft_p0.3_then_grpo"."""
    return "_".join(arm.replace("=", "").replace(",", "").replace("(", "").replace(")", "").split())


def at_updates(curves: list[dict], arm: str, updates: int):
    """The mean over seeds of an arm's held-out accuracy after `updates` optimizer updates, each
    seed's curve interpolated linearly between the evaluations around it (None past its end)."""
    seeds = sorted({c["seed"] for c in curves if c["arm"] == arm})
    got = []
    for seed in seeds:
        cs = [c for c in curves if c["arm"] == arm and c["seed"] == seed]
        if updates > cs[-1]["updates"]:
            return None
        (u0, a0), (u1, a1) = next(((c0["updates"], c0["eval_accuracy"]), (c1["updates"], c1["eval_accuracy"]))
                                  for c0, c1 in zip(cs, cs[1:]) if c0["updates"] <= updates <= c1["updates"])
        got.append(a0 + (a1 - a0) * (updates - u0) / (u1 - u0) if u1 > u0 else a1)
    return sum(got) / len(got)


def chapter_numbers(folder: Path) -> dict:
    """The numbers chapter 8 quotes from a finished experiment: per arm (its name slugged) its final
    greedy accuracy (mean, sd and 95% interval over seeds), the sampled metrics, completions to 90%
    (and how many seeds got there), optimizer updates and models held; for the updates experiment
    the accuracy at 128, 256 and 512 updates; and the whole table as Markdown ("table")."""
    from minirl.report import read_csv
    rows = read_csv(folder / "table.csv")
    saved = json.loads((folder / "config.json").read_text())
    numbers = {"completions": saved["completions"], "seeds": saved["seeds"]}
    lines = [f"| algorithm | greedy held-out after {saved['completions']:,} completions (mean ± sd, "
             f"{saved['seeds']} seeds) | pass@1 (sampled) | completions to 90% | optimizer updates "
             "| models held |", "|---|---|---|---|---|---|"]
    names = {"sft": "SFT", "reinforce": "REINFORCE", "a2c": "A2C", "ppo": "PPO", "dpo": "DPO", "grpo": "GRPO"}
    curves = read_csv(folder / "curves.csv") if (folder / "curves.csv").exists() else []
    if curves and curves[0]["completions"] == 0:
        numbers["start"] = curves[0]["eval_accuracy"]          # the accuracy every arm starts from
    for r in rows:
        arm = r["arm"]
        got = {"final": r["final_accuracy"], "final_sd": r["final_accuracy_std"],
               "final_ci95": r.get("final_accuracy_ci95"), "completions_to_90": r["completions_to_90"],
               "reached_90": r["reached_90"], "updates": r["updates"], "models_held": r["models_held"],
               **{k: v for k, v in r.items() if k.startswith("pass@")},
               "distinct": r.get("distinct_correct"), "demo_style": r.get("demo_style_share")}
        if saved.get("experiment") == "updates":
            got.update({f"at_{u}_updates": at_updates(curves, arm, u) for u in (128, 256, 512)})
        numbers.update({f"{slug(arm)}.{k}": v for k, v in got.items()
                        if isinstance(v, (int, float)) and v == v})   # no None, no NaN
        seeds = sorted({c["seed"] for c in curves if c["arm"] == arm})
        finals = [[c for c in curves if c["arm"] == arm and c["seed"] == s][-1]["eval_accuracy"] for s in seeds]
        if finals:
            numbers[f"{slug(arm)}.per_seed"] = ", ".join(f"{100 * f:.1f}" for f in finals)
        reached = ("—" if not r["reached_90"] else
                   f"{r['completions_to_90']:,.0f} ({r['reached_90']}/{saved['seeds']} seeds)")
        pass1 = "—" if r.get("pass@1") is None else f"{100 * r['pass@1']:.1f}%"
        lines.append(f"| {names.get(arm, arm)} | {100 * r['final_accuracy']:.1f}% ± {100 * r['final_accuracy_std']:.1f} | "
                     f"{pass1} | {reached} | {r['updates']:,.0f} | {r['models_held']} |")
    numbers["table"] = "\n".join(lines) + "\n"
    return numbers


def main(args):
    jobs = 1
    if "--jobs" in args:
        i = args.index("--jobs")
        jobs, args = int(args[i + 1]), args[:i] + args[i + 2:]
    names = args
    import torch
    from minirl.compare import CompareConfig, run_compare
    out = ROOT / "runs" / "compare"
    for name in names or list(EXPERIMENTS):
        torch.set_num_threads(THREADS.get(name, 1))
        flags = {"experiment": name, **EXPERIMENTS[name], "out": str(out), "jobs": jobs}
        folder = out / name
        if not (folder / "summary.json").exists():
            print(f"OMP_NUM_THREADS={torch.get_num_threads()} python -m minirl compare "
                  + " ".join(f"--{k} {v}" for k, v in flags.items()), flush=True)
            run_compare(CompareConfig(**flags))
        book_figures(folder, ROOT / "chapters" / "figures")
        command = (f"python benchmarks/compare_experiments.py {name}  # python -m minirl compare "
                   + " ".join(f"--{k} {v}" for k, v in {"experiment": name, **EXPERIMENTS[name]}.items()))
        write_results(f"compare_{name}", chapter_numbers(folder), None, command=command.strip(),
                      threads=THREADS.get(name, 1))          # chapter 8 quotes every experiment from results/
    tables = [f"## {p.parent.name}\n\n{p.read_text()}" for p in sorted(out.glob("*/table.md"))]
    (out / "tables.md").write_text("\n".join(tables))
    print("\n".join(tables))


if __name__ == "__main__":
    main(sys.argv[1:])
