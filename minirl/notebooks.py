"""Helpers for the notebooks, and `python -m minirl.notebooks` to execute them.

Every notebook starts with

    from minirl.notebooks import setup, steps, save_figure
    ROOT, RUNS, SMOKE = setup()

`setup` moves to the repository root (so paths are the same from Jupyter or from the tests),
and reads the one switch of smoke mode: MINIRL_SMOKE=1, which the test suite sets to run every
notebook top to bottom in seconds. In smoke mode `steps(full)` returns a tiny count, runs go to
a temporary folder, and `save_figure` does not overwrite the book's figures.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "chapters" / "figures"


def smoke() -> bool:
    return os.environ.get("MINIRL_SMOKE", "") not in ("", "0")


def setup(seed: int = 0, threads: int | None = None):
    """-> (ROOT, RUNS, SMOKE). Changes directory to the repo root, seeds everything, and sets
    PyTorch's CPU threads to `threads` (results on a CPU depend on the count; None leaves it).
    MINIRL_NOTEBOOK_THREADS overrides the count: the test suite runs notebooks beside each other."""
    os.chdir(ROOT)
    threads = int(os.environ.get("MINIRL_NOTEBOOK_THREADS", 0)) or threads
    if threads:
        import torch
        torch.set_num_threads(threads)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from .device import seed_everything
    seed_everything(seed)
    os.environ["MINIRL_OVERWRITE"] = "1"          # a notebook re-runs its experiments in place
    import logging                                # matplotlib's first font search is noise in
                                                  # a cell's output
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    runs = Path(tempfile.mkdtemp(prefix="minirl-smoke-")) if smoke() else ROOT / "runs"
    print("SMOKE MODE: tiny step counts, runs in a temporary folder" if smoke() else
          "working directory: the repository root; runs go to runs/")
    return ROOT, runs, smoke()


def steps(full: int, smoke_steps: int = 3) -> int:
    """`full` normally; a tiny count under MINIRL_SMOKE=1."""
    return smoke_steps if smoke() else full


def save_figure(fig, name: str):
    """Save a figure for the chapters (chapters/figures/NAME.png and .svg), except in smoke mode."""
    if smoke():
        return None
    from .plotting import save_figure as write
    return write(fig, FIGURES / name)


def execute(path, smoke_mode: bool = False, timeout: int = 1800, write: bool = True):
    """Run a notebook top to bottom (cwd = repo root); save its outputs in place unless
    write=False."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    old = os.environ.get("MINIRL_SMOKE")
    os.environ["MINIRL_SMOKE"] = "1" if smoke_mode else "0"
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        if old is None:
            os.environ.pop("MINIRL_SMOKE", None)
        else:
            os.environ["MINIRL_SMOKE"] = old
    if write:
        nbformat.write(nb, path)
    return nb


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description="execute notebooks in place (full size unless --smoke)")
    p.add_argument("paths", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    p.add_argument("--smoke", action="store_true", help="tiny step counts, outputs not saved")
    args = p.parse_args(argv)
    paths = args.paths or sorted(str(x) for x in (ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        t = time.perf_counter()
        execute(path, smoke_mode=args.smoke, write=not args.smoke)
        print(f"{path}: ok in {time.perf_counter() - t:.0f}s")


if __name__ == "__main__":
    main()
