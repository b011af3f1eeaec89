"""HTML: the main content as text, with h1-h6 as "#" lines and list items as "- " lines.

Navigation, scripts, styles, forms and page chrome are dropped; when the page marks its main
content (`<main>`, `<article>`, role="main") only that is read.
"""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString, PageElement

from cienty_knowledge.loaders.base import Loaded
from cienty_knowledge.loaders.text import decode_text
from cienty_knowledge.normalize import escape_heading_marks, heading_line

_NOISE = (
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "svg", "iframe", "button", "select", "canvas", "object",
)  # fmt: skip
_NOISE_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "div", "section", "article", "main", "br", "hr", "table", "tr", "ul", "ol", "dl",
    "dt", "dd", "blockquote", "pre", "figure", "figcaption", "address", "details", "summary",
}  # fmt: skip


def load_html(data: bytes, name: str) -> Loaded:
    soup = BeautifulSoup(decode_text(data), "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag is not None else ""
    for tag in soup.find_all(_NOISE):
        tag.decompose()
    for tag in soup.find_all(True, attrs={"role": True}):
        if isinstance(tag, Tag) and str(tag.get("role")) in _NOISE_ROLES:
            tag.decompose()
    for tag in soup.find_all(True, attrs={"hidden": True}):
        tag.decompose()
    root: Tag = soup
    main = soup.find("main") or soup.find(True, attrs={"role": "main"}) or soup.find("article")
    if isinstance(main, Tag):
        root = main
    elif isinstance(soup.body, Tag):
        root = soup.body
    if not title:
        first = root.find("h1")
        title = first.get_text(" ", strip=True) if first is not None else ""
    parts: list[str] = []
    _walk(root, parts)
    lines = [escape_heading_marks(line) if not line.startswith("#\x00") else line[2:]
             for line in "".join(parts).split("\n")]  # fmt: skip
    return Loaded(title=title, text="\n".join(lines))


def _walk(node: PageElement, parts: list[str]) -> None:
    if isinstance(node, NavigableString):
        if type(node) is NavigableString:  # not comments, CDATA, doctype
            parts.append(str(node).replace("\n", " "))
        return
    if not isinstance(node, Tag):
        return
    name = node.name
    if name in _HEADINGS:
        line = heading_line(_HEADINGS[name], node.get_text(" ", strip=True))
        # "#\x00" marks a real heading, so the escaping pass above leaves it alone.
        parts.append(f"\n\n#\x00{line}\n\n" if line else "")
        return
    if name == "br":
        parts.append("\n")
        return
    if name == "li":
        parts.append("\n- ")
    elif name in ("td", "th"):
        parts.append(" | ")
    elif name in _BLOCKS:
        parts.append("\n\n" if name in ("p", "pre", "table", "blockquote") else "\n")
    for child in node.children:
        _walk(child, parts)
    if name in _BLOCKS:
        parts.append("\n")
