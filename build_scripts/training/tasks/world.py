"""The facts behind one document: entities, relations, and the one sentence that states each fact.

Every relation has exactly one sentence template, so a fact always reads the same way: the model learns
to find a fact by its fixed wording, and a trace can quote it verbatim. Templates use ``{S}`` for the
subject phrase ("the Atlas team"), ``{0}``/``{1}`` for the raw key parts, ``{v}`` for the value and
``{x[i]}`` for extra values (rules). The same template with a longer subject phrase ("the team that
owns Project Falcon") gives the answer sentence of a multi-hop question.

A ``World`` hands out unique names (so every lookup is unambiguous), keeps each (relation, key) to a
single value unless a task asks for a contradiction on purpose, and refuses facts a question has
"closed" (an unanswerable question's missing fact, or a count that must not grow).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from .names import FIRST_NAMES, LAST_NAMES, POOLS


@dataclass(frozen=True, slots=True)
class Relation:
    name: str
    kind: str  # the document section that states it
    key_cats: tuple[str, ...]  # entity category of each key part
    value_cat: str  # an entity category, "number", "date" or "link" (a chain's next name, or "nothing")
    sentence: str
    question: str
    what: str  # "who manages {S}": used in "Find ...", checks and "not stated" answers
    value_form: str = "{v}"  # canonical answer for a value
    chain: bool = False  # a link of a chain through everything one entity has: only stated with what it links


_R = Relation
RELATIONS: dict[str, Relation] = {r.name: r for r in (
    _R("owner", "company", ("project",), "team", "{S} is owned by the {v} team.",
       "Which team owns {S}?", "which team owns {S}", "{v} team"),
    _R("manager", "company", ("team",), "person", "{S} is managed by {v}.",
       "Who manages {S}?", "who manages {S}"),
    _R("team_city", "company", ("team",), "city", "{S} is based in {v}.",
       "Where is {S} based?", "where {S} is based"),
    _R("budget", "company", ("team",), "number", "{S} has a budget of {v} dollars.",
       "What is the budget of {S}?", "the budget of {S}"),
    _R("cost", "company", ("project",), "number", "{S} costs {v} dollars.",
       "How much does {S} cost?", "the cost of {S}"),
    _R("stock", "inventory", ("site", "item"), "number", "The stock of {1} at {S} is {v}.",
       "How many {1} does {S} hold?", "how many {1} {S} holds"),
    _R("order", "inventory", ("order",), "number", "{S} is worth {v} dollars.",
       "How much is {S} worth?", "the value of {S}"),
    _R("parcel", "inventory", ("parcel",), "number", "{S} weighs {v} kilograms.",
       "How much does {S} weigh?", "the weight of {S}"),
    _R("reports_to", "org", ("person",), "person", "{S} reports to {v}.",
       "Who does {S} report to?", "who {S} reports to"),
    _R("office", "org", ("person",), "city", "{S} works in the {v} office.",
       "In which office does {S} work?", "which office {S} works in", "{v} office"),
    _R("member", "org", ("person",), "team", "{S} is a member of the {v} team.",
       "Which team is {S} a member of?", "which team {S} is a member of", "{v} team"),
    _R("launch", "timeline", ("project",), "date", "{S} launched on {v}.",
       "When did {S} launch?", "when {S} launched"),
    _R("opened", "timeline", ("site",), "date", "{S} opened on {v}.",
       "When did {S} open?", "when {S} opened"),
    _R("joined", "timeline", ("person",), "date", "{S} joined the company on {v}.",
       "When did {S} join the company?", "when {S} joined the company"),
    _R("course", "rules", ("team",), "course", "Every member of {S} must take the {v} course.",
       "Which course must members of {S} take?", "which course members of {S} must take",
       "{v} course"),
    _R("badge", "rules", ("course",), "colour", "Everyone who takes {S} receives a {v} badge.",
       "Which badge does {S} give?", "which badge {S} gives", "{v} badge"),
    _R("closure", "rules", ("site",), "site", "If {S} closes, its items move to the {v} warehouse.",
       "If {S} closes, where do its items go?", "where the items of {S} go if it closes",
       "{v} warehouse"),
    _R("succession", "rules", ("person",), "person", "If {S} leaves, the role passes to {v}.",
       "If {S} leaves, who takes over the role?", "who takes over if {S} leaves"),
    _R("order_rule", "rules", ("rule",), "number",
       "Orders above {v} dollars are approved by the {x[0]}, and other orders by the {x[1]}.",
       "", "the rule for approving orders"),
    _R("parcel_rule", "rules", ("rule",), "number",
       "Parcels heavier than {v} kilograms are sent by {x[0]}, and other parcels by {x[1]}.",
       "", "the rule for sending parcels"),
    # chains through everything one team or warehouse has (only in documents that ask for them,
    # ``World.chains``): where it starts, then what follows each name, the last one followed by "nothing";
    # a count or a total walks the chain, one keyed lookup per link
    _R("plan_start", "company", ("team",), "project", "The plan of {S} starts with Project {v}.",
       "Which project does the plan of {S} start with?", "the first project in the plan of {S}", "Project {v}",
       chain=True),
    _R("plan_next", "company", ("team", "project"), "link", "In the plan of {S}, Project {1} is followed by {v}.",
       "What follows Project {1} in the plan of {S}?", "what follows Project {1} in the plan of {S}", chain=True),
    _R("shelf_start", "inventory", ("site",), "item", "The shelves of {S} start with {v}.",
       "Which item do the shelves of {S} start with?", "the first item on the shelves of {S}", chain=True),
    _R("shelf_next", "inventory", ("site", "item"), "link", "On the shelves of {S}, {1} are followed by {v}.",
       "What follows {1} on the shelves of {S}?", "what follows {1} on the shelves of {S}", chain=True),
)}

# How an entity is named in running text, and as a canonical answer.
SUBJECT = {"team": "the {} team", "project": "Project {}", "person": "{}", "site": "the {} warehouse",
           "order": "order {}", "parcel": "parcel {}", "course": "the {} course", "rule": "{}",
           "city": "{}", "item": "{}"}
CANONICAL = {"team": "{} team", "project": "Project {}", "person": "{}", "site": "{} warehouse",
             "order": "order {}", "parcel": "parcel {}", "course": "{} course", "city": "{}"}

NUMBER_RANGES = {"budget": (1000, 9999), "cost": (100, 999), "stock": (10, 999),
                 "order": (100, 999), "parcel": (1, 60), "order_rule": (300, 900),
                 "parcel_rule": (10, 40)}
FIRST_DAY, LAST_DAY = dt.date(2018, 1, 1), dt.date(2026, 12, 31)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def subject(cat: str, name: str) -> str:
    return SUBJECT[cat].format(name)


def canonical(cat: str, name: str) -> str:
    return CANONICAL[cat].format(name)


@dataclass(frozen=True, slots=True)
class Fact:
    relation: str
    key: tuple[str, ...]
    value: str
    extra: tuple[str, ...] = ()

    @property
    def rel(self) -> Relation:
        return RELATIONS[self.relation]

    @property
    def subject(self) -> str:
        return subject(self.rel.key_cats[0], self.key[0])

    @property
    def sentence(self) -> str:
        return self.say(self.subject)

    def say(self, subject_phrase: str) -> str:
        """This fact's sentence about ``subject_phrase`` (the plain subject, or a multi-hop phrase)."""
        return cap(self.rel.sentence.format(*self.key, S=subject_phrase, v=self.value, x=self.extra))

    def what(self, subject_phrase: str | None = None) -> str:
        return self.rel.what.format(*self.key, S=subject_phrase or self.subject)

    def question(self, subject_phrase: str | None = None) -> str:
        return self.rel.question.format(*self.key, S=subject_phrase or self.subject)

    @property
    def answer(self) -> str:
        """The canonical answer value this fact gives."""
        return self.rel.value_form.format(v=self.value)


@dataclass
class World:
    """Entities and facts of one document; the rng is the generator's, so everything is seeded."""

    rng: random.Random
    chains: bool = False  # whether a team's projects / a warehouse's items are also chained (``chain`` relations)
    facts: list[Fact] = field(default_factory=list)
    needles: list[Fact] = field(default_factory=list)  # facts the question needs: always rendered
    entities: dict[str, list[str]] = field(default_factory=dict)
    orderings: list[list[Fact]] = field(default_factory=list)  # must appear in this order
    topics: list[str] = field(default_factory=list)  # document kinds the question is about
    _used: set[str] = field(default_factory=set)  # membership only, never iterated
    _index: dict[tuple[str, tuple[str, ...]], list[Fact]] = field(default_factory=dict)
    _closed: list[tuple[str, tuple[str | None, ...] | None, str | None]] = field(default_factory=list)

    # -- names --------------------------------------------------------------------------------
    def _draw(self, cat: str) -> str:
        rng = self.rng
        for _ in range(200):
            if cat == "person":
                name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            elif cat == "order":
                name = str(rng.randint(3000, 9999))  # never a year
            elif cat == "parcel":
                name = str(rng.randint(100, 999))
            else:
                name = rng.choice(POOLS[cat])
            tag = "place:" + name if cat in ("site", "city") else f"{cat}:{name}"
            if tag not in self._used:
                self._used.add(tag)
                return name
        raise RuntimeError(f"ran out of unique {cat} names")

    def new(self, cat: str) -> str:
        """A name of ``cat`` not used anywhere in this document yet."""
        name = self._draw(cat)
        self.entities.setdefault(cat, []).append(name)
        return name

    def reserve(self, cat: str) -> str:
        """A name that will never appear in this document (for unanswerable questions)."""
        return self._draw(cat)

    def pick(self, cat: str, new_prob: float = 0.4) -> str:
        """An existing entity of ``cat`` (or a new one, with probability ``new_prob``)."""
        have = self.entities.get(cat, [])
        if not have or self.rng.random() < new_prob:
            return self.new(cat)
        return self.rng.choice(have)

    # -- facts --------------------------------------------------------------------------------
    def values(self, relation: str, key: tuple[str, ...]) -> list[Fact]:
        return self._index.get((relation, key), [])

    def conflicted(self, fact: Fact) -> bool:
        """Whether ``fact`` is one of several values stated for its key (a contradiction on purpose)."""
        return len(self.values(fact.relation, fact.key)) > 1

    def is_closed(self, relation: str, key: tuple[str, ...], value: str | None = None) -> bool:
        for rel, pattern, val in self._closed:
            if rel != relation or (val is not None and val != value):
                continue
            if pattern is None or all(p is None or p == k for p, k in zip(pattern, key)):
                return True
        return False

    def close(self, relation: str, key: tuple[str | None, ...] | None = None,
              value: str | None = None) -> None:
        """Forbid any further fact of ``relation`` matching ``key`` (None = any part) and ``value``."""
        self._closed.append((relation, key, value))

    def can_add(self, relation: str, key: tuple[str, ...], value: str | None = None) -> bool:
        return not self.values(relation, key) and not self.is_closed(relation, key, value)

    def add(self, relation: str, key: tuple[str, ...], value: str | None = None,
            extra: tuple[str, ...] = (), needle: bool = True, conflict: bool = False) -> Fact:
        """State a fact; a fresh value is drawn when ``value`` is None. Needles bypass closures."""
        if self.values(relation, key) and not conflict:
            raise ValueError(f"{relation}{key} already has a value")
        if value is None:
            value = self.random_value(relation, key)
        fact = Fact(relation, key, value, extra)
        self.facts.append(fact)
        self._index.setdefault((relation, key), []).append(fact)
        if needle:
            self.needles.append(fact)
        return fact

    def random_value(self, relation: str, key: tuple[str, ...] = ()) -> str:
        cat = RELATIONS[relation].value_cat
        if cat == "number":
            return str(self.rng.randint(*NUMBER_RANGES[relation]))
        if cat == "date":
            return self.random_date().isoformat()
        while True:
            value = self.pick(cat)
            if value not in key:  # nobody reports to themselves, no warehouse moves into itself
                return value

    def random_date(self) -> dt.date:
        return FIRST_DAY + dt.timedelta(days=self.rng.randint(0, (LAST_DAY - FIRST_DAY).days))

    def add_rule(self, relation: str, needle: bool = True, value: str | None = None) -> Fact | None:
        """State the document's one order or parcel rule (None if it already has one)."""
        key = ("orders",) if relation == "order_rule" else ("parcels",)
        if not self.can_add(relation, key):
            return None
        cat = "approver" if relation == "order_rule" else "transport"
        high, low = self.new(cat), self.new(cat)
        return self.add(relation, key, value or self.random_value(relation), (high, low), needle)

    def fresh(self, relation: str, needle: bool = True, value: str | None = None,
              **fixed: str) -> Fact:
        """A new fact of ``relation`` on a key no fact uses yet (``fixed`` pins key parts by cat)."""
        cats = RELATIONS[relation].key_cats
        for _ in range(100):
            key = tuple(fixed.get(c) or self.pick(c) for c in cats)
            val = value if value is not None else self.random_value(relation, key)
            if self.can_add(relation, key, val):
                return self.add(relation, key, val, needle=needle)
        raise RuntimeError(f"no free key for {relation}")
