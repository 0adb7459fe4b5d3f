"""Time the README's two set-up-and-test commands in a fresh clone, as a new reader runs them.

    python benchmarks/suite_time.py                                  # make setup, then make test
    python benchmarks/suite_time.py --capabilities native default avx2   # make test again under each

Clones the committed HEAD into a temporary folder, times `make setup` (the venv) and `make test`
there, optionally again with ATEN_CPU_CAPABILITY set, and writes results/suite/results.json
(counts and seconds for each). Run it on a quiet machine: it measures wall time.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_results  # noqa: E402

SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?)")


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, str, int]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return time.perf_counter() - t0, p.stdout, p.returncode


def counts(output: str) -> dict:
    """The pytest summary line's counts: {"passed": 1394, "skipped": 1, ...}."""
    last = [line for line in output.splitlines() if " passed" in line or " failed" in line]
    return {kind.rstrip("s") if kind.startswith("error") else kind: int(n)
            for n, kind in SUMMARY.findall(last[-1] if last else "")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--capabilities", nargs="+", default=["native"],
                   help="run make test once per value: native (unset) or an ATEN_CPU_CAPABILITY")
    p.add_argument("--keep", action="store_true", help="keep the clone")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="minirl-suite-"))
    clone = work / "minirl"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "VIRTUAL_ENV")}
    setup_s, out, rc = timed(["make", "setup"], clone, env)
    if rc:
        sys.exit(f"make setup failed:\n{out[-3000:]}")
    numbers = {"setup_seconds": setup_s}
    for cap in args.capabilities:
        run_env = env if cap == "native" else {**env, "ATEN_CPU_CAPABILITY": cap}
        seconds, out, rc = timed(["make", "test"], clone, run_env)
        c = counts(out)
        numbers.update({f"{cap}.test_seconds": seconds, f"{cap}.returncode": rc,
                        **{f"{cap}.{k}": v for k, v in c.items()}})
        if cap == "native":
            numbers["fresh_clone_seconds"] = setup_s + seconds
        print(f"{cap}: rc {rc}, {c}, {seconds:.0f} s", flush=True)
        if rc:
            print(out[-5000:], file=sys.stderr)
        write_results("suite", numbers, command="python benchmarks/suite_time.py --capabilities "
                      + " ".join(args.capabilities))       # after each run: a stopped run keeps its part
    if not args.keep:
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
