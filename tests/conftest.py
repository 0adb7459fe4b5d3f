"""Shared fixtures. The weak-init checkpoint is trained once per test process (~7 s).

The suite runs with a pinned number of CPU threads (results on a CPU depend on the thread count;
the suite must pass with 1 and with 2): MINIRL_TEST_THREADS if set, else 1 in each pytest-xdist
worker (`make test` runs 2 workers, one per core of a 2-core laptop) and 2 in a single process:
    MINIRL_TEST_THREADS=1 .venv/bin/python -m pytest -q       # make test-1thread
    MINIRL_TEST_THREADS=2 .venv/bin/python -m pytest -q       # make test-2thread
"""
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
THREADS = os.environ.get("MINIRL_TEST_THREADS", "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2")
torch.set_num_threads(int(THREADS))


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
