"""Capability beyond the start (chapter 10): can RL teach 3-digit addition to a policy that has
only seen 2-digit problems, and never answers a 3-digit one right?

    .venv/bin/python benchmarks/beyond_start.py               # 6 arms x 3 seeds
    .venv/bin/python benchmarks/beyond_start.py --smoke       # tiny runs, to check the script
    .venv/bin/python benchmarks/beyond_start.py --plot_only   # redraw from OUT/results.json

The start is the shipped add2 policy trained to full strength (`--init strong`:
`python -m minirl sft --task add2 --seed 0 --threads 2`, 1,000 steps; minirl/starts.py). On add3 its reward is exactly 0 for almost every sample, so GRPO's group advantages
are 0 and exact-match RL has nothing to follow. For each seed S (S = --steps, 300 by default; W = --warmup, 30):
    grpo --task add3 --init START --steps S                       # exact match
    grpo --task add3 --init START --steps S --dense_reward        # partial credit per digit
    sft  --task add3 --init START --steps S,  then grpo --init THAT --steps S
    sft  --task add3 --init START --steps 2S                      # control: all demonstrations
    sft  --task add3              --steps 2S                      # control: without the start
    sft  --task add3 --init START --steps 2S --warmup 0           # control: without the warm-up
(all with --seed S and, but the last, --warmup W). Without a warm-up, the first full-size Adam steps
throw a trained network far from where it was; the last arm measures what that costs here. At the
end, minirl.passk.passk_curve on 100 held-out add3 problems with --n samples each (pass@1, pass@n,
unsolved), greedy accuracy on add3 and on add2 (what the new skill costs the old one), and on the
add2 problems written in the add3 format ("007+042="): the same sums, only longer prompts.
Finished runs in --out are reused.
"""
from __future__ import annotations

import argparse
import sys
from statistics import mean
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (add_sampling_args, cli_run, grouped, largest_k, markdown_table, mean_pct,  # noqa: E402
                               results_json, sampled_metrics, save_figure, write_results)
from minirl.starts import copy_to  # noqa: E402


def arms(steps: int) -> dict[str, list[tuple]]:
    """arm -> its stages: (folder prefix, algorithm, warm?, steps, flags). A warm stage starts from the
    previous stage's model (the first from the start); a cold one from random weights. Every stage
    also gets --warmup (run_arm) unless its flags set one."""
    s = steps
    return {
        f"GRPO {s}, exact match": [("GRPO_exact_match", "grpo", True, s, [])],
        f"GRPO {s}, partial credit": [("GRPO_partial_credit", "grpo", True, s, ["--dense_reward"])],
        f"SFT {s}, then GRPO {s}": [("SFT", "sft", True, s, []), ("SFT_then_GRPO", "grpo", True, s, [])],
        f"SFT {2 * s} (control)": [("SFT_2x", "sft", True, 2 * s, [])],
        f"SFT {2 * s} from random weights": [("SFT_scratch_2x", "sft", False, 2 * s, [])],
        f"SFT {2 * s}, no warm-up": [("SFT_2x_no_warmup", "sft", True, 2 * s, ["--warmup", "0"])],
    }


def final_metrics(path: str, n: int, prompts: int) -> dict:
    from minirl.evaluation import evaluate
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, add3, add2 = CharTokenizer(), make_task("add3"), make_task("add2")
    model, m = sampled_metrics(path, add3, n, prompts)
    return {"pass@1": m["pass@k"][1], f"pass@{n}": m["pass@k"][n], "unsolved": m["unsolved"],
            "add3_greedy": evaluate(model, tok, add3)[0], "add2_greedy": evaluate(model, tok, add2)[0],
            "add2_in_add3_format": evaluate(model, tok, add3, pairs=add2.heldout())[0]}


def run_arm(args, out: Path, name: str, seed: int, start: str) -> dict:
    """Train one arm's stages in turn; its curve runs over all of them (step counts add up)."""
    init, curve, wall, offset = None, [], 0.0, 0
    for prefix, algo, warm, steps, flags in arms(args.steps)[name]:
        init = (init or start) if warm else None
        extra = ["--batch_size", "4"] if args.smoke else []
        folder = out / f"{prefix}_s{seed}"
        warmup = [] if "--warmup" in flags else ["--warmup", str(args.warmup)]
        rows, s = cli_run(folder, algo, "--task", "add3", *(["--init", init] if init else []), "--seed", str(seed),
                          "--steps", str(steps), "--eval_every", str(args.eval_every), *warmup, *flags, *extra)
        curve += [(offset + r["step"], r["eval_accuracy"], algo) for r in rows if r.get("eval_accuracy") is not None]
        init, wall, offset = str(folder / "model.pt"), wall + s["wall_seconds"], offset + steps
    return {"arm": name, "seed": seed, "curve": curve, "wall": wall, **final_metrics(init, args.n, args.prompts)}


def run_all(args, out: Path) -> list[dict]:
    if args.smoke:
        cli_run(out / "start_add2", "sft", "--task", "add2", "--seed", "0", "--steps", "3")
    else:                              # the shipped add2 policy (minirl/checkpoints/strong.pt)
        copy_to("strong", out / "start_add2")
    start = str(out / "start_add2" / "model.pt")
    results = [{"arm": "start", "seed": 0, "curve": [], "wall": 0.0, **final_metrics(start, args.n, args.prompts)}]
    for seed in args.seeds:
        for name in (args.arms or arms(args.steps)):
            results.append(run_arm(args, out, name, seed, start))
            print({k: v for k, v in results[-1].items() if k != "curve"}, flush=True)
    return results


def plot(results: list[dict]):
    """Held-out add3 accuracy against training step, one line per run: colour = arm, solid = SFT
    stage, dashed = GRPO stage."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    by_arm = {name: rs for name, rs in grouped(results, "arm").items() if name != "start"}
    for i, (name, rs) in enumerate(by_arm.items()):
        for j, r in enumerate(rs):
            for algo in ("sft", "grpo"):
                pts = [c for c in r["curve"] if c[2] == algo]
                ax.plot([c[0] for c in pts], [100 * c[1] for c in pts], color=f"C{i}", alpha=0.8,
                        ls="-" if algo == "sft" else "--", label=name if j == 0 and pts and
                        (algo == "grpo" or not any(c[2] == "grpo" for c in r["curve"])) else None)
    ax.set_xlabel("training step (SFT solid, GRPO dashed)")
    ax.set_ylabel("held-out add3 accuracy (%)")
    ax.set_title("3-digit addition from a 2-digit policy (one line per seed)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arms", nargs="+", default=None, help="arm names to run (default: all of arms(--steps))")
    p.add_argument("--steps", type=int, default=300, help="S: the unit of every stage's steps (see arms())")
    p.add_argument("--warmup", type=int, default=30, help="learning-rate warm-up steps of every stage")
    p.add_argument("--eval_every", type=int, default=25)
    add_sampling_args(p, out="beyond_start", figure="ch10_beyond_start", n=32)
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.eval_every, args.n, args.prompts, args.warmup = 2, 1, 4, 4, 1
    out = Path(args.out)
    results = results_json(out, args.plot_only, lambda: run_all(args, out))
    rows = []
    for name, rs in grouped(results, "arm").items():
        n = largest_k(rs[0])
        rows.append({"arm": name, "seeds": len(rs),
                     "add3 greedy": " / ".join(f"{100 * r['add3_greedy']:.1f}" for r in rs),
                     "pass@1": mean_pct(rs, "pass@1"), f"pass@{n}": mean_pct(rs, f"pass@{n}"),
                     "unsolved": mean_pct(rs, "unsolved"), "add2 greedy": mean_pct(rs, "add2_greedy"),
                     "add2 as 007+042": mean_pct(rs, "add2_in_add3_format"),
                     "seconds": f"{sum(r['wall'] for r in rs) / len(rs):.0f}"})
    print(markdown_table(rows))
    if args.figure:
        save_figure(plot(results), out / "beyond_start.png" if args.smoke else args.figure)
    if not args.smoke:
        numbers = {"table": markdown_table(rows).rstrip("\n") + "\n"}     # the table printed above
        for name, rs in grouped(results, "arm").items():
            key = "_".join(name.replace(",", "").split())
            numbers.update({f"{key}.{k}": mean(r[k] for r in rs)
                            for k in ("pass@1", f"pass@{largest_k(rs[0])}", "unsolved", "add3_greedy", "add2_greedy",
                                      "add2_in_add3_format")})
        command = ["python", "benchmarks/beyond_start.py", *[a for a in (argv or sys.argv[1:]) if a != "--plot_only"]]
        write_results("beyond_start", numbers, results, command=" ".join(command))
    return results


if __name__ == "__main__":
    main()
