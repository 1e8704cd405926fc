"""Question families that follow facts: ``lookup`` (one hop) and ``multihop`` (two or three hops).

A lookup's answer sentence is the quoted fact itself, so the easiest family is a pure copy. A
multi-hop question names its subject by a chain ("the manager of the team that owns Project Falcon");
the trace resolves the chain from the inside out, one quoted sentence per hop, each "Find" naming the
concrete entity the previous hop produced.
"""

from __future__ import annotations

import random

from .trace import Question, check, extract, infer, lookup_check, lower_first
from .world import RELATIONS, Fact, World, canonical, subject

LOOKUP_RELATIONS = ("owner", "manager", "team_city", "budget", "cost", "stock", "order", "parcel",
                    "reports_to", "office", "member", "launch", "opened", "joined", "course",
                    "badge", "closure", "succession")

# What a scan looks for, by a fact's value (or, for stock, its warehouse): the name *before* the matched
# words of the sentence, while lookups and hops read the name after their key. "{v}" is the known side as
# the document writes it.
REVERSE_FIND = {"owner": "a project owned by {v}", "stock": "an item {v} holds"}

# How a hop names its value in terms of its subject: the building block of multi-hop phrases.
NOUN_PHRASE = {"owner": "the team that owns {S}", "manager": "the manager of {S}",
               "reports_to": "the person {S} reports to", "member": "the team {S} is a member of"}
CHAINS_2 = (("owner", "manager"), ("owner", "team_city"), ("owner", "budget"), ("manager", "office"),
            ("manager", "reports_to"), ("manager", "joined"), ("member", "manager"),
            ("member", "team_city"), ("member", "budget"), ("reports_to", "office"),
            ("reports_to", "joined"), ("reports_to", "member"))
CHAINS_3 = (("owner", "manager", "office"), ("owner", "manager", "reports_to"),
            ("owner", "manager", "joined"), ("member", "manager", "office"),
            ("member", "manager", "reports_to"), ("manager", "reports_to", "office"))


def add_siblings(world: World, fact: Fact, n: int) -> None:
    """Near misses: ``n`` more facts of the same relation, sharing a key part when it has two."""
    for _ in range(n):
        cats, pin = fact.rel.key_cats, {}
        if len(cats) > 1:
            i = world.rng.randrange(len(cats))
            pin = {cats[i]: fact.key[i]}
        try:
            world.fresh(fact.relation, **pin)
        except RuntimeError:
            pass


def build_lookup(rng: random.Random, world: World, difficulty: int) -> Question:
    """One fact; harder levels add same-relation near misses (0, 2 or 4)."""
    fact = world.fresh(rng.choice(LOOKUP_RELATIONS))
    add_siblings(world, fact, 2 * (difficulty - 1))
    return lookup_question(fact)


def lookup_question(fact: Fact) -> Question:
    """Ask for ``fact``'s value: quote its sentence, check no other sentence gives it."""
    return Question(fact.question(), [extract(fact), lookup_check(fact)], fact.sentence, fact.answer)


def reverse_find(fact: Fact) -> str:
    """What a scan for facts like ``fact`` looks for: "a project owned by the Atlas team"."""
    known = fact.subject if fact.relation == "stock" else subject(fact.rel.value_cat, fact.value)
    return REVERSE_FIND[fact.relation].format(v=known)


def build_chain(world: World, relations: tuple[str, ...]) -> list[Fact]:
    """Facts for a chain of hops, each hop's value a fresh entity (so chains never loop)."""
    key = world.new(RELATIONS[relations[0]].key_cats[0])
    facts = []
    for relation in relations:
        cat = RELATIONS[relation].value_cat
        value = world.new(cat) if cat not in ("number", "date") else None
        facts.append(world.add(relation, (key,), value))
        key = facts[-1].value
    return facts


def chain_phrase(facts: list[Fact]) -> str:
    """The multi-hop subject of the last fact: "the manager of the team that owns Project X"."""
    phrase = facts[0].subject
    for fact in facts[:-1]:
        phrase = NOUN_PHRASE[fact.relation].format(S=phrase)
    return phrase


def chain_links(facts: list[Fact]) -> str:
    start = canonical(facts[0].rel.key_cats[0], facts[0].key[0])
    return " -> ".join([start] + [f.answer for f in facts])


def build_multihop(rng: random.Random, world: World, difficulty: int) -> Question:
    """Two hops (levels 1-2; level 2 adds near misses on every hop) or three hops (level 3)."""
    facts = build_chain(world, rng.choice(CHAINS_3 if difficulty == 3 else CHAINS_2))
    if difficulty >= 2:
        for fact in facts:
            add_siblings(world, fact, 1)
    phrase, last = chain_phrase(facts), facts[-1]
    steps = [extract(f) for f in facts]
    steps.append(infer(f"So {lower_first(last.say(phrase))}", last.answer))
    steps.append(check(f"{chain_links(facts)}; each link is quoted from the document, and no other "
                       f"sentence gives a different link.", last.answer))
    return Question(last.question(phrase), steps, last.say(phrase), last.answer)

