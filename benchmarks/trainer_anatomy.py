"""How much of each trainer is the algorithm: lines, bookkeeping share and flags per command.

    python benchmarks/trainer_anatomy.py            # a table; --json for the numbers

How a line is counted. The body of `train_X` is its code lines (no signature, docstring, blank or
comment-only lines). A line is *bookkeeping* when it belongs to
- the marked logging block (from `# --- logging (skip on first read) ---` to the end of the loop), or
- a statement that uses the run machinery (`start(...)`, `Run(...)`, `run.<anything>`) or a clock
  (`time.<anything>`).
Everything else (the model, the optimizer, sampling, advantages, the loss and the update) is the
algorithm. A compound statement (`for`, `if`) is the algorithm's structure: its header is counted
as the algorithm (inside the logging block, as bookkeeping), its body statement by statement. The
share is given by lines and by statements (a statement wrapped over three lines counts once).
`optimizer.step()` must appear in the body itself, not in a helper.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAINERS = {                       # file -> (trainer, command)
    "sft.py": ("train_sft", "sft"),
    "reinforce.py": ("train_reinforce", "reinforce"),
    "a2c.py": ("train_a2c", "a2c"),
    "ppo.py": ("train_ppo", "ppo"),
    "dpo.py": ("train_dpo", "dpo"),
    "grpo.py": ("train_grpo", "grpo"),
    "reward_model.py": ("train_reward_model", "reward-model"),
}
MACHINERY = {"start", "Run", "run", "time"}
MARKER = "# --- logging"


def code_lines(lines: list[str], first: int, last: int) -> set[int]:
    """Line numbers in [first, last] that hold code (not blank, not only a comment)."""
    return {n for n in range(first, last + 1)
            if lines[n - 1].strip() and not lines[n - 1].strip().startswith("#")}


def logging_block(lines: list[str], first: int, last: int) -> set[int]:
    """The lines of the marked logging block: from the marker to the end of its indentation."""
    out = set()
    for n in range(first, last + 1):
        if MARKER in lines[n - 1]:
            indent = len(lines[n - 1]) - len(lines[n - 1].lstrip())
            m = n + 1
            while m <= last and (not lines[m - 1].strip()
                                 or len(lines[m - 1]) - len(lines[m - 1].lstrip()) >= indent):
                out.add(m)
                m += 1
    return out


def uses_machinery(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id in MACHINERY for n in ast.walk(node))


def anatomy(path: Path, trainer: str) -> dict:
    source = path.read_text()
    lines = source.splitlines()
    fn = next(n for n in ast.walk(ast.parse(source))
              if isinstance(n, ast.FunctionDef) and n.name == trainer)
    body = fn.body[1:] if ast.get_docstring(fn) else fn.body
    first, last = body[0].lineno, fn.end_lineno
    code = code_lines(lines, first, last)
    books = logging_block(lines, first, last)
    steps_inline = False
    statements = [0, 0]                         # [all, bookkeeping]

    def visit(stmts):
        nonlocal steps_inline
        for s in stmts:
            block = s.lineno in books
            statements[0] += 1
            if isinstance(s, (ast.For, ast.While, ast.If, ast.With)):
                statements[1] += block
                visit(s.body)
                visit(getattr(s, "orelse", []))
                continue
            text = ast.get_source_segment(source, s) or ""
            if "optimizer.step()" in text or "opt_pi.step()" in text:
                steps_inline = True
            if block or uses_machinery(s):
                books.update(range(s.lineno, s.end_lineno + 1))
                statements[1] += 1
    visit(body)
    books &= code
    return {"lines": len(code), "bookkeeping": len(books),
            "share": round(len(books) / len(code), 3), "statements": statements[0],
            "bookkeeping_statements": statements[1],
            "statement_share": round(statements[1] / statements[0], 3),
            "optimizer_step_inline": steps_inline}


def flag_counts() -> dict:
    from minirl.__main__ import available_trainers, build_parser
    parser = build_parser(available_trainers())
    return {name: sum(1 for a in sub._actions          # the flags --help shows (aliases hidden)
                      if a.option_strings and a.dest != "help" and a.help != argparse.SUPPRESS)
            for name, sub in parser.commands.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    flags = flag_counts()
    rows = {}
    for file, (trainer, command) in TRAINERS.items():
        path = ROOT / "minirl" / file
        rows[file] = {"file_lines": len(path.read_text().splitlines()), **anatomy(path, trainer),
                      "flags": flags.get(command)}
    if args.json:
        print(json.dumps(rows, indent=1))
        return rows
    print(f"{'file':<17}{'file lines':>11}{'train_X lines':>15}{'bookkeeping':>13}"
          f"{'share':>8}{'statements':>12}{'bookkeeping':>13}{'share':>8}{'step inline':>13}"
          f"{'flags':>7}")
    for file, r in rows.items():
        print(f"{file:<17}{r['file_lines']:>11}{r['lines']:>15}{r['bookkeeping']:>13}"
              f"{r['share']:>8.0%}{r['statements']:>12}{r['bookkeeping_statements']:>13}"
              f"{r['statement_share']:>8.0%}{str(r['optimizer_step_inline']):>13}"
              f"{r['flags']!s:>7}")
    return rows


if __name__ == "__main__":
    main()
