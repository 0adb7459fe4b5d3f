"""The end-to-end track: `python -m minirl.grade --train CH` (or `make grade CH=3 TRAIN=1`).

The unit checks test each function on small inputs. This track puts your functions into a real
training run on the CPU, in place of minirl's, and grades what the run achieves: an SFT run with
your loss must learn 2-digit addition, an RL run with your estimators and losses must improve the
weak start. A sign error or a misaligned mask can pass for a plausible number in a unit test; a
training run that goes the wrong way cannot.

How the swap works: each training loop looks its functions up by name in its own module when it
calls them (`minirl.reinforce.reinforce_loss`, `minirl.grpo.group_advantages`, ...). `swapped`
sets those names to your functions for the length of the run and puts minirl's back afterwards,
even when the run fails; the loops themselves are not changed. Each of your functions is wrapped
to count its calls (a track whose function was never called fails: the swap did not take) and to
name itself when it raises. The outcome is measured after the swap is undone, with minirl's own
functions: held-out greedy exact match, or (DPO) held-out preference accuracy.

Every run pins its CPU threads (2 by default; results depend on the thread count) and writes its
run folder under `out` (runs/grade/ by default). Each threshold was set from minirl's reference
functions on seeds 0, 1 and 2 with 2 threads, well below the worst of the three.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .device import cpu_threads
from .grade_runs import run_dpo, run_grpo, run_ppo, run_reinforce, run_sft
from .sft import ensure_weak_init

TIME_LIMIT_S = 600      # a run that takes longer than this (an infinite loop?) fails


class StudentError(Exception):
    """One of the swapped-in functions raised: `name` is the exercise, `error` what it raised."""

    def __init__(self, name: str, error: BaseException):
        tb = traceback.extract_tb(error.__traceback__)
        where = f" (line {tb[-1].lineno} of {Path(tb[-1].filename).name})" if tb else ""
        what = "is not implemented yet" if isinstance(error, NotImplementedError) else \
            f"raised {type(error).__name__}: {error}{where}"
        super().__init__(f"your {name} {what}")
        self.name = name
        self.error = error


class TrackTimeout(BaseException):
    """The run passed TIME_LIMIT_S (a BaseException, so that no `except Exception` swallows it)."""


class Counted:
    """fn with a call counter; an exception inside fn comes out as a StudentError naming it."""

    def __init__(self, name: str, fn: Callable):
        self.name = name
        self.fn = fn
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        try:
            return self.fn(*args, **kwargs)
        except Exception as e:
            raise StudentError(self.name, e) from e


@contextlib.contextmanager
def swapped(replacements: dict):
    """Within the block, module.name is replacements[(module, name)]; the old values come back
    after."""
    saved = [(module, name, getattr(module, name)) for module, name in replacements]
    try:
        for (module, name), fn in replacements.items():
            setattr(module, name, fn)
        yield
    finally:
        for module, name, old in saved:
            setattr(module, name, old)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TrackTimeout in the block after `seconds` (main thread with SIGALRM only; else no
    limit)."""
    if (not seconds or not hasattr(signal, "SIGALRM")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def on_alarm(signum, frame):
        raise TrackTimeout
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass(frozen=True)
class Track:
    chapter: int
    title: str                  # what is trained
    exercises: tuple            # the student's functions that the run swaps in
    run: Callable
    metric: str                 # the outcome key that is graded
    threshold: float            # pass: outcome[metric] >= threshold
    goal: str                   # the bar, in words
    flags: dict                 # the trainer's config flags (its defaults otherwise)
    smoke: dict                 # config overrides for a very short run (tests of the mechanism)


# Thresholds: set from minirl's reference functions, seeds 0 / 1 / 2; each bar sits well below
# the worst of the three (from the shipped weak start: results/grade_track, made by
# benchmarks/grade_track.py) and far above what the planted bugs of tests/test_grade_train.py reach.
TRACKS = {t.chapter: t for t in (
    Track(2, "SFT from scratch on add2", ("causal_mask", "sft_loss"), run_sft, metric="accuracy",
          threshold=95.0, goal="held-out accuracy >= 95%", flags=dict(steps=500, log_every=50),
          smoke=dict(steps=3, batch_size=8)),
    Track(3, "REINFORCE from the weak start",
          ("discounted_returns", "baseline_advantages", "reinforce_loss"),
          run_reinforce, metric="gain", threshold=20.0,
          goal="a gain of >= 20 points of held-out accuracy over the weak start",
          flags=dict(steps=200),
          smoke=dict(steps=2, batch_size=4, samples_per_prompt=2)),
    Track(5, "PPO against the verifier from the weak start",
          ("gae", "ppo_policy_loss", "ppo_value_loss", "ppo_token_rewards", "kl_penalty"), run_ppo,
          metric="accuracy", threshold=60.0, goal="held-out accuracy >= 60%", flags=dict(steps=150),
          smoke=dict(steps=2, batch_size=4, minibatches=2)),
    # DPO: held-out preference accuracy starts at 0% (policy = reference: every margin is 0).
    # Held-out exact match does not rise: pure DPO on these pairs moves preferences, not greedy
    # answers, so the preference accuracy is graded.
    Track(6, "DPO on (correct, one-digit mistake) pairs from the weak start",
          ("sequence_logprob", "dpo_loss"),
          run_dpo, metric="preference_accuracy", threshold=80.0,
          goal="held-out preference accuracy >= 80%",
          flags=dict(steps=300, pairs="corrupt", beta=0.1, lr=1e-4),
          smoke=dict(steps=2, batch_size=4, n_pairs=8, pairs="corrupt", beta=0.1, lr=1e-4)),
    Track(7, "GRPO from the weak start", ("group_advantages", "grpo_loss"), run_grpo,
          metric="accuracy", threshold=80.0, goal="held-out accuracy >= 80%", flags=dict(steps=300),
          smoke=dict(steps=2, batch_size=2, group_size=4)),
)}


@dataclass
class TrackResult:
    chapter: int
    passed: bool
    message: str                # one line: the outcome against the bar, or what went wrong
    outcome: dict
    calls: dict                 # exercise name -> number of calls during the run
    seconds: float


def verdict(track: Track, outcome: dict, calls: dict) -> tuple[bool, str]:
    """(passed, message): every swapped function was called, and outcome[metric] >= threshold."""
    never = [n for n, c in calls.items() if c == 0]
    if never:
        return False, f"{', '.join(never)} never called: the track could not swap it in"
    value = outcome[track.metric]
    return (value >= track.threshold,
            f"{track.metric.replace('_', ' ')} {value:.1f} (needs {track.goal})")


def run_track(chapter: int, fns: dict, out="runs/grade", seed: int = 0, threads: int = 2,
              weak: str | None = None, smoke: bool = False, progress: bool = False,
              time_limit_s: float = TIME_LIMIT_S, overrides: dict | None = None) -> TrackResult:
    """Train with fns (exercise name -> function) in place of minirl's and grade the outcome."""
    track = TRACKS[chapter]
    out = Path(out)
    t0 = time.perf_counter()
    missing = [n for n in track.exercises if fns.get(n) is None]
    if missing:
        return TrackResult(chapter, False, f"{', '.join(missing)} not found in your file", {}, {},
                           0.0)
    with cpu_threads():
        torch.set_num_threads(threads)
        weak = weak or ensure_weak_init(str(out / "weak"))
        # eval_every=10 ** 6: evaluated once, at the end
        flags = dict(out=str(out / f"ch{chapter:02d}"), seed=seed, threads=threads, device="cpu",
                     overwrite=True, progress=progress, eval_every=10 ** 6, **track.flags)
        flags.update({**(track.smoke if smoke else {}), **(overrides or {})})
        swaps, adapt, train, measure = track.run(flags, weak)
        assert set(swaps) == set(track.exercises), f"chapter {chapter}: swaps {sorted(swaps)}"
        counted = {n: Counted(n, fns[n]) for n in swaps}
        replacements = {swaps[n]: adapt.get(n, lambda f: f)(counted[n]) for n in swaps}
        calls = lambda: {n: c.calls for n, c in counted.items()}  # noqa: E731
        try:
            with time_limit(time_limit_s), swapped(replacements):
                model = train()
        except StudentError as e:
            return TrackResult(chapter, False, str(e), {}, calls(), time.perf_counter() - t0)
        except TrackTimeout:
            return TrackResult(chapter, False,
                               f"the run took over {time_limit_s:g} s: an infinite loop?", {},
                               calls(), time.perf_counter() - t0)
        except Exception as e:
            # the loop itself failed on what a function returned (a shape, a dtype...)
            tb = traceback.extract_tb(e.__traceback__)[-1]
            return TrackResult(chapter, False,
                               f"training failed (on what your functions returned?): "
                               f"{type(e).__name__}: {e} ({tb.name} in {Path(tb.filename).name})",
                               {}, calls(), time.perf_counter() - t0)
        model.eval()
        outcome = measure(model)
    passed, message = verdict(track, outcome, calls())
    return TrackResult(chapter, passed, message, outcome, calls(), time.perf_counter() - t0)


def reference_functions() -> dict[int, dict[str, Callable]]:
    """chapter -> minirl's own function for each of the track's exercises (the answer key: what the
    thresholds were set with, and what `make grade-train-check` shows passing)."""
    from . import core, dpo, grpo, model, ppo, reinforce, sft
    reinforce_fns = ("discounted_returns", "baseline_advantages", "reinforce_loss")
    ppo_fns = ("gae", "ppo_policy_loss", "ppo_value_loss", "ppo_token_rewards")
    return {2: {"causal_mask": model.causal_mask, "sft_loss": sft.sft_loss},
            3: {n: getattr(reinforce, n) for n in reinforce_fns},
            5: {**{n: getattr(ppo, n) for n in ppo_fns}, "kl_penalty": core.kl_estimate},
            6: {"sequence_logprob": dpo.sequence_logprob, "dpo_loss": dpo.dpo_loss},
            7: {"group_advantages": grpo.group_advantages, "grpo_loss": grpo.grpo_loss}}
