"""What the benchmark scripts share: train a run through the CLI unless its folder already holds a
finished one (a summary.json), then read its metrics and summary; print results as a markdown table."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minirl.runs import read_metrics  # noqa: E402


def finished(folder: Path) -> bool:
    return (Path(folder) / "summary.json").is_file()


def cli_run(folder: Path, *flags: str, threads: int | None = None) -> tuple[list[dict], dict]:
    """`python -m minirl <flags> --out folder --no-progress` unless finished -> (metrics rows, summary).
    threads: OMP_NUM_THREADS for the run (None = PyTorch's default)."""
    folder = Path(folder)
    if not finished(folder):
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        subprocess.run([sys.executable, "-m", "minirl", *flags, "--out", str(folder), "--no-progress"],
                       check=True, cwd=ROOT, env=env)
    return read_metrics(folder), json.loads((folder / "summary.json").read_text())


def markdown_table(rows: list[dict], columns: list[tuple[str, str]], headers: dict | None = None) -> str:
    """rows as a markdown table. columns: (key, format) pairs; headers: key -> column title (default:
    the key); a None value prints as "-"."""
    headers = headers or {}
    lines = ["| " + " | ".join(headers.get(c, c) for c, _ in columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join("-" if r[c] is None else f.format(r[c]) for c, f in columns) + " |" for r in rows]
    return "\n".join(lines)
