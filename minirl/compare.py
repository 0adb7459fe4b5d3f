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
import re
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
    completions: int = opt(32768, "completions each arm learns from (demonstrations, pairs x 2, or samples)")
    seconds: float = opt(0.0, "T for the equal-wall-time column (0 = the shortest arm's mean wall time)")
    evals: int = opt(12, "held-out evaluations per run")
    quick: bool = opt(False, "a much smaller run: completions / 8, 2 seeds, 6 evaluations")
    rl_algo: str = opt("grpo", "the RL algorithm of the ceiling, countdown, hybrid and dense experiments")
    p_wrong: str = opt("0,0.3,0.5", "ceiling: the noisy teacher's error rates")
    hybrid_p_wrong: float = opt(0.3, "hybrid: the teacher's error rate for the SFT phases")
    init: str = opt("", "the common starting checkpoint (default: train a weak SFT model in OUT/init)")
    init_steps: int = opt(200, "SFT steps of the default weak start")
    barely_steps: int = opt(60, "SFT steps of the barely trained start (hybrid, dense)")
    pass_samples: int = opt(16, "samples per held-out prompt for the sampled metrics (pass@1, pass@k)")
    pass_prompts: int = opt(200, "held-out prompts for the sampled metrics")
    out: str = opt("", "output folder (default runs/compare)")
    device: str = opt("auto", "auto | cpu | cuda")
    progress: bool = opt(False, "show each run's progress bar")
    jobs: int = opt(1, "runs side by side in worker processes (they then share the CPU: keep 1 to compare seconds)")
    reuse: bool = opt(True, "reuse finished runs found in OUT with the same config instead of training them again")

    def validate(self):
        if self.experiment not in EXPERIMENTS:
            raise ConfigError(f"unknown --experiment {self.experiment!r}; choose one of {', '.join(EXPERIMENTS)}")
        if self.task not in TASK_NAMES or self.task == "countdown":
            raise ConfigError(f"--task must be an arithmetic task ({', '.join(TASK_NAMES[:-1])}), got "
                              f"{self.task!r}; the countdown task has its own --experiment countdown")
        names = self.algo_list()
        if self.rl_algo not in RL_ALGOS:
            raise ConfigError(f"--rl_algo must be one of {', '.join(RL_ALGOS)}, got {self.rl_algo!r}")
        for name in ("seeds", "jobs", "completions", "evals", "init_steps", "barely_steps", "pass_samples", "pass_prompts"):
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
    ro = sample(model, tokenizer, task, prompts, samples_per_prompt=n, temperature=1.0, generator=gen,
                logprobs=False)
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
        try:                                    # hand memory freed by earlier runs back to the OS
            import ctypes
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
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
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_")
        folder = out / "runs" / (f"{slug}_s{seed}" + (f"_{i}{st.algo}" if len(stages) > 1 else ""))
        run_cfg = algo_config(st.algo, **{**st.overrides, "init": init, "out": str(folder), "seed": seed,
                                         "steps": n_steps, "eval_every": every, "log_every": every,
                                         "progress": cfg.progress, "device": cfg.device})
        result = _finished(folder, st.algo, run_cfg) if cfg.reuse else None
        if result is None:
            t0 = time.perf_counter()
            with PeakMemory(device) as mem:
                result = _train(st.algo, run_cfg)
            result.summary.update(compare_seconds=time.perf_counter() - t0, compare_peak_mb=mem.mb)
            (folder / "summary.json").write_text(json.dumps(result.summary, indent=2))
        elapsed = result.summary.get("compare_seconds", result.summary["wall_seconds"])
        mb = result.summary.get("compare_peak_mb")
        setup = max(0.0, elapsed - result.summary["wall_seconds"])   # before the run's clock: DPO pairs, RLHF's RM
        for r in result.metrics:
            if "eval_accuracy" in r:
                curve.append({"arm": name, "seed": seed, "stage": st.algo, "step": steps + r["step"],
                              "completions": done + r["step"] * per,
                              "seconds": round(seconds + setup + r["seconds"], 3), "eval_accuracy": r["eval_accuracy"]})
        done, steps = done + n_steps * per, steps + n_steps
        seconds += elapsed
        peak = max(peak, mb) if mb is not None else float("nan")
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


def _finished(folder: Path, algo: str, run_cfg):
    """The result of a run already in `folder` with exactly this config, or None."""
    from .runs import TrainResult, load_model, read_metrics
    try:
        same = json.loads((folder / "config.json").read_text()) == {"algo": algo, **run_cfg.to_dict()}
        summary = json.loads((folder / "summary.json").read_text())
        metrics = read_metrics(folder)
    except (OSError, ValueError):
        return None
    if not same or summary.get("steps") != run_cfg.steps:
        return None
    model, _ = load_model(folder / "model.pt", kind="GPT")
    return TrainResult(model, metrics, summary, folder)


def _job(args):
    """One (arm, seed) in a worker process (--jobs > 1)."""
    return run_arm(*args, extra_metrics=True)


# --- the experiments ------------------------------------------------------------------------
def plan(cfg: CompareConfig) -> list[tuple[str, list[Stage], str]]:
    """(arm name, stages, which start) for the chosen experiment."""
    N, rl, task = cfg.budget(), cfg.rl_algo, {"task": cfg.task}
    if cfg.experiment == "algos":
        return [(a, [Stage(a, N, task)], "weak") for a in cfg.algo_list()]
    if cfg.experiment == "ceiling":
        ps = cfg.p_list()
        q = 0.3 if 0.3 in ps else max(ps)              # the SFT -> RL arm uses this teacher
        return ([(f"sft p={p:g}", [Stage("sft", N, {**task, "p_wrong": p})], "weak") for p in ps]
                + [(f"{rl} (verifier)", [Stage(rl, N, task)], "weak"),
                   (f"sft p={q:g} then {rl}", [Stage("sft", N // 2, {**task, "p_wrong": q}),
                                                Stage(rl, N - N // 2, task)], "weak")])
    if cfg.experiment == "countdown":
        cd = {"task": "countdown"}
        return [("sft (one style)", [Stage("sft", N, cd)], "countdown"),
                (f"{rl} (any valid)", [Stage(rl, N, cd)], "countdown")]
    if cfg.experiment == "hybrid":
        sft = {**task, "p_wrong": cfg.hybrid_p_wrong}
        return [("sft only", [Stage("sft", N, sft)], "barely"),
                (f"{rl} only", [Stage(rl, N, task)], "barely"),
                (f"sft then {rl}", [Stage("sft", N // 2, sft), Stage(rl, N - N // 2, task)], "barely")]
    return [(f"{rl} exact match", [Stage(rl, N, {**task, "dense_reward": False})], "barely"),
            (f"{rl} partial credit", [Stage(rl, N, {**task, "dense_reward": True})], "barely")]


def starting_points(cfg: CompareConfig, root: Path, kinds) -> dict:
    """Checkpoint path and held-out accuracy of each start the plan needs (trained once, then reused)."""
    from .rollout import evaluate
    from .runs import load_model
    from .sft import ensure_weak_init
    out = {}
    for kind in sorted(set(kinds)):
        task = "countdown" if kind == "countdown" else cfg.task
        steps = cfg.barely_steps if kind == "barely" else cfg.init_steps
        path = (cfg.init if kind == "weak" and cfg.init else
                ensure_weak_init(str(root / "init" / f"{task}_sft{steps}"), task=task, seed=0, steps=steps))
        t = make_task(task)
        model, _ = load_model(path, CharTokenizer(), t, kind="GPT")
        out[kind] = (path, evaluate(model, CharTokenizer(), t)[0])
    return out


def summarize(curves: list[dict], results: list[dict], T: float, level: float = 0.9) -> list[dict]:
    """One row per arm: means over seeds (and how many seeds reached `level`)."""
    table = []
    for arm in dict.fromkeys(r["arm"] for r in results):
        res = [r for r in results if r["arm"] == arm]
        per_seed = [[c for c in curves if c["arm"] == arm and c["seed"] == r["seed"]] for r in res]
        acc = [r["final_accuracy"] for r in res]
        at_T = [value_at([c["seconds"] for c in cs], [c["eval_accuracy"] for c in cs], T) for cs in per_seed]
        t90 = [first_crossing([c["seconds"] for c in cs], [c["eval_accuracy"] for c in cs], level) for cs in per_seed]
        n90 = [first_crossing([c["completions"] for c in cs], [c["eval_accuracy"] for c in cs], level)
               for cs in per_seed]
        reached = [x for x in t90 if x is not None]
        mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")   # noqa: E731
        row = {"arm": arm, "seeds": len(res), "final_accuracy": mean(acc),
               "final_accuracy_std": (sum((a - mean(acc)) ** 2 for a in acc) / max(1, len(acc) - 1)) ** 0.5,
               f"accuracy_at_{T:.0f}s": mean([a for a in at_T if a is not None]),
               "reached_90": len(reached), "seconds_to_90": mean(reached),
               "completions_to_90": mean([x for x in n90 if x is not None]),
               "peak_memory_mb": mean([r["peak_memory_mb"] for r in res]), "models_held": res[0]["models_held"],
               "wall_seconds": mean([r["wall_seconds"] for r in res])}
        for k in res[0]:
            if k.startswith("pass@") or k in ("distinct_correct", "demo_style_share"):
                row[k] = mean([r[k] for r in res])
        table.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    return table


def markdown_table(table: list[dict]) -> str:
    """The table as Markdown (NaN shown as '-')."""
    keys = list(table[0])
    fmt = lambda v: "-" if isinstance(v, float) and math.isnan(v) else (f"{v:.3g}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in table]
    return "\n".join(lines)


# --- figures --------------------------------------------------------------------------------
def plot_curves(curves: list[dict], x: str = "completions", title: str = "", T: float | None = None, path=None):
    """Held-out accuracy against `x` (completions or seconds): mean over seeds, min..max band.
    On the seconds axis each point sits at the seeds' mean time of that evaluation."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for arm in dict.fromkeys(c["arm"] for c in curves):
        seeds = sorted({c["seed"] for c in curves if c["arm"] == arm})
        runs = [[c for c in curves if c["arm"] == arm and c["seed"] == s] for s in seeds]
        n = min(len(r) for r in runs)
        xs = [sum(r[i][x] for r in runs) / len(runs) for i in range(n)]
        ys = [[r[i]["eval_accuracy"] for r in runs] for i in range(n)]
        line, = ax.plot(xs, [sum(y) / len(y) for y in ys], marker=".", label=arm)
        ax.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], color=line.get_color(), alpha=0.18)
    ax.axhline(0.9, color="gray", lw=0.6, ls=":")
    if T is not None:
        ax.axvline(T, color="gray", lw=0.8, ls="--", label=f"T = {T:.0f} s")
    ax.set_xlabel({"completions": "completions learned from", "seconds": "wall-clock seconds"}.get(x, x))
    ax.set_ylabel("held-out exact match (greedy)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    plt.close(fig)                      # returned for display(fig); not left open in pyplot's state
    return fig


def plot_ceiling(table: list[dict], teacher_ps: list[float], rl_arm: str, path=None):
    """Final accuracy of SFT against the teacher's error rate p, with the teacher's own accuracy
    1 - p and the RL arm (which never sees the teacher) as a horizontal band."""
    import matplotlib.pyplot as plt
    sft = [r for r in table if r["arm"].startswith("sft p=") and " then " not in r["arm"]]
    rl = next(r for r in table if r["arm"] == rl_arm)
    both = [r for r in table if " then " in r["arm"]]
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    ax.plot(teacher_ps, [1 - p for p in teacher_ps], "k--", lw=1, label="teacher (1 - p)")
    ax.errorbar(teacher_ps, [r["final_accuracy"] for r in sft], yerr=[r["final_accuracy_std"] for r in sft],
                marker="o", capsize=3, label="SFT, greedy")
    ax.plot(teacher_ps, [r["pass@1"] for r in sft], marker="s", label="SFT, sampled (pass@1)")
    ax.axhline(rl["final_accuracy"], color="C3", label=f"{rl_arm}, greedy")
    ax.axhline(rl["pass@1"], color="C3", ls=":", label=f"{rl_arm}, sampled (pass@1)")
    for r in both:
        q = float(r["arm"].split()[1][len("p="):])                    # "sft p=0.3 then grpo" -> 0.3
        ax.plot([q, q],
                [r["final_accuracy"], r["pass@1"]], "D", color="C2", ms=7, label=f"{r['arm']}: greedy, pass@1")
    ax.set_xlabel("teacher error rate p")
    ax.set_ylabel("held-out exact match")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("SFT copies its teacher; RL is paid by the verifier", fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    plt.close(fig)                      # returned for display(fig); not left open in pyplot's state
    return fig


# --- the command ----------------------------------------------------------------------------
@dataclass
class CompareResult:
    summary: dict
    out: Path
    table: list[dict]
    curves: list[dict]
    results: list[dict]
    figures: dict


def _write_csv(path: Path, rows: list[dict]):
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def run_compare(cfg: CompareConfig) -> CompareResult:
    cfg.validate()
    t0 = time.perf_counter()
    root = Path(cfg.out or "runs/compare")
    out = root / cfg.experiment
    arms = plan(cfg)
    starts = starting_points(cfg, root, [kind for _, _, kind in arms])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    curves, results = [], []
    jobs = [(arm, seed) for seed in range(cfg.n_seeds()) for arm in arms]   # seed-major: any drift in
    # the machine's load (or thermal state) is spread over every arm, not dumped on the last ones
    args = [(name, stages, starts[kind][0], seed, out, cfg) for (name, stages, kind), seed in jobs]
    if cfg.jobs > 1:
        import multiprocessing
        pool = multiprocessing.get_context("spawn").Pool(min(cfg.jobs, len(args)))
        outcomes = pool.imap(_job, args)
    else:
        outcomes = (_job(a) for a in args)
    for i, (((name, stages, kind), seed), (curve, res)) in enumerate(zip(jobs, outcomes)):
        acc0 = starts[kind][1]
        start = {"arm": name, "seed": seed, "stage": "init", "step": 0, "completions": 0, "seconds": 0.0,
                 "eval_accuracy": acc0}
        curves += [start] + curve
        results.append(res)
        print(f"[{i + 1}/{len(jobs)}] {name} seed {seed}: held-out {acc0:.1%} -> {res['final_accuracy']:.1%}, "
              f"pass@1 {res.get('pass@1', float('nan')):.1%}, {res['wall_seconds']:.0f} s", flush=True)
    if cfg.jobs > 1:
        pool.close()
        pool.join()
    T = cfg.seconds or min(sum(r["wall_seconds"] for r in results if r["arm"] == a) / cfg.n_seeds()
                           for a in dict.fromkeys(r["arm"] for r in results))
    table = summarize(curves, results, T)
    _write_csv(out / "curves.csv", curves)
    _write_csv(out / "results.csv", results)
    _write_csv(out / "table.csv", table)
    (out / "table.md").write_text(markdown_table(table) + "\n")
    what = {"algos": f"{cfg.task}, every algorithm from one weak start", "ceiling": f"{cfg.task}, noisy teacher",
            "countdown": "countdown, many valid answers", "hybrid": f"{cfg.task}, from a barely trained start",
            "dense": f"{cfg.task}, sparse vs dense reward"}[cfg.experiment]
    figures = {"completions": plot_curves(curves, "completions", what, path=out / "accuracy_vs_completions.png"),
               "seconds": plot_curves(curves, "seconds", what, T=T, path=out / "accuracy_vs_seconds.png")}
    if cfg.experiment == "ceiling":
        figures["ceiling"] = plot_ceiling(table, cfg.p_list(), arms[-2][0], path=out / "ceiling.png")
    best = max(table, key=lambda r: r["final_accuracy"])
    summary = {"experiment": cfg.experiment, "eval_accuracy": best["final_accuracy"], "best_arm": best["arm"],
               "steps": sum(r["steps"] for r in results), "runs": len(results), "equal_time_T": round(T, 1),
               "wall_seconds": round(time.perf_counter() - t0, 1),
               "starts": {k: {"path": p, "accuracy": a} for k, (p, a) in starts.items()}, "table": table}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(markdown_table(table))
    return CompareResult(summary, out, table, curves, results, figures)


CLI = (CompareConfig, run_compare, "SFT vs RL: every algorithm from one start, equal completions and time, seeds")
