"""Arithmetic and comparisons written out the way a tiny transformer can learn to produce them.

Why this format. A causal model writes a number left to right, but a carry flows right to left, so
"347 + 285 = 632" in one go asks the model to look ahead through every column. Small transformers
learn addition far more easily from a scratchpad that works one column at a time and keeps every
operand it needs *local* (Lee et al., "Teaching Arithmetic to Small Transformers", 2023). So:

    347 + 285: 7 + 5 + 0 = 12, carry 1, so far 2; 34 + 28: 4 + 8 + 1 = 13, carry 1, so far 32;
    3 + 2: 3 + 2 + 1 = 6, carry 0, so far 632. So 347 + 285 = 632.

- Each segment restates the operands with the finished digits dropped, so the digits to add next are
  always the last digit before " +" and before ":": a copy from a fixed place, never a count of
  digit positions (which a causal model cannot do, since a digit does not know how many follow it).
- Each column is a one-digit sum plus a carry: a 200-entry table the model memorises quickly.
- "so far" grows by prepending the new digit to the previous "so far", so the final result is a plain
  copy of the last "so far" in the usual left-to-right order: nothing has to be reversed.
- The carry is always written (even 0), and a missing digit is written as 0, so there are no special
  cases; subtraction has the same shape with borrows.

Comparisons name the one thing that decides them (digit count, else the first digit that differs;
for dates: year, else month, else day), again so that each decision is local.
"""

from __future__ import annotations

import datetime as dt


def add_text(a: int, b: int) -> str:
    """Column addition of two non-negative integers, ending "So a + b = c."."""
    x, y, carry, so_far, parts = str(a), str(b), 0, "", []
    while x or y or carry:
        da, db = int(x[-1]) if x else 0, int(y[-1]) if y else 0
        total = da + db + carry
        so_far = str(total % 10) + so_far
        parts.append(f"{x or 0} + {y or 0}: {da} + {db} + {carry} = {total}, "
                     f"carry {total // 10}, so far {so_far}")
        carry, x, y = total // 10, x[:-1], y[:-1]
    if not parts:  # 0 + 0
        parts.append("0 + 0: 0 + 0 + 0 = 0, carry 0, so far 0")
    return "; ".join(parts) + f". So {a} + {b} = {a + b}."


def sub_text(a: int, b: int) -> str:
    """Column subtraction ``a - b`` for ``a >= b >= 0``, ending "So a - b = c."."""
    if a < b or b < 0:
        raise ValueError("sub_text needs a >= b >= 0")
    x, y, borrow, so_far, parts = str(a), str(b), 0, "", []
    while x:
        da, db = int(x[-1]) if x else 0, int(y[-1]) if y else 0
        head = f"{x} - {y or 0}: {da} - {db} - {borrow}"
        diff = da - db - borrow
        if diff < 0:
            so_far = str(diff + 10) + so_far
            parts.append(f"{head} is below 0, so 1{da} - {db} - {borrow} = {diff + 10}, "
                         f"borrow 1, so far {so_far}")
            borrow = 1
        else:
            so_far = str(diff) + so_far
            parts.append(f"{head} = {diff}, borrow 0, so far {so_far}")
            borrow = 0
        x, y = x[:-1], y[:-1]
    return "; ".join(parts) + f". So {a} - {b} = {a - b}."


def _digits(n: int) -> str:
    return "1 digit" if n == 1 else f"{n} digits"


def compare_numbers(a: int, b: int, want: str = "larger") -> tuple[str, int]:
    """Text deciding which of two distinct integers is ``want`` ("larger"/"smaller"), and that one."""
    if a == b:
        raise ValueError("compare_numbers needs distinct numbers")
    winner = max(a, b) if want == "larger" else min(a, b)
    sa, sb = str(a), str(b)
    if len(sa) != len(sb):
        why = f"{_digits(len(sa))} vs {_digits(len(sb))}"
    else:
        i = next(i for i, (p, q) in enumerate(zip(sa, sb)) if p != q)
        why = f"{_digits(len(sa))} each, first difference {sa[i]} vs {sb[i]}"
    return f"{a} vs {b}: {why}, so {winner} is {want}", winner


def compare_dates(a: dt.date, b: dt.date, want: str = "earlier") -> tuple[str, dt.date]:
    """Text deciding which of two distinct dates is ``want`` ("earlier"/"later"), and that one."""
    if a == b:
        raise ValueError("compare_dates needs distinct dates")
    winner = min(a, b) if want == "earlier" else max(a, b)
    if a.year != b.year:
        why = f"years {a.year} vs {b.year}"
    elif a.month != b.month:
        why = f"same year {a.year}, months {a.month:02d} vs {b.month:02d}"
    else:
        why = f"same month {a.year}-{a.month:02d}, days {a.day:02d} vs {b.day:02d}"
    return f"{a.isoformat()} vs {b.isoformat()}: {why}, so {winner.isoformat()} is {want}", winner
