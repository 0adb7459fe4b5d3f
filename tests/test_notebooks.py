"""Every notebook runs top to bottom in smoke mode (MINIRL_SMOKE=1: tiny step counts), and the
committed copies are executed, in order, with no error outputs."""
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_executed_without_errors(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert all(isinstance(n, int) for n in counts), "commit the notebook executed (make notebooks)"
    assert counts == sorted(counts), "cells were executed out of order"
    for c in code:
        assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), c["source"][:200]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path):
    from minirl.notebooks import execute
    execute(path, smoke_mode=True, timeout=300, write=False)
