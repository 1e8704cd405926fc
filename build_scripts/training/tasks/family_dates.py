"""The ``dates`` family: days between two dated events, and the date N days after an event.

Calendar arithmetic is walked month by month, because that is the only way to do it with local
steps: state how long the month is ("Month 2024-02 has 29 days", a fact the model memorises for the
108 months of 2018-2026), take the days left in it, and carry a running total (or a count of days
still to add) into the next month. Every addition and subtraction is written column by column.
Level 1 stays within one month, level 2 crosses one month boundary, level 3 crosses two or three.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random

from .example import TraceStep
from .scratchpad import add_text, compare_dates, compare_numbers, sub_text
from .trace import Question, check, compute, extract, infer
from .world import Fact, World

EVENTS = {"launch": ("project", "the launch of {S}"), "opened": ("site", "the opening of {S}"),
          "joined": ("person", "the day {S} joined the company")}


def month_days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _ym(year: int, month: int) -> str:
    return f"{year}-{month:02d}"


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _month_steps(year: int, month: int, day: int) -> tuple[list[TraceStep], int]:
    """State the month's length and, when starting mid-month, the days left after ``day``."""
    dim = month_days(year, month)
    steps = [infer(f"Month {_ym(year, month)} has {dim} days.", str(dim))]
    if day:
        steps.append(compute(f"Days left in {_ym(year, month)} after day {day}: "
                             f"{sub_text(dim, day)}", str(dim - day)))
    return steps, dim - day


def interval_steps(a: dt.date, b: dt.date) -> list[TraceStep]:
    """Days from ``a`` to the later date ``b``, ending with a step whose value is the count."""
    if (a.year, a.month) == (b.year, b.month):
        return [compute(f"Both dates are in {_ym(a.year, a.month)}, so subtract the days: "
                        f"{sub_text(b.day, a.day)}", str(b.day - a.day))]
    steps, total = _month_steps(a.year, a.month, a.day)
    year, month = _next_month(a.year, a.month)
    while (year, month) != (b.year, b.month):
        month_steps, dim = _month_steps(year, month, 0)
        steps += month_steps
        steps.append(compute(f"Add the whole month {_ym(year, month)}: {add_text(total, dim)}",
                             str(total + dim)))
        total += dim
        year, month = _next_month(year, month)
    steps.append(compute(f"Add the {b.day} days of {_ym(year, month)} up to {b.isoformat()}: "
                         f"{add_text(total, b.day)}", str(total + b.day)))
    return steps


def add_days_steps(a: dt.date, n: int) -> list[TraceStep]:
    """The date ``n`` days after ``a``; the last step's value is that date."""
    steps: list[TraceStep] = []
    year, month, day, remaining = a.year, a.month, a.day, n
    while True:
        month_steps, left = _month_steps(year, month, day)
        steps += month_steps
        ym = _ym(year, month)
        if remaining == left:
            verdict = f"{remaining} vs {left}: the same, so the date is in {ym}"
        else:
            text, _ = compare_numbers(remaining, left, "larger")
            verdict = f"{text}, so the date is {'after' if remaining > left else 'in'} {ym}"
        steps.append(compute(f"Compare the {remaining} days to add with the {left} days left in "
                             f"{ym}: {verdict}.", f"{'after' if remaining > left else 'in'} {ym}"))
        if remaining <= left:
            if day:
                steps.append(compute(f"Add {remaining} days to day {day}: {add_text(day, remaining)}",
                                     str(day + remaining)))
            final = dt.date(year, month, day + remaining)
            steps.append(infer(f"So the date is {final.isoformat()}.", final.isoformat()))
            return steps
        steps.append(compute(f"Days still to add after {ym}-{month_days(year, month):02d}: "
                             f"{sub_text(remaining, left)}", str(remaining - left)))
        remaining -= left
        (year, month), day = _next_month(year, month), 0


def _later_date(rng: random.Random, a: dt.date, crossings: int) -> dt.date:
    """A date ``crossings`` month boundaries after ``a`` (later than ``a`` in its month if 0)."""
    year, month = a.year, a.month
    for _ in range(crossings):
        year, month = _next_month(year, month)
    low = a.day + 1 if crossings == 0 else 1
    return dt.date(year, month, rng.randint(low, month_days(year, month)))


def _event(world: World, date: dt.date) -> tuple[Fact, str]:
    relation = world.rng.choice(tuple(EVENTS))
    cat, phrase = EVENTS[relation]
    fact = world.add(relation, (world.new(cat),), date.isoformat())
    return fact, phrase.format(S=fact.subject)


def build_dates(rng: random.Random, world: World, difficulty: int) -> Question:
    crossings = {1: 0, 2: 1, 3: rng.randint(2, 3)}[difficulty]
    year, month = rng.randint(2018, 2025), rng.randint(1, 12)  # so the end stays within 2018-2026
    start = dt.date(year, month, rng.randint(1, month_days(year, month) - 1))
    end = _later_date(rng, start, crossings)
    n = (end - start).days
    if rng.random() < 0.5:
        fact, event = _event(world, start)
        steps = [extract(fact)] + add_days_steps(start, n)
        steps.append(check(f"counting {n} days on from {start.isoformat()} month by month reaches "
                           f"{end.isoformat()}.", end.isoformat()))
        return Question(f"What date is {n} days after {event}?", steps,
                        f"The date {n} days after {event} is {end.isoformat()}.", end.isoformat())
    dates = [start, end] if rng.random() < 0.5 else [end, start]
    (f1, e1), (f2, e2) = _event(world, dates[0]), _event(world, dates[1])
    order, _ = compare_dates(dates[0], dates[1], "earlier")
    steps = [extract(f1), extract(f2), compute(f"Order the dates: {order}.", start.isoformat())]
    steps += interval_steps(start, end)
    steps += [infer(f"So there are {n} days between {e1} and {e2}.", str(n)),
              check(f"counting {n} days on from {start.isoformat()} month by month reaches "
                    f"{end.isoformat()}.", str(n))]
    return Question(f"How many days passed between {e1} and {e2}?", steps,
                    f"Between {e1} and {e2} there are {n} days.", str(n))
