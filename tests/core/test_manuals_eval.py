"""The manual-page evaluation set: its files parse through the app's loader, and every gold answer is in the text.

A gold value missing from the text the model reads would grade the model on a question it cannot answer, and
an overlong text would not fit beside the model's reasoning; both are checked here, not assumed.
"""

from __future__ import annotations

import json
import re

import pytest

from build_scripts.evaluation.handwritten import KINDS, MANUALS_FILE, Item, load_manuals


def _flat(text: str) -> str:
    return " ".join(text.lower().split())


def _occurs(gold: str, text: str) -> bool:
    """Case and whitespace aside; a number may be written with thousands separators in the text."""
    flat = _flat(text)
    if _flat(gold) in flat:
        return True
    return bool(re.fullmatch(r"\d{4,}", gold)) and gold in {n.replace(",", "") for n in
                                                              re.findall(r"\d{1,3}(?:,\d{3})+", flat)}


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return load_manuals()


def test_every_file_parses_to_text(items):
    data = json.loads(MANUALS_FILE.read_text(encoding="utf-8"))
    texts = {it.document_id: it.document for it in items}
    for d in data["documents"]:
        assert (MANUALS_FILE.parent / d["file"]).is_file(), d["file"]
        assert texts[d["id"]].strip(), f"{d['file']} gave no text"


def test_gold_answers_occur_in_their_documents(items):
    for it in items:
        assert it.kind in KINDS, it
        if it.answer == "not stated":
            continue
        assert any(_occurs(gold, it.document) for gold in (it.answer, *it.accept)), (it.document_id, it.question)


def test_set_size_and_text_length(items):
    assert len(items) >= 8
    assert any(it.answer == "not stated" for it in items)
    for text in {it.document for it in items}:
        assert len(text.split()) * 1.4 <= 1200
