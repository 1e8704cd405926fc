"""The held-out questions a model folder may ship (``heldout.json``), asked through the engine and graded.

A model trained for a task can ship questions of that task drawn apart from its training data; the benchmark
asks them greedily at each precision, so its task accuracy says what a precision costs on the model's own
job. The bundled model's set is written by ``build_scripts/training/export_heldout.py``; grading uses
``scoring`` only, so the product never imports the training code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.bench.scoring import answer_correct, parse_response

if TYPE_CHECKING:  # the benchmark's inputs (core.bench.workloads) read the questions without the engine
    from core.engine.engine import Engine

HELDOUT_FILE = "heldout.json"


@dataclass(frozen=True, slots=True)
class HeldoutQuestion:
    document: str
    question: str
    answer_value: str  # the gold value: a name, a number, an ISO date, "not stated" or "contradiction"
    family: str
    doc_tokens: int

    def user_message(self) -> str:
        """The document, then the question: the layout the model was trained on."""
        return f"{self.document}\n\nQuestion: {self.question}"


@dataclass(frozen=True, slots=True)
class GradedAnswer:
    family: str
    correct: bool
    well_formed: bool  # a trace in the trained format (``scoring.parse_response``)
    response: str


def has_heldout(model_dir: Path) -> bool:
    return (Path(model_dir) / HELDOUT_FILE).is_file()


def load_heldout(model_dir: Path) -> list[HeldoutQuestion]:
    """The model folder's held-out questions, in the order the set was written (shortest documents first)."""
    data = json.loads((Path(model_dir) / HELDOUT_FILE).read_text(encoding="utf-8"))
    return [HeldoutQuestion(**item) for item in data["questions"]]


def grade(question: HeldoutQuestion, response: str) -> GradedAnswer:
    return GradedAnswer(question.family, answer_correct(question.answer_value, response),
                        parse_response(response).well_formed, response)


def answer_heldout(engine: Engine, questions: list[HeldoutQuestion], max_tokens: int,
                   batch: int) -> list[GradedAnswer]:
    """Greedy answers to ``questions``, ``batch`` at a time, graded."""
    from core.engine.sampler import SamplingParams

    tokenizer = engine.tokenizer
    params = SamplingParams(max_tokens=max_tokens)
    graded = []
    for i in range(0, len(questions), batch):
        chunk = questions[i:i + batch]
        prompts = [tokenizer.prompt_ids([{"role": "user", "content": q.user_message()}]) for q in chunk]
        for question, done in zip(chunk, engine.generate_batch(prompts, params)):
            graded.append(grade(question, tokenizer.decode(done.token_ids, skip_special_tokens=True)))
    return graded
