"""Building blocks of gold traces: one helper per step kind, and the ``Question`` a family returns.

Step wording is fixed per kind so a small model learns a handful of moves, not prose:
- extract: ``Find <what>. The document says: "<sentence>"`` (a copy of one document sentence);
- a failed search: ``Find <what>. Not found: ...``;
- infer: ``So ...`` or a one-clause deduction;
- compute: one operation, written out by ``scratchpad``;
- check: the last step, ``Check: ...``, re-reading the result against the quoted sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

from .example import TraceStep
from .world import Fact


@dataclass(slots=True)
class Question:
    text: str
    steps: list[TraceStep]
    answer: str
    answer_value: str


def extract(fact: Fact, lead: str | None = None, value: str | None = None) -> TraceStep:
    """Quote the sentence stating ``fact``; ``lead`` replaces the default "Find <what>.", ``value`` the
    value the step finds (``fact``'s answer by default; a reverse lookup finds its subject)."""
    lead = lead or f"Find {fact.what()}."
    return TraceStep(f'{lead} The document says: "{fact.sentence}"', "extract", fact.sentence,
                     value or fact.answer)


def also(fact: Fact, what: str) -> TraceStep:
    """A second sentence about the same thing (the second half of a contradiction), quoted with the same opener
    as every quote, so grounded decoding constrains it too."""
    return TraceStep(f'Look for another sentence about {what}. The document says: "{fact.sentence}"', "extract",
                     fact.sentence, fact.answer)


def not_found(what: str, why: str) -> TraceStep:
    return TraceStep(f"Find {what}. Not found: {why}", "extract", None, "not found")


def infer(text: str, value: str | None = None) -> TraceStep:
    return TraceStep(text, "infer", None, value)


def compute(text: str, value: str | None = None) -> TraceStep:
    return TraceStep(text, "compute", None, value)


def check(text: str, value: str | None = None) -> TraceStep:
    return TraceStep(f"Check: {text}", "check", None, value)


def lookup_check(fact: Fact) -> TraceStep:
    return check(f"no other sentence in the document gives {fact.what()}, so the answer is "
                 f"{fact.answer}.", fact.answer)


def join_names(names: list[str]) -> str:
    """"A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def lower_first(text: str) -> str:
    """Lower-case a leading article only ("The Atlas team" -> "the Atlas team", names untouched)."""
    for word in ("The ", "Every ", "Everyone ", "If ", "Orders ", "Parcels "):
        if text.startswith(word):
            return word.lower() + text[len(word):]
    return text
