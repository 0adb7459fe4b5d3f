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
PyTorch's default of two threads, as `python -m minirl compare` does (chapter 8's lab appendix,
chapters/lab/08-sft-vs-rl.md, compares its seconds: run it alone, with --jobs 1); the other four run
with one thread, so two of them, or with
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
    "updates": {"seeds": 5},            # 32,768 completions, as in algos
}
TAGS = {"completions": "completions", "seconds": "seconds", "ceiling": "teacher",   # ch08_<experiment>_<tag>
        "updates": "per_update"}
THREADS = {"algos": 2}                  # PyTorch threads per experiment (the others: 1)
SHOWN = {"algos": ("completions", "seconds"), "ceiling": ("completions", "ceiling"),   # what chapter 8 shows
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


def chapter_numbers(folder: Path) -> dict:
    """The numbers chapter 8 quotes from a finished experiment: per arm its final greedy accuracy
    (mean and sd over seeds), sampled pass@1, completions to 90% (and how many seeds got there),
    optimizer updates and models held, and the whole table as Markdown ("table")."""
    from minirl.report import read_csv
    rows = read_csv(folder / "table.csv")
    saved = json.loads((folder / "config.json").read_text())
    numbers = {"completions": saved["completions"], "seeds": saved["seeds"]}
    lines = [f"| algorithm | greedy held-out after {saved['completions']:,} completions (mean ± sd, "
             f"{saved['seeds']} seeds) | pass@1 (sampled) | completions to 90% | optimizer updates "
             "| models held |", "|---|---|---|---|---|---|"]
    names = {"sft": "SFT", "reinforce": "REINFORCE", "a2c": "A2C", "ppo": "PPO", "dpo": "DPO", "grpo": "GRPO"}
    for r in rows:
        arm = r["arm"]
        got = {"final": r["final_accuracy"], "final_sd": r["final_accuracy_std"], "pass@1": r.get("pass@1"),
               "completions_to_90": r["completions_to_90"], "reached_90": r["reached_90"],
               "updates": r["updates"], "models_held": r["models_held"]}
        numbers.update({f"{arm}.{k}": v for k, v in got.items() if v is not None and v == v})   # no NaN
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
        if name == "algos":                    # the race of section 8.2: its table is generated
            command = (f"python benchmarks/compare_experiments.py {name}  # python -m minirl compare "
                       + " ".join(f"--{k} {v}" for k, v in EXPERIMENTS[name].items()))
            write_results(f"compare_{name}", chapter_numbers(folder), None, command=command.strip(),
                          threads=THREADS.get(name, 1))
    tables = [f"## {p.parent.name}\n\n{p.read_text()}" for p in sorted(out.glob("*/table.md"))]
    (out / "tables.md").write_text("\n".join(tables))
    print("\n".join(tables))


if __name__ == "__main__":
    main(sys.argv[1:])
