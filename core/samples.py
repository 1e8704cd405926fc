"""The sample document the welcome screen offers, with the three questions the bundled model answers right.

``resources/samples/sample.json`` names the document and lists the questions with their expected answers.
The window shows them, ``ponder --self-test`` asks them through the window and grades the answers here, and
a test asks them through the engine. No torch and no Qt: both sides use it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.paths import samples_dir

SAMPLE_FILE = "sample.json"
_WORDS = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+")


@dataclass(frozen=True, slots=True)
class SampleQuestion:
    question: str
    answer: str  # the expected value: a number ("340") or a name ("Bergen office")
    kind: str = ""  # what it exercises, shown beside it ("a lookup", "two hops", ...)


@dataclass(frozen=True, slots=True)
class Sample:
    path: Path
    title: str
    questions: tuple[SampleQuestion, ...]


def load_sample(folder: Path | None = None) -> Sample:
    """The sample (``resources/samples`` unless ``folder``); raises OSError/ValueError when it is missing or broken."""
    folder = samples_dir() if folder is None else Path(folder)
    data = json.loads((folder / SAMPLE_FILE).read_text(encoding="utf-8"))
    path = folder / str(data["document"])
    if path.parent != folder or not path.is_file():
        raise ValueError(f"{folder / SAMPLE_FILE} names a document that is not in {folder}: {data['document']!r}")
    questions = tuple(SampleQuestion(str(q["question"]), str(q["answer"]), str(q.get("kind", "")))
                      for q in data["questions"])
    return Sample(path, str(data.get("title") or path.stem), questions)


def final_answer(response: str) -> str:
    """The text after the last ``</think>`` (all of it if there is none), stripped."""
    return response.rpartition("</think>")[2].strip()


def answer_matches(expected: str, response: str) -> bool:
    """Whether the final answer of ``response`` ends with ``expected``: the last number in it for a number,
    the last words (case and punctuation ignored) for a name. The same rule as the benchmark's grading
    (``core.bench.scoring.answer_correct``) for these values, which the window may not import."""
    answer = final_answer(response)
    if expected.isdigit():
        numbers = [int(n.replace(",", "")) for n in _NUMBER.findall(answer)]
        return bool(numbers) and numbers[-1] == int(expected)
    said, gold = _WORDS.findall(answer.lower()), _WORDS.findall(expected.lower())
    return bool(gold) and said[-len(gold):] == gold
