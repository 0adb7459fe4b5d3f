"""The `--preset gpu` recipes end to end: SFT, a weak start, then GRPO and PPO from it, in one table.

    python -m benchmarks.gpu_presets            # on a CUDA GPU: the numbers chapter 9 asks for
    python -m benchmarks.gpu_presets --smoke    # a tiny CPU version of every stage (the test suite runs it)
    python -m benchmarks.gpu_presets --check    # `make gpu-check`: everything chapter 9's GPU table needs

Each stage is an ordinary CLI run in --out/<stage> (a finished one is reused):
    sft    python -m minirl sft  --preset gpu                        accuracy, tokens/s, MFU, peak memory
    weak   python -m minirl sft  --preset gpu --steps N --lr_schedule constant, for the smallest N in
           --weak_steps whose held-out accuracy lies in [--weak_min, --weak_max] (bisecting between
           two tried N when one jumps over the range): a start RL has room to improve
    grpo   python -m minirl grpo --preset gpu --init weak/model.pt   first held-out >= 95%, completions/s
    ppo    python -m minirl ppo  --preset gpu --init weak/model.pt
It writes results.json and results.md (a markdown table) to --out and prints the table.

--check adds an environment report (GPU, compute capability, the dtype, peak FLOP/s and compile plan
minirl derives from them), throughput with torch.compile off and on, peak memory, and a
`torchrun --nproc_per_node 2` SFT run when there are two GPUs, and writes one results.json to
--results (default results/gpu/). --check --smoke is its dry run on the CPU, at toy size.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run  # noqa: E402
from minirl.config import TOY_SIZE  # noqa: E402
from minirl.report import first_crossing, markdown_table  # noqa: E402

# --smoke: the same stages (the preset's task and flags), a tiny model, a handful of steps, on the CPU
TOY = [x for k, v in TOY_SIZE.items() for x in (f"--{k}", str(v))]
SMOKE = dict(sft=["--device", "cpu", *TOY, "--batch_size", "16", "--steps", "4", "--eval_every", "2",
                  "--log_every", "2"],
             rl=["--device", "cpu", "--batch_size", "4", "--steps", "2", "--eval_every", "2", "--log_every", "1"])


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


def weak_start(out: Path, sft_extra: list[str], steps: list[int], low: float, high: float):
    """-> (N, rows, summary) of the smallest SFT run in `steps` (ascending) whose held-out accuracy
    is in [low, high]. When one N jumps from below `low` to above `high`, bisect between the two
    (at most 4 more runs); SystemExit naming every accuracy if no N lands in the range."""
    seen = {}

    def run(n):
        rows, summary = cli_run(out / f"weak_{n}", "sft", "--preset", "gpu", *sft_extra, "--steps", str(n),
                                "--eval_every", str(n), "--lr_schedule", "constant")
        seen[n] = summary["eval_accuracy"]
        return rows, summary

    below = 0
    for n in sorted(steps):
        rows, summary = run(n)
        if low <= seen[n] <= high:
            return n, rows, summary
        if seen[n] > high:
            above = n
            for _ in range(4):
                mid = (below + above) // 2
                if mid in (below, above):
                    break
                rows, summary = run(mid)
                if low <= seen[mid] <= high:
                    return mid, rows, summary
                below, above = (mid, above) if seen[mid] < low else (below, mid)
            break
        below = n
    tried = ", ".join(f"{n} steps: {a:.1%}" for n, a in sorted(seen.items()))
    raise SystemExit(f"no weak start with held-out accuracy in [{low:.0%}, {high:.0%}] ({tried}); "
                     "choose other --weak_steps")


def run_presets(args) -> list[dict]:
    out = Path(args.out)
    sft_extra, rl_extra = (SMOKE["sft"], SMOKE["rl"]) if args.smoke else ([], [])
    weak_steps = [1, 2] if args.smoke else args.weak_steps
    low, high = (0.0, 1.0) if args.smoke else (args.weak_min, args.weak_max)
    results = []
    if "sft" in args.stages:
        rows, summary = cli_run(out / "sft", "sft", "--preset", "gpu", *sft_extra, *args.sft_flags)
        results.append(row_for("sft", rows, summary, args.target))
    if {"grpo", "ppo"} & set(args.stages):
        n, rows, summary = weak_start(out, sft_extra, weak_steps, low, high)
        results.append(row_for(f"weak ({n} steps)", rows, summary, args.target))
        for algo in ("grpo", "ppo"):
            if algo in args.stages:
                rows, summary = cli_run(out / algo, algo, "--preset", "gpu", "--init",
                                        str(out / f"weak_{n}" / "model.pt"), *rl_extra)
                results.append(row_for(algo, rows, summary, args.target))
    return results


# --- make gpu-check ---------------------------------------------------------------------------
def gpu_environment(device) -> dict:
    """Where it ran (the fields every results/ file has: cpu, cpu_capability, threads, torch, date,
    git_commit), the GPU, and every decision minirl derives from its properties (device.py)."""
    import os
    import platform
    from datetime import datetime, timezone

    import torch

    from minirl.device import choose_amp_dtype, compile_plan, gpu_properties, peak_flops_for
    from minirl.run_folder import run_metadata
    env = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
           "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "python": platform.python_version(),
           "date": datetime.now(timezone.utc).date().isoformat(), "git_commit": run_metadata(ROOT)["git_commit"],
           "device": str(device), "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0,
           "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
    if device.type == "cuda":
        name, cc = gpu_properties(device)
        amp = choose_amp_dtype("auto", "cuda", cc, name)
        env.update(gpu=name, capability=f"{cc[0]}.{cc[1]}", dtype_auto=str(amp or "float32"),
                   memory_gib=round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1),
                   peak_flops=peak_flops_for(name, cc, amp), compile_plan=compile_plan("cuda", cc),
                   tf32=torch.backends.cuda.matmul.allow_tf32)
    return env


def headline(report: dict) -> dict:
    """The numbers chapter 9's GPU table quotes, flat (results/gpu/results.json's "numbers")."""
    by = {r["stage"].split(" ")[0]: r for r in report["presets"]}
    tp = {r["compile"]: r for r in report["throughput"]}
    out = {"sft_eval_accuracy": by["sft"]["eval_accuracy"], "sft_tokens_per_s": by["sft"]["tokens_per_s"],
           "sft_mfu": by["sft"]["mfu"], "sft_peak_mib": by["sft"]["max_memory_allocated_mb"],
           "weak_eval_accuracy": by["weak"]["eval_accuracy"]}
    if "grpo" in by:
        out.update(grpo_eval_accuracy=by["grpo"]["eval_accuracy"], grpo_minutes=by["grpo"]["minutes"],
                   grpo_first_target_seconds=by["grpo"]["first_target_seconds"],
                   grpo_completions_per_s=by["grpo"]["completions_per_s"])
    for compiled, name in ((False, "eager"), (True, "compiled")):
        if compiled in tp:
            out.update({f"{name}_train_ms": tp[compiled]["train_ms"], f"{name}_mfu": tp[compiled]["mfu"],
                        f"{name}_cache_seq_per_s": tp[compiled]["cache_seq_per_s"]})
    return out


def torchrun_command(out: Path, steps: int) -> list[str]:
    """`torchrun --nproc_per_node 2 -m minirl sft --preset gpu`: a short run, for tokens/s and MFU."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "minirl", "sft",
            "--preset", "gpu", "--steps", str(steps), "--eval_every", str(steps), "--out", str(out),
            "--no-progress", "--overwrite"]


def gpu_check(args) -> dict:
    """Environment, presets (SFT, weak start, GRPO), throughput with compile off and on, torchrun."""
    import torch

    from benchmarks import throughput
    from minirl.device import pick_device
    device = pick_device("cpu" if args.smoke else "auto")
    if device.type != "cuda" and not args.smoke:
        raise SystemExit("make gpu-check needs a CUDA GPU (PyTorch sees none); --smoke is its CPU dry run")
    report = {"command": "make gpu-check" + (" (dry run: --smoke)" if args.smoke else ""),
              "environment": gpu_environment(device), "presets": run_presets(args), "throughput": []}
    grpo = [r for r in report["presets"] if r["stage"] == "grpo"]
    report["grpo_reached_target"] = bool(grpo and grpo[0]["first_target_step"] is not None)
    base = ["--preset", "gpu", "--device", device.type] + (["--smoke"] if args.smoke else ["--repeats", "3"])
    for compiled in ([], ["--compile"] + (["--compile_backend", "eager"] if args.smoke else [])):
        report["throughput"] += throughput.main(base + compiled)
    if device.type == "cuda" and torch.cuda.device_count() >= 2:
        subprocess.run(torchrun_command(Path(args.out) / "sft_2gpu", 200), check=True, cwd=ROOT)
        report["torchrun"] = json.loads((Path(args.out) / "sft_2gpu" / "summary.json").read_text())
    else:
        report["torchrun"] = {"skipped": "fewer than 2 GPUs"}
    report["numbers"] = headline(report)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "results.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {results / 'results.json'}")
    return report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "runs" / "gpu_presets"))
    p.add_argument("--smoke", action="store_true", help="tiny CPU version of every stage (seconds)")
    p.add_argument("--weak_steps", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    p.add_argument("--weak_min", type=float, default=0.2, help="lowest held-out accuracy of the weak start")
    p.add_argument("--weak_max", type=float, default=0.5, help="highest held-out accuracy of the weak start")
    p.add_argument("--target", type=float, default=0.95, help="accuracy whose first arrival the table reports")
    p.add_argument("--stages", nargs="+", default=None, choices=["sft", "grpo", "ppo"],
                   help="default: all three; with --check sft and grpo")
    p.add_argument("--check", action="store_true", help="make gpu-check: sft and grpo, environment, "
                   "throughput (compile off, on), torchrun on 2 GPUs; one results.json in --results")
    p.add_argument("--results", default=str(ROOT / "results" / "gpu"), help="--check: its results.json's folder")
    args = p.parse_args(argv)
    args.sft_flags = []                       # flags of the SFT stage only (not of the weak starts)
    if args.check:
        args.stages = args.stages or ["sft", "grpo"]
        args.sft_flags = [] if args.smoke else ["--steps", "600"]   # enough steps for tokens/s and MFU
        report = gpu_check(args)
        results = report["presets"]
    else:
        args.stages = args.stages or ["sft", "grpo", "ppo"]
        results = run_presets(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    md = table(results, args.target)
    (out / "results.md").write_text(md + "\n")
    print(md)
    return results


if __name__ == "__main__":
    main()
