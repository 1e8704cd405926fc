"""The inputs of the benchmark, all fixed by a seed: prompts of a given depth, and the error text.

Prompts for speed are token ids drawn from the ordinary vocabulary (speed depends on length, not
meaning), each repeat with its own seed so no run reuses another's cached prefix. The error text is text the
model can model, the same for every precision: a model that ships held-out documents (``core.bench.heldout``)
is measured on them (a small model trained on one kind of document has a perplexity in the hundreds of
thousands on anything else, which says nothing about a precision), any other model on one fixed English
passage. The retention task is ``core.bench.retention``. No torch here.
"""

from __future__ import annotations

import random
from pathlib import Path

from core.bench.heldout import has_heldout, load_heldout
from core.tokenizer import Tokenizer

ERROR_TEXT = (
    "The committee met on a grey Tuesday morning to review the quarterly accounts. The treasurer reported that "
    "income from memberships had risen by eight percent, while the cost of renting the hall had doubled since "
    "the landlord sold the building. Several members asked whether the annual dinner should be cancelled to "
    "save money; others argued that it was the only event that brought new people in. After a long discussion "
    "the chair proposed a compromise: the dinner would go ahead, but in the community centre, which charges "
    "half the price, and tickets would cost five pounds more. The proposal passed with eleven votes in favour, "
    "three against and two abstentions. The secretary then read a letter from the council about the new "
    "parking rules, which will take effect in March and limit visitors to two hours on weekdays. It was agreed "
    "to print a notice for the newsletter and to ask the council for an exemption for the Saturday market. "
    "Finally, the garden group announced that the spring planting day will be held on the first Sunday of "
    "April, and volunteers should bring gloves, a spade and something to share for lunch. "
)
HELDOUT_TEXT = "the model's held-out documents"
FIXED_TEXT = "a fixed English passage"


def speed_prompt(n_tokens: int, seed: int, vocab_size: int) -> list[int]:
    """``n_tokens`` token ids from the ordinary part of the vocabulary (clear of special tokens at the top)."""
    high = min(vocab_size, 100_000)
    low = min(1000, high // 4)
    rng = random.Random(f"prompt:{seed}:{n_tokens}")
    return [rng.randrange(low, high) for _ in range(n_tokens)]


def error_tokens(tokenizer: Tokenizer, n_tokens: int, model_dir: Path | None = None) -> tuple[list[int], str]:
    """The first ``n_tokens`` tokens of the error text (repeated as needed), and what that text is."""
    if model_dir is not None and has_heldout(model_dir):
        text, source = "\n\n".join(q.document for q in load_heldout(model_dir)), HELDOUT_TEXT
    else:
        text, source = ERROR_TEXT, FIXED_TEXT
    ids = tokenizer.encode(text)
    if not ids:
        raise ValueError("the tokenizer encodes the benchmark text to nothing")
    while len(ids) < n_tokens:
        ids += ids
    return ids[:n_tokens], source
