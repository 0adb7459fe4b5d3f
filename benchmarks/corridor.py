"""A2C against REINFORCE on the 6-cell corridor (chapter 4, §4.3; notebook 04, §2), three seeds.

    .venv/bin/python benchmarks/corridor.py

`train_reinforce_corridor` (running-mean baseline) and `train_a2c_corridor` (one-step TD, tabular
critic), 60 updates of 16 episodes each, gamma = 0.9, as in the notebook. Reported per seed: the
episodes until the batch's mean return first reached 95% of the optimal return, the final return,
and A2C's learned V(start) against the true value. A run takes well under a second. Writes
results/corridor/results.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_results  # noqa: E402

ITERATIONS, SEEDS = 60, (0, 1, 2)


def main():
    from minirl.a2c import train_a2c_corridor
    from minirl.env import corridor_optimal_return
    from minirl.reinforce import train_reinforce_corridor
    from minirl.report import markdown_table
    best = corridor_optimal_return(6, 0.9)
    numbers, rows = {"optimal_return": best}, []
    for name, train in (("reinforce", train_reinforce_corridor), ("a2c", train_a2c_corridor)):
        row = {"what": f"{'A2C' if name == 'a2c' else 'REINFORCE'}: episodes until the batch return first "
                       "reached 95% of the optimum"}
        for seed in SEEDS:
            h = train(iterations=ITERATIONS, seed=seed)
            first = next((x["episodes"] for x in h if x["ret"] >= 0.95 * best), None)
            numbers[f"{name}.s{seed}.episodes_to_95"] = first
            numbers[f"{name}.s{seed}.final_return"] = h[-1]["ret"]
            row[f"s{seed}"] = first if first is not None else "never"
            if name == "a2c":
                numbers[f"a2c.s{seed}.value_start"] = h[-1]["value_start"]
        rows.append(row)
    rows.append({"what": f"A2C: the critic's V(start) at the end (true value {best:.3f})",
                 **{f"s{s}": f"{numbers[f'a2c.s{s}.value_start']:.3f}" for s in SEEDS}})
    numbers["table"] = markdown_table(rows, ["what", *(f"s{s}" for s in SEEDS)],
                                      {"what": "", **{f"s{s}": f"seed {s}" for s in SEEDS}}) + "\n"
    print(numbers["table"])
    write_results("corridor", numbers)


if __name__ == "__main__":
    main()
