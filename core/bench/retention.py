"""Retention: does the model still find a fact with a known answer when it sits deep in a long document?

The cases are built so that full precision finds them, or the figure says nothing about a precision:
- a model that ships held-out questions (``core.bench.heldout``) is asked its own lookup questions, whose
  answers are known, with the question's document placed at a fraction of a longer document made of its
  other held-out documents (none of which names what the question asks about); the answer is graded like
  the task accuracy (``scoring.answer_correct``). A small model trained on one kind of document cannot be
  asked about a "secret vault code" in other prose: it answers nothing useful at any precision.
- any other model gets the classic planted fact (a code in filler sentences) and is found when the code
  appears in what it writes.
Every case is fixed by the seed, so each precision answers the same prompts. No torch here.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from core.bench.heldout import HeldoutQuestion, has_heldout, load_heldout
from core.bench.scoring import answer_correct
from core.reasoning import prompt_opens_think
from core.tokenizer import Tokenizer

KNOWN_FAMILIES = ("lookup",)  # held-out questions answered by one sentence of the document
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
_NAME = re.compile(r"\b[A-Z][a-z]+\b")
_COMMON_NAMES = {"Project", "Parcel", "Order", "How", "What", "Which", "Who", "When", "Where", "If", "In", "The"}


@dataclass(frozen=True, slots=True)
class RetentionCase:
    position: float  # where the fact sits, as a fraction of the document
    gold: str  # the answer
    prompt_ids: list[int]
    opens_think: bool  # the chat template already opened <think>
    graded: str  # "answer": the final answer must give ``gold``; "contains": ``gold`` anywhere in the output
    question: str

    def found(self, output: str) -> bool:
        return answer_correct(self.gold, output) if self.graded == "answer" else self.gold in output


def retention_cases(tokenizer: Tokenizer, doc_tokens: int, positions: tuple[float, ...], seed: int,
                    model_dir: Path | None = None) -> list[RetentionCase]:
    """Every case of a run: the model's known-answer questions at each position, else one planted fact each."""
    if model_dir is not None and has_heldout(model_dir):
        questions = load_heldout(model_dir)
        known = [q for q in questions if q.family in KNOWN_FAMILIES]
        if known:
            return [_known_case(tokenizer, q, questions, doc_tokens, p, seed) for q in known for p in positions]
    return [_planted_case(tokenizer, doc_tokens, p, seed) for p in positions]


def _known_case(tokenizer: Tokenizer, question: HeldoutQuestion, pool: list[HeldoutQuestion], doc_tokens: int,
                position: float, seed: int) -> RetentionCase:
    """``question``'s document with other held-out documents before it (about ``position`` of the room) and after."""
    names = set(_NAME.findall(question.question)) - _COMMON_NAMES
    others = [q.document for q in pool if q.document != question.document
              and not any(re.search(rf"\b{re.escape(n)}\b", q.document) for n in names)]
    random.Random(f"retention:{seed}:{position}:{question.question}").shuffle(others)
    room = max(0, doc_tokens - len(tokenizer.encode(question.document)))
    before: list[str] = []
    after: list[str] = []
    used = before_tokens = 0
    for document in others:
        tokens = len(tokenizer.encode(document)) + 2
        if used + tokens > room:
            continue
        if before_tokens + tokens <= position * room:
            before.append(document)
            before_tokens += tokens
        else:
            after.append(document)
        used += tokens
    document = "\n\n".join([*before, question.document, *after])
    messages = [{"role": "user", "content": f"{document}\n\nQuestion: {question.question}"}]
    return _case(tokenizer, messages, position, question.answer_value, "answer", question.question)


def _planted_case(tokenizer: Tokenizer, doc_tokens: int, position: float, seed: int) -> RetentionCase:
    """A filler document of about ``doc_tokens`` tokens with a code planted at ``position``."""
    rng = random.Random(f"retention:{seed}:{position}")
    code = str(rng.randrange(1000, 10000))
    per_sentence = max(1, len(tokenizer.encode(FILLER_SENTENCES[0] + " ")))
    sentences = [rng.choice(FILLER_SENTENCES) for _ in range(max(2, doc_tokens // per_sentence))]
    sentences.insert(round(position * len(sentences)), FACT.format(code=code))
    messages = [{"role": "user", "content": f"{' '.join(sentences)}\n\n{QUESTION}"}]
    return _case(tokenizer, messages, position, code, "contains", QUESTION)


def _case(tokenizer: Tokenizer, messages: list[dict[str, str]], position: float, gold: str, graded: str,
          question: str) -> RetentionCase:
    prompt = tokenizer.chat_prompt(messages)
    return RetentionCase(position, gold, prompt.ids, prompt_opens_think(prompt.text), graded, question)
