"""SFT versus RL, measured: every algorithm from the same start, on the same budget (chapter 8).

A comparison is only fair if everything but the algorithm is held fixed. Here every arm
  - starts from the SAME checkpoint (a weak SFT model, minirl.sft.ensure_weak_init),
  - trains on the same task and is scored the same way (greedy exact match on held-out prompts),
  - gets the same number of COMPLETIONS, the responses it learns from:
        sft        batch_size demonstrations per step        dpo   2 x batch_size (chosen + rejected)
        reinforce, a2c, ppo, rlhf   batch_size x samples_per_prompt sampled responses per step
        grpo       batch_size x group_size sampled responses per step
  - and is read at the same WALL TIME T (each curve at the last evaluation before T),
  - with several seeds; figures show the mean and the min..max band over seeds.
Each algorithm keeps its own default hyperparameters (its Config); only steps, evaluation
frequency, start and seed are set here.

Experiments (--experiment), each written to OUT/<experiment>/ as CSV + PNG:
  algos      every algorithm in --algos; accuracy vs completions and vs seconds; a table of final
             accuracy, accuracy at time T, time and completions to 90%, peak memory, models held.
  ceiling    SFT on a noisy teacher (wrong with probability p, several p) vs RL with the verifier.
  countdown  many right answers: SFT copies one solution style, RL is paid for any valid one.
  hybrid     SFT only / RL only / SFT then RL, from a barely trained model, equal total completions.
  dense      exact-match reward vs partial credit per right digit (--dense_reward), one RL algorithm.

Sampled metrics use the unbiased pass@k estimator of Chen et al. 2021 (eq. 1): from n samples of
which c are correct,  pass@k = 1 - C(n - c, k) / C(n, k)  (the chance that k samples drawn
without replacement from the n contain a correct one).
"""
from __future__ import annotations

import csv
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .rollout import sample
from .runs import ConfigError, opt, pick_device
from .tasks import TASK_NAMES, make_task
from .tokenizer import CharTokenizer

ALGOS = ("sft", "reinforce", "a2c", "ppo", "dpo", "grpo", "rlhf")
RL_ALGOS = ("reinforce", "a2c", "ppo", "grpo")
EXPERIMENTS = ("algos", "ceiling", "countdown", "hybrid", "dense")


@dataclass
class CompareConfig:
    experiment: str = opt("algos", f"what to compare: {' | '.join(EXPERIMENTS)}")
    algos: str = opt("sft,reinforce,a2c,ppo,dpo,grpo", f"comma-separated algorithms ({','.join(ALGOS)})")
    task: str = opt("add2", "task of every experiment but countdown")
    seeds: int = opt(3, "seeds per arm (0, 1, ...)")
    completions: int = opt(49152, "completions each arm learns from (demonstrations, pairs x 2, or samples)")
    seconds: float = opt(0.0, "T for the equal-wall-time column (0 = the shortest arm's mean wall time)")
    evals: int = opt(12, "held-out evaluations per run")
    quick: bool = opt(False, "a much smaller run: completions / 8, 2 seeds, 6 evaluations")
    rl_algo: str = opt("grpo", "the RL algorithm of the ceiling, countdown, hybrid and dense experiments")
    p_wrong: str = opt("0,0.1,0.3,0.5", "ceiling: the noisy teacher's error rates")
    hybrid_p_wrong: float = opt(0.0, "hybrid: the teacher's error rate for the SFT phases")
    init: str = opt("", "the common starting checkpoint (default: train a weak SFT model in OUT/init)")
    init_steps: int = opt(200, "SFT steps of the default weak start")
    barely_steps: int = opt(60, "SFT steps of the barely trained start (hybrid, dense)")
    pass_samples: int = opt(16, "samples per held-out prompt for the sampled metrics (pass@1, pass@k)")
    pass_prompts: int = opt(200, "held-out prompts for the sampled metrics")
    out: str = opt("", "output folder (default runs/compare)")
    device: str = opt("auto", "auto | cpu | cuda")
    progress: bool = opt(False, "show each run's progress bar")

    def validate(self):
        if self.experiment not in EXPERIMENTS:
            raise ConfigError(f"unknown --experiment {self.experiment!r}; choose one of {', '.join(EXPERIMENTS)}")
        if self.task not in TASK_NAMES or self.task == "countdown":
            raise ConfigError(f"--task must be an arithmetic task ({', '.join(TASK_NAMES[:-1])}), got "
                              f"{self.task!r}; the countdown task has its own --experiment countdown")
        names = self.algo_list()
        if self.rl_algo not in RL_ALGOS:
            raise ConfigError(f"--rl_algo must be one of {', '.join(RL_ALGOS)}, got {self.rl_algo!r}")
        for name in ("seeds", "completions", "evals", "init_steps", "barely_steps", "pass_samples", "pass_prompts"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name} must be a positive integer, got {getattr(self, name)}")
        if self.seconds < 0:
            raise ConfigError(f"--seconds must be >= 0 (0 = the shortest arm's time), got {self.seconds}")
        self.p_list()
        if not 0.0 <= self.hybrid_p_wrong <= 1.0:
            raise ConfigError(f"--hybrid_p_wrong must be in [0, 1], got {self.hybrid_p_wrong}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        pick_device(self.device)
        if self.init:
            from .runs import load_model
            load_model(self.init, CharTokenizer(), make_task(self.task))
        budget = self.budget()
        algos = names if self.experiment == "algos" else ["sft", self.rl_algo]
        for algo in algos:                                   # every arm must afford two steps
            per = completions_per_step(algo, algo_config(algo))
            if budget < 2 * per:
                raise ConfigError(f"--completions {budget} buys less than 2 steps of {algo} ({per} completions "
                                  f"per step); use --completions {2 * per * (8 if self.quick else 1)} or more")

    def algo_list(self) -> list[str]:
        names = [a.strip() for a in self.algos.split(",") if a.strip()]
        if not names:
            raise ConfigError(f"--algos is empty; give a comma-separated list from {','.join(ALGOS)}")
        unknown = [a for a in names if a not in ALGOS]
        if unknown:
            raise ConfigError(f"unknown algorithm(s) in --algos: {', '.join(unknown)}; choose from {','.join(ALGOS)}")
        if len(set(names)) != len(names):
            raise ConfigError(f"--algos lists an algorithm twice: {self.algos!r}")
        return names

    def p_list(self) -> list[float]:
        try:
            ps = [float(p) for p in self.p_wrong.split(",") if p.strip()]
        except ValueError:
            raise ConfigError(f"--p_wrong must be comma-separated numbers like 0,0.1,0.3, got {self.p_wrong!r}") from None
        if not ps or not all(0.0 <= p <= 1.0 for p in ps):
            raise ConfigError(f"--p_wrong needs error rates in [0, 1], got {self.p_wrong!r}")
        return ps

    def budget(self) -> int:
        return self.completions // 8 if self.quick else self.completions

    def n_seeds(self) -> int:
        return min(self.seeds, 2) if self.quick else self.seeds

    def n_evals(self) -> int:
        return min(self.evals, 6) if self.quick else self.evals

    def to_dict(self) -> dict:
        import dataclasses
        return dataclasses.asdict(self)


# --- pure functions -------------------------------------------------------------------------
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021, eq. 1): 1 - C(n-c, k) / C(n, k), for n samples, c correct.

    Computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i), which avoids huge binomials. 1.0 when n - c < k
    (every k-subset then holds a correct sample); 0.0 when c = 0.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def partial_credit(response, answer: str, max_len: int) -> float:
    """Share of the answer's characters right in place, in writing order, over max(len(answer),
    len(response)): 1.0 iff exact. Anything but ASCII digits, an empty response or one longer than
    max_len gives 0.0; never raises. Same as ArithmeticTask.partial_reward with
    answer = task.answer(a, b) and max_len = task.max_answer_digits + 1."""
    if not isinstance(response, str):
        return 0.0
    r = response.strip()
    if not r or len(r) > max_len or not set(r) <= set("0123456789"):
        return 0.0
    return sum(x == y for x, y in zip(r, answer)) / max(len(answer), len(r))


def completions_per_step(algo: str, cfg) -> int:
    """Responses one optimizer step learns from (see the module docstring)."""
    if algo == "sft":
        return cfg.batch_size
    if algo == "dpo":
        return 2 * cfg.batch_size
    if algo == "grpo":
        return cfg.batch_size * cfg.group_size
    return cfg.batch_size * cfg.samples_per_prompt


def models_held(algo: str, cfg) -> int:
    """Networks in memory during training: policy, critic/value, reference, reward model."""
    return {"sft": 1, "reinforce": 1, "a2c": 2, "ppo": 3 + bool(getattr(cfg, "reward_model", "")),
            "rlhf": 4, "dpo": 2, "grpo": 1 + (getattr(cfg, "beta", 0) > 0)}[algo]


def first_crossing(xs, ys, level: float):
    """The first x at which y >= level, or None if it never gets there."""
    return next((x for x, y in zip(xs, ys) if y >= level), None)


def value_at(xs, ys, x0: float):
    """y at the last point with x <= x0 (a curve read at time x0), or None before its first point."""
    pts = [y for x, y in zip(xs, ys) if x <= x0]
    return pts[-1] if pts else None


@torch.no_grad()
def sampled_metrics(model, tokenizer, task, n: int = 16, ks=(1, 8), n_prompts: int = 200, seed: int = 0) -> dict:
    """pass@k at temperature 1 on held-out prompts (n samples each), plus how varied the right
    answers are: distinct correct responses per prompt, and the share of correct samples that are
    the task's demonstrated answer (task.answer)."""
    pairs = task.heldout()[:n_prompts]
    prompts = [task.prompt(a, b) for a, b in pairs]
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    ro = sample(model, tokenizer, task, prompts, samples_per_prompt=n, temperature=1.0, generator=gen)
    ok = [task.is_correct(p, t) for p, t in zip(ro.prompts, ro.texts)]            # exact, whatever the reward
    out = {f"pass@{k}": 0.0 for k in ks if k <= n}
    distinct, demo_style, n_ok = 0, 0, 0
    for i, pair in enumerate(pairs):
        good = [t.strip() for t, o in zip(ro.texts[i * n:(i + 1) * n], ok[i * n:(i + 1) * n]) if o]
        for k in out:
            out[k] += pass_at_k(n, len(good), int(k[5:])) / len(pairs)
        distinct += len(set(good))
        demo_style += sum(g == task.answer(*pair) for g in good)
        n_ok += len(good)
    out.update(distinct_correct=distinct / len(pairs), demo_style_share=demo_style / n_ok if n_ok else float("nan"))
    return out


# --- running one arm ------------------------------------------------------------------------
def algo_config(algo: str, **kw):
    """The algorithm's own Config class (its defaults), with `kw` set."""
    import importlib
    mod = importlib.import_module({"rlhf": "minirl.rlhf"}.get(algo, f"minirl.{algo}"))
    return mod.CLI[0](**kw)


def _train(algo: str, cfg):
    import importlib
    return importlib.import_module(f"minirl.{algo}").CLI[1](cfg)


class PeakMemory:
    """Peak memory of a block of code, in MB: CUDA's max allocated on a GPU; on a CPU the peak
    resident memory of this process above its level at the start (sampled every 5 ms; Linux)."""

    def __init__(self, device):
        self.device, self.mb = device, None

    @staticmethod
    def _rss():
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def _poll(self):
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, self._rss() or 0)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._start = self._rss()
        if self._start is not None and self.device.type != "cuda":
            self._peak, self._stop = self._start, threading.Event()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2 ** 20
        elif self._start is not None:
            self._stop.set()
            self._thread.join()
            self.mb = max(self._peak, self._rss() or 0) / 2 ** 20 - self._start / 2 ** 20
        return False


@dataclass
class Stage:
    algo: str
    completions: int
    overrides: dict = field(default_factory=dict)


def run_arm(name: str, stages: list[Stage], init: str, seed: int, out: Path, cfg: CompareConfig,
            extra_metrics: bool = False) -> tuple[list[dict], dict]:
    """Train the stages one after another (each from the previous one's model) -> (curve, result).

    curve: one row per evaluation (completions and seconds counted from the arm's start);
    result: final accuracy, wall time, peak memory, models held, and sampled metrics if asked.
    """
    curve, done, seconds, steps, peak, held, model = [], 0, 0.0, 0, 0.0, 1, None
    device = pick_device(cfg.device)
    for i, st in enumerate(stages):
        probe = algo_config(st.algo, **st.overrides)
        per = completions_per_step(st.algo, probe)
        n_steps = max(1, st.completions // per)
        every = max(1, n_steps // cfg.n_evals())
        folder = out / "runs" / (f"{name}_s{seed}" + (f"_{i}{st.algo}" if len(stages) > 1 else ""))
        run_cfg = algo_config(st.algo, **{**st.overrides, "init": init, "out": str(folder), "seed": seed,
                                         "steps": n_steps, "eval_every": every, "log_every": every,
                                         "progress": cfg.progress, "device": cfg.device})
        with PeakMemory(device) as mem:
            result = _train(st.algo, run_cfg)
        for r in result.metrics:
            if "eval_accuracy" in r:
                curve.append({"arm": name, "seed": seed, "stage": st.algo, "step": steps + r["step"],
                              "completions": done + r["step"] * per, "seconds": round(seconds + r["seconds"], 3),
                              "eval_accuracy": r["eval_accuracy"]})
        done, steps = done + n_steps * per, steps + n_steps
        seconds += result.summary["wall_seconds"]
        peak = max(peak, mem.mb) if mem.mb is not None else float("nan")
        held = max(held, models_held(st.algo, run_cfg))
        init, model = str(folder / "model.pt"), result.model
    res = {"arm": name, "seed": seed, "final_accuracy": curve[-1]["eval_accuracy"], "wall_seconds": round(seconds, 2),
           "completions": done, "steps": steps, "peak_memory_mb": round(peak, 1), "models_held": held}
    if extra_metrics:
        model.eval()
        res.update({k: round(v, 4) for k, v in sampled_metrics(
            model, CharTokenizer(), make_task(stages[-1].overrides.get("task", cfg.task)), cfg.pass_samples,
            (1, min(8, cfg.pass_samples)), cfg.pass_prompts, seed).items()})
    return curve, res
