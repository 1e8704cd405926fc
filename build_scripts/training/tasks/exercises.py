"""Arithmetic practice packed densely: column exercises without a document, and short arithmetic notes.

Why. In a document example the arithmetic is a few column steps among hundreds of tokens of reading, so a
short training run sees too few of them to learn the one-digit tables: trained on documents alone, a model
walks the right facts but gets most sums and differences wrong, on single columns ("9 + 2 + 0 = 10",
"0 - 3 - 1 is below 0, so 10 - 3 - 1 = 7"). An exercise is ~100 tokens, nearly all of them column steps,
so a small share of a pass's tokens gives many times more column operations than all its documents
together. Each is an ordinary example in R1's format (numbered steps in
``<think>``, a check, a short answer) with the same step wording as the document traces, so what is
learnt here is what those traces use.

An exercise's operands stand in its question, so it does not teach what the document traces also need:
taking each operand from the right earlier step. With exercises alone the column results come out right,
yet wrong arithmetic answers add a number quoted for another project ("Add the cost of Project Badger and
the cost of Project Condor. 128 + 665" where Badger's cost was quoted as 998).
An arithmetic note is a document of ~80-250 tokens (the arithmetic family's facts, chains included, and a
few distractors, hardly any filler) with its main question and three arithmetic drills behind it: the same
traces as in a long document, quote by name and then add or subtract, at several times the density.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .documents import estimate_tokens
from .example import Example
from .family_arithmetic import running_sum
from .generate import Drills, generate_with_drills
from .scratchpad import sub_text
from .trace import check, compute

# operand lengths in digits, weighted towards the 3- and 4-digit stocks, costs and budgets of the documents
_DIGITS = (1, 2, 2, 3, 3, 3, 4, 4, 4, 5)


def _number(rng: random.Random) -> int:
    digits = rng.choice(_DIGITS)
    return rng.randint(10 ** (digits - 1), 10 ** digits - 1)


def arithmetic_exercise(rng: random.Random) -> Example:
    """"What is 936 + 218?", "What is 2049 - 1359?" or a running sum of 3-5 numbers, worked column by column."""
    kind = rng.random()
    if kind < 0.4:
        operands, sign = [_number(rng), _number(rng)], "-"
        operands.sort(reverse=True)
        a, b = operands
        steps, result = [compute(f"Subtract {b} from {a}. {sub_text(a, b)}", str(a - b))], a - b
    else:
        operands, sign = [_number(rng) for _ in range(2 if kind < 0.75 else rng.randint(3, 5))], "+"
        steps, result = running_sum(operands, list(map(str, operands)))
    expression = f" {sign} ".join(map(str, operands))
    steps.append(check(f"{expression} = {result}.", str(result)))
    return Example(document="", question=f"What is {expression}?", steps=steps, answer=f"{expression} = {result}.",
                   answer_value=str(result), family="exercise", difficulty=len(steps) - 1, doc_tokens=0, seed=0)


def arithmetic_note(rng: random.Random, count_tokens: Callable[[str], int] = estimate_tokens,
                    chains: bool = False) -> list[Example]:
    """A short arithmetic document (80-250 tokens, more where a chain needs it) with its question and up to three
    arithmetic drills on it.

    Difficulty 3 (the budget left after a team's projects, sums of four or five) is drawn half the time: its
    traces quote the most numbers before adding them.
    """
    return generate_with_drills(rng.randrange(1 << 30), "arithmetic", rng.choice((1, 2, 3, 3)),
                                rng.randint(80, 250), count_tokens, Drills(arithmetic=3), chains)
