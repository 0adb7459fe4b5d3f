"""The book's shape: each chapter (chapters/NN-*.md) is a concept core, and what belongs to the lab
(sweeps, seed-by-seed and timing tables, dates, machines) lives in its lab appendix, chapters/lab/NN-*.md.

One test per property, each parametrized by chapter. The checks are plain functions of a chapter's
path that return the problems they find (a chapter's lab appendices are looked up in lab/ next to it),
so they run on any copy of a chapter; every problem names the chapter and the offending line."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]-*.md"))

MAX_WORDS = 5000                  # the file split on whitespace, as `wc -w` counts it (code included),
                                  # without HTML comments (number markers, excerpt markers: not read)
COMMENT = re.compile(r"<!--.*?-->", re.S)
WORDS_PER_MINUTE = 200            # the reading time is words / 200, rounded up to 5 minutes ...
READING_SLACK = 1000              # ... and may be off by this many words' worth (edits come after it)
TOP_LINES = 10                    # the reading-time line stands within the first lines
READING_TIME = re.compile(r"Reading time: about (\d+) minutes")
LINK = re.compile(r"\]\(([^)\s]+)\)")                       # [text](target)
WHAT_YOU_SHOULD_KNOW = re.compile(r"^#{2,6} .*What you should know", re.M)

MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
         r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
DATES = [re.compile(r"\b20\d\d-\d\d(?:-\d\d)?\b"),                        # 2026-12-03, 2026-12
         re.compile(rf"\b\d{{1,2}}\s+{MONTH}\s+20\d\d\b"),                  # 3 December 2026
         re.compile(rf"\b{MONTH}\s+(?:\d{{1,2}},?\s+)?20\d\d\b")]           # December 3, 2026; Dec 2026
# Remarks about the machine a number was measured on. They belong to the lab appendix, next to the
# table they qualify: in a chapter body they date the text and say nothing about the method. Matched
# case-insensitively, across line breaks. "threads" counts only after a number ("two threads"): a
# thread count; `--threads 2` as a flag in a command, or "the thread count" as a concept, is fine.
NUMBER = r"(?:\d+|one|two|four|eight|sixteen)"
MACHINE_REMARKS = [r"slow\s+hour", r"this\s+laptop", r"under\s+load", r"this\s+(?:machine|CPU|computer)",
                   r"nothing\s+else\s+running", rf"{NUMBER}(?:-|\s+)cores?",
                   rf"{NUMBER}\s+(?:CPU\s+)?threads?"]
MACHINE = [re.compile(rf"\b{phrase}\b", re.I) for phrase in MACHINE_REMARKS]


def _line(text: str, pos: int) -> str:
    """'line N: <the line>' for the character at pos."""
    n = text.count("\n", 0, pos) + 1
    return f"line {n}: {text.splitlines()[n - 1].strip()!r}"


def words_of(text: str) -> int:
    return len(COMMENT.sub(" ", text).split())


def word_problems(path: Path) -> list[str]:
    words = words_of(path.read_text())
    if words <= MAX_WORDS:
        return []
    return [f"{path.name}: {words:,} words, over {MAX_WORDS:,} "
            f"(move lab material to chapters/lab/{path.name[:2]}-*.md)"]


def reading_time_problems(path: Path) -> list[str]:
    text = path.read_text()
    top = "\n".join(text.splitlines()[:TOP_LINES])
    m = READING_TIME.search(top)
    if not m:
        return [f"{path.name}: no '*Reading time: about N minutes.*' within the first {TOP_LINES} lines"]
    words, minutes = words_of(text), int(m[1])
    if not words - READING_SLACK <= minutes * WORDS_PER_MINUTE <= words + READING_SLACK:
        return [f"{path.name}: {_line(text, m.start())} says {minutes} minutes, but {words:,} words read "
                f"in about {words / WORDS_PER_MINUTE:.0f}"]
    return []


def lab_link_problems(path: Path) -> list[str]:
    """A link to lab/NN-*.md that resolves; no link only while no lab appendix exists for NN."""
    text, nn = path.read_text(), path.name[:2]
    labs = sorted((path.parent / "lab").glob(f"{nn}-*.md"))
    links = [m for m in LINK.finditer(text) if re.fullmatch(rf"(?:\./)?lab/{nn}-[^/#]+\.md(?:#.*)?", m[1])]
    problems = [f"{path.name}: {_line(text, m.start())} links {m[1]}, which does not exist"
                for m in links if not (path.parent / m[1].split("#")[0]).exists()]
    if not links and labs:
        problems.append(f"{path.name}: no link to its lab appendix lab/{labs[0].name}")
    return problems


def what_you_should_know_problems(path: Path) -> list[str]:
    return [] if WHAT_YOU_SHOULD_KNOW.search(path.read_text()) else [
        f"{path.name}: no '## What you should know' heading (5-8 concept checks)"]


def date_problems(path: Path) -> list[str]:
    text, found = path.read_text(), []
    for m in (m for rx in DATES for m in rx.finditer(text)):
        if not any(s <= m.start() < e for s, e, _ in found):        # "December 2026" inside "3 December 2026"
            found.append((m.start(), m.end(), m[0]))
    return [f"{path.name}: a date, {d!r}, on {_line(text, s)}" for s, _, d in sorted(found)]


def machine_remark_problems(path: Path) -> list[str]:
    text = path.read_text()
    return [f"{path.name}: a machine remark, {' '.join(m[0].split())!r}, on {_line(text, m.start())}"
            for rx in MACHINE for m in rx.finditer(text)]


# A Python block in a chapter is either an excerpt of the code, marked <!--excerpt minirl/FILE.py--> on
# the line before it, whose lines (stripped; "..." and blank lines skip) appear in that file in the
# same order, or a sketch that is not the code, marked <!--sketch-->. Excerpts cannot drift.
MARKED_BLOCK = re.compile(r"<!--(?:excerpt ([\w./-]+)|sketch)-->[ \t]*\n```python\n(.*?)```", re.S)
PYTHON_BLOCK = re.compile(r"```python\n")


def excerpt_problems(path: Path) -> list[str]:
    text, problems, marked = path.read_text(), [], set()
    for m in MARKED_BLOCK.finditer(text):
        marked.add(m.start(2))
        if m[1] is None:
            continue
        source = ROOT / m[1]
        if not source.is_file():
            problems.append(f"{path.name}: {_line(text, m.start())} names {m[1]}, which does not exist")
            continue
        lines, at = [line.strip() for line in source.read_text().splitlines()], 0
        for line in m[2].splitlines():
            if line.strip() in ("", "..."):
                continue
            try:
                at = lines.index(line.strip(), at) + 1
            except ValueError:
                problems.append(f"{path.name}: the excerpt of {m[1]} at {_line(text, m.start())} has "
                                f"{line.strip()!r}, not in that file (after the lines before it)")
    problems += [f"{path.name}: {_line(text, m.start())} starts a Python block with neither "
                 "<!--excerpt FILE--> nor <!--sketch--> on the line before it"
                 for m in PYTHON_BLOCK.finditer(text) if m.end() not in marked]
    return problems


chapters = pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)


@chapters
def test_body_has_at_most_5000_words(path):
    problems = word_problems(path)
    assert not problems, "\n".join(problems)


@chapters
def test_reading_time_near_the_top_matches_the_length(path):
    problems = reading_time_problems(path)
    assert not problems, "\n".join(problems)


@chapters
def test_links_its_lab_appendix(path):
    problems = lab_link_problems(path)
    assert not problems, "\n".join(problems)


@chapters
def test_has_what_you_should_know(path):
    problems = what_you_should_know_problems(path)
    assert not problems, "\n".join(problems)


@chapters
def test_no_dates(path):
    problems = date_problems(path)
    assert not problems, "\n".join(problems)


@chapters
def test_no_machine_speed_remarks(path):
    problems = machine_remark_problems(path)
    assert not problems, "\n".join(problems)


@chapters
def test_code_excerpts_match_the_code(path):
    problems = excerpt_problems(path)
    assert not problems, "\n".join(problems)


def test_an_excerpt_that_drifted_from_its_file_is_found(tmp_path):
    page = tmp_path / "03-x.md"
    page.write_text("<!--excerpt minirl/core.py-->\n```python\ndef masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:\n...\nreturn 42\n```\n"
                    "<!--sketch-->\n```python\nanything = 1\n```\n```python\nunmarked = 2\n```\n")
    problems = excerpt_problems(page)
    assert len(problems) == 2, problems
    assert "'return 42'" in problems[0] and "neither" in problems[1]
