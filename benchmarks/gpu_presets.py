"""The `--preset gpu` recipes end to end: SFT, a weak start, then GRPO and PPO from it, in one table.

    python benchmarks/gpu_presets.py            # on a CUDA GPU: the numbers chapter 9 asks for
    python benchmarks/gpu_presets.py --smoke    # a tiny CPU version of every stage (the test suite runs it)

Each stage is an ordinary CLI run in --out/<stage> (a finished one is reused):
    sft    python -m minirl sft  --preset gpu                        accuracy, tokens/s, MFU, peak memory
    weak   python -m minirl sft  --preset gpu --steps N --lr_schedule constant, for the smallest N in
           --weak_steps whose held-out accuracy reaches --weak_min: the start RL has room to improve
    grpo   python -m minirl grpo --preset gpu --init weak/model.pt   first held-out >= 95%, completions/s
    ppo    python -m minirl ppo  --preset gpu --init weak/model.pt
It writes results.json and results.md (a markdown table) to --out and prints the table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run  # noqa: E402
from minirl.report import first_crossing, markdown_table  # noqa: E402

# --smoke: the same stages with a tiny model and a handful of steps, on the CPU
SMOKE = dict(sft=["--device", "cpu", "--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--batch_size", "16",
                  "--steps", "4", "--eval_every", "2", "--log_every", "2"],
             rl=["--device", "cpu", "--batch_size", "4", "--steps", "2", "--eval_every", "1", "--log_every", "1"])


def first_reaching(rows: list[dict], target: float):
    """(step, seconds) of the first evaluation with held-out accuracy >= target, else (None, None)."""
    ev = [r for r in rows if "eval_accuracy" in r]
    return first_crossing([(r["step"], r["seconds"]) for r in ev], [r["eval_accuracy"] for r in ev], target) \
        or (None, None)


def row_for(stage: str, rows: list[dict], summary: dict, target: float) -> dict:
    step, seconds = first_reaching(rows, target)
    return {"stage": stage, "task": summary["task"], "params": summary["params"], "steps": summary["steps"],
            "eval_accuracy": summary["eval_accuracy"], "minutes": round(summary["wall_seconds"] / 60, 2),
            "first_target_step": step, "first_target_seconds": seconds,
            "tokens_per_s": summary.get("tokens_per_s"), "mfu": summary.get("mfu"),
            "completions_per_s": summary.get("completions_per_s"),
            "max_memory_allocated_mb": summary.get("max_memory_allocated_mb"),
            "device": summary.get("gpu", summary["device"])}


def table(results: list[dict], target: float) -> str:
    cols = [("stage", "{}"), ("params", "{:,}"), ("steps", "{}"), ("eval_accuracy", "{:.1%}"), ("minutes", "{:.2f}"),
            ("first_target_seconds", "{:.0f}"), ("tokens_per_s", "{:,.0f}"), ("mfu", "{:.1%}"),
            ("completions_per_s", "{:,.0f}"), ("max_memory_allocated_mb", "{:,.0f}"), ("device", "{}")]
    names = {"eval_accuracy": "held-out", "first_target_seconds": f"s to >= {target:.0%}",
             "tokens_per_s": "tokens/s", "mfu": "MFU", "completions_per_s": "completions/s",
             "max_memory_allocated_mb": "peak MiB"}
    return markdown_table(results, cols, names)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "runs" / "gpu_presets"))
    p.add_argument("--smoke", action="store_true", help="tiny CPU version of every stage (seconds)")
    p.add_argument("--weak_steps", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    p.add_argument("--weak_min", type=float, default=0.2, help="held-out accuracy the weak start must reach")
    p.add_argument("--target", type=float, default=0.95, help="accuracy whose first arrival the table reports")
    p.add_argument("--stages", nargs="+", default=["sft", "grpo", "ppo"], choices=["sft", "grpo", "ppo"])
    args = p.parse_args(argv)
    out = Path(args.out)
    sft_extra, rl_extra = (SMOKE["sft"], SMOKE["rl"]) if args.smoke else ([], [])
    weak_steps = [1, 2] if args.smoke else args.weak_steps
    weak_min = 0.0 if args.smoke else args.weak_min
    results = []
    if "sft" in args.stages:
        rows, summary = cli_run(out / "sft", "sft", "--preset", "gpu", *sft_extra)
        results.append(row_for("sft", rows, summary, args.target))
    if {"grpo", "ppo"} & set(args.stages):
        for n in weak_steps:                  # the smallest SFT run that leaves the model weak, not hopeless
            weak = out / f"weak_{n}"
            rows, summary = cli_run(weak, "sft", "--preset", "gpu", *sft_extra, "--steps", str(n),
                                    "--eval_every", str(n), "--lr_schedule", "constant")
            if summary["eval_accuracy"] >= weak_min:
                break
        results.append(row_for(f"weak ({n} steps)", rows, summary, args.target))
        for algo in ("grpo", "ppo"):
            if algo in args.stages:
                rows, summary = cli_run(out / algo, algo, "--preset", "gpu", "--init", str(weak / "model.pt"),
                                        *rl_extra)
                results.append(row_for(algo, rows, summary, args.target))
    (out / "results.json").write_text(json.dumps(results, indent=2))
    md = table(results, args.target)
    (out / "results.md").write_text(md + "\n")
    print(md)
    return results


if __name__ == "__main__":
    main()
