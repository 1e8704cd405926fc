"""Chunking, the context budget, strategies, prompts and citations on a generated 50-page PDF (fact on page 37)."""

from __future__ import annotations

import os

import pytest

from core.documents import (ContextBudget, IndexedDocument, DocumentTooLongError, EstimatedCounter, ParsedDocument,
                            Section, TokenizerCounter, chunk_document, choose_strategy, find_citations,
                            parse_document, whole_document_cue)
from core.documents.citations import CitationIndex
from core.documents.parsed import build_sections
from core.tokenizer import Tokenizer
from tests.checkpoints import R1_TOKENIZER
from tests.core.test_documents_support import FACT, FACT_PAGE, FACT_QUESTION, fact_pages, make_pdf

SMALL = ContextBudget.for_context(2048, reserve_tokens=512)


@pytest.fixture(scope="module")
def fact_document(tmp_path_factory) -> ParsedDocument:
    path = make_pdf(tmp_path_factory.mktemp("fact") / "survey.pdf", fact_pages())
    return parse_document(path)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_dir(R1_TOKENIZER)


@pytest.fixture(scope="module")
def indexed(fact_document, tokenizer) -> IndexedDocument:
    return IndexedDocument(fact_document, TokenizerCounter(tokenizer), chunk_tokens=128, overlap_tokens=16)


def small_document(*texts: str, pages: bool = True) -> ParsedDocument:
    sections = build_sections((None, n if pages else None, t, 0) for n, t in enumerate(texts, 1))
    return ParsedDocument("small.txt", "text", "0" * 64, 1, sections, pages=len(texts) if pages else None)


# --- the parsed 50 pages -----------------------------------------------------------------------------
def test_fact_is_on_page_37(fact_document):
    assert fact_document.pages == 50 and len(fact_document.sections) == 50
    page = fact_document.sections[FACT_PAGE - 1]
    assert page.page == FACT_PAGE and " ".join(FACT.split()) in " ".join(page.text.split())


# --- chunking --------------------------------------------------------------------------------------
def test_chunks_are_token_sized_anchored_and_overlapping(fact_document, indexed, tokenizer):
    chunks = indexed.chunks
    assert len(chunks) > 50
    for chunk in chunks:
        section = fact_document.sections[chunk.section_index]
        assert chunk.page == section.page
        assert fact_document.text[chunk.char_start:chunk.char_end] == chunk.text
        assert section.char_start <= chunk.char_start < chunk.char_end <= section.char_end
        assert chunk.tokens == len(tokenizer.encode(chunk.text)) <= 128 + 4  # sum of pieces vs whole: +-a few
    same_section = [(a, b) for a, b in zip(chunks, chunks[1:]) if a.section_index == b.section_index]
    assert same_section and all(b.char_start < a.char_end for a, b in same_section)  # overlap
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.char_start, chunk.char_end))
    assert all(i in covered for i, ch in enumerate(fact_document.text) if not ch.isspace())


def test_a_line_without_spaces_is_split_to_fit():
    document = small_document("x" * 5000, pages=False)
    chunks = chunk_document(document, EstimatedCounter().count_tokens, chunk_tokens=100, overlap_tokens=0)
    assert len(chunks) > 10 and all(c.tokens <= 100 for c in chunks)
    assert "".join(c.text for c in chunks) == "x" * 5000


def test_section_token_counts(indexed, tokenizer):
    counts = indexed.section_tokens
    assert [c.page for c in counts] == list(range(1, 51))
    assert counts[0].tokens == len(tokenizer.encode(indexed.document.sections[0].text))


# --- budget ----------------------------------------------------------------------------------------
def test_budget_reserve_default_floor_and_cap():
    assert ContextBudget.for_context(32768).reserve_tokens == 4096
    assert ContextBudget.for_context(32768).prompt_limit_tokens == 28672
    assert ContextBudget.for_context(32768, reserve_tokens=10).reserve_tokens == 256  # never below the floor
    capped = ContextBudget.for_context(2048)
    assert capped.reserve_tokens == 1024 and "more than half" in capped.describe()
    with pytest.raises(ValueError):
        ContextBudget.for_context(16)


# --- strategy --------------------------------------------------------------------------------------
def test_choice_and_reasons():
    assert choose_strategy(100, 1000, "What is X?").strategy == "whole"
    retrieval = choose_strategy(5000, 1000, "What is X?")
    assert retrieval.strategy == "retrieval" and "5,000 tokens" in retrieval.reason and "1,000" in retrieval.reason
    sequential = choose_strategy(5000, 1000, "Please summarise the report")
    assert sequential.strategy == "sequential" and "summarise" in sequential.reason
    forced = choose_strategy(100, 1000, "x", requested="retrieval")
    assert forced.strategy == "retrieval" and forced.requested
    for cue in ("Give an overview", "List every date", "What happens throughout?", "overall, is it good?"):
        assert whole_document_cue(cue), cue
    assert whole_document_cue("What is the vault code?") is None
    with pytest.raises(ValueError):
        choose_strategy(1, 1, "x", requested="magic")


def test_small_context_retrieves_the_page_37_chunk(indexed):
    prompt = indexed.prompt(FACT_QUESTION, SMALL)
    assert prompt.strategy == "retrieval" and "are longer than" in prompt.reason
    assert prompt.prompt_tokens <= SMALL.prompt_limit_tokens
    pages = [chunk.page for chunk in prompt.included]
    assert FACT_PAGE in pages and pages == sorted(pages)  # document order
    content = prompt.messages[0]["content"]
    assert "7319" in content and content.rstrip().endswith(FACT_QUESTION)
    assert "[Excerpt 1 · page" in content
    anchors = prompt.to_dict()["included"]
    assert anchors and {"section_index", "page", "char_start", "char_end", "tokens"} <= set(anchors[0])


def test_big_context_reads_the_whole_document(indexed):
    prompt = indexed.prompt(FACT_QUESTION, ContextBudget.for_context(32768))
    assert prompt.strategy == "whole" and prompt.prompt_tokens > indexed.document_tokens
    assert prompt.messages[0]["content"].startswith("Document: survey.pdf (PDF, 50 pages)\n\n[Page 1]\n")


def test_forcing_whole_over_the_context_is_refused_with_both_counts(indexed):
    with pytest.raises(DocumentTooLongError) as caught:
        indexed.prompt(FACT_QUESTION, SMALL, strategy="whole")
    error = caught.value
    assert error.prompt_tokens > SMALL.prompt_limit_tokens and error.context_tokens == 2048
    assert f"{error.prompt_tokens:,} tokens" in str(error) and "2,048 tokens" in str(error)


def test_a_question_too_long_for_any_passage_is_refused(indexed):
    with pytest.raises(DocumentTooLongError):
        indexed.prompt("why " * 3000, SMALL)


def test_summary_question_reads_sequentially(indexed):
    prompt = indexed.prompt("Summarise the survey notes.", SMALL)
    assert prompt.strategy == "sequential" and prompt.messages is None and prompt.parts > 1


def test_stable_prefix_for_follow_up_questions(fact_document, tokenizer):
    indexed = IndexedDocument(fact_document, TokenizerCounter(tokenizer))
    budget = ContextBudget.for_context(32768)
    first = indexed.prompt("What is the vault access code?", budget)
    second = indexed.prompt("Which sheet mentions a falcon?", budget)
    assert first.strategy == second.strategy == "whole"
    texts = [tokenizer.apply_chat_template(p.messages) for p in (first, second)]
    common = os.path.commonprefix(texts)
    assert indexed.rendered in common  # the whole document text is shared
    ids = [tokenizer.encode(t) for t in texts]
    shared = len(os.path.commonprefix(ids))
    document_ids = tokenizer.encode(texts[0][:texts[0].index(indexed.rendered) + len(indexed.rendered)])
    assert shared >= len(document_ids) - 1  # every document token is a reusable prefix (bar a merge at the seam)
    assert indexed.rendered == IndexedDocument(fact_document, EstimatedCounter()).rendered  # identical bytes


# --- sequential reading ------------------------------------------------------------------------------
class FakeModel:
    def __init__(self, cancel_at: int | None = None, reader=None):
        self.prompts: list[str] = []
        self.cancel_at, self.reader = cancel_at, reader

    def __call__(self, messages):
        self.prompts.append(messages[0]["content"])
        if self.cancel_at is not None and len(self.prompts) == self.cancel_at:
            self.reader.cancel()
        if "Answer the question from the notes" in messages[0]["content"]:
            return "<think>all notes read</think>The code is 7319 (page 37)."
        return f"notes after call {len(self.prompts)}"


def test_sequential_reader_visits_every_chunk_in_order(indexed):
    model = FakeModel()
    reader = indexed.sequential_reader("List every mention of the archive.", SMALL, model)
    progress = list(reader.read())
    parts = [p for p in progress if p.stage == "part"]
    assert [p.part for p in parts] == list(range(1, len(reader.parts) + 1)) and len(parts) > 1
    visited = [index for p in parts for index in p.chunk_indices]
    assert visited == [c.index for c in indexed.chunks]
    for part, prompt in zip(reader.parts, model.prompts):
        assert all(chunk.text in prompt for chunk in part)
    for k, prompt in enumerate(model.prompts[1:len(parts)], 1):
        assert f"notes after call {k}" in prompt and f"Part {k + 1} of {len(parts)}" in prompt
    assert progress[-1].stage == "answer" and f"notes after call {len(parts)}" in model.prompts[-1]
    assert reader.result.answer == "The code is 7319 (page 37)."
    assert reader.result.notes == f"notes after call {len(parts)}" and reader.result.calls == len(parts) + 1
    tokens = [indexed.counter.count_prompt([{"role": "user", "content": p}]) for p in model.prompts]
    assert max(tokens) <= SMALL.prompt_limit_tokens


def test_sequential_reader_cancel(indexed):
    model = FakeModel(cancel_at=2)
    reader = indexed.sequential_reader("Summarise.", SMALL, model)
    model.reader = reader
    progress = list(reader.read())
    assert len(model.prompts) == 2 and reader.cancelled and reader.result is None
    assert [p.part for p in progress] == [1, 2]


def test_sequential_reader_condenses_notes_that_grow_too_long(indexed):
    calls = []

    def verbose(messages):
        calls.append(messages[0]["content"])
        if messages[0]["content"].startswith("Shorten these notes"):
            return "short notes"
        return "word " * 3000  # far over the notes allowance

    reader = indexed.sequential_reader("Summarise.", SMALL, verbose)
    for _ in reader.read():
        pass
    assert any(c.startswith("Shorten these notes") for c in calls)
    assert reader.result is not None and reader.result.answer


# --- citations -------------------------------------------------------------------------------------
def test_quote_from_page_37_is_cited(fact_document):
    answer = ("Looking at the survey, the vault access code for the Halvorsen archive is 7319, and it changes "
              "every spring. Nothing else in the notes concerns the vault at all, as far as I can tell.")
    citations = CitationIndex(fact_document).find(answer)
    assert len(citations) == 1
    citation = citations[0]
    assert citation.page == FACT_PAGE and citation.section_index == FACT_PAGE - 1
    quoted = " ".join(fact_document.text[citation.char_start:citation.char_end].split())
    assert "vault access code for the Halvorsen archive is 7319" in quoted
    assert answer[citation.text_start:citation.text_end].startswith("Looking at the survey")


def test_unrelated_text_cites_nothing(fact_document):
    answer = "The weather in Lisbon is mild in winter. Bananas are rich in potassium and grow in clusters."
    assert find_citations(answer, fact_document) == []


def test_paraphrase_with_small_changes_is_cited():
    document = small_document("Intro page.", "The committee approved the new budget for the northern bridge "
                                             "repairs on Tuesday after a long debate about costs.")
    answer = "Per the minutes, the committee approved the new budget for the northern bridge repairs on Tuesday."
    citations = find_citations(answer, document)
    assert [c.page for c in citations] == [2]


def test_section_offsets_are_consistent():
    document = small_document("a" * 10, "b" * 5)
    assert [s.char_start for s in document.sections] == [0, 12]
    assert document.section_at(11) == 0 and document.section_at(12) == 1
    with pytest.raises(ValueError):
        ParsedDocument("x", "text", "0", 1, (Section(None, None, "abc", 5),))
