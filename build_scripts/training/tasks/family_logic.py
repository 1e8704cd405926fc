"""Families that apply stated rules: ``deduction`` (rules plus facts give a conclusion) and
``causal`` ("what happens if", from the document's contingency rules).

The rule sentence is quoted like any fact, and the conclusion is one short inference from the
quoted sentences, so the only new move is applying an if-then to a case.
"""

from __future__ import annotations

import random

from .scratchpad import add_text, compare_numbers
from .trace import Question, check, compute, extract, infer
from .world import World, cap


def _threshold(rng: random.Random, world: World) -> Question:
    """An order approved by one of two offices, or a parcel sent one of two ways, by a threshold."""
    relation = rng.choice(("order_rule", "parcel_rule"))
    rule = world.add_rule(relation)
    assert rule is not None  # the world is empty when a question is built
    kind = "order" if relation == "order_rule" else "parcel"
    limit = int(rule.value)
    value = limit
    while value == limit:  # "above" versus "other" must be clear-cut
        value = int(world.random_value(kind))
    case = world.fresh(kind, value=str(value))
    text, _ = compare_numbers(value, limit, "larger")
    above = value > limit
    outcome = rule.extra[0] if above else rule.extra[1]
    if kind == "order":
        state, unit, verb = "is worth", "dollars", f"is approved by the {outcome}"
        question = f"Who approves {case.subject}?"
    else:
        state, unit, verb = "weighs", "kilograms", f"is sent by {outcome}"
        question = f"How is {case.subject} sent?"
    steps = [extract(case), extract(rule),
             compute(f"Compare the {kind} with the limit: {text}.", str(max(value, limit))),
             infer(f"{cap(case.subject)} {state} {'more than' if above else 'no more than'} "
                   f"{limit} {unit}, so it {verb}.", outcome),
             check(f"{value} is {'above' if above else 'not above'} {limit}, and the rule gives "
                   f"{outcome} for such {kind}s.", outcome)]
    return Question(question, steps, f"{cap(case.subject)} {verb}.", outcome)


def build_deduction(rng: random.Random, world: World, difficulty: int) -> Question:
    """Level 1: a threshold rule; 2: member -> team rule -> course; 3: ... -> course rule -> badge."""
    if difficulty == 1:
        return _threshold(rng, world)
    person = world.new("person")
    member = world.add("member", (person,), world.new("team"))
    course = world.add("course", (member.value,), world.new("course"))
    facts = [member, course]
    if difficulty == 3:
        facts.append(world.add("badge", (course.value,), world.new("colour")))
    last = facts[-1]
    conclusion = (f"{person} must take the {course.value} course" if difficulty == 2
                  else f"{person} receives a {last.value} badge")
    links = " -> ".join([person] + [f.answer for f in facts])
    steps = [extract(f) for f in facts] + [
        infer(f"So {conclusion}.", last.answer),
        check(f"{links}; every rule applied is quoted from the document.", last.answer)]
    question = (f"Which course must {person} take?" if difficulty == 2
                else f"Which badge does {person} receive?")
    return Question(question, steps, f"{conclusion}.", last.answer)


def build_causal(rng: random.Random, world: World, difficulty: int) -> Question:
    """Level 1: where a closed warehouse's goods go; 2: the new stock there, or who takes over a
    role; 3: two closures in a row."""
    if difficulty == 2 and rng.random() < 0.5:
        manager = world.add("manager", (world.new("team"),), world.new("person"))
        takeover = world.add("succession", (manager.value,), world.new("person"))
        claim = f"if the manager of {manager.subject} leaves, the role passes to {takeover.value}"
        steps = [extract(manager), extract(takeover), infer(f"So {claim}.", takeover.value),
                 check(f"{manager.answer} manages {manager.subject}, and the rule for "
                       f"{manager.value} names {takeover.value}.", takeover.value)]
        return Question(f"If the manager of {manager.subject} leaves, who takes over the role?",
                        steps, cap(claim) + ".", takeover.value)
    item = world.new("item")
    first = world.add("closure", (world.new("site"),), world.new("site"))
    source, target = first.subject, f"the {first.value} warehouse"
    if difficulty == 1:
        world.add("stock", (first.key[0], item))  # the document says the warehouse has them
        claim = f"if {source} closes, its {item} move to the {first.answer}"
        steps = [extract(first), infer(f"The {item} are items of {source}, so they move to the "
                                       f"{first.answer}.", first.answer),
                 check(f"the rule for {source} names the {first.answer}.", first.answer)]
        return Question(f"If {source} closes, where do its {item} go?", steps,
                        cap(claim) + ".", first.answer)
    if difficulty == 2:
        moved = world.add("stock", (first.key[0], item))
        there = world.add("stock", (first.value, item))
        total = int(moved.value) + int(there.value)
        claim = f"if {source} closes, {target} will hold {total} {item}"
        steps = [extract(first), extract(moved), extract(there),
                 compute(f"Add the {item} moving in to the {item} already there. "
                         f"{add_text(int(there.value), int(moved.value))}", str(total)),
                 infer(f"So {claim}.", str(total)),
                 check(f"{there.value} + {moved.value} = {total}; the move and both counts are "
                       f"quoted from the document.", str(total))]
        return Question(f"If {source} closes, how many {item} will {target} hold?", steps,
                        cap(claim) + ".", str(total))
    second = world.add("closure", (first.value,), world.new("site"))
    both = f"the {first.key[0]} and {first.value} warehouses"
    claim = f"if {both} both close, the items of {source} end up in the {second.answer}"
    steps = [extract(first), infer(f"{cap(target)} is closed too, so the items move on.",
                                   first.answer),
             extract(second), infer(f"So {claim}.", second.answer),
             check(f"{first.key[0]} warehouse -> {first.answer} -> {second.answer}; only "
                   f"{both} close.", second.answer)]
    return Question(f"If {both} both close, where do the items of {source} end up?", steps,
                    cap(claim) + ".", second.answer)

