"""The benchmark's quality rows measure something on the bundled model (issue 28, point 5): its perplexity is
read on text it can model, its retention cases have known answers and fp32 finds them, at every depth of a
document that is its own. The real engine on the bundled model, fp32, one thread; nothing is timed."""

from __future__ import annotations

import pytest

from core.bench import quality
from core.bench.heldout import load_heldout
from core.bench.retention import retention_cases
from core.engine.launch import LaunchOptions, launch
from core.paths import default_model_dir
from core.tokenizer import Tokenizer

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(default_model_dir() is None, reason="the bundled model is not installed")]
POSITIONS = (0.1, 0.5, 0.9)


@pytest.fixture(scope="module")
def engine():
    return launch(LaunchOptions(default_model_dir(), "fp32", 2048, "cpu", 1, max_sequences=4)).engine


def test_fp32_retention_on_known_answer_documents_is_complete(engine):
    # the questions' own documents (about 600-700 tokens, so little else around them): fp32 answers every one,
    # wherever it sits; a harness where fp32 finds nothing (the old "secret vault code") measures nothing
    result = quality.retention(engine, 700, POSITIONS, 192, seed=0, model_dir=default_model_dir())
    assert result["kind"] == "known answers" and result["total"] == 3 * 2
    assert result["rate"] == 1.0, result["cases"]


def test_retention_cases_are_fixed_and_never_give_the_answer_away(tmp_path):
    tokenizer = Tokenizer.from_dir(default_model_dir())
    cases = retention_cases(tokenizer, 1500, POSITIONS, 0, default_model_dir())
    again = retention_cases(tokenizer, 1500, POSITIONS, 0, default_model_dir())
    assert [c.prompt_ids for c in cases] == [c.prompt_ids for c in again]  # the same prompts for every precision
    lookups = [q for q in load_heldout(default_model_dir()) if q.family == "lookup"]
    for case in cases:
        question = next(q for q in lookups if q.question == case.question)
        prompt = tokenizer.decode(case.prompt_ids)
        assert prompt.count(question.document) == 1 and case.gold == question.answer_value
        before = prompt.index(question.document) / len(prompt)
        assert abs(before - case.position) < 0.45  # early, midway or late, as far as whole documents allow
    assert {c.position for c in cases} == set(POSITIONS)


def test_perplexity_is_read_on_the_models_own_held_out_documents(engine, tmp_path):
    section = quality.error_section(engine, 256, tmp_path / "reference.pt", True, default_model_dir())
    assert section["text"] == "the model's held-out documents" and section["tokens"] == 256
    assert section["perplexity"] < 100  # text it can model (on the fixed English passage: about 300,000)
