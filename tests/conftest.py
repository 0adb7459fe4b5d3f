"""Shared fixtures. The weak-init checkpoint is trained once per test session (~7 s)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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
