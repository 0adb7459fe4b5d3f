"""The end-to-end grading track with minirl's own functions, seeds 0, 1 and 2 (the answer key's
margins: chapter lab README, "The end-to-end grading track").

    .venv/bin/python benchmarks/grade_track.py            # 5 tracks x 3 seeds at full size (~15 min)
    .venv/bin/python benchmarks/grade_track.py --smoke    # a few steps each, to check the script

Each run is `minirl.grade_train.run_track(CH, reference_functions()[CH], seed=S)`: what
`python -m minirl.grade --train CH --seed S --threads T` does with a student's file, here with minirl's
functions, from the shipped weak start (--threads, default 2). Reported per track and seed: the graded metric (and, for DPO,
the held-out exact match too) and the track's threshold. Writes runs/grade_track/ and
results/grade_track/results.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_results  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=str(ROOT / "runs" / "grade_track"))
    p.add_argument("--threads", type=int, default=2, help="CPU threads per run (the track's default: 2)")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    from minirl.grade_train import TRACKS, reference_functions, run_track
    from minirl.report import markdown_table
    from minirl.sft import ensure_weak_init
    weak = ensure_weak_init(str(Path(args.out) / "weak"))
    ref, numbers, rows = reference_functions(), {}, []
    for ch, track in TRACKS.items():
        values = []
        for seed in args.seeds:
            r = run_track(ch, ref[ch], out=Path(args.out) / f"s{seed}", seed=seed, weak=weak, smoke=args.smoke,
                          threads=args.threads)
            assert r.outcome, f"chapter {ch}, seed {seed}: {r.message}"
            print(f"chapter {ch} seed {seed}: {r.message} ({r.seconds:.0f} s)", flush=True)
            # outcomes are in percent (points); stored as fractions, like every accuracy in results/
            numbers[f"ch{ch}.s{seed}"] = r.outcome[track.metric] / 100
            numbers[f"ch{ch}.s{seed}.passed"] = r.passed
            if "accuracy" in r.outcome and track.metric != "accuracy":
                numbers[f"ch{ch}.s{seed}.accuracy"] = r.outcome["accuracy"] / 100
            values.append(r.outcome[track.metric])
        numbers[f"ch{ch}.threshold"] = track.threshold / 100
        numbers[f"ch{ch}.worst"] = min(values) / 100
        unit = " points" if track.metric == "gain" else "%"
        rows.append({"chapter": ch, "run": track.title, "metric": track.metric.replace("_", " "),
                     "seeds": " / ".join(f"{v:.1f}" for v in values) + unit,
                     "bar": f"≥ {track.threshold:g}{unit}"})
    numbers["table"] = markdown_table(rows, ["chapter", "run", "metric", "seeds", "bar"],
                                      {"run": "training run", "metric": "graded on",
                                       "seeds": " / ".join(f"seed {s}" for s in args.seeds),
                                       "bar": "pass mark"}) + "\n"
    print(numbers["table"])
    if not args.smoke:
        write_results("grade_track", numbers, threads=args.threads)


if __name__ == "__main__":
    main()
