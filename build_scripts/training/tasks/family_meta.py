"""Families about what the document does *not* settle: ``unanswerable`` and ``contradiction``.

Both teach the model to answer from the document only. An unanswerable trace shows the search and
its failure ("Not found: ..."); a contradiction trace quotes both conflicting sentences, in document
order. Every other family's check step says that no other sentence disagrees, so the model is always
asked to notice a second, conflicting statement.
"""

from __future__ import annotations

import random

from .family_lookup import CHAINS_2, LOOKUP_RELATIONS, build_chain, chain_phrase
from .example import TraceStep
from .trace import Question, also, check, extract, infer, not_found
from .world import RELATIONS, Fact, World, canonical

# Relations an entity of each category can have: what "present, but without this attribute" uses.
ABOUT = {"team": ("manager", "team_city", "budget", "course"),
         "project": ("owner", "cost", "launch"),
         "person": ("reports_to", "office", "member", "joined", "succession"),
         "site": ("stock", "opened", "closure")}
NUMERIC = ("stock", "budget", "cost", "order", "parcel", "launch", "opened", "joined")
NAMED = ("owner", "manager", "team_city", "reports_to", "office", "member", "course", "closure",
         "succession")


def _not_stated(what: str) -> str:
    return f"The document does not say {what}, so the answer is not stated."


def absent_entity(rng: random.Random, world: World) -> Question:
    relation = rng.choice(LOOKUP_RELATIONS)
    rel = RELATIONS[relation]
    cat = rel.key_cats[0]
    key = (world.reserve(cat),) + tuple(world.pick(c) for c in rel.key_cats[1:])
    world.topics.append(rel.kind)
    probe = Fact(relation, key, "")
    name = canonical(cat, key[0])
    what = probe.what()
    steps = [not_found(what, f"no sentence in the document mentions {probe.subject}."),
             check(f"the name {name} does not occur anywhere in the document, so the document "
                   f"does not say {what}.", "not stated")]
    return Question(probe.question(), steps, _not_stated(what), "not stated")


def _absent_attribute(rng: random.Random, world: World) -> Question:
    cat = rng.choice(tuple(ABOUT))
    relation = rng.choice(ABOUT[cat])
    name = world.new(cat)
    key = (name, world.new("item")) if relation == "stock" else (name,)
    world.close(relation, key)
    others = tuple(r for r in ABOUT[cat] if r != relation or r == "stock")
    near = world.fresh(rng.choice(others), **{cat: name})  # the entity is there...
    if relation == "stock":  # ...and so is the attribute, for another warehouse
        world.fresh("stock", item=key[1])
    probe = Fact(relation, key, "")
    what = probe.what()
    steps = [TraceStep(f'Find {what}. The document mentions {probe.subject}, but only to say: '
                       f'"{near.sentence}"', "extract", near.sentence, None),
             infer(f"Not found: no sentence in the document says {what}.", "not found"),
             check(f"every sentence that mentions {probe.subject} was read, and none says {what}.",
                   "not stated")]
    return Question(probe.question(), steps, _not_stated(what), "not stated")


def _broken_chain(rng: random.Random, world: World) -> Question:
    first_rel, second_rel = rng.choice(CHAINS_2)
    (first,) = build_chain(world, (first_rel,))
    second_key = (first.value,)
    world.close(second_rel, second_key)
    probe = Fact(second_rel, second_key, "")
    phrase = chain_phrase([first, probe])
    what, whole = probe.what(), probe.what(phrase)
    steps = [extract(first),
             not_found(what, f"no sentence in the document says {what}."),
             check(f"the document gives {first.what()} but never {what}, so it does not say "
                   f"{whole}.", "not stated")]
    return Question(probe.question(phrase), steps, _not_stated(whole), "not stated")


def build_unanswerable(rng: random.Random, world: World, difficulty: int) -> Question:
    """Level 1: the entity is absent; 2: it is present without the attribute; 3: a chain breaks."""
    return (absent_entity, _absent_attribute, _broken_chain)[difficulty - 1](rng, world)


def _conflict(world: World, relation: str, key: tuple[str, ...] | None = None) -> list[Fact]:
    first = world.fresh(relation) if key is None else world.add(relation, key)
    value = first.value
    while value == first.value:
        value = world.random_value(relation, first.key)
    second = world.add(relation, first.key, value, conflict=True)
    world.orderings.append([first, second])
    return [first, second]


def build_contradiction(rng: random.Random, world: World, difficulty: int) -> Question:
    """Level 1: two numbers or dates for one fact; 2: two names; 3: the second hop of a chain."""
    steps = []
    if difficulty < 3:
        first, second = _conflict(world, rng.choice(NUMERIC if difficulty == 1 else NAMED))
        phrase = first.subject
    else:
        first_rel, second_rel = rng.choice(CHAINS_2)
        (hop,) = build_chain(world, (first_rel,))
        first, second = _conflict(world, second_rel, (hop.value,))
        phrase = chain_phrase([hop, first])
        steps.append(extract(hop))
    what = first.what()
    steps += [extract(first), also(second, what),
              infer(f"{first.answer} and {second.answer} are different, so this is a "
                    f"contradiction.", "contradiction"),
              check(f"both sentences are in the document, and they give different answers for "
                    f"{what}.", "contradiction")]
    answer = f"The document says both {first.answer} and {second.answer}, so it is a contradiction."
    return Question(first.question(phrase), steps, answer, "contradiction")

