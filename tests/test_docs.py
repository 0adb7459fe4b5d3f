"""The book's links hold: every relative link and image path in the README, docs, chapters, their
lab appendices (chapters/lab/), exercises and notebooks points at a file that exists, and every figure
in chapters/figures/ is shown in a chapter or a lab appendix."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")                      # [text](target) and ![alt](target)


def documents():
    yield from [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md")),
                *sorted((ROOT / "chapters").glob("*.md")), *sorted((ROOT / "chapters" / "lab").glob("*.md")),
                ROOT / "exercises" / "README.md",
                ROOT / "standalone" / "README.md"]
    yield from sorted((ROOT / "notebooks").glob("*.ipynb"))


def text_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text()


@pytest.mark.parametrize("path", list(documents()), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    broken = []
    for target in LINK.findall(text_of(path)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue                                        # web links and in-page anchors
        file = target.split("#")[0]
        if file and not (path.parent / file).exists():
            broken.append(target)
    assert not broken, f"{path.name}: links to missing files: {broken}"


def test_every_figure_is_shown_in_a_chapter():
    """A figure shown only in a lab appendix (as ../figures/NAME) counts."""
    pages = [*(ROOT / "chapters").glob("*.md"), *(ROOT / "chapters" / "lab").glob("*.md")]
    shown = "\n".join(p.read_text() for p in pages)
    unshown = [f.name for f in (ROOT / "chapters" / "figures").glob("*.png") if f"figures/{f.name}" not in shown]
    assert not unshown, f"figures no chapter or lab appendix shows (show them or delete them): {unshown}"



# --- measured numbers come from results/ (benchmarks/render_numbers.py) ------------------------------
def test_every_marked_number_matches_its_results_file():
    """`make numbers` has been run: each number marked in README, chapters and READMEs is the one
    its results file gives, and every marker names a source that exists."""
    import subprocess
    import sys
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "render_numbers.py"), "--check"], capture_output=True,
                       text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr


# A table cell that reads like a measurement: a number with %, seconds, minutes or a ± spread.
MEASURED = re.compile(r"(?<![\w.$])\d[\d,]*(?:\.\d+)?\s?(?:%|s\b|min\b|±)")
# A header that announces measurements, over a body with decimals ("| held-out % | 89.6 / 91.0 |").
MEASURED_HEADER = re.compile(r"%|held-out|accuracy|seconds|wall|\bs per\b|\bs to\b|pass@|tokens/s|MFU", re.I)
DECIMAL = re.compile(r"(?<![\w.$])\d+\.\d+")
LEGACY = re.compile(r"<!--legacy: [^>]+-->")


def hand_typed_tables(text: str) -> list[tuple[int, bool]]:
    """(line, has a legacy note) of each Markdown table whose body holds a measured-looking number
    that no marker wrote: generated tables (<!--table-->) and marked numbers (<!--n-->) are skipped,
    and so are inline code and math (a flag like `--lr 1e-3`, an equation)."""
    text = re.sub(r"<!--table .*?<!--/table-->", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    lines, found, i = text.splitlines(), [], 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].startswith("|"):
            j += 1
        body = [re.sub(r"<!--n .*?<!--/n-->|`[^`]*`|\$[^$]*\$", "", row) for row in lines[i + 2:j]]
        header = re.sub(r"`[^`]*`|\$[^$]*\$", "", lines[i])
        if any(MEASURED.search(row) for row in body) or (
                MEASURED_HEADER.search(header) and any(DECIMAL.search(row) for row in body)):
            found.append((i + 1, i > 0 and bool(LEGACY.fullmatch(lines[i - 1].strip()))))
        i = j
    return found


def test_hand_typed_tables_are_found():
    page = ("| run | acc |\n|---|---|\n| a | 37.6% |\n\n| run | acc |\n|---|---|\n| a | <!--n h:a pct-->1%<!--/n--> |\n\n"
            "<!--table h:t-->\n| a |\n|---|\n| 5 s |\n<!--/table-->\n\n| flag |\n|---|\n| `--lr 3e-4` (12 s) |\n\n"
            "<!--legacy: an earlier start-->\n| x |\n|---|\n| 2.5 ± 0.1 |\n\n| seed | steps |\n|---|---|\n| 0 | 325 |\n\n"
            "| run | held-out % |\n|---|---|\n| a | 89.6 / 91.0 |\n\n| clip | lr |\n|---|---|\n| 0.2 | `3e-4` |\n")
    assert hand_typed_tables(page) == [(1, False), (15, False), (20, True), (28, False)]


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "chapters").glob("*.md")),
                                  *sorted((ROOT / "chapters" / "lab").glob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_of_measured_numbers_is_generated(path):
    """README and chapters: every table of measured numbers is generated from results/ (a <!--table-->
    block, or each number marked). A lab appendix may keep an older hand-typed table only under a
    <!--legacy: why--> line that says where it came from and why no results file backs it."""
    found = hand_typed_tables(path.read_text())
    allowed = path.parent.name == "lab"
    bad = [line for line, legacy in found if not (legacy and allowed)]
    assert not bad, (f"{path.relative_to(ROOT)}: hand-typed tables of measured numbers at lines {bad}: generate "
                     f"them from results/ (benchmarks/render_numbers.py)"
                     + ("" if not allowed else ", or mark an older one <!--legacy: why-->"))


def test_the_numbers_renderer_formats_checks_and_names_missing_sources(tmp_path):
    from benchmarks import render_numbers as numbers   # conftest puts the repository on sys.path
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "results.json").write_text(json.dumps(
        {"environment": {"cpu": "X"}, "numbers": {"acc": 0.3764, "t": 189.4, "n": 1394, "out": "line 1\nline 2\n",
                                                  "tab": "| a |\n|---|\n| 1 |\n"}}))
    results = numbers.load_results(tmp_path)
    text = ("<!--n a/b:acc pct-->?<!--/n--> <!--n a/b:t min-->?<!--/n--> <!--n a/b:n int-->1<!--/n--> "
            "<!--n a/b:env.cpu-->?<!--/n--> <!--n a/b:t s-->?<!--/n-->\n<!--block a/b:out-->\nold\n<!--/block-->\n"
            "<!--table a/b:tab-->\n| old |\n<!--/table-->")
    new, problems = numbers.render(text, results)
    assert problems == []
    assert ">37.6%<" in new and ">3 min 9 s<" in new and ">1,394<" in new and ">X<" in new and ">189 s<" in new
    assert "<!--block a/b:out-->\n```\nline 1\nline 2\n```\n<!--/block-->" in new
    assert "<!--table a/b:tab-->\n| a |\n|---|\n| 1 |\n<!--/table-->" in new
    assert numbers.render(new, results) == (new, [])                     # rendering is idempotent
    _, problems = numbers.render("<!--n a/b:nope pct-->1<!--/n--> <!--n c:acc-->1<!--/n-->", results)
    assert len(problems) == 2 and "no number 'nope'" in problems[0] and "no results/c" in problems[1]
    _, problems = numbers.render("<!--n a/b:acc pctx-->1<!--/n-->", results)
    assert "unknown format" in problems[0]


def test_results_files_say_where_they_were_measured():
    """Each committed results file names its command, CPU, kernel set, threads, torch and date."""
    files = sorted((ROOT / "results").rglob("results.json"))
    assert files
    for path in files:
        doc = json.loads(path.read_text())
        assert doc["command"] and doc["numbers"], path
        assert {"cpu", "cpu_capability", "threads", "torch", "date", "git_commit"} <= set(doc["environment"]), path
