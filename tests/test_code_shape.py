"""The shape of the package a reader copies from: short lines, short module docstrings, files
about one thing, and trainers whose algorithm is most of what they hold (docs/conventions.md,
Trainers; benchmarks/trainer_anatomy.py says how lines are counted)."""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "minirl").glob("*.py"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import trainer_anatomy  # noqa: E402


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_lines_fit_in_100_columns_and_docstrings_in_20_lines(path):
    text = path.read_text()
    assert [i for i, line in enumerate(text.splitlines(), 1) if len(line) > 100] == []
    doc = ast.get_docstring(ast.parse(text), clean=False) or ""
    assert len(doc.splitlines()) <= 20
    assert len(text.splitlines()) <= 330                     # about one thing each


@pytest.mark.parametrize("file", trainer_anatomy.TRAINERS)
def test_each_trainer_steps_its_optimizer_itself_and_is_mostly_algorithm(file):
    trainer, _ = trainer_anatomy.TRAINERS[file]
    a = trainer_anatomy.anatomy(ROOT / "minirl" / file, trainer)
    assert a["optimizer_step_inline"], f"{trainer}: optimizer.step() is not in its body"
    assert a["statement_share"] <= 0.30, a


def test_the_anatomy_counts_a_logging_block_and_the_run_calls(tmp_path):
    """The counter on a made-up trainer: 4 run statements + a 3-line logging block of 9 lines."""
    src = tmp_path / "t.py"
    src.write_text('''def train_x(cfg):
    """Doc."""
    run = Run("x", cfg)
    model = make()
    for step in run.steps():
        loss = model(step)
        optimizer.step()
        # --- logging (skip on first read) ---
        if step % 10 == 0:
            run.add(loss=loss)
        run.step(step + 1)
    return run.finish(model)
''')
    a = trainer_anatomy.anatomy(src, "train_x")
    assert (a["lines"], a["bookkeeping"], a["statements"], a["bookkeeping_statements"]) == (9, 5, 9, 5)
    assert a["optimizer_step_inline"]
