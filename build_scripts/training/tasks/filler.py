"""Filler sentences: plausible text around the facts, mentioning the document's own entities and
numbers, so that finding a fact takes reading rather than spotting the only name or number.

No filler sentence states, implies or contradicts a fact any question asks about: each template is
worded unlike every relation's sentence, and it only names entities the document already has.
"""

from __future__ import annotations

import random
import re

from .world import World

FILLER: dict[str, tuple[str, ...]] = {
    "company": (
        "The {team} team held {n} planning meetings this quarter.",
        "{person} gave a talk about Project {project} at the spring meeting.",
        "The {team} team finished {n} of its goals for the year.",
        "Project {project} was mentioned in {n} customer letters.",
        "Customers in {city} asked about Project {project} {n} times.",
        "The {team} team moved to a larger room in {year}.",
        "Staff rated the canteen {n} out of 100 in the last survey.",
        "The company printed {n} copies of this report.",
        "Sales grew in most regions, and spending stayed close to plan.",
        "The {team} team shared its results with the other teams.",
    ),
    "inventory": (
        "The {site} warehouse received {n} deliveries last month.",
        "The {site} warehouse has {n} loading docks.",
        "Trucks leave the {site} warehouse {n} times a week.",
        "A stock count at the {site} warehouse took {n} hours.",
        "The {item} in the {site} warehouse are checked every {n} days.",
        "Forklifts at the {site} warehouse were serviced in {year}.",
        "Damaged goods are returned to the supplier within {n} days.",
        "Every shipment is logged in the stock system on arrival.",
    ),
    "org": (
        "{person} has worked with {person2} on {n} projects.",
        "{person} mentors {n} new colleagues.",
        "{person} spoke at {n} meetings last year.",
        "The {city} office has {n} meeting rooms.",
        "New staff spend their first {n} days meeting their colleagues.",
        "{person} and {person2} wrote the staff guide together.",
    ),
    "timeline": (
        "The {city} office hosted a trade fair on {date}.",
        "In {year}, the company hired {n} new staff.",
        "A storm closed the roads near the {site} warehouse on {date}.",
        "{person} won the staff award on {date}.",
        "The company marked {n} years in business in {year}.",
        "The new website went live on {date}.",
    ),
    "rules": (
        "Visitors must sign in at the front desk.",
        "All rules are reviewed every {n} months.",
        "Staff may work from home {n} days a week.",
        "Lost badges must be reported within {n} days.",
        "Evacuation drills take place {n} times a year.",
        "Meeting rooms can be booked up to {n} days ahead.",
        "Expense claims must be filed within {n} days.",
        "Questions about these rules go to the help desk.",
    ),
}
_SLOT = re.compile(r"\{(\w+)\}")
_SLOT_CATS = {"team": "team", "person": "person", "person2": "person", "project": "project",
              "site": "site", "city": "city", "item": "item"}


def filler_sentence(rng: random.Random, world: World, kind: str) -> str:
    """One filler sentence for a section of ``kind``, naming only entities ``world`` already has."""
    for _ in range(50):
        template = rng.choice(FILLER[kind])
        values: dict[str, str] = {}
        for slot in _SLOT.findall(template):
            cat = _SLOT_CATS.get(slot)
            if cat is not None:
                have = world.entities.get(cat, [])
                if slot == "person2":
                    have = [p for p in have if p != values.get("person")]
                if not have:
                    break
                values[slot] = rng.choice(have)
            elif slot == "n":
                values[slot] = str(rng.randint(2, 60))
            elif slot == "year":
                values[slot] = str(rng.randint(2015, 2026))
            else:  # date
                values[slot] = world.random_date().isoformat()
        else:
            return template.format(**values)
    raise RuntimeError(f"no filler template fits a {kind} section")
