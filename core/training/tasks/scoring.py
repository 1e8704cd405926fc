"""Scoring generated responses against the gold: per-step rewards for the RL stage, and answer
checking for evaluation.

``score_steps`` parses a response into numbered steps and measures how much of the gold reasoning it
reproduces: the gold evidence sentences it quotes verbatim, the gold intermediate values it reaches,
whether every quote it makes is really in the document, whether the final answer is right, and
whether the trace has the R1 shape (``<think>\\n``, numbered steps, a final ``Check:`` step,
``</think>\\n\\n``, a one-line answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .example import Example

_STEP = re.compile(r"(\d+)\. (\S.*)")
_QUOTE = re.compile(r'"([^"\n]+)"')
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")
_MONTH = "(" + "|".join(_MONTHS) + ")"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}}) {_MONTH},? (\d{{4}})\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH} (\d{{1,2}}),? (\d{{4}})\b", re.I)
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+")
_NOT_STATED = ("not stated", "does not say", "does not state", "doesn t say", "not mentioned",
               "does not mention", "no information", "not given", "does not specify",
               "cannot be determined")
_FILLER_WORDS = {"the", "a", "an", "and"}


@dataclass(slots=True)
class ParsedResponse:
    think: str
    steps: list[str]  # step texts, numbers removed
    answer: str
    well_formed: bool
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StepScore:
    evidence: float  # fraction of gold evidence sentences quoted verbatim
    values: float  # fraction of gold intermediate values present in the reasoning
    quotes_valid: float  # fraction of the response's quotes found verbatim in the document
    answer_correct: bool
    well_formed: bool
    problems: list[str] = field(default_factory=list)

    @property
    def reward(self) -> float:
        """One number in [0, 1]; the answer dominates, the steps give partial credit."""
        return (0.4 * self.answer_correct + 0.2 * self.evidence + 0.2 * self.values
                + 0.1 * self.quotes_valid + 0.1 * self.well_formed)


def parse_response(text: str) -> ParsedResponse:
    """Split a response into steps and answer, listing every way it departs from the format."""
    problems: list[str] = []
    body = text
    if body.startswith("<think>\n"):
        body = body[len("<think>\n"):]
    else:
        problems.append("does not start with '<think>' and a newline")
        body = body.removeprefix("<think>")
    if "</think>" in body:
        think, _, answer = body.partition("</think>")
        if not think.endswith("\n"):
            problems.append("'</think>' is not on its own line")
        if not answer.startswith("\n\n"):
            problems.append("'</think>' is not followed by a blank line")
    else:
        problems.append("no '</think>'")
        think, answer = body, ""
    answer = answer.strip()
    if not answer:
        problems.append("empty answer")
    elif "\n" in answer or "<think>" in answer or "</think>" in answer:
        problems.append("the answer is not a single line")
    steps: list[str] = []
    for line in think.strip("\n").split("\n") if think.strip() else []:
        match = _STEP.fullmatch(line)
        if match is None:
            problems.append(f"not a numbered step: {line[:40]!r}")
            continue
        if int(match[1]) != len(steps) + 1:
            problems.append(f"step {match[1]} is out of sequence")
        steps.append(match[2])
    if not steps:
        problems.append("no steps")
    elif not steps[-1].startswith("Check:"):
        problems.append("the last step is not a check")
    return ParsedResponse(think, steps, answer, not problems, problems)


def final_answer(text: str) -> str:
    """The text after the last ``</think>`` (the whole text if there is none), stripped."""
    return text.rpartition("</think>")[2].strip()


def _normalise(text: str) -> str:
    words = re.sub(r"[^a-z0-9-]+", " ", text.lower().replace("'", " ")).split()
    return " ".join(w for w in words if w not in _FILLER_WORDS)


def _dates(text: str) -> list[tuple[int, str]]:
    """(position, ISO date) for every date written in a common format."""
    found = [(m.start(), f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}") for m in _ISO.finditer(text)]
    for m in _DAY_MONTH_YEAR.finditer(text):
        found.append((m.start(), f"{m[3]}-{_MONTHS.index(m[2].lower()) + 1:02d}-{int(m[1]):02d}"))
    for m in _MONTH_DAY_YEAR.finditer(text):
        found.append((m.start(), f"{m[3]}-{_MONTHS.index(m[1].lower()) + 1:02d}-{int(m[2]):02d}"))
    return sorted(found)


def answer_correct(example: Example, text: str) -> bool:
    """Whether the final answer in ``text`` (a full response or just the answer) gives the gold value.

    Case, punctuation, articles and whitespace are ignored; numbers may carry thousands separators;
    dates may be ISO or written with a month name. The answer must end with the value (the last number
    or date in it, for numbers and dates), except "not stated" and "contradiction" answers, which may
    say so in any common wording.
    """
    answer = final_answer(text)
    norm, value = _normalise(answer), example.answer_value
    says_unknown = any(p in norm for p in _NOT_STATED)
    says_contradiction = "contradict" in norm
    if value == "not stated":
        return says_unknown and not says_contradiction
    if value == "contradiction":
        return says_contradiction
    if not norm or says_unknown or says_contradiction:
        return False
    if _ISO.fullmatch(value):
        dates = _dates(answer)
        return bool(dates) and dates[-1][1] == value
    if value.isdigit():
        numbers = [int(n.replace(",", "")) for n in _NUMBER.findall(answer)]
        return bool(numbers) and numbers[-1] == int(value)
    gold = _normalise(value)
    return norm == gold or norm.endswith(" " + gold)


def _mentions(text: str, value: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text, re.I) is not None


def score_steps(example: Example, generated: str) -> StepScore:
    """Step-level credit for a generated response against ``example``'s gold trace."""
    parsed = parse_response(generated)
    think = parsed.think
    evidence = [s.evidence for s in example.steps if s.evidence]
    values = list(dict.fromkeys(s.value for s in example.steps if s.value and s.kind != "check"))
    quotes = _QUOTE.findall(think)
    return StepScore(
        evidence=sum(f'"{e}"' in think for e in evidence) / len(evidence) if evidence else 1.0,
        values=sum(_mentions(think, v) for v in values) / len(values) if values else 1.0,
        quotes_valid=sum(q in example.document for q in quotes) / len(quotes) if quotes else 1.0,
        answer_correct=answer_correct(example, generated),
        well_formed=parsed.well_formed,
        problems=parsed.problems,
    )
