"""Rendering a world into a document of a target length: sections per kind, facts scattered among
distractor facts and filler, in random order.

A document has a title and one section per kind it covers (the kinds the question needs, plus up to
two others). Around the question's facts ("needles") go distractor facts (true facts of the same
world that the question does not need: other teams, other warehouses, other dates) and filler.
Length is measured with ``count_tokens`` on the whole text, because the real tokenizer is trained
later on this generator's output; sentences are added or removed until the count is within a few
percent of the target.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from .filler import filler_sentence
from .world import RELATIONS, Fact, World

KINDS = ("company", "inventory", "org", "timeline", "rules")
HEADINGS = {"company": "Company report", "inventory": "Inventory", "org": "Organisation chart",
            "timeline": "Timeline", "rules": "Rule book"}
TITLES = {"company": "annual report", "inventory": "inventory report", "org": "organisation chart",
          "timeline": "company timeline", "rules": "rule book"}
KIND_RELATIONS = {kind: tuple(r.name for r in RELATIONS.values() if r.kind == kind and not r.chain)
                  for kind in KINDS}  # distractors: a chain is only stated with what it links
DISTRACTOR_SHARE = 0.45  # of the length not taken by the question's own facts
TOLERANCE = 0.03  # allowed overshoot before sentences are removed again

_WORD = re.compile(r"[A-Za-z]+")
_DIGIT = re.compile(r"[0-9]")


def estimate_tokens(text: str) -> int:
    """A rough token count (1.3 per word, 1 per digit) for before the real tokenizer exists."""
    return round(1.3 * len(_WORD.findall(text)) + len(_DIGIT.findall(text)))


def populate(world: World, kinds: list[str], n_facts: int) -> None:
    """Add about ``n_facts`` distractor facts of the given kinds, respecting the world's rules."""
    relations = [r for kind in kinds for r in KIND_RELATIONS[kind]]
    for _ in range(2 * n_facts):
        if len(world.facts) - len(world.needles) >= n_facts:
            return
        relation = world.rng.choice(relations)
        try:
            if relation in ("order_rule", "parcel_rule"):
                world.add_rule(relation, needle=False)
            else:
                world.fresh(relation, needle=False)
        except RuntimeError:
            continue


class _Layout:
    """Sentences per section, kept in order; filler can be added at random places or removed."""

    def __init__(self, rng: random.Random, kinds: list[str], title: str) -> None:
        self.rng, self.kinds, self.title = rng, kinds, title
        self.sections: dict[str, list[tuple[str, bool]]] = {k: [] for k in kinds}  # (text, removable)
        self.paragraph_sizes = [rng.randint(3, 6) for _ in range(400)]

    def insert(self, kind: str, sentence: str, removable: bool) -> None:
        section = self.sections[kind]
        section.insert(self.rng.randint(0, len(section)), (sentence, removable))

    def remove_one(self) -> bool:
        spots = [(k, i) for k in self.kinds for i, (_, r) in enumerate(self.sections[k]) if r]
        if not spots:
            return False
        kind, i = self.rng.choice(spots)
        del self.sections[kind][i]
        return True

    def enforce(self, ordering: list[Fact]) -> None:
        """Put the sentences of ``ordering`` (one section) in that order, at the places they hold."""
        wanted = [f.sentence for f in ordering]
        section = self.sections[ordering[0].rel.kind]
        places = sorted(i for i, (text, _) in enumerate(section) if text in wanted)
        for place, text in zip(places, wanted):
            section[place] = (text, False)

    def text(self) -> str:
        parts, sizes = [self.title], iter(self.paragraph_sizes)
        for kind in self.kinds:
            sentences = [t for t, _ in self.sections[kind]]
            parts.append(HEADINGS[kind])
            while sentences:
                size = next(sizes, 4)
                parts.append(" ".join(sentences[:size]))
                sentences = sentences[size:]
        return "\n\n".join(parts)


def render_document(world: World, target_tokens: int,
                    count_tokens: Callable[[str], int] = estimate_tokens) -> str:
    """The document for ``world``: every needle, distractor facts, then filler up to the target."""
    rng = world.rng
    kinds = list(dict.fromkeys([f.rel.kind for f in world.needles] + world.topics))
    others = [k for k in KINDS if k not in kinds]
    kinds += rng.sample(others, min(len(others), rng.randint(0, 1 if target_tokens < 600 else 2)))
    rng.shuffle(kinds)
    company = world.new("company")
    title = f"{company} {'company handbook' if len(kinds) > 1 else TITLES[kinds[0]]}"
    layout = _Layout(rng, kinds, title)
    for fact in world.needles:
        layout.insert(fact.rel.kind, fact.sentence, False)

    spare = target_tokens - count_tokens(layout.text())
    populate(world, kinds, max(0, int(spare * DISTRACTOR_SHARE / 10)) + 2)
    needle_ids = {id(f) for f in world.needles}
    budget = spare * DISTRACTOR_SHARE
    for fact in world.facts:
        if id(fact) in needle_ids:
            continue
        cost = count_tokens(fact.sentence)
        if cost > budget:
            break
        budget -= cost
        layout.insert(fact.rel.kind, fact.sentence, True)

    # Add filler until within half a sentence of the target, then trim any overshoot.
    low, high = target_tokens - 7, target_tokens + max(20, TOLERANCE * target_tokens)
    for _ in range(400):
        n = count_tokens(layout.text())
        if n < low:
            for _ in range(max(1, int((low - n) / 14))):  # several at once when far off
                kind = rng.choice(kinds)
                layout.insert(kind, filler_sentence(rng, world, kind), True)
        elif n > high and layout.remove_one():
            continue
        else:
            break
    for ordering in world.orderings:
        layout.enforce(ordering)
    return layout.text()
