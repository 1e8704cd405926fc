"""What parsing a document produces: ``ParsedDocument`` made of ``Section``s, plain and JSON-serialisable.

The document's text is its sections' texts joined by ``SECTION_SEPARATOR``; ``Section.char_start`` is
where each section starts in that text, so every anchor (chunk, citation) is a character range of one
string the GUI can show and highlight. ``to_dict``/``from_dict`` are the form kept by
``Store.add_document(..., parsed=doc.to_dict())`` and sent back by the parser worker process.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

SECTION_SEPARATOR = "\n\n"
KINDS = {  # kind -> MIME type
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}
KIND_LABELS = {"pdf": "PDF", "docx": "Word document", "html": "web page", "markdown": "Markdown", "text": "text"}
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Section:
    """One page (PDF) or one headed part (DOCX, HTML, Markdown) of a document, in reading order.

    ``title`` is the heading (None for pages and untitled text), ``level`` its heading level (0 = none),
    ``page`` the 1-based page number (None where the format has no pages); a heading's own line is part of
    ``text``, so the text reads as the document does.
    """

    title: str | None
    page: int | None
    text: str
    char_start: int
    level: int = 0

    @property
    def char_end(self) -> int:
        return self.char_start + len(self.text)

    def label(self) -> str:
        """How the user would name this place: "page 3", "“Results”", "page 3, “Results”"."""
        parts = [f"page {self.page}"] if self.page is not None else []
        if self.title:
            parts.append(f"“{self.title}”")
        return ", ".join(parts) or "text"

    def heading(self) -> str:
        """``label()`` to start a line: its first letter capitalised, the title as written ("Page 3, “NASA budget”")."""
        label = self.label()
        return label[:1].upper() + label[1:]


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    name: str
    kind: str
    sha256: str
    size_bytes: int
    sections: tuple[Section, ...]
    warnings: tuple[str, ...] = ()
    pages: int | None = None  # page count of paged formats (PDF, text with form feeds), blank pages included
    encoding: str | None = None  # the text encoding found (text, Markdown, HTML)
    _text: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown document kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        position = 0
        for index, section in enumerate(self.sections):
            if section.char_start != position:
                raise ValueError(f"section {index} of {self.name} starts at {section.char_start}, expected "
                                 f"{position}: sections must be contiguous, joined by {SECTION_SEPARATOR!r}")
            position = section.char_end + len(SECTION_SEPARATOR)
        object.__setattr__(self, "_text", SECTION_SEPARATOR.join(s.text for s in self.sections))

    @property
    def mime(self) -> str:
        return KINDS[self.kind]

    @property
    def text(self) -> str:
        """The whole text; every ``char_start``/``char_end`` in this package indexes it."""
        return self._text

    @property
    def total_chars(self) -> int:
        return len(self._text)

    def section_at(self, char_offset: int) -> int:
        """Index of the section holding ``char_offset`` (a separator belongs to the section before it)."""
        starts = [s.char_start for s in self.sections]
        return max(0, bisect.bisect_right(starts, char_offset) - 1)

    def describe(self) -> str:
        """One line: name, kind, pages or sections, characters."""
        count = (plural(self.pages, "page") if self.pages else plural(len(self.sections), "section"))
        return f"{self.name} ({KIND_LABELS[self.kind]}, {count}, {self.total_chars:,} characters)"

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "name": self.name, "kind": self.kind, "mime": self.mime,
                "sha256": self.sha256, "size_bytes": self.size_bytes, "pages": self.pages,
                "encoding": self.encoding, "total_chars": self.total_chars, "warnings": list(self.warnings),
                "sections": [asdict(s) for s in self.sections]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParsedDocument:
        try:
            sections = tuple(Section(s["title"], s["page"], s["text"], s["char_start"], s.get("level", 0))
                             for s in data["sections"])
            return cls(data["name"], data["kind"], data["sha256"], data["size_bytes"], sections,
                       tuple(data.get("warnings", ())), data.get("pages"), data.get("encoding"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a parsed document ({type(exc).__name__}: {exc})") from exc


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def build_sections(parts: Iterable[tuple[str | None, int | None, str, int]]) -> tuple[Section, ...]:
    """Sections from ``(title, page, text, level)`` in order, with their offsets; empty texts are dropped."""
    sections, position = [], 0
    for title, page, text, level in parts:
        if not text.strip():
            continue
        sections.append(Section(title, page, text, position, level))
        position += len(text) + len(SECTION_SEPARATOR)
    return tuple(sections)
