"""One arm of a comparison: an algorithm, or several one after another (SFT then RL), trained
from a given start on a budget of completions, with its learning curve, wall time and peak memory.
minirl.compare plans the arms and reads their curves side by side.
Chapter: chapters/08-sft-vs-rl.md, 8.2 (a fair race).
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import load_model, read_metrics
from .device import pick_device
from .memory import PeakMemory, models_held
from .passk import sampled_metrics
from .run_folder import same_config
from .runs import TrainResult
from .tasks import make_task
from .tokenizer import CharTokenizer


def completions_per_step(algo: str, cfg) -> int:
    """Responses one optimizer step learns from (see the module docstring)."""
    if algo == "sft":
        return cfg.batch_size
    if algo == "dpo":
        return 2 * cfg.batch_size
    if algo == "grpo":
        return cfg.batch_size * cfg.group_size
    return cfg.batch_size * cfg.samples_per_prompt


def updates_per_step(algo: str, cfg) -> int:
    """Optimizer steps on the policy per training step: PPO's epochs x minibatches (at most that
    many when --target_kl stops an iteration early), GRPO's inner_steps, 1 for the others (A2C's
    critic has its own optimizer; its steps are not counted)."""
    if algo in ("ppo", "rlhf"):
        return cfg.epochs * cfg.minibatches
    if algo == "grpo":
        return cfg.inner_steps
    return 1


def algo_config(algo: str, **kw):
    """The algorithm's own Config class (its defaults), with `kw` set."""
    import importlib
    mod = importlib.import_module({"rlhf": "minirl.rlhf"}.get(algo, f"minirl.{algo}"))
    return mod.CLI[0](**kw)


def _train(algo: str, cfg):
    import importlib
    return importlib.import_module(f"minirl.{algo}").CLI[1](cfg)


@dataclass
class Stage:
    algo: str
    completions: int
    overrides: dict = field(default_factory=dict)


def run_arm(name: str, stages: list[Stage], init: str, seed: int, out: Path, cfg,
            extra_metrics: bool = False) -> tuple[list[dict], dict]:
    """Train the stages one after another (each from the previous one's model) -> (curve, result).

    curve: one row per evaluation (completions, optimizer updates and seconds counted from the
    arm's start); result: final accuracy, wall time, updates, peak memory, models held, and sampled
    metrics if asked.
    """
    curve = []
    done = 0
    updates = 0
    seconds = 0.0
    steps = 0
    peak = 0.0
    held = 1
    model = None
    device = pick_device(cfg.device)
    for i, st in enumerate(stages):
        probe = algo_config(st.algo, **st.overrides)
        per = completions_per_step(st.algo, probe)
        ups = updates_per_step(st.algo, probe)
        n_steps = max(1, st.completions // per)
        every = max(1, n_steps // cfg.n_evals())
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_")
        folder = out / "runs" / (f"{slug}_s{seed}"
                                 + (f"_{i}{st.algo}" if len(stages) > 1 else ""))
        run_cfg = algo_config(st.algo, **{**st.overrides, "init": init, "out": str(folder),
                                         "seed": seed, "steps": n_steps, "eval_every": every,
                                         "log_every": every, "progress": cfg.progress,
                                         "device": cfg.device,
                                         "overwrite": True,   # the comparison owns its folders
                                         "plot": False})      # ... and draws every curve itself
        result = _finished(folder, st.algo, run_cfg) if cfg.reuse else None
        if result is None:
            t0 = time.perf_counter()
            with PeakMemory(device) as mem:
                result = _train(st.algo, run_cfg)
            result.summary.update(compare_seconds=time.perf_counter() - t0, compare_peak_mb=mem.mb)
            (folder / "summary.json").write_text(json.dumps(result.summary, indent=2))
        elapsed = result.summary.get("compare_seconds", result.summary["wall_seconds"])
        mb = result.summary.get("compare_peak_mb")
        # before the run's clock: DPO pairs, RLHF's RM
        setup = max(0.0, elapsed - result.summary["wall_seconds"])
        for r in result.metrics:
            if "eval_accuracy" in r:
                curve.append({"arm": name, "seed": seed, "stage": st.algo,
                              "step": steps + r["step"],
                              "completions": done + r["step"] * per,
                              "updates": updates + r["step"] * ups,
                              "seconds": round(seconds + setup + r["seconds"], 3),
                              "eval_accuracy": r["eval_accuracy"]})
        done = done + n_steps * per
        updates = updates + n_steps * ups
        steps = steps + n_steps
        seconds += elapsed
        peak = max(peak, mb) if mb is not None else float("nan")
        held = max(held, models_held(st.algo, run_cfg))
        init = str(folder / "model.pt")
        model = result.model
    res = {"arm": name, "seed": seed, "final_accuracy": curve[-1]["eval_accuracy"],
           "wall_seconds": round(seconds, 2), "completions": done, "updates": updates,
           "steps": steps, "peak_memory_mb": round(peak, 1), "models_held": held}
    if extra_metrics:
        model.eval()
        res.update({k: round(v, 4) for k, v in sampled_metrics(
            model, CharTokenizer(), make_task(stages[-1].overrides.get("task", cfg.task)),
            cfg.pass_samples, (1, min(8, cfg.pass_samples)), cfg.pass_prompts, seed).items()})
    return curve, res


def _finished(folder: Path, algo: str, run_cfg):
    """The result of a run already in `folder` with exactly this config, or None."""
    try:
        same = same_config(folder, algo, run_cfg)
        summary = json.loads((folder / "summary.json").read_text())
        metrics = read_metrics(folder)
    except (OSError, ValueError):
        return None
    if not same or summary.get("steps") != run_cfg.steps:
        return None
    model, _ = load_model(folder / "model.pt", kind="GPT")
    return TrainResult(model, metrics, summary, folder)


def run_job(args):
    """One (arm, seed), with the sampled metrics; picklable for worker processes (--jobs > 1)."""
    return run_arm(*args, extra_metrics=True)
