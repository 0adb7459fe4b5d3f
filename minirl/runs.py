"""Run: the trainer skeleton every train_X shares, and what it writes (the folder's helpers:
run_folder.py; checkpoints: checkpoint.py; tokens/s and the reward watch: meters.py).

A run writes, in its --out folder (an existing run is refused unless --overwrite or --resume;
the notebooks, which re-run their experiments in place, set MINIRL_OVERWRITE=1):
    config.json     the full config (every flag) that produced it, and under "run": the folder,
                    git commit, torch and Python versions, command line and start time
    metrics.jsonl   one JSON object per logged step
    model.pt        a checkpoint: weights + model config + tokenizer + task (+ optimizer, RNG for
                    --resume)
    summary.json    algo, task, seed, steps, wall_seconds, eval_accuracy, ...
    curves.png      learning curves (not with --no-plot)
    tensorboard/    the same metrics for TensorBoard (--tensorboard)
With --save_every N, model.pt is also written every N steps, so that --resume continues an
interrupted run exactly where its last checkpoint left it. The skeleton every trainer shares
(launch.py's start and new_policy, then Run's keep, steps, step and finish):
docs/conventions.md (Trainers).
"""
from __future__ import annotations

import json
import os
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_model, read_checkpoint, read_metrics, save_checkpoint  # noqa: F401
from .config import ConfigError, RunConfig
from .device import pick_device, rank_rng_states, restore_rank_rng
from .evaluation import evaluate as evaluate_greedy
from .launch import new_policy, start  # noqa: F401  (their old home; trainers import launch)
from .meters import ConstantRewardWatch, TokenMeter
from .run_folder import (RUN_FILES, holds_run, run_metadata, same_config,  # noqa: F401
                         tensorboard_writer)


@dataclass
class TrainResult:
    model: torch.nn.Module
    metrics: list[dict]
    summary: dict
    out: Path


class Run:
    """Everything a trainer writes. Create it only after the config and --init have been checked,
    so that a bad flag never leaves a half-made run folder behind."""

    def __init__(self, algo: str, cfg: RunConfig, tokenizer, task, rank: int = 0, world: int = 1,
                 *, show=("eval_accuracy",), plot=None, since: float | None = None,
                 log_eval_seconds: bool = False):
        """rank, world: this process and the number of processes (torchrun). show: the logged
        fields the progress bar shows; plot: the fields curves.png draws (default: show).
        since: time.perf_counter() at which the run's clock starts (default: now); a trainer that
        builds its data before it may create the Run (DPO's first pairs) passes when it began.
        log_eval_seconds: rows with an evaluation also log the time evaluation has taken so far."""
        self.algo = algo
        self.show = show
        self.plot = plot or show
        self.rank = rank
        self.world = world
        self.row: dict = {}                # what `add` collected for the next `step`
        self.meter = None                  # tokens/s and MFU, once `step` is given tokens
        self.laps: list[float] = []        # seconds per step, where the trainer times its steps
        self.cfg = cfg
        self.tok = tokenizer
        self.task = task
        self.out = Path(cfg.out or f"runs/{algo}")
        self.device = pick_device(cfg.device)
        self.is_main = rank == 0           # with several processes only rank 0 writes
        self.start_step = 0
        self.metrics: list[dict] = []
        self.resume_state = None
        if cfg.resume:
            ckpt = read_checkpoint(self.out / "model.pt")
            if ckpt.get("algo") != algo:
                raise ConfigError(f"{self.out}/model.pt comes from `{ckpt.get('algo')}`, "
                                  f"not `{algo}`")
            self.resume_state = ckpt
            self.start_step = int(ckpt.get("step", 0))
            if (self.out / "metrics.jsonl").exists():
                self.metrics = [m for m in read_metrics(self.out) if m["step"] <= self.start_step]
        elif (self.is_main and holds_run(self.out)
              and not (cfg.overwrite or os.environ.get("MINIRL_OVERWRITE") == "1")):
            raise ConfigError(f"{self.out} already holds a run; pass --overwrite to replace it, "
                              "--resume to continue it, or --out to choose another folder")
        self.t0 = ((time.perf_counter() if since is None else since)
                   - (self.metrics[-1].get("seconds", 0.0) if self.metrics else 0.0))
        self.tensorboard = None
        self.watch = None
        # time spent in held-out evaluation so far (inside `seconds`)
        self.eval_seconds = 0.0
        self.log_eval_seconds = log_eval_seconds
        if not self.is_main:
            return
        # missing package: fail before writing
        writer = tensorboard_writer() if cfg.tensorboard else None
        if not cfg.resume:                 # nothing of an old run may be mistaken for this one's
            for name in RUN_FILES:
                (self.out / name).unlink(missing_ok=True)
        self.out.mkdir(parents=True, exist_ok=True)
        config = {"algo": algo, **cfg.to_dict(), "run": run_metadata(self.out)}
        (self.out / "config.json").write_text(json.dumps(config, indent=2))
        with open(self.out / "metrics.jsonl", "w") as f:
            f.writelines(json.dumps(m) + "\n" for m in self.metrics)
        if writer is not None:
            self.tensorboard = writer(str(self.out / "tensorboard"))

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def log(self, step: int, **metrics) -> dict:
        row = {"step": step,
               **{k: (round(float(v), 6)
                      if isinstance(v, (float, int, torch.Tensor, np.floating)) else v)
                  for k, v in metrics.items()}}
        self.metrics.append(row)
        if not self.is_main:
            return row
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tensorboard is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tensorboard.add_scalar(f"{self.algo}/{k}", v, step)
        return row

    # --- the skeleton every trainer shares: keep, steps, step, finish -------------------------
    def keep(self, model, optimizer=None, rng: random.Random | None = None, evaluate=None,
             **others):
        """Say what the run's checkpoints hold: the model, its optimizer and RNG, and other modules
        or optimizers by name (a critic and its optimizer, a frozen reference). Under --resume all
        of it is restored now. evaluate() -> the held-out metrics `step` logs every eval_every steps
        (default: {"eval_accuracy": greedy exact match})."""
        self.model = model
        self.optimizer = optimizer
        self.rng = rng
        self.others = others
        self.evaluate = evaluate or (
            lambda: {"eval_accuracy": evaluate_greedy(model, self.tok, self.task)[0]})
        s = self.resume_state
        if s is None:
            return
        model.load_state_dict(s["state_dict"])
        if optimizer is not None and "optimizer" in s:
            optimizer.load_state_dict(s["optimizer"])
        if rng is not None and "rng" in s:
            rng.setstate(s["rng"])
        for name, thing in others.items():
            if name in s:
                thing.load_state_dict(s[name])
        torch.set_rng_state(s["torch_rng"])
        if "cuda_rng" in s and self.device.type == "cuda":
            torch.cuda.set_rng_state(s["cuda_rng"], self.device)
        restore_rank_rng(s, self.rank)     # under torchrun: each process its own stream back

    def resumed(self, name: str, default):
        """A value saved with the checkpoint (`step`'s state=), or `default` in a fresh run."""
        return (self.resume_state or {}).get(name, default)

    def steps(self):
        """The training steps (0-based, from the checkpoint's step under --resume), with a
        progress bar."""
        # in Jupyter without ipywidgets tqdm falls back to text bars, and would say so in the cell
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found")
            from tqdm.auto import tqdm
        self.bar = tqdm(range(self.start_step, self.cfg.steps), initial=self.start_step,
                        total=self.cfg.steps, desc=self.algo,
                        disable=not (self.cfg.progress and self.is_main), dynamic_ncols=True,
                        leave=True)
        for step in self.bar:
            self.step_began = time.perf_counter()
            yield step
        self.bar.close()

    def lap(self) -> float:
        """Seconds since this step began (for a trainer's own step timing); finish reports their
        median as median_step_seconds."""
        seconds = time.perf_counter() - self.step_began
        self.laps.append(seconds)
        return seconds

    def add(self, **metrics):
        """Fields for the row the next `step` logs (trainers call it every --log_every steps)."""
        self.row.update(metrics)

    def step(self, step: int, row: dict | None = None, rewards=None, tokens=None, state=None,
             **first) -> dict:
        """After update number `step` (1-based): evaluate when due (every eval_every steps and the
        last), log what `add` collected (and `row`) if anything, with the optimizer's learning rate
        (`first` fields go before the wall time), show the `show` fields on the progress bar, and
        save a checkpoint (with `state`) when --save_every asks.
        rewards: this step's batch of rewards; rows then also count the sampled responses so far
        ("rollouts"), and a warning says when the rewards have all been equal for
        --warn_constant_steps steps in a row. tokens: this step's (B, T) model inputs; rows with
        added fields then also hold tokens/s and (on a GPU) MFU (meters.TokenMeter)."""
        row = {**self.row, **(row or {})}
        self.row = {}
        if rewards is not None:
            if self.watch is None:
                self.watch = ConstantRewardWatch(self.cfg.warn_constant_steps)
            self.watch.update(rewards)
            first = {"rollouts": step * len(rewards), **first}
        if row and self.optimizer is not None:      # a log row: the learning rate in use
            row["lr"] = self.optimizer.param_groups[0]["lr"]
        if tokens is not None:
            if self.meter is None:
                self.meter = TokenMeter(self.model, self, self.tok.pad_id, self.world)
            self.meter.add(tokens)
            if row:
                row.update(self.meter.rates())
        if step % self.cfg.eval_every == 0 or step == self.cfg.steps:
            t = time.perf_counter()
            row.update(self.evaluate())
            self.model.train()
            self.eval_seconds += time.perf_counter() - t
        if row:
            if self.log_eval_seconds and "eval_accuracy" in row:
                row["eval_seconds"] = self.eval_seconds  # evaluation so far, inside "seconds"
            row = self.log(step, **first, seconds=self.seconds, **row)
            self.bar.set_postfix({k: row[k] for k in self.show if k in row})
        if self.cfg.save_every and step % self.cfg.save_every == 0 and step < self.cfg.steps:
            self.save(step, state)
        return row

    def save(self, step: int, state=None):
        """Write model.pt: what `keep` named, the RNG states, and `state`: plain values, or a
        function that returns them (called in every process: under torchrun it may gather from all
        of them)."""
        state = state() if callable(state) else state
        rank_rng = rank_rng_states(self.world)          # a collective: every process calls it
        if not self.is_main:
            return
        ckpt = {"algo": self.algo, "step": step, "config": self.cfg.to_dict(), **(state or {})}
        if rank_rng is not None:
            ckpt["rank_rng"] = rank_rng
        if self.optimizer is not None:
            ckpt["optimizer"] = self.optimizer.state_dict()
        if self.rng is not None:
            ckpt["rng"] = self.rng.getstate()
        ckpt.update({name: thing.state_dict() for name, thing in self.others.items()})
        ckpt["torch_rng"] = torch.get_rng_state()
        if self.device.type == "cuda":  # sampling on a GPU draws from its own generator
            ckpt["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(self.out / "model.pt", self.model, self.tok, self.task, **ckpt)

    def finish(self, model, summary: dict | None = None, state=None, final_eval: bool = True,
               completions_per_step: int = 0) -> TrainResult:
        """The policy's final greedy accuracy and 8 samples (final_eval), then the final
        checkpoint, summary.json (with `summary`'s fields) and curves.png. With `lap` timings:
        their median, and completions_per_step / median as completions_per_s."""
        final = {}
        if self.laps:
            median = sorted(self.laps)[len(self.laps) // 2]
            summary = {**(summary or {}), "median_step_seconds": round(median, 4)}
            if completions_per_step:
                summary["completions_per_s"] = round(completions_per_step / median, 1)
        if final_eval:
            acc, samples = evaluate_greedy(model, self.tok, self.task, n_samples=8)
            final = {"eval_accuracy": acc, "samples": samples}
        self.save(self.cfg.steps, state)
        summary = {"algo": self.algo, "task": self.task.name, "seed": self.cfg.seed,
                   "steps": self.cfg.steps, "wall_seconds": round(self.seconds, 2),
                   "device": str(self.device),
                   "params": sum(p.numel() for p in model.parameters()), **final,
                   **(summary or {}), **(self.meter.summary(self.metrics) if self.meter else {})}
        if self.device.type == "cuda":
            summary["max_memory_allocated_mb"] = round(
                torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
            summary["gpu"] = torch.cuda.get_device_name(self.device)
        if not self.is_main:
            return TrainResult(model, self.metrics, summary, self.out)
        if self.tensorboard is not None:
            self.tensorboard.close()
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        if self.cfg.plot:
            from .plotting import plot_metrics
            plot_metrics(self.metrics, self.out / "curves.png", keys=self.plot,
                         title=f"{self.algo} on {self.task.name}")
        return TrainResult(model, self.metrics, summary, self.out)
