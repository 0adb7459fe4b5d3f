"""The grading machinery shared by every chapter.

Each chapter has a `tests/exercises/checks_chNN.py` module that defines:

    EXERCISE_FILE = "ch02_sft.py"                  # the student's file in exercises/
    REFERENCE = {"sft_loss": minirl.sft.sft_loss}  # exercise name -> reference implementation
    CHECKS = {"sft_loss": [check_hand_value, ...]} # exercise name -> checks; check(fn) raises on failure
    BUGGY = {"sft_loss": [sft_loss_unmasked, ...]} # plausible mistakes; each must fail some check

A check receives the function under test and raises AssertionError, with a message saying what
was expected and what came back, if it is wrong. Each check runs under a time limit
(CHECK_TIMEOUT_S), so a function that loops forever fails that check instead of hanging the grader.
The test suite runs every check against REFERENCE (or, with MINIRL_GRADE=student, against the
student's file), and proves that every exercise's checks fail the untouched stub, every BUGGY
variant, and the "blanks of the right shape" built below (zeros, ones, the input handed back, an
answer memorised from another input): see tests/test_graders.py.
"""
from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import os
import signal
import threading
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "exercises"

CHECK_TIMEOUT_S = 20.0          # a check that runs longer than this fails: "an infinite loop?"

# What running one check can come to (see check_outcome).
PASSED = "passed"               # the check returned
FAILED = "failed"               # the check raised AssertionError with a message: a proper rejection
NOT_IMPLEMENTED = "not implemented"
MISSING = "missing"             # no such function in the student's file
CRASHED = "crashed"             # any other exception (or an AssertionError without a message)
TIMED_OUT = "timed out"


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


# --------------------------------------------------------------------------- running one check

class CheckTimeout(BaseException):
    """Raised inside a check that ran past its time limit. A BaseException, so that a student's
    `except Exception:` (or a check's own) cannot swallow it."""


def _run_with_alarm(check, fn, timeout: float):
    """check(fn) in this (main) thread, interrupted by SIGALRM after `timeout` seconds. An alarm
    the caller had already set is put back afterwards, minus the time spent here."""
    running = [True]

    def on_alarm(signum, frame):
        if running[0]:
            raise CheckTimeout
    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.monotonic()
    try:
        check(fn)
    finally:
        running[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay:
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, old_delay - (time.monotonic() - start)), old_interval)


def _run_in_thread(check, fn, timeout: float):
    """check(fn) in a daemon thread, waiting at most `timeout` seconds. Where there is no SIGALRM
    (Windows) or we are not in the main thread. A check that times out is abandoned, not stopped:
    its thread keeps running in the background until the process exits."""
    error: list[BaseException] = []

    def target():
        try:
            check(fn)
        except BaseException as e:  # handed to the caller's thread below
            error.append(e)
    worker = threading.Thread(target=target, name=f"check-{getattr(check, '__name__', 'check')}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise CheckTimeout
    if error:
        raise error[0]


def _run_with_time_limit(check, fn, timeout: float | None):
    if timeout is None or timeout <= 0:
        check(fn)
    elif hasattr(signal, "SIGALRM") and hasattr(signal, "setitimer") \
            and threading.current_thread() is threading.main_thread():
        _run_with_alarm(check, fn, timeout)
    else:
        _run_in_thread(check, fn, timeout)


def check_outcome(check, fn, timeout: float | None = CHECK_TIMEOUT_S) -> tuple[str, str]:
    """(outcome, message) of check(fn), outcome one of PASSED, FAILED (an AssertionError with a
    message: the check rejected fn and said why), NOT_IMPLEMENTED, MISSING, CRASHED (any other
    exception: a wrong type, a shape error inside the check...) or TIMED_OUT (still running after
    `timeout` seconds; None = no limit)."""
    if fn is None:
        return MISSING, "function not found"
    try:
        _run_with_time_limit(check, fn, timeout)
        return PASSED, ""
    except CheckTimeout:
        return TIMED_OUT, f"timed out after {timeout:g} s: an infinite loop?"
    except NotImplementedError:
        return NOT_IMPLEMENTED, "not implemented yet"
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = f" ({tb[-1].name}, line {tb[-1].lineno})" if tb else ""
        if isinstance(e, AssertionError) and str(e).strip():
            return FAILED, f"{type(e).__name__}: {e}{where}"
        if isinstance(e, AssertionError):
            return CRASHED, f"AssertionError with no message{where}"
        return CRASHED, f"{type(e).__name__}: {e}{where}".strip()


def run_check(check, fn, timeout: float | None = CHECK_TIMEOUT_S) -> tuple[bool, str]:
    """(passed, message). Any exception counts as a failure: NotImplementedError, wrong shape, ...,
    and so does running longer than `timeout` seconds."""
    outcome, message = check_outcome(check, fn, timeout)
    return outcome == PASSED, message


def grade_exercise(checks, fn, timeout: float | None = CHECK_TIMEOUT_S) -> list[tuple[str, bool, str]]:
    """[(check name, passed, message), ...] for every check of one exercise."""
    return [(c.__name__, *run_check(c, fn, timeout)) for c in checks]


# --------------------------------------------------------------------------- blanks of the right shape
#
# A grader is only worth something if it rejects answers that *look* right. These wrap the
# reference and return something of the shape it returns, but wrong: tests/test_graders.py proves
# that for every exercise some check rejects each of them with an AssertionError that says why.

def _map_leaves(out, leaf):
    """`out` with every number and tensor (inside tuples, lists and dicts too) replaced by leaf(x);
    None and other objects are kept."""
    if isinstance(out, (torch.Tensor, bool, int, float)):
        return leaf(out)
    if isinstance(out, tuple):
        return type(out)(*(_map_leaves(x, leaf) for x in out)) if hasattr(out, "_fields") \
            else tuple(_map_leaves(x, leaf) for x in out)
    if isinstance(out, list):
        return [_map_leaves(x, leaf) for x in out]
    if isinstance(out, dict):
        return {k: _map_leaves(v, leaf) for k, v in out.items()}
    return out


def _filled(value):
    def leaf(x):
        if isinstance(x, torch.Tensor):
            return torch.full_like(x.detach(), value)        # same shape and dtype, no gradient
        return type(x)(value)                                 # bool, int or float
    return leaf


def zeros_blank(ref):
    """Returns what `ref` returns with every tensor and number set to 0 (same shapes and dtypes,
    tuples and stats dicts included): `return torch.zeros(...)`."""
    @functools.wraps(ref)
    def zeros(*args, **kwargs):
        return _map_leaves(ref(*args, **kwargs), _filled(0))
    zeros.__name__ = f"zeros_like_{ref.__name__}"
    return zeros


def ones_blank(ref):
    """Returns what `ref` returns with every tensor and number set to 1: a constant answer."""
    @functools.wraps(ref)
    def ones(*args, **kwargs):
        return _map_leaves(ref(*args, **kwargs), _filled(1))
    ones.__name__ = f"ones_like_{ref.__name__}"
    return ones


def identity_blank(ref):
    """Hands back its first tensor argument unchanged (or its first argument if none is a tensor):
    `return logprobs`."""
    @functools.wraps(ref)
    def identity(*args, **kwargs):
        values = list(args) + list(kwargs.values())
        return next((a for a in values if isinstance(a, torch.Tensor)), values[0] if values else None)
    identity.__name__ = f"identity_for_{ref.__name__}"
    return identity


def memorised_blank(ref):
    """The reference's answer for a *different* input: the first call is answered by `ref`, and
    every later call, whatever its arguments, gets a copy of that first answer (a function that
    hard-codes the docstring's worked example)."""
    first = []

    @functools.wraps(ref)
    def memorised(*args, **kwargs):
        if not first:
            first.append(_map_leaves(ref(*args, **kwargs), lambda x: x.detach().clone()
                                     if isinstance(x, torch.Tensor) else x))
        return copy.deepcopy(first[0])
    memorised.__name__ = f"memorised_{ref.__name__}"
    return memorised


BLANKS = (zeros_blank, ones_blank, identity_blank, memorised_blank)
