"""``generate``: one seeded example of a family, difficulty and document length."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .documents import estimate_tokens, render_document
from .example import Example
from .family_arithmetic import arithmetic_drills, build_arithmetic
from .family_comparison import build_comparison
from .family_dates import build_dates
from .family_logic import build_causal, build_deduction
from .family_lookup import LOOKUP_RELATIONS, build_lookup, build_multihop, lookup_question
from .family_meta import absent_entity, build_contradiction, build_unanswerable
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


@dataclass(frozen=True, slots=True)
class Drills:
    """How many extra questions ``generate_with_drills`` packs behind an example's document, by kind."""

    lookups: int = 0  # one-hop lookups of other facts the document states
    absent: int = 0  # questions on names the document never mentions ("not stated")
    arithmetic: int = 0  # counts, totals, differences and sums over facts the document states
    links: int = 0  # more lookups, of chain links only (in documents with chains): the step a walk repeats


def generate(seed: int, family: str | None = None, difficulty: int | None = None,
             target_tokens: int | None = None,
             count_tokens: Callable[[str], int] = estimate_tokens, chains: bool = False) -> Example:
    """One example, fully determined by ``seed`` and the other arguments.

    Unset arguments are drawn from the seed: any family, difficulty 1-3, 200-3,000 tokens. With
    ``chains``, counts and totals come with a chain of sentences through what they count (``World.chains``).
    """
    return _build(seed, family, difficulty, target_tokens, count_tokens, chains)[0]


def generate_with_drills(seed: int, family: str | None = None, difficulty: int | None = None,
                         target_tokens: int | None = None,
                         count_tokens: Callable[[str], int] = estimate_tokens,
                         drills: Drills = Drills(), chains: bool = False) -> list[Example]:
    """``generate``'s example, then the extra questions ``drills`` asks for on the same document.

    Every question needs a value found by its key (a name several tokens before it) among sentences that
    share a template, and a small model learns that slowest: one such token in a whole example. Lookup
    drills ask for more facts the document already states, so training (which packs the questions of one
    document behind one copy of it, ``training.data``) sees many retrievals per document read. Only facts
    stated once, in a sentence the document contains, are drilled: each drill is an ordinary lookup.
    Absent-name drills ask about names the document never mentions (answered "not stated"), so lookups
    alone do not teach that every question has a sentence to quote. Arithmetic drills practise the
    arithmetic family's moves (scans in document order, column sums and differences) on the document's
    own numbers: one main question holds only one or two of them.
    """
    example, world = _build(seed, family, difficulty, target_tokens, count_tokens, chains)
    if drills == Drills():
        return [example]
    candidates = [f for f in world.facts if (f.relation in LOOKUP_RELATIONS or f.rel.chain)
                  and f.sentence in example.document and not world.conflicted(f) and f.question() != example.question]
    rng = random.Random(f"drills:{seed}")
    chosen = rng.sample(candidates, min(drills.lookups, len(candidates)))
    if drills.links:
        links = [f for f in candidates if f.rel.chain and f not in chosen]
        chosen += random.Random(f"link drills:{seed}").sample(links, min(drills.links, len(links)))
    group = [example] + [_example(lookup_question(f), example.document, "lookup", 1, example.doc_tokens, seed)
                         for f in chosen]
    asked = {e.question for e in group}
    for _ in range(drills.absent):  # entities the document never names: "Not found"
        try:
            question = absent_entity(rng, world)
        except RuntimeError:  # every name of that kind is in the document already
            continue
        if question.text not in asked:
            asked.add(question.text)
            group.append(_example(question, example.document, "unanswerable", 1, example.doc_tokens, seed))
    if drills.arithmetic:
        questions = arithmetic_drills(random.Random(f"arithmetic drills:{seed}"), world, example.document,
                                      drills.arithmetic, asked)
        group += [_example(q, example.document, "arithmetic", 2, example.doc_tokens, seed) for q in questions]
    return group


def _build(seed: int, family: str | None, difficulty: int | None, target_tokens: int | None,
           count_tokens: Callable[[str], int], chains: bool) -> tuple[Example, World]:
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
    world = World(rng, chains)
    question = BUILDERS[family](rng, world, difficulty)
    document = render_document(world, target_tokens, count_tokens)
    return _example(question, document, family, difficulty, count_tokens(document), seed), world


def _example(question: Question, document: str, family: str, difficulty: int, doc_tokens: int,
             seed: int) -> Example:
    return Example(document=document, question=question.text, steps=question.steps, answer=question.answer,
                   answer_value=question.answer_value, family=family, difficulty=difficulty,
                   doc_tokens=doc_tokens, seed=seed)
