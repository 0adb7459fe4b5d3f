"""Grade your exercises: `python -m minirl.grade [CHAPTER]` (or `make grade CH=2`).

Runs the checks in tests/exercises/checks_chNN.py against your functions in exercises/chNN_*.py
and prints a score per exercise. The same checks run under pytest with
`MINIRL_GRADE=student python -m pytest tests/exercises -q`.
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
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.exercises.harness import chapter_modules, grade_exercise, student_functions
    modules = [(ch, m) for ch, m in chapter_modules() if args.chapter in (None, ch)]
    if not modules:
        print(f"no exercises for chapter {args.chapter}; chapters with exercises: "
              f"{', '.join(str(c) for c, _ in chapter_modules())}")
        return 2
    total = passed_total = 0
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


if __name__ == "__main__":
    sys.exit(main())
