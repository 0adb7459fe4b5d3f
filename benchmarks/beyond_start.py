"""Capability beyond the start (chapter 10): can RL teach 3-digit addition to a policy that has
only seen 2-digit problems, and never answers a 3-digit one right?

    .venv/bin/python benchmarks/beyond_start.py               # 3 arms x 3 seeds
    .venv/bin/python benchmarks/beyond_start.py --smoke       # tiny runs, to check the script
    .venv/bin/python benchmarks/beyond_start.py --plot_only   # redraw from OUT/results.json

The start is an add2 policy trained to full strength (`python -m minirl sft --task add2 --seed 0`,
1,000 steps). On add3 its reward is exactly 0 for almost every sample, so GRPO's group advantages
are 0 and exact-match RL has nothing to follow. For each seed S, from that start:
    python -m minirl grpo --task add3 --init START --seed S --steps STEPS                  # exact match
    python -m minirl grpo --task add3 --init START --seed S --steps STEPS --dense_reward   # partial credit
    python -m minirl sft  --task add3 --init START --seed S --steps SFT_STEPS              # demonstrations
The last arm is the control: imitation of the missing skill. At the end, minirl.passk.passk_curve on
100 held-out add3 problems with --n samples each (pass@1, pass@n, unsolved), and greedy accuracy on
add3 (each run's eval_accuracy) and on add2 (what the new skill costs the old one). Finished runs in
--out are reused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, grouped, markdown_table, mean_pct, results_json, save_figure  # noqa: E402

ARMS = {"GRPO, exact match": ["grpo"], "GRPO, partial credit": ["grpo", "--dense_reward"],
        "SFT on add3 (control)": ["sft"]}


def final_metrics(path: str, n: int, prompts: int) -> dict:
    from minirl.passk import passk_curve
    from minirl.rollout import evaluate
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, add3, add2 = CharTokenizer(), make_task("add3"), make_task("add2")
    model = load_model(path, tok, add3, kind="GPT")[0].eval()
    m = passk_curve(model, tok, add3, n=n, n_prompts=prompts, seed=0)
    return {"pass@1": m["pass@k"][1], f"pass@{n}": m["pass@k"][n], "unsolved": m["unsolved"],
            "add3_greedy": evaluate(model, tok, add3)[0], "add2_greedy": evaluate(model, tok, add2)[0]}


def run_all(args, out: Path) -> list[dict]:
    cli_run(out / "start_add2", "sft", "--task", "add2", "--seed", "0",
                   *(["--steps", "3"] if args.smoke else []))
    start = str(out / "start_add2" / "model.pt")
    results = [{"arm": "start", "seed": 0, "curve": [], **final_metrics(start, args.n, args.prompts)}]
    for seed in args.seeds:
        for name in args.arms:
            algo, *flags = ARMS[name]
            steps = args.sft_steps if algo == "sft" else args.steps
            extra = ["--batch_size", "4"] if args.smoke else []
            folder = out / f"{name.split(' (')[0].replace(', ', '_').replace(' ', '_')}_s{seed}"
            rows, s = cli_run(folder, algo, "--task", "add3", "--init", start, "--seed", str(seed), "--steps",
                              str(steps), "--eval_every", str(args.eval_every), *flags, *extra)
            curve = [(r["step"], r["eval_accuracy"]) for r in rows if r.get("eval_accuracy") is not None]
            results.append({"arm": name, "seed": seed, "curve": curve, "wall": s["wall_seconds"],
                            **final_metrics(str(folder / "model.pt"), args.n, args.prompts)})
            print({k: v for k, v in results[-1].items() if k != "curve"}, flush=True)
    return results


def plot(results: list[dict]):
    """Held-out add3 accuracy against training step, one line per run (colour: arm)."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.8, 3.8))
    arms = {name: rs for name, rs in grouped(results, "arm").items() if name != "start"}
    for i, (name, rs) in enumerate(arms.items()):
        for j, r in enumerate(rs):
            ax.plot([c[0] for c in r["curve"]], [100 * c[1] for c in r["curve"]], color=f"C{i}",
                    label=name if j == 0 else None, alpha=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out add3 accuracy (%)")
    ax.set_title("3-digit addition from a 2-digit policy (one line per seed)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=300, help="GRPO steps")
    p.add_argument("--sft_steps", type=int, default=300)
    p.add_argument("--eval_every", type=int, default=25)
    p.add_argument("--n", type=int, default=32, help="samples per held-out problem for pass@k")
    p.add_argument("--prompts", type=int, default=100)
    p.add_argument("--out", default=str(ROOT / "runs" / "beyond_start"))
    p.add_argument("--figure", default="ch10_beyond_start", help="figure name under chapters/figures/ ('' = none)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--plot_only", action="store_true")
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.sft_steps, args.eval_every, args.n, args.prompts = 2, 2, 1, 4, 4
    out = Path(args.out)
    results = results_json(out, args.plot_only, lambda: run_all(args, out))
    rows = []
    for name, rs in grouped(results, "arm").items():
        n = max(int(k[5:]) for k in rs[0] if k.startswith("pass@"))
        rows.append({"arm": name, "seeds": len(rs),
                     "add3 greedy": " / ".join(f"{100 * r['add3_greedy']:.1f}" for r in rs),
                     "pass@1": mean_pct(rs, "pass@1"), f"pass@{n}": mean_pct(rs, f"pass@{n}"),
                     "unsolved": mean_pct(rs, "unsolved"), "add2 greedy": mean_pct(rs, "add2_greedy")})
    print(markdown_table(rows))
    if args.figure:
        save_figure(plot(results), out / "beyond_start.png" if args.smoke else args.figure)
    return results


if __name__ == "__main__":
    main()
