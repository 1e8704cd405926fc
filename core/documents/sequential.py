"""Reading a document too long for the context part by part, carrying notes forward (map-reduce style).

For questions about the whole document ("summarise", "list every ...") retrieval would miss most of it, so
the reader walks the chunks in order, in parts as large as the context allows, asks the model to update its
notes after each part, and finally asks for the answer from the notes. The model is reached through an
``ask(messages)`` callable that returns the text, or a generator that returns it (its items are passed on:
the GUI streams each part, so a Stop reaches the request and the prompt's progress shows); this module knows
nothing about HTTP.

``read()`` is a generator: it yields a ``ReadProgress`` before each model call (so the GUI shows "part k of
n", the time left and the notes so far while the model works), what ``ask`` yields, and returns the
``SequentialResult``, also kept in ``reader.result``. ``cancel()`` (any thread) or closing the generator stops
it before the next call; ``reader.result`` then stays None.
"""

from __future__ import annotations

import collections.abc
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, Sequence, Union

from core.documents.budget import ContextBudget
from core.documents.chunking import Chunk
from core.documents.errors import DocumentTooLongError
from core.documents.parsed import ParsedDocument
from core.documents.prompt import document_header, merge_chunks, render_spans
from core.documents.tokens import Messages, TokenCounter

Ask = Callable[[list[dict[str, str]]], Union[str, Generator[Any, None, str]]]
_THINK = re.compile(r"^.*?</think>\s*", re.DOTALL)
_SLACK_TOKENS_PER_CHUNK = 8  # page marks and token merges at chunk joins


@dataclass(frozen=True, slots=True)
class ReadProgress:
    stage: str  # "part" (reading part ``part`` of ``parts``) or "answer" (answering from the notes)
    part: int
    parts: int
    chunk_indices: tuple[int, ...]
    notes: str
    eta_s: float | None = None  # until the answer starts, from the parts read so far (None before the first ends)

    def describe(self) -> str:
        if self.stage == "answer":
            return f"Answering from the notes on all {self.parts} parts"
        left = f" · {eta_text(self.eta_s)}" if self.eta_s is not None else ""
        return f"Reading part {self.part} of {self.parts}{left}"


def eta_text(seconds: float) -> str:
    """"about 40 s left", "about 3 min left"."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


@dataclass(frozen=True, slots=True)
class SequentialResult:
    answer: str  # "" when read(answer=False): the caller sends ``final_messages`` itself (e.g. streamed)
    notes: str
    parts: int
    calls: int
    final_messages: tuple[dict[str, str], ...] = ()


def default_notes_tokens(budget: ContextBudget) -> int:
    return max(64, min(2048, budget.prompt_limit_tokens // 4))


def group_parts(chunks: Sequence[Chunk], part_tokens: int, name: str | None = None,
                budget: ContextBudget | None = None) -> list[list[Chunk]]:
    """Consecutive chunks grouped into parts of at most ``part_tokens`` (chunk tokens + slack, summed)."""
    parts: list[list[Chunk]] = []
    used = 0
    for chunk in chunks:
        cost = chunk.tokens + _SLACK_TOKENS_PER_CHUNK
        if cost > part_tokens:
            context = budget.context_tokens if budget else part_tokens
            raise DocumentTooLongError(cost, context, reserve_tokens=budget.reserve_tokens if budget else 0, name=name,
                                       hint="Even one passage and the notes do not fit: use a model with a longer "
                                            "context, or smaller chunks.")
        if parts and used + cost <= part_tokens:
            parts[-1].append(chunk)
            used += cost
        else:
            parts.append([chunk])
            used = cost
    return parts


class SequentialReader:
    def __init__(self, document: ParsedDocument, chunks: Sequence[Chunk], question: str, counter: TokenCounter,
                 budget: ContextBudget, ask: Ask, notes_tokens: int | None = None) -> None:
        self.document, self.question, self.counter, self.budget, self._ask = document, question, counter, budget, ask
        self.notes_tokens = notes_tokens or default_notes_tokens(budget)
        frame = counter.count_prompt(self._part_messages("", 10_000, 10_000, ""))
        part_tokens = budget.prompt_limit_tokens - frame - self.notes_tokens
        self.parts = group_parts(chunks, part_tokens, document.name, budget)
        self.result: SequentialResult | None = None
        self._cancel = threading.Event()
        self._calls = 0

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def __iter__(self) -> Generator[ReadProgress, None, SequentialResult | None]:
        return self.read()

    def read(self, answer: bool = True) -> Generator[ReadProgress, None, SequentialResult | None]:
        """Read every part; with ``answer`` False, stop before the final call and leave its messages in the result."""
        notes, total = "", len(self.parts)
        started = time.monotonic()
        for number, part in enumerate(self.parts, 1):
            if self.cancelled:
                return None
            text = render_spans(self.document, merge_chunks(part))
            fitted = yield from self._fitting(lambda n: self._part_messages(n, number, total, text), notes)
            if fitted is None:
                return None
            messages, notes = fitted
            done = number - 1  # parts read; the final answer costs about one more
            eta = (time.monotonic() - started) / done * (total - done + 1) if done else None
            yield ReadProgress("part", number, total, tuple(c.index for c in part), notes, eta)
            if self.cancelled:
                return None
            notes = yield from self._call(messages)
        if self.cancelled:
            return None
        fitted = yield from self._fitting(self._final_messages, notes)
        if fitted is None:
            return None
        messages, notes = fitted
        yield ReadProgress("answer", total, total, (), notes)
        if self.cancelled:
            return None
        final = tuple(dict(m) for m in messages)
        text = (yield from self._call(messages)) if answer else ""
        self.result = SequentialResult(text, notes, total, self._calls, final)
        return self.result

    # --- model calls --------------------------------------------------------------------------------
    def _call(self, messages: Messages) -> Generator[Any, None, str]:
        self._calls += 1
        reply = self._ask(list(messages))
        if isinstance(reply, collections.abc.Generator):
            reply = yield from reply
        return _THINK.sub("", reply).strip()

    def _fitting(self, build: Callable[[str], Messages],
                 notes: str) -> Generator[Any, None, tuple[Messages, str] | None]:
        """(messages, notes) for ``build(notes)``; notes grown too long are condensed once first."""
        messages = build(notes)
        if self.counter.count_prompt(messages) <= self.budget.prompt_limit_tokens:
            return messages, notes
        if self.cancelled:
            return None
        if notes:
            notes = yield from self._call(self._condense_messages(notes))
        messages = build(notes)
        self.budget.check(self.counter.count_prompt(messages), self.document.name,
                          hint="The notes taken so far no longer fit next to the next part, even condensed: use a "
                               "model with a longer context, or ask a narrower question.")
        return messages, notes

    # --- prompts ----------------------------------------------------------------------------------
    def _words(self) -> int:
        return max(30, int(self.notes_tokens * 0.6))

    def _part_messages(self, notes: str, number: int, total: int, text: str) -> list[dict[str, str]]:
        content = (f"You are reading a long document part by part to answer a question at the end; you cannot "
                   f"see the other parts.\n{document_header(self.document)}\n\nQuestion: {self.question.strip()}\n\n"
                   f"Notes from the parts read so far:\n{notes or '(none yet: this is the first part)'}\n\n"
                   f"Part {number} of {total}:\n{text}\n\n---\nWrite the updated notes: keep everything in the notes "
                   "so far that may matter for the question, and add what this part says about it, with page "
                   "numbers or section names. Reply with the notes only, in at most "
                   f"{self._words()} words. If this part has nothing relevant, repeat the notes unchanged.")
        return [{"role": "user", "content": content}]

    def _final_messages(self, notes: str) -> list[dict[str, str]]:
        content = (f"You read a long document part by part and took these notes for the question below.\n"
                   f"{document_header(self.document)}\n\nNotes:\n{notes or '(no notes)'}\n\n---\nAnswer the question "
                   "from the notes. Say which pages or sections support your answer, and say so if the notes do not "
                   f"contain the answer.\n\nQuestion: {self.question.strip()}")
        return [{"role": "user", "content": content}]

    def _condense_messages(self, notes: str) -> list[dict[str, str]]:
        content = (f"Shorten these notes to at most {self._words() // 2} words, keeping every fact, page number and "
                   f"section name that matters for the question: {self.question.strip()}\n\nNotes:\n{notes}\n\n"
                   "Reply with the shortened notes only.")
        return [{"role": "user", "content": content}]
