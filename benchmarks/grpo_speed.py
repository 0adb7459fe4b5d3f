"""How fast GRPO learns in each phase ("The first minute" and "Plain answers, and small constant
steps" in chapter 7's lab appendix, chapters/lab/07-grpo.md): a scripted sweep of the settings that
decide the early curve (prompts per step, learning rate, warm-up, schedule, group size)
from the one weak start, several seeds each. For every run it reports the wall seconds to 80%, 90%
and 95% held-out exact match, the final accuracy, the worst drop after first reaching 95%, the share
of the wall time spent evaluating, and gradient updates per second; it draws accuracy against wall
seconds for every setting into chapters/figures/ch07_speed.{png,svg}.

    .venv/bin/python benchmarks/grpo_speed.py                       # the lab appendix's four settings x seeds 0 1 2
    .venv/bin/python benchmarks/grpo_speed.py --format plain        # plain answers (--no-reverse), their own SFT start
    .venv/bin/python benchmarks/grpo_speed.py --settings defaults --seeds 0 --steps 4 --figure ''   # smoke
    .venv/bin/python benchmarks/grpo_speed.py --plot_only           # redraw from runs/grpo_speed/<format>/

Every run is `python -m minirl grpo --init <weak start> --seed S` plus the setting's flags; runs go
one after another with --threads threads each, so their seconds are comparable (time them with
nothing else running). The reversed format starts from the one weak start (runs/weak, where
ensure_weak_init puts the shipped start; the lab appendix's tables were measured from an earlier 29.4%
start); the plain format from an SFT model trained the same way on plain answers for --plain_sft_steps
steps (the shipped plain start when one was made with that recipe).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, first_reach, markdown_table, results_json, save_figure  # noqa: E402

# name -> flags added to `minirl grpo` (all others at their defaults)
SETTINGS = {
    "defaults": [],                                    # 700 steps since 2026-12-03
    "32x8 1,000 steps": ["--steps", "1000"],            # the defaults before that
    "32x8 850 steps": ["--steps", "850"],
    "16x16": ["--batch_size", "16", "--group_size", "16"],
    "32x8 lr 4e-4": ["--lr", "4e-4"],
    "32x8 4 updates per batch, 300 steps": ["--inner_steps", "4", "--steps", "300"],
    "32x8 lr 3e-4": ["--steps", "400"],
    "32x8 lr 1e-3 warm-up 20": ["--steps", "400", "--lr", "1e-3", "--warmup", "20"],
    "16x8 lr 3e-4": ["--batch_size", "16", "--steps", "800"],
    "16x8 lr 6e-4": ["--batch_size", "16", "--steps", "700", "--lr", "6e-4"],
    "8x8 lr 3e-4": ["--batch_size", "8", "--steps", "1200"],
    "8x8 lr 1e-4 constant": ["--batch_size", "8", "--steps", "1200", "--lr", "1e-4", "--lr_schedule", "constant"],
    "32x4 lr 3e-4": ["--group_size", "4", "--steps", "800"],
    "32x8 T 0.7": ["--temperature", "0.7", "--steps", "400"],
    "32x8 T 0.5": ["--temperature", "0.5", "--steps", "400"],
    "32x4 lr 3e-4, 1,200 steps": ["--group_size", "4", "--steps", "1200"],
    "32x8 scale batch": ["--scale", "batch", "--steps", "1000"],
    "32x8 decay 700 of 1000": ["--steps", "1000", "--decay_steps", "700"],
    "skip zero groups": ["--skip_zero_groups"],         # the defaults' gradient, fewer rows per update
}
# the four of chapter 7's figure (the others: rows of its tables and probes it mentions, each run with --settings)
CHAPTER = ["32x4 lr 3e-4", "8x8 lr 3e-4", "32x8 lr 1e-3 warm-up 20", "32x8 1,000 steps"]
THRESHOLDS = (0.8, 0.9, 0.95)


def summarise(name: str, seed: int, rows: list[dict], summary: dict, start: float) -> dict:
    curve = [(r["step"], r["seconds"], r["eval_accuracy"]) for r in rows if "eval_accuracy" in r]
    evals = [r["eval_seconds"] for r in rows if "eval_seconds" in r]
    hit95 = first_reach(curve, 0.95)[0]
    after = [a for s, _, a in curve if hit95 is not None and s >= hit95]
    wall = summary["wall_seconds"]
    return {"setting": name, "seed": seed, "start": start, "final": summary["eval_accuracy"],
            **{f"s{round(100 * q)}": first_reach(curve, q)[1] for q in THRESHOLDS},
            "drop_after_95": max(0.0, 0.95 - min(after)) if after else None,
            "eval_share": (evals[-1] / wall) if evals and wall else None, "wall": wall,
            "updates_per_s": summary["steps"] / wall if wall else None, "curve": curve}


def run_all(args, out: Path) -> list[dict]:
    from minirl.sft import ensure_weak_init
    plain = args.format == "plain"
    weak_dir = out / "weak" if plain else ROOT / "runs" / "weak"
    init = args.init or ensure_weak_init(str(weak_dir), **({"reverse": False, "steps": args.plain_sft_steps}
                                                         if plain else {}))
    start = json.loads((Path(init).parent / "summary.json").read_text())["eval_accuracy"]
    print(f"start: {init} ({start:.1%} held-out)", flush=True)
    results = []
    pairs = [(name, seed) for name in args.settings for seed in args.seeds]
    if args.by_seed:                          # every setting's seed 0, then seed 1, ...: a drift in the
        pairs.sort(key=lambda p: args.seeds.index(p[1]))      # machine's speed hits all settings alike
    for name, seed in pairs:
        folder = out / f"{name.replace(' ', '_').replace(',', '')}_s{seed}"
        flags = list(SETTINGS[name]) + (["--no-reverse"] if plain else [])
        if args.steps:
            flags += ["--steps", str(args.steps)]
        rows, summary = cli_run(folder, "grpo", "--init", init, "--seed", str(seed),
                                "--eval_every", str(args.eval_every), *flags, threads=args.threads)
        results.append(summarise(name, seed, rows, summary, start))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "curve"}), flush=True)
    return results


def _fmt(values, scale=1.0, digits=0, missing="never"):
    return " / ".join(missing if v is None else f"{scale * v:.{digits}f}" for v in values)


def table(results: list[dict]) -> str:
    rows = []
    for name in dict.fromkeys(r["setting"] for r in results):
        runs = [r for r in results if r["setting"] == name]
        rows.append({"setting": name, "flags": " ".join(SETTINGS.get(name, [])) or "(defaults)",
                     **{f"s{round(100 * q)}": _fmt([r[f"s{round(100 * q)}"] for r in runs]) for q in THRESHOLDS},
                     "final": _fmt([r["final"] for r in runs], 100, 1),
                     "drop": _fmt([r["drop_after_95"] for r in runs], 100, 1, missing="–"),  # never at 95%
                     "eval": _fmt([r["eval_share"] for r in runs], 100, 1),
                     "ups": f"{sum(r['updates_per_s'] for r in runs) / len(runs):.1f}"})
    return markdown_table(rows, headers={"s80": "s to 80%", "s90": "s to 90%", "s95": "s to 95%",
                                         "final": "final %", "drop": "worst drop after 95% (pts)",
                                         "eval": "eval % of wall", "ups": "updates/s"})


def plot(results: list[dict], path: Path, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for i, name in enumerate(dict.fromkeys(r["setting"] for r in results)):
        for j, r in enumerate(x for x in results if x["setting"] == name):
            _, secs, acc = zip(*r["curve"])
            kw = dict(color=f"C{i}", lw=1.1, alpha=0.8, label=name if j == 0 else None)
            for a in ax:
                a.plot(secs, [100 * v for v in acc], **kw)
    ax[1].set_xlim(0, 60)
    for a, sub in zip(ax, ("whole run", "first minute")):
        for q in THRESHOLDS:
            a.axhline(100 * q, color="gray", ls=":", lw=0.8)
        a.set(xlabel="wall-clock seconds (evaluation included)", ylim=(0, 101), title=sub)
        a.grid(alpha=0.3)
    ax[0].set_ylabel("held-out exact match (%)")
    ax[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", nargs="+", default=CHAPTER, choices=list(SETTINGS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--format", default="reversed", choices=("reversed", "plain"))
    p.add_argument("--plain_sft_steps", type=int, default=295,
                   help="SFT steps of the plain-format start (295: 47.4%% held-out, a ~50%% start)")
    p.add_argument("--steps", type=int, default=0, help="override every setting's steps (0 = the setting's)")
    p.add_argument("--eval_every", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--by_seed", action="store_true", help="run the settings in turn for each seed "
                   "(default: each setting's seeds one after another)")
    p.add_argument("--init", default=None, help="the start (default: the weak start of the format)")
    p.add_argument("--out", default=None, help="default runs/grpo_speed/<format>")
    p.add_argument("--figure", default=None, help="PNG and SVG; a bare name goes to chapters/figures/ "
                   "(default ch07_speed, ch07_speed_plain); '' = none")
    p.add_argument("--plot_only", action="store_true", help="redraw from --out/results.json")
    args = p.parse_args(argv)
    out = Path(args.out or ROOT / "runs" / "grpo_speed" / args.format)
    results = results_json(out, args.plot_only, lambda: run_all(args, out))
    print(table(results))
    figure = args.figure if args.figure is not None else ("ch07_speed" + ("_plain" if args.format == "plain" else ""))
    if figure:
        seeds = ", ".join(map(str, sorted({r["seed"] for r in results})))
        plot(results, Path(figure), f"GRPO settings from one weak start (add2, {args.format} answers), "
                                    f"seeds {seeds}: one line per seed")
    return results


if __name__ == "__main__":
    main()
