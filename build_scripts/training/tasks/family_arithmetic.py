"""The ``arithmetic`` family: sums, differences and counts over facts scattered in the document.

Sums are running totals, one addition per step, each written column by column (see ``scratchpad``).
Counts and totals "over everything the document says about X" quote every matching sentence in
document order and end the scan with an explicit "Not found" step, so the model learns when to stop.
In a world with chains (``World.chains``) the document also chains a team's projects or a warehouse's
items ("The plan of the Atlas team starts with Project Vega.", "In the plan of the Atlas team, Project
Vega is followed by Project Lyra.", ... "followed by nothing."); a count or a total then walks that
chain, one keyed lookup per link, so no step has to find "another" sentence like one it already quoted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection

from .example import TraceStep
from .family_lookup import reverse_find
from .scratchpad import add_text, sub_text
from .trace import Question, check, compute, extract, infer, join_names, not_found
from .world import RELATIONS, Fact, World, cap, subject


def running_sum(values: list[int], labels: list[str]) -> tuple[list[TraceStep], int]:
    """One compute step per addition; ``labels`` name what each value counts."""
    steps, total = [], values[0]
    for i in range(1, len(values)):
        lead = f"Add {labels[0]} and {labels[1]}." if i == 1 else f"Add {labels[i]}."
        steps.append(compute(f"{lead} {add_text(total, values[i])}", str(total + values[i])))
        total += values[i]
    return steps, total


def _plus(values: list[int]) -> str:
    return " + ".join(map(str, values))


def _sum_sites(world: World, n: int) -> Question:
    item = world.new("item")
    return sum_question([world.add("stock", (world.new("site"), item)) for _ in range(n)])


def sum_question(facts: list[Fact]) -> Question:
    """How many of one item several warehouses hold together (``facts``: its stock at each)."""
    item = facts[0].key[1]
    group = f"the {join_names([f.key[0] for f in facts])} warehouses"
    values = [int(f.value) for f in facts]
    adds, total = running_sum(values, [f"the {item} of {f.subject}" for f in facts])
    steps = [extract(f) for f in facts] + adds + [
        infer(f"So {group} hold {total} {item} in total.", str(total)),
        check(f"{_plus(values)} = {total}, and each number is quoted from the document.", str(total))]
    together = "together" if len(facts) == 2 else "in total"
    return Question(f"How many {item} do {group} hold {together}?", steps,
                    f"{cap(group)} hold {total} {item} in total.", str(total))


def _difference(rng: random.Random, world: World, relation: str) -> Question:
    low, high = (10, 999) if relation == "stock" else (1000, 9999)
    big, small = sorted(rng.sample(range(low, high + 1), 2), reverse=True)
    if relation == "stock":
        item = world.new("item")
        a, b = (world.add("stock", (world.new("site"), item), str(v)) for v in (big, small))
    else:
        a, b = (world.add("budget", (world.new("team"),), str(v)) for v in (big, small))
    return difference_question(a, b)


def difference_question(a: Fact, b: Fact) -> Question:
    """How much more ``a`` states than ``b``: two stocks of one item, or two budgets (``a`` the larger)."""
    big, small = int(a.value), int(b.value)
    if a.relation == "stock":
        item = a.key[1]
        question = f"How many more {item} does {a.subject} hold than {b.subject}?"
        claim = f"{a.subject} holds {big - small} more {item} than {b.subject}"
        lead = f"Subtract the {item} of {b.subject} from the {item} of {a.subject}."
    else:
        question = f"How much larger is the budget of {a.subject} than the budget of {b.subject}?"
        claim = f"the budget of {a.subject} is {big - small} dollars larger than the budget of {b.subject}"
        lead = f"Subtract the budget of {b.subject} from the budget of {a.subject}."
    steps = [extract(a), extract(b), compute(f"{lead} {sub_text(big, small)}", str(big - small)),
             infer(f"So {claim}.", str(big - small)),
             check(f"{big} - {small} = {big - small}, and both numbers are quoted from the document.",
                   str(big - small))]
    return Question(question, steps, cap(claim) + ".", str(big - small))


def _scan(facts: list[Fact]) -> list[TraceStep]:
    """Quote every matching sentence (``facts``, in document order), then say the search is over.

    Each is a reverse lookup of its sentence: "Find a project owned by the Atlas team.", then "Find
    another project owned by the Atlas team." (the article of ``reverse_find`` swapped for "another").
    """
    find_one = reverse_find(facts[0])
    find_more = "another " + find_one.split(" ", 1)[1]
    steps = [extract(f, f"Find {find_one if i == 0 else find_more}.") for i, f in enumerate(facts)]
    return steps + [not_found(find_more, "no other sentence says so.")]


def chain(world: World, members: list[Fact]) -> list[Fact]:
    """Chain ``members`` (every project of one team, or every item of one warehouse, in this order): where
    the chain starts, then what follows each one, the last followed by "nothing"."""
    if members[0].relation == "owner":
        owner, names, start, link = members[0].value, [f.key[0] for f in members], "plan_start", "plan_next"
    else:
        owner, names, start, link = members[0].key[0], [f.key[1] for f in members], "shelf_start", "shelf_next"
    following = [subject(RELATIONS[link].key_cats[1], n) for n in names[1:]] + ["nothing"]
    return [world.add(start, (owner,), names[0])] + [world.add(link, (owner, n), f) for n, f in zip(names, following)]


def _team_with_projects(rng: random.Random, world: World, most: int) -> list[Fact]:
    """A new team owning 2 to ``most`` new projects, and no other: every sentence saying so."""
    team = world.new("team")
    owners = [world.add("owner", (world.new("project"),), team) for _ in range(rng.randint(2, most))]
    world.close("owner", None, team)
    return owners


def _other_chain(rng: random.Random, world: World, relation: str) -> None:
    """Another team's (warehouse's) chain, so the asked one has to be found by its owner's name."""
    if relation == "owner":
        members = _team_with_projects(rng, world, 4)
    else:
        site = world.new("site")
        members = [world.fresh("stock", site=site) for _ in range(rng.randint(2, 4))]
        world.close("stock", (site, None))
    chain(world, members)


def _chained(rng: random.Random, world: World, members: list[Fact]) -> list[Fact] | None:
    """``members``' chain in a world with chains (and, half the time, another one beside it)."""
    if not world.chains:
        return None
    links = chain(world, members)
    if rng.random() < 0.5:
        _other_chain(rng, world, members[0].relation)
    return links


def _walk(links: list[Fact], what: str, lookups: list[Fact] | None = None) -> list[TraceStep]:
    """Follow ``links`` from the start to "nothing", numbering each name found ("Project 2 is Project
    Vega."), so the count is the last number; ``lookups`` (one per name) are quoted right after each name."""
    steps = [extract(links[0])]
    for i, link in enumerate(links[1:], 1):
        if lookups:
            steps.append(extract(lookups[i - 1]))
        steps.append(extract(link, f"{what} {i} is {subject(link.rel.key_cats[1], link.key[1])}. "
                                   f"Find {link.what()}."))
    return steps


def _count(rng: random.Random, world: World) -> Question:
    facts = _team_with_projects(rng, world, 5)
    world.orderings.append(facts)
    return count_question(facts, _chained(rng, world, facts))


def count_question(owners: list[Fact], links: list[Fact] | None = None) -> Question:
    """How many projects a team owns: ``owners`` are every sentence saying so, in document order, or in
    the order of the team's chain ``links`` (``chain``), when the count walks that."""
    team, n = owners[0].value, len(owners)
    if links:
        steps = _walk(links, "Project")
        checked = (f"the plan of the {team} team starts with Project {owners[0].key[0]} and ends after "
                   f"Project {owners[-1].key[0]}, project {n}")
    else:
        numbered = ", ".join(f"{f.subject} is {i}" for i, f in enumerate(owners, 1))
        steps = _scan(owners) + [compute(f"Count the projects found: {numbered}.", str(n))]
        checked = f"the {n} quoted sentences are the only ones saying a project is owned by the {team} team"
    steps += [infer(f"So the {team} team owns {n} projects.", str(n)),
              check(f"{checked}.", str(n))]
    return Question(f"How many projects does the {team} team own?", steps,
                    f"The {team} team owns {n} projects.", str(n))


def _site_total(rng: random.Random, world: World) -> Question:
    site = world.new("site")
    facts = [world.add("stock", (site, world.new("item"))) for _ in range(rng.randint(2, 4))]
    world.close("stock", (site, None))
    world.orderings.append(facts)
    return site_total_question(facts, _chained(rng, world, facts))


def site_total_question(stocks: list[Fact], links: list[Fact] | None = None) -> Question:
    """All items of one warehouse: ``stocks`` are every sentence about its stock, in document order, or
    in the order of the warehouse's chain ``links``, when the total walks that."""
    where = stocks[0].subject
    steps = _walk(links, "Item", stocks) if links else _scan(stocks)
    values = [int(f.value) for f in stocks]
    adds, total = running_sum(values, [f"the {f.key[1]}" for f in stocks])
    using = f"item on the shelves of {where}" if links else f"sentence that says what {where} holds"
    steps += adds + [
        infer(f"So {where} holds {total} items in total.", str(total)),
        check(f"{_plus(values)} = {total}, using every {using}.", str(total))]
    return Question(f"How many items does {where} hold in total?", steps,
                    f"{cap(where)} holds {total} items in total.", str(total))


def _budget_left(rng: random.Random, world: World) -> Question:
    owners = _team_with_projects(rng, world, 4)
    team = owners[0].value
    world.orderings.append(owners)
    costs = [world.add("cost", (f.key[0],)) for f in owners]
    spent = sum(int(c.value) for c in costs)
    budget = world.add("budget", (team,), str(rng.randint(max(1000, spent + 50), 9999)))
    return budget_left_question(budget, owners, costs, _chained(rng, world, owners))


def budget_left_question(budget: Fact, owners: list[Fact], costs: list[Fact],
                         links: list[Fact] | None = None) -> Question:
    """A team's budget minus the costs of all its projects (``owners`` in document order, or in the order
    of the team's chain ``links``; ``costs`` in the same order); the budget must cover them."""
    team = budget.key[0]
    if links:
        steps = [extract(budget)] + _walk(links, "Project", costs)
    else:
        steps = [extract(budget)] + _scan(owners) + [extract(c) for c in costs]
    adds, total = running_sum([int(c.value) for c in costs], [f"the cost of {c.subject}" for c in costs])
    left = int(budget.value) - total
    steps += adds + [
        compute(f"Subtract the total cost from the budget. {sub_text(int(budget.value), total)}",
                str(left)),
        infer(f"So the {team} team has {left} dollars left.", str(left)),
        check(f"{budget.value} - ({_plus([int(c.value) for c in costs])}) = {left}, using the "
              f"budget and every project the {team} team owns.", str(left))]
    return Question(f"How many dollars does the {team} team have left after paying for all of its "
                    f"projects?", steps,
                    f"After paying for all of its projects, the {team} team has {left} dollars left.",
                    str(left))


def build_arithmetic(rng: random.Random, world: World, difficulty: int) -> Question:
    """Level 1: sum or difference of two; 2: sum of three, a count, a warehouse total;
    3: sum of four or five, or a budget minus the costs of all of a team's projects."""
    options = {
        1: (lambda: _sum_sites(world, 2), lambda: _difference(rng, world, "stock"),
            lambda: _difference(rng, world, "budget")),
        2: (lambda: _sum_sites(world, 3), lambda: _count(rng, world),
            lambda: _site_total(rng, world)),
        3: (lambda: _sum_sites(world, rng.randint(4, 5)), lambda: _budget_left(rng, world)),
    }[difficulty]
    return rng.choice(options)()


def _in_chain(groups: dict[str, list[Fact]], links: dict[tuple[str, ...], Fact], start: str, link: str,
              name: Callable[[Fact], str]) -> dict[str, tuple[list[Fact], list[Fact]]]:
    """The ``groups`` a stated chain (``links`` by relation and key) runs through exactly: each group in the
    chain's order, with the chain's links."""
    chained = {}
    for owner, facts in groups.items():
        walk = [links.get((start, owner))]
        while walk[-1] is not None and walk[-1].value != "nothing":
            walk.append(links.get((link, owner, walk[-1].value.removeprefix("Project "))))
        order = {f.value.removeprefix("Project "): i for i, f in enumerate(walk[:-1])} if walk[-1] else {}
        if sorted(order) == sorted(map(name, facts)):  # every member chained, and nothing else
            chained[owner] = (sorted(facts, key=lambda f: order[name(f)]), walk)
    return chained


def _split(chained: dict[str, tuple[list[Fact], list[Fact]]]) -> tuple[dict[str, list[Fact]],
                                                                       dict[str, list[Fact] | None]]:
    return {k: v[0] for k, v in chained.items()}, {k: v[1] for k, v in chained.items()}


def arithmetic_drills(rng: random.Random, world: World, document: str, n: int,
                      asked: Collection[str] = ()) -> list[Question]:
    """Up to ``n`` arithmetic questions over facts ``document`` already states, none of them in ``asked``,
    of as many kinds as it allows: counts, warehouse totals, budget left, differences and sums.

    Only facts stated once (no conflicting value) and in a sentence of the document count, and a scan
    quotes every such sentence in document order, so each drill's gold trace is what the document says. In
    a world with chains, counts and totals are asked only of groups a stated chain runs through exactly.
    """
    stated = [f for f in world.facts if f.sentence in document]
    where = {f.sentence: document.index(f.sentence) for f in stated}

    def by(relation: str, part: Callable[[Fact], str]) -> dict[str, list[Fact]]:
        """Every statement of ``relation`` grouped by ``part``, in document order."""
        groups: dict[str, list[Fact]] = {}
        for f in sorted((f for f in stated if f.relation == relation), key=lambda f: where[f.sentence]):
            groups.setdefault(part(f), []).append(f)
        return groups

    # a scan must quote every statement of its group, so a group with a conflicting one is left out
    owned = {team: fs for team, fs in by("owner", lambda f: f.value).items() if not any(map(world.conflicted, fs))}
    held = {site: fs for site, fs in by("stock", lambda f: f.key[0]).items() if not any(map(world.conflicted, fs))}
    plans: dict[str, list[Fact] | None] = {team: None for team in owned}  # a scan: no chain to walk
    shelves: dict[str, list[Fact] | None] = {site: None for site in held}
    if world.chains:  # only groups a stated chain runs through, walked in the chain's order
        links = {(f.relation, *f.key): f for f in stated if f.rel.chain}
        owned, plans = _split(_in_chain(owned, links, "plan_start", "plan_next", lambda f: f.key[0]))
        held, shelves = _split(_in_chain(held, links, "shelf_start", "shelf_next", lambda f: f.key[1]))
    items = {item: [f for f in fs if not world.conflicted(f)] for item, fs in by("stock", lambda f: f.key[1]).items()}
    budgets = {f.key[0]: f for f in stated if f.relation == "budget" and not world.conflicted(f)}
    costs = {f.key[0]: f for f in stated if f.relation == "cost" and not world.conflicted(f)}
    kinds: list[list[Question]] = [
        [count_question(fs, plans[team]) for team, fs in owned.items() if len(fs) >= 2],
        [site_total_question(fs, shelves[site]) for site, fs in held.items() if len(fs) >= 2],
        [budget_left_question(budgets[team], fs, [costs[f.key[0]] for f in fs], plans[team])
         for team, fs in owned.items() if len(fs) >= 2 and team in budgets
         and all(f.key[0] in costs for f in fs)
         and int(budgets[team].value) >= sum(int(costs[f.key[0]].value) for f in fs)],
        [difference_question(*sorted(rng.sample(list(budgets.values()), 2), key=lambda f: -int(f.value)))
         for _ in range(2) if len(budgets) >= 2],
        [difference_question(*sorted(rng.sample(fs, 2), key=lambda f: -int(f.value)))
         for fs in items.values() if len(fs) >= 2],
        [sum_question(rng.sample(fs, rng.randint(2, min(5, len(fs))))) for fs in items.values() if len(fs) >= 2],
    ]
    for questions in kinds:
        rng.shuffle(questions)
    rng.shuffle(kinds)
    chosen, asked = [], set(asked)
    while len(chosen) < n and any(kinds):
        for questions in kinds:  # round-robin over the kinds, so one kind does not crowd out the rest
            if questions and len(chosen) < n:
                q = questions.pop()
                if q.text not in asked and q.answer_value != "0":  # a difference of two equal numbers
                    asked.add(q.text)
                    chosen.append(q)
    return chosen
