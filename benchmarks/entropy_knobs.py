"""Entropy during GRPO, and three knobs said to hold it up (chapter 10, §10.5): a higher sampling
temperature, a KL penalty to the start, and DAPO's clip-higher.

    .venv/bin/python benchmarks/entropy_knobs.py               # 5 settings x 3 seeds on countdown
    .venv/bin/python benchmarks/entropy_knobs.py --smoke       # tiny runs, to check the script
    .venv/bin/python benchmarks/entropy_knobs.py --plot_only   # redraw from OUT/results.json

From countdown's weak start (200 SFT steps, seed 0), for each setting and seed S:
    python -m minirl grpo --task countdown --init START --seed S --steps STEPS <the setting's flags>
The settings: GRPO's defaults; --temperature 1.2; --kl_coef 0.04 (a KL penalty to the start);
--inner_steps 2 (two updates per batch: the control for the next one, since a ratio clip only acts
after the first update); --inner_steps 2 --clip_eps_high 0.28 (DAPO's clip-higher, Yu et al. 2025).
Each run logs GRPO's `entropy` (mean -log pi of its sampled tokens). At the end, minirl.passk.passk_curve
on 100 held-out problems with 64 samples each gives pass@1, pass@64, the distinct right answers per
problem and the policy's exact entropy at temperature 1. Finished runs in --out are reused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (add_sampling_args, cli_run, grouped, largest_k, markdown_table, mean_pct,  # noqa: E402
                               results_json, sampled_metrics, save_figure, write_results)

SETTINGS = {"defaults": [], "temperature 1.2": ["--temperature", "1.2"], "KL beta 0.04": ["--kl_coef", "0.04"],
            "2 updates per batch": ["--inner_steps", "2"],
            "2 updates + clip-higher 0.28": ["--inner_steps", "2", "--clip_eps_high", "0.28"]}


def final_metrics(path: str, n: int, prompts: int) -> dict:
    from minirl.tasks import make_task
    m = sampled_metrics(path, make_task("countdown"), n, prompts)[1]
    return {"pass@1": m["pass@k"][1], f"pass@{n}": m["pass@k"][n], "distinct": m["distinct_correct"],
            "entropy_exact": m["entropy"]}


def run_all(args, out: Path) -> list[dict]:
    from minirl.sft import ensure_weak_init
    start = ensure_weak_init(str(out / "start_countdown"), task="countdown", seed=0,
                             **({"steps": 3} if args.smoke else {}))
    results = [{"setting": "start", "seed": 0, "curve": [], **final_metrics(start, args.n, args.prompts)}]
    for seed in args.seeds:
        for name in args.settings:
            folder = out / f"{name.replace(' ', '_')}_s{seed}"
            extra = ["--batch_size", "4"] if args.smoke else []
            rows, s = cli_run(folder, "grpo", "--task", "countdown", "--init", start, "--seed", str(seed),
                              "--steps", str(args.steps), "--log_every", str(args.log_every), *SETTINGS[name], *extra)
            curve = [(r["step"], r["entropy"], r["reward_mean"]) for r in rows if "entropy" in r]
            results.append({"setting": name, "seed": seed, "greedy": s["eval_accuracy"], "curve": curve,
                            "wall": s["wall_seconds"], **final_metrics(str(folder / "model.pt"), args.n, args.prompts)})
            print({k: v for k, v in results[-1].items() if k != "curve"}, flush=True)
    return results


def plot(results: list[dict]):
    """Logged entropy against GRPO step, mean over seeds, one line per setting."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.8, 3.8))
    for name, rs in grouped(results, "setting").items():
        if name == "start":
            continue
        curves = [r["curve"] for r in rs]
        steps = [c[0] for c in curves[0]]
        ax.plot(steps, [mean([c[i][1] for c in curves]) for i in range(len(steps))], label=name.replace("beta", "β"))
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("entropy of sampled tokens (nats)")
    ax.set_title("countdown, GRPO from the weak start (mean of seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--log_every", type=int, default=5)
    add_sampling_args(p, out="entropy_knobs", figure="ch10_entropy_knobs", n=64)
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.log_every, args.n, args.prompts = 2, 1, 4, 4
    out = Path(args.out)
    results = results_json(out, args.plot_only, lambda: run_all(args, out))
    rows = []
    for name, rs in grouped(results, "setting").items():
        n = largest_k(rs[0])
        rows.append({"setting": name, "seeds": len(rs), "greedy": "-" if name == "start" else mean_pct(rs, "greedy"),
                     "pass@1": mean_pct(rs, "pass@1"), f"pass@{n}": mean_pct(rs, f"pass@{n}"),
                     "distinct": f"{mean([r['distinct'] for r in rs]):.2f}",
                     "entropy": f"{mean([r['entropy_exact'] for r in rs]):.3f}",
                     "logged first -> last": "-" if name == "start" else
                     f"{mean([r['curve'][0][1] for r in rs]):.3f} -> {mean([r['curve'][-1][1] for r in rs]):.3f}"})
    print(markdown_table(rows))
    if args.figure:
        save_figure(plot(results), out / "entropy.png" if args.smoke else args.figure)
    if not args.smoke:
        command = ["python", "benchmarks/entropy_knobs.py", *[a for a in (argv or sys.argv[1:]) if a != "--plot_only"]]
        write_results("entropy_knobs", chapter_numbers(results, rows), results, command=" ".join(command))
    return results


def chapter_numbers(results: list[dict], rows: list[dict]) -> dict:
    """Per setting (its name slugged: "KL beta 0.04" -> "KL_beta_0.04") the means over seeds, each
    seed's pass@n, and the table (the rows printed above) as Markdown."""
    numbers = {}
    for name, rs in grouped(results, "setting").items():
        key, n = "_".join(name.split()), largest_k(rs[0])
        numbers.update({f"{key}.pass@1": mean(r["pass@1"] for r in rs), f"{key}.pass@n": mean(r[f"pass@{n}"] for r in rs),
                        f"{key}.distinct": mean(r["distinct"] for r in rs),
                        f"{key}.entropy": mean(r["entropy_exact"] for r in rs), "n": n})
        numbers.update({f"{key}.pass@n.s{r['seed']}": r[f"pass@{n}"] for r in rs})
        if name != "start":
            numbers.update({f"{key}.greedy": mean(r["greedy"] for r in rs),
                            f"{key}.logged_first": mean(r["curve"][0][1] for r in rs),
                            f"{key}.logged_last": mean(r["curve"][-1][1] for r in rs)})
    numbers["table"] = markdown_table(rows).rstrip("\n") + "\n"          # the table printed above
    return numbers


if __name__ == "__main__":
    main()
