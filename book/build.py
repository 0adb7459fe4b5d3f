"""Build the book as a static website: `make book` (python book/build.py).

Three steps, all offline once the tools are installed:

1. Generate the documentation tree (default build/book_src/, git-ignored) from the repository's own
   files, which are never changed: README.md (the landing page), chapters/*.md, chapters/lab/*.md,
   notebooks/*.ipynb, exercises/README.md and exercises/QUESTIONS.md, and every file they link to.
   The tree mirrors the repository's paths, so most relative links hold as they are; the rest are
   rewritten in the copies:
   - a link to a file that is not a page (minirl/grpo.py, results/headline/results.json, LICENSE)
     points at a page that shows the file (minirl/grpo.py.md -> minirl/grpo.py.html): every such
     file is rendered as a page of its own, the whole of minirl/ included;
   - a figure chapters/figures/NAME.png is shown as NAME.svg where that file exists;
   - a link to a folder points at its README.md;
   - in notebooks, whose markdown MkDocs does not rewrite, links name the built pages (.html).
   Each chapter, lab appendix and notebook gets one line of links to its companions (book/companions.toml):
   the chapter, its notebook, exercises and code files.
2. Vendor MathJax (pinned in book/package.json, installed with npm into build/book_vendor/ the first
   time, then reused) into the tree, so the site typesets its math without a network.
3. Run MkDocs with book/mkdocs.yml (Material theme, mkdocs-jupyter with execute: false: notebooks are
   shown with the outputs saved in them, never run) into site/.

    python book/build.py                      # build/book_src -> site/
    python book/build.py --site DIR --src DIR
    python book/build.py --tree-only          # step 1 only (needs no MkDocs)
"""
from __future__ import annotations

import argparse
import json
import posixpath
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib                                # Python 3.11+
except ModuleNotFoundError:                       # Python 3.10: the book extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
DEFAULT_SRC = ROOT / "build" / "book_src"
DEFAULT_SITE = ROOT / "site"
VENDOR = ROOT / "build" / "book_vendor"

PAGE_SUFFIXES = (".md", ".ipynb")
ASSET_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")
LANGUAGES = {".py": "python", ".json": "json", ".cff": "yaml", ".toml": "toml", ".yml": "yaml",
             ".yaml": "yaml", ".sh": "bash", ".txt": "text", ".jsonl": "json", ".cfg": "ini", ".ini": "ini"}
DATA_SUFFIXES = (".json", ".jsonl")        # shown as pages but left out of the search index
LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")   # [text](target "title") and ![alt](target)
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def seeds() -> list[str]:
    """The files the book is made of, as repository-relative POSIX paths (the pages they link to follow)."""
    files = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "chapters").glob("*.md")),
             *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "chapters" / "lab").glob("*.md")),
             *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb")),
             "exercises/README.md", "exercises/QUESTIONS.md",
             *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "minirl").glob("*.py"))]
    for entry in companions().values():
        files += [entry["notebook"], entry["exercises"], *entry["code"]]
    return list(dict.fromkeys(f for f in files if (ROOT / f).is_file()))


def companions() -> dict[str, dict]:
    """book/companions.toml: chapter name -> {notebook, exercises, code}."""
    with open(BOOK / "companions.toml", "rb") as f:
        return tomllib.load(f)["chapters"]


def chapter_of(path: str) -> str | None:
    """The chapter a chapter page, lab appendix or notebook belongs to (its companions.toml key)."""
    for name, entry in companions().items():
        if path in (f"chapters/{name}.md", f"chapters/lab/{name}.md", entry["notebook"]):
            return name
    return None


# --- where a link goes in the built tree ---------------------------------------------------------
def page_source(path: str) -> str:
    """The file in the tree that shows the repository file `path`: itself for a page or an image,
    `path`.md for any other file (a code or data file rendered as a page)."""
    if path.endswith(PAGE_SUFFIXES) or path.lower().endswith(ASSET_SUFFIXES):
        return path
    return path + ".md"


def page_url(source: str) -> str:
    """The built page of a file in the tree (MkDocs with use_directory_urls: false)."""
    if source.endswith(".ipynb"):
        return source[:-len(".ipynb")] + ".html"
    if source.endswith(".md"):
        head, name = posixpath.split(source[:-len(".md")])
        name = "index" if name in ("README", "index") else name
        return posixpath.join(head, name + ".html")
    return source


@dataclass
class Tree:
    """The pages and assets of the book (repository-relative paths of the original files)."""
    pages: dict[str, str] = field(default_factory=dict)      # path -> "markdown" | "notebook" | "file"
    assets: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)         # "page: target" for links to nothing

    def add(self, path: str) -> None:
        if path.lower().endswith(ASSET_SUFFIXES):
            self.assets.add(path)
        elif path.endswith(".md"):
            self.pages.setdefault(path, "markdown")
        elif path.endswith(".ipynb"):
            self.pages.setdefault(path, "notebook")
        else:
            self.pages.setdefault(path, "file")


def resolve(page: str, target: str, tree: Tree, final_urls: bool) -> str:
    """The rewritten link `target` of the page `page`; records what it points at in `tree`.
    final_urls: write the built page's .html (notebooks) instead of the tree's source file (markdown,
    which MkDocs rewrites itself)."""
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
        return target                                            # web links, in-page anchors
    file, _, anchor = target.partition("#")
    if not file:
        return target
    path = posixpath.normpath(posixpath.join(posixpath.dirname(page), file))
    if path.startswith("../") or not (ROOT / path).exists():
        tree.missing.append(f"{page}: {target}")
        return target
    if (ROOT / path).is_dir():
        if not (ROOT / path / "README.md").is_file():
            tree.missing.append(f"{page}: {target} (a folder without README.md)")
            return target
        path = posixpath.join(path, "README.md")
    svg = path[:-len(".png")] + ".svg"
    if path.startswith("chapters/figures/") and path.endswith(".png") and (ROOT / svg).is_file():
        path = svg                                               # the vector figure where there is one
    tree.add(path)
    new = page_source(path)
    if final_urls:
        new = page_url(new)
    new = posixpath.relpath(new, posixpath.dirname(page) or ".")
    return new + (f"#{anchor}" if anchor else "")


def rewrite_markdown(text: str, page: str, tree: Tree, final_urls: bool = False) -> str:
    """Rewrite the links of a markdown text, leaving fenced code blocks alone."""
    out, fence = [], None
    for line in text.splitlines(keepends=True):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
        elif m:
            fence = m.group(1)
        else:
            line = LINK.sub(lambda g: g.group(1) + resolve(page, g.group(2), tree, final_urls) + g.group(3), line)
        out.append(line)
    return "".join(out)


def companion_links(page: str) -> str | None:
    """One line of markdown links from `page` to its chapter's chapter page, notebook, exercises and code."""
    name = chapter_of(page)
    if name is None:
        return None
    entry = companions()[name]
    here = posixpath.dirname(page)

    def link(path: str, label: str | None = None) -> str:
        return f"[{label or posixpath.basename(path)}]({posixpath.relpath(path, here)})"

    parts = []
    if page != f"chapters/{name}.md":
        parts.append("**Chapter:** " + link(f"chapters/{name}.md", f"chapter {int(name[:2])}"))
    if page != entry["notebook"]:
        parts.append("**Notebook:** " + link(entry["notebook"], Path(entry["notebook"]).stem))
    parts.append("**Exercises:** " + link(entry["exercises"]))
    parts.append("**Code:** " + ", ".join(link(p) for p in entry["code"]))
    return " · ".join(parts)


def insert_after_first_paragraph(text: str, block: str) -> str:
    """Put `block` after the first paragraph under the page's title (the reading time and lab link of a
    chapter, the link back of a lab appendix), or under the title where there is no such paragraph."""
    lines = text.splitlines(keepends=True)
    i = next((k for k, line in enumerate(lines) if line.startswith("# ")), -1) + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and not lines[i].startswith(("#", "```", "~~~", "|", ">")):
        while i < len(lines) and lines[i].strip():
            i += 1
    return "".join(lines[:i]) + "\n" + block + "\n\n" + "".join(lines[i:])


# --- the pages ------------------------------------------------------------------------------------
def markdown_page(path: str, tree: Tree) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    line = companion_links(path)
    if line:
        text = insert_after_first_paragraph(text, '!!! abstract "Notebook, exercises and code"\n    ' + line)
    return rewrite_markdown(text, path, tree)


def notebook_page(path: str, tree: Tree) -> str:
    """The notebook with its saved outputs, its markdown's links pointing at built pages, a cell of
    companion links under its title, and no widget state (no widget is shown: the state would only
    make the page load a widget manager from the network)."""
    nb = json.loads((ROOT / path).read_text(encoding="utf-8"))
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = rewrite_markdown(source, path, tree, final_urls=True)
    line = companion_links(path)
    if line:
        line = rewrite_markdown(line + "\n\n*The outputs are the ones saved in the notebook when it was last "
                                "run; the website shows them and runs nothing.*", path, tree, final_urls=True)
        cell = {"cell_type": "markdown", "metadata": {}, "source": line}
        if nb["cells"] and nb["cells"][0]["cell_type"] == "markdown":
            first = nb["cells"][0]["source"]
            first = "".join(first) if isinstance(first, list) else first
            at = 1 if first.lstrip().startswith("# ") else 0
        else:
            at = 0
        nb["cells"].insert(at, cell)
    if nb.get("nbformat", 4) >= 4 and nb.get("nbformat_minor", 0) >= 5:
        for k, cell in enumerate(nb["cells"]):
            cell.setdefault("id", f"book-{k}")
    return json.dumps(nb, ensure_ascii=False, indent=1)


def file_page(path: str) -> str:
    """A code or data file shown as a page: its path as the title and the file in one code block."""
    text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
    suffix = Path(path).suffix
    language = LANGUAGES.get(suffix, "text")
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    front = "---\nsearch:\n  exclude: true\n---\n\n" if suffix in DATA_SUFFIXES else ""
    folder = posixpath.dirname(path)
    where = f"in the folder `{folder}/`" if folder else "at the root"
    return (f"{front}# {path}\n\nThe file `{path}` of the repository ({where}), as it was when this book was built.\n\n"
            f"{ticks}{language} linenums=\"1\"\n{text}{'' if text.endswith(chr(10)) else chr(10)}{ticks}\n")


# --- the navigation -------------------------------------------------------------------------------
def title_of(path: str) -> str:
    """A markdown page's first H1, without markup."""
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return re.sub(r"[`*_]", "", line[2:]).strip()
    return path


def navigation(tree: Tree) -> list:
    """MkDocs' nav: the chapters in order (previous/next walk through them), then the lab appendices,
    the notebooks, the exercises, the other pages, and the code and data files."""
    pages = dict(tree.pages)

    def take(paths, title=None):
        out = []
        for p in paths:
            if p in pages:
                kind = pages.pop(p)
                label = title(p) if title else (title_of(p) if kind == "markdown" else p)
                out.append({label: page_source(p)})
        return out

    names = companions()
    chapters = sorted(p for p in pages if re.fullmatch(r"chapters/[^/]+\.md", p))
    labs = ["chapters/lab/README.md", *sorted(p for p in pages if re.fullmatch(r"chapters/lab/[^/]+\.md", p))]
    notebooks = sorted(p for p in pages if p.startswith("notebooks/") and p.endswith(".ipynb"))

    def notebook_title(p):                         # its first H1, "Chapter 3 — REINFORCE" -> "3. REINFORCE"
        cells = json.loads((ROOT / p).read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            m = re.search(r"^# (.+)$", source, re.M) if cell["cell_type"] == "markdown" else None
            if m:
                m2 = re.match(r"Chapter (\d+)\s*(?:—|:|\.)\s*(.*)", m.group(1).strip())
                return f"{m2.group(1)}. {m2.group(2)}" if m2 else m.group(1).strip()
        return Path(p).stem

    def chapter_title(p):                          # "Chapter 7 — GRPO: ...", "7. GRPO: ..." -> "7. GRPO: ..."
        title = title_of(p)
        m = re.match(r"(?:Lab appendix to chapter |Chapter )?(\d+)(?:\.| —)\s*(.*)", title)
        return f"{m.group(1)}. {m.group(2)}" if m else title

    nav = [{"The book": page_source("README.md")} if "README.md" in pages else None]
    pages.pop("README.md", None)
    nav += [{"Chapters": take(chapters, chapter_title)}, {"Lab appendices": take(labs, chapter_title)},
            {"Notebooks": take(notebooks, notebook_title)}]
    exercises = ["exercises/README.md", "exercises/QUESTIONS.md", "exercises/ANSWERS.md",
                 *sorted(names[n]["exercises"] for n in names)]
    nav.append({"Exercises": take(exercises)})
    nav.append({"More of the repository": take(sorted(p for p, k in pages.items() if k == "markdown"))})
    nav.append({"Code": take(sorted(p for p, k in pages.items() if p.endswith(".py")))})
    nav.append({"Results and other files": take(sorted(pages))})
    return [entry for entry in nav if entry and all(v for v in entry.values())]


# --- the tree ---------------------------------------------------------------------------------------
def generate(src: Path = DEFAULT_SRC) -> Tree:
    """Write the documentation tree into `src` (emptied first) and return what it holds."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    tree = Tree()
    for path in seeds():
        tree.add(path)
    done: set[str] = set()
    while True:                                          # pages link to pages: follow until none is new
        todo = [p for p in tree.pages if p not in done]
        if not todo:
            break
        for path in todo:
            done.add(path)
            kind = tree.pages[path]
            if kind == "markdown":
                text = markdown_page(path, tree)
            elif kind == "notebook":
                text = notebook_page(path, tree)
            else:
                text = file_page(path)
            out = src / page_source(path)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
    for path in sorted(tree.assets):
        out = src / path
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, out)
    shutil.copytree(BOOK / "assets", src / "assets", dirs_exist_ok=True)
    (src / "nav.json").write_text(json.dumps(navigation(tree), indent=1), encoding="utf-8")
    return tree


def vendor_mathjax(src: Path) -> None:
    """Copy MathJax (the version book/package.json pins) into the tree's assets/mathjax/; install it with
    npm into build/book_vendor/ first if it is not there yet (the one step that needs the registry)."""
    version = json.loads((BOOK / "package.json").read_text())["dependencies"]["mathjax"]
    package = VENDOR / "node_modules" / "mathjax"
    installed = package / "package.json"
    if not installed.is_file() or json.loads(installed.read_text())["version"] != version:
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("book: MathJax is not vendored yet and npm is not installed (apt-get install -y npm), "
                     f"or put the mathjax@{version} npm package in {package}")
        VENDOR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BOOK / "package.json", VENDOR / "package.json")
        print(f"book: installing mathjax@{version} with npm into {VENDOR.relative_to(ROOT)}/", flush=True)
        subprocess.run([npm, "install", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=VENDOR, check=True)
    # the SVG build with every TeX extension, plus the components it may load on demand (menu, a11y)
    skip = shutil.ignore_patterns("tex-chtml*", "tex-mml-*", "mml-*", "tex-svg.js", "chtml*", "node-main*")
    shutil.copytree(package / "es5", src / "assets" / "mathjax", ignore=skip)
    shutil.copyfile(package / "LICENSE", src / "assets" / "mathjax" / "LICENSE")


def build_site(src: Path = DEFAULT_SRC, site: Path = DEFAULT_SITE, quiet: bool = True) -> None:
    """Run MkDocs on the tree (book/mkdocs.yml) into `site`."""
    import logging

    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    if quiet:
        logging.getLogger("mkdocs").setLevel(logging.WARNING)
        logging.getLogger("traitlets").setLevel(logging.ERROR)   # nbconvert: "Alternative text is missing ..."
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    config = load_config(config_file=str(BOOK / "mkdocs.yml"), docs_dir=str(src), site_dir=str(site))
    # the notebooks' HTML, cached by their content (the plugin's default folder is relative to the working one)
    config["plugins"]["mkdocs-jupyter"].config["cache_dir"] = str(ROOT / "build" / "book_cache")
    build(config)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="the generated documentation tree")
    parser.add_argument("--site", type=Path, default=DEFAULT_SITE, help="the built website")
    parser.add_argument("--tree-only", action="store_true", help="generate the tree, build nothing")
    args = parser.parse_args(argv)
    t0 = time.time()
    tree = generate(args.src.resolve())
    for link in tree.missing:
        print(f"book: link to a missing file: {link}", file=sys.stderr)
    kinds = {k: sum(v == k for v in tree.pages.values()) for k in ("markdown", "notebook", "file")}
    print(f"book: {args.src}: {kinds['markdown']} markdown pages, {kinds['notebook']} notebooks, "
          f"{kinds['file']} code and data files, {len(tree.assets)} figures", flush=True)
    if args.tree_only:
        return 0
    vendor_mathjax(args.src.resolve())
    build_site(args.src.resolve(), args.site.resolve())
    print(f"book: built {args.site} in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
