"""Shared fixtures. The weak-init checkpoint is trained once per test session (~7 s).

The suite runs with a pinned number of CPU threads (results on a CPU depend on the thread count;
the suite must pass with 1 and with 2): MINIRL_TEST_THREADS if set, else 1 in each of `make test`'s
two pytest processes (pytest-xdist, -n 2) and 2 in a single process:
    .venv/bin/python -m pytest -q                             # one process, 2 threads
    MINIRL_TEST_THREADS=1 .venv/bin/python -m pytest -q       # make test-1thread
The benchmark scripts' smoke tests run their training commands in the test process
(MINIRL_IN_PROCESS=1, see benchmarks/common.cli_run); one test runs the subprocess path.
The suite's training runs skip drawing curves.png (about 0.2 s each, for a few hundred runs); a test
that checks the figure is marked `@pytest.mark.curves`, and tests/test_plotting.py tests the drawing.
"""
import os
import sys
from pathlib import Path

import pytest

# Idle OpenMP threads sleep instead of spinning. A test that pins two threads (the weak-start recipe,
# a notebook's kernel, a command in a subprocess) runs beside the other pytest process: spinning
# threads on 2 cores then slow every step several times over. Set before torch loads OpenMP; child
# processes inherit it. It changes no result, only how a waiting thread waits.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))    # make test: 2 pytest processes
THREADS = int(os.environ.get("MINIRL_TEST_THREADS", "1" if WORKERS > 1 else "2"))
torch.set_num_threads(THREADS)
os.environ.setdefault("MINIRL_IN_PROCESS", "1")   # benchmarks' smoke runs train in this process (benchmarks/common.py)


@pytest.fixture(autouse=True)
def _pinned_threads(request):
    """Every test runs with the suite's thread count. A run with --threads, or a benchmark's main()
    called in this process, sets the count for the whole process; without this, every later test
    would run with it."""
    if torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)
    yield
    if torch.get_num_threads() != THREADS:
        if os.environ.get("MINIRL_REPORT_THREADS"):
            print(f"\n{request.node.nodeid} left {torch.get_num_threads()} threads", file=sys.stderr)
        torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True)
def _no_curves_png(request, monkeypatch):
    """Run.finish draws curves.png with minirl.plotting.plot_metrics; here it draws nothing unless the
    test is marked `curves`. Direct callers that imported plot_metrics keep the real one."""
    if request.node.get_closest_marker("curves") is None:
        import minirl.plotting
        monkeypatch.setattr(minirl.plotting, "plot_metrics", lambda *args, **kwargs: None)


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
