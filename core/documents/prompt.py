"""Prompts over a document: the document first, in a stable form, then the instructions and the question.

The same document always renders to the same bytes (a header line with the file name, then the text, pages
marked ``[Page N]``), and the question comes after it, so a follow-up question on the same document shares
the whole document as a prompt prefix and the engine's prefix cache pays its prefill once. Everything goes in
one user message, as DeepSeek recommends for R1 models (no system prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from core.documents.chunking import Chunk
from core.documents.parsed import KIND_LABELS, ParsedDocument, plural

_ANSWER_WHOLE = ("Answer the question below using the document above. Say which page or section supports your "
                 "answer, and say so if the document does not contain the answer.")
_ANSWER_EXCERPTS = ("The excerpts above are the parts of the document that best match the question; the rest of "
                    "the document is not shown. Answer the question below using them. Say which page or section "
                    "supports your answer, and say so if the excerpts do not contain the answer.")
_PAGE_MARK = "[Page {}]"


@dataclass(frozen=True, slots=True)
class Span:
    """A character range of one section of the document (``ParsedDocument.text`` offsets)."""

    section_index: int
    char_start: int
    char_end: int


def document_header(document: ParsedDocument) -> str:
    size = plural(document.pages, "page") if document.pages else plural(len(document.sections), "section")
    return f"Document: {document.name} ({KIND_LABELS[document.kind]}, {size})"


def render_document(document: ParsedDocument) -> str:
    """The whole document in its stable form: the header line, a blank line, the text (pages marked)."""
    spans = [Span(i, s.char_start, s.char_end) for i, s in enumerate(document.sections)]
    return document_header(document) + "\n\n" + render_spans(document, spans)


def render_spans(document: ParsedDocument, spans: Iterable[Span], labels: bool = False) -> str:
    """The text of ``spans`` in order; a page's first span is preceded by ``[Page N]``. With ``labels``,
    each span gets an ``[Excerpt k · page N · “Title”]`` line instead (excerpts are not contiguous)."""
    blocks, last_page = [], None
    for k, span in enumerate(spans, 1):
        section = document.sections[span.section_index]
        text = document.text[span.char_start:span.char_end]
        if labels:
            where = section.label()
            blocks.append(f"[Excerpt {k}{' · ' + where if where != 'text' else ''}]\n{text}")
        elif section.page is not None and section.page != last_page:
            blocks.append(f"{_PAGE_MARK.format(section.page)}\n{text}")
        else:
            blocks.append(text)
        last_page = section.page
    return "\n\n".join(blocks)


def render_excerpts(document: ParsedDocument, spans: list[Span], chunks_total: int, chunks_shown: int) -> str:
    header = (f"{document_header(document)}; excerpts only: {chunks_shown} of {chunks_total} passages, chosen "
              "for the question")
    return header + "\n\n" + render_spans(document, spans, labels=True)


def merge_chunks(chunks: Iterable[Chunk]) -> list[Span]:
    """Spans covering ``chunks`` in document order; overlapping or touching chunks of a section are merged."""
    spans: list[Span] = []
    for chunk in sorted(chunks, key=lambda c: c.char_start):
        last = spans[-1] if spans else None
        if last and last.section_index == chunk.section_index and chunk.char_start <= last.char_end + 1:
            spans[-1] = Span(last.section_index, last.char_start, max(last.char_end, chunk.char_end))
        else:
            spans.append(Span(chunk.section_index, chunk.char_start, chunk.char_end))
    return spans


def question_messages(document_block: str, question: str, excerpts: bool = False) -> list[dict[str, str]]:
    """One user message: the document block, a rule, the instructions, the question."""
    instructions = _ANSWER_EXCERPTS if excerpts else _ANSWER_WHOLE
    return [{"role": "user", "content": f"{document_block}\n\n---\n{instructions}\n\nQuestion: {question.strip()}"}]
