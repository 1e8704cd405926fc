"""Names for the things a document talks about, from an open vocabulary: no answer can be memorised.

People are drawn from large lists of given names and surnames (``training.sources``) or invented from
syllables; teams, projects and firms are named with ordinary English words or invented words; towns are
invented from syllables and the endings English and Nordic place names have. Every draw is seeded by the
caller's ``random.Random``. Only the nouns things are counted in (sacks, crates, tickets) and the words of
roles and events are small fixed lists: they are vocabulary, not names, and the questions use them too.
"""

from __future__ import annotations

import json
import random
from functools import lru_cache
from pathlib import Path

from build_scripts.training import sources

# The hand-written evaluation's names are never drawn: that set measures reading text nobody trained on.
HELD_OUT_FILE = Path(__file__).resolve().parents[2] / "evaluation" / "handwritten.json"

_ONSETS = ("b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pr",
           "qu", "r", "s", "sh", "st", "t", "tr", "th", "v", "w", "wr", "y", "z", "")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ie", "oa", "ou", "y")
_CODAS = ("", "", "n", "r", "l", "s", "th", "nd", "rt", "ck", "m", "ll", "x", "nt", "rn", "sk")
_TOWN_ENDINGS = ("by", "ton", "ford", "wick", "mouth", "ham", "stead", "vik", "holm", "dale", "bury", "port",
                 "field", "more", "burgh", "haven", "stow", "sund", "ley", "minster")

# Things counted, bought, stored or delivered: (plural, unit it is counted in or "").
COUNTED = ("crates", "sacks", "boxes", "tins", "bottles", "jars", "barrels", "pallets", "bags", "bales", "rolls",
           "cartons", "parcels", "tickets", "chairs", "tables", "lamps", "blankets", "tents", "bicycles",
           "kettles", "ladders", "helmets", "gloves", "loaves", "books", "maps", "paintings", "clocks", "trees",
           "hives", "boats", "benches", "mugs", "plates", "candles", "posters", "keys", "batteries", "radios")
GOODS = ("flour", "apples", "tea", "coffee", "rice", "oats", "salt", "wool", "paper", "soap", "honey", "nails",
         "seeds", "cheese", "beans", "sugar", "paint", "glass", "coal", "timber", "fish", "plums", "cider", "oil")
ROLES = ("treasurer", "secretary", "chair", "captain", "warden", "coach", "clerk", "caretaker", "editor",
         "organiser", "steward", "librarian", "archivist", "quartermaster")
GROUP_KINDS = ("team", "committee", "club", "crew", "group", "society", "choir", "unit", "department", "office")
EVENT_KINDS = ("fair", "meeting", "concert", "walk", "festival", "open day", "market", "dinner", "race",
               "workshop", "exhibition", "auction", "picnic", "ceremony", "tournament", "lecture")
FIRM_KINDS = ("Builders", "Freight", "Supplies", "Heating", "Printers", "Trust", "Company", "Bakery",
              "Electrics", "Transport", "Foods", "Garage", "Plumbing", "Nurseries", "Press", "Partners")
PLACE_KINDS = ("Room", "Hall", "Building", "House", "Road", "Lane", "Street", "Yard", "Barn", "Wharf")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CURRENCIES = ("pounds", "euros", "dollars")
SEASONS = ("spring", "summer", "autumn", "winter")


@lru_cache(maxsize=1)
def held_out() -> frozenset[str]:
    """Every distinctive name of the hand-written evaluation, lower-cased."""
    data = json.loads(HELD_OUT_FILE.read_text(encoding="utf-8"))
    return frozenset(name.lower() for doc in data["documents"] for name in doc["names"])


# Invented and listed words are never slurs or swear words, whole or in part ("Fucksund").
_OFFENSIVE = ("fuck", "shit", "cunt", "nigg", "fag", "slut", "whore", "rape", "bitch", "dick", "cock", "wank",
              "twat", "piss", "porn", "nazi", "kike", "spic", "chink", "dyke", "tits", "anus", "arse", "crap",
              "damn", "hell", "negro", "retard", "sex", "kill", "dead", "die")


def allowed(name: str) -> bool:
    """No word of ``name`` is a held-out name, and none is offensive."""
    lowered = name.lower()
    if any(bad in lowered for bad in _OFFENSIVE):
        return False
    return not any(part.lower().strip(".'") in held_out() for part in name.replace("-", " ").split())


@lru_cache(maxsize=1)
def _given() -> tuple[str, ...]:
    return tuple(n for n in sources.given_names() if allowed(n))


@lru_cache(maxsize=1)
def _surnames() -> tuple[str, ...]:
    return tuple(n for n in sources.surnames() if allowed(n))


@lru_cache(maxsize=1)
def _name_words() -> tuple[str, ...]:
    """Ordinary words good as names of teams, projects and firms (4-9 letters)."""
    return tuple(w for w in sources.words() if 4 <= len(w) <= 9 and allowed(w))


def syllable_word(rng: random.Random, syllables: int | None = None) -> str:
    """An invented, pronounceable word ("Tresk", "Morbaven"), capitalised."""
    while True:
        count = syllables or rng.choice((1, 2, 2, 2, 3))
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(count))
        word = word[:1].upper() + word[1:]
        if len(word) > 1 and allowed(word):
            return word


def word_name(rng: random.Random) -> str:
    """A team, project or firm name: an ordinary word (often) or an invented one, capitalised."""
    if rng.random() < 0.7:
        word = rng.choice(_name_words())
        return word[:1].upper() + word[1:]
    return syllable_word(rng)


def person(rng: random.Random) -> str:
    """A full name: from the name lists mostly, invented sometimes, and a few with a middle initial."""
    given = rng.choice(_given()) if rng.random() < 0.8 else syllable_word(rng, rng.choice((1, 2)))
    family = rng.choice(_surnames()) if rng.random() < 0.75 else syllable_word(rng, rng.choice((1, 2, 3)))
    if rng.random() < 0.05:
        return f"{given} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {family}"
    return f"{given} {family}"


def town(rng: random.Random) -> str:
    while True:
        name = syllable_word(rng, rng.choice((1, 1, 2))) + rng.choice(_TOWN_ENDINGS)
        if allowed(name):
            return name


def firm(rng: random.Random) -> str:
    return f"{word_name(rng)} {rng.choice(FIRM_KINDS)}"


def place(rng: random.Random) -> str:
    """A room, building or street: "the Cedar Room", "Linden Lane"."""
    kind = rng.choice(PLACE_KINDS)
    name = f"{word_name(rng)} {kind}"
    return name if kind in ("Road", "Lane", "Street") else f"the {name}"


def money(rng: random.Random, low: int = 2, high: int = 9000) -> tuple[int, str]:
    """An amount and its currency ("pounds", "euros", "dollars")."""
    return rng.randint(low, high), rng.choice(CURRENCIES)


NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve")


def number_text(n: int, rng: random.Random, words: bool = False) -> str:
    """How a document writes a number: thousands separated by commas more often than not; with ``words``, a
    count up to twelve in words half the time ("four nurses")."""
    if words and n < len(NUMBER_WORDS) and rng.random() < 0.5:
        return NUMBER_WORDS[n]
    return f"{n:,}" if n >= 1000 and rng.random() < 0.7 else str(n)


def clock(rng: random.Random) -> str:
    return f"{rng.randint(6, 21)}:{rng.choice(('00', '15', '30', '45', '05', '10', '20', '40', '50'))}"


# Verbs a document does things with, for facts "done by" someone: (base, third person, past participle).
VERBS = tuple(tuple(v.split("/")) for v in (
    "handle/handles/handled", "run/runs/run", "check/checks/checked", "clean/cleans/cleaned",
    "repair/repairs/repaired", "inspect/inspects/inspected", "approve/approves/approved", "sign/signs/signed",
    "collect/collects/collected", "paint/paints/painted", "mend/mends/mended", "service/services/serviced",
    "cook/cooks/cooked", "bake/bakes/baked", "drive/drives/driven", "print/prints/printed", "book/books/booked",
    "lock/locks/locked", "count/counts/counted", "order/orders/ordered", "pack/packs/packed",
    "carry/carries/carried", "sort/sorts/sorted", "audit/audits/audited", "record/records/recorded",
    "test/tests/tested", "mark/marks/marked", "judge/judges/judged", "host/hosts/hosted", "plan/plans/planned",
    "design/designs/designed", "build/builds/built", "fix/fixes/fixed", "wash/washes/washed", "feed/feeds/fed",
    "water/waters/watered", "prune/prunes/pruned", "sweep/sweeps/swept", "guard/guards/guarded",
    "open/opens/opened", "close/closes/closed", "write/writes/written", "edit/edits/edited", "read/reads/read",
    "update/updates/updated", "teach/teaches/taught", "train/trains/trained", "coach/coaches/coached",
    "fund/funds/funded", "sponsor/sponsors/sponsored", "buy/buys/bought", "sell/sells/sold",
    "deliver/delivers/delivered", "supply/supplies/supplied", "install/installs/installed",
    "maintain/maintains/maintained", "replace/replaces/replaced", "measure/measures/measured",
    "weigh/weighs/weighed", "store/stores/stored", "keep/keeps/kept", "prepare/prepares/prepared",
    "serve/serves/served", "arrange/arranges/arranged", "lead/leads/led", "chair/chairs/chaired",
    "review/reviews/reviewed", "translate/translates/translated", "sew/sews/sewn", "film/films/filmed",
    "photograph/photographs/photographed", "announce/announces/announced", "decorate/decorates/decorated",
    "tune/tunes/tuned", "polish/polishes/polished", "label/labels/labelled", "cover/covers/covered",
    "check in/checks in/checked in", "set up/sets up/set up", "look after/looks after/looked after",
    "take care of/takes care of/taken care of", "pay for/pays for/paid for", "deal with/deals with/dealt with",
))
# How often something is done: "every {n} {unit}".
PERIODS = ("days", "weeks", "months", "years", "hours")
# Sizes things have: (adjective, noun, units).
MEASURES = (("long", "length", ("metres", "feet", "centimetres")), ("wide", "width", ("metres", "feet", "inches")),
            ("deep", "depth", ("metres", "feet", "centimetres")), ("high", "height", ("metres", "feet")),
            ("old", "age", ("years",)))
