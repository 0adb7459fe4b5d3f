"""The graders are honest: the reference passes every check, and for every exercise the untouched
stub and every plausible buggy variant fail at least one check."""
import pytest

from tests.exercises.harness import EXERCISES, chapter_modules, grade_exercise, load_file

MODULES = chapter_modules()
EXERCISE_CASES = [(ch, mod, name) for ch, mod in MODULES for name in mod.CHECKS]
IDS = [f"ch{c:02d}-{n}" for c, _, n in EXERCISE_CASES]


def test_every_chapter_has_a_stub_file_and_consistent_tables():
    assert MODULES, "no checks_chNN.py modules found"
    for ch, mod in MODULES:
        assert (EXERCISES / mod.EXERCISE_FILE).is_file(), mod.EXERCISE_FILE
        assert set(mod.CHECKS) == set(mod.REFERENCE), f"ch{ch}: CHECKS and REFERENCE name different exercises"
        assert set(mod.BUGGY) == set(mod.CHECKS), f"ch{ch}: every exercise needs at least one buggy variant"


@pytest.mark.parametrize("ch,mod,name", EXERCISE_CASES, ids=IDS)
def test_reference_passes(ch, mod, name):
    results = grade_exercise(mod.CHECKS[name], mod.REFERENCE[name])
    assert all(ok for _, ok, _ in results), results


@pytest.mark.parametrize("ch,mod,name", EXERCISE_CASES, ids=IDS)
def test_stub_fails(ch, mod, name):
    stub = getattr(load_file(EXERCISES / mod.EXERCISE_FILE), name, None)
    assert stub is not None, f"{mod.EXERCISE_FILE} has no function {name}"
    results = grade_exercise(mod.CHECKS[name], stub)
    assert not any(ok for _, ok, _ in results), f"the blank stub passes some checks: {results}"


@pytest.mark.parametrize("ch,mod,name", EXERCISE_CASES, ids=IDS)
def test_buggy_variants_fail(ch, mod, name):
    assert mod.BUGGY[name], f"ch{ch} {name}: no buggy variants"
    for bug in mod.BUGGY[name]:
        results = grade_exercise(mod.CHECKS[name], bug)
        assert not all(ok for _, ok, _ in results), f"buggy variant {bug.__name__} passes every check"
