"""Which sentences of an answer (or of the reasoning) quote or closely paraphrase the document, and where.

Words are normalised (case-folded, accents dropped) and the document is indexed by word n-grams ("shingles",
5 words by default). A sentence of the answer is a citation when enough of its shingles occur in the
document: at least ``threshold`` of them (and at least two, when it has two), or ``long_quote_shingles`` of
them whatever the sentence's length (a long quote inside a long sentence). Its place in the document is the
alignment most of its matching shingles agree on, so a phrase repeated elsewhere does not scatter the span.

``CitationIndex(document)`` is built once per document; ``find(text)`` is then fast enough to run on every
streamed update. Spans are character ranges of ``ParsedDocument.text``, with the section and page, so the
GUI can scroll to them and highlight them. The index is one sorted array of 8 bytes per word of the
document (a shingle's hash in the high 32 bits, its word position in the low 32, so one shingle's places
are a contiguous run in document order) and the offset of every 64th word (a word's characters are found
from the nearest one). A 16 MB text of 3 million words costs 25 MB, built without a Python object per word.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from core.documents.parsed import ParsedDocument

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'’”)\]]*\s+|\n+")
_MAX_POSITIONS = 16  # per shingle: a phrase repeated more often than this is boilerplate, not a citation
_MIX = np.uint64(0x100000001B3)  # multiplier folding the words' hashes into a shingle's (wrapping uint64)
_CHECKPOINT_WORDS = 64  # a word's offset is kept for every this many words
_BLOCK_WORDS = 1 << 16  # words hashed before their shingles are added to the index
_POSITION_BITS = np.uint64(32)
_POSITION_MASK = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class Citation:
    text_start: int  # the citing sentence, in the answer/reasoning text
    text_end: int
    char_start: int  # the quoted passage, in ParsedDocument.text
    char_end: int
    section_index: int
    page: int | None
    score: float  # share of the sentence's shingles found in the passage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalise_word(word: str) -> str:
    if word.isascii():
        return word.lower()  # casefold and NFKD change nothing else in ASCII
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _shingles(word_hashes: Iterable[int], n: int) -> np.ndarray:
    """One 64-bit hash per run of ``n`` consecutive words (the index keeps the high 32 bits: a stray match
    of one shingle is rare, and a citation takes several that agree on one place)."""
    words = np.array(word_hashes, dtype=np.int64).view(np.uint64)
    count = max(0, len(words) - n + 1)
    shingles = np.zeros(count, dtype=np.uint64)
    for k in range(n if count else 0):
        shingles = shingles * _MIX + words[k:k + count]
    return shingles


class CitationIndex:
    def __init__(self, document: ParsedDocument, shingle_words: int = 5) -> None:
        if shingle_words < 2:
            raise ValueError(f"shingle_words must be at least 2, got {shingle_words}")
        self.document, self.n = document, shingle_words
        self._checkpoints = array("q")  # character offset of words 0, 64, 128, ...
        keys = array("Q")
        hashes, first = array("q"), 0  # the block's words' hashes; ``first``: the position of its first word
        for position, match in enumerate(_WORD.finditer(document.text)):
            if not position % _CHECKPOINT_WORDS:
                self._checkpoints.append(match.start())
            hashes.append(hash(normalise_word(match.group())))
            if len(hashes) == _BLOCK_WORDS + shingle_words - 1:
                first = self._add(keys, hashes, first)
                hashes = hashes[-(shingle_words - 1):]
        self._add(keys, hashes, first)
        del hashes
        self._keys = np.frombuffer(keys, dtype=np.uint64) if keys else np.zeros(0, dtype=np.uint64)
        self._keys.sort()  # in place: by shingle, then by position

    def _add(self, keys: array, hashes: array, first: int) -> int:
        """Index the shingles that start in ``hashes`` (and end inside it); the position after them."""
        shingles = _shingles(hashes, self.n)
        positions = np.arange(first, first + len(shingles), dtype=np.uint64)
        keys.frombytes(((shingles >> _POSITION_BITS) << _POSITION_BITS | positions).tobytes())
        return first + len(shingles)

    def _positions(self, shingle: np.uint64) -> list[int]:
        """Where a shingle occurs (its first ``_MAX_POSITIONS`` places, in document order)."""
        high = shingle >> _POSITION_BITS
        low = int(np.searchsorted(self._keys, high << _POSITION_BITS, side="left"))
        end = (int(np.searchsorted(self._keys, (high + np.uint64(1)) << _POSITION_BITS, side="left"))
               if high < _POSITION_MASK else len(self._keys))
        return (self._keys[low:min(end, low + _MAX_POSITIONS)] & _POSITION_MASK).tolist()

    def _word(self, position: int) -> tuple[int, int]:
        """The character range of the document's word ``position`` (found from the nearest kept offset)."""
        start = self._checkpoints[position // _CHECKPOINT_WORDS]
        for skipped, match in enumerate(_WORD.finditer(self.document.text, start)):
            if skipped == position % _CHECKPOINT_WORDS:
                return match.start(), match.end()
        raise IndexError(f"the document has no word {position}")

    def find(self, text: str, threshold: float = 0.5, long_quote_shingles: int = 4) -> list[Citation]:
        """Citations of the sentences of ``text`` that quote or closely paraphrase the document."""
        citations = []
        for start, end in _sentences(text):
            citation = self._cite(text, start, end, threshold, long_quote_shingles)
            if citation is not None:
                citations.append(citation)
        return citations

    def _cite(self, text: str, start: int, end: int, threshold: float, long_quote: int) -> Citation | None:
        words = [hash(normalise_word(m.group())) for m in _WORD.finditer(text, start, end)]
        total = len(words) - self.n + 1
        if total < 1:
            return None
        hits = [(i, self._positions(shingle)) for i, shingle in enumerate(_shingles(words, self.n))]
        matched = [(i, positions) for i, positions in hits if positions]
        share = len(matched) / total
        if not ((share >= threshold and len(matched) >= min(2, total)) or len(matched) >= long_quote):
            return None
        votes = Counter(p - i for i, positions in matched for p in positions)
        best = votes.most_common(1)[0][0]
        aligned = [p for i, positions in matched for p in positions if abs((p - i) - best) <= self.n]
        first, last = min(aligned), max(aligned) + self.n - 1
        char_start, char_end = self._word(first)[0], self._word(last)[1]
        section_index = self.document.section_at(char_start)
        page = self.document.sections[section_index].page
        return Citation(start, end, char_start, char_end, section_index, page, round(share, 3))


def find_citations(text: str, document: ParsedDocument, shingle_words: int = 5,
                   threshold: float = 0.5) -> list[Citation]:
    """One-off ``CitationIndex(document).find(text)``; build the index once when citing repeatedly."""
    return CitationIndex(document, shingle_words).find(text, threshold)


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of ``text``, whitespace trimmed."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    result = []
    for a, b in spans:
        chunk = text[a:b]
        if chunk.strip():
            a += len(chunk) - len(chunk.lstrip())
            result.append((a, a + len(chunk.strip())))
    return result
