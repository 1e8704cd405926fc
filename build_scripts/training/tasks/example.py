"""One training example: a document, a question, the gold reasoning trace and the short answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from core.documents.prompt import question_messages

StepKind = Literal["extract", "infer", "compute", "check"]
STEP_KINDS: tuple[StepKind, ...] = ("extract", "infer", "compute", "check")


@dataclass(slots=True)
class TraceStep:
    """One numbered line of the trace.

    ``evidence`` is the document sentence an extract step quotes, verbatim; ``value`` is what the step
    establishes (an entity, a number, a date). The RL stage rewards a generated trace for quoting the
    gold evidence and reaching the gold values, step by step.
    """

    text: str
    kind: StepKind
    evidence: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:
            raise ValueError(f"unknown step kind {self.kind!r}")
        if "\n" in self.text:
            raise ValueError("a step is one line")


@dataclass(slots=True)
class Example:
    document: str
    question: str
    steps: list[TraceStep]
    answer: str  # the short final sentence
    answer_value: str  # canonical value: "Priya Nair", "465", "2024-03-17", "not stated", ...
    family: str
    difficulty: int
    doc_tokens: int
    seed: int
    framing: str = ""  # the window's header line for a dropped document; "" for the plain prompt

    def user_message(self) -> str:
        """Document first, so every question on one document shares its prompt prefix (an exercise has none).
        With ``framing``, the prompt the window sends for a dropped document (header, instructions, question)."""
        if self.framing:
            return question_messages(f"{self.framing}\n\n{self.document}", self.question)[0]["content"]
        return f"{self.document}\n\nQuestion: {self.question}" if self.document else f"Question: {self.question}"

    def response(self) -> str:
        """The assistant turn, DeepSeek-R1 style: numbered steps in <think>, then the answer."""
        lines = "\n".join(f"{i}. {step.text}" for i, step in enumerate(self.steps, 1))
        return f"<think>\n{lines}\n</think>\n\n{self.answer}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Example:
        fields = dict(data)
        fields["steps"] = [TraceStep(**step) for step in fields["steps"]]
        return cls(**fields)
