"""Stand-alone column-arithmetic exercises: the ``scratchpad`` sums and differences practised without a document.

Why. In a document example the arithmetic is a few column steps among hundreds of tokens of reading, so a
short training run sees too few of them to learn the one-digit tables: measured on build/v17 (2,600
supervised steps), its traces walked the right facts but got 43 of 73 sums and differences wrong, on
single columns ("9 + 2 + 0 = 10", "0 - 3 - 1 is below 0, so 10 - 3 - 1 = 7"). An exercise is ~100 tokens,
nearly all of them column steps, so a small share of a pass's tokens gives many times more column
operations than all its documents together. Each is an ordinary example in R1's format (numbered steps in
``<think>``, a check, a short answer) with the same step wording as the document traces, so what is
learnt here is what those traces use.
"""

from __future__ import annotations

import random

from .example import Example, TraceStep
from .scratchpad import add_text, sub_text

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
        steps = [TraceStep(f"Subtract {b} from {a}. {sub_text(a, b)}", "compute", value=str(a - b))]
        result = a - b
    else:
        operands, sign = [_number(rng) for _ in range(2 if kind < 0.75 else rng.randint(3, 5))], "+"
        result, steps = operands[0], []
        for value in operands[1:]:
            lead = f"Add {result} and {value}." if not steps else f"Add {value}."
            steps.append(TraceStep(f"{lead} {add_text(result, value)}", "compute", value=str(result + value)))
            result += value
    expression = f" {sign} ".join(map(str, operands))
    steps.append(TraceStep(f"Check: {expression} = {result}.", "check", value=str(result)))
    return Example(document="", question=f"What is {expression}?", steps=steps, answer=f"{expression} = {result}.",
                   answer_value=str(result), family="exercise", difficulty=len(steps) - 1, doc_tokens=0, seed=0)
