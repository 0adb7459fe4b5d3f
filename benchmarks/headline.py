"""The README's headline numbers: every algorithm at its documented command, from the shipped weak
start, three seeds each; SFT from random weights as the reference. Writes results/headline/results.json.

    python benchmarks/headline.py                      # every row, seeds 0 1 2
    python benchmarks/headline.py --algos grpo ppo     # some rows (finished runs are reused)

Each run is `python -m minirl <command> --seed S` in its own process (COMMANDS), so its wall time is
its own; run it on a quiet machine. The results record the CPU, threads and load (common.environment).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, write_results  # noqa: E402

# row -> the command's arguments (after `python -m minirl`), exactly as the README prints them
COMMANDS = {
    "sft": ["sft"],
    "reinforce": ["reinforce", "--init", "weak"],
    "a2c": ["a2c", "--init", "weak"],
    "ppo": ["ppo", "--init", "weak"],
    "dpo_offline": ["dpo", "--init", "weak"],
    "dpo": ["dpo", "--init", "weak", "--pairs", "on_policy", "--rounds", "8", "--steps", "600",
            "--n_pairs", "2048", "--beta", "3", "--lr", "3e-4"],
    "grpo": ["grpo", "--init", "weak"],
    "rlhf": ["rlhf", "--init", "weak"],
}


def first_at(rows: list[dict], level: float):
    """Seconds at the first evaluation at or above `level`, or None."""
    return next((r["seconds"] for r in rows if r.get("eval_accuracy", -1) >= level), None)


def summarise(algo: str, runs: list[tuple[list[dict], dict]]) -> dict:
    """The numbers of one row over its seeds: final accuracy (each seed, mean, min, max), wall seconds
    (min, max), steps, and seconds to first reach 90%."""
    finals = [s["eval_accuracy"] for _, s in runs]
    walls = [s["wall_seconds"] for _, s in runs]
    out = {f"{algo}.final.mean": mean(finals), f"{algo}.final.min": min(finals), f"{algo}.final.max": max(finals),
           f"{algo}.seconds.min": min(walls), f"{algo}.seconds.max": max(walls), f"{algo}.steps": runs[0][1]["steps"],
           f"{algo}.seeds": len(runs)}
    out.update({f"{algo}.final.s{i}": f for i, f in enumerate(finals)})
    hits = [first_at(rows, 0.9) for rows, _ in runs]
    if all(h is not None for h in hits):
        out[f"{algo}.s90.min"], out[f"{algo}.s90.max"] = min(hits), max(hits)
    return out


def demo(out: Path, threads: int, quick: bool) -> dict:
    """`python -m minirl demo` as `make demo` runs it: the numbers it prints, and its wall time."""
    saved = out / "printed.json"                  # a finished demo is reused, as cli_run reuses runs
    if saved.is_file() and not quick:
        printed, wall = json.loads(saved.read_text())
    else:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        t0 = time.perf_counter()
        printed = subprocess.run([sys.executable, "-m", "minirl", "demo", "--out", str(out),
                                  *(["--quick"] if quick else [])],
                                 check=True, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True).stdout
        wall = time.perf_counter() - t0
        saved.write_text(json.dumps([printed, wall]))
    grpo = json.loads((out / "grpo" / "summary.json").read_text())
    return {"demo.start": json.loads((out / "sft" / "summary.json").read_text())["eval_accuracy"],
            "demo.final": grpo["eval_accuracy"], "demo.grpo_seconds": grpo["wall_seconds"], "demo.seconds": wall,
            "demo.output": printed.replace(str(out), "runs/demo").strip()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algos", nargs="+", default=["demo", *COMMANDS], choices=["demo", *COMMANDS])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=str(ROOT / "runs" / "headline"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="tiny runs, results written under --out (tests)")
    args = p.parse_args(argv)
    from minirl.starts import starts
    out = Path(args.out)
    old = ROOT / "results" / "headline" / "results.json"
    numbers = json.loads(old.read_text())["numbers"] if old.exists() and not args.smoke else {}
    data = json.loads(old.read_text())["data"] if old.exists() and not args.smoke else {}
    numbers["weak.start"] = starts()["weak"]["eval_accuracy"]
    for algo in args.algos:
        if algo == "demo":
            numbers.update(demo(out / "demo", args.threads, args.smoke))
            continue
        flags = ["--steps", "2", "--eval_every", "1"] if args.smoke else []
        if args.smoke and algo == "rlhf":
            flags += ["--rm_steps", "2", "--rm_sft_steps", "2", "--rm_pairs", "64"]
        runs = [cli_run(out / f"{algo}_s{seed}", *COMMANDS[algo], "--seed", str(seed), *flags,
                        threads=args.threads) for seed in args.seeds]
        numbers.update(summarise(algo, runs))
        data[algo] = {"command": "python -m minirl " + " ".join(COMMANDS[algo]) + " --seed S",
                      "runs": [{"seed": seed, "final": s["eval_accuracy"], "wall_seconds": s["wall_seconds"],
                                "curve": [(r["step"], r["seconds"], r["eval_accuracy"]) for r in rows
                                          if "eval_accuracy" in r]}
                               for seed, (rows, s) in zip(args.seeds, runs)]}
        print(json.dumps({k: v for k, v in numbers.items() if k.startswith(algo + ".")}), flush=True)
    if args.smoke:
        (out / "numbers.json").write_text(json.dumps(numbers, indent=1))
        return numbers
    write_results("headline", dict(sorted(numbers.items())), data, threads=args.threads)
    return numbers


if __name__ == "__main__":
    main()
