"""The grading machinery shared by every chapter.

Each chapter has a `tests/exercises/checks_chNN.py` module that defines:

    EXERCISE_FILE = "ch02_sft.py"                  # the student's file in exercises/
    REFERENCE = {"sft_loss": minirl.sft.sft_loss}  # exercise name -> reference implementation
    CHECKS = {"sft_loss": [check_hand_value, ...]} # exercise name -> checks; check(fn) raises on failure
    BUGGY = {"sft_loss": [sft_loss_unmasked, ...]} # plausible mistakes; each must fail some check

A check receives the function under test and raises (usually AssertionError) if it is wrong.
The test suite runs every check against REFERENCE (or, with MINIRL_GRADE=student, against the
student's file), and proves every exercise's checks fail the untouched stub and every BUGGY variant.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "exercises"


def chapter_modules():
    """All checks modules, sorted by chapter: [(chapter number, module), ...]."""
    out = []
    for path in sorted((ROOT / "tests" / "exercises").glob("checks_ch*.py")):
        out.append((int(path.stem[len("checks_ch"):]), importlib.import_module(f"tests.exercises.{path.stem}")))
    return out


def load_file(path: Path):
    """Import a Python file as a fresh module (no caching, so edits are picked up)."""
    spec = importlib.util.spec_from_file_location(f"_student_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def student_functions(checks_module) -> dict:
    """Exercise name -> the student's function (or a stand-in that raises if the file won't import)."""
    path = EXERCISES / checks_module.EXERCISE_FILE
    try:
        module = load_file(path)
    except Exception as e:  # a syntax error in the student's file fails every exercise, clearly
        msg = f"{path.name} does not import: {type(e).__name__}: {e}"

        def broken(*a, **k):
            raise RuntimeError(msg)
        return {name: broken for name in checks_module.CHECKS}
    return {name: getattr(module, name, None) for name in checks_module.CHECKS}


def target_functions(checks_module) -> dict:
    """What the graders test: the reference, or the student's file when MINIRL_GRADE=student."""
    if os.environ.get("MINIRL_GRADE") == "student":
        return student_functions(checks_module)
    return dict(checks_module.REFERENCE)


def run_check(check, fn) -> tuple[bool, str]:
    """(passed, message). Any exception counts as a failure: NotImplementedError, wrong shape, ..."""
    if fn is None:
        return False, "function not found"
    try:
        check(fn)
        return True, ""
    except NotImplementedError:
        return False, "not implemented yet"
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = f" ({tb[-1].name}, line {tb[-1].lineno})" if tb else ""
        return False, f"{type(e).__name__}: {e}{where}".strip()


def grade_exercise(checks, fn) -> list[tuple[str, bool, str]]:
    return [(c.__name__, *run_check(c, fn)) for c in checks]
