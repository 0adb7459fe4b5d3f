"""Does one-step TD collapse A2C on add2 (chapter 4, §4.3), and what stops it? A2C from the shipped
weak start with five advantage estimators, 3 seeds each, and what each final policy writes.

    .venv/bin/python benchmarks/td_collapse.py            # 5 arms x 3 seeds, 100 steps each
    .venv/bin/python benchmarks/td_collapse.py --smoke    # tiny runs, to check the script

Every run is `python -m minirl a2c --init WEAK --seed S --steps 100 --eval_every 10` plus its arm's
flags:
    mc           (none: --n_steps 8, the Monte Carlo return with V as a per-prefix baseline)
    td1          --n_steps 1                      (one-step TD: bootstraps from the fresh critic)
    td1_warmup   --n_steps 1 --value_warmup 30    (the critic trains alone for 30 steps first)
    gae0.5       --advantages gae --gae_lambda 0.5    (GAE, half way between the two)
    gae0.9       --advantages gae --gae_lambda 0.9
Reported per arm: final held-out accuracy (mean, sd, per seed), the lowest evaluation on the way,
and of the final policies' greedy answers to the 500 held-out problems: the share of empty answers,
the mean answer length and the most frequent answers. Writes runs/td_collapse/ and
results/td_collapse/results.json.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from statistics import mean, stdev

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, write_results  # noqa: E402

ARMS = {"mc": [], "td1": ["--n_steps", "1"], "td1_warmup": ["--n_steps", "1", "--value_warmup", "30"],
        "gae0.5": ["--advantages", "gae", "--gae_lambda", "0.5"], "gae0.9": ["--advantages", "gae", "--gae_lambda", "0.9"]}
LABELS = {"mc": "Monte Carlo target (`--n_steps 8`, the default)", "td1": "one-step TD (`--n_steps 1`)",
          "td1_warmup": "one-step TD after 30 critic-only steps (`--value_warmup 30`)",
          "gae0.5": "GAE, λ = 0.5 (`--advantages gae --gae_lambda 0.5`)",
          "gae0.9": "GAE, λ = 0.9 (`--advantages gae --gae_lambda 0.9`)"}


def what_it_writes(path: str) -> dict:
    """The greedy answers of a policy to every held-out problem: empty share, mean length, top 4."""
    from minirl.rollout import sample
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    model = load_model(path, tok, task, kind="GPT")[0].eval()
    texts = [t.strip() for t in sample(model, tok, task, [task.prompt(a, b) for a, b in task.heldout()],
                                       greedy=True).texts]
    return {"empty": sum(t == "" for t in texts) / len(texts), "length": mean(len(t) for t in texts),
            "top": [f"{t!r} x{c}" for t, c in Counter(texts).most_common(4)]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--out", default=str(ROOT / "runs" / "td_collapse"))
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    from minirl.sft import ensure_weak_init
    weak = ensure_weak_init(str(ROOT / "runs" / "weak"))
    out, numbers, data = Path(args.out), {"steps": args.steps, "seeds": len(args.seeds)}, {}
    size = (["--steps", "2", "--batch_size", "4", "--eval_every", "1", "--value_warmup", "0"] if args.smoke else
            ["--steps", str(args.steps), "--eval_every", "10"])
    for arm, flags in ARMS.items():
        finals, lows, writes = [], [], []
        for seed in args.seeds:
            folder = out / f"{arm}_s{seed}"
            rows, s = cli_run(folder, "a2c", "--init", weak, "--seed", str(seed), *flags, *size)
            evals = [r["eval_accuracy"] for r in rows if "eval_accuracy" in r]
            finals.append(s["eval_accuracy"])
            lows.append(min(evals))
            writes.append(what_it_writes(str(folder / "model.pt")))
            data[f"{arm}.s{seed}"] = {"evals": [(r["step"], r["eval_accuracy"]) for r in rows if "eval_accuracy" in r],
                                      "writes": writes[-1]}
        numbers.update({f"{arm}.final.mean": mean(finals), f"{arm}.final.sd": stdev(finals) if len(finals) > 1 else 0.0,
                        f"{arm}.per_seed": ", ".join(f"{100 * f:.1f}" for f in finals), f"{arm}.low.min": min(lows),
                        f"{arm}.empty.mean": mean(w["empty"] for w in writes),
                        f"{arm}.length.mean": mean(w["length"] for w in writes),
                        f"{arm}.top.s0": ", ".join(writes[0]["top"])})
        print(arm, finals, writes[0], flush=True)
    numbers["start"] = evals_start(weak)
    lines = [f"| A2C, {args.steps} steps from the weak start | held-out (mean ± sd, {len(args.seeds)} seeds) | per seed "
             "| lowest evaluation | empty answers | seed 0's most frequent greedy answers |",
             "| --- | --- | --- | --- | --- | --- |"]
    for arm in ARMS:
        g = lambda k: numbers[f"{arm}.{k}"]  # noqa: E731
        lines.append(f"| {LABELS[arm]} | {100 * g('final.mean'):.1f}% ± {100 * g('final.sd'):.1f} | {g('per_seed')} | "
                     f"{100 * g('low.min'):.1f}% | {100 * g('empty.mean'):.0f}% | {g('top.s0')} |")
    numbers["table"] = "\n".join(lines) + "\n"
    print(numbers["table"])
    if not args.smoke:
        write_results("td_collapse", numbers, data)
    return numbers


def evals_start(path: str) -> float:
    import json
    return json.loads((Path(path).parent / "summary.json").read_text())["eval_accuracy"]


if __name__ == "__main__":
    main()
