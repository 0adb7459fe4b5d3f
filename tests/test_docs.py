"""The book's links hold: every relative link and image path in the README, docs, chapters,
exercises and notebooks points at a file that exists, and every figure in chapters/figures/ is
shown in a chapter."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")                      # [text](target) and ![alt](target)


def documents():
    yield from [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md")),
                *sorted((ROOT / "chapters").glob("*.md")), ROOT / "exercises" / "README.md",
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
    shown = "\n".join(p.read_text() for p in (ROOT / "chapters").glob("*.md"))
    unshown = [f.name for f in (ROOT / "chapters" / "figures").glob("*.png") if f"figures/{f.name}" not in shown]
    assert not unshown, f"figures no chapter shows (show them or delete them): {unshown}"

