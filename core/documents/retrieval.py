"""BM25 ranking of a document's chunks against a question (bm25s: numpy only, no network, no model).

Build one ``ChunkRanker`` per document and reuse it for every question on it. Words are lower-cased, split
at non-word characters, English stop words removed; no stemming (so no extra dependency).
"""

from __future__ import annotations

import re
from typing import Sequence

from core.documents.chunking import Chunk

_WORD = re.compile(r"(?u)\b\w\w+\b")


class ChunkRanker:
    def __init__(self, chunks: Sequence[Chunk]) -> None:
        import bm25s  # numpy; imported here so importing the package stays quick

        self._bm25s = bm25s
        self._count = len(chunks)
        self._retriever = bm25s.BM25()
        if chunks:
            corpus = bm25s.tokenize([c.text for c in chunks], stopwords="en", show_progress=False)
            self._retriever.index(corpus, show_progress=False)
            self._vocabulary = set(self._retriever.vocab_dict)
        else:
            self._vocabulary = set()

    def scores(self, question: str) -> list[float]:
        """One BM25 score per chunk, in chunk order (0 for a chunk sharing no word with the question)."""
        if not self._count:
            return []
        tokenized = self._bm25s.tokenize([question], stopwords="en", show_progress=False, return_ids=False)
        words = [w for w in tokenized[0] if w in self._vocabulary]
        if not words:
            return [0.0] * self._count
        return [float(s) for s in self._retriever.get_scores(words)]

    def rank(self, question: str) -> list[tuple[int, float]]:
        """(chunk index, score) for the chunks that match, best first (ties in document order)."""
        scored = [(i, s) for i, s in enumerate(self.scores(question)) if s > 0]
        return sorted(scored, key=lambda item: (-item[1], item[0]))
