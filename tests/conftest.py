"""Shared fixtures. The weak-init checkpoint is trained once per test session (~7 s).

The suite runs with a pinned number of CPU threads, 2 unless MINIRL_TEST_THREADS says otherwise
(results on a CPU depend on the thread count; the suite must pass with 1 and with 2):
    MINIRL_TEST_THREADS=1 .venv/bin/python -m pytest -q       # make test-1thread
The benchmark scripts' smoke tests run their training commands in the test process
(MINIRL_IN_PROCESS=1, see benchmarks/common.cli_run); one test runs the subprocess path.
"""
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(int(os.environ.get("MINIRL_TEST_THREADS", "2")))
os.environ.setdefault("MINIRL_IN_PROCESS", "1")   # benchmarks' smoke runs train in this process (benchmarks/common.py)


@pytest.fixture(scope="session")
def weak_init(tmp_path_factory) -> str:
    """Path to a weak SFT checkpoint on add2 (about 30% held-out accuracy), the RL starting point."""
    from minirl.sft import ensure_weak_init
    return ensure_weak_init(str(tmp_path_factory.mktemp("weak")))


@pytest.fixture
def tok():
    from minirl.tokenizer import CharTokenizer
    return CharTokenizer()


@pytest.fixture
def task():
    from minirl.tasks import make_task
    return make_task("add2")
