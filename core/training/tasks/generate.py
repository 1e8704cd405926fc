"""``generate``: one seeded example of a family, difficulty and document length."""

from __future__ import annotations

import random
from collections.abc import Callable

from .documents import estimate_tokens, render_document
from .example import Example
from .family_arithmetic import build_arithmetic
from .family_comparison import build_comparison
from .family_dates import build_dates
from .family_logic import build_causal, build_deduction
from .family_lookup import build_lookup, build_multihop
from .family_meta import build_contradiction, build_unanswerable
from .trace import Question
from .world import World

Builder = Callable[[random.Random, World, int], Question]
BUILDERS: dict[str, Builder] = {
    "lookup": build_lookup,
    "multihop": build_multihop,
    "arithmetic": build_arithmetic,
    "comparison": build_comparison,
    "dates": build_dates,
    "deduction": build_deduction,
    "causal": build_causal,
    "unanswerable": build_unanswerable,
    "contradiction": build_contradiction,
}
FAMILIES: tuple[str, ...] = tuple(BUILDERS)
DIFFICULTIES = (1, 2, 3)
MIN_TOKENS, MAX_TOKENS = 200, 3000


def generate(seed: int, family: str | None = None, difficulty: int | None = None,
             target_tokens: int | None = None,
             count_tokens: Callable[[str], int] = estimate_tokens) -> Example:
    """One example, fully determined by ``seed`` and the other arguments.

    Unset arguments are drawn from the seed: any family, difficulty 1-3, 200-3,000 tokens.
    """
    rng = random.Random(seed)
    family = family if family is not None else rng.choice(FAMILIES)
    difficulty = difficulty if difficulty is not None else rng.choice(DIFFICULTIES)
    if target_tokens is None:
        target_tokens = rng.randint(MIN_TOKENS, MAX_TOKENS)
    if family not in BUILDERS:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, not {difficulty!r}")
    if target_tokens <= 0:
        raise ValueError("target_tokens must be positive")
    world = World(rng)
    question = BUILDERS[family](rng, world, difficulty)
    document = render_document(world, target_tokens, count_tokens)
    return Example(document=document, question=question.text, steps=question.steps,
                   answer=question.answer, answer_value=question.answer_value, family=family,
                   difficulty=difficulty, doc_tokens=count_tokens(document), seed=seed)
