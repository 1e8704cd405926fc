"""Several documents of one chat read as one: ``DocumentSet`` joins them into a single ``ParsedDocument``.

Chunking, retrieval, sequential reading and citations all work on one text, so a chat's documents are
joined in the order they were attached; each joined section keeps its page and gets the document's name in
its title (so excerpt labels say which file a passage is from). ``render()`` is the stable prompt form:
each document's own ``render_document`` in order, so adding a document after the others keeps the earlier
ones as a cached prompt prefix. ``locate`` maps a range of the joined text back to one document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from core.documents.parsed import ParsedDocument, Section, build_sections
from core.documents.prompt import render_document


@dataclass(frozen=True, slots=True)
class Location:
    """Where a range of the joined text is: the document's index in the set and the range in its own text."""

    document_index: int
    section_index: int  # in that document
    char_start: int
    char_end: int


@dataclass(frozen=True, slots=True)
class DocumentSet:
    documents: tuple[ParsedDocument, ...]
    combined: ParsedDocument
    sources: tuple[tuple[int, int], ...]  # joined section index -> (document index, its section index)

    @classmethod
    def of(cls, documents: Sequence[ParsedDocument]) -> DocumentSet:
        if not documents:
            raise ValueError("a document set needs at least one document")
        documents = tuple(documents)
        if len(documents) == 1:
            only = documents[0]
            return cls(documents, only, tuple((0, i) for i in range(len(only.sections))))
        parts, sources = [], []
        for d_index, document in enumerate(documents):
            for s_index, section in enumerate(document.sections):
                title = f"{document.name}: {section.title}" if section.title else document.name
                parts.append((title, section.page, section.text, section.level))
                sources.append((d_index, s_index))
        digest = hashlib.sha256("".join(d.sha256 for d in documents).encode()).hexdigest()
        names = ", ".join(d.name for d in documents)
        combined = ParsedDocument(f"{len(documents)} documents ({names})", "text", digest,
                                  sum(d.size_bytes for d in documents), build_sections(parts),
                                  tuple(w for d in documents for w in d.warnings))
        return cls(documents, combined, tuple(sources))

    def render(self) -> str:
        """The stable prompt form of the set (made on request: a long document's is as long as its text)."""
        return "\n\n".join(render_document(d) for d in self.documents)

    def locate(self, char_start: int, char_end: int) -> Location:
        """The document and range of ``combined.text[char_start:char_end]`` (clipped to one section)."""
        joined_index = self.combined.section_at(char_start)
        joined: Section = self.combined.sections[joined_index]
        d_index, s_index = self.sources[joined_index]
        own = self.documents[d_index].sections[s_index]
        start = own.char_start + max(0, char_start - joined.char_start)
        end = own.char_start + min(len(joined.text), max(0, char_end - joined.char_start))
        return Location(d_index, s_index, start, max(start, end))
