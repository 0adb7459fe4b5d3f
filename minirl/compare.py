"""SFT versus RL, measured: every algorithm from the same start, on the same budget.

Everything but the algorithm is held fixed: every arm starts from the same weak SFT checkpoint,
is scored the same way (greedy exact match on held-out prompts), learns from the same number of
COMPLETIONS (sft: batch_size demonstrations a step; dpo: 2 x batch_size; reinforce, a2c, ppo,
rlhf: batch_size x samples_per_prompt; grpo: batch_size x group_size), is read at the same WALL
TIME T, and runs with several seeds (figures: the mean and the min..max band). Each algorithm
keeps its own default hyperparameters; only steps, evaluation frequency, start and seed are set.

Experiments (--experiment), each written to OUT/<experiment>/ as CSV + PNG:
  algos      every algorithm in --algos: accuracy vs completions and vs seconds, and a table
  ceiling    SFT on a noisy teacher (several error rates) vs RL with the verifier
  countdown  many right answers: SFT copies one solution style, RL is paid for any valid one
  hybrid     SFT only / RL only / SFT then RL, from a barely trained model
  dense      exact-match reward vs partial credit per right digit (--dense_reward)
  updates    GRPO and PPO with each other's number of optimizer updates per batch
An arm is trained by minirl.arms; the table comes from minirl.report, the figures from
minirl.plotting. Chapter: chapters/08-sft-vs-rl.md, 8.2 (8.2.1 updates, 8.3 ceiling,
8.4 countdown, 8.5 hybrid, 8.6 dense).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from .arms import Stage, algo_config, completions_per_step, run_job
from .config import ConfigError, check_fields, config_field
from .device import pick_device
from .evaluation import evaluate
from .plotting import plot_ceiling, plot_curves, save_figure
from .report import markdown_table, summarize, write_csv
from .runs import load_model
from .sft import ensure_weak_init
from .tasks import TASK_NAMES, make_task
from .tokenizer import CharTokenizer

ALGOS = ("sft", "reinforce", "a2c", "ppo", "dpo", "grpo", "rlhf")
RL_ALGOS = ("reinforce", "a2c", "ppo", "grpo")
EXPERIMENTS = ("algos", "ceiling", "countdown", "hybrid", "dense", "updates")


@dataclass
class CompareConfig:
    experiment: str = config_field("algos", f"what to compare: {' | '.join(EXPERIMENTS)}",
                                   choices=EXPERIMENTS)
    algos: str = config_field("sft,reinforce,a2c,ppo,dpo,grpo",
                              f"comma-separated algorithms ({','.join(ALGOS)})")
    task: str = config_field("add2", "task of every experiment but countdown",
                             choices=tuple(TASK_NAMES[:-1]))
    seeds: int = config_field(3, "seeds per arm (0, 1, ...)", at_least=1)
    completions: int = config_field(32768, "completions each arm learns from (demonstrations, "
                                           "pairs x 2, or samples)", at_least=1, at_most=10 ** 9)
    seconds: float = config_field(0.0, "T for the equal-wall-time column (0 = the shortest arm's "
                                       "mean wall time)")
    evals: int = config_field(12, "held-out evaluations per run", at_least=1, at_most=10000)
    quick: bool = config_field(False, "a much smaller run: completions / 8, 2 seeds, 6 evaluations")
    rl_algo: str = config_field("grpo", "the RL algorithm of the ceiling, countdown, hybrid and "
                                        "dense experiments", choices=RL_ALGOS)
    p_wrong: str = config_field("0,0.3,0.5", "ceiling: the noisy teacher's error rates")
    hybrid_p_wrong: float = config_field(0.3, "hybrid: the teacher's error rate for the SFT phases "
                                              "(0 = a perfect teacher)", at_most=1)
    init: str = config_field("", "the common starting checkpoint (default: train a weak SFT model "
                                 "in OUT/init)")
    init_steps: int = config_field(200, "SFT steps of the default weak start", at_least=1)
    barely_steps: int = config_field(60, "SFT steps of the barely trained start (hybrid, dense)",
                                     at_least=1)
    pass_samples: int = config_field(16, "samples per held-out prompt for the sampled metrics "
                                         "(pass@1, pass@k)", at_least=1)
    pass_prompts: int = config_field(200, "held-out prompts for the sampled metrics", at_least=1,
                                     at_most=100000)
    out: str = config_field("", "output folder (default runs/compare)")
    device: str = config_field("auto", "auto | cpu | cuda")
    progress: bool = config_field(False, "show each run's progress bar")
    jobs: int = config_field(1, "runs side by side in worker processes (they then share the CPU: "
                                "keep 1 to compare seconds)", at_least=1)
    reuse: bool = config_field(True, "reuse finished runs found in OUT with the same config "
                                     "instead of training them again")

    def validate(self):
        if self.task == "countdown":
            raise ConfigError("--task must be an arithmetic task; the countdown task has its own "
                              "--experiment countdown")
        check_fields(self)
        names = self.algo_list()
        self.p_list()
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        pick_device(self.device)
        if self.init:
            load_model(self.init, CharTokenizer(), make_task(self.task))
        budget = self.budget()
        algos = {"algos": names, "updates": ["grpo", "ppo"]}.get(self.experiment,
                                                                 ["sft", self.rl_algo])
        for algo in algos:                                   # every arm must afford two steps
            per = completions_per_step(algo, algo_config(algo))
            if budget < 2 * per:
                raise ConfigError(f"--completions {budget} buys less than 2 steps of {algo} "
                                  f"({per} completions per step); use --completions "
                                  f"{2 * per * (8 if self.quick else 1)} or more")

    def algo_list(self) -> list[str]:
        names = [a.strip() for a in self.algos.split(",") if a.strip()]
        if not names:
            raise ConfigError(f"--algos is empty; give a comma-separated list from "
                              f"{','.join(ALGOS)}")
        unknown = [a for a in names if a not in ALGOS]
        if unknown:
            raise ConfigError(f"unknown algorithm(s) in --algos: {', '.join(unknown)}; "
                              f"choose from {','.join(ALGOS)}")
        if len(set(names)) != len(names):
            raise ConfigError(f"--algos lists an algorithm twice: {self.algos!r}")
        return names

    def p_list(self) -> list[float]:
        try:
            ps = [float(p) for p in self.p_wrong.split(",") if p.strip()]
        except ValueError:
            raise ConfigError(f"--p_wrong must be comma-separated numbers like 0,0.1,0.3, "
                              f"got {self.p_wrong!r}") from None
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


# --- the experiments ------------------------------------------------------------------------
def plan(cfg: CompareConfig) -> list[tuple[str, list[Stage], str]]:
    """(arm name, stages, which start) for the chosen experiment."""
    N = cfg.budget()
    rl = cfg.rl_algo
    task = {"task": cfg.task}
    if cfg.experiment == "algos":
        return [(a, [Stage(a, N, task)], "weak") for a in cfg.algo_list()]
    if cfg.experiment == "ceiling":
        ps = cfg.p_list()
        q = 0.3 if 0.3 in ps else max(ps)              # the SFT -> RL arm uses this teacher
        return ([(f"sft p={p:g}", [Stage("sft", N, {**task, "p_wrong": p})], "weak") for p in ps]
                + [(f"{rl} (verifier)", [Stage(rl, N, task)], "weak"),
                   (f"sft p={q:g} then {rl}", [Stage("sft", N // 2, {**task, "p_wrong": q}),
                                                Stage(rl, N - N // 2, task)], "weak")])
    if cfg.experiment == "updates":
        return [("grpo", [Stage("grpo", N, task)], "weak"),
                ("grpo, 4 updates per batch",
                 [Stage("grpo", N, {**task, "inner_steps": 4})], "weak"),
                ("ppo", [Stage("ppo", N, task)], "weak"),
                ("ppo, 1 update per batch",
                 [Stage("ppo", N, {**task, "epochs": 1, "minibatches": 1})], "weak")]
    if cfg.experiment == "countdown":
        cd = {"task": "countdown"}
        return [("sft (one style)", [Stage("sft", N, cd)], "countdown"),
                (f"{rl} (any valid)", [Stage(rl, N, cd)], "countdown")]
    if cfg.experiment == "hybrid":
        sft = {**task, "p_wrong": cfg.hybrid_p_wrong}
        return [("sft only", [Stage("sft", N, sft)], "barely"),
                (f"{rl} only", [Stage(rl, N, task)], "barely"),
                (f"sft then {rl}", [Stage("sft", N // 2, sft), Stage(rl, N - N // 2, task)],
                 "barely")]
    return [(f"{rl} exact match", [Stage(rl, N, {**task, "dense_reward": False})], "barely"),
            (f"{rl} partial credit", [Stage(rl, N, {**task, "dense_reward": True})], "barely")]


def starting_points(cfg: CompareConfig, root: Path, kinds) -> dict:
    """Checkpoint path and held-out accuracy of each start the plan needs (trained once, then
    reused)."""
    out = {}
    for kind in sorted(set(kinds)):
        task = "countdown" if kind == "countdown" else cfg.task
        steps = cfg.barely_steps if kind == "barely" else cfg.init_steps
        path = (cfg.init if kind == "weak" and cfg.init else
                ensure_weak_init(str(root / "init" / f"{task}_sft{steps}"), task=task, seed=0,
                                 steps=steps))
        t = make_task(task)
        model, _ = load_model(path, CharTokenizer(), t, kind="GPT")
        out[kind] = (path, evaluate(model, CharTokenizer(), t)[0])
    return out


def equal_time(cfg: CompareConfig, results: list[dict]) -> float:
    """T, the time at which every curve is read: --seconds, else the shortest arm's mean wall
    time."""
    return cfg.seconds or min(
        sum(r["wall_seconds"] for r in results if r["arm"] == a) / cfg.n_seeds()
        for a in dict.fromkeys(r["arm"] for r in results))


def experiment_figures(cfg: CompareConfig, curves: list[dict], table: list[dict],
                       T: float) -> dict:
    """{completions, seconds[, ceiling | updates]: Figure}: held-out accuracy against completions
    and against seconds (T marked); for the ceiling experiment also final accuracy against the
    teacher's error, for the updates experiment also accuracy against optimizer updates."""
    what = {"algos": f"{cfg.task}, every algorithm from one weak start",
            "ceiling": f"{cfg.task}, noisy teacher",
            "countdown": "countdown, many valid answers",
            "hybrid": f"{cfg.task}, from a barely trained start",
            "dense": f"{cfg.task}, sparse vs dense reward",
            "updates": f"{cfg.task}, GRPO and PPO with each other's updates per batch",
            }[cfg.experiment]
    figures = {"completions": plot_curves(curves, "completions", what),
               "seconds": plot_curves(curves, "seconds", what, T=T)}
    if cfg.experiment == "updates":
        figures["updates"] = plot_curves(curves, "updates", what)
    if cfg.experiment == "ceiling":
        # plan(cfg)[-2][0]: the RL (verifier) arm
        figures["ceiling"] = plot_ceiling(table, cfg.p_list(), plan(cfg)[-2][0])
    return figures


# --- the command ----------------------------------------------------------------------------
FIGURE_FILES = {"completions": "accuracy_vs_completions.png", "seconds": "accuracy_vs_seconds.png",
                "ceiling": "ceiling.png", "updates": "accuracy_vs_updates.png"}


@dataclass
class CompareResult:
    summary: dict
    out: Path
    table: list[dict]
    curves: list[dict]
    results: list[dict]
    figures: dict


def run_compare(cfg: CompareConfig) -> CompareResult:
    cfg.validate()
    t0 = time.perf_counter()
    root = Path(cfg.out or "runs/compare")
    out = root / cfg.experiment
    arms = plan(cfg)
    starts = starting_points(cfg, root, [kind for _, _, kind in arms])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    curves = []
    results = []
    # seed-major: any drift in the machine's load (or thermal state) is spread over every arm,
    # not dumped on the last ones
    jobs = [(arm, seed) for seed in range(cfg.n_seeds()) for arm in arms]
    args = [(name, stages, starts[kind][0], seed, out, cfg) for (name, stages, kind), seed in jobs]
    if cfg.jobs > 1:
        import multiprocessing
        pool = multiprocessing.get_context("spawn").Pool(min(cfg.jobs, len(args)))
        outcomes = pool.imap(run_job, args)
    else:
        outcomes = (run_job(a) for a in args)
    for i, (((name, stages, kind), seed), (curve, res)) in enumerate(zip(jobs, outcomes)):
        acc0 = starts[kind][1]
        start = {"arm": name, "seed": seed, "stage": "init", "step": 0, "completions": 0,
                 "updates": 0, "seconds": 0.0, "eval_accuracy": acc0}
        curves += [start] + curve
        results.append(res)
        print(f"[{i + 1}/{len(jobs)}] {name} seed {seed}: held-out {acc0:.1%} -> "
              f"{res['final_accuracy']:.1%}, pass@1 {res.get('pass@1', float('nan')):.1%}, "
              f"{res['wall_seconds']:.0f} s", flush=True)
    if cfg.jobs > 1:
        pool.close()
        pool.join()
    T = equal_time(cfg, results)
    table = summarize(curves, results, T)
    for name, rows in (("curves", curves), ("results", results), ("table", table)):
        write_csv(out / f"{name}.csv", rows)
    (out / "table.md").write_text(markdown_table(table) + "\n")
    figures = experiment_figures(cfg, curves, table, T)
    for name, fig in figures.items():
        save_figure(fig, out / FIGURE_FILES[name], svg=False, dpi=110)
    best = max(table, key=lambda r: r["final_accuracy"])
    summary = {"experiment": cfg.experiment, "eval_accuracy": best["final_accuracy"],
               "best_arm": best["arm"], "steps": sum(r["steps"] for r in results),
               "runs": len(results), "equal_time_T": round(T, 1),
               "wall_seconds": round(time.perf_counter() - t0, 1),
               "starts": {k: {"path": p, "accuracy": a} for k, (p, a) in starts.items()},
               "table": table}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(markdown_table(table))
    return CompareResult(summary, out, table, curves, results, figures)


CLI = (CompareConfig, run_compare,
       "SFT vs RL: every algorithm from one start, equal completions and time, seeds")
