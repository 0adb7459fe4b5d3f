"""Train the starting checkpoints that ship in minirl/checkpoints/ and write their manifest.

    python benchmarks/make_starts.py                  # every start in RECIPES
    python benchmarks/make_starts.py --names weak     # one of them
    python benchmarks/make_starts.py --spread         # also: the weak recipe under each kernel set
                                                      # and thread count (why the file ships)

Each start is a `minirl sft` run with the recipe below, trained under ATEN_CPU_CAPABILITY=default
(PyTorch's plain kernels), then saved weights-only. Its held-out accuracy is measured once under
every CPU capability this machine has, in a fresh process each: greedy evaluation of a given model
should not depend on the kernels, and the manifest records that it did not. Users never need this
script: the files are committed, and `minirl starts --rebuild NAME` retrains one of them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minirl.runs import read_metrics  # noqa: E402
from minirl.starts import FOLDER, MANIFEST, argv, sha256, slim, starts  # noqa: E402

WEAK = dict(task="add2", seed=0, steps=200, lr_schedule="constant", threads=2)   # sft.WEAK_INIT
RECIPES = {
    "weak": (WEAK, "the weak add2 start (reversed answers) every RL chapter begins from"),
    "weak-plain": ({**WEAK, "steps": 295, "reverse": False}, "the weak add2 start for plain answers"),
    "weak-barely": ({**WEAK, "steps": 60}, "a barely trained add2 start (chapter 8's hybrid and dense arms)"),
    "weak-countdown": ({**WEAK, "task": "countdown"}, "the weak countdown start (chapters 8 and 10)"),
    "strong": (dict(task="add2", seed=0, threads=2), "add2 trained to full strength (chapter 10's add3 test)"),
}
ENV = {"ATEN_CPU_CAPABILITY": "default"}
EVAL = ("import json, sys, torch; from minirl.rollout import evaluate; from minirl.runs import load_model; "
        "from minirl.tokenizer import CharTokenizer; from minirl.tasks import make_task; "
        "c = torch.load(sys.argv[1], weights_only=False)['task']; "
        "t = make_task(c['name'], reverse=c['reverse'], pad=c['pad']); "
        "m, _ = load_model(sys.argv[1], CharTokenizer(), t); "
        "print(json.dumps([evaluate(m, CharTokenizer(), t)[0], torch.backends.cpu.get_cpu_capability()]))")


def capabilities() -> list[str]:
    """The CPU capabilities PyTorch can use here: default, and the vector ones the CPU has."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return ["default"] + (["avx2"] if " avx2" in flags else []) + (["avx512"] if " avx512f" in flags else [])


def cpu_model() -> str:
    for line in (Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def accuracy_under(path: Path, capability: str) -> float:
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", EVAL, str(path)], check=True, capture_output=True, text=True,
                         env=env, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])[0]


def make(name: str, recipe: dict, about: str, work: Path) -> dict:
    entry = {"about": about, "file": f"{name}.pt", "recipe": recipe, "env": ENV}
    run = work / name
    subprocess.run([sys.executable, "-m", "minirl", *argv(entry), "--out", str(run), "--overwrite",
                    "--no-progress", "--no-plot"], check=True, env={**os.environ, **ENV}, cwd=ROOT)
    dst = slim(run / "model.pt", FOLDER / entry["file"])
    by_cap = {cap: accuracy_under(dst, cap) for cap in capabilities()}
    if len(set(by_cap.values())) != 1:
        print(f"warning: {name}'s greedy accuracy depends on the CPU capability: {by_cap}", file=sys.stderr)
    metrics = [{k: m[k] for k in ("step", "loss", "eval_accuracy") if k in m} for m in read_metrics(run)]
    return {**entry, "sha256": sha256(dst), "bytes": dst.stat().st_size, "metrics": metrics,
            "eval_accuracy": by_cap["default"], "eval_accuracy_by_capability": by_cap,
            "made_on": {"cpu": cpu_model(), "torch": torch.__version__, "python": platform.python_version(),
                        "date": datetime.now(timezone.utc).date().isoformat()}}


def spread(work: Path) -> dict:
    """The weak recipe trained again under each CPU capability here, with 2 threads and with 1:
    the held-out accuracy of each model (the same seed, other kernels or other sums)."""
    out = {}
    for cap in capabilities():
        for threads in (2, 1):
            entry = {"recipe": {**WEAK, "threads": threads}}
            run = work / f"spread_{cap}_t{threads}"
            subprocess.run([sys.executable, "-m", "minirl", *argv(entry), "--out", str(run), "--overwrite",
                            "--no-progress", "--no-plot"], check=True, cwd=ROOT,
                           env={**os.environ, "ATEN_CPU_CAPABILITY": cap})
            out[f"recipe.{cap}.threads{threads}"] = json.loads((run / "summary.json").read_text())["eval_accuracy"]
            print(json.dumps({f"{cap}, {threads} threads": out[f"recipe.{cap}.threads{threads}"]}), flush=True)
    return out


def write_numbers(manifest: dict, extra: dict):
    """results/starts/results.json: each start's accuracy (and the spread, if measured)."""
    from benchmarks.common import RESULTS, write_results
    old = RESULTS / "starts" / "results.json"
    numbers = {k: v for k, v in (json.loads(old.read_text())["numbers"] if old.exists() else {}).items()
               if k.startswith("recipe.")}
    numbers.update(extra)
    for name, e in manifest["starts"].items():
        numbers[f"{name}.accuracy"] = e["eval_accuracy"]
        numbers[f"{name}.steps"] = e["recipe"].get("steps", 1000)
        numbers[f"{name}.megabytes"] = e["bytes"] / 2**20
    numbers["total.megabytes"] = sum(e["bytes"] for e in manifest["starts"].values()) / 2**20
    write_results("starts", dict(sorted(numbers.items())), command="python benchmarks/make_starts.py --spread")


def main(argv_=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--names", nargs="*", default=list(RECIPES), choices=list(RECIPES),
                   help="the starts to make (none: with --spread, only the spread)")
    p.add_argument("--work", default=str(ROOT / "runs" / "starts"), help="folder for the full training runs")
    p.add_argument("--spread", action="store_true", help="also train the weak recipe under each capability "
                   "and thread count")
    p.add_argument("--numbers_only", action="store_true", help="only rewrite results/starts from the manifest")
    args = p.parse_args(argv_)
    manifest = {"starts": starts()}
    if args.numbers_only:
        return write_numbers(manifest, {})
    for name in args.names:
        recipe, about = RECIPES[name]
        manifest["starts"][name] = make(name, recipe, about, Path(args.work))
        print(json.dumps({name: manifest["starts"][name]}), flush=True)
    manifest["starts"] = {k: manifest["starts"][k] for k in RECIPES if k in manifest["starts"]}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {MANIFEST}")
    write_numbers(manifest, spread(Path(args.work)) if args.spread else {})


if __name__ == "__main__":
    main()
