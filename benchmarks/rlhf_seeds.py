"""RLHF at its defaults over several seeds, and what normalising the learned reward changes.

    .venv/bin/python benchmarks/rlhf_seeds.py                  # seeds 0 1 2 (each ~8 min on 2 cores)
    .venv/bin/python benchmarks/rlhf_seeds.py --seeds 1 --smoke  # a few iterations of everything

Part 1 (the seed variation behind tests/test_rlhf.py's long test): for each seed S,
    python -m minirl rlhf --init runs/weak/model.pt --seed S --out runs/rlhf_seeds/rlhf_sS
trains its own judge trunk, judge and PPO run, all at the defaults. Part 2 (Ziegler et al. 2019
normalise the reward model's output to mean 0 and std 1 on the start policy's samples): PPO again,
against each seed's judge, with --normalize_reward (the same seed, so the same prompts), and both
runs' held-out accuracy, true reward and KL after 10, 20, 50 iterations and at the end.
Runs go one after another with --threads threads each; finished runs in --out are reused.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, markdown_table, results_json  # noqa: E402

SMOKE = ["--sft_steps", "2", "--rm_sft_steps", "2", "--rm_steps", "3", "--rm_pairs", "64", "--steps", "4",
         "--batch_size", "8", "--eval_every", "2"]
AT = (10, 20, 50)


def at(rows: list[dict], step: int, key: str):
    """The value of `key` in the last row at or before `step` that has it (None if none)."""
    vals = [r[key] for r in rows if key in r and r["step"] <= step]
    return vals[-1] if vals else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--init", default=None, help="the start (default: the weak start, runs/weak/model.pt)")
    p.add_argument("--out", default=str(ROOT / "runs" / "rlhf_seeds"))
    p.add_argument("--smoke", action="store_true", help="tiny stages, to check the script")
    args = p.parse_args(argv)
    from minirl.sft import ensure_weak_init
    init = args.init or ensure_weak_init(str(ROOT / "runs" / "weak"))
    start = json.loads((Path(init).parent / "summary.json").read_text())["eval_accuracy"]
    out, extra = Path(args.out), (SMOKE if args.smoke else [])

    def run():
        results = []
        for seed in args.seeds:
            base = out / f"rlhf_s{seed}"
            judge = base / "reward_model" / "model.pt"
            for arm, flags, folder in (("raw", [], base), ("normalised", ["--normalize_reward", "--reward_model",
                                                                          str(judge)], out / f"normalized_s{seed}")):
                rows, s = cli_run(folder, "rlhf", "--init", init, "--seed", str(seed), *extra, *flags,
                                  threads=args.threads)
                results.append({"seed": seed, "arm": arm, "start": start, "final": s["eval_accuracy"],
                                "judge_agreement": s.get("rm_verifier_agreement") or json.loads(
                                    (base / "reward_model" / "summary.json").read_text())["verifier_agreement"],
                                "normalizer": s.get("reward_normalizer"), "wall": s["wall_seconds"],
                                **{f"acc{k}": at(rows, k, "eval_accuracy") for k in AT},
                                **{f"true{k}": at(rows, k, "true_reward") for k in AT},
                                "final_kl": s.get("final_kl")})
                print(json.dumps(results[-1]), flush=True)
        return results

    results = results_json(out, False, run)
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    print(markdown_table([{"seed": r["seed"], "reward": r["arm"], **{f"a{k}": pct(r[f"acc{k}"]) for k in AT},
                           "final": pct(r["final"]), **{f"t{k}": pct(r[f"true{k}"]) for k in AT},
                           "kl": "-" if r["final_kl"] is None else f"{r['final_kl']:.2f}",
                           "judge": pct(r["judge_agreement"])} for r in results],
                         headers={"a10": "acc. @10 %", "a20": "@20", "a50": "@50", "final": "final %",
                                  "t10": "true reward @10 %", "t20": "@20", "t50": "@50",
                                  "kl": "final KL (nats)", "judge": "judge–verifier agreement %"}))
    finals = [r["final"] - start for r in results if r["arm"] == "raw"]
    print(f"raw RLHF gain over the {100 * start:.1f}% start: " + ", ".join(f"{100 * g:+.1f}" for g in finals) +
          " points")
    return results


if __name__ == "__main__":
    main()
