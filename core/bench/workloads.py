"""The inputs of the benchmark, all fixed by a seed: prompts of a given depth, the error text, the retention task.

Prompts for speed are token ids drawn from the ordinary vocabulary (speed depends on length, not
meaning), each repeat with its own seed so no run reuses another's cached prefix. The error text is one
fixed English passage, the same for every precision. The retention task plants a fact (a code number)
at a fraction of a filler document and asks for it back: greedy generation either finds it or not.
No torch here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.tokenizer import Tokenizer
from core.reasoning import prompt_opens_think

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

FILLER_SENTENCES = (
    "The river rose slowly after the rain and the fields along the valley turned to mud.",
    "A merchant from the coast arrived with salt, cloth and news of a storm at sea.",
    "The council debated the price of bread until late in the evening without agreement.",
    "Children played by the old mill while their parents mended the fences.",
    "The library kept its maps in a locked cabinet that only the archivist could open.",
    "Snow closed the northern pass for three weeks, and the post came by boat instead.",
    "A new bridge was planned, but the stone had to come from a quarry two days away.",
    "The baker's apprentice learned to knead dough before the sun came up each morning.",
    "Travellers said the inn on the hill served the best soup between the two rivers.",
    "The clock in the square ran five minutes slow, and nobody minded very much.",
)
FACT = "Remember this: the secret access code for the vault is {code}."
QUESTION = "What is the secret access code for the vault? Answer with the number only."


def speed_prompt(n_tokens: int, seed: int, vocab_size: int) -> list[int]:
    """``n_tokens`` token ids from the ordinary part of the vocabulary (clear of special tokens at the top)."""
    high = min(vocab_size, 100_000)
    low = min(1000, high // 4)
    rng = random.Random(f"prompt:{seed}:{n_tokens}")
    return [rng.randrange(low, high) for _ in range(n_tokens)]


def error_tokens(tokenizer: Tokenizer, n_tokens: int) -> list[int]:
    """The first ``n_tokens`` tokens of the fixed passage (repeated as needed)."""
    ids = tokenizer.encode(ERROR_TEXT)
    if not ids:
        raise ValueError("the tokenizer encodes the benchmark text to nothing")
    while len(ids) < n_tokens:
        ids += ids
    return ids[:n_tokens]


@dataclass(frozen=True, slots=True)
class RetentionCase:
    position: float  # where the fact sits, as a fraction of the document
    code: str
    prompt_ids: list[int]
    opens_think: bool  # the chat template already opened <think>


def retention_case(tokenizer: Tokenizer, doc_tokens: int, position: float, seed: int) -> RetentionCase:
    """A filler document of about ``doc_tokens`` tokens with the fact at ``position``, then the question."""
    rng = random.Random(f"retention:{seed}:{position}")
    code = str(rng.randrange(1000, 10000))
    per_sentence = max(1, len(tokenizer.encode(FILLER_SENTENCES[0] + " ")))
    sentences = [rng.choice(FILLER_SENTENCES) for _ in range(max(2, doc_tokens // per_sentence))]
    sentences.insert(round(position * len(sentences)), FACT.format(code=code))
    document = " ".join(sentences)
    messages = [{"role": "user", "content": f"{document}\n\n{QUESTION}"}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    return RetentionCase(position, code, tokenizer.encode(text), prompt_opens_think(text))
