// MathJax 3 for the book's website (served from the site itself: assets/mathjax/).
// Chapters: pymdownx.arithmatex (generic) wraps $...$ as \(...\) and $$...$$ as \[...\] in elements of
// class "arithmatex". Notebooks: their markdown cells keep $...$ and $$...$$ as written, inside
// elements of class "jp-RenderedMarkdown". The search box's results quote the pages' text, math
// included: they are typeset as they appear. MathJax looks for math in those elements only, so a
// dollar sign anywhere else on a page (a shell variable, a price) is left alone.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    // Material's header (the search box's results included) and the page's container are left alone,
    // except inside an element of one of the classes below, searched whole.
    ignoreHtmlClass: "md-header|md-container|md-dialog|md-banner",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown|md-search-result__article",
  },
  svg: { fontCache: "global" },
};

document.addEventListener("DOMContentLoaded", () => {
  const results = document.querySelector(".md-search-result__list");
  if (!results) return;
  new MutationObserver(() => {
    if (!window.MathJax || !MathJax.startup || !MathJax.typesetPromise) return;
    MathJax.startup.promise = MathJax.startup.promise
      .then(() => MathJax.typesetPromise([results]))
      .catch((error) => console.warn("MathJax in search results:", error));
  }).observe(results, { childList: true });
});
