"""Question families that follow facts: ``lookup`` (one hop) and ``multihop`` (two or three hops).

A lookup's answer sentence is the quoted fact itself, so the easiest family is a pure copy. A
multi-hop question names its subject by a chain ("the manager of the team that owns Project Falcon");
the trace resolves the chain from the inside out, one quoted sentence per hop, each "Find" naming the
concrete entity the previous hop produced.
"""

from __future__ import annotations

import random
from collections.abc import Collection

from .trace import Question, check, extract, infer, lookup_check, lower_first
from .world import RELATIONS, Fact, World, canonical, cap, subject

LOOKUP_RELATIONS = ("owner", "manager", "team_city", "budget", "cost", "stock", "order", "parcel",
                    "reports_to", "office", "member", "launch", "opened", "joined", "course",
                    "badge", "closure", "succession")

# Reverse lookups name a fact's value and ask for its subject, the name *before* the matched words of the
# sentence: what a scan reads ("every project the Atlas team owns"), while lookups and hops read the name
# after their key. relation: (question, what to find, answer), "{v}" the known side as the document writes
# it, "{a}" the answer (the answer sentence ends with it, as every answer does).
REVERSE = {
    "owner": ("Which project is owned by {v}?", "a project owned by {v}", "{V} owns {a}."),
    "manager": ("Which team is managed by {v}?", "a team managed by {v}", "{V} manages the {a}."),
    "member": ("Who is a member of {v}?", "a member of {v}", "A member of {v} is {a}."),
    "reports_to": ("Who reports to {v}?", "a person who reports to {v}", "The person who reports to {v} is {a}."),
    "stock": ("Which item does {v} hold?", "an item {v} holds", "{V} holds {a}."),
}

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


def reverse_sides(fact: Fact) -> tuple[str, str]:
    """(the known side as the document writes it, the answer) of a reverse lookup of ``fact``."""
    if fact.relation == "stock":  # "The stock of <item> at the <site> warehouse is <n>."
        return fact.subject, fact.key[1]
    return subject(fact.rel.value_cat, fact.value), canonical(fact.rel.key_cats[0], fact.key[0])


def reverse_find(fact: Fact) -> str:
    """What a reverse lookup (or a scan) of ``fact`` looks for: "a project owned by the Atlas team"."""
    return REVERSE[fact.relation][1].format(v=reverse_sides(fact)[0])


def reverse_question(fact: Fact) -> Question:
    """Ask for the subject of ``fact`` by its value; the caller makes sure no other sentence matches."""
    known, answer = reverse_sides(fact)
    what = reverse_find(fact)
    steps = [extract(fact, f"Find {what}.", answer),
             check(f"no other sentence in the document names {what}, so the answer is {answer}.", answer)]
    question, _, sentence = REVERSE[fact.relation]
    return Question(question.format(v=known), steps, sentence.format(v=known, V=cap(known), a=answer), answer)


def reverse_drills(rng: random.Random, world: World, document: str, n: int,
                   asked: Collection[str] = ()) -> list[Question]:
    """Up to ``n`` reverse lookups on ``document``, projects by team and items by warehouse first (the
    scans' reads). Only a value stated in exactly one sentence of its relation is asked, and never one of
    two conflicting statements, so each answer is the one sentence the document gives."""
    groups: dict[tuple[str, str], list[Fact]] = {}
    for f in world.facts:
        if f.relation in REVERSE and f.sentence in document:
            groups.setdefault((f.relation, reverse_sides(f)[0]), []).append(f)
    facts = [fs[0] for fs in groups.values() if len(fs) == 1 and not world.conflicted(fs[0])]
    rng.shuffle(facts)
    facts.sort(key=lambda f: f.relation not in ("owner", "stock"))  # stable: shuffled within each part
    questions = [reverse_question(f) for f in facts]
    return [q for q in questions if q.text not in asked][:n]


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

