"""The graders: every check of every exercise, against the reference (default) or the student's
files (MINIRL_GRADE=student, as `python -m minirl.grade` and `make grade` do).

By default this is the one place where the reference is shown to pass every check;
tests/test_graders.py proves the other direction (stubs, buggy variants and blanks fail)."""
import pytest

from tests.exercises.harness import chapter_modules, run_check, target_functions

CASES = [(ch, mod, name, check) for ch, mod in chapter_modules()
         for name, checks in mod.CHECKS.items() for check in checks]


@pytest.mark.parametrize("ch,mod,name,check", CASES,
                         ids=[f"ch{c:02d}-{n}-{k.__name__}" for c, _, n, k in CASES])
def test_exercise(ch, mod, name, check):
    ok, msg = run_check(check, target_functions(mod)[name])
    assert ok, f"ch{ch:02d} {name}: {check.__name__} failed: {msg}"
