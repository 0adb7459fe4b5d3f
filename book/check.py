"""Check the book's website in a real browser: `make book-check` (python book/check.py).

Builds the site (book/build.py), serves it on 127.0.0.1 and drives headless Chromium (Debian's
`chromium` and `chromium-driver`) through Selenium over every page, with every address but
127.0.0.1 unreachable (the browser's proxy is a closed local port, loopback excepted), so a page
that needs the network shows up as an error. On every page:

- no error in the browser's console (a failed load, a script error, a MathJax complaint);
- every resource the page loaded came from the site itself (or is a data: URL);
- every image loaded (naturalWidth > 0);
- every link into the site resolves: the file exists and so does the #anchor it names;
- every math block was typeset by MathJax (no MathJax error, and no raw TeX left in the text).

Then the search box: for each chapter, a word that only that chapter's page contains (found in the
built search index) must bring up that chapter and nothing else. Three screenshots (a chapter with
equations, a notebook with a figure, the search results) go into build/book-check/, with
report.json (the counts). Exit status 1 on any failure, each one listed.

    python book/check.py                 # build into site/, then check it
    python book/check.py --no-build      # check the site/ that is there
    python book/check.py --site DIR --out DIR
"""
from __future__ import annotations

import argparse
import functools
import html
import json
import re
import sys
import threading
import time
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    """A module of book/ by its file (the names "build" and "check" are too common to import by name)."""
    import importlib.util
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


build = _load("minirl_book_build", Path(__file__).resolve().parent / "build.py")

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)
DEFAULT_OUT = ROOT / "build" / "book-check"
SHOTS = {"chapter": "chapters/03-reinforce.html", "notebook": "notebooks/03_reinforce.html"}
PAGE_TIMEOUT_S = 30

# Runs in the page once it has loaded: waits for MathJax's first typesetting, then reports.
PAGE_REPORT_JS = r"""
const done = arguments[arguments.length - 1];
const t0 = Date.now();
function report(mathjax) {
  const article = document.querySelector("article") || document.body;
  const arithmatex = Array.from(article.querySelectorAll(".arithmatex"));
  const notebookMath = Array.from(article.querySelectorAll(".jp-RenderedMarkdown mjx-container"));
  // the text a reader sees, code and typeset math left out
  const skip = "pre, code, mjx-container, script, style, textarea, .highlight";
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const shown = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest(skip) && parent.getClientRects().length) shown.push(walker.currentNode.nodeValue);
  }
  done({
    mathjax: mathjax,
    title: document.title,
    images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, complete: i.complete,
                                                  width: i.naturalWidth})),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    resources: performance.getEntriesByType("resource").map(e => e.name),
    math_blocks: arithmatex.length,
    math_untypeset: arithmatex.filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.slice(0, 80)),
    notebook_math: notebookMath.length,
    math_errors: Array.from(document.querySelectorAll("mjx-merror, [data-mjx-error]"))
                   .map(e => e.getAttribute("data-mjx-error") || e.textContent).slice(0, 5),
    text: shown.join(""),
    footer: Array.from(document.querySelectorAll(".md-footer__link"))
              .map(a => a.getAttribute("aria-label") || a.textContent.trim()),
  });
}
(function wait() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => report("ok"), e => report("failed: " + e));
  } else if (Date.now() - t0 > 15000) {
    report("MathJax did not load");
  } else {
    setTimeout(wait, 50);
  }
})();
"""

RAW_TEX = re.compile(r"\$[^$\s][^$\n]*?\$|\\\(|\\\)|\\\[|\\\]|\\(?:frac|sum|mathbb|theta|pi|nabla)\b")


def find(paths) -> str | None:
    return next((p for p in paths if Path(p).exists()), None)


def missing_tools() -> list[str]:
    """What `make book-check` needs that is not installed (empty when it can run)."""
    missing = []
    for module, package in (("mkdocs", "mkdocs"), ("material", "mkdocs-material"),
                            ("mkdocs_jupyter", "mkdocs-jupyter"), ("selenium", "selenium")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"{package} (pip install -e \".[book]\")")
    if not find(CHROMIUM):
        missing.append("chromium (apt-get install -y chromium chromium-driver)")
    if not find(CHROMEDRIVER):
        missing.append("chromedriver (apt-get install -y chromium chromium-driver)")
    return missing


# --- the local server -----------------------------------------------------------------------------
class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site: Path):
    """Serve `site` on 127.0.0.1 (a free port) in a thread; returns (server, base URL)."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = find(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-extensions",
                # the network is off: every request that is not to loopback goes to a closed local port
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>;127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the driver named explicitly: Selenium then looks for nothing on the network
    driver = webdriver.Chrome(service=Service(executable_path=find(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    return driver


# --- links ----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def anchors_of(path: Path) -> frozenset:
    text = path.read_text(encoding="utf-8", errors="replace")
    return frozenset(html.unescape(m) for m in re.findall(r'\b(?:id|name)="([^"]+)"', text))


def check_link(url: str, base: str, site: Path) -> str | None:
    """None if the internal link `url` resolves (file, and anchor if any), else what is wrong."""
    parts = urlsplit(url)
    rel = unquote(parts.path[len(urlsplit(base).path):])
    target = site / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"no file {rel or '/'}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in anchors_of(target):
        return f"no anchor #{fragment} in {rel}"
    return None


# --- search ---------------------------------------------------------------------------------------
def unique_terms(site: Path) -> dict[str, str]:
    """For each chapter page, a word of its text that no other page of the search index has, nor any
    word sharing its first 6 letters (the search matches prefixes and word stems); the one the
    chapter uses most."""
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    words: dict[str, Counter] = {}
    for doc in index["docs"]:
        page = doc["location"].split("#")[0]
        text = re.sub(r"<[^>]+>", " ", doc.get("title", "") + " " + doc.get("text", ""))
        text = re.sub(r"\\[A-Za-z]+", " ", text)                 # TeX commands are not words a reader types
        words.setdefault(page, Counter()).update(w.lower() for w in re.findall(r"[A-Za-z]+", text))
    terms = {}
    for page, counter in words.items():
        if not re.fullmatch(r"chapters/\d\d-[^/]+\.html", page):
            continue
        others = {w[:6] for p, c in words.items() if p != page for w in c}
        candidates = [(n, w) for w, n in counter.items() if len(w) >= 8 and w[:6] not in others]
        if candidates:
            terms[page] = max(candidates, key=lambda nw: (nw[0], nw[1]))[1]
    return terms


def search(driver, base: str, term: str) -> list[str]:
    """Type `term` into the site's search box; the result links (page URLs, relative to the site)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(base + "index.html")
    box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")
    if not box.is_displayed():                                   # a narrow window: the header's search button
        driver.find_element(By.CSS_SELECTOR, "label.md-header__button[for='__search']").click()
        WebDriverWait(driver, PAGE_TIMEOUT_S).until(lambda d: box.is_displayed())
    box.click()
    box.send_keys(term)

    def results(d):
        links = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, ".md-search-result__item > a")]
        meta = d.find_element(By.CSS_SELECTOR, ".md-search-result__meta").text
        return links if links or "No matching" in meta else False
    links = WebDriverWait(driver, PAGE_TIMEOUT_S).until(results)
    return [urlsplit(href).path[len(urlsplit(base).path):] for href in links]


def screenshot_at(driver, url: str, selector: str, path: Path) -> None:
    """Load `url`, scroll the first element matching `selector` near the top, and take a screenshot."""
    driver.get(url)
    driver.execute_async_script(PAGE_REPORT_JS)            # waits for MathJax
    driver.execute_script("const e = document.querySelector(arguments[0]);"
                          "if (e) { e.scrollIntoView(); window.scrollBy(0, -120); }", selector)
    time.sleep(0.3)
    driver.save_screenshot(str(path))


# --- the whole check ------------------------------------------------------------------------------
def check(site: Path, out: Path) -> dict:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if p.name != "404.html"
                   and not p.relative_to(site).as_posix().startswith("assets/"))
    failures: list[str] = []
    counts = Counter()
    targets = set()
    server, base = serve(site)
    driver = browser()
    try:
        for rel in pages:
            url = base + rel
            driver.get(url)
            info = driver.execute_async_script(PAGE_REPORT_JS)
            counts["pages"] += 1
            for entry in driver.get_log("browser"):
                if entry["level"] in ("SEVERE", "ERROR"):
                    failures.append(f"{rel}: console error: {entry['message']}")
            if info["mathjax"] != "ok":
                failures.append(f"{rel}: MathJax: {info['mathjax']}")
            for resource in info["resources"]:
                if not resource.startswith((base, "data:", "blob:")):
                    failures.append(f"{rel}: loads {resource} from outside the site")
            for image in info["images"]:
                counts["images"] += 1
                if not image["complete"] or image["width"] == 0:
                    failures.append(f"{rel}: image not loaded: {image['src'][:100]}")
            for link in info["links"]:
                if link.startswith(base):
                    counts["internal links"] += 1
                    targets.add(link)
                    problem = check_link(link, base, site)
                    if problem:
                        failures.append(f"{rel}: link {link[len(base):]}: {problem}")
                elif link.startswith(("http://", "https://")):
                    counts["external links (not followed)"] += 1
            counts["math blocks"] += info["math_blocks"]
            counts["notebook math"] += info["notebook_math"]
            for tex in info["math_untypeset"]:
                failures.append(f"{rel}: math not typeset: {tex}")
            for error in info["math_errors"]:
                failures.append(f"{rel}: MathJax error: {error}")
            for raw in sorted(set(RAW_TEX.findall(info["text"])))[:5]:
                failures.append(f"{rel}: raw TeX left in the text: {raw[:80]}")
            if re.fullmatch(r"chapters/\d\d-[^/]+\.html", rel):
                counts["chapters"] += 1
                if "Reading time" not in info["text"]:
                    failures.append(f"{rel}: no reading time")
                if not any("notebooks/" in link for link in info["links"]) or ".py.html" not in " ".join(info["links"]):
                    failures.append(f"{rel}: no link to its notebook or code")
            if not info["footer"] and rel != "index.html":
                failures.append(f"{rel}: no previous/next links")
        terms = unique_terms(site)
        for page in sorted(p for p in pages if re.fullmatch(r"chapters/\d\d-[^/]+\.html", p)):
            term = terms.get(page)
            if term is None:
                failures.append(f"search: no word found that only {page} contains")
                continue
            found = search(driver, base, term)
            counts["searches"] += 1
            hits = sorted({f.split("#")[0] for f in found})
            if hits != [page]:
                failures.append(f"search: '{term}' (only in {page}) found {hits or 'nothing'}")
        out.mkdir(parents=True, exist_ok=True)
        shots = {}
        for name, rel in SHOTS.items():
            path = out / f"{name}.png"
            selector = "div.arithmatex" if name == "chapter" else ".jp-OutputArea-output img"
            screenshot_at(driver, base + rel, selector, path)
            shots[name] = str(path)
        chapter = SHOTS["chapter"]
        search(driver, base, terms.get(chapter, "baseline"))
        time.sleep(0.3)
        driver.save_screenshot(str(out / "search.png"))
        shots["search"] = str(out / "search.png")
    finally:
        driver.quit()
        server.shutdown()
    counts["distinct internal links"] = len(targets)
    report = {"site": str(site), "counts": dict(counts), "search_terms": terms, "screenshots": shots,
              "failures": failures}
    (out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, default=build.DEFAULT_SITE)
    parser.add_argument("--src", type=Path, default=build.DEFAULT_SRC)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="screenshots and report.json")
    parser.add_argument("--no-build", action="store_true", help="check the site that is there")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print("book-check needs: " + "; ".join(missing), file=sys.stderr)
        return 2
    if not args.no_build:
        build.main(["--src", str(args.src), "--site", str(args.site)])
    t0 = time.time()
    report = check(args.site.resolve(), args.out.resolve())
    for failure in report["failures"]:
        print("FAIL " + failure)
    counts = report["counts"]
    print(f"book-check: {counts.get('pages', 0)} pages ({counts.get('chapters', 0)} chapters), "
          f"{counts.get('images', 0)} images, {counts.get('internal links', 0)} internal links "
          f"({counts.get('distinct internal links', 0)} distinct; "
          f"+{counts.get('external links (not followed)', 0)} external, not followed), "
          f"{counts.get('math blocks', 0)} math blocks + {counts.get('notebook math', 0)} in notebooks, "
          f"{counts.get('searches', 0)} searches; {len(report['failures'])} failures; {time.time() - t0:.0f} s")
    for name, path in report["screenshots"].items():
        print(f"  screenshot ({name}): {Path(path).relative_to(ROOT) if Path(path).is_relative_to(ROOT) else path}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
