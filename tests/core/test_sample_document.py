"""The welcome screen's sample document: its three questions, asked through the real engine on the bundled model
exactly as the window sends them (the document parsed in a worker process, the window's prompt around it),
greedy, quotes grounded as the server grounds them for this model, one at a time, are answered right. ``ponder --self-test`` asks the same through the window."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.bench.scoring import answer_correct
from core.documents import ContextBudget, DocumentContext, DocumentSet, TokenizerCounter, parse_document
from core.engine.engine import Engine, EngineConfig
from core.engine.grounding import quotable
from core.engine.sampler import SamplingParams
from core.models.loader import load_model
from core.server.model_state import GenerationDefaults
from core.samples import answer_matches, load_sample
from core.tokenizer import Tokenizer

MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "ponder-reasoner-mini"
SAMPLE = load_sample()


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_model(MODEL, "fp32", "cpu"), Tokenizer.from_dir(MODEL), EngineConfig(context_tokens=4096))


@pytest.fixture(scope="module")
def context() -> DocumentContext:
    document = parse_document(SAMPLE.path)
    return DocumentContext(DocumentSet.of([document]), TokenizerCounter.from_model_dir(MODEL),
                           ContextBudget.for_context(4096))


def window_messages(context: DocumentContext, question: str) -> list[dict]:
    """What the window sends for a first question in a chat holding the sample."""
    preparing = context.prepare([{"role": "user", "content": question}], ask=None)
    try:
        while True:
            next(preparing)
    except StopIteration as done:
        return done.value.messages


def test_the_sample_is_a_short_document_of_the_bundled_models_kind(context):
    assert SAMPLE.path.parent.name == "samples" and len(SAMPLE.questions) == 3
    assert 150 < context.document_tokens < 500  # where the bundled model is strongest
    assert context.prompt(SAMPLE.questions[0].question).strategy == "whole"
    text = SAMPLE.path.read_text(encoding="utf-8")
    for q in SAMPLE.questions:  # a lookup's answer is in the text; an arithmetic one must be worked out
        assert (q.answer not in text) if q.kind == "arithmetic" else (q.answer in text)


@pytest.mark.parametrize("index", range(len(SAMPLE.questions)),
                         ids=[q.kind.replace(" ", "-") for q in SAMPLE.questions])
def test_the_bundled_model_answers_the_sample_questions_right(engine, context, index):
    question = SAMPLE.questions[index]
    messages = window_messages(context, question.question)
    prompt = engine.tokenizer.prompt_ids(messages)
    rules = GenerationDefaults.from_dir(MODEL).quotes
    assert rules  # the bundled model's quotes are grounded by default: as the server grounds them
    source = "\n\n".join(quotable(m["content"]) for m in messages if m["role"] in ("system", "user"))
    done = engine.generate_batch([prompt], SamplingParams(max_tokens=768),
                                 grounders=[rules.grounder(engine.tokenizer, source, messages[-1]["content"])])[0]
    response = engine.tokenizer.decode(done.token_ids, skip_special_tokens=True)
    assert answer_matches(question.answer, response) == answer_correct(question.answer, response)  # one rule
    assert answer_matches(question.answer, response), f"{question.question!r} -> {response[-400:]!r}"
