"""The natural-document generator: every trace is true of its document, and grounded decoding allows it.

Training traces and grounded decoding must agree: a gold quote the grounder would refuse teaches the model
something it can never write. So every gold response is walked token by token through a ``QuoteGrounder``
over its own document, with the bundled model's tokenizer.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from build_scripts.training.reading import READING_FAMILIES, generate_reading
from build_scripts.training.reading.vocab import NUMBER_WORDS
from build_scripts.training.tasks import curriculum
from core.engine.grounding import DEFAULT_OPENER, grounder_for, quotable
from core.paths import BUNDLED_MODEL, models_dir
from core.tokenizer import Tokenizer

SEEDS = range(300)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_dir(models_dir() / BUNDLED_MODEL)


@pytest.fixture(scope="module")
def examples():
    return [e for seed in SEEDS for e in generate_reading(seed, drills=3)]


def _numbers(text: str) -> list[int]:
    """The counts and amounts in ``text``, in order, small ones written in words included."""
    found = re.findall(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+|\b(?:" + "|".join(NUMBER_WORDS) + r")\b", text)
    return [NUMBER_WORDS.index(n) if n in NUMBER_WORDS else int(n.replace(",", "")) for n in found]


def test_every_family_is_drawn_and_documents_span_the_range(examples) -> None:
    families = Counter(e.family for e in examples)
    assert {f"read_{k}" for k in ("lookup", "two_hop", "sum", "difference", "dates", "rule", "unanswerable")} \
        <= set(families)
    assert len(READING_FAMILIES) == 6
    lengths = [e.doc_tokens for e in examples]
    assert min(lengths) < 200 and max(lengths) > 800


def test_quotes_are_verbatim_and_answers_follow_from_them(examples) -> None:
    for e in examples:
        quoted = [s.evidence for s in e.steps if s.evidence]
        for sentence in quoted:
            assert sentence in " ".join(e.document.split()) and f'The document says: "{sentence}"' in e.response()
        if e.family in ("read_lookup", "read_two_hop"):
            value = e.answer_value
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):  # written as documents write dates
                value = str(int(value[:4]))
            if value.isdigit():
                assert int(value) in _numbers(quoted[-1]) and int(value) in _numbers(e.answer)
            else:
                assert value in quoted[-1] and value in e.answer
        elif e.family in ("read_sum", "read_difference"):
            a, b = _numbers(quoted[0])[-2:] if len(quoted) == 1 else (_numbers(q)[-1] for q in quoted)
            assert int(e.answer_value) == (a + b if e.family == "read_sum" else abs(a - b))
        elif e.family == "read_unanswerable":
            assert e.answer.startswith("The document does not say") and e.answer_value == "not stated"


def test_a_question_on_a_name_the_document_lacks_really_lacks_it(examples) -> None:
    for e in examples:
        if e.family == "read_unanswerable" and not any(s.evidence for s in e.steps):
            missing = re.search(r"No sentence in the document mentions (.+)\.$", e.steps[0].text).group(1)
            assert missing.removeprefix("the ") not in e.document


def test_grounded_decoding_allows_every_gold_trace(tokenizer, examples) -> None:
    """Reading traces and the curriculum's: each response token passes the grounder's constraint."""
    stream = curriculum(2, seed=7)
    for e in examples[:120] + [next(stream) for _ in range(40)]:
        grounder = grounder_for(tokenizer, quotable(e.user_message()), DEFAULT_OPENER)
        for token in tokenizer.encode(e.response()):
            rule = grounder.constraint()
            if rule is not None:
                kind, ids = rule
                assert (token in ids) == (kind == "allow"), (e.family, e.response(), tokenizer.decode([token]))
            grounder.advance(token)
        assert grounder.quotes == sum(1 for s in e.steps if s.evidence) and not grounder.quoting
