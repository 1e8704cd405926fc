"""Checking a reasoning model's response: the shape of its trace and its final answer (pure Python).

The format is DeepSeek-R1's as the bundled model writes it: ``<think>\\n``, numbered steps, a last
``Check:`` step, ``</think>\\n\\n``, then a one-line answer. The benchmark's task accuracy grades the held-out
questions with these checks, and the training's step rewards build on them, so both judge an answer alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_STEP = re.compile(r"(\d+)\. (\S.*)")
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


def answer_correct(value: str, text: str) -> bool:
    """Whether the final answer in ``text`` (a full response or just the answer) gives the gold ``value``.

    ``value`` is the canonical gold value: a name ("Priya Nair"), a number ("465"), an ISO date,
    "not stated" or "contradiction". Case, punctuation, articles and whitespace are ignored; numbers may
    carry thousands separators; dates may be ISO or written with a month name. The answer must end with
    the value (the last number or date in it, for numbers and dates), except "not stated" and
    "contradiction" answers, which may say so in any common wording.
    """
    answer = final_answer(text)
    norm = _normalise(answer)
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
