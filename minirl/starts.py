"""The starting checkpoints that ship with minirl, so every reader's runs begin from the same model.

Each RL chapter starts from a weak SFT model (a short run that leaves room for RL to show what it
adds). The same seed trains a different model on another CPU: other kernels round differently, and
a few hundred Adam steps turn the last bit into another model. So the starts are committed files in
minirl/checkpoints/, listed in starts.json with the command that made them and their sha256, which
is checked before a file is used. A start's name works wherever a checkpoint path does:

    minirl grpo --init weak                         # the add2 weak start (reversed answers)
    minirl starts                                   # list them; --verify checks every sha256
    minirl starts --rebuild weak --out runs/weak    # train it again with its recorded command

Chapter: chapters/02-tiny-gpt-and-sft.md, 2.7 (the weak starting point).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from .config import ConfigError

FOLDER = Path(__file__).resolve().parent / "checkpoints"
MANIFEST = FOLDER / "starts.json"
_verified: dict[Path, str] = {}          # file -> the sha256 it had when checked in this process


def starts() -> dict[str, dict]:
    """name -> its manifest entry: file, sha256, recipe (SFT flags), env, eval_accuracy, made_on."""
    return json.loads(MANIFEST.read_text())["starts"] if MANIFEST.is_file() else {}


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def start_path(name: str) -> Path:
    """The verified file of the shipped start `name`; a ConfigError if it is unknown or altered."""
    entry = starts().get(name)
    if entry is None:
        raise ConfigError(f"no shipped start called {name!r}; `minirl starts` lists them")
    path = FOLDER / entry["file"]
    if not path.is_file():
        raise ConfigError(f"the shipped start {path} is missing; "
                          f"restore it with `git checkout {path}`")
    if _verified.get(path) != entry["sha256"]:
        if sha256(path) != entry["sha256"]:
            raise ConfigError(f"{path} does not match its sha256 in {MANIFEST.name}: the file "
                              "was changed. "
                              f"Restore it (`git checkout {path}`) or rebuild it: "
                              f"`minirl starts --rebuild {name} --out DIR`")
        _verified[path] = entry["sha256"]
    return path


def resolve(path_or_name) -> Path:
    """A checkpoint path as given, or the file of the shipped start it names (e.g. "weak")."""
    path = Path(path_or_name)
    if not path.exists() and str(path_or_name) in starts():
        return start_path(str(path_or_name))
    return path


def argv(entry: dict) -> list[str]:
    """The `minirl sft` arguments that trained a start: its recipe as flags."""
    out = ["sft"]
    for key, value in entry["recipe"].items():
        if isinstance(value, bool):
            out.append(f"--{key}" if value else f"--no-{key}")
        else:
            out += [f"--{key}", str(value)]
    return out


def command(entry: dict) -> str:
    """The shell command that trained a start, its environment included."""
    env = " ".join(f"{k}={v}" for k, v in entry.get("env", {}).items())
    return f"{env + ' ' if env else ''}python -m minirl {' '.join(argv(entry))}"


def find(recipe: dict) -> str | None:
    """The name of the shipped start trained with exactly this recipe (the SFT flags), if any."""
    return next((name for name, e in starts().items() if e["recipe"] == recipe), None)


def copy_to(name: str, out) -> Path:
    """Put the shipped start `name` in the folder `out` as model.pt, with a summary.json saying what
    it is (the accuracy measured when it was made), as a run folder would. -> out/model.pt"""
    src = start_path(name)
    entry = starts()[name]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dst = out / "model.pt"
    if not dst.is_file() or sha256(dst) != entry["sha256"]:
        shutil.copyfile(src, dst)
    summary = {"algo": "start", "start": name, "task": entry["recipe"]["task"], "source": str(src),
               "sha256": entry["sha256"], "eval_accuracy": entry["eval_accuracy"],
               "command": command(entry)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return dst


def rebuild(name: str, out) -> Path:
    """Train the start `name` again with its recorded command (in a new process, so that its
    environment, e.g. ATEN_CPU_CAPABILITY, applies). -> out/model.pt"""
    entry = starts().get(name)
    if entry is None:
        raise ConfigError(f"no shipped start called {name!r}; `minirl starts` lists them")
    env = {**os.environ, **entry.get("env", {})}
    cmd = [sys.executable, "-m", "minirl", *argv(entry), "--out", str(out), "--overwrite",
           "--no-progress"]
    subprocess.run(cmd, check=True, env=env)
    return Path(out) / "model.pt"


def slim(src, dst) -> Path:
    """Write the weights-only copy of checkpoint `src` that ships (no optimizer or RNG state)."""
    ckpt = torch.load(src, map_location="cpu", weights_only=False)
    keep = ("format", "kind", "model_config", "tokenizer", "task", "state_dict")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: ckpt[k] for k in keep}, dst)
    return dst


def same_weights(a, b) -> bool:
    """Whether two checkpoints hold exactly the same weights."""
    sa, sb = (torch.load(p, map_location="cpu", weights_only=False)["state_dict"] for p in (a, b))
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def cmd_starts(verify: bool = False, rebuild_name: str | None = None,
               out: str | None = None) -> int:
    """`minirl starts`: list the shipped starts, check them (--verify), or train one again."""
    if rebuild_name:
        path = rebuild(rebuild_name, out or f"runs/start_{rebuild_name}")
        same = same_weights(path, start_path(rebuild_name))
        print(f"{path}: " + ("the same weights as the shipped start" if same else
                             "other weights than the shipped start (another CPU's kernels, or "
                             "another torch version, round differently)"))
        return 0
    for name, e in starts().items():
        status = ""
        if verify:
            start_path(name)
            status = "  sha256 ok"
        print(f"{name:12s} {e['recipe']['task']:10s} {e['eval_accuracy']:6.1%} held-out  "
              f"{(FOLDER / e['file']).relative_to(FOLDER.parent.parent)}{status}")
        print(f"{'':12s} made by: {command(e)}")
    return 0
