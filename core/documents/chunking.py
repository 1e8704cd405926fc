"""Token-sized chunks of a document, each anchored (section, page, character range) for citations.

A chunk never crosses a section, so it has one page and one heading. Sections are cut at sentence and line
ends into pieces; pieces are packed greedily up to ``chunk_tokens``, and the next chunk starts with the last
pieces of the previous one, up to ``overlap_tokens``, so a fact cut by a boundary is whole in one of them.
A piece longer than a chunk (a huge paragraph, a line without spaces) is split at words, then characters.
Each chunk's ``tokens`` is counted on its own text, so it is exact for an exact counter. Pieces and chunks
are counted in batches (``count_many``: one tokenizer call per few thousand, not one each), so a long
document chunks in seconds. A chunk holds no copy of its text (``Chunk.text`` slices the document's), and
pieces are kept in flat arrays while packing, so chunking a 16 MB text costs megabytes, not hundreds of them.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from core.documents.parsed import ParsedDocument

CountTokens = Callable[[str], int]
CountMany = Callable[[Sequence[str]], list[int]]
_BATCH = 4096  # pieces counted per call
DEFAULT_CHUNK_TOKENS = 512
DEFAULT_OVERLAP_TOKENS = 64
_BOUNDARY = re.compile(r"(?<=[.!?;:])[\"'’”)\]]*\s+|\n\s*")
_LEADING_SPACE = re.compile(r"\s*")


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    section_index: int
    page: int | None
    char_start: int  # in ParsedDocument.text
    char_end: int
    tokens: int
    source: str = field(repr=False, compare=False)  # the document's text (shared, not a copy)

    @property
    def text(self) -> str:
        return self.source[self.char_start:self.char_end]

    def anchor(self) -> dict[str, Any]:
        """Where the chunk is, without its text (for JSON, citations and "what was included" lists)."""
        return {"index": self.index, "section_index": self.section_index, "page": self.page,
                "char_start": self.char_start, "char_end": self.char_end, "tokens": self.tokens}


@dataclass(frozen=True, slots=True)
class SectionTokens:
    section_index: int
    title: str | None
    page: int | None
    chars: int
    tokens: int


def count_sections(document: ParsedDocument, count_tokens: CountTokens) -> list[SectionTokens]:
    return [SectionTokens(i, s.title, s.page, len(s.text), count_tokens(s.text))
            for i, s in enumerate(document.sections)]


def chunk_document(document: ParsedDocument, count_tokens: CountTokens, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                   overlap_tokens: int = DEFAULT_OVERLAP_TOKENS, count_many: CountMany | None = None) -> list[Chunk]:
    """The document's chunks in reading order; ``count_many`` counts a list of texts at once (default: one
    ``count_tokens`` call each)."""
    if chunk_tokens < 16:
        raise ValueError(f"chunk_tokens must be at least 16, got {chunk_tokens}")
    if not 0 <= overlap_tokens <= chunk_tokens // 2:
        raise ValueError(f"overlap_tokens must be between 0 and half of chunk_tokens ({chunk_tokens // 2}), "
                         f"got {overlap_tokens}")
    many = count_many or (lambda texts: [count_tokens(t) for t in texts])
    source = document.text
    chunks: list[Chunk] = []
    for section_index, section in enumerate(document.sections):
        text = section.text
        pieces = _Pieces()
        for spans in _piece_batches(text):
            for (start, end), tokens in zip(spans, many([text[a:b] for a, b in spans])):
                if tokens <= chunk_tokens or end - start <= 1:
                    pieces.append(start, end, tokens)
                else:
                    for piece in _fit(text, start, end, count_tokens, chunk_tokens):
                        pieces.append(*piece)
        ranges = _pack(pieces, chunk_tokens, overlap_tokens, text, count_tokens)
        del pieces
        for batch in range(0, len(ranges), _BATCH):
            stripped = []
            for start, end in ranges[batch:batch + _BATCH]:
                raw = text[start:end]
                start += len(raw) - len(raw.lstrip())
                stripped.append((start, start + len(raw.strip())))
            for (start, end), tokens in zip(stripped, many([text[a:b] for a, b in stripped])):
                chunks.append(Chunk(len(chunks), section_index, section.page, section.char_start + start,
                                    section.char_start + end, tokens, source))
    return chunks


class _Pieces:
    """(start, end, tokens) of a section's pieces in three flat arrays: a long section has hundreds of
    thousands of pieces, and a tuple each would leave the memory they took scattered among longer-lived
    objects once freed."""

    __slots__ = ("starts", "ends", "tokens")

    def __init__(self) -> None:
        self.starts, self.ends, self.tokens = array("q"), array("q"), array("q")

    def append(self, start: int, end: int, tokens: int) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.tokens.append(tokens)

    def __len__(self) -> int:
        return len(self.starts)


def _piece_batches(text: str) -> Iterator[list[tuple[int, int]]]:
    """(start, end) of sentences and lines, trailing whitespace included, leading whitespace skipped; in
    lists of ``_BATCH`` (each list is counted in one tokenizer call)."""
    batch: list[tuple[int, int]] = []
    start = _LEADING_SPACE.match(text).end()
    for match in _BOUNDARY.finditer(text):
        if match.start() > start:
            batch.append((start, match.end()))
            start = match.end()
            if len(batch) == _BATCH:
                yield batch
                batch = []
    if start < len(text):
        batch.append((start, len(text)))
    if batch:
        yield batch


def _fit(text: str, start: int, end: int, count_tokens: CountTokens, limit: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) pieces of text[start:end], each at most ``limit`` tokens: split at the whitespace
    nearest the middle, or at the middle character when there is none."""
    tokens = count_tokens(text[start:end])
    if tokens <= limit or end - start <= 1:
        return [(start, end, tokens)]
    middle = (start + end) // 2
    cut = max(text.rfind(" ", start + 1, middle + 1), text.rfind("\n", start + 1, middle + 1))
    if cut <= start:
        after = [i for i in (text.find(" ", middle, end - 1), text.find("\n", middle, end - 1)) if i > start]
        cut = min(after) if after else middle
    return _fit(text, start, cut, count_tokens, limit) + _fit(text, cut, end, count_tokens, limit)


def _pack(pieces: _Pieces, limit: int, overlap: int, text: str, count_tokens: CountTokens) -> list[tuple[int, int]]:
    """Greedy packing of consecutive pieces into (start, end) ranges of at most ``limit`` tokens (by the sum of
    piece counts), each starting with up to ``overlap`` tokens of the previous range's end: its last whole
    pieces, or, when the last piece alone is longer than that, the words at the end of it."""
    ranges: list[tuple[int, int]] = []
    starts, ends, tokens = pieces.starts, pieces.ends, pieces.tokens
    first, count = 0, len(pieces)
    while first < count:
        last, total = first, tokens[first]
        while last + 1 < count and total + tokens[last + 1] <= limit:
            last += 1
            total += tokens[last]
        ranges.append((starts[first], ends[last]))
        if last + 1 >= count:
            break
        back, carried = last + 1, 0
        while back - 1 > first and carried + tokens[back - 1] <= overlap:
            back -= 1
            carried += tokens[back]
        if back == last + 1 and overlap > 0:
            tail = _tail(text, (starts[last], ends[last], tokens[last]), overlap, count_tokens)
            if tail is not None and tail[2] + tokens[last + 1] <= limit:
                starts[last], tokens[last] = tail[0], tail[2]  # packed above: from here on only the tail is carried
                back = last
        first = back
    return ranges


def _tail(text: str, piece: tuple[int, int, int], overlap: int,
          count_tokens: CountTokens) -> tuple[int, int, int] | None:
    """The longest run of whole words ending ``piece`` that has at most ``overlap`` tokens (None if no word fits),
    found by bisection over the words' starts (a suffix's count grows as it takes more words)."""
    start, end, _tokens = piece
    starts = [start + match.start() for match in re.finditer(r"\S+", text[start:end])]
    best, low, high = None, 0, len(starts) - 1  # candidates: starts[low..high]; later starts are shorter
    while low <= high:
        middle = (low + high) // 2
        tokens = count_tokens(text[starts[middle]:end])
        if tokens <= overlap:
            best, high = (starts[middle], end, tokens), middle - 1
        else:
            low = middle + 1
    return best
