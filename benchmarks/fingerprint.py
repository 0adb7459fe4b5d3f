"""Fingerprint the metrics of a short run of every trainer, to show that a refactor changed nothing.

Each command below runs from one weak start with a fixed seed and a fixed thread count; the script hashes
its metrics.jsonl with the wall-clock fields removed (seconds, tokens_per_s, ...). Run it before and
after a change and compare:

    python benchmarks/fingerprint.py --save /tmp/before.json      # on the old code
    python benchmarks/fingerprint.py --check /tmp/before.json     # on the new code: same hashes?

(Same machine and thread count: float results can differ in the last bit across CPUs.) Fields
that were renamed are compared under their old names (RENAMED); a field whose definition changed
on purpose is left out of the comparison (REDEFINED).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Intended changes a check forgives, each with its reason:
RENAMED = {"kl_per_token": "kl"}       # GRPO's per-token KL was logged as "kl", PPO's per-sequence KL still is
REDEFINED = {"explained_var", "explained_variance"}   # PPO's is now core.explained_variance, 1 - Var(R-V)/Var(R)
REDEFINED_IN = ("ppo", "rlhf")                        # ... in these runs only (A2C's is unchanged)
WALL_CLOCK = {"seconds", "tokens_per_s", "mfu", "step_seconds", "completions_per_s", "rollout_seconds",
              "update_seconds", "wall_seconds", "rollout_s", "update_s"}


def strip(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in WALL_CLOCK and not k.endswith("_seconds")}


def runs(weak: str, out: Path) -> dict[str, list[str]]:
    return {
        "sft": ["sft", "--steps", "40", "--eval_every", "20", "--log_every", "5"],
        "reinforce": ["reinforce", "--init", weak, "--steps", "8", "--eval_every", "4", "--log_every", "1"],
        "a2c": ["a2c", "--init", weak, "--steps", "8", "--eval_every", "4", "--log_every", "1"],
        "ppo": ["ppo", "--init", weak, "--steps", "4", "--eval_every", "2", "--batch_size", "16"],
        "ppo_k3_target": ["ppo", "--init", weak, "--steps", "3", "--eval_every", "3", "--batch_size", "16",
                          "--kl_kind", "k3", "--target_kl", "0.001", "--kl_coef", "0.1"],
        "dpo": ["dpo", "--init", weak, "--steps", "8", "--eval_every", "4", "--log_every", "1", "--n_pairs", "256",
                "--pairs", "corrupt", "--beta", "0.1", "--lr", "1e-4"],
        "grpo": ["grpo", "--init", weak, "--steps", "6", "--eval_every", "3", "--log_every", "1"],
        "grpo_inner": ["grpo", "--init", weak, "--steps", "4", "--eval_every", "2", "--log_every", "1",
                       "--inner_steps", "2", "--kl_coef", "0.05", "--loss_type", "dapo"],
        "reward_model": ["reward-model", "--init", weak, "--steps", "10", "--eval_every", "5", "--pairs", "512",
                         "--heldout_pairs", "64", "--log_every", "1"],
        "rlhf": ["rlhf", "--init", weak, "--steps", "3", "--eval_every", "3", "--batch_size", "16",
                 "--rm_steps", "10", "--rm_sft_steps", "20", "--rm_pairs", "512"],
    }


def metrics_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("metrics.jsonl"))


def fingerprint(folder: Path) -> dict[str, list[dict]]:
    """{metrics file: its rows without wall-clock fields, renamed fields under their old names}."""
    out = {}
    for f in metrics_files(folder):
        rows = [strip(json.loads(line)) for line in f.read_text().splitlines() if line]
        out[str(f.relative_to(folder))] = [{RENAMED.get(k, k): v for k, v in r.items()} for r in rows]
    return out


def digest(rows: list[dict], run: str = "") -> str:
    ignore = REDEFINED if any(name in run for name in REDEFINED_IN) else set()
    rows = [{k: v for k, v in r.items() if k not in ignore} for r in rows]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]


def main(argv=None):
    import torch
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--save", help="write the fingerprints to this JSON file")
    p.add_argument("--check", help="compare with fingerprints saved earlier; exit 1 on a difference")
    p.add_argument("--only", default="", help="comma-separated subset of the runs")
    p.add_argument("--compare", action="store_true", help="also run `compare --quick` (about a minute)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for every run (compare only like with like)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from minirl.__main__ import main as cli
    from minirl.sft import ensure_weak_init
    prints = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weak = ensure_weak_init(str(tmp / "weak"))
        prints["weak"] = fingerprint(tmp / "weak")
        todo = runs(weak, tmp)
        if args.only:
            todo = {k: v for k, v in todo.items() if k in args.only.split(",")}
        for name, argv_ in todo.items():
            rc = cli(argv_ + ["--out", str(tmp / name), "--no-progress"])
            if rc:
                raise SystemExit(f"{name}: exit {rc}")
            prints[name] = fingerprint(tmp / name)
            print(f"{name:16s} {[digest(rows, name + f) for f, rows in prints[name].items()]}", flush=True)
        if args.compare:
            cli(["compare", "--quick", "--out", str(tmp / "compare"), "--init", weak])
            prints["compare"] = fingerprint(tmp / "compare")
            print(f"{'compare':16s} {len(prints['compare'])} runs", flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(prints, indent=1, sort_keys=True))
    if args.check:
        old = json.loads(Path(args.check).read_text())
        bad = [f"{run}/{f}" for run in prints for f in prints[run]
               if digest(prints[run][f], run + f) != digest(old.get(run, {}).get(f, []), run + f)]
        print(f"{len(prints)} runs: " + ("identical" if not bad else f"DIFFERENT: {', '.join(bad)}"))
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
