"""The ``comparison`` family: which of two is more, which of several is most, and full orderings.

Every comparison is one pairwise step that keeps a "best so far" (see ``scratchpad`` for how a pair
is decided). A superlative over k items is k - 1 such steps; an ordering picks place 1, 2, ... in
turn by the same procedure on the items left (selection), so one move covers all three levels.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from .example import TraceStep
from .scratchpad import compare_dates, compare_numbers
from .trace import Question, check, compute, extract, infer, join_names, lower_first
from .world import Fact, World, canonical


@dataclass(frozen=True, slots=True)
class Domain:
    relation: str
    cat: str
    words: tuple[tuple[str, str], tuple[str, str]]  # (pair words, superlative words), e.g. more/fewer
    pair_q: str
    super_q: str
    order_q: str
    best_a: str  # answer for pair and superlative questions
    order_a: str
    group: str  # how a list of names is written in a question


DOMAINS = (
    Domain("stock", "site", (("more", "fewer"), ("most", "fewest")),
           "Which warehouse holds {adj} {item}, {A} or {B}?",
           "Which of {group} holds the {adj} {item}?",
           "List {group} from the {adj} to the {opp} {item}.",
           "The warehouse with {the}{adj} {item} is the {W}.",
           "From the {adj} to the {opp} {item}: {L}.", "the {names} warehouses"),
    Domain("budget", "team", (("larger", "smaller"), ("largest", "smallest")),
           "Which team has the {adj} budget, {A} or {B}?",
           "Which of {group} has the {adj} budget?",
           "List {group} from the {adj} to the {opp} budget.",
           "The team with the {adj} budget is the {W}.",
           "From the {adj} to the {opp} budget: {L}.", "the {names} teams"),
    Domain("launch", "project", (("first", "last"), ("first", "last")),
           "Which project launched {adj}, {A} or {B}?",
           "Which of {group} launched {adj}?",
           "List {group} from the {adj} to the {opp} to launch.",
           "The project that launched {adj} is {W}.",
           "From the {adj} to the {opp} to launch: {L}.", "Projects {names}"),
    Domain("joined", "person", (("first", "last"), ("first", "last")),
           "Who joined the company {adj}, {A} or {B}?",
           "Which of {group} joined the company {adj}?",
           "List {group} from the {adj} to the {opp} to join the company.",
           "The person who joined the company {adj} is {W}.",
           "From the {adj} to the {opp} to join the company: {L}.", "{names}"),
)


def _values(rng: random.Random, domain: Domain, n: int) -> list[str]:
    if domain.relation in ("launch", "joined"):
        year = rng.randint(2018, 2026)
        same_year = rng.random() < 0.5  # so months and days get compared too
        dates: list[dt.date] = []
        while len(dates) < n:
            d = dt.date(year if same_year else rng.randint(2018, 2026), rng.randint(1, 12),
                        rng.randint(1, 28))
            if d not in dates:
                dates.append(d)
        return [d.isoformat() for d in dates]
    lo, hi = (10, 999) if domain.relation == "stock" else (1000, 9999)
    return [str(v) for v in rng.sample(range(lo, hi + 1), n)]


def _entity(fact: Fact, domain: Domain) -> str:
    return canonical(domain.cat, fact.key[0])


def _best(facts: list[Fact], domain: Domain, first: bool, steps: list[TraceStep]) -> Fact:
    """Running pairwise comparison; appends one compute step per pair and returns the winner."""
    best = facts[0]
    for other in facts[1:]:
        if domain.relation in ("launch", "joined"):
            text, day = compare_dates(dt.date.fromisoformat(best.value),
                                      dt.date.fromisoformat(other.value),
                                      "earlier" if first else "later")
            win_value = day.isoformat()
        else:
            text, number = compare_numbers(int(best.value), int(other.value),
                                           "larger" if first else "smaller")
            win_value = str(number)
        lead = f"Compare {best.subject} and {other.subject}: {text}."
        best = best if best.value == win_value else other
        steps.append(compute(f"{lead} Best so far: {best.subject}.", _entity(best, domain)))
    return best


def build_comparison(rng: random.Random, world: World, difficulty: int) -> Question:
    """Level 1: two items; 2: the most/least of 3-4; 3: order 3-4 items."""
    domain = rng.choice(DOMAINS)
    n, first = (2 if difficulty == 1 else rng.randint(3, 4)), rng.random() < 0.5
    item = world.new("item") if domain.relation == "stock" else ""
    facts = []
    for value in _values(rng, domain, n):
        name = world.new(domain.cat)
        facts.append(world.add(domain.relation, (name, item) if item else (name,), value))
    adj, opp = domain.words[0 if difficulty == 1 else 1][:: 1 if first else -1]
    fmt = {"adj": adj, "opp": opp, "item": item}
    group = domain.group.format(names=join_names([f.key[0] for f in facts]))
    steps = [extract(f) for f in facts]
    if difficulty < 3:
        winner = _entity(_best(facts, domain, first, steps), domain)
        answer = domain.best_a.format(the="" if difficulty == 1 else "the ", W=winner, **fmt)
        question = (domain.pair_q.format(A=facts[0].subject, B=facts[1].subject, **fmt)
                    if difficulty == 1 else domain.super_q.format(group=group, **fmt))
        steps.append(infer(f"So {lower_first(answer)}", winner))
        value = winner
    else:
        remaining, order = list(facts), []
        while remaining:
            place = len(order) + 1
            if len(remaining) == 1:
                best = remaining[0]
                steps.append(infer(f"Place {place}: {best.subject}, the only one left.",
                                   _entity(best, domain)))
            else:
                best = _best(remaining, domain, first, steps)
                steps.append(infer(f"Place {place}: {best.subject}.", _entity(best, domain)))
            order.append(best)
            remaining.remove(best)
        value = ", ".join(_entity(f, domain) for f in order)
        answer, question = domain.order_a.format(L=value, **fmt), domain.order_q.format(group=group, **fmt)
        steps.append(infer(f"So the order is {value}.", value))
    quoted = ", ".join(f"{_entity(f, domain)} {f.value}" for f in facts)
    steps.append(check(f"{quoted}: each value is quoted from the document and stated only once.",
                       value))
    return Question(question, steps, answer, value)
