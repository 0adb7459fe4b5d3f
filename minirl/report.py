"""Results as tables: reading learning curves, summarising seeds, and writing CSV and Markdown.

    first_crossing, value_at     read a curve: when it first reaches a level, its value at a time
    summarize                    one row per arm of a comparison, means over seeds (chapter 8)
    markdown_table               any list of dicts as a Markdown table (compare, benchmarks)
    write_csv, read_csv          a list of dicts to a CSV file and back, numbers as numbers
How the comparison table is read: chapters/08-sft-vs-rl.md, 8.2.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path


# --- reading curves -------------------------------------------------------------------------
def first_crossing(xs, ys, level: float):
    """The first x at which y >= level, or None if it never gets there."""
    return next((x for x, y in zip(xs, ys) if y >= level), None)


def value_at(xs, ys, x0: float):
    """y at the last point with x <= x0 (a curve read at time x0), or None before its first
    point."""
    pts = [y for x, y in zip(xs, ys) if x <= x0]
    return pts[-1] if pts else None


T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def t_975(df: int) -> float:
    """The 97.5% quantile of Student's t with df degrees of freedom: a table up to 9, then the
    Cornish-Fisher expansion around the normal's z = 1.96 (within 0.2% from df = 10 on)."""
    if df in T_975:
        return T_975[df]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def summarize(curves: list[dict], results: list[dict], T: float, level: float = 0.9) -> list[dict]:
    """One row per arm: means over seeds (and how many seeds reached `level`).

    curves: rows {arm, seed, completions, seconds, eval_accuracy}; results: one row per
    (arm, seed) with final_accuracy, wall_seconds, updates, peak_memory_mb, models_held (and any
    pass@k, distinct_correct, demo_style_share, which are averaged too). T: the time at which every
    curve is read."""
    table = []
    for arm in dict.fromkeys(r["arm"] for r in results):
        res = [r for r in results if r["arm"] == arm]
        per_seed = [[c for c in curves if c["arm"] == arm and c["seed"] == r["seed"]] for r in res]
        acc = [r["final_accuracy"] for r in res]
        at_T = [value_at([c["seconds"] for c in cs], [c["eval_accuracy"] for c in cs], T)
                for cs in per_seed]
        t90 = [first_crossing([c["seconds"] for c in cs], [c["eval_accuracy"] for c in cs], level)
               for cs in per_seed]
        n90 = [first_crossing([c["completions"] for c in cs], [c["eval_accuracy"] for c in cs],
                              level)
               for cs in per_seed]
        reached = [x for x in t90 if x is not None]
        mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")   # noqa: E731
        n = len(acc)
        std = (sum((a - mean(acc)) ** 2 for a in acc) / max(1, len(acc) - 1)) ** 0.5
        row = {"arm": arm, "seeds": n, "final_accuracy": mean(acc), "final_accuracy_std": std,
               # half-width of the 95% t-interval of the mean final accuracy (none from one seed)
               "final_accuracy_ci95": t_975(n - 1) * std / n ** 0.5 if n > 1 else float("nan"),
               f"accuracy_at_{T:.0f}s": mean([a for a in at_T if a is not None]),
               "reached_90": len(reached), "seconds_to_90": mean(reached),
               "completions_to_90": mean([x for x in n90 if x is not None]),
               "updates": mean([r.get("updates", float("nan")) for r in res]),
               "peak_memory_mb": mean([r["peak_memory_mb"] for r in res]),
               "models_held": res[0]["models_held"],
               "wall_seconds": mean([r["wall_seconds"] for r in res])}
        for k in res[0]:
            if k.startswith("pass@") or k in ("distinct_correct", "demo_style_share"):
                row[k] = mean([r[k] for r in res])
        table.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    return table


# --- writing tables -------------------------------------------------------------------------
def markdown_table(rows: list[dict], columns=None, headers: dict | None = None) -> str:
    """rows as a Markdown table.

    columns: the columns in order, each a key or a (key, format) pair such as ("mfu", "{:.1%}");
    default: every key of the first row. Without a format a float prints with 3 significant digits.
    headers: key -> column title (default: the key). A missing value, None or NaN prints as "-".
    """
    cols = [(c, None) if isinstance(c, str) else tuple(c) for c in (columns or list(rows[0]))]
    headers = headers or {}

    def cell(value, fmt):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if fmt is not None:
            return fmt.format(value)
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers.get(c, c) for c, _ in cols) + " |",
             "|" + " --- |" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c), f) for c, f in cols) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(path, rows: list[dict]):
    """rows to a CSV file; the columns are every key that occurs, in order of first appearance."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def _number(text: str):
    """'3' -> 3, '0.25' -> 0.25, 'nan' -> nan, '' -> None, anything else stays text."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path) -> list[dict]:
    """The rows of a CSV file that write_csv wrote, with numbers as int or float again."""
    with open(Path(path), newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
