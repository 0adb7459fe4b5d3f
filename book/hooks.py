"""MkDocs hooks of the book's website (book/mkdocs.yml).

- on_config: the navigation is the one book/build.py wrote into the generated tree (nav.json).
- on_post_page, on notebook pages:
  - the scripts nbconvert's template puts in them to load MathJax 2 and Mermaid from a CDN go: the
    site typesets math with its own MathJax (assets/mathjax/) and has no Mermaid diagram, so the
    pages load nothing from the network;
  - an in-page link #x that names no heading, where exactly one heading's anchor starts with "x-"
    or holds x's words in order, points at that heading (a notebook's table of contents written
    before a heading grew a word).
"""
import html
import json
import re
from pathlib import Path

CDN_SCRIPTS = [
    re.compile(r'<script src="">\s*</script>'),                                    # the empty MathJax URL
    re.compile(r'<script type="text/x-mathjax-config">.*?</script>', re.S),      # MathJax 2's settings
    re.compile(r'<script type="module">(?:(?!</script>).)*?mermaid.*?</script>', re.S),
]


def on_config(config, **kwargs):
    nav = Path(config["docs_dir"]) / "nav.json"
    if nav.is_file():
        config["nav"] = json.loads(nav.read_text(encoding="utf-8"))
    return config


def on_post_page(output, page, config, **kwargs):
    if page.file.src_uri.endswith(".ipynb"):
        for pattern in CDN_SCRIPTS:
            output = pattern.sub("", output)
        output = fix_anchors(output)
    return output


def fix_anchors(output: str) -> str:
    ids = {html.unescape(i) for i in re.findall(r'\sid="([^"]+)"', output)}

    def fix(m):
        fragment = html.unescape(m.group(1))
        if fragment in ids:
            return m.group(0)
        candidates = [i for i in ids if i.startswith(fragment + "-")] or [i for i in ids if within(fragment, i)]
        return f'href="#{html.escape(candidates[0])}"' if len(candidates) == 1 else m.group(0)
    return re.sub(r'href="#([^"]+)"', fix, output)


def within(fragment: str, anchor: str) -> bool:
    """The words of `fragment` appear in `anchor` in order, the first one first (4b-the-numbers in
    4b-compile-the-numbers)."""
    words, rest = fragment.split("-"), anchor.split("-")
    if not words or not rest or words[0] != rest[0]:
        return False
    it = iter(rest[1:])
    return all(w in it for w in words[1:])
