"""Questions on a document and their gold traces.

The trace restates the question as asked ("Find: Who runs the cafe?"), quotes the sentence that answers it,
names the value, and the answer says it ("The answer is Edda Morrow."): nothing is reworded into a fixed
set of relation phrases, so a question in words no template has is copied, not rewritten.

- lookup: one fact, asked in one of its relation's question forms;
- two_hop: a fact whose value is the subject of a second ("where does the person who manages X work?");
- sum / difference: two counts, prices or weights, added or subtracted column by column;
- dates: which of two dated events comes first (or last);
- rule: a threshold rule applied to a quoted amount, or an if-then rule's consequence;
- unanswerable: the entity is not in the document, or it is but the asked fact is not: "The document
  does not say ...".

Every extract step quotes the fact's sentence exactly as the document has it; numbers quoted with commas
are used without them in the arithmetic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from build_scripts.training.reading import vocab
from build_scripts.training.reading.layout import sign_off
from build_scripts.training.reading.relations import HOPS, LOOKUPS, RELATIONS, Rel
from build_scripts.training.reading.world import Doc, Fact
from build_scripts.training.tasks.example import TraceStep
from build_scripts.training.tasks.scratchpad import add_text, compare_dates, sub_text
from build_scripts.training.tasks.trace import Question, check, compute, infer

COUNTABLE = ("holds", "bought", "size")
RULE_BANK = (  # (condition, consequence): an if-then rule; {T} is a thing, {P} a person, {F} a firm
    ("a member loses {T}", "the member must pay for a new one"),
    ("a book is returned late", "the borrower pays a fine for each day"),
    ("the fire alarm sounds", "everyone leaves by the nearest stairs and gathers in the car park"),
    ("a parcel arrives damaged", "the clerk photographs it and tells {F}"),
    ("it rains on the day", "the event moves into the village hall"),
    ("the red light stays on", "you should call the service line"),
    ("a lesson is cancelled", "the fee is refunded in full"),
    ("{T} breaks", "it must be reported to {P}"),
    ("the ferry is cancelled", "tickets are valid on the next crossing"),
    ("a plot is left untended for three months", "it is given to the next person on the waiting list"),
    ("a password is forgotten", "the user must answer two security questions"),
    ("the pressure falls too low", "the boiler stops and shows a fault code"),
    ("a child has an allergy", "the parents must tell {P} before the trip"),
    ("you smell gas", "you must open the windows and call the emergency line"),
    ("the forecast is poor", "the climbers join the valley walk instead"),
    ("a volunteer cannot come", "they should tell {P} the day before"),
    ("{T} is not returned", "the deposit is kept"),
    ("two teams have the same points", "the team with more goals is placed higher"),
    ("a tenant wants a pet", "they must ask {P} first"),
    ("the delivery is late", "{F} refunds the postage"),
    ("a chemical touches your skin", "you rinse it under running water for ten minutes"),
    ("the hall is booked twice", "the earlier booking wins"),
    ("a meeting has fewer than five members", "no vote can be taken"),
    ("the water is too cold", "the swimming lesson is moved indoors"),
)


@dataclass(frozen=True, slots=True)
class Asked:
    """A question with its trace, plus what the document must contain for it (beyond ``doc.needles``)."""

    question: Question
    family: str


def find(question: str, fact: Fact) -> TraceStep:
    """The question as asked, then the sentence that answers it."""
    return TraceStep(f'Find: {question} The document says: "{fact.sentence}"', "extract", fact.sentence,
                     fact.answer_value)


def also(fact: Fact) -> TraceStep:
    """The second sentence a question needs."""
    return TraceStep(f'Also needed: The document says: "{fact.sentence}"', "extract", fact.sentence,
                     fact.answer_value)


def answers(value: str, canonical: str) -> TraceStep:
    return check(f"that sentence answers the question: {value}.", canonical)


def answer_text(value: str) -> str:
    return f"The answer is {value}."


def _ask(rng: random.Random, fact: Fact, subject: str | None = None) -> str:
    return fact.fill(rng.choice(fact.rel.questions), subject)


def _single(question: str, fact: Fact) -> Question:
    """A one-sentence lookup: find, name the value as the document writes it, answer."""
    return Question(question, [find(question, fact), answers(fact.value, fact.answer_value)],
                    answer_text(fact.value), fact.answer_value)


REVERSE_SHARE = 0.2  # of lookups on relations that have them: name the value, ask for the subject
COMPOUND_SHARE = 0.3  # of count pairs (and lookups of a count): both counts in one sentence of one subject
AUTHOR_SHARE = 0.06  # of lookups: who wrote the letter, who the memo is from


def lookup(rng: random.Random, doc: Doc) -> Asked:
    if doc.style is None and rng.random() < AUTHOR_SHARE:
        return author(rng, doc)
    relation = rng.choice(LOOKUPS)
    if relation in ("holds", "bought") and rng.random() < COMPOUND_SHARE:
        fact, other, _ = _compound_pair(rng, doc)
        fact = rng.choice((fact, other))
        return Asked(_single(_ask(rng, fact), fact), "lookup")
    fact = doc.state(relation)
    _siblings(rng, doc, fact)
    if fact.rel.reverse and rng.random() < REVERSE_SHARE:
        return _reverse_lookup(rng, doc, fact)
    return Asked(_single(_ask(rng, fact), fact), "lookup")


def author(rng: random.Random, doc: Doc) -> Asked:
    """Who wrote a letter (its closing and name) or sent a memo (its "From:" line)."""
    doc.style = rng.choice(("memo", "letter"))
    doc.author = doc.name("person")
    line = " ".join(sign_off(doc, doc.style, doc.author).split())
    if doc.style == "memo":
        question = rng.choice(("Who is the memo from?", "Who sent the memo?", "Who wrote the memo?"))
    else:
        question = rng.choice(("Who wrote the letter?", "Who signed the letter?", "Who is the letter from?"))
    steps = [TraceStep(f'Find: {question} The document says: "{line}"', "extract", line, doc.author),
             answers(doc.author, doc.author)]
    return Asked(Question(question, steps, answer_text(doc.author), doc.author), "lookup")


def _reverse_lookup(rng: random.Random, doc: Doc, fact: Fact) -> Asked:
    """"What does Edda Morrow lead?": found by the value, answered with the subject (which the value alone
    must pick out: no other fact of the relation has it)."""
    for other in [f for f in doc.facts if f.rel is fact.rel and f is not fact and f.value == fact.value]:
        doc.facts.remove(other)
        if other in doc.needles:
            doc.needles.remove(other)
    question, _ = rng.choice(fact.rel.reverse)
    asked = fact.fill(question)
    subject = fact.subject.removeprefix("the ")
    steps = [find(asked, fact), answers(fact.subject, subject)]
    return Asked(Question(asked, steps, answer_text(fact.subject), subject), "lookup")


def two_hop(rng: random.Random, doc: Doc) -> Asked:
    """"Where does the person who leads the Grebe team work?": find that person, then ask the question of them."""
    first_rel, second_rel = rng.choice(HOPS)
    first = doc.state(first_rel)
    second = doc.state(second_rel, subject=first.value)
    for fact in (first, second):
        _siblings(rng, doc, fact)
    phrase = first.hop()
    template = rng.choice(second.rel.questions)
    question, then = second.fill(template, phrase), second.fill(template, first.value)
    steps = [TraceStep(f'Find {phrase}. The document says: "{first.sentence}"', "extract", first.sentence,
                       first.answer_value),
             TraceStep(f'So {phrase} is {first.value}. Find: {then} The document says: "{second.sentence}"',
                       "extract", second.sentence, second.answer_value),
             answers(second.value, second.answer_value)]
    return Asked(Question(question, steps, answer_text(second.value), second.answer_value), "two_hop")


def _counted_pair(rng: random.Random, doc: Doc) -> tuple[Fact, Fact, str]:
    """Two amounts of one kind: counts of one unit, prices, or weights; and how a question names them."""
    kind = rng.choice(("count", "count", "money", "weight"))
    if kind == "count" and rng.random() < COMPOUND_SHARE:
        return _compound_pair(rng, doc)
    if kind == "count":
        relation = rng.choice(COUNTABLE)
        a = doc.state(relation)
        b = doc.state(relation, unit=a.slots["U"])
        return a, b, a.slots["U"]
    if kind == "money":
        a = doc.state("costs")
        b = doc.state("costs", unit=a.value.split()[-1])
        return a, b, a.value.split()[-1]
    return doc.state("weighs"), doc.state("weighs"), "kilograms"


def _compound_pair(rng: random.Random, doc: Doc) -> tuple[Fact, Fact, str]:
    """Two counts of one subject in one sentence: "The Tromby depot holds 420 crates of fish and 75 crates of
    apples." (the unit a question names: "crates")."""
    relation = rng.choice(("holds", "bought"))
    noun = rng.choice(("sacks", "crates", "boxes", "tins", "bags", "jars"))
    first, second = rng.sample(vocab.GOODS, 2)
    a = doc.state(relation, unit=f"{noun} of {first}")
    b = doc.state(relation, subject=a.subject, unit=f"{noun} of {second}")
    a, b = doc.merge(a, b)
    return a, b, noun


def arithmetic(rng: random.Random, doc: Doc) -> Asked:
    a, b, unit = _counted_pair(rng, doc)
    if rng.random() < 0.5 or a.subject == b.subject or a.number == b.number:
        return _sum(rng, a, b, unit)
    big, small = (a, b) if a.number > b.number else (b, a)
    return _difference(rng, big, small, unit)


def _quotes(question: str, a: Fact, b: Fact) -> list[TraceStep]:
    return [find(question, a)] if a.sentence == b.sentence else [find(question, a), also(b)]


def _sum(rng: random.Random, a: Fact, b: Fact, unit: str) -> Asked:
    total = a.number + b.number
    if a.rel.name == "costs":
        question = rng.choice((f"How much do {a.subject} and {b.subject} cost together?",
                               f"What is the total price of {a.subject} and {b.subject}?"))
    elif a.rel.name == "weighs":
        question = f"How much do {a.subject} and {b.subject} weigh together?"
    elif a.subject == b.subject:  # one sentence states both
        verb, aux, done = {"holds": ("hold", "does", "holds"), "bought": ("buy", "did", "bought")}[a.rel.name]
        question = rng.choice((f"How many {unit} {aux} {a.subject} {verb} in all?",
                               f"How many {unit} {aux} {a.subject} {verb} altogether?",
                               f"What is the total number of {unit} {a.subject} {done}?"))
    else:
        verb = {"holds": "hold", "bought": "buy", "size": "have"}[a.rel.name]
        aux = "did" if a.rel.name == "bought" else "do"
        question = rng.choice((f"How many {unit} {aux} {a.subject} and {b.subject} {verb} together?",
                               f"How many {unit} {aux} {a.subject} and {b.subject} {verb} in total?"))
    steps = [*_quotes(question, a, b),
             compute(f"Add {a.number} and {b.number}. {add_text(a.number, b.number)}", str(total)),
             check(f"{a.number} + {b.number} = {total}, and both numbers are quoted from the document.", str(total))]
    return Asked(Question(question, steps, answer_text(f"{total} {unit}"), str(total)), "sum")


def _difference(rng: random.Random, big: Fact, small: Fact, unit: str) -> Asked:
    diff = big.number - small.number
    if big.rel.name == "costs":
        question = rng.choice((f"How much more does {big.subject} cost than {small.subject}?",
                               f"How much cheaper is {small.subject} than {big.subject}?"))
    elif big.rel.name == "weighs":
        question = f"How much heavier is {big.subject} than {small.subject}?"
    else:
        verb, aux = {"holds": ("hold", "does"), "bought": ("buy", "did"), "size": ("have", "does")}[big.rel.name]
        question = f"How many more {unit} {aux} {big.subject} {verb} than {small.subject}?"
    steps = [*_quotes(question, big, small),
             compute(f"Subtract {small.number} from {big.number}. {sub_text(big.number, small.number)}", str(diff)),
             check(f"{big.number} - {small.number} = {diff}, and both numbers are quoted from the document.", str(diff))]
    return Asked(Question(question, steps, answer_text(f"{diff} {unit}"), str(diff)), "difference")


def dates(rng: random.Random, doc: Doc) -> Asked:
    a = doc.state("event_date")
    b = doc.state("event_date")
    while b.day == a.day:
        doc.facts.remove(b)
        doc.needles.remove(b)
        b = doc.state("event_date")
    want = rng.choice(("earlier", "later"))
    text, winner = compare_dates(a.day, b.day, want)
    first = a if winner == a.day else b
    word = "first" if want == "earlier" else "last"
    question = rng.choice((f"Which comes {word}, {a.subject} or {b.subject}?",
                           f"Which is {want}: {a.subject} or {b.subject}?",
                           f"Which takes place {want}, {a.subject} or {b.subject}?"))
    steps = [find(question, a), also(b), compute(f"Compare the dates. {text}.", winner.isoformat()),
             check(f"both dates are quoted from the document, and {text}, so {first.subject} comes {word}.",
                   first.subject.removeprefix("the "))]
    return Asked(Question(question, steps, answer_text(f"{first.subject}, on {first.value}"),
                          first.subject.removeprefix("the ")), "dates")


def rule(rng: random.Random, doc: Doc) -> Asked:
    if rng.random() < 0.5:
        return _threshold_rule(rng, doc)
    condition, consequence = rng.choice(RULE_BANK)
    slots = {"T": doc.some("thing", 0.7), "P": doc.some("person", 0.5), "F": doc.some("firm", 0.5)}
    fact = doc.state("rule", subject=condition.format(**slots), value=consequence.format(**slots))
    question = _ask(rng, fact)
    steps = [find(question, fact), answers(fact.value, fact.value)]
    return Asked(Question(question, steps, answer_text(f"that {fact.value}"), fact.value), "rule")


def _threshold_rule(rng: random.Random, doc: Doc) -> Asked:
    """Parcels heavier than N kilograms go with one firm, the others with another; which firm takes this one?"""
    limit = rng.randint(5, 40)
    heavy, light = doc.name("firm"), doc.name("firm")
    weight = rng.choice((rng.randint(1, limit - 1), rng.randint(limit + 1, limit + 30)))
    parcel = doc.state("weighs", number=weight)
    rule_fact = doc.state("threshold", subject="parcels", value=heavy, slots={"L": str(limit), "W": light})
    firm = heavy if weight > limit else light
    side = f"{weight} is more than {limit}" if weight > limit else f"{weight} is not more than {limit}"
    question = rng.choice((f"Which firm carries {parcel.subject}?", f"Who sends {parcel.subject}?",
                           f"With which firm is {parcel.subject} sent?"))
    steps = [find(question, parcel), also(rule_fact), infer(f"{side}, so {parcel.subject} goes with {firm}.", firm),
             check(f"the weight and the rule are both quoted from the document, so the answer is {firm}.", firm)]
    return Asked(Question(question, steps, answer_text(firm), firm), "rule")


NOT_SAID = "The document does not say."


def unanswerable(rng: random.Random, doc: Doc) -> Asked:
    """A question about something the document never mentions, or mentions without the asked fact."""
    relation = rng.choice(LOOKUPS)
    rel = RELATIONS[relation]
    others = [r for r in LOOKUPS if RELATIONS[r].subject == rel.subject and r != relation]
    if rng.random() < 0.5 or not doc.entities.get(rel.subject) or not others:
        subject = doc.absent(rel.subject)
        probe = Fact(rel, subject, "", "", "", _probe_slots(rng, rel))
        question = _ask(rng, probe)
        doc.state(relation)  # the document does answer this question about something else
        steps = [not_found_step(question, subject),
                 check(f"{subject} does not occur anywhere in the document, so it does not answer the question.",
                       "not stated")]
    else:
        subject = rng.choice(doc.entities[rel.subject])
        stated = [f for f in doc.facts if f.subject == subject]
        if any(f.rel.name == relation for f in stated):
            return unanswerable(rng, doc)  # asked about something the document does say: draw again
        doc.unknown.add((subject, relation))
        fresh = [r for r in others if not any(f.rel.name == r for f in stated) and (subject, r) not in doc.unknown]
        near = rng.choice(stated) if stated and (not fresh or rng.random() < 0.5) \
            else doc.state(rng.choice(fresh), subject=subject)
        if near not in doc.needles:
            doc.needles.append(near)
        probe = Fact(rel, subject, "", "", "", _probe_slots(rng, rel))
        question = _ask(rng, probe)
        steps = [TraceStep(f'Find: {question} The document says: "{near.sentence}"', "extract", near.sentence, None),
                 check(f"that sentence is about {subject}, but it does not answer the question, and no other "
                       "sentence does.", "not stated")]
    return Asked(Question(question, steps, NOT_SAID, "not stated"), "unanswerable")


def not_found_step(question: str, subject: str) -> TraceStep:
    return TraceStep(f"Find: {question} No sentence in the document mentions {subject}.", "extract", None,
                     "not found")


def _probe_slots(rng: random.Random, rel: Rel) -> dict[str, str]:
    """What a question about a fact the document lacks needs besides its subject (a role, a unit, a verb)."""
    slots = {}
    if rel.name == "role":
        slots["R"] = rng.choice(vocab.ROLES)
    if rel.counted:
        slots["U"] = rng.choice(vocab.COUNTED)
    slots.update(zip(("VB", "VBZ", "VBN"), rng.choice(vocab.VERBS)))
    adjective, noun, _ = rng.choice(vocab.MEASURES)
    slots.update({"ADJ": adjective, "NOUN": noun})
    return slots


def _siblings(rng: random.Random, doc: Doc, fact: Fact) -> None:
    """Near misses: facts of the same relation about other subjects, and other facts about the same one."""
    for _ in range(rng.randint(0, 2)):
        doc.state(fact.rel.name, needle=False, **({"unit": fact.slots["U"]} if "U" in fact.slots else {}))
    others = [r for r in RELATIONS if RELATIONS[r].subject == fact.rel.subject and r != fact.rel.name]
    for relation in rng.sample(others, min(len(others), rng.randint(0, 2))):
        doc.state(relation, subject=fact.subject, needle=False)


FAMILIES = {"lookup": lookup, "two_hop": two_hop, "arithmetic": arithmetic, "dates": dates, "rule": rule,
            "unanswerable": unanswerable}
