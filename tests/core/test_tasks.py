"""Tests for the synthetic task generator (build_scripts.training.tasks).

Gold answers are re-derived here from the rendered document text alone, with this file's own regexes
and arithmetic, never from the generator's world objects: if a template, a trace or a calendar step
is wrong, the two derivations disagree.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
from collections import defaultdict

import pytest

from build_scripts.training.tasks import (BUCKETS, FAMILIES, HELDOUT_SEED_BASE, STAGES, Drills, Example, TraceStep,
                                          arithmetic_exercise, arithmetic_note, curriculum, estimate_tokens, generate,
                                          generate_with_drills, heldout_set, sample_text, score_steps, stage_spec)
from build_scripts.training.tasks import names
from core.bench.scoring import answer_correct, parse_response

SEEDS_PER_FAMILY = 240
NAME = r"[A-Z][a-z]+ [A-Z][a-z]+"
DATE = r"\d{4}-\d{2}-\d{2}"

# -- parsing the document ------------------------------------------------------------------------
# relation -> sentence regex; the first group(s) are the key, the last the value ((rules: three)).
FACT_PATTERNS = {
    "owner": (r"Project (\w+) is owned by the (\w+) team", 1),
    "manager": (rf"The (\w+) team is managed by ({NAME})", 1),
    "team_city": (r"The (\w+) team is based in (\w+)", 1),
    "budget": (r"The (\w+) team has a budget of (\d+) dollars", 1),
    "cost": (r"Project (\w+) costs (\d+) dollars", 1),
    "stock": (r"The stock of (\w+) at the (\w+) warehouse is (\d+)", None),  # key (item, site), value count
    "order": (r"Order (\d+) is worth (\d+) dollars", 1),
    "parcel": (r"Parcel (\d+) weighs (\d+) kilograms", 1),
    "reports_to": (rf"({NAME}) reports to ({NAME})", 1),
    "office": (rf"({NAME}) works in the (\w+) office", 1),
    "member": (rf"({NAME}) is a member of the (\w+) team", 1),
    "launch": (rf"Project (\w+) launched on ({DATE})", 1),
    "opened": (rf"The (\w+) warehouse opened on ({DATE})", 1),
    "joined": (rf"({NAME}) joined the company on ({DATE})", 1),
    "course": (r"Every member of the (\w+) team must take the (\w+) course", 1),
    "badge": (r"Everyone who takes the (\w+) course receives a (\w+) badge", 1),
    "closure": (r"If the (\w+) warehouse closes, its items move to the (\w+) warehouse", 1),
    "succession": (rf"If ({NAME}) leaves, the role passes to ({NAME})", 1),
    "order_rule": (r"Orders above (\d+) dollars are approved by the ([a-z ]+), and other orders by "
                   r"the ([a-z ]+)", 0),
    "parcel_rule": (r"Parcels heavier than (\d+) kilograms are sent by (\w+), and other parcels by "
                    r"(\w+)", 0),
    # chains (documents generated with chains=True): every project of a team, every item of a warehouse
    "plan_start": (r"The plan of the (\w+) team starts with Project (\w+)", 1),
    "plan_next": (r"In the plan of the (\w+) team, Project (\w+) is followed by (Project \w+|nothing)", 2),
    "shelf_start": (r"The shelves of the (\w+) warehouse start with ([a-z]+)", 1),
    "shelf_next": (r"On the shelves of the (\w+) warehouse, ([a-z]+) are followed by ([a-z]+)", 2),
}
CANONICAL = {"owner": "{} team", "member": "{} team", "office": "{} office", "course": "{} course",
             "badge": "{} badge", "closure": "{} warehouse"}


class NotStated(Exception):
    pass


class Contradiction(Exception):
    pass


def sentences(document: str) -> list[str]:
    body = [line for line in document.split("\n\n")[1:] if line.endswith(".")]
    return [s for para in body for s in re.split(r"(?<=\.) ", para)]


class Facts:
    """Every fact sentence in a document, as relation -> key -> values in document order."""

    def __init__(self, document: str) -> None:
        self.by: dict[str, dict[tuple[str, ...], list[str]]] = defaultdict(lambda: defaultdict(list))
        self.sentences = sentences(document)
        for sentence in self.sentences:
            for relation, (pattern, _) in FACT_PATTERNS.items():
                m = re.fullmatch(pattern + r"\.", sentence)
                if m is None:
                    continue
                if relation == "stock":
                    self.by[relation][(m[2], m[1])].append(m[3])
                elif relation in ("plan_next", "shelf_next"):
                    self.by[relation][(m[1], m[2])].append(m[3].removeprefix("Project "))
                elif relation in ("order_rule", "parcel_rule"):
                    self.by[relation][("rule",)].append((m[1], m[2], m[3]))
                else:
                    self.by[relation][(m[1],)].append(m[2])

    def one(self, relation: str, *key: str) -> str:
        values = list(dict.fromkeys(self.by[relation].get(tuple(key), [])))
        if not values:
            raise NotStated(relation, key)
        if len(values) > 1:
            raise Contradiction(relation, key, values)
        return values[0]

    def keys_with(self, relation: str, value: str) -> list[tuple[str, ...]]:
        return [k for k, vs in self.by[relation].items() if value in vs]


def chain_of(facts: Facts, start: str, link: str, owner: str) -> list[str] | None:
    """The names a stated chain of ``owner`` runs through, from its start to "nothing" (None if none)."""
    if (owner,) not in facts.by[start]:
        return None
    names = [facts.one(start, owner)]
    while (following := facts.one(link, owner, names[-1])) != "nothing":
        assert following not in names, (owner, names, following)  # a chain never loops
        names.append(following)
    return names


def projects_of(facts: Facts, team: str) -> list[str]:
    """The projects the owner sentences give ``team``; the team's chain, if stated, must run through the same."""
    owned = [k[0] for k in facts.keys_with("owner", team)]
    if (chained := chain_of(facts, "plan_start", "plan_next", team)) is not None:
        assert sorted(chained) == sorted(owned)
    return owned


def items_of(facts: Facts, site: str) -> list[str]:
    """The items the stock sentences give the ``site`` warehouse; its chain, if stated, runs through the same."""
    items = [k[1] for k in facts.by["stock"] if k[0] == site]
    if (chained := chain_of(facts, "shelf_start", "shelf_next", site)) is not None:
        assert sorted(chained) == sorted(items)
    return items


def team_np(facts: Facts, np: str) -> str:
    if m := re.fullmatch(r"the (\w+) team", np):
        return m[1]
    if m := re.fullmatch(r"the team that owns Project (\w+)", np):
        return facts.one("owner", m[1])
    if m := re.fullmatch(r"the team (.+) is a member of", np):
        return facts.one("member", person_np(facts, m[1]))
    raise AssertionError(f"unknown team phrase {np!r}")


def person_np(facts: Facts, np: str) -> str:
    if m := re.fullmatch(r"the manager of (.+)", np):
        return facts.one("manager", team_np(facts, m[1]))
    if m := re.fullmatch(r"the person (.+) reports to", np):
        return facts.one("reports_to", person_np(facts, m[1]))
    if re.fullmatch(NAME, np):
        return np
    raise AssertionError(f"unknown person phrase {np!r}")


def names_list(text: str) -> list[str]:
    head, _, last = text.rpartition(" and ")
    return head.split(", ") + [last]


def event_date(facts: Facts, phrase: str) -> dt.date:
    if m := re.fullmatch(r"the launch of Project (\w+)", phrase):
        return dt.date.fromisoformat(facts.one("launch", m[1]))
    if m := re.fullmatch(r"the opening of the (\w+) warehouse", phrase):
        return dt.date.fromisoformat(facts.one("opened", m[1]))
    if m := re.fullmatch(rf"the day ({NAME}) joined the company", phrase):
        return dt.date.fromisoformat(facts.one("joined", m[1]))
    raise AssertionError(f"unknown event {phrase!r}")


def ranked(values: dict[str, str], first: bool, dates: bool) -> list[str]:
    key = (lambda k: dt.date.fromisoformat(values[k])) if dates else (lambda k: int(values[k]))
    return sorted(values, key=key, reverse=not first if dates else first)


def comparison(facts: Facts, question: str) -> str | None:
    """Pair, superlative and ordering questions, all four domains."""
    forms = [  # (regex, domain, names from match, direction word group)
        (r"Which warehouse holds (more|fewer) (\w+), the (\w+) warehouse or the (\w+) warehouse\?",
         "stock", "pair"),
        (r"Which of the (.+) warehouses holds the (most|fewest) (\w+)\?", "stock", "super"),
        (r"List the (.+) warehouses from the (most|fewest) to the \w+ (\w+)\.", "stock", "order"),
        (r"Which team has the (larger|smaller) budget, the (\w+) team or the (\w+) team\?",
         "budget", "pair"),
        (r"Which of the (.+) teams has the (largest|smallest) budget\?", "budget", "super"),
        (r"List the (.+) teams from the (largest|smallest) to the \w+ budget\.", "budget", "order"),
        (r"Which project launched (first|last), Project (\w+) or Project (\w+)\?", "launch", "pair"),
        (r"Which of Projects (.+) launched (first|last)\?", "launch", "super"),
        (r"List Projects (.+) from the (first|last) to the \w+ to launch\.", "launch", "order"),
        (rf"Who joined the company (first|last), ({NAME}) or ({NAME})\?", "joined", "pair"),
        (r"Which of (.+) joined the company (first|last)\?", "joined", "super"),
        (r"List (.+) from the (first|last) to the \w+ to join the company\.", "joined", "order"),
    ]
    for pattern, domain, mode in forms:
        m = re.fullmatch(pattern, question)
        if m is None:
            continue
        if mode == "pair":
            word, entities = m[1], list(m.groups()[-2:])
        else:
            entities, word = names_list(m[1]), m[2]
        first = word in ("more", "most", "larger", "largest", "first")
        if domain == "stock":
            item = m[2] if mode == "pair" else m[3]
            values = {e: facts.one("stock", e, item) for e in entities}
        else:
            values = {e: facts.one(domain, e) for e in entities}
        order = ranked(values, first, domain in ("launch", "joined"))
        label = {"stock": "{} warehouse", "budget": "{} team", "launch": "Project {}",
                 "joined": "{}"}[domain]
        if mode == "order":
            return ", ".join(label.format(e) for e in order)
        return label.format(order[0])
    return None


def solve(facts: Facts, question: str) -> str:
    """The answer to ``question`` from the document alone; raises NotStated / Contradiction."""
    q = question
    simple = [  # (regex, relation, how to turn the match into a key)
        (r"Which team owns Project (\w+)\?", "owner", lambda m: (m[1],)),
        (r"Who manages (.+)\?", "manager", lambda m: (team_np(facts, m[1]),)),
        (r"Where is (.+) based\?", "team_city", lambda m: (team_np(facts, m[1]),)),
        (r"What is the budget of (.+)\?", "budget", lambda m: (team_np(facts, m[1]),)),
        (r"How much does Project (\w+) cost\?", "cost", lambda m: (m[1],)),
        (r"How many (\w+) does the (\w+) warehouse hold\?", "stock", lambda m: (m[2], m[1])),
        (r"How much is order (\d+) worth\?", "order", lambda m: (m[1],)),
        (r"How much does parcel (\d+) weigh\?", "parcel", lambda m: (m[1],)),
        (r"Who does (.+) report to\?", "reports_to", lambda m: (person_np(facts, m[1]),)),
        (r"In which office does (.+) work\?", "office", lambda m: (person_np(facts, m[1]),)),
        (r"Which team is (.+) a member of\?", "member", lambda m: (person_np(facts, m[1]),)),
        (r"When did Project (\w+) launch\?", "launch", lambda m: (m[1],)),
        (r"When did the (\w+) warehouse open\?", "opened", lambda m: (m[1],)),
        (r"When did (.+) join the company\?", "joined", lambda m: (person_np(facts, m[1]),)),
        (r"Which course must members of the (\w+) team take\?", "course", lambda m: (m[1],)),
        (r"Which badge does the (\w+) course give\?", "badge", lambda m: (m[1],)),
        (r"If the (\w+) warehouse closes, where do its \w+ go\?", "closure", lambda m: (m[1],)),
        (r"If (.+) leaves, who takes over the role\?", "succession",
         lambda m: (person_np(facts, m[1]),)),
    ]
    for pattern, relation, key in simple:
        if m := re.fullmatch(pattern, q):
            return CANONICAL.get(relation, "{}").format(facts.one(relation, *key(m)))
    if (answer := comparison(facts, q)) is not None:
        return answer
    if m := re.fullmatch(r"How many (\w+) do the (.+) warehouses hold (?:together|in total)\?", q):
        return str(sum(int(facts.one("stock", site, m[1])) for site in names_list(m[2])))
    if m := re.fullmatch(r"How many more (\w+) does the (\w+) warehouse hold than the (\w+) "
                         r"warehouse\?", q):
        return str(int(facts.one("stock", m[2], m[1])) - int(facts.one("stock", m[3], m[1])))
    if m := re.fullmatch(r"How much larger is the budget of the (\w+) team than the budget of the "
                         r"(\w+) team\?", q):
        return str(int(facts.one("budget", m[1])) - int(facts.one("budget", m[2])))
    if m := re.fullmatch(r"Which project does the plan of the (\w+) team start with\?", q):
        return "Project " + facts.one("plan_start", m[1])
    if m := re.fullmatch(r"What follows Project (\w+) in the plan of the (\w+) team\?", q):
        following = facts.one("plan_next", m[2], m[1])
        return following if following == "nothing" else "Project " + following
    if m := re.fullmatch(r"Which item do the shelves of the (\w+) warehouse start with\?", q):
        return facts.one("shelf_start", m[1])
    if m := re.fullmatch(r"What follows ([a-z]+) on the shelves of the (\w+) warehouse\?", q):
        return facts.one("shelf_next", m[2], m[1])
    if m := re.fullmatch(r"How many projects does the (\w+) team own\?", q):
        return str(len(projects_of(facts, m[1])))
    if m := re.fullmatch(r"How many items does the (\w+) warehouse hold in total\?", q):
        return str(sum(int(facts.one("stock", m[1], item)) for item in items_of(facts, m[1])))
    if m := re.fullmatch(r"How many dollars does the (\w+) team have left after paying for all of "
                         r"its projects\?", q):
        costs = sum(int(facts.one("cost", p)) for p in projects_of(facts, m[1]))
        return str(int(facts.one("budget", m[1])) - costs)
    if m := re.fullmatch(r"How many days passed between (.+) and (.+)\?", q):
        return str(abs((event_date(facts, m[2]) - event_date(facts, m[1])).days))
    if m := re.fullmatch(r"What date is (\d+) days after (.+)\?", q):
        return (event_date(facts, m[2]) + dt.timedelta(days=int(m[1]))).isoformat()
    if m := re.fullmatch(r"Who approves order (\d+)\?", q):
        limit, high, low = facts.one("order_rule", "rule")
        return high if int(facts.one("order", m[1])) > int(limit) else low
    if m := re.fullmatch(r"How is parcel (\d+) sent\?", q):
        limit, high, low = facts.one("parcel_rule", "rule")
        return high if int(facts.one("parcel", m[1])) > int(limit) else low
    if m := re.fullmatch(rf"Which course must ({NAME}) take\?", q):
        return facts.one("course", facts.one("member", m[1])) + " course"
    if m := re.fullmatch(rf"Which badge does ({NAME}) receive\?", q):
        course = facts.one("course", facts.one("member", m[1]))
        return facts.one("badge", course) + " badge"
    if m := re.fullmatch(r"If the (\w+) warehouse closes, how many (\w+) will the (\w+) warehouse "
                         r"hold\?", q):
        assert facts.one("closure", m[1]) == m[3]
        return str(int(facts.one("stock", m[1], m[2])) + int(facts.one("stock", m[3], m[2])))
    if m := re.fullmatch(r"If the (\w+) and (\w+) warehouses both close, where do the items of the "
                         r"(\w+) warehouse end up\?", q):
        site = m[3]
        while site in (m[1], m[2]):
            site = facts.one("closure", site)
        return f"{site} warehouse"
    raise AssertionError(f"no solver for question {q!r}")


def solved(example: Example) -> str:
    try:
        return solve(Facts(example.document), example.question)
    except NotStated:
        return "not stated"
    except Contradiction:
        return "contradiction"


# -- checking the trace's own arithmetic ---------------------------------------------------------
ADD_COLUMN = re.compile(r"(\d+) \+ (\d+): (\d) \+ (\d) \+ (\d) = (\d+), carry (\d), so far (\d+)")
SUB_COLUMN = re.compile(r"(\d+) - (\d+): (\d) - (\d) - (\d)(?: = (\d)| is below 0, so 1(\d) - (\d) - "
                        r"(\d) = (\d+)), borrow (\d), so far (\d+)")
ADD_RESULT = re.compile(r"So (\d+) \+ (\d+) = (\d+)\.")
SUB_RESULT = re.compile(r"So (\d+) - (\d+) = (\d+)\.")


def check_columns(text: str) -> None:
    """Every column of every written-out addition/subtraction in ``text`` is right."""
    for result in ADD_RESULT.finditer(text):
        a, b, c = map(int, result.groups())
        assert a + b == c, text
    for result in SUB_RESULT.finditer(text):
        a, b, c = map(int, result.groups())
        assert a - b == c, text
    def shrunk(number: str) -> str:
        return number[:-1] or "0"

    prev = None  # (x, y, carry out, so far) of the previous column of the same operation
    for col in ADD_COLUMN.finditer(text):
        x, y, da, db, carry, total, carry_out, so_far = col.groups()
        assert (int(x[-1]), int(y[-1])) == (int(da), int(db)), col[0]
        assert int(da) + int(db) + int(carry) == int(total) and int(carry_out) == int(total) // 10
        assert so_far[0] == total[-1], col[0]
        if len(so_far) == 1:
            assert carry == "0", col[0]
        else:
            assert prev is not None and (x, y) == (shrunk(prev[0]), shrunk(prev[1])), col[0]
            assert carry == prev[2] and so_far[1:] == prev[3], col[0]
        prev = (x, y, carry_out, so_far)
    prev = None
    for col in SUB_COLUMN.finditer(text):
        x, y, da, db, borrow = col.groups()[:5]
        so_far, borrow_out = col[12], col[11]
        assert (int(x[-1]), int(y[-1])) == (int(da), int(db)), col[0]
        digit = int(col[6]) if col[6] is not None else int(col[10])
        assert digit == (int(da) - int(db) - int(borrow)) % 10
        assert int(borrow_out) == (int(da) - int(db) - int(borrow) < 0)
        assert so_far[0] == str(digit)
        if len(so_far) == 1:
            assert borrow == "0", col[0]
        else:
            assert prev is not None and (x, y) == (prev[0][:-1], shrunk(prev[1])), col[0]
            assert borrow == prev[2] and so_far[1:] == prev[3], col[0]
        prev = (x, y, borrow_out, so_far)


def month_length(year: int, month: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.date(year, month, 1)).days


def check_step(step: TraceStep, document: str, earlier: str) -> None:
    text = step.text
    if step.evidence is not None:
        assert step.kind == "extract"
        assert step.evidence in sentences(document), step.evidence
        assert f'"{step.evidence}"' in text
        if step.value is not None:
            assert step.value in step.evidence, (step.value, step.evidence)
    check_columns(text)
    for m in re.finditer(r"Month (\d{4})-(\d{2}) has (\d+) days", text):
        assert month_length(int(m[1]), int(m[2])) == int(m[3]), text
    for m in re.finditer(r"(\d+) vs (\d+): [^;]*?, so (\d+) is (larger|smaller)", text):
        a, b, winner = int(m[1]), int(m[2]), int(m[3])
        assert winner == (max(a, b) if m[4] == "larger" else min(a, b)), text
    for m in re.finditer(rf"({DATE}) vs ({DATE}): .*?, so ({DATE}) is (earlier|later)", text):
        assert m[3] == (min(m[1], m[2]) if m[4] == "earlier" else max(m[1], m[2])), text
    for m in re.finditer(r"So (\d+) [+-] (\d+) =", text):  # operands come from earlier steps
        numbers = set(re.findall(r"\d+", earlier)) | {str(int(n)) for n in re.findall(r"\d+", earlier)}
        assert {m[1], m[2]} <= numbers, (text, earlier)
    if m := re.fullmatch(r"Count the projects found: (.+)\.", text):
        items = m[1].split(", ")
        assert [int(i.rsplit(" is ", 1)[1]) for i in items] == list(range(1, len(items) + 1))
        assert step.value == str(len(items))
    if m := re.match(r"(?:Item|Project) (\d+) is ((?:Project )?\w+)\. Find what follows \2 ", text):
        # a chain walk: the name numbered is the one the last link (or the start) led to, and numbers go 1, 2, ...
        last = re.findall(r"(?:starts with|start with|followed by) ((?:Project )?\w+)\.", earlier)[-1]
        assert last == m[2], (text, earlier)
        assert int(m[1]) == len(re.findall(r"(?:Item|Project) \d+ is .+?\. Find what follows", earlier))  # this one too


def check_example(example: Example) -> None:
    assert example.steps[-1].kind == "check" and example.steps[-1].text.startswith("Check: ")
    earlier = ""
    for step in example.steps:
        check_step(step, example.document, earlier + " " + step.text.split(":")[0])
        earlier += " " + step.text + " " + (step.value or "")
    if example.family not in ("unanswerable", "contradiction"):
        last = [s for s in example.steps if s.kind != "check"][-1]
        assert last.value == example.answer_value, (last, example.answer_value)
    assert answer_correct(example.answer_value, example.answer)
    assert answer_correct(example.answer_value, example.response())
    assert example.doc_tokens == estimate_tokens(example.document)


# -- tests -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus() -> dict[str, list[Example]]:
    return {family: [generate(seed, family, 1 + seed % 3, 200 + (seed * 53) % 600)
                     for seed in range(SEEDS_PER_FAMILY)] for family in FAMILIES}


def test_same_seed_same_example_and_different_seeds_differ() -> None:
    for family in FAMILIES:
        a, b = generate(11, family, 2, 400), generate(11, family, 2, 400)
        assert a == b and a.to_dict() == b.to_dict()
        others = {generate(seed, family, 2, 400).user_message() for seed in range(12, 20)}
        assert len(others) == 8 and a.user_message() not in others
    assert generate(5) == generate(5)


def test_determinism_does_not_depend_on_hash_seed() -> None:
    code = ("import json; from build_scripts.training.tasks import generate, FAMILIES; "
            "print(json.dumps([generate(s, f, 1 + s % 3, 300).to_dict() "
            "for f in FAMILIES for s in range(3)]))")
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__)))))
        outputs.append(json.loads(run.stdout))
    assert outputs[0] == outputs[1]


def test_round_trip_through_dict() -> None:
    example = generate(3, "arithmetic", 3, 500)
    again = Example.from_dict(json.loads(json.dumps(example.to_dict())))
    assert again == example and again.response() == example.response()


def test_response_layout() -> None:
    example = generate(1, "multihop", 3, 300)
    response = example.response()
    assert response.startswith("<think>\n1. ")
    assert f"\n{len(example.steps)}. Check: " in response
    assert response.endswith(f"\n</think>\n\n{example.answer}")
    assert example.user_message() == f"{example.document}\n\nQuestion: {example.question}"


@pytest.mark.parametrize("family", FAMILIES)
def test_gold_answer_rederived_from_document_text(corpus, family) -> None:
    for example in corpus[family]:
        assert solved(example) == example.answer_value, (example.question, example.response())


@pytest.mark.parametrize("family", FAMILIES)
def test_trace_steps_follow_from_document_and_each_other(corpus, family) -> None:
    for example in corpus[family]:
        check_example(example)


@pytest.mark.parametrize("family", FAMILIES)
def test_drills_are_correct_questions_on_the_same_document(family) -> None:
    """Extra questions on an example's document: each re-derived from the text like any gold example,
    including next to contradictions (a conflicting fact is never drilled) and unanswerable questions."""
    drilled = 0
    for seed in range(6):
        example, *drills = generate_with_drills(seed, family, 1 + seed % 3, 300 + 80 * seed,
                                                drills=Drills(lookups=5, absent=2, arithmetic=3))
        assert example == generate(seed, family, 1 + seed % 3, 300 + 80 * seed)
        assert len({d.question for d in drills} | {example.question}) == 1 + len(drills)
        for drill in drills:
            assert drill.document == example.document
            assert drill.family in ("lookup", "unanswerable", "arithmetic")
            assert solved(drill) == drill.answer_value, (drill.question, drill.response())
            check_example(drill)
        drilled += len(drills)
    assert drilled >= 20


def test_arithmetic_drills_cover_every_kind_and_scan_in_document_order() -> None:
    """Counts, warehouse totals, budget left, differences and sums over the document's own facts; a scan
    quotes every matching sentence, in the order the document states them (what the solver re-derives)."""
    forms = {"count": "How many projects does", "warehouse total": "How many items does",
             "budget left": "How many dollars does", "budget difference": "How much larger is the budget",
             "stock difference": "How many more", "sum": r"How many \w+ do the"}
    kinds = defaultdict(int)
    for seed in range(120):
        example, *drills = generate_with_drills(seed, FAMILIES[seed % len(FAMILIES)], 1 + seed % 3, 300 + 5 * seed,
                                                drills=Drills(arithmetic=3))
        assert len(drills) <= 3
        for drill in drills:
            assert drill.family == "arithmetic" and solved(drill) == drill.answer_value, drill.question
            check_example(drill)
            scanned = [example.document.index(s.evidence) for s in drill.steps
                       if s.evidence and re.match(r"Find (a|an|another) ", s.text)]
            assert scanned == sorted(scanned), drill.response()
            kinds[next(k for k, form in forms.items() if re.match(form, drill.question))] += 1
    assert set(kinds) == set(forms), kinds


def test_chains_are_walked_for_counts_and_totals() -> None:
    """With chains, a count, a warehouse total or a budget left starts where the team's (warehouse's) chain
    starts and follows it link by link to "nothing", a total looking up each name right after finding it;
    the solver re-derives every answer from the owner and stock sentences and checks each chain against them.
    Other questions are built exactly as without chains."""
    for seed in range(90):
        example = generate(seed, FAMILIES[seed % len(FAMILIES)], 1 + seed % 3, 300 + 4 * seed, chains=True)
        if not re.match(r"How many (projects|items|dollars) does", example.question):
            assert example == generate(seed, FAMILIES[seed % len(FAMILIES)], 1 + seed % 3, 300 + 4 * seed)
    seen = defaultdict(int)
    for seed in range(60):
        example, *drills = generate_with_drills(seed, "arithmetic", 2 + seed % 2, 300 + 10 * seed,
                                                drills=Drills(lookups=4, arithmetic=3, links=2), chains=True)
        for e in [example] + drills:
            assert solved(e) == e.answer_value, e.question
            check_example(e)
            assert not any(s.text.startswith("Find another") for s in e.steps), e.response()
            if m := re.match(r"How many (projects|items|dollars) does the (\w+) (team|warehouse)", e.question):
                quoted = [s.evidence for s in e.steps if s.evidence]
                start = 1 if m[1] == "dollars" else 0  # the budget comes first
                walk = quoted[start:]
                names = [re.search(r"(?:starts with|start with|followed by) (?:Project )?(\w+)\.", q)[1]
                         for q in walk if m[2] in q and ("start" in q or "followed by" in q)]
                assert names[-1] == "nothing" and len(names) == len(set(names)), e.response()
                if m[1] != "projects":  # each name's stock or cost is quoted right after the link to it
                    looked = [re.search(r"Project (\w+) costs|The stock of (\w+)", q) for q in walk]
                    assert [w[1] or w[2] for w in looked if w] == names[:-1], e.response()
                seen[m[1]] += 1
            elif e.question.startswith(("What follows", "Which project does the plan", "Which item do the")):
                seen["link"] += 1
    assert min(seen[k] for k in ("projects", "items", "dollars", "link")) >= 5, seen


def test_every_difficulty_of_every_family_at_long_lengths() -> None:
    for family in FAMILIES:
        for difficulty in (1, 2, 3):
            example = generate(difficulty, family, difficulty, 2600)
            assert solved(example) == example.answer_value
            check_example(example)


def test_unanswerable_really_is_absent(corpus) -> None:
    for example in corpus["unanswerable"]:
        assert example.answer_value == "not stated"
        for step in example.steps:
            if m := re.search(r"no sentence in the document mentions (.+)\.$", step.text):
                assert re.search(rf"\b{re.escape(m[1])}\b", example.document, re.I) is None
        # the solver above already failed to find the missing fact; the question's subject exists
        # whenever the trace says the document mentions it
        for m in re.finditer(r"The document mentions (.+?), but only", " ".join(
                s.text for s in example.steps)):
            assert m[1].lower() in example.document.lower()


def test_contradiction_quotes_both_sentences_in_document_order(corpus) -> None:
    for example in corpus["contradiction"]:
        quoted = [s.evidence for s in example.steps if s.evidence]
        first, second = quoted[-2], quoted[-1]
        assert first != second
        assert example.document.index(first) < example.document.index(second)


@pytest.mark.parametrize("target", [200, 350, 500, 800, 1000, 1500, 2000, 2500, 3000])
def test_documents_hit_their_length_target(target) -> None:
    for seed in range(6):
        example = generate(seed, FAMILIES[seed % len(FAMILIES)], 1 + seed % 3, target)
        assert abs(example.doc_tokens - target) <= 0.15 * target


def test_length_uses_the_given_token_counter() -> None:
    def by_chars(text: str) -> int:
        return len(text) // 3

    example = generate(4, "lookup", 1, 900, count_tokens=by_chars)
    assert example.doc_tokens == by_chars(example.document)
    assert abs(example.doc_tokens - 900) <= 0.15 * 900


def test_documents_mix_kinds_and_scatter_facts() -> None:
    headings = {"Company report", "Inventory", "Organisation chart", "Timeline", "Rule book"}
    seen_mixed, positions = 0, []
    for seed in range(40):
        example = generate(seed, target_tokens=1000)
        kinds = [line for line in example.document.split("\n\n") if line in headings]
        seen_mixed += len(kinds) > 1
        positions += [example.document.index(s.evidence) / len(example.document)
                      for s in example.steps if s.evidence]
    assert seen_mixed >= 10
    thirds = [sum(lo <= p < lo + 1 / 3 for p in positions) for lo in (0, 1 / 3, 2 / 3)]
    assert min(thirds) >= len(positions) / 6, thirds  # needles land all over the document


# Phrases that only fact sentences may use; a sentence containing one must be a well-formed fact.
FACT_PHRASES = {" is owned by ": "owner", " is managed by ": "manager", " is based in ": "team_city",
                " has a budget of ": "budget", " costs ": "cost", "The stock of ": "stock",
                " is worth ": "order", " weighs ": "parcel", " reports to ": "reports_to",
                " works in the ": "office", " is a member of ": "member", " launched on ": "launch",
                " opened on ": "opened", " joined the company on ": "joined",
                " must take the ": "course", " receives a ": "badge", " closes, ": "closure",
                " leaves, ": "succession", "Orders above": "order_rule",
                "Parcels heavier": "parcel_rule", "The plan of ": "plan_start", "In the plan of ": "plan_next",
                "The shelves of ": "shelf_start", "On the shelves of ": "shelf_next"}


def test_filler_never_looks_like_a_fact() -> None:
    for seed in range(40):
        example = generate(seed, target_tokens=1000)
        for sentence in sentences(example.document):
            for phrase, relation in FACT_PHRASES.items():
                if phrase in sentence:
                    pattern = FACT_PATTERNS[relation][0]
                    assert re.fullmatch(pattern + r"\.", sentence), sentence


def test_entity_names_are_unique_within_a_document(corpus) -> None:
    for example in corpus["lookup"][:80] + corpus["multihop"][:80]:
        facts = Facts(example.document)
        for relation, keys in facts.by.items():
            for key, values in keys.items():
                assert len(set(values)) == 1, (relation, key, values)


def test_name_lists_are_disjoint_and_prefix_free() -> None:
    lists = [names.FIRST_NAMES, names.LAST_NAMES, names.TEAMS, names.PROJECTS, names.CITIES,
             names.ITEMS, names.COURSES, names.COLOURS]
    words = [w for lst in lists for w in lst]
    assert len(words) == len(set(words))
    for lst in lists:
        for a in lst:
            assert re.fullmatch(r"[A-Za-z]+", a)
            assert not any(b != a and b.startswith(a) for b in lst), a


def test_gold_response_scores_perfectly(corpus) -> None:
    for family in FAMILIES:
        for example in corpus[family][:40]:
            score = score_steps(example, example.response())
            assert score.reward == 1.0 and score.well_formed and score.answer_correct, score


def test_wrong_number_quote_or_answer_scores_lower() -> None:
    example = generate(8, "arithmetic", 2, 400)
    gold = example.response()
    perfect = score_steps(example, gold).reward
    value = example.answer_value
    wrong_answer = gold.rsplit("\n\n", 1)[0] + "\n\n" + example.answer.replace(value, str(int(value) + 1))
    assert not score_steps(example, wrong_answer).answer_correct
    assert score_steps(example, wrong_answer).reward < perfect
    evidence = next(s.evidence for s in example.steps if s.evidence)
    bad_quote = gold.replace(evidence, re.sub(r"\d+", "7", evidence, count=1))
    score = score_steps(example, bad_quote)
    assert score.evidence < 1 and score.quotes_valid < 1 and score.reward < perfect
    middle = next(s.value for s in example.steps if s.kind == "compute")
    bad_value = gold.replace(middle, str(int(middle) + 10))
    assert score_steps(example, bad_value).values < 1


def test_malformed_traces_are_flagged() -> None:
    example = generate(2, "multihop", 2, 300)
    gold = example.response()
    broken = {
        "no think tag": gold.removeprefix("<think>\n"),
        "no close tag": gold.replace("</think>\n\n", ""),
        "no blank line": gold.replace("</think>\n\n", "</think>\n"),
        "no check": gold.replace("Check: ", ""),
        "renumbered": gold.replace("\n2. ", "\n3. "),
        "empty answer": gold.rsplit("\n\n", 1)[0] + "\n\n",
        "prose line": gold.replace("\n2. ", "\nSo then. 2. "),
    }
    for why, text in broken.items():
        parsed = parse_response(text)
        assert not parsed.well_formed and parsed.problems, why
        assert not score_steps(example, text).well_formed, why
    parsed = parse_response(gold)
    assert parsed.well_formed and len(parsed.steps) == len(example.steps)
    assert parsed.answer == example.answer


def test_arithmetic_exercises_work_every_column_right() -> None:
    """Each exercise's columns, carries, borrows and result recomputed here digit by digit from the question."""
    rng, kinds = random.Random(5), defaultdict(int)
    for _ in range(400):
        example = arithmetic_exercise(rng)
        expression = re.fullmatch(r"What is ([\d +-]+)\?", example.question).group(1)
        sign = "-" if " - " in expression else "+"
        operands = [int(x) for x in expression.split(f" {sign} ")]
        kinds[sign, len(operands)] += 1
        result = operands[0] - operands[1] if sign == "-" else sum(operands)
        assert result >= 0 and example.answer_value == str(result)
        assert answer_correct(example.answer_value, example.answer)
        assert example.user_message() == f"Question: {example.question}"
        parsed = parse_response(example.response())
        assert parsed.well_formed and parsed.steps[-1].startswith(f"Check: {expression} = {result}")
        running = operands[0]
        for step, operand in zip(example.steps[:-1], operands[1:]):
            columns = re.findall(r"(\d) ([+-]) (\d) [+-] (\d)(?: is below 0, so 1\d - \d - \d)? = (\d+), "
                                 r"(?:carry|borrow) (\d)", step.text)
            a, b = str(running), str(operand)
            width = max(len(a), len(b))
            carry = 0
            assert len(columns) == step.text.count("so far") >= width
            for i, (da, op, db, c_in, out, c_out) in enumerate(columns):
                digits = (int(a.zfill(width + 1)[-1 - i]), int(b.zfill(width + 1)[-1 - i]), carry)
                assert (int(da), int(db), int(c_in)) == digits
                value = int(da) + int(db) + carry if op == "+" else int(da) - int(db) - carry
                carry = int(value >= 10) if op == "+" else int(value < 0)
                assert int(out) == (value if op == "+" else value % 10) and int(c_out) == carry
            running = running + operand if sign == "+" else running - operand
            assert step.text.endswith(f"So {a} {sign} {b} = {running}.") and step.value == str(running)
    assert {k for k in kinds} >= {("+", 2), ("-", 2), ("+", 3), ("+", 5)}


@pytest.mark.parametrize("chains", [False, True])
def test_arithmetic_notes_are_short_documents_of_correct_arithmetic_questions(chains) -> None:
    """Each note: one short document, every question on it arithmetic, re-derived from its text like any gold
    example, its trace checked step by step (quotes, columns, results)."""
    rng, questions, budgets_left = random.Random(11), 0, 0
    for _ in range(60):
        note = arithmetic_note(rng, chains=chains)
        assert len({e.document for e in note}) == 1 and 40 <= note[0].doc_tokens <= 400
        assert len({e.question for e in note}) == len(note)
        for example in note:
            assert example.family == "arithmetic"
            assert solved(example) == example.answer_value, (example.question, example.response())
            check_example(example)
        questions += len(note)
        budgets_left += sum("left after paying" in e.question for e in note)
    assert questions >= 130 and budgets_left >= 8


def test_curriculum_stages_grow_in_difficulty_and_length() -> None:
    for easier, harder in zip(STAGES, STAGES[1:]):
        assert set(easier.families) <= set(harder.families)
        assert max(easier.difficulties) <= max(harder.difficulties)
        assert easier.max_tokens <= harder.max_tokens
    assert stage_spec(7) == STAGES[-1]
    with pytest.raises(ValueError):
        stage_spec(-1)


def test_curriculum_streams_follow_their_stage() -> None:
    for stage in range(len(STAGES)):
        spec = stage_spec(stage)
        stream = curriculum(stage, seed=3)
        examples = [next(stream) for _ in range(12)]
        for example in examples:
            assert example.family in spec.families and example.difficulty in spec.difficulties
            assert example.doc_tokens <= spec.max_tokens * 1.15
            assert example.seed < HELDOUT_SEED_BASE
        again = curriculum(stage, seed=3)
        assert [next(again) for _ in range(3)] == examples[:3]
    first = [next(curriculum(0, seed=s)).question for s in range(5)]
    assert len(set(first)) == 5


def test_heldout_set_fills_every_bucket_from_its_own_seeds() -> None:
    examples = heldout_set(1, seed=0)
    assert len(examples) == len(FAMILIES) * len(BUCKETS)
    filled = {(e.family, next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= e.doc_tokens <= hi))
              for e in examples}
    assert len(filled) == len(FAMILIES) * len(BUCKETS)
    assert all(e.seed >= HELDOUT_SEED_BASE for e in examples)
    for family in FAMILIES:
        assert {e.difficulty for e in examples if e.family == family} == {1, 2, 3}
    stream = curriculum(2, seed=0)
    training = {next(stream).seed for _ in range(50)}
    assert not training & {e.seed for e in examples}
    assert heldout_set(1, seed=0)[:3] == examples[:3]


def test_sample_text_is_deterministic_and_sized() -> None:
    text = sample_text(5000, seed=1)
    assert len(text) == 5000 and text == sample_text(5000, seed=1)
    assert "<think>" in text and "Question: " in text
    assert text != sample_text(5000, seed=2)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        generate(1, family="poetry")
    with pytest.raises(ValueError):
        generate(1, difficulty=4)
    with pytest.raises(ValueError):
        TraceStep("x", "guess")  # type: ignore[arg-type]
