"""The training stream (``curriculum``), the held-out evaluation set, and text for the tokenizer.

Schedule (each stage keeps the earlier families, so nothing learnt is forgotten):

=====  =====================================================  ============  ===========
stage  families                                               difficulties  doc tokens
=====  =====================================================  ============  ===========
0      lookup                                                 1             200-400
1      lookup, multihop, comparison                           1-2           200-700
2      all nine (multi-hop and arithmetic twice as often)    1-3           200-1,000
3+     all nine (multi-hop and arithmetic twice as often)    1-3           200-3,000
=====  =====================================================  ============  ===========

Stage 0 teaches the two moves everything else is built from (find a sentence, copy it); stage 1 adds
chaining and one pairwise comparison; stage 2 is the acceptance range (documents up to 1,000
tokens); stage 3 stretches to long documents once the moves are solid. Multi-hop and arithmetic
chain several moves, so one wrong token anywhere fails them: they are drawn twice as often.

Seeds: training examples use seeds below ``HELDOUT_SEED_BASE`` (2**40) and the held-out set seeds at
or above it, so no held-out example can be drawn by the curriculum.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .documents import estimate_tokens
from .example import Example
from .generate import FAMILIES, Drills, generate, generate_with_drills

HELDOUT_SEED_BASE = 2**40
BUCKETS: tuple[tuple[int, int], ...] = ((200, 500), (500, 1000), (1000, 2000), (2000, 3000))


@dataclass(frozen=True, slots=True)
class Stage:
    families: tuple[str, ...]  # drawn uniformly: a family listed twice is drawn twice as often
    difficulties: tuple[int, ...]
    min_tokens: int
    max_tokens: int


STAGES: tuple[Stage, ...] = (
    Stage(("lookup",), (1,), 200, 400),
    Stage(("lookup", "multihop", "comparison"), (1, 2), 200, 700),
    Stage(FAMILIES + ("multihop", "arithmetic"), (1, 2, 3), 200, 1000),
    Stage(FAMILIES + ("multihop", "arithmetic"), (1, 2, 3), 200, 3000),
)


def stage_spec(stage: int) -> Stage:
    if stage < 0:
        raise ValueError("stage must be >= 0")
    return STAGES[min(stage, len(STAGES) - 1)]


def curriculum(stage: int, seed: int, count_tokens: Callable[[str], int] = estimate_tokens, *,
               spec: Stage | None = None, chains: bool = False) -> Iterator[Example]:
    """An endless, reproducible stream of training examples for ``stage`` (drawn as ``spec`` says, when given;
    ``chains`` as in ``generate``)."""
    for group in curriculum_groups(stage, seed, count_tokens, spec=spec, chains=chains):
        yield group[0]


def curriculum_groups(stage: int, seed: int, count_tokens: Callable[[str], int] = estimate_tokens, *,
                      drills: Drills = Drills(), spec: Stage | None = None,
                      chains: bool = False) -> Iterator[list[Example]]:
    """``curriculum``'s examples, each with the extra questions ``drills`` asks for on its document
    (``generate_with_drills``)."""
    spec = spec or stage_spec(stage)
    rng = random.Random(f"curriculum:{stage}:{seed}")
    while True:
        example_seed = rng.randrange(HELDOUT_SEED_BASE)
        yield generate_with_drills(example_seed, rng.choice(spec.families), rng.choice(spec.difficulties),
                                   rng.randint(spec.min_tokens, spec.max_tokens), count_tokens, drills, chains)


def heldout_set(n_per_family_per_bucket: int, seed: int = 0,
                count_tokens: Callable[[str], int] = estimate_tokens, chains: bool = False) -> list[Example]:
    """``n`` examples per family and length bucket, from held-out seeds (``chains`` as in ``generate``).

    Difficulties cycle 1-3 along the examples of a family and across its buckets, so even ``n=1``
    covers all three levels.

    Targets sit 10% inside each bucket, so documents land in their bucket despite length slack.
    """
    rng = random.Random(f"heldout:{seed}")
    examples = []
    for family in FAMILIES:
        for b, (low, high) in enumerate(BUCKETS):
            for i in range(n_per_family_per_bucket):
                example_seed = HELDOUT_SEED_BASE + rng.randrange(HELDOUT_SEED_BASE)
                target = rng.randint(int(low * 1.1), int(high * 0.9))
                examples.append(generate(example_seed, family, 1 + (b + i) % 3, target, count_tokens, chains))
    return examples


def sample_text(n_chars: int, seed: int = 0) -> str:
    """About ``n_chars`` of generated prompts and responses, to train the tokenizer on."""
    rng = random.Random(f"sample_text:{seed}")
    parts, size = [], 0
    while size < n_chars:
        example = generate(rng.randrange(HELDOUT_SEED_BASE), target_tokens=rng.randint(200, 1200))
        part = f"{example.user_message()}\n\n{example.response()}\n\n"
        parts.append(part)
        size += len(part)
    return "".join(parts)[:n_chars]
