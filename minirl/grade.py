"""Grade your exercises: `python -m minirl.grade [CHAPTER]` (or `make grade CH=2`).

Runs the checks in tests/exercises/checks_chNN.py against your functions in exercises/chNN_*.py
and prints a score per exercise. The same checks run under pytest with
`MINIRL_GRADE=student python -m pytest tests/exercises -q`.

`python -m minirl.grade --train CHAPTER` (or `make grade CH=3 TRAIN=1`) is the end-to-end track:
a short training run on the CPU with your functions in place of minirl's, graded by what it
reaches (minirl/grade_train.py; chapters 2, 3, 5, 6 and 7).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minirl.grade", description=__doc__.splitlines()[0])
    p.add_argument("chapter", nargs="?", type=int, help="grade one chapter only, e.g. 2")
    p.add_argument("-v", "--verbose", action="store_true", help="show every check, passed or not")
    p.add_argument("--train", action="store_true",
                   help="the end-to-end track: train with your functions and "
                   "grade the outcome (chapters 2, 3, 5, 6, 7)")
    p.add_argument("--seed", type=int, default=0,
                   help="--train: the run's seed (the thresholds hold for 0, 1, 2)")
    p.add_argument("--threads", type=int, default=2,
                   help="--train: CPU threads (the thresholds are set with 2)")
    p.add_argument("--out", default="runs/grade",
                   help="--train: folder for the runs (default runs/grade)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.exercises.harness import chapter_modules, grade_exercise, student_functions
    if args.train:
        return train_track(args, chapter_modules, student_functions)
    modules = [(ch, m) for ch, m in chapter_modules() if args.chapter in (None, ch)]
    if not modules:
        print(f"no exercises for chapter {args.chapter}; chapters with exercises: "
              f"{', '.join(str(c) for c, _ in chapter_modules())}")
        return 2
    total = 0
    passed_total = 0
    for ch, mod in modules:
        print(f"chapter {ch}: exercises/{mod.EXERCISE_FILE}")
        fns = student_functions(mod)
        for name, checks in mod.CHECKS.items():
            results = grade_exercise(checks, fns[name])
            n_ok = sum(ok for _, ok, _ in results)
            total += 1
            passed_total += n_ok == len(results)
            mark = "PASS" if n_ok == len(results) else "    "
            print(f"  {mark} {name:<28} {n_ok}/{len(results)} checks")
            for check, ok, msg in results:
                if not ok or args.verbose:
                    print(f"         {'ok  ' if ok else 'FAIL'} {check}{': ' + msg if msg else ''}")
    print(f"score: {passed_total}/{total} exercises fully correct")
    return 0 if passed_total == total else 1


def train_track(args, chapter_modules, student_functions) -> int:
    """--train: run the end-to-end track of one chapter (or of every chapter that has one)."""
    from minirl.grade_train import TRACKS, run_track
    chapters = sorted(TRACKS) if args.chapter is None else [args.chapter]
    if args.chapter is not None and args.chapter not in TRACKS:
        print(f"no end-to-end track for chapter {args.chapter}; chapters with one: "
              f"{', '.join(map(str, TRACKS))}")
        return 2
    modules = dict(chapter_modules())
    passed = 0
    for ch in chapters:
        track = TRACKS[ch]
        mod = modules[ch]
        print(f"chapter {ch} end-to-end: {track.title} with your functions from "
              f"exercises/{mod.EXERCISE_FILE}")
        print(f"  pass: {track.goal}; seed {args.seed}, {args.threads} CPU threads, "
              f"runs in {args.out}/")
        r = run_track(ch, student_functions(mod), out=args.out, seed=args.seed,
                      threads=args.threads, progress=True)
        calls = ", ".join(f"{n} {c}x" for n, c in r.calls.items())
        print(f"  {'PASS' if r.passed else 'FAIL'} {r.message} ({r.seconds:.0f} s)")
        if calls:
            print(f"       calls: {calls}")
        passed += r.passed
    print(f"end-to-end: {passed}/{len(chapters)} passed")
    return 0 if passed == len(chapters) else 1


if __name__ == "__main__":
    sys.exit(main())
