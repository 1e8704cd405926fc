"""Per-step rewards for the RL stage and evaluation: how much of the gold reasoning a response reproduces.

``score_steps`` parses a response into numbered steps (``core.bench.scoring``, the benchmark's own checks of
the trace's shape and the final answer) and measures the gold evidence sentences it quotes verbatim, the gold
intermediate values it reaches, and whether every quote it makes is really in the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.bench.scoring import answer_correct, parse_response

from .example import Example

_QUOTE = re.compile(r'"([^"\n]+)"')


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
        answer_correct=answer_correct(example.answer_value, generated),
        well_formed=parsed.well_formed,
        problems=parsed.problems,
    )
