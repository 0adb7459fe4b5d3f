"""Every notebook runs top to bottom in smoke mode (MINIRL_SMOKE=1: tiny step counts) and shows
every figure it draws inline, and the committed copies are executed, in order, with no error outputs."""
import json
import os
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
DRAWS = re.compile(r"plt\.|(?<!def )\bplot\w*\(|save_figure\(")  # a cell that draws a figure (not a def)


def cells_missing_a_figure(nb) -> list[str]:
    """The first line of every code cell that draws a figure but has no image among its outputs."""
    missing = []
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if c["cell_type"] == "code" and DRAWS.search(src) and not any(
                "image/png" in o.get("data", {}) for o in c.get("outputs", [])):
            missing.append(src.splitlines()[0])
    return missing


def printed_lines(nb, pattern: str) -> list[str]:
    """Every line of the cells' printed (stream) output that matches the regular expression `pattern`."""
    return [line for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "stream"
            for line in "".join(o.get("text", "")).splitlines() if re.search(pattern, line)]


def warnings_printed(nb) -> list[str]:
    """Printed lines that are a Python warning (noise a reader should not see)."""
    return printed_lines(nb, r"\w+Warning: ")


def progress_bars_printed(nb) -> list[str]:
    """Printed lines that are a text progress bar (`12/300 [00:01<00:16, 17.9it/s]`): a saved notebook
    should show results, not hundreds of bar redraws; pass progress=False in notebook cells."""
    return printed_lines(nb, r"\d+/\d+ \[[\d:]+<")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_executed_without_errors(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert all(isinstance(n, int) for n in counts), "commit the notebook executed (make notebooks)"
    assert counts == sorted(counts), "cells were executed out of order"
    for c in code:
        assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), c["source"][:200]
    assert not cells_missing_a_figure(nb), f"cells that draw but saved no figure: {cells_missing_a_figure(nb)}"
    assert not warnings_printed(nb), warnings_printed(nb)
    assert not progress_bars_printed(nb), progress_bars_printed(nb)[:3]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, monkeypatch):
    import torch

    from minirl.notebooks import execute
    # the kernel is another process: give it the suite's thread count (more threads than cores,
    # with the other pytest process beside it, makes every step many times slower)
    monkeypatch.setenv("MINIRL_NOTEBOOK_THREADS", str(torch.get_num_threads()))
    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))
    nb = execute(path, smoke_mode=True, timeout=300, write=False)
    assert any(DRAWS.search("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code")
    assert not cells_missing_a_figure(nb), f"cells that draw but show no figure: {cells_missing_a_figure(nb)}"
    # (printed warnings are checked on the committed, full-size outputs only: smoke sizes draw plots of
    # one or two points, on which matplotlib may warn about empty slices)


def test_a_cell_that_draws_without_showing_is_found():
    cell = {"cell_type": "code", "source": ["fig, ax = plt.subplots()\n", "ax.plot([1, 2])"], "outputs": []}
    shown = dict(cell, outputs=[{"output_type": "display_data", "data": {"image/png": "iVBOR..."}}])
    text = {"cell_type": "code", "source": "print(1)", "outputs": []}
    helper = {"cell_type": "code", "source": "def plot(result, name=None):\n    pass", "outputs": []}
    assert cells_missing_a_figure({"cells": [cell, shown, text, helper]}) == ["fig, ax = plt.subplots()"]


def test_a_printed_warning_is_found():
    warned = {"cell_type": "code", "source": "x", "outputs": [{"output_type": "stream", "name": "stderr", "text": [
        "/x/tqdm/auto.py:21: TqdmWarning: IProgress not found.\n", "  from .autonotebook import tqdm\n"]}]}
    quiet = {"cell_type": "code", "source": "x", "outputs": [{"output_type": "stream", "text": "Warnings: none\n"}]}
    assert warnings_printed({"cells": [warned, quiet]}) == ["/x/tqdm/auto.py:21: TqdmWarning: IProgress not found."]


def test_a_printed_progress_bar_is_found():
    bar = {"cell_type": "code", "source": "x", "outputs": [{"output_type": "stream", "name": "stderr", "text": [
        "sft:   3%|▎         | 8/300 [00:00<00:16, 17.96it/s, loss=1.8]\n"]}]}
    result = {"cell_type": "code", "source": "x", "outputs": [{"output_type": "stream", "text": "step 8/300 done\n"}]}
    assert progress_bars_printed({"cells": [bar, result]}) == ["sft:   3%|▎         | 8/300 [00:00<00:16, 17.96it/s, loss=1.8]"]


def test_setup_sets_the_thread_count_and_the_environment_overrides_it(monkeypatch):
    import torch

    from minirl.notebooks import setup
    before = torch.get_num_threads()
    monkeypatch.setenv("MINIRL_OVERWRITE", "0")               # setup sets it: undone after the test
    monkeypatch.chdir(Path.cwd())                              # setup moves to the repository root
    try:
        monkeypatch.delenv("MINIRL_NOTEBOOK_THREADS", raising=False)
        setup(threads=3)
        assert torch.get_num_threads() == 3
        monkeypatch.setenv("MINIRL_NOTEBOOK_THREADS", "1")
        setup(threads=3)
        assert torch.get_num_threads() == 1
        assert os.environ["MINIRL_OVERWRITE"] == "1"
    finally:
        torch.set_num_threads(before)
