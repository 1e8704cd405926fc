"""Reading natural documents: open-vocabulary facts in many wordings, questions in many phrasings.

``generate_reading(seed, ...)`` gives one ``tasks.Example`` (document, question, gold trace, answer) in the
trace format the other families use, so both train together. Documents are memos, letters, minutes,
notices, lists and reports with real prose around the facts; a share of prompts is framed as the app
frames a dropped document (a header line, the instructions, then the question).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from build_scripts.training.reading.layout import render
from build_scripts.training.reading.questions import FAMILIES, lookup, unanswerable
from build_scripts.training.reading.world import Doc
from build_scripts.training.tasks.documents import estimate_tokens
from build_scripts.training.tasks.example import Example

READING_FAMILIES = tuple(f"read_{name}" for name in FAMILIES)
APP_FRAMING_SHARE = 0.5  # of the prompts: framed as the window frames a document
# Lookups underlie every other family and arithmetic chains the most steps, so both are drawn most often.
FAMILY_WEIGHTS = tuple({"lookup": 3, "two_hop": 2, "arithmetic": 3, "dates": 1, "rule": 1, "unanswerable": 2}[f]
                       for f in FAMILIES)
ABSENT_DRILL_SHARE = 0.2


def generate_reading(seed: int, family: str | None = None, target_tokens: int | None = None,
                     count_tokens: Callable[[str], int] = estimate_tokens, drills: int = 0) -> list[Example]:
    """One question on a new document (``family`` one of ``READING_FAMILIES``, else drawn from
    ``FAMILY_WEIGHTS``), then ``drills`` more questions on the same document: lookups of other facts it states,
    one in ``ABSENT_DRILL_SHARE`` a question it cannot answer."""
    rng = random.Random(f"reading:{seed}")
    name = (family or rng.choices(READING_FAMILIES, FAMILY_WEIGHTS)[0]).removeprefix("read_")
    target = target_tokens or rng.randint(80, 1000)
    doc = Doc(rng)
    asked = FAMILIES[name](rng, doc)
    extra = []
    for _ in range(drills):
        try:
            extra.append((unanswerable if rng.random() < ABSENT_DRILL_SHARE else lookup)(rng, doc))
        except RuntimeError:  # this document has no fresh fact or name left for one more question
            continue
    document = render(doc, target, count_tokens)
    framing = _framing(rng, document) if rng.random() < APP_FRAMING_SHARE else ""
    tokens = count_tokens(document)
    examples, asked_texts, flat = [], set(), " ".join(document.split())
    for item in [asked, *extra]:
        q = item.question
        if q.text in asked_texts or any(step.evidence and " ".join(step.evidence.split()) not in flat
                                        for step in q.steps):
            continue  # asked once; and a quoted sentence must be in the document, verbatim (line breaks aside)
        asked_texts.add(q.text)
        examples.append(Example(document, q.text, q.steps, q.answer, q.answer_value, f"read_{item.family}",
                                1, tokens, seed, framing))
    return examples


def _framing(rng: random.Random, document: str) -> str:
    """The header line the window puts above a dropped document (``core.documents.prompt.document_header``)."""
    stem = rng.choice(("notes", "memo", "report", "letter", "minutes", "notice", "handbook", "schedule"))
    if rng.random() < 0.5:
        return f"Document: {stem}.txt (text, 1 section)"
    pages = max(1, min(3, document.count("\n\n") // 4))
    return f"Document: {stem}.pdf (PDF, {pages} page{'s' if pages > 1 else ''})"
