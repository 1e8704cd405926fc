"""The visible text of an HTML page, split into sections at its headings (stdlib ``html.parser`` only).

Scripts, styles, templates, ``<head>`` and elements marked ``hidden``/``aria-hidden``/``display:none`` are
dropped; nothing is fetched (no images, frames or stylesheets: the parser never touches the network).
Block elements become line breaks, table cells are joined with `` | ``, whitespace is collapsed outside
``<pre>``. Entities are decoded by the parser.

Linear on hostile input: open elements are counted by name (an end tag for an element that is not open is
answered without scanning the stack), and a ``<`` that starts no complete tag is turned into text before
parsing, since the stdlib parser rescans to the end of the page for each one (20,000 ``<a `` took 44 s).
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

_SKIP = {"script", "style", "template", "noscript", "head", "svg", "math", "iframe", "object", "canvas"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_BLOCK = {"p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "blockquote", "ul", "ol",
          "li", "dl", "dt", "dd", "table", "tr", "form", "fieldset", "figure", "figcaption", "address", "details",
          "summary", "hr", "br", "pre", "caption", "body", "html", "title"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[str | None, int | None, str, int]] = []
        self.page_title: str | None = None
        self._title: str | None = None
        self._level = 0
        self._lines: list[str] = []
        self._line: list[str] = []
        self._stack: list[str] = []  # open elements, to find the end of skipped ones
        self._open: Counter[str] = Counter()  # how many of each are open: ``tag in _stack`` in O(1)
        self._skip_depth = 0  # >0 while inside a skipped element
        self._pre_depth = 0
        self._heading: list[str] | None = None
        self._in_title = False
        self._title_text: list[str] = []

    # --- parser callbacks -------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br" and not self._skip_depth:
                self._break()
            return
        self._stack.append(tag)
        self._open[tag] += 1
        if self._skip_depth or tag in _SKIP or _hidden(attrs):
            self._skip_depth += 1
            return
        if tag == "pre":
            self._break()
            self._pre_depth += 1
        elif tag in _HEADINGS:
            self._flush_section()
            self._heading, self._level = [], _HEADINGS[tag]
        elif tag in _BLOCK:
            self._break()
            if tag == "li":
                self._line.append("- ")
        elif tag in ("td", "th") and self._line and self._line[-1].strip():
            self._line.append(" | ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self._skip_depth:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not self._open[tag]:
            return
        while self._stack:  # close what was left open inside (HTML allows omitted end tags)
            open_tag = self._stack.pop()
            self._open[open_tag] -= 1
            if self._skip_depth:
                self._skip_depth -= 1
            else:
                self._close(open_tag)
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_title_tag():
            self._title_text.append(data)
        if self._skip_depth:
            return
        text = data if self._pre_depth else _SPACES.sub(" ", data)
        if self._heading is not None:
            self._heading.append(text)
        self._line.append(text)

    # --- building -------------------------------------------------------------------------------
    def _in_title_tag(self) -> bool:
        return bool(self._stack) and self._stack[-1] == "title"

    def _close(self, tag: str) -> None:
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag in _HEADINGS and self._heading is not None:
            self._title = _SPACES.sub(" ", "".join(self._heading)).strip() or None
            self._heading = None
            self._break()
        elif tag in _BLOCK:
            self._break()

    def _break(self) -> None:
        line = "".join(self._line)
        self._line = []
        line = line.rstrip() if self._pre_depth else line.strip()
        if line or (self._pre_depth and self._lines):
            self._lines.append(line)

    def _flush_section(self) -> None:
        self._break()
        text = "\n".join(self._lines).strip("\n")
        self._lines = []
        if text.strip():
            self.parts.append((self._title, None, text, self._level))
        self._title, self._level = None, 0

    def finish(self) -> list[tuple[str | None, int | None, str, int]]:
        self.close()
        while self._stack:
            tag = self._stack.pop()
            self._open[tag] -= 1
            if self._skip_depth:
                self._skip_depth -= 1
            else:
                self._close(tag)
        self._flush_section()
        self.page_title = _SPACES.sub(" ", "".join(self._title_text)).strip() or None
        return self.parts


def _hidden(attrs: list[tuple[str, str | None]]) -> bool:
    values = dict(attrs)
    return ("hidden" in values or values.get("aria-hidden") == "true"
            or bool(_HIDDEN_STYLE.search(values.get("style") or "")))


def html_sections(html: str) -> tuple[list[tuple[str | None, int | None, str, int]], str | None]:
    """(sections as ``(title, page, text, level)``, the page's ``<title>``) of an HTML document."""
    parser = _VisibleText()
    parser.feed(_escape_broken_tags(html))
    return parser.finish(), parser.page_title


def _escape_broken_tags(html: str) -> str:
    """``html`` with every ``<`` that opens no complete construct (a ``>`` before the next ``<``; a comment's
    ``-->``) written as ``&lt;``: the same text once parsed, without the parser's rescans. Linear: the
    position of the next ``>`` and ``-->`` is remembered, not searched again for every ``<``."""
    parts, start = [], 0
    next_gt = 0
    ends = {"<!--": [0, "-->"], "<![": [0, "]]>"]}  # comments and marked sections: [next end, its marker]
    at = html.find("<")
    while at >= 0:
        opener = "<!--" if html.startswith("<!--", at) else "<![" if html.startswith("<![", at) else None
        if opener is not None:
            end = ends[opener]
            if 0 <= end[0] < at + len(opener):
                end[0] = html.find(end[1], at + len(opener))
            if end[0] >= 0:
                at = html.find("<", end[0] + len(end[1]))
                continue
            parts += [html[start:at], "&lt;"]  # it never ends
            start, at = at + 1, html.find("<", at + 1)
            continue
        following = html.find("<", at + 1)
        if 0 <= next_gt < at:
            next_gt = html.find(">", at)
        if next_gt < 0 or 0 <= following < next_gt:
            parts.append(html[start:at])
            parts.append("&lt;")
            start = at + 1
        at = following
    if not parts:
        return html
    parts.append(html[start:])
    return "".join(parts)
