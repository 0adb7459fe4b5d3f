"""Write the measured numbers that chapters and README quote from the committed results files.

A measured number in a page is marked with an HTML comment naming its source (invisible on GitHub):

    the weak start reaches <!--n headline:weak.start pct-->37.6%<!--/n--> held-out

`headline:weak.start` is the key "weak.start" of the "numbers" in results/headline/results.json
(written by a benchmark through benchmarks.common.write_results), and `pct` its format (FORMATS).
A printed output (a string) stands between <!--block SOURCE:KEY--> and <!--/block--> as a code block,
a generated Markdown table (a string) between <!--table SOURCE:KEY--> and <!--/table--> as it is.
This script rewrites the text between the markers from the results:

    python benchmarks/render_numbers.py            # rewrite every page (make numbers)
    python benchmarks/render_numbers.py --check    # exit 1 naming every stale number or missing source
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
PAGES = ("README.md", "chapters/*.md", "chapters/lab/*.md", "exercises/README.md", "exercises/ANSWERS.md",
         "standalone/README.md")
MARK = re.compile(r"<!--n ([\w./-]+):([\w.@-]+)(?: (\w+))?-->(.*?)<!--/n-->")
BLOCK = re.compile(r"<!--block ([\w./-]+):([\w.@-]+)-->\n(.*?)<!--/block-->", re.S)   # a printed output
TABLE = re.compile(r"<!--table ([\w./-]+):([\w.@-]+)-->\n(.*?)<!--/table-->", re.S)   # a Markdown table


def _seconds(x: float) -> str:
    m, s = divmod(round(x), 60)
    return f"{m} min {s} s" if m else f"{s} s"


FORMATS = {
    "pct": lambda x: f"{100 * x:.1f}%",          # 0.376 -> 37.6%
    "pct0": lambda x: f"{100 * x:.0f}%",         # 0.376 -> 38%
    "pts": lambda x: f"{100 * x:+.1f}",          # 0.154 -> +15.4 (percentage points)
    "int": lambda x: f"{round(x):,}",            # 1394 -> 1,394
    "s": lambda x: f"{x:.0f} s",                 # 186.2 -> 186 s
    "s1": lambda x: f"{x:.1f} s",
    "min": _seconds,                             # 189 -> 3 min 9 s
    "f2": lambda x: f"{x:.2f}",
    "f3": lambda x: f"{x:.3f}",
    "str": str,
}


def load_results(root: Path = RESULTS) -> dict[str, dict]:
    """name -> the "numbers" of results/<name>/results.json (and of results/<a>/<b>/... as "a/b"),
    with where they were measured as env.cpu, env.cpu_capability, env.threads, env.date, ..."""
    out = {}
    for path in sorted(Path(root).rglob("results.json")):
        name = path.parent.relative_to(root).as_posix()
        doc = json.loads(path.read_text())
        out[name] = {**{f"env.{k}": v for k, v in doc.get("environment", {}).items()}, **doc.get("numbers", {})}
    return out


def value(results: dict, source: str, key: str, fmt: str | None) -> str:
    """The formatted number, or a KeyError/ValueError naming what is missing."""
    if source not in results:
        raise KeyError(f"no results/{source}/results.json")
    if key not in results[source]:
        raise KeyError(f"results/{source}/results.json has no number {key!r}")
    fmt = fmt or "str"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    return FORMATS[fmt](results[source][key])


def render(text: str, results: dict) -> tuple[str, list[str]]:
    """The text with every marked number rewritten, and the problems found (missing sources)."""
    problems = []

    def sub(m):
        try:
            return f"<!--n {m[1]}:{m[2]}{' ' + m[3] if m[3] else ''}-->{value(results, m[1], m[2], m[3])}<!--/n-->"
        except (KeyError, ValueError) as e:
            problems.append(f"{m[1]}:{m[2]}: {e.args[0]}")
            return m[0]
    def whole(kind: str, fence: str):
        """A block's renderer: the string between <!--KIND SOURCE:KEY--> and <!--/KIND-->, fenced."""
        def render_block(m):
            try:
                body = value(results, m[1], m[2], "str").rstrip()
            except KeyError as e:
                problems.append(f"{m[1]}:{m[2]}: {e.args[0]}")
                return m[0]
            return f"<!--{kind} {m[1]}:{m[2]}-->\n{fence}{body}\n{fence}<!--/{kind}-->"
        return render_block
    block, table = whole("block", "```\n"), whole("table", "")
    return TABLE.sub(table, BLOCK.sub(block, MARK.sub(sub, text))), problems


def pages(root: Path = ROOT) -> list[Path]:
    return [p for pattern in PAGES for p in sorted(Path(root).glob(pattern))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    args = p.parse_args(argv)
    results, bad = load_results(), []
    for page in pages():
        text = page.read_text()
        new, problems = render(text, results)
        bad += [f"{page.relative_to(ROOT)}: {problem}" for problem in problems]
        if new != text:
            if args.check:
                old_marks, new_marks = MARK.findall(text), MARK.findall(new)
                bad += [f"{page.relative_to(ROOT)}: {a[0]}:{a[1]} says {a[3]!r}, the results say {b[3]!r}"
                        for a, b in zip(old_marks, new_marks) if a != b]
                bad += [f"{page.relative_to(ROOT)}: the block {a[0]}:{a[1]} differs from the results"
                        for a, b in zip(BLOCK.findall(text), BLOCK.findall(new)) if a != b]
                bad += [f"{page.relative_to(ROOT)}: the table {a[0]}:{a[1]} differs from the results"
                        for a, b in zip(TABLE.findall(text), TABLE.findall(new)) if a != b]
            else:
                page.write_text(new)
                print(f"updated {page.relative_to(ROOT)}")
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
