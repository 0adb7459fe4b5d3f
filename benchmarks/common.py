"""What the benchmark scripts share: train a run through the CLI unless its folder already holds a
finished one (a summary.json), then read its metrics and summary; print results as a markdown table
(minirl.report.markdown_table); save a figure for the book, as PNG and SVG."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minirl.plotting import save_figure as _save_figure  # noqa: E402
from minirl.report import markdown_table  # noqa: E402,F401  (the one markdown table, for the scripts)
from minirl.runs import read_metrics  # noqa: E402

FIGURES = ROOT / "chapters" / "figures"
RESULTS = ROOT / "results"


def environment(threads: int | None = None) -> dict:
    """Where and how a result was measured: CPU model, PyTorch's CPU capability, threads, torch and
    Python versions, the date, the git commit, and the machine's load (1-minute average) at the end."""
    import platform
    from datetime import datetime, timezone

    import torch

    from minirl.run_folder import run_metadata
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), None) if Path("/proc/cpuinfo").exists() else None
    return {"cpu": cpu or platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": threads or torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "date": datetime.now(timezone.utc).date().isoformat(),
            "git_commit": run_metadata(ROOT)["git_commit"],
            "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}


def write_results(name: str, numbers: dict, data=None, command: str | None = None,
                  threads: int | None = None) -> Path:
    """results/<name>/results.json: the command, where it ran (environment()), the headline `numbers`
    (a flat dict that chapters and README quote through markers, see benchmarks/render_numbers.py) and the
    raw `data` behind them."""
    import shlex
    folder = RESULTS / name
    folder.mkdir(parents=True, exist_ok=True)
    script = Path(sys.argv[0]).resolve()
    shown = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    command = command or shlex.join(["python", shown, *sys.argv[1:]])
    doc = {"name": name, "command": command, "environment": environment(threads), "numbers": numbers,
           "data": data}
    (folder / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {folder / 'results.json'}")
    return folder / "results.json"


def finished(folder: Path) -> bool:
    return (Path(folder) / "summary.json").is_file()


def cli_run(folder: Path, *flags: str, threads: int | None = None) -> tuple[list[dict], dict]:
    """`python -m minirl <flags> --out folder --no-progress` unless finished -> (metrics rows, summary).
    threads: OMP_NUM_THREADS for the run (None = PyTorch's default).

    Each run gets a fresh Python process, so that its time and memory are its own. With the
    environment variable MINIRL_IN_PROCESS=1 (the test suite's smoke runs) the same command line
    goes to minirl's `main` in this process instead, which saves Python's and torch's start-up
    (about 3 s a run) and ignores `threads`."""
    folder = Path(folder)
    argv = [*flags, "--out", str(folder), "--no-progress", "--overwrite"]   # an unfinished run starts again
    if not finished(folder) and os.environ.get("MINIRL_IN_PROCESS") == "1":
        from minirl.__main__ import main
        if main(argv):
            raise RuntimeError(f"python -m minirl {' '.join(argv)} failed")
    elif not finished(folder):
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        subprocess.run([sys.executable, "-m", "minirl", *argv], check=True, cwd=ROOT, env=env)
    return read_metrics(folder), json.loads((folder / "summary.json").read_text())


def save_figure(fig, path) -> Path:
    """Write a figure as PNG (dpi 150) and SVG side by side (minirl.plotting.save_figure); a bare
    name such as "ch07_seeds" goes to chapters/figures/. Prints and returns the PNG's path."""
    path = Path(path)
    png = _save_figure(fig, path if path.parent != Path(".") else FIGURES / path)
    print(f"wrote {png} and {png.with_suffix('.svg').name}")
    return png


def first_reach(curve, level: float):
    """(step-or-x, seconds) of the first point of curve [(x, seconds, accuracy), ...] at or above
    level, or (None, None) if it never gets there."""
    return next(((x, t) for x, t, a in curve if a >= level), (None, None))


def first_step(rows: list[dict], level: float):
    """The first step of a run's metrics rows whose held-out accuracy is at or above level (None: never)."""
    return next((r["step"] for r in rows if r.get("eval_accuracy", -1) >= level), None)


def grouped(results: list[dict], key: str) -> dict[str, list[dict]]:
    """The results by their `key` (an arm's or a setting's name), in the order first seen."""
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault(r[key], []).append(r)
    return groups


def mean_pct(rows: list[dict], key: str) -> str:
    """The mean of rows[i][key] over the seeds, as a percentage with one decimal: '47.0'."""
    return f"{100 * mean([r[key] for r in rows]):.1f}"


def results_json(out: Path, plot_only: bool, run) -> list[dict]:
    """The results of a benchmark: read from out/results.json with --plot_only, else run() and
    written there (so that --plot_only can redraw the figure without training again)."""
    out = Path(out)
    if plot_only:
        return json.loads((out / "results.json").read_text())
    results = run()
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return results


def add_sampling_args(p, *, out: str, figure: str, n: int, prompts: int = 100):
    """The arguments of a benchmark that trains runs over seeds and ends with pass@k on held-out
    problems: --seeds, --n, --prompts, --out, --figure, --smoke, --plot_only."""
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n", type=int, default=n, help="samples per held-out problem for pass@k")
    p.add_argument("--prompts", type=int, default=prompts)
    p.add_argument("--out", default=str(ROOT / "runs" / out))
    p.add_argument("--figure", default=figure, help="figure name under chapters/figures/ ('' = none)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--plot_only", action="store_true")


def sampled_metrics(path: str, task, n: int, prompts: int):
    """A run's model (path: its model.pt) on `task`, and minirl.passk.passk_curve with n samples for
    each of `prompts` held-out problems (tasks.heldout_subset; sampling seed 0) -> (model in eval mode, metrics)."""
    from minirl.passk import passk_curve
    from minirl.runs import load_model
    from minirl.tokenizer import CharTokenizer
    model = load_model(path, CharTokenizer(), task, kind="GPT")[0].eval()
    return model, passk_curve(model, CharTokenizer(), task, n=n, n_prompts=prompts, seed=0)


def largest_k(row: dict) -> int:
    """The largest k of a result row's "pass@k" keys (the row's n)."""
    return max(int(key[5:]) for key in row if key.startswith("pass@"))
