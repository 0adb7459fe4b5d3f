"""Run plumbing shared by every trainer: configs, seeding, devices, run folders, checkpoints.

A run writes, in its --out folder:
    config.json     the full config (every flag) that produced it
    metrics.jsonl   one JSON object per logged step
    model.pt        a checkpoint: weights + model config + tokenizer + task (+ optimizer, RNG for --resume)
    summary.json    algo, task, seed, steps, wall_seconds, eval_accuracy, ...
    curves.png      learning curves
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .model import GPT, GPTConfig, ScalarHeadGPT
from .tasks import TASK_NAMES, make_task
from .tokenizer import CharTokenizer


class ConfigError(ValueError):
    """A user-facing problem with flags, files or checkpoints; the CLI prints it on one line."""


def opt(default, help: str, **kw):
    """A config field with its --help text (the CLI builds its flags from these)."""
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class RunConfig:
    """Fields every command shares. Algorithm configs subclass this and add their own."""
    task: str = opt("add2", f"task name: {', '.join(TASK_NAMES)}")
    reverse: bool = opt(True, "write answers least-significant digit first (much easier to learn)")
    pad: bool = opt(True, "zero-pad operands to a fixed width, e.g. 07+42=")
    dense_reward: bool = opt(False, "RL reward: partial credit per right digit instead of exact match")
    steps: int = opt(1000, "optimizer steps (RL: policy iterations)")
    batch_size: int = opt(64, "sequences (SFT) or prompts (RL) per step")
    lr: float = opt(1e-3, "AdamW learning rate")
    weight_decay: float = opt(0.0, "AdamW weight decay")
    grad_clip: float = opt(1.0, "clip the global gradient norm to this (0 = off)")
    lr_schedule: str = opt("cosine", "cosine (decay to 10% of --lr) | constant")
    warmup: int = opt(0, "steps of linear learning-rate warmup before the schedule (0 = none)")
    seed: int = opt(0, "random seed (same seed + CPU = same metrics)")
    device: str = opt("auto", "auto | cpu | cuda (auto picks CUDA when available)")
    out: str = opt("", "run folder (default runs/<command>)")
    init: str = opt("", "start from this checkpoint (e.g. runs/sft/model.pt)")
    resume: bool = opt(False, "continue the run in --out from its model.pt")
    eval_every: int = opt(100, "evaluate held-out accuracy every N steps")
    log_every: int = opt(10, "write a metrics line every N steps")
    progress: bool = opt(True, "show a progress bar")
    n_layer: int = opt(4, "transformer blocks (new models only)")
    n_head: int = opt(4, "attention heads (new models only)")
    n_embd: int = opt(128, "model width (new models only)")
    block_size: int = opt(32, "maximum sequence length (new models only)")
    dtype: str = opt("auto", "auto (bf16 autocast on a CUDA GPU that supports it, else float32) | float32 | bfloat16")
    compile: bool = opt(False, "torch.compile the policy's forward (GPU; slower start, faster steps)")

    def validate(self):
        """Raise ConfigError naming the bad value and the fix. Subclasses extend this."""
        if self.task not in TASK_NAMES:
            raise ConfigError(f"unknown task {self.task!r}; choose one of {', '.join(TASK_NAMES)}")
        for name in ("steps", "batch_size", "eval_every", "log_every", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name} must be a positive integer, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be >= 0 steps, got {self.warmup}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("--weight_decay and --grad_clip must be >= 0 (0 turns clipping off)")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ConfigError(f"--dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ConfigError(f"--lr_schedule must be cosine or constant, got {self.lr_schedule!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"--n_embd {self.n_embd} must be divisible by --n_head {self.n_head}")
        need = self.make_task().max_seq_len()
        if not self.init and self.block_size < need:
            raise ConfigError(f"--block_size {self.block_size} is too small for task {self.task}, whose "
                              f"longest sequence has {need} tokens; use --block_size {need} or more")
        if self.resume and not self.out:
            raise ConfigError("--resume needs --out pointing at the run to continue")

    def make_task(self):
        return make_task(self.task, reverse=self.reverse, pad=self.pad, dense=self.dense_reward)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Named flag sets for bigger runs: `python -m minirl sft --preset gpu` (explicit flags still win).
# "gpu": a ~25M-parameter GPT (8 layers x 512) on 3-digit addition, sized for one GPU. SFT takes
# 1,024 sequences (about 13,000 tokens) per step: enough arithmetic per kernel launch for a GPU to
# spend its time multiplying, not waiting for Python (chapter 9). benchmarks/gpu_presets.py runs them all.
PRESETS = {
    "gpu": {
        "*": dict(task="add3", dtype="auto", eval_every=100, log_every=20),
        "sft": dict(n_layer=8, n_head=8, n_embd=512, block_size=32, batch_size=1024, steps=2000, lr=1e-3,
                    warmup=100),
        "grpo": dict(batch_size=128, steps=800, lr=1e-4, eval_every=50),
        "ppo": dict(batch_size=128, steps=400, eval_every=20),
    },
}


def preset_defaults(preset: str, command: str, fields) -> dict:
    """The flag defaults a preset sets for one command (only flags that command has)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown --preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset].get("*", {}), **PRESETS[preset].get(command, {})}
    return {k: v for k, v in values.items() if k in fields}


# --- seeding and devices --------------------------------------------------------------------
def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_flush_denormal(True)   # tiny weights drifting into denormals slow CPU steps ~1.5x


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda, but PyTorch sees no CUDA GPU; use --device cpu, or install "
                              "the CUDA build of torch (README, 'Installing for a GPU')")
        torch.backends.cuda.matmul.allow_tf32 = True      # TF32 tensor cores for any float32 matmul
        torch.backends.cudnn.allow_tf32 = True
        if name == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per process
            name = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return torch.device(name)


def amp_dtype(cfg_dtype: str, device: torch.device):
    """The autocast dtype for --dtype on this device (None = plain float32)."""
    if cfg_dtype == "float32" or (cfg_dtype == "auto" and device.type != "cuda"):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        if cfg_dtype == "auto":
            return None
        raise ConfigError(f"--dtype bfloat16, but {torch.cuda.get_device_name(device)} has no bf16 support; "
                          "use --dtype float32")
    return torch.bfloat16


def configure_model(model, cfg: "RunConfig", device: torch.device):
    """Apply --dtype (autocast) and --compile to a model about to be trained on `device`."""
    model.amp_dtype = amp_dtype(cfg.dtype, device)
    if cfg.compile:
        model.forward = torch.compile(model.forward, dynamic=True)
    return model


# --- several processes (torchrun) -----------------------------------------------------------
def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world_size). Under `torchrun --nproc_per_node N`, joins the process group (NCCL on
    GPUs, gloo on CPUs); a plain `python -m minirl` run is rank 0 of 1."""
    import torch.distributed as dist
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)          # before NCCL starts: one GPU per process
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank() if world > 1 else 0), world


def data_parallel(model, world: int):
    """The model wrapped in DistributedDataParallel when there are several processes (it all-reduces
    the gradients during backward), else the model itself. On a GPU, DDP uses the model's device."""
    if world == 1:
        return model
    device = next(model.parameters()).device
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def all_reduce_sum(x: torch.Tensor, world: int) -> torch.Tensor:
    """Sum of x over all processes (x itself when there is one)."""
    if world > 1:
        import torch.distributed as dist
        x = x.clone()
        dist.all_reduce(x)
    return x


def shard(batch: list, rank: int, world: int) -> list:
    """This process's contiguous share of a global batch (every process builds the same one)."""
    if len(batch) % world:
        raise ConfigError(f"world size {world} does not divide the batch of {len(batch)}; "
                          f"use a --batch_size that is a multiple of {world}")
    n = len(batch) // world
    return batch[rank * n:(rank + 1) * n]


# --- throughput -------------------------------------------------------------------------------
# Peak dense bf16 tensor-core FLOP/s from the vendors' datasheets (SXM parts unless the name says PCIe).
# The first key found in the GPU's name wins, so a longer name comes before its prefix.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12,
                   "L4": 121e12, "A10G": 70e12, "A10": 125e12, "4090": 165e12, "3090": 71e12}


def peak_flops(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of this GPU (MINIRL_PEAK_FLOPS overrides), None on a CPU or an unknown GPU."""
    if os.environ.get("MINIRL_PEAK_FLOPS"):
        return float(os.environ["MINIRL_PEAK_FLOPS"])
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def train_flops_per_token(model, seq_len: int) -> float:
    """Forward + backward FLOPs per token: 6 N + 12 L C T (Kaplan et al. 2020; PaLM appendix B),
    N = parameters without the position table, L layers, C width, T the sequence length."""
    c = model.config
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return 6 * n + 12 * c.n_layer * c.n_embd * seq_len


# --- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(path, model, tokenizer, task, **extra):
    """Weights + everything needed to rebuild the model and check it matches the task."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": "minirl-1", "kind": type(model).__name__,
                "model_config": model.config.to_dict(), "tokenizer": tokenizer.to_dict(),
                "task": {"name": task.name, "reverse": task.reverse, "pad": task.pad},
                "state_dict": model.state_dict(), **extra}, tmp)
    os.replace(tmp, path)            # never leave a half-written model.pt


def read_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} not found; train one first, e.g. "
                          f"`python -m minirl sft --out {path.parent}`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ConfigError(f"cannot read checkpoint {path} ({type(e).__name__}); is it a minirl model.pt?") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != "minirl-1":
        raise ConfigError(f"{path} is not a minirl checkpoint; pass the model.pt a minirl run wrote")
    return ckpt


def load_model(path, tokenizer=None, task=None, device="cpu", kind: str | None = None):
    """Rebuild the model a checkpoint holds. Checks vocabulary (and block size against the task)."""
    ckpt = read_checkpoint(path)
    tok = CharTokenizer(**{k: v for k, v in ckpt["tokenizer"].items() if k != "kind"})
    if tokenizer is not None and tok.to_dict() != tokenizer.to_dict():
        raise ConfigError(f"checkpoint {path} was trained with another vocabulary "
                          f"({ckpt['tokenizer']}) than this run's ({tokenizer.to_dict()}); "
                          "use a checkpoint trained with the same tokenizer")
    config = GPTConfig(**ckpt["model_config"])
    if task is not None and config.block_size < task.max_seq_len():
        raise ConfigError(f"checkpoint {path} has block_size {config.block_size}, but task {task.name} "
                          f"needs {task.max_seq_len()}; train a model with a larger --block_size")
    if task is not None and (ckpt["task"]["reverse"], ckpt["task"]["pad"]) != (task.reverse, task.pad):
        warnings.warn(f"checkpoint {path} was trained with reverse={ckpt['task']['reverse']} "
                      f"pad={ckpt['task']['pad']}, this run uses reverse={task.reverse} pad={task.pad}")
    kind = kind or ckpt["kind"]
    model = (ScalarHeadGPT if kind == "ScalarHeadGPT" else GPT)(config)
    try:
        model.load_state_dict(ckpt["state_dict"], strict=(kind == ckpt["kind"]))
    except RuntimeError as e:
        raise ConfigError(f"checkpoint {path} does not fit a {kind} with config {config}: {e}") from e
    return model.to(device), ckpt


def read_metrics(folder) -> list[dict]:
    """The rows of a run folder's metrics.jsonl, in order."""
    return [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines() if line]


# --- a run ----------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: torch.nn.Module
    metrics: list[dict]
    summary: dict
    out: Path


class Run:
    """Everything a trainer writes. Create it only after the config and --init have been checked,
    so that a bad flag never leaves a half-made run folder behind."""

    def __init__(self, algo: str, cfg: RunConfig, tokenizer, task, rank: int = 0):
        self.algo, self.cfg, self.tok, self.task = algo, cfg, tokenizer, task
        self.out = Path(cfg.out or f"runs/{algo}")
        self.device = pick_device(cfg.device)
        self.is_main = rank == 0           # with several processes only rank 0 writes
        self.start_step = 0
        self.metrics: list[dict] = []
        self.resume_state = None
        if cfg.resume:
            ckpt = read_checkpoint(self.out / "model.pt")
            if ckpt.get("algo") != algo:
                raise ConfigError(f"{self.out}/model.pt comes from `{ckpt.get('algo')}`, not `{algo}`")
            self.resume_state = ckpt
            self.start_step = int(ckpt.get("step", 0))
            if (self.out / "metrics.jsonl").exists():
                self.metrics = [m for m in read_metrics(self.out) if m["step"] <= self.start_step]
        self.t0 = time.perf_counter() - (self.metrics[-1].get("seconds", 0.0) if self.metrics else 0.0)
        if not self.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps({"algo": algo, **cfg.to_dict()}, indent=2))
        with open(self.out / "metrics.jsonl", "w") as f:
            f.writelines(json.dumps(m) + "\n" for m in self.metrics)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def log(self, step: int, **metrics) -> dict:
        row = {"step": step, **{k: (round(float(v), 6) if isinstance(v, (float, int, torch.Tensor, np.floating))
                                    else v) for k, v in metrics.items()}}
        self.metrics.append(row)
        if not self.is_main:
            return row
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        return row

    def progress(self):
        from tqdm.auto import tqdm
        return tqdm(range(self.start_step, self.cfg.steps), initial=self.start_step, total=self.cfg.steps,
                    desc=self.algo, disable=not (self.cfg.progress and self.is_main), dynamic_ncols=True,
                    leave=True)

    def save(self, model, step: int, optimizer=None, rng: random.Random | None = None, **extra):
        if not self.is_main:
            return
        state = {"algo": self.algo, "step": step, "config": self.cfg.to_dict(), **extra}
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        if rng is not None:
            state["rng"] = rng.getstate()
        state["torch_rng"] = torch.get_rng_state()
        if self.device.type == "cuda":                   # sampling on a GPU draws from its own generator
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(self.out / "model.pt", model, self.tok, self.task, **state)

    def restore(self, model, optimizer=None, rng: random.Random | None = None):
        """Apply a --resume checkpoint's weights, optimizer and RNG states."""
        if self.resume_state is None:
            return
        s = self.resume_state
        model.load_state_dict(s["state_dict"])
        if optimizer is not None and "optimizer" in s:
            optimizer.load_state_dict(s["optimizer"])
        if rng is not None and "rng" in s:
            rng.setstate(s["rng"])
        if "torch_rng" in s:
            torch.set_rng_state(s["torch_rng"])
        if "cuda_rng" in s and self.device.type == "cuda":
            torch.cuda.set_rng_state(s["cuda_rng"], self.device)

    def finish(self, model, summary: dict, plot_keys=("eval_accuracy", "loss")) -> TrainResult:
        summary = {"algo": self.algo, "task": self.task.name, "seed": self.cfg.seed, "steps": self.cfg.steps,
                   "wall_seconds": round(self.seconds, 2), "device": str(self.device),
                   "params": sum(p.numel() for p in model.parameters()), **summary}
        if self.device.type == "cuda":
            summary["max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
            summary["gpu"] = torch.cuda.get_device_name(self.device)
        if not self.is_main:
            return TrainResult(model, self.metrics, summary, self.out)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        from .plotting import plot_metrics
        plot_metrics(self.metrics, self.out / "curves.png", keys=plot_keys, title=f"{self.algo} on {self.task.name}")
        return TrainResult(model, self.metrics, summary, self.out)


def make_optimizer(model, cfg: RunConfig):
    on_cuda = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                             betas=(0.9, 0.99), fused=on_cuda)       # one fused kernel per step on a GPU


def set_lr(optimizer, cfg: RunConfig, step: int) -> float:
    """Learning rate at `step`: constant, or cosine from lr down to 0.1 lr at the last step; during
    the first cfg.warmup steps it is scaled by (step + 1) / warmup (Adam's first steps are large)."""
    lr = cfg.lr
    if cfg.lr_schedule == "cosine":
        frac = min(1.0, step / max(1, cfg.steps - 1))
        lr = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
    lr = lr * min(1.0, (step + 1) / max(1, cfg.warmup))
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def clip_and_step(model, optimizer, grad_clip: float) -> torch.Tensor:
    """Clip the gradient norm (if grad_clip > 0), step, zero; return the pre-clip norm.

    The norm comes back as a 0-dim tensor, not a float: reading it (`float(norm)`, `run.log`) makes
    the CPU wait for the GPU, so trainers read it only on the steps they log."""
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else float("inf"))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return norm.detach()


def new_policy(cfg: RunConfig, tokenizer, task, device) -> GPT:
    """The policy a run starts from: --init's weights, or a fresh GPT of the configured size."""
    if cfg.init:
        model, _ = load_model(cfg.init, tokenizer, task, device, kind="GPT")
    else:
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=cfg.block_size, n_layer=cfg.n_layer,
                              n_head=cfg.n_head, n_embd=cfg.n_embd)).to(device)
    return configure_model(model, cfg, device)
