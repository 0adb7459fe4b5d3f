"""Configs: every flag of every command is a field of a dataclass, declared once with its help
text and its valid range. The CLI builds its flags from these fields, and `check_fields` checks
every value against its declaration, so bad input is rejected by one mechanism, before anything
is written:

    steps: int = config_field(300, "policy iterations", at_least=1)
    clip_eps: float = config_field(0.2, "ratio clip", above=0, below=1)
    loss_type: str = config_field("grpo", "grpo | dapo | dr_grpo",
                                  choices=("grpo", "dapo", "dr_grpo"))

Numbers must be finite; a field without an upper bound may not exceed MAX_NUMBER. A config's own
`validate` adds only the checks that involve several fields. More: docs/conventions.md (Configs
and flags); the presets: chapters/09-gpu-and-scale.md, 9.1.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from .tasks import TASK_NAMES, make_task

MAX_NUMBER = 10 ** 7         # the default upper bound of a numeric flag: steps, batch sizes, ...


class ConfigError(ValueError):
    """A user-facing problem with flags, files or checkpoints; the CLI prints it on one line."""


def config_field(default, help: str, *, at_least=None, above=None, at_most=None, below=None,
                 choices=None):
    """A config field: its default, its --help text and its valid values (bounds or choices).
    A numeric field with no lower bound must be >= 0."""
    meta = {"help": help, "at_least": at_least, "above": above, "at_most": at_most, "below": below,
            "choices": choices}
    return field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


def describe_range(meta: dict, implicit_max: bool = True) -> str:
    """'> 0 and <= 1', '>= 1 and <= 1e+07', ... the valid range a field declares (for errors and
    --help; implicit_max=False leaves out the MAX_NUMBER that every field without a bound has)."""
    parts = []
    if "above" in meta:
        parts.append(f"> {meta['above']:g}")
    elif "at_least" in meta:
        parts.append(f">= {meta['at_least']:g}")
    else:
        parts.append(">= 0")
    if "below" in meta:
        parts.append(f"< {meta['below']:g}")
    elif "at_most" in meta or implicit_max:
        parts.append(f"<= {meta.get('at_most', MAX_NUMBER):g}")
    return " and ".join(parts)


def check_value(name: str, value, kind, meta: dict):
    """Raise ConfigError naming the flag, the bad value and the valid values."""
    flag = f"--{name}"
    if "choices" in meta:
        if value not in meta["choices"]:
            raise ConfigError(f"{flag} must be one of {', '.join(map(str, meta['choices']))}, "
                              f"got {value!r}")
        return
    if kind not in (int, float):
        return
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (kind is int and value != int(value))):
        raise ConfigError(f"{flag} must be {'an integer' if kind is int else 'a number'}, "
                          f"got {value!r}")
    low_ok = (value > meta["above"] if "above" in meta else value >= meta.get("at_least", 0))
    high_ok = (value < meta["below"] if "below" in meta
               else value <= meta.get("at_most", MAX_NUMBER))
    if not math.isfinite(value) or not (low_ok and high_ok):
        raise ConfigError(f"{flag} must be {describe_range(meta)}, got {value}")


def check_fields(cfg):
    """Check every field of a config dataclass against its declaration."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        check_value(f.name, getattr(cfg, f.name), hints[f.name], dict(f.metadata))


@dataclass
class TaskConfig:
    """The task (the environment): which arithmetic, written how, rewarded how."""
    task: str = config_field("add2", f"task name: {', '.join(TASK_NAMES)}",
                             choices=tuple(TASK_NAMES))
    reverse: bool = config_field(True, "write answers least-significant digit first (much easier "
                                       "to learn)")
    pad: bool = config_field(True, "zero-pad operands to a fixed width, e.g. 07+42=")
    dense_reward: bool = config_field(False, "RL reward: partial credit per right digit instead of "
                                             "exact match")


@dataclass
class OptimConfig:
    """The optimizer (AdamW) and its learning-rate schedule (optim.py)."""
    steps: int = config_field(1000, "optimizer steps (RL: policy iterations)", at_least=1)
    batch_size: int = config_field(64, "per step: demonstrations (SFT), preference pairs (DPO, "
                                       "reward model) or prompts (RL)", at_least=1)
    lr: float = config_field(1e-3, "peak AdamW learning rate (of the policy)", above=0)
    weight_decay: float = config_field(0.0, "AdamW weight decay (0 = none)")
    grad_clip: float = config_field(1.0, "clip the global gradient norm to this (0 = off)")
    lr_schedule: str = config_field("cosine", "cosine (decay to 10% of --lr) | constant",
                                    choices=("cosine", "constant"))
    decay_steps: int = config_field(0, "cosine: reach the 10% floor at this step and stay there "
                                       "for the rest (0, or more than --steps: at the last step)")
    warmup: int = config_field(0, "steps of linear learning-rate warmup before the schedule "
                                  "(0 = none)")


@dataclass
class IOConfig:
    """The run folder, what is logged and saved, the seed and the device (runs.py, device.py)."""
    seed: int = config_field(0, "random seed (same seed + CPU + thread count = same metrics)",
                             at_most=2 ** 32 - 1)
    threads: int = config_field(0, "CPU threads for PyTorch in this process (0 = PyTorch's "
                                   "default); CPU results depend on it, so the weak start pins 2")
    device: str = config_field("auto", "auto | cpu | cuda (auto picks CUDA when available)")
    out: str = config_field("", "run folder (default runs/<command>)")
    init: str = config_field("", "start from this checkpoint: a model.pt, or a shipped start's "
                                 "name (weak = the add2 weak start; `minirl starts` lists them)")
    resume: bool = config_field(False, "continue the run in --out from its model.pt")
    overwrite: bool = config_field(False, "replace an existing finished run in --out (otherwise "
                                          "refused)")
    save_every: int = config_field(0, "also save a checkpoint every N steps, for --resume after an "
                                      "interruption (0 = only at the end)")
    tensorboard: bool = config_field(False, "also log the metrics for TensorBoard "
                                            "(in --out/tensorboard)")
    plot: bool = config_field(True, "draw the learning curves (--out/curves.png) when the run ends")
    eval_every: int = config_field(100, "evaluate held-out accuracy every N steps", at_least=1)
    log_every: int = config_field(10, "write a metrics line every N steps", at_least=1)
    progress: bool = config_field(True, "show a progress bar")
    dtype: str = config_field("auto", "auto (bf16 autocast on a CUDA GPU with native bf16, compute "
                                      "capability >= 8.0; else float32) | float32 | bfloat16",
                              choices=("auto", "float32", "bfloat16"))
    compile: bool = config_field(False, "torch.compile the forward without a KV cache (training, "
                                        "scoring); decode steps stay eager (GPU; slower start, "
                                        "faster steps)")


@dataclass
class ShapeConfig:
    """The shape of a new GPT (a run from --init keeps its checkpoint's shape)."""
    n_layer: int = config_field(4, "transformer blocks (new models only)", at_least=1)
    n_head: int = config_field(4, "attention heads (new models only)", at_least=1)
    n_embd: int = config_field(128, "model width (new models only)", at_least=1)
    block_size: int = config_field(32, "maximum sequence length (new models only)", at_least=2)


@dataclass
class RunConfig(ShapeConfig, IOConfig, OptimConfig, TaskConfig):
    """Fields every command shares, in four groups (their flags in this order). An algorithm's
    config subclasses this, declares only its own fields, and sets its own defaults for shared
    fields in one line with @defaults."""

    def validate(self):
        """Raise ConfigError naming the bad value and the fix. Subclasses extend this with the
        checks that involve several fields."""
        check_fields(self)
        if self.device not in ("auto", "cpu", "cuda") and not (
                self.device.startswith("cuda:") and self.device[5:].isdigit()):
            raise ConfigError(f"--device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"--n_embd {self.n_embd} must be divisible by --n_head {self.n_head}")
        need = self.make_task().max_seq_len()
        if not self.init and self.block_size < need:
            raise ConfigError(f"--block_size {self.block_size} is too small for task {self.task}, "
                              f"whose longest sequence has {need} tokens; use --block_size {need} "
                              f"or more")
        if self.resume and not self.out:
            raise ConfigError("--resume needs --out pointing at the run to continue")
        if self.resume and self.overwrite:
            raise ConfigError("--resume continues the run in --out and --overwrite replaces it: "
                              "pick one")

    def make_task(self):
        return make_task(self.task, reverse=self.reverse, pad=self.pad, dense=self.dense_reward)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


GROUPS = {"task": TaskConfig, "optimizer and schedule": OptimConfig,
          "run folder, logging and device": IOConfig, "model shape": ShapeConfig}


def defaults(**values):
    """Decorate an algorithm's config: a dataclass whose inherited fields take these defaults,

        @defaults(steps=300, batch_size=32, lr=2e-4)
        class ReinforceConfig(RunConfig): ...

    (help text and valid range stay those of the shared field)."""
    def make(cls):
        inherited = {f.name: f for f in dataclasses.fields(cls.__mro__[1])}
        for name, value in values.items():
            if name not in inherited:
                raise TypeError(f"{cls.__name__}: @defaults names {name!r}, which "
                                f"{cls.__mro__[1].__name__} does not have")
            f = inherited[name]
            setattr(cls, name, field(default=value, metadata=f.metadata))
            cls.__annotations__[name] = f.type
        return dataclass(cls)
    return make


@defaults(steps=300, batch_size=32, lr=2e-4, eval_every=20)
class PGConfig(RunConfig):
    """How the on-policy gradient trainers sample and discount (REINFORCE, A2C)."""
    samples_per_prompt: int = config_field(8, "responses sampled per prompt (batch = batch_size x "
                                              "this)", at_least=1)
    temperature: float = config_field(1.0, "sampling temperature (1 = on-policy; the gradient "
                                           "assumes it)", above=0)
    gamma: float = config_field(1.0, "discount factor in [0, 1] (1: every token of a response "
                                     "shares its reward)", at_most=1)
    warn_constant_steps: int = config_field(20, "warn when every reward in the batch was equal "
                                                "this many steps in a row", at_least=1)


# Named flag sets for bigger runs: `python -m minirl sft --preset gpu` (explicit flags still win).
# "gpu": a ~25M-parameter GPT (8 layers x 512) on 3-digit addition, sized for one GPU. SFT takes
# 1,024 sequences (about 13,000 tokens) per step: enough arithmetic per kernel launch for a GPU to
# spend its time multiplying, not waiting for Python (chapter 9). benchmarks/gpu_presets.py runs
# them all.
PRESETS = {
    "gpu": {
        "*": dict(task="add3", dtype="auto", eval_every=100, log_every=20),
        "sft": dict(n_layer=8, n_head=8, n_embd=512, block_size=32, batch_size=1024, steps=2000,
                    lr=1e-3, warmup=100),
        "grpo": dict(batch_size=128, steps=800, lr=1e-4, eval_every=50),
        "ppo": dict(batch_size=128, steps=400, eval_every=20),
    },
}


# The same recipes at toy size, for the CPU smoke runs of every GPU code path (the tests, notebook
# 09 in smoke mode, benchmarks/gpu_presets.py --smoke): the preset's task and flags, a tiny model.
TOY_SIZE = dict(n_layer=1, n_head=2, n_embd=32)


def preset_defaults(preset: str, command: str, fields) -> dict:
    """The flag defaults a preset sets for one command (only flags that command has)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown --preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset].get("*", {}), **PRESETS[preset].get(command, {})}
    return {k: v for k, v in values.items() if k in fields}


def preset_config(config_cls, preset: str, command: str, **overrides):
    """A config built from a preset, any field overridden, as `--preset` does on the command line:
    preset_config(SFTConfig, "gpu", "sft", steps=600). (SFTConfig(**preset_values, steps=600)
    raises TypeError: the preset already holds steps.)"""
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(f"{config_cls.__name__} has no field {', '.join(sorted(unknown))}")
    return config_cls(**{**preset_defaults(preset, command, names), **overrides})
