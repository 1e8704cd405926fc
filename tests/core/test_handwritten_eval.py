"""The hand-written evaluation: its shape, that training never sees its names, and how it grades."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from build_scripts.evaluation.handwritten import KINDS, SET_FILE, Item, grade_answer, load, quotes_outside
from build_scripts.training import sources
from build_scripts.training.reading import generate_reading, vocab

ROOT = Path(__file__).resolve().parents[2]
GENERATOR_CODE = sorted((ROOT / "build_scripts" / "training").rglob("*.py"))


def _documents() -> list[dict]:
    return json.loads(SET_FILE.read_text(encoding="utf-8"))["documents"]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_the_set_is_big_enough_and_covers_every_kind() -> None:
    docs, items = _documents(), load()
    assert len(docs) >= 25 and len(items) >= 80
    for doc in docs:
        assert 50 <= len(doc["text"].split()) <= 800, doc["id"]
    assert sum(bool(doc["names"]) for doc in docs) >= 25  # a manual page may name nobody
    kinds = Counter(item.kind for item in items)
    assert set(kinds) == set(KINDS)
    assert kinds["unanswerable"] >= 10 and kinds["lookup"] >= 20


def test_gold_answers_are_in_their_documents() -> None:
    """A lookup's gold value is written in its document (dates may be written in words)."""
    for item in load():
        if item.kind == "lookup" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", item.answer):
            text = " ".join(item.document.split()).lower().replace(",", "")
            assert any(g.lower().replace(",", "") in text for g in (item.answer, *item.accept)), item.question


def test_no_distinctive_name_occurs_in_the_generators_sources() -> None:
    names = vocab.held_out()
    for doc in _documents():
        for name in doc["names"]:
            assert name.lower() in names and " " not in name, name
    for lines in (sources.given_names(), sources.surnames(), sources.words(), sources.prose_sentences()):
        seen = set().union(*(_words(line) for line in lines))
        assert not names & seen, sorted(names & seen)[:10]
    for path in GENERATOR_CODE:
        assert not names & _words(path.read_text(encoding="utf-8")), path


def test_the_generator_never_writes_a_held_out_name() -> None:
    names = vocab.held_out()
    for seed in range(150):
        for example in generate_reading(seed, drills=2):
            found = names & _words(example.user_message() + example.response())
            assert not found, (seed, found)


def _item(answer: str, kind: str = "lookup", accept: tuple[str, ...] = ()) -> Item:
    return Item("doc", "text", "question?", kind, answer, accept)


@pytest.mark.parametrize(("gold", "answer", "right"), [
    ("Lowell Brannigan", "The treasurer is Lowell Brannigan.", True),
    ("Lowell Brannigan", "The treasurer is Ottilie Vance.", False),
    ("1690", "1,690 pounds would be left.", True),
    ("1690", "16900 pounds would be left.", False),
    ("2024-05-18", "The fair takes place on 18 May 2024.", True),
    ("2024-05-18", "The fair takes place on 19 May 2024.", False),
    ("not stated", "The document does not say how much the lock costs.", True),
    ("not stated", "The lock costs 40 pounds.", False),
    ("Lowell Brannigan", "The document does not say who the treasurer is, but Lowell Brannigan ...", False),
])
def test_grading(gold: str, answer: str, right: bool) -> None:
    assert grade_answer(_item(gold), answer) is right


def test_accepted_variants_count() -> None:
    assert grade_answer(_item("roof repair", "dates", ("the roof",)), "The roof comes first.")


def test_quotes_are_checked_against_the_document_by_text() -> None:
    document = "The hall fund stands at 3,840 pounds.\nThe new boiler\nwill cost 2,150 pounds."
    response = ('<think>\n1. Find the fund. The document says: "The hall fund stands at 3,840 pounds."\n'
                '2. Find the boiler. The document says: "The new boiler will cost 2,150 pounds."\n'
                '3. Find the lock. The document says: "The lock costs 40 pounds."\n</think>\n\nAnswer.')
    assert quotes_outside(response, document) == (3, ["The lock costs 40 pounds."])
