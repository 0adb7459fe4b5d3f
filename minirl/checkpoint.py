"""Checkpoints: a model.pt holds the weights and what is needed to rebuild the model and check it
fits the task (model config, tokenizer, task format), plus, when a run saves it, the optimizer and
RNG states for --resume. Shipped starts (minirl/checkpoints, starts.py) are read by name.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from . import starts
from .config import ConfigError
from .model import GPT, GPTConfig, ScalarHeadGPT
from .tokenizer import CharTokenizer


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
    """The checkpoint at `path`, or of the shipped start it names (e.g. "weak": starts.py)."""
    path = starts.resolve(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} not found; train one first, e.g. "
                          f"`python -m minirl sft --out {path.parent}`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ConfigError(f"cannot read checkpoint {path} ({type(e).__name__}); "
                          "is it a minirl model.pt?") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != "minirl-1":
        raise ConfigError(f"{path} is not a minirl checkpoint; "
                          "pass the model.pt a minirl run wrote")
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
        raise ConfigError(f"checkpoint {path} has block_size {config.block_size}, but task "
                          f"{task.name} needs {task.max_seq_len()}; "
                          "train a model with a larger --block_size")
    if task is not None and ((ckpt["task"]["reverse"], ckpt["task"]["pad"])
                             != (task.reverse, task.pad)):
        warnings.warn(f"checkpoint {path} was trained with reverse={ckpt['task']['reverse']} "
                      f"pad={ckpt['task']['pad']}, this run uses reverse={task.reverse} "
                      f"pad={task.pad}")
    kind = kind or ckpt["kind"]
    model = (ScalarHeadGPT if kind == "ScalarHeadGPT" else GPT)(config)
    try:
        model.load_state_dict(ckpt["state_dict"], strict=(kind == ckpt["kind"]))
    except RuntimeError as e:
        raise ConfigError(f"checkpoint {path} does not fit a {kind} with config {config}: "
                          f"{e}") from e
    return model.to(device), ckpt


def read_metrics(folder) -> list[dict]:
    """The rows of a run folder's metrics.jsonl, in order."""
    return [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()
            if line]
