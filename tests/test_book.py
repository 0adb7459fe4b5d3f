"""The book as a static website (book/, `make book`, `make book-check`).

Needs the "book" extra (`pip install -e ".[book]"`: MkDocs, Material, mkdocs-jupyter, Selenium); the
whole file is skipped without it, so `make test` runs it only where the extra is installed. The
browser check also needs Debian's Chromium and its driver (`apt-get install -y chromium
chromium-driver`) and MathJax (npm installs it the first time, book/package.json); it is skipped,
with the reason, when one is missing.
"""
import importlib.util
import json
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason='the book needs the "book" extra: pip install -e ".[book]"')
pytest.importorskip("material", reason='the book needs the "book" extra: pip install -e ".[book]"')
pytest.importorskip("mkdocs_jupyter", reason='the book needs the "book" extra: pip install -e ".[book]"')

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    """book/check.py loads book/build.py the same way; "build" and "check" are too common to import by name."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


build = _load("minirl_book_build", ROOT / "book" / "build.py")

CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.md"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    src = tmp_path_factory.mktemp("book_src")
    return src, build.generate(src)


@pytest.fixture(scope="module")
def site(tree, tmp_path_factory):
    """The site built from the tree (MathJax vendored: npm installs it the first time)."""
    src, _ = tree
    if not (build.VENDOR / "node_modules" / "mathjax").is_dir() and shutil.which("npm") is None:
        pytest.skip("MathJax is not vendored (build/book_vendor) and npm is not installed to fetch it")
    site = tmp_path_factory.mktemp("site")
    t0 = time.time()
    build.vendor_mathjax(src)
    build.build_site(src, site)
    return site, time.time() - t0


def test_every_chapter_has_its_companions():
    """book/companions.toml names, for every chapter, a notebook, an exercise file and code files that exist."""
    companions = build.companions()
    assert sorted(companions) == CHAPTERS
    for name, entry in companions.items():
        for path in [entry["notebook"], entry["exercises"], *entry["code"]]:
            assert (ROOT / path).is_file(), f"{name}: {path}"


def test_the_tree_mirrors_the_book_and_rewrites_its_links(tree):
    src, t = tree
    for name in CHAPTERS:
        text = (src / "chapters" / f"{name}.md").read_text()
        entry = build.companions()[name]
        assert f"](../{entry['notebook']})" in text                   # the notebook, and the code as pages
        assert all(f"](../{p}.md)" in text for p in entry["code"])
    assert (src / "README.md").is_file() and (src / "exercises" / "README.md").is_file()
    assert (src / "exercises" / "QUESTIONS.md").is_file()
    labs = {p.name for p in (ROOT / "chapters" / "lab").glob("*.md")}
    assert {p.name for p in (src / "chapters" / "lab").glob("*.md")} == labs
    assert not t.missing, t.missing
    link = re.compile(r"\]\(([^)\s#]+)")
    for page in [src / p for p, kind in t.pages.items() if kind == "markdown"]:
        for target in link.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(src)}: {target}"
            assert target.endswith((".md", ".ipynb", ".svg", ".png")), f"{page.relative_to(src)}: {target}"
            if "figures/" in target and target.endswith(".png"):                     # the SVG where there is one
                assert not (page.parent / target).with_suffix(".svg").exists(), target
    code = src / "minirl" / "grpo.py.md"                                              # a code file as a page
    assert (ROOT / "minirl" / "grpo.py").read_text() in code.read_text()


def test_notebooks_keep_their_outputs_and_link_to_built_pages(tree):
    src, _ = tree
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        original, copy = json.loads(path.read_text()), json.loads((src / "notebooks" / path.name).read_text())
        outputs = [c.get("outputs") for c in original["cells"] if c["cell_type"] == "code"]
        assert [c.get("outputs") for c in copy["cells"] if c["cell_type"] == "code"] == outputs
        assert "widgets" not in copy["metadata"]
        markdown = "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                             for c in copy["cells"] if c["cell_type"] == "markdown")
        assert "../chapters/" in markdown and ".py.html" in markdown          # the companion links
        assert not re.search(r"\]\((?![a-z]+:|#)[^)]*\.(?:md|ipynb|py)(?:#[^)]*)?\)", markdown), path.name


def test_the_site_builds_offline_within_two_minutes(site):
    site, seconds = site
    assert seconds < 120, f"the book took {seconds:.0f} s to build"
    for page in [*(ROOT / "chapters").glob("*.md"), *(ROOT / "chapters" / "lab").glob("[0-9]*.md"),
                 *(ROOT / "notebooks").glob("*.ipynb")]:
        assert (site / page.relative_to(ROOT)).with_suffix(".html").is_file(), page
    assert (site / "index.html").is_file() and (site / "search" / "search_index.json").is_file()
    assert (site / "assets" / "mathjax" / "tex-svg-full.js").is_file()
    external = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not external.search(text), f"{page.relative_to(site)} loads a resource from the network"
    notebook = (site / "notebooks" / "03_reinforce.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in notebook                            # the saved outputs, figures included


def test_every_page_in_a_headless_browser(site, tmp_path):
    """book/check.py over the built site: no console error, every image loaded, every internal link and
    anchor resolves, every math block typeset, and search finds each chapter by a word only it has."""
    check = _load("minirl_book_check", ROOT / "book" / "check.py")
    missing = check.missing_tools()
    if missing:
        pytest.skip("the browser check needs: " + "; ".join(missing))
    site, _ = site
    report = check.check(site, tmp_path)
    assert not report["failures"], "\n".join(report["failures"])
    counts = report["counts"]
    assert counts["chapters"] == len(CHAPTERS) and counts["searches"] == len(CHAPTERS)
    assert counts["images"] > 0 and counts["math blocks"] > 0 and counts["notebook math"] > 0
    assert all(Path(p).is_file() for p in report["screenshots"].values())
