"""A run folder: which files make a run, whether a folder holds one, whether it was made with the
same flags, and what config.json records besides the flags (runs.py writes them)."""
from __future__ import annotations

import json
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from .config import ConfigError

RUN_FILES = ("config.json", "metrics.jsonl", "model.pt", "summary.json", "curves.png")


def holds_run(folder: Path) -> bool:
    """Whether a run was already written to `folder` (so a new one would overwrite it)."""
    return any((folder / name).exists() for name in ("config.json", "metrics.jsonl", "model.pt"))


def run_metadata(out: Path) -> dict:
    """What config.json records besides the flags: where, when, with which code and torch."""
    try:
        root = Path(__file__).resolve().parents[1]
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"folder": str(out.resolve()), "git_commit": commit, "torch": torch.__version__,
            "python": platform.python_version(),
            "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def same_config(folder: Path, algo: str, cfg) -> bool:
    """Whether the run in `folder` was made by `algo` with exactly these flags (metadata aside)."""
    try:
        saved = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    saved.pop("run", None)
    return saved == {"algo": algo, **cfg.to_dict()}


def tensorboard_writer():
    """TensorBoard's SummaryWriter class (--tensorboard), or a ConfigError saying how to install
    it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard "
                          "(or pip install -e \".[tensorboard]\")") from e
    return SummaryWriter
