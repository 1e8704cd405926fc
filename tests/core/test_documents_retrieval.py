"""BM25 ranking of chunks: Lucene's scores on a hand-sized example, the words it sees, and an index built in
flat arrays (a long document's index costs 5 bytes per distinct word of each chunk)."""

from __future__ import annotations

import math

import pytest

from core.documents.chunking import Chunk
from core.documents.retrieval import B, K1, ChunkRanker, words


def chunks_of(*texts: str) -> list[Chunk]:
    source = "\n\n".join(texts)
    chunks, start = [], 0
    for index, text in enumerate(texts):
        chunks.append(Chunk(index, index, None, start, start + len(text), len(text.split()), source))
        start += len(text) + 2
    return chunks


def lucene_bm25(question: list[str], documents: list[list[str]]) -> list[float]:
    """The textbook formula, in float64, one term at a time."""
    count, average = len(documents), sum(map(len, documents)) / len(documents)
    scores = []
    for document in documents:
        total = 0.0
        for word in question:
            df = sum(word in d for d in documents)
            tf = document.count(word)
            if tf:
                idf = math.log(1 + (count - df + 0.5) / (df + 0.5))
                total += idf * tf / (tf + K1 * (1 - B + B * len(document) / average))
        scores.append(total)
    return scores


def test_words_are_lower_cased_split_and_stop_words_dropped():
    assert words("The Boiler's pressure, in BAR: 2.5 (max) is not a x") == ["boiler", "pressure", "bar", "max"]


def test_scores_are_lucene_bm25_and_a_repeated_question_word_counts_twice():
    texts = ["The boiler pressure is checked every morning by the night porter.",
             "Pressure in the boiler must stay under two bar; the boiler is old.",
             "The porter keeps the keys of the boiler room and the garden shed.",
             "Nothing here shares a word with the question at all."]
    ranker = ChunkRanker(chunks_of(*texts))
    for question in ("boiler pressure", "Who keeps the keys of the boiler room?", "boiler boiler porter"):
        expected = lucene_bm25(words(question), [words(t) for t in texts])
        assert ranker.scores(question) == pytest.approx(expected, rel=1e-6)
    ranked = ranker.rank("boiler pressure")
    assert [i for i, _ in ranked] == [1, 0, 2] and all(i != 3 for i, _ in ranked)


def test_a_question_without_known_words_scores_zero_everywhere():
    ranker = ChunkRanker(chunks_of("alpha beta gamma", "delta epsilon"))
    assert ranker.scores("the of and") == [0.0, 0.0] and ranker.rank("zeta") == []
    assert ChunkRanker([]).scores("alpha") == [] and ChunkRanker([]).rank("alpha") == []


def test_the_index_is_flat_arrays_of_distinct_words_per_chunk():
    texts = [" ".join(f"word{(i * 7 + j) % 500}" for j in range(300)) for i in range(200)]
    ranker = ChunkRanker(chunks_of(*texts))
    distinct = sum(len(set(t.split())) for t in texts)
    assert len(ranker._terms) == len(ranker._frequencies) == distinct
    assert ranker._terms.nbytes + ranker._frequencies.nbytes == 5 * distinct
