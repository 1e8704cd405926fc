"""How a question meets a document: the whole document, retrieved passages, or a sequential read.

- ``whole``: the document fits the room the context leaves; the model reads all of it (stable prefix).
- ``retrieval``: it does not; the chunks that best match the question (BM25) are packed up to the room, shown
  in document order, and ``QuestionPrompt.included`` lists their anchors.
- ``sequential``: it does not, and the question is about the whole document ("summarise", "list every" ...)
  or the caller asks: part by part with notes (``core.documents.sequential``).

The choice is automatic, with a reason in plain words, and the caller can force any strategy. A prompt that
still would not fit raises ``DocumentTooLongError`` with both token counts: nothing is truncated.
``IndexedDocument`` holds a parsed document, its chunks and its BM25 index, built once, for every question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from core.documents.budget import ContextBudget
from core.documents.chunking import (DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS, Chunk, SectionTokens,
                                     chunk_document, count_sections)
from core.documents.errors import DocumentTooLongError
from core.documents.parsed import ParsedDocument
from core.documents.prompt import merge_chunks, question_messages, render_document, render_excerpts
from core.documents.retrieval import ChunkRanker
from core.documents.sequential import Ask, SequentialReader
from core.documents.tokens import TokenCounter

STRATEGIES = ("whole", "retrieval", "sequential")
KEPT_RENDERING_CHARS = 2**21  # longer than any context holds whole; a longer rendering is not kept in memory
_WHOLE_DOCUMENT_CUES = re.compile(
    r"\b(summar(?:y|ies|is\w*|iz\w*)|overall|throughout|all of (?:it|the|this)|list (?:every|all|each)|"
    r"every (?:mention|time|instance|occurrence|place|section|chapter|page)|each (?:chapter|section|page|part)|"
    r"(?:whole|entire|full) (?:document|text|book|file|report|paper)|main (?:points|ideas|themes|arguments)|"
    r"key (?:points|takeaways|findings)|outline|overview|tl;?dr|how many times|from start to finish)\b",
    re.IGNORECASE)


def whole_document_cue(question: str) -> str | None:
    """The words that make ``question`` one about the whole document, if any ("summarise", "list every")."""
    match = _WHOLE_DOCUMENT_CUES.search(question)
    return match.group(0) if match else None


@dataclass(frozen=True, slots=True)
class StrategyChoice:
    strategy: str
    reason: str
    requested: bool = False


def choose_strategy(document_tokens: int, room_tokens: int, question: str,
                    requested: str | None = None) -> StrategyChoice:
    """The strategy for a document of ``document_tokens`` when ``room_tokens`` are left for it; the reason is
    a plain statement of what will happen and why (not a warning: every strategy is a normal way to read)."""
    if requested not in (None, "auto", *STRATEGIES):
        raise ValueError(f"unknown strategy {requested!r}: choose auto, {', '.join(STRATEGIES)}")
    fits = document_tokens <= room_tokens
    if requested in STRATEGIES:
        size = (f"the documents ({document_tokens:,} tokens) would also fit whole in the {room_tokens:,} the context "
                f"leaves" if fits else f"the documents take {document_tokens:,} tokens; the context leaves "
                f"{room_tokens:,}")
        return StrategyChoice(requested, f"{_NAMES[requested]}, as chosen for this chat ({size}).", requested=True)
    if fits:
        return StrategyChoice("whole", f"Whole document: all {document_tokens:,} tokens fit in the {room_tokens:,} the "
                                       "context leaves for documents.")
    return _not_fitting(question, f"the documents ({document_tokens:,} tokens) are longer than the {room_tokens:,} "
                                  "tokens the context leaves for them")


_NAMES = {"whole": "Whole document", "retrieval": "Best passages", "sequential": "Sequential reading"}


def _not_fitting(question: str, size: str) -> StrategyChoice:
    cue = whole_document_cue(question)
    if cue:
        return StrategyChoice("sequential", f"Sequential reading: {size}, and the question is about all of them "
                                            f"(“{cue}”), so they are read part by part with notes, then answered "
                                            "from the notes.")
    return StrategyChoice("retrieval", f"Best passages: {size}, so each question reads the passages that match it "
                                       "best, in document order. For a summary or “list every …”, choose "
                                       "sequential reading.")


@dataclass(frozen=True, slots=True)
class QuestionPrompt:
    strategy: str
    reason: str
    budget: ContextBudget
    document_tokens: int  # the whole document in its rendered form
    room_tokens: int  # left for the document once the frame and the reserve are counted
    messages: list[dict[str, str]] | None  # None for sequential (the reader builds its own prompts)
    prompt_tokens: int | None
    included: tuple[Chunk, ...] = ()  # retrieval: the chunks shown (document order)
    parts: int = 0  # sequential: model calls before the final answer
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "reason": self.reason, "budget": self.budget.to_dict(),
                "document_tokens": self.document_tokens, "room_tokens": self.room_tokens,
                "prompt_tokens": self.prompt_tokens, "parts": self.parts, "notes": list(self.notes),
                "included": [c.anchor() for c in self.included]}


class IndexedDocument:
    """One parsed document prepared for questions: chunks, token counts, the stable rendering, BM25 index."""

    def __init__(self, document: ParsedDocument, counter: TokenCounter, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                 overlap_tokens: int = DEFAULT_OVERLAP_TOKENS, render: Callable[[], str] | None = None) -> None:
        """``render`` makes the stable form in place of the document's own (``DocumentSet.render`` for several
        files)."""
        self.document, self.counter = document, counter
        self._render = render or (lambda: render_document(document))
        rendered = self._render()
        self.document_tokens = counter.count_tokens(rendered)
        self._rendered = rendered if len(rendered) <= KEPT_RENDERING_CHARS else None
        del rendered
        self.chunks = chunk_document(document, counter.count_tokens, chunk_tokens, overlap_tokens, counter.count_many)
        self._ranker: ChunkRanker | None = None
        self._section_tokens: list[SectionTokens] | None = None

    @property
    def rendered(self) -> str:
        """The whole document in its stable prompt form (kept when short; a long one is made again when asked for,
        which only a forced whole-document question does)."""
        return self._rendered if self._rendered is not None else self._render()

    @property
    def section_tokens(self) -> list[SectionTokens]:
        if self._section_tokens is None:
            self._section_tokens = count_sections(self.document, self.counter.count_tokens)
        return self._section_tokens

    @property
    def ranker(self) -> ChunkRanker:
        if self._ranker is None:
            self._ranker = ChunkRanker(self.chunks)
        return self._ranker

    def room_tokens(self, question: str, budget: ContextBudget) -> int:
        return budget.room_for_document(self.counter.count_prompt(question_messages("", question)))

    def prompt(self, question: str, budget: ContextBudget, strategy: str | None = None) -> QuestionPrompt:
        """The prompt (or, for ``sequential``, the shape of the read) for ``question``; ``strategy`` forces one."""
        room = self.room_tokens(question, budget)
        choice = choose_strategy(self.document_tokens, room, question, strategy)
        if choice.strategy == "whole":
            messages = question_messages(self.rendered, question)
            tokens = self.counter.count_prompt(messages)
            if tokens <= budget.prompt_limit_tokens or choice.requested:
                budget.check(tokens, self.document.name)
                return QuestionPrompt("whole", choice.reason, budget, self.document_tokens, room, messages, tokens)
            choice = _not_fitting(question, f"with the question the whole documents make a {tokens:,}-token prompt, "
                                            f"over the {budget.prompt_limit_tokens:,} tokens a prompt may have")
        if choice.strategy == "sequential":
            reader = self.sequential_reader(question, budget, _never_called)
            return QuestionPrompt("sequential", choice.reason, budget, self.document_tokens, room, None, None,
                                parts=len(reader.parts))
        return self._retrieval(question, budget, room, choice)

    def sequential_reader(self, question: str, budget: ContextBudget, ask: Ask,
                          notes_tokens: int | None = None) -> SequentialReader:
        return SequentialReader(self.document, self.chunks, question, self.counter, budget, ask, notes_tokens)

    # --- retrieval --------------------------------------------------------------------------------
    def _retrieval(self, question: str, budget: ContextBudget, room: int, choice: StrategyChoice) -> QuestionPrompt:
        ranked = [index for index, _score in self.ranker.rank(question)]
        notes: list[str] = []
        if not ranked:
            ranked = list(range(len(self.chunks)))
            notes.append("No passage shares a word with the question, so the beginning of the document is shown.")
        header = self.counter.count_tokens(render_excerpts(self.document, [], len(self.chunks), 0)) + 2
        chosen = self._pack(ranked, room - header)
        while True:
            if not chosen:
                smallest = min((c.tokens for c in self.chunks), default=0)
                frame = self.counter.count_prompt(question_messages("", question))
                raise DocumentTooLongError(frame + header + smallest, budget.context_tokens,
                                           reserve_tokens=budget.reserve_tokens, name=self.document.name,
                                           hint="Not even one passage fits next to the question: shorten the "
                                                "question, or use a model with a longer context.")
            included = sorted((self.chunks[i] for i in chosen), key=lambda c: c.index)
            block = render_excerpts(self.document, merge_chunks(included), len(self.chunks), len(included))
            messages = question_messages(block, question, excerpts=True)
            tokens = self.counter.count_prompt(messages)
            if tokens <= budget.prompt_limit_tokens:
                break
            chosen = _drop_lowest(chosen, self.chunks, tokens - budget.prompt_limit_tokens)
        return QuestionPrompt("retrieval", choice.reason, budget, self.document_tokens, room, messages, tokens,
                            included=tuple(included), notes=tuple(notes))

    def _pack(self, ranked: Sequence[int], room: int) -> list[int]:
        """Chunk indices whose tokens (plus an excerpt label each) add up to at most ``room``: the ranked ones
        best first, then, while room is left, the neighbours of those chosen (the context around a match)."""
        chosen: list[int] = []
        taken: set[int] = set()
        used = 0

        def take(index: int) -> None:
            nonlocal used
            chunk = self.chunks[index]
            label = self.document.sections[chunk.section_index].label()
            cost = chunk.tokens + self.counter.count_tokens(f"[Excerpt 99 · {label}]\n\n")
            if used + cost <= room:
                chosen.append(index)
                taken.add(index)
                used += cost

        for index in ranked:
            take(index)
        ring = list(chosen)
        while ring and used < room:
            before = len(chosen)
            for index in ring:
                for neighbour in (index - 1, index + 1):
                    if 0 <= neighbour < len(self.chunks) and neighbour not in taken:
                        take(neighbour)
            ring = chosen[before:]
        return chosen


def _drop_lowest(chosen: list[int], chunks: Sequence[Chunk], excess_tokens: int) -> list[int]:
    """``chosen`` (rank order) without its lowest-ranked chunks worth at least ``excess_tokens``."""
    kept, freed = list(chosen), 0
    while kept and freed < excess_tokens:
        freed += chunks[kept.pop()].tokens
    return kept


def _never_called(messages: list[dict[str, str]]) -> str:
    raise RuntimeError("a prompt's sequential reader only counts parts; use IndexedDocument.sequential_reader to read")
