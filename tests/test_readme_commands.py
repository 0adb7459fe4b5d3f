"""Every training command the README prints improves its starting model when run as printed, at full
size (`make check-commands`, several minutes each; not part of `make test`).

The commands are read from the README's command block, so a command changed there is the command
checked here. Each runs once (seed 0) in its own process; its final held-out accuracy must beat the
start's, evaluated here on this machine (a start's accuracy depends on the CPU's kernels)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = ("reinforce", "a2c", "ppo", "rlhf", "dpo", "grpo")


def readme_training_commands() -> list[list[str]]:
    """`python -m minirl <trainer> --init ...` lines of the README's command blocks, as argv lists."""
    out = []
    for line in (ROOT / "README.md").read_text().splitlines():
        m = re.match(r"python -m minirl (\w+)\s+(.*?)\s*(#.*)?$", line.strip())
        if m and m.group(1) in TRAINERS and "--init" in m.group(2):
            out.append([m.group(1), *m.group(2).split()])
    return out


def test_the_readme_has_a_command_for_every_trainer():
    assert {c[0] for c in readme_training_commands()} == set(TRAINERS)


@pytest.mark.long
@pytest.mark.parametrize("command", readme_training_commands(), ids=lambda c: " ".join(c))
def test_a_readme_command_beats_its_start(command, tmp_path):
    from minirl.evaluation import evaluate
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")              # the trainers' default task
    model, _ = load_model(command[command.index("--init") + 1], tok, task)
    before, _ = evaluate(model, tok, task)
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "minirl", *command, "--seed", "0", "--no-progress",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    after = json.loads((out / "summary.json").read_text())["eval_accuracy"]
    assert after > before, (command, before, after)
