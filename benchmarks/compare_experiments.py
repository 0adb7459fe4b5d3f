"""The experiments of chapter 8 at full size: every `python -m minirl compare --experiment X` run the
chapter quotes, then its figures copied to chapters/figures/ch08_*.png and all tables gathered in
runs/compare/tables.md.

    .venv/bin/python benchmarks/compare_experiments.py                    # all five, in order
    .venv/bin/python benchmarks/compare_experiments.py ceiling countdown  # some of them
    .venv/bin/python benchmarks/compare_experiments.py --jobs 3 ceiling   # 3 runs side by side

Each experiment is exactly the command line printed before it runs; results land in
runs/compare/<experiment>/ (curves.csv, results.csv, table.csv, table.md, PNGs). Finished
experiments are not re-run (delete their folder to redo one). Run with OMP_NUM_THREADS=1; two
experiments, or with --jobs several runs of one, can run side by side, at the price of slower
(shared-CPU) wall-clock numbers: the `algos` experiment, whose seconds the chapter compares, is
best run alone with --jobs 1.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# flags of each experiment (everything else: CompareConfig defaults)
EXPERIMENTS = {
    "algos": {},                        # the defaults of `python -m minirl compare`
    "ceiling": {"completions": 49152},
    "countdown": {"completions": 24576},
    "hybrid": {"completions": 16384},
    "dense": {"completions": 49152, "barely_steps": 150},
}
FIGURES = {"accuracy_vs_completions.png": "completions", "accuracy_vs_seconds.png": "seconds",
           "ceiling.png": "teacher"}


def main(args):
    jobs = 1
    if "--jobs" in args:
        i = args.index("--jobs")
        jobs, args = int(args[i + 1]), args[:i] + args[i + 2:]
    names = args
    import torch
    from minirl.compare import CompareConfig, run_compare
    torch.set_num_threads(1)
    out = ROOT / "runs" / "compare"
    for name in names or list(EXPERIMENTS):
        flags = {"experiment": name, **EXPERIMENTS[name], "out": str(out), "jobs": jobs}
        folder = out / name
        if not (folder / "summary.json").exists():
            print("python -m minirl compare " + " ".join(f"--{k} {v}" for k, v in flags.items()), flush=True)
            run_compare(CompareConfig(**flags))
        for src, tag in FIGURES.items():
            if (folder / src).exists():
                shutil.copy(folder / src, ROOT / "chapters" / "figures" / f"ch08_{name}_{tag}.png")
    tables = [f"## {p.parent.name}\n\n{p.read_text()}" for p in sorted(out.glob("*/table.md"))]
    (out / "tables.md").write_text("\n".join(tables))
    print("\n".join(tables))


if __name__ == "__main__":
    main(sys.argv[1:])
