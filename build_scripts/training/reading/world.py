"""The things one document talks about and the facts it states about them, each rendered as a sentence.

``Doc`` hands out entities of each kind with names no other entity in the document has, and states facts:
each fact picks one of its relation's wordings, so the sentence the document contains (and a trace quotes)
is known exactly. Values are written as documents write them ("3,840 pounds", "4 March 2024", "7:15") and
kept in a canonical form for checking answers ("3840", "2024-03-04", "7:15").
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field, replace

from build_scripts.training.reading import vocab
from build_scripts.training.reading.relations import RELATIONS, Rel

THINGS = ("first aid kit", "spare parts box", "minibus", "long ladder", "boiler", "projector", "tool chest",
          "visitors' book", "cash box", "spill kit", "fire blanket", "master key", "trophy", "banner", "printer",
          "sewing machine", "lawnmower", "camera", "kayak", "generator", "piano", "microscope", "coffee machine",
          "tea urn", "gazebo", "wheelbarrow", "chainsaw", "telescope", "map chest", "lost property box",
          "membership list", "accounts book", "garden hose", "stage lights", "sound system", "hedge trimmer")
THING_WORDS = ("new", "old", "spare", "blue", "red", "green", "large", "small", "club", "kitchen", "office")
ACTIVITIES = ("yoga class", "swimming lessons", "guided tour", "choir practice", "pottery class", "reading group",
              "first aid course", "knitting circle", "chess club", "judo class", "bread course", "map reading course",
              "drawing class", "language class", "rowing session", "dance class", "craft morning", "quiz night")
ACTIVITY_WORDS = ("morning", "evening", "weekend", "beginners'", "children's", "advanced", "Saturday", "lunchtime")
VEHICLES = ("ferry", "bus", "train", "coach", "boat", "minibus", "shuttle")
MEMBER_NOUNS = ("members", "volunteers", "players", "nurses", "riders", "singers", "staff", "drivers", "students",
                "helpers", "pupils", "cooks")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
FIRST_DAY, LAST_DAY = dt.date(2015, 1, 1), dt.date(2027, 12, 31)


# People write facts with more around them than the fact: a clause before or after, which a quote carries along.
LEADS = ("As agreed, ", "From next month, ", "For now, ", "As before, ", "This year, ", "At present, ")
TAILS = (" this year", " for now", ", as agreed", " until further notice", ", as before", " since last spring",
         ", according to the minutes", " on weekdays", ", as usual", " at the moment")
DRESSED_SHARE = 0.25


def _dressed(rng: random.Random, sentence: str) -> str:
    """``sentence`` with, sometimes, a neutral clause before it (when it starts with "The ") or after it."""
    if rng.random() >= DRESSED_SHARE or not sentence.endswith("."):
        return sentence
    if sentence.startswith("The ") and rng.random() < 0.4:
        return rng.choice(LEADS) + "t" + sentence[1:]
    return sentence[:-1] + rng.choice(TAILS) + "."


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def date_text(day: dt.date, rng: random.Random) -> str:
    """A date as documents write it: "4 March 2024" mostly, "March 4, 2024" or ISO sometimes."""
    form = rng.random()
    if form < 0.6:
        return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    if form < 0.85:
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
    return day.isoformat()


def fill(template: str, subject: str, value: str, slots: dict[str, str]) -> str:
    """``{S}``/``{S_cap}`` the subject, ``{V}``/``{V_cap}`` the value, ``{R}``/``{R_cap}`` ... the slots."""
    caps = {f"{k}_cap": cap(v) for k, v in slots.items()}
    return template.format(S=subject, S_cap=cap(subject), V=value, V_cap=cap(value), **slots, **caps)


@dataclass(frozen=True, slots=True)
class Fact:
    rel: Rel
    subject: str  # as the document names it ("the Cedar team")
    value: str  # as the document writes it ("420 crates of fish")
    answer_value: str  # canonical: "Edda Morrow", "420", "2024-03-04"
    sentence: str  # the exact sentence in the document
    slots: dict[str, str] = field(default_factory=dict, compare=False)  # {R}, {U} ...
    number: int | None = None  # the amount, for counts, money and weights
    day: dt.date | None = None  # for dates

    def fill(self, template: str, subject: str | None = None, value: str | None = None) -> str:
        """A template of this fact's relation, about ``subject`` (default: its own) with its slots."""
        return fill(template, subject if subject is not None else self.subject,
                    value if value is not None else self.value, self.slots)

    @property
    def what(self) -> str:
        return self.fill(self.rel.what)

    def answer(self, subject: str | None = None) -> str:
        """The answer sentence; a count the document writes in words is answered in digits."""
        value = f"{self.number} {self.slots['U']}" if self.rel.value == "count" and "U" in self.slots else None
        return cap(self.fill(self.rel.answer, subject, value))

    def hop(self) -> str:
        return self.fill(self.rel.hop or "", self.subject)


@dataclass
class Doc:
    """One document's entities and facts. ``needles``: the facts a question needs (always rendered)."""

    rng: random.Random
    facts: list[Fact] = field(default_factory=list)
    needles: list[Fact] = field(default_factory=list)
    entities: dict[str, list[str]] = field(default_factory=dict)
    unknown: set[tuple[str, str]] = field(default_factory=set)  # (subject, relation): asked, so never stated
    style: str | None = None  # memo, letter ... (``layout.STYLES``); None: the layout draws one
    author: str | None = None  # who signs a letter or sends a memo; None: the layout picks someone
    _used: set[str] = field(default_factory=set)

    def name(self, kind: str) -> str:
        """A new entity of ``kind`` whose name is not used in this document yet."""
        for _ in range(200):
            phrase = self._make(kind)
            key = phrase.lower().removeprefix("the ")
            if key not in self._used and not any(key in u or u in key for u in self._used if len(u) > 3):
                self._used.add(key)
                self.entities.setdefault(kind, []).append(phrase)
                return phrase
        raise RuntimeError(f"ran out of unique {kind} names")

    def absent(self, kind: str) -> str:
        """A name of ``kind`` that this document never mentions (for questions it cannot answer)."""
        phrase = self.name(kind)
        self.entities[kind].remove(phrase)
        return phrase

    def some(self, kind: str, new_prob: float = 0.5) -> str:
        have = self.entities.get(kind, [])
        return self.rng.choice(have) if have and self.rng.random() >= new_prob else self.name(kind)

    def _make(self, kind: str) -> str:
        rng = self.rng
        if kind == "person":
            return vocab.person(rng)
        if kind == "group":
            return f"the {vocab.word_name(rng)} {rng.choice(vocab.GROUP_KINDS)}"
        if kind == "town":
            return vocab.town(rng)
        if kind == "firm":
            return vocab.firm(rng)
        if kind == "place":
            return vocab.place(rng)
        if kind == "thing":
            word = rng.choice(THING_WORDS + (vocab.word_name(rng),)) if rng.random() < 0.6 else ""
            return f"the {word + ' ' if word else ''}{rng.choice(THINGS)}"
        if kind == "event":
            return f"the {rng.choice(vocab.SEASONS + (vocab.word_name(rng),))} {rng.choice(vocab.EVENT_KINDS)}"
        if kind == "service":
            if rng.random() < 0.4:
                return f"the {rng.choice(('first', 'last', 'morning', 'evening', 'early'))} {rng.choice(VEHICLES)} " \
                       f"to {vocab.town(rng)}"
            return f"the {rng.choice(ACTIVITY_WORDS)} {rng.choice(ACTIVITIES)}"
        if kind == "site":
            town = vocab.town(rng)
            return rng.choice((f"the warehouse in {town}", f"the {town} depot", f"the store at {town}",
                               f"the {vocab.word_name(rng)} warehouse"))
        if kind == "parcel":
            return rng.choice((f"parcel {rng.randint(100, 9999)}", f"the parcel to {vocab.town(rng)}",
                               f"the crate for {vocab.person(rng)}"))
        raise ValueError(f"unknown entity kind {kind!r}")

    # --- facts ---------------------------------------------------------------------------------------
    def state(self, relation: str, subject: str | None = None, needle: bool = True, form: int | None = None,
              **given: object) -> Fact:
        """A new fact of ``relation`` about ``subject`` (a new entity when None); ``given`` pins parts of the
        value: ``value`` (the phrase), ``number``, ``day``, ``unit``, ``role``."""
        rel = RELATIONS[relation]
        if (subject, relation) in self.unknown:
            raise RuntimeError(f"{relation} of {subject} is what a question says the document does not state")
        subject = subject or self.name(rel.subject)
        slots, number, day = {}, None, None
        rng = self.rng
        if rel.value in ("person", "town", "place", "firm", "group"):
            value = str(given.get("value") or self.name(rel.value))
            canonical = value.removeprefix("the ")
        elif rel.value == "text":
            value = canonical = str(given["value"])
        elif rel.value == "day":
            value = canonical = str(given.get("value") or rng.choice(vocab.DAYS))
        elif rel.value == "time":
            value = canonical = str(given.get("value") or vocab.clock(rng))
        elif rel.value in ("period", "measure"):
            number = int(given.get("number") or rng.choice((rng.randint(2, 12), rng.randint(2, 60))))
            canonical = str(number)
            if rel.value == "period":
                value = f"{vocab.number_text(number, rng, words=True)} {rng.choice(vocab.PERIODS)}"
            else:
                adjective, noun, units = rng.choice(vocab.MEASURES)
                value = f"{vocab.number_text(number, rng, words=True)} {rng.choice(units)}"
                slots.update({"ADJ": adjective, "NOUN": noun})
        elif rel.value == "date":
            day = given.get("day") or FIRST_DAY + dt.timedelta(days=rng.randint(0, (LAST_DAY - FIRST_DAY).days))
            value, canonical = date_text(day, rng), day.isoformat()
        else:
            number = int(given.get("number") or self._amount(rel))
            canonical = str(number)
            written = vocab.number_text(number, rng, words=rel.value == "count")
            if rel.value == "money":
                value = f"{written} {given.get('unit') or rng.choice(vocab.CURRENCIES)}"
            elif rel.value == "weight":
                value = f"{written} kilograms"
            else:
                unit = str(given.get("unit") or self._unit(rel))
                value = f"{written} {unit}"
                slots["U"] = unit
        if rel.name == "role":
            slots["R"] = str(given.get("role") or rng.choice(vocab.ROLES))
        if "{VBZ}" in "".join(rel.sentences + rel.questions) or "{VBN}" in "".join(rel.sentences):
            slots.update(zip(("VB", "VBZ", "VBN"), rng.choice(vocab.VERBS)))
        slots.update(given.get("slots") or {})
        rendered = _dressed(rng, cap(fill(rel.sentences[form if form is not None else rng.randrange(len(rel.sentences))],
                                          subject, value, slots)))
        fact = Fact(rel, subject, value, canonical, rendered, slots, number, day)
        self.facts.append(fact)
        if needle:
            self.needles.append(fact)
        return fact

    def merge(self, a: Fact, b: Fact) -> tuple[Fact, Fact]:
        """Two counts of one subject stated in one sentence ("... holds 420 crates of fish and 75 crates of
        apples."): both facts now quote that sentence."""
        sentence = cap(fill(self.rng.choice(a.rel.sentences), a.subject, f"{a.value} and {b.value}", a.slots))
        merged = []
        for old in (a, b):
            new = replace(old, sentence=sentence)
            self.facts[self.facts.index(old)] = new
            if old in self.needles:
                self.needles[self.needles.index(old)] = new
            merged.append(new)
        self.needles = [f for i, f in enumerate(self.needles) if f.sentence != sentence or
                        all(g.sentence != sentence for g in self.needles[:i])]  # the sentence once
        return merged[0], merged[1]

    def _amount(self, rel: Rel) -> int:
        rng = self.rng
        if rel.value == "money":
            return rng.choice((rng.randint(2, 99), rng.randint(100, 999), rng.randint(1000, 9999)))
        if rel.value == "weight":
            return rng.randint(1, 60)
        return rng.choice((rng.randint(2, 12), rng.randint(2, 99), rng.randint(10, 999)))

    def _unit(self, rel: Rel) -> str:
        rng = self.rng
        if rel.name == "size":
            return rng.choice(MEMBER_NOUNS)
        if rng.random() < 0.5:
            return rng.choice(vocab.COUNTED)
        return f"{rng.choice(('sacks', 'crates', 'boxes', 'tins', 'bags', 'jars'))} of {rng.choice(vocab.GOODS)}"
