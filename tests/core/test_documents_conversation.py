"""A chat's turns over its documents: whole / retrieval / sequential messages, several files, refusals, and the
prefix cache of the real server on a follow-up question (tiny random model)."""

from __future__ import annotations

import os

import pytest

from core.client import EngineClient
from core.documents import (ContextBudget, DocumentContext, QuestionPrompt, DocumentSet, DocumentTooLongError,
                            ParsedDocument, ReadProgress, TokenizerCounter)
from core.documents.parsed import build_sections
from core.tokenizer import Tokenizer
from tests.checkpoints import R1_TOKENIZER
from tests.core.test_documents_support import FACT, FACT_PAGE, FACT_QUESTION, fact_pages, filler_page
from tests.core.test_server_support import TOKEN, RemoteServer, tiny_model

SMALL = ContextBudget.for_context(2048, reserve_tokens=512)
BIG = ContextBudget.for_context(32768)


def text_document(name: str, pages: list[str]) -> ParsedDocument:
    sections = build_sections((None, n, t, 0) for n, t in enumerate(pages, 1))
    return ParsedDocument(name, "text", name.ljust(64, "0"), 1, sections, pages=len(pages))


@pytest.fixture(scope="module")
def counter() -> TokenizerCounter:
    return TokenizerCounter(Tokenizer.from_dir(R1_TOKENIZER))


@pytest.fixture(scope="module")
def survey() -> ParsedDocument:
    return text_document("survey.txt", fact_pages())


def run(context: DocumentContext, history, ask=None):
    items, gen = [], context.prepare(history, ask or (lambda messages: "notes"))
    while True:
        try:
            items.append(next(gen))
        except StopIteration as stop:
            return items, stop.value


def test_whole_documents_go_first_in_the_first_question(counter):
    doc = text_document("memo.txt", ["The budget for the bridge is 4.2 million.", "Work starts in May."])
    context = DocumentContext(DocumentSet.of([doc]), counter, BIG)
    first_items, first = run(context, [{"role": "user", "content": "How much is the budget?"}])
    assert isinstance(first_items[0], QuestionPrompt) and first.prompt.strategy == "whole"
    assert first.messages[0]["content"].startswith("Document: memo.txt (text, 2 pages)\n\n[Page 1]\nThe budget")
    follow = [{"role": "user", "content": "How much is the budget?"},
              {"role": "assistant", "content": "4.2 million."}, {"role": "user", "content": "When does work start?"}]
    _, second = run(context, follow)
    assert second.messages[0] == first.messages[0]  # the document stays where it was: a stable prefix
    assert second.messages[-1] == {"role": "user", "content": "When does work start?"}
    assert second.prompt_tokens > first.prompt_tokens


def test_retrieval_puts_the_page_37_passage_into_this_question(counter, survey):
    context = DocumentContext(DocumentSet.of([survey]), counter, SMALL, chunk_tokens=128, overlap_tokens=16)
    history = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi."},
               {"role": "user", "content": FACT_QUESTION}]
    _, prepared = run(context, history)
    assert prepared.prompt.strategy == "retrieval" and FACT_PAGE in [c.page for c in prepared.prompt.included]
    assert prepared.messages[:2] == history[:2]
    assert "7319" in prepared.messages[-1]["content"] and prepared.prompt_tokens <= SMALL.prompt_limit_tokens


def test_sequential_reading_yields_progress_then_the_final_messages(counter, survey):
    context = DocumentContext(DocumentSet.of([survey]), counter, SMALL, chunk_tokens=128, overlap_tokens=16)
    seen = []

    def ask(messages):
        seen.append(messages[0]["content"])
        return f"notes {len(seen)}"

    items, prepared = run(context, [{"role": "user", "content": "Summarise the whole document."}], ask)
    progress = [i for i in items if isinstance(i, ReadProgress)]
    parts = [p for p in progress if p.stage == "part"]
    assert prepared.prompt.strategy == "sequential" and len(parts) == prepared.prompt.parts > 1
    assert sorted(i for p in parts for i in p.chunk_indices) == [c.index for c in context.indexed.chunks]
    assert progress[-1].stage == "answer" and len(seen) == len(parts)  # the final question is left to the caller
    assert f"notes {len(parts)}" in prepared.messages[0]["content"]


def test_two_documents_are_one_set_and_citations_map_back(counter, survey):
    memo = text_document("memo.txt", ["The falcon count on the northern ridge was 412 this year."])
    documents = DocumentSet.of([memo, survey])
    context = DocumentContext(documents, counter, SMALL, chunk_tokens=128, overlap_tokens=16)
    _, prepared = run(context, [{"role": "user", "content": FACT_QUESTION}])
    assert "7319" in prepared.messages[-1]["content"] and "survey.txt" in prepared.messages[-1]["content"]
    rendered = documents.render()
    assert rendered.startswith("Document: memo.txt") and "\n\nDocument: survey.txt" in rendered
    start = documents.combined.text.index("vault access code")
    where = documents.locate(start, start + 17)
    assert where.document_index == 1 and where.section_index == FACT_PAGE - 1
    assert survey.text[where.char_start:where.char_end] == "vault access code"


def test_a_conversation_grown_over_the_context_is_refused_with_both_counts(counter):
    doc = text_document("memo.txt", ["The budget for the bridge is 4.2 million. " * 20])
    context = DocumentContext(DocumentSet.of([doc]), counter, SMALL)
    history = [{"role": "user", "content": "Budget?"}, {"role": "assistant", "content": "word " * 3000},
               {"role": "user", "content": "And?"}]
    with pytest.raises(DocumentTooLongError) as caught:
        run(context, history)
    assert caught.value.prompt_tokens > SMALL.prompt_limit_tokens and "2,048 tokens" in str(caught.value)
    assert f"{caught.value.prompt_tokens:,} tokens" in str(caught.value)


# --- the real server: a follow-up question reuses the document's cached prefix ------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model_dir = tiny_model(tmp_path_factory.mktemp("model"))
    srv = RemoteServer(model_dir, tmp_path_factory.mktemp("server"), "--precision", "fp32", "--context", "2048")
    yield srv
    srv.stop()


@pytest.mark.timeout(120)
def test_follow_up_question_reuses_the_cached_document_prefix(server, counter):
    doc = text_document("notes.txt", [filler_page(n) for n in range(1, 7)])
    context = DocumentContext(DocumentSet.of([doc]), counter, ContextBudget.for_context(2048, reserve_tokens=256))
    assert 500 < context.document_tokens < 1500
    with EngineClient(server.base_url, TOKEN, timeout=60) as client:
        _, first = run(context, [{"role": "user", "content": "What is on sheet 2?"}])
        assert first.prompt.strategy == "whole"
        reply = client.chat(first.messages, max_tokens=4, temperature=0)
        history = [{"role": "user", "content": "What is on sheet 2?"},
                   {"role": "assistant", "content": reply.answer or "Nothing."},
                   {"role": "user", "content": "And on sheet 5?"}]
        _, second = run(context, history)
        again = client.chat(second.messages, max_tokens=4, temperature=0)
    cached = again.usage.prompt_tokens_details.cached_tokens
    print(f"document {context.document_tokens} tokens; follow-up prompt {again.usage.prompt_tokens} tokens, "
          f"{cached} cached ({cached / context.document_tokens:.0%} of the document)")
    assert cached >= 0.9 * context.document_tokens
    assert FACT not in doc.text and os.path.commonprefix([first.messages[0]["content"],
                                                          second.messages[0]["content"]]).startswith("Document:")
