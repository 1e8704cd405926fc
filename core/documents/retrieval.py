"""BM25 ranking of a document's chunks against a question (numpy only, no network, no model).

Build one ``ChunkRanker`` per document and reuse it for every question on it. Words are lower-cased, split
at non-word characters (words of two characters or more), Lucene's English stop words removed; no stemming.
Scores are Lucene's BM25 (k1 = 1.5, b = 0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))), the variant
bm25s and Elasticsearch use; a word repeated in the question counts each time.

The index is built a chunk at a time into flat arrays (per chunk: its distinct words' ids and how often
each occurs, 5 bytes a word), so a 16 MB document's index costs about 12 MB and building it never holds
the whole document as lists of words. A question's score is a sum over the entries of its words (one pass
over the arrays, milliseconds for millions of entries). A word's count in one chunk is capped at 255, where
its BM25 term has long stopped growing.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from typing import Sequence

import numpy as np

from core.documents.chunking import Chunk

_WORD = re.compile(r"(?u)\b\w\w+\b")
STOP_WORDS = frozenset((  # Lucene's English stop set
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with"))
K1, B = 1.5, 0.75


def words(text: str) -> list[str]:
    """The words BM25 sees in ``text``: lower-cased, two characters or more, stop words dropped."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


class ChunkRanker:
    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self._count = len(chunks)
        self._vocabulary: dict[str, int] = {}
        terms, frequencies, lengths = array("i"), array("B"), array("f")
        self._starts = np.zeros(self._count + 1, dtype=np.int64)  # chunk i's entries: [starts[i], starts[i+1])
        for index, chunk in enumerate(chunks):
            counted = Counter(self._vocabulary.setdefault(w, len(self._vocabulary)) for w in words(chunk.text))
            terms.extend(counted.keys())
            frequencies.extend(min(n, 255) for n in counted.values())
            lengths.append(sum(counted.values()))
            self._starts[index + 1] = len(terms)
        self._terms = np.frombuffer(terms, dtype=np.int32) if terms else np.zeros(0, dtype=np.int32)
        self._frequencies = np.frombuffer(frequencies, dtype=np.uint8) if frequencies else np.zeros(0, dtype=np.uint8)
        document_frequency = np.bincount(self._terms, minlength=len(self._vocabulary))
        self._idf = np.log1p((self._count - document_frequency + 0.5) / (document_frequency + 0.5)).astype(np.float32)
        length = np.frombuffer(lengths, dtype=np.float32) if lengths else np.zeros(0, dtype=np.float32)
        average = float(length.mean()) if self._count and length.sum() else 1.0
        self._norm = (K1 * ((1 - B) + B * length / average)).astype(np.float32)  # per chunk

    def scores(self, question: str) -> list[float]:
        """One BM25 score per chunk, in chunk order (0 for a chunk sharing no word with the question)."""
        if not self._count:
            return []
        asked = Counter(self._vocabulary[w] for w in words(question) if w in self._vocabulary)
        if not asked:
            return [0.0] * self._count
        ids = np.fromiter(asked.keys(), dtype=np.int32)
        times = np.zeros(len(self._vocabulary), dtype=np.float32)
        times[ids] = np.fromiter(asked.values(), dtype=np.float32)
        entries = np.flatnonzero(np.isin(self._terms, ids))
        chunk_of = np.searchsorted(self._starts, entries, side="right") - 1
        tf, terms = self._frequencies[entries].astype(np.float32), self._terms[entries]
        weights = tf / (self._norm[chunk_of] + tf) * self._idf[terms]  # tf / (tf + k1 (1 - b + b len / avg)) idf
        totals = np.bincount(chunk_of, weights=weights * times[terms], minlength=self._count)
        return [float(s) for s in totals]

    def rank(self, question: str) -> list[tuple[int, float]]:
        """(chunk index, score) for the chunks that match, best first (ties in document order)."""
        scored = [(i, s) for i, s in enumerate(self.scores(question)) if s > 0]
        return sorted(scored, key=lambda item: (-item[1], item[0]))

