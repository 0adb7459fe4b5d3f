"""The graders are honest. That the reference passes every check is tested once, in
tests/exercises/test_exercises.py; here, for every exercise:

- the untouched stub fails every check;
- every plausible buggy variant (BUGGY) fails at least one check;
- every "blank of the right shape" (harness.BLANKS: zeros or ones shaped like the reference's
  answer, the first input handed back, the reference's answer to a different input) is rejected
  by a check's AssertionError that says what was wrong, and never makes a check crash: a check
  that only fails such a blank because its own code raised a TypeError would pass nothing and
  explain nothing;

and the machinery itself: a function that raises fails, one that loops forever fails on time,
and every check has a docstring (the exercises' README sends students to read them).
"""
import signal
import threading
import time

import pytest
import torch

from tests.exercises import harness
from tests.exercises.harness import (BLANKS, CRASHED, EXERCISES, FAILED, PASSED, TIMED_OUT, chapter_modules,
                                     check_outcome, grade_exercise, load_file, run_check)

MODULES = chapter_modules()
EXERCISE_CASES = [(ch, mod, name) for ch, mod in MODULES for name in mod.CHECKS]
IDS = [f"ch{c:02d}-{n}" for c, _, n in EXERCISE_CASES]


def test_every_chapter_has_a_stub_file_and_consistent_tables():
    assert MODULES, "no checks_chNN.py modules found"
    for ch, mod in MODULES:
        assert (EXERCISES / mod.EXERCISE_FILE).is_file(), mod.EXERCISE_FILE
        assert set(mod.CHECKS) == set(mod.REFERENCE), f"ch{ch}: CHECKS and REFERENCE name different exercises"
        assert set(mod.BUGGY) == set(mod.CHECKS), f"ch{ch}: every exercise needs at least one buggy variant"


def test_every_check_has_a_docstring():
    missing = [f"ch{ch:02d} {name}: {c.__name__}" for ch, mod, name in EXERCISE_CASES for c in mod.CHECKS[name]
               if not (c.__doc__ or "").strip()]
    assert not missing, f"checks without a docstring (students read them to see what is tested): {missing}"


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


def blank_verdict(checks, blank) -> list[str]:
    """What is wrong with how `checks` treat `blank` (empty when they reject it properly): no check
    rejects it with an AssertionError, or some check crashes / times out on it instead."""
    outcomes = [(c.__name__, *check_outcome(c, blank)) for c in checks]
    problems = [f"{n} {o}: {m}" for n, o, m in outcomes if o not in (PASSED, FAILED)]
    if not any(o == FAILED for _, o, _ in outcomes):
        passed = [n for n, o, _ in outcomes if o == PASSED]
        problems.insert(0, f"no check rejects it with an AssertionError (passes {passed})")
    return problems


@pytest.mark.parametrize("make_blank", BLANKS, ids=[b.__name__ for b in BLANKS])
@pytest.mark.parametrize("ch,mod,name", EXERCISE_CASES, ids=IDS)
def test_blanks_of_the_right_shape_are_rejected_by_an_assertion(ch, mod, name, make_blank):
    blank = make_blank(mod.REFERENCE[name])
    problems = blank_verdict(mod.CHECKS[name], blank)
    assert not problems, f"ch{ch:02d} {name}, {blank.__name__}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------- the blanks themselves

def _three(x, n):
    """A stand-in reference returning a tuple, a dict and None, to see the blanks map each part."""
    return x * 2, {"n": n, "mean": float(x.mean()), "ok": True}, None


def test_blanks_keep_the_shape_and_change_the_values():
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    zeros, ones, identity, memorised = (b(_three) for b in BLANKS)
    t, stats, none = zeros(x, 3)
    assert t.dtype == torch.float64 and t.shape == (1, 2) and not t.any() and none is None
    assert stats == {"n": 0, "mean": 0.0, "ok": False} and type(stats["n"]) is int
    t, stats, _ = ones(x, 3)
    assert t.tolist() == [[1.0, 1.0]] and stats == {"n": 1, "mean": 1.0, "ok": True}
    assert identity(x, 3) is x and identity(3, x) is x and identity(3) == 3
    first = memorised(x, 3)
    again = memorised(torch.zeros(5, 7), 9)
    assert again[0].tolist() == [[2.0, 4.0]] and again[1]["n"] == 3 and again[0] is not first[0]


def test_a_weak_grader_is_caught():
    """The blank meta-test fails for checks that accept zeros, and for checks that only reject a
    blank by crashing (here: calling .backward() on a loss without a gradient)."""
    def ref(x):
        return (x * 0).sum()                    # right answer: 0, whatever x

    def check_value(fn):
        """fn(x) == 0."""
        assert float(fn(torch.ones(3))) == 0.0, "expected 0"

    def check_gradient_crashes(fn):
        """Gradient 0, found by a check that does not first make sure there is a gradient."""
        x = torch.ones(3, requires_grad=True)
        fn(x).backward()
        assert not x.grad.any(), "expected gradient 0"

    problems = blank_verdict([check_value], harness.zeros_blank(ref))
    assert problems and "no check rejects it" in problems[0]
    problems = blank_verdict([check_value, check_gradient_crashes], harness.ones_blank(ref))
    assert any("crashed: RuntimeError" in p for p in problems), problems


# --------------------------------------------------------------------------- running a check

def _check_value(fn):
    """fn() == 1."""
    assert fn() == 1, f"expected 1, got {fn()!r}"


@pytest.mark.parametrize("error", [NotImplementedError, RuntimeError, TypeError, ValueError])
def test_a_function_that_raises_fails_its_check(error):
    def raises():
        raise error("boom")
    ok, msg = run_check(_check_value, raises)
    assert not ok and msg
    assert check_outcome(_check_value, raises)[0] != FAILED   # failed, but not by the check's own verdict


def test_outcomes_of_a_check():
    assert check_outcome(_check_value, lambda: 1) == (PASSED, "")
    outcome, msg = check_outcome(_check_value, lambda: 2)
    assert outcome == FAILED and "expected 1, got 2" in msg
    assert check_outcome(_check_value, None)[0] == harness.MISSING

    def bare(fn):
        if fn() != 1:
            raise AssertionError
    assert check_outcome(bare, lambda: 2)[0] == CRASHED       # an assertion without a message explains nothing


def _spin_forever():
    while True:
        pass


def test_an_infinite_loop_fails_its_check_within_the_limit():
    assert harness.CHECK_TIMEOUT_S == 20
    handler = signal.getsignal(signal.SIGALRM) if hasattr(signal, "SIGALRM") else None
    start = time.monotonic()
    ok, msg = run_check(_check_value, _spin_forever, timeout=1)
    assert not ok and msg == "timed out after 1 s: an infinite loop?"
    assert time.monotonic() - start < 5
    results = grade_exercise([_check_value, _check_value], _spin_forever, timeout=0.5)
    assert [r[1] for r in results] == [False, False] and all("timed out after 0.5 s" in r[2] for r in results)
    if hasattr(signal, "SIGALRM"):                      # the alarm is cleared and the old handler back
        assert signal.getsignal(signal.SIGALRM) == handler
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert run_check(_check_value, lambda: 1, timeout=1) == (True, "")


def test_an_infinite_loop_fails_its_check_off_the_main_thread():
    """Away from the main thread (or without SIGALRM) the check runs in a thread that is abandoned
    when it overruns. The loop here ends when the test is over, so that it does not spin on."""
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass
    out = []
    worker = threading.Thread(target=lambda: out.append(run_check(_check_value, spin, timeout=0.5)))
    start = time.monotonic()
    worker.start()
    worker.join(10)
    stop.set()
    assert out == [(False, "timed out after 0.5 s: an infinite loop?")]
    assert time.monotonic() - start < 5
    worker = threading.Thread(target=lambda: out.append(check_outcome(_check_value, lambda: 2, timeout=5)))
    worker.start()
    worker.join(10)
    assert out[1][0] == FAILED and "expected 1, got 2" in out[1][1]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM on this platform")
def test_an_alarm_set_by_the_caller_survives_a_check():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        assert run_check(_check_value, lambda: 1, timeout=1) == (True, "")
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < remaining <= 30 and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_timed_out_outcome_is_reported():
    assert check_outcome(_check_value, _spin_forever, timeout=0.2)[0] == TIMED_OUT
