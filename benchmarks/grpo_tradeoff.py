"""The trade-off of "The first minute" in chapter 7's lab appendix (chapters/lab/07-grpo.md, section
"The trade-off in one picture") in one figure: for every setting that
`benchmarks/grpo_speed.py` ran from the weak starts (3 seeds each), how soon it got there against how
well it ended, with the targets we set ourselves shaded. It reads the runs' folders (metrics.jsonl
and summary.json) and trains nothing; a setting whose folders are missing is left out and named.

    .venv/bin/python benchmarks/grpo_tradeoff.py             # -> chapters/figures/ch07_tradeoff.{png,svg}

Panels: (a) reversed answers, seconds to 80% against the final accuracy; (b) reversed, seconds to
95% against the worst drop after first reaching 95% (runs that never reach 95% are not drawn);
(c) plain answers, seconds to 80% against seconds to 95% ("never" drawn at the top edge).
The seconds come from runs in different hours of two days, when the machine ran the same default
step at 3.7-5.6 updates a second: compare settings run in the same folder most closely.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import markdown_table, save_figure  # noqa: E402
from benchmarks.grpo_speed import summarise  # noqa: E402
from minirl.runs import read_metrics  # noqa: E402

SPEED = ROOT / "runs" / "grpo_speed"
# label -> run folders (under runs/grpo_speed/), seeds 0, 1, 2; the folder names are grpo_speed's
REVERSED = {
    "defaults (700 steps)": "short/32x8_700_steps_s{}",
    "1,000 steps (the old defaults)": "scale_batch/defaults_s{}",
    "850 steps": "s850/32x8_850_steps_s{}",
    "cosine to 700, floor to 1,000": "short/32x8_decay_700_of_1000_s{}",
    "one std per batch, 1,000 steps": "scale_batch/32x8_scale_batch_s{}",
    "32 x 4, 1,200 steps": "g4_1200/32x4_lr_3e-4_1200_steps_s{}",
    "16 x 16": "g16/16x16_(twice_the_answers_per_prompt)_s{}",
    "lr 4e-4": "lr4e-4/32x8_lr_4e-4_s{}",
    "4 updates per batch, 300 steps": "inner4/32x8_4_updates_per_batch_300_steps_s{}",
    "skip zero-signal groups": "skip/skip_zero_groups_s{}",
}
PLAIN = {
    "defaults (700 steps)": "plain700/defaults_s{}",
    "1,000 steps (the old defaults)": "plain/defaults_s{}",
    "8 x 8, lr 3e-4 cosine": "plain/8x8_lr_3e-4_s{}",
    "8 x 8, lr 1e-4 constant": "plain/8x8_lr_1e-4_constant_s{}",
    "skip zero-signal groups": "plain_skip/skip_zero_groups_s{}",
}


def load(settings: dict[str, str], root: Path = SPEED, seeds=(0, 1, 2)) -> dict[str, list[dict]]:
    """label -> one grpo_speed summary per seed whose folder (under root) holds a finished run."""
    out = {}
    for label, pattern in settings.items():
        runs = []
        for seed in seeds:
            folder = root / pattern.format(seed)
            if (folder / "summary.json").is_file():
                rows = read_metrics(folder)
                summary = json.loads((folder / "summary.json").read_text())
                init = Path(json.loads((folder / "config.json").read_text())["init"]).parent / "summary.json"
                start = json.loads(init.read_text())["eval_accuracy"] if init.is_file() else float("nan")
                runs.append(summarise(label, seed, rows, summary, start))
        if runs:
            out[label] = runs
        else:
            print(f"left out (no finished runs in {root / pattern.format('*')}): {label}")
    return out


def scatter(ax, data, x, y, never=None):
    for i, (label, runs) in enumerate(data.items()):
        pts = [(r[x], r[y] if r[y] is not None else never) for r in runs if r[x] is not None]
        pts = [(a, b) for a, b in pts if b is not None]
        if pts:
            ax.scatter(*zip(*pts), color=f"C{i % 10}", marker="os^Dv<>ph*"[i % 10], s=28, label=label, alpha=0.85)


def plot(rev, plain, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.6))
    pct = {label: [dict(r, final=100 * r["final"], drop=100 * r["drop_after_95"] if r["drop_after_95"] is not None
                        else None) for r in runs] for label, runs in rev.items()}
    scatter(ax[0], pct, "s80", "final")
    ax[0].axvspan(0, 10, color="green", alpha=0.08)
    ax[0].axhline(98, color="green", ls="--", lw=0.8)
    ax[0].set(xlabel="seconds to 80% held-out", ylabel="final held-out exact match (%)",
              title="(a) reversed answers: fast start vs high end", xlim=(0, None))
    scatter(ax[1], pct, "s95", "drop")
    ax[1].axvspan(0, 60, color="green", alpha=0.08)
    ax[1].axhline(5, color="red", ls="--", lw=0.8)
    ax[1].set(xlabel="seconds to 95% held-out", ylabel="worst drop after first 95% (points)",
              title="(b) reversed: soon to 95% vs stable after it", xlim=(0, None))
    top = 1.05 * max([r["s95"] or 0 for runs in plain.values() for r in runs] + [100])
    scatter(ax[2], plain, "s80", "s95", never=top)
    ax[2].axvspan(0, 10, color="green", alpha=0.08)
    ax[2].axhline(90, color="green", ls="--", lw=0.8)
    ax[2].axhline(top, color="gray", ls=":", lw=0.8)
    ax[2].text(1, top, "never reached 95%", va="bottom", fontsize=8, color="gray")
    ax[2].set(xlabel="seconds to 80% held-out", ylabel="seconds to 95% held-out",
              title="(c) plain answers", xlim=(0, None), ylim=(0, 1.1 * top))
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="best")
    fig.suptitle("GRPO from the weak starts, one marker per seed; shaded and dashed: the targets")
    fig.tight_layout()
    save_figure(fig, path)


def table(data: dict[str, list[dict]]) -> str:
    if not data:
        return "(no finished runs)"
    fmt = lambda vs, k=1, d=0, no="never": " / ".join(no if v is None else f"{k * v:.{d}f}" for v in vs)  # noqa: E731
    return markdown_table([{"setting": label, "s80": fmt([r["s80"] for r in runs]),
                            "s95": fmt([r["s95"] for r in runs]), "final": fmt([r["final"] for r in runs], 100, 1),
                            "drop": fmt([r["drop_after_95"] for r in runs], 100, 1, "–")} for label, runs in data.items()],
                          headers={"s80": "s to 80%", "s95": "s to 95%", "final": "final %",
                                   "drop": "worst drop after 95% (pts)"})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--figure", default="ch07_tradeoff", help="a bare name goes to chapters/figures/; '' = none")
    p.add_argument("--runs", default=str(SPEED), help="the folder grpo_speed.py's --out folders are in")
    args = p.parse_args(argv)
    rev, plain = load(REVERSED, Path(args.runs)), load(PLAIN, Path(args.runs))
    print("reversed answers\n" + table(rev) + "\n\nplain answers\n" + table(plain))
    if args.figure and (rev or plain):
        plot(rev, plain, Path(args.figure))
    return rev, plain


if __name__ == "__main__":
    main()
