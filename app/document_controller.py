"""What the document panel's actions do: parse dropped files, keep them with the chat, show how a question met them, cite.

    add_files(paths)  -> a parser worker process per file (core.documents.iter_parse) on a task; progress to
                         the panel; the result stored (deduplicated by hash) and linked to the chat
    set_chat(id)      -> the chat's stored documents and its strategy (kept with the chat)
    set_model(dir, n) -> the model's tokenizer and context: token counts, the budget bar, the strategy
    context()         -> the DocumentContext a question is sent with (None without documents)
    cite(...)         -> citation links for an answer and its steps; ``location(key)`` for a clicked one
    passage_links(..) -> the passages a retrieval answer read, as links (page, first words)

Everything that can take time (parsing, counting tokens, chunking, indexing) runs through ``app.tasks``;
results come back with a generation number, so a result for a chat or model no longer shown is dropped.
Nothing is counted on the GUI thread: ``build`` counts the sections, the document and the room the context
leaves for it on the worker (long texts piece by piece, the tokenizer releasing the GIL meanwhile).
Document errors (encrypted, corrupt, no text, zip bomb, unsupported, timeout ...) go to ``notice``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from PySide6.QtCore import QObject, Signal

from app.tasks import Task, TaskRunner
from app.widgets.document_panel import DocumentPanel
from core.documents import (DEFAULT_RESERVE_TOKENS, CitationIndex, ContextBudget, DocumentContext, DocumentError,
                            QuestionPrompt, DocumentSet, EstimatedCounter, Location, ParsedDocument, ParseLimits,
                            ParseProgress, ReadProgress, STRATEGIES, TokenCounter, TokenizerCounter,
                            choose_strategy, iter_parse)
from core.store import RowNotFound, Store

log = logging.getLogger(__name__)

ASSUMED_CONTEXT_TOKENS = 32768  # a remote server that does not say, or no model yet
STRATEGY_SETTING = "document_strategy"  # the chat's settings key for its strategy
FIRST_WORDS = 6  # of a passage, in the list of passages an answer read
CACHED_SETS = 4  # prepared document sets kept, so switching between chats does not count tokens again


@dataclass(frozen=True, slots=True)
class Built:
    """What ``build`` prepares off the GUI thread for one set of documents and one model."""

    context: DocumentContext
    section_tokens: list[list[int]]
    citations: CitationIndex
    room_tokens: int  # what the context leaves for the documents (the frame and the reserve counted)


def parse_and_store(path: str, store: Store, chat_id: int, limits: ParseLimits) -> Iterator[Any]:
    """Worker side of adding a file: progress items, then ``(document id, ParsedDocument)`` once stored."""
    document = None
    for item in iter_parse(path, limits):
        if isinstance(item, ParsedDocument):
            document = item
        else:
            yield item
    if document is not None:
        row = store.add_document(document.sha256, document.name, document.mime, document.size_bytes,
                                 document.to_dict())
        store.link_document(chat_id, row.id)
        yield row.id, document


def build(documents: Sequence[ParsedDocument], counter: TokenCounter | None, model_dir: str | None,
          budget: ContextBudget, strategy: str | None) -> tuple[Built, TokenCounter]:
    """Worker side: the counter (the model's tokenizer, loaded once), the context, section counts, citations."""
    if counter is None:
        counter = TokenizerCounter.from_model_dir(model_dir) if model_dir else EstimatedCounter()
    context = DocumentContext(DocumentSet.of(documents), counter, budget, strategy)
    counts = [counter.count_many([s.text for s in d.sections]) for d in documents]
    room = context.indexed.room_tokens("", budget)
    return Built(context, counts, CitationIndex(context.documents.combined), room), counter


class DocumentController(QObject):
    notice = Signal(str, str)  # text, level
    changed = Signal()  # documents or their context changed (the window re-cites and shows the panel)
    reading_cancel_requested = Signal()

    def __init__(self, panel: DocumentPanel, store: Store, tasks: TaskRunner, parent: QObject | None = None,
                 limits: ParseLimits = ParseLimits()) -> None:
        super().__init__(parent)
        self.panel, self.store, self.tasks, self.limits = panel, store, tasks, limits
        self.chat_id: int | None = None
        self.documents: list[tuple[int, ParsedDocument]] = []
        self.model_dir: str | None = None
        self.context_tokens: int | None = None
        self.reserve_tokens = DEFAULT_RESERVE_TOKENS
        self.strategy = "auto"
        self.built: Built | None = None
        self._counter: TokenCounter | None = None
        self._generation = 0
        self._parsing: dict[Task, str] = {}
        self._links: dict[str, Location] = {}
        self._cache: dict[tuple, Built] = {}
        panel.remove_requested.connect(self.remove)
        panel.strategy_changed.connect(self.set_strategy)
        panel.cancel_requested.connect(self.cancel)

    # --- what the window tells us ------------------------------------------------------------------
    def set_chat(self, chat_id: int | None) -> None:
        self.chat_id = chat_id
        self.documents = []
        self.strategy = self._stored_strategy(chat_id)
        if chat_id is not None:
            for row in self.store.chat_documents(chat_id):
                try:
                    self.documents.append((row.id, ParsedDocument.from_dict(row.parsed)))
                except ValueError as exc:
                    self.notice.emit(f"The stored document {row.name} cannot be shown ({exc}).", "warning")
        self._rebuild()

    def set_model(self, model_dir: str | None, context_tokens: int | None) -> None:
        """The engine's model (its folder holds the tokenizer; None for a remote server: estimates)."""
        if model_dir == self.model_dir and context_tokens == self.context_tokens:
            return
        if model_dir != self.model_dir:
            self._counter = None
        self.model_dir, self.context_tokens = model_dir, context_tokens
        if model_dir and not self.documents:  # load the tokenizer now, not when the first document is added
            self.tasks.run(TokenizerCounter.from_model_dir, model_dir, name="load tokenizer",
                           on_result=lambda counter, d=model_dir: self._counter_loaded(d, counter),
                           on_error=lambda exc: log.warning("the model's tokenizer could not be loaded: %s", exc))
        self._rebuild()

    def _counter_loaded(self, model_dir: str, counter: TokenCounter) -> None:
        """The tokenizer loaded ahead (its JSON is parsed holding the GIL: a fraction of a second that is
        better spent when the model is set than when a document is dropped)."""
        if model_dir == self.model_dir and self._counter is None:
            self._counter = counter

    def _stored_strategy(self, chat_id: int | None) -> str:
        if chat_id is None:
            return "auto"
        try:
            value = self.store.get_chat(chat_id).settings.get(STRATEGY_SETTING, "auto")
        except RowNotFound:
            return "auto"
        return value if value in ("auto", *STRATEGIES) else "auto"

    def set_strategy(self, strategy: str) -> None:
        """The chat's strategy from now on (kept with the chat, so a reopened chat asks the same way)."""
        self.strategy = strategy
        if self.chat_id is not None:
            try:
                settings = dict(self.store.get_chat(self.chat_id).settings)
                if settings.get(STRATEGY_SETTING, "auto") != strategy:
                    self.store.update_chat_settings(self.chat_id, {**settings, STRATEGY_SETTING: strategy})
            except RowNotFound:
                pass
        if self.built is not None:
            context = self.built.context.with_options(strategy=strategy)
            self.built = Built(context, self.built.section_tokens, self.built.citations, self.built.room_tokens)
            self._show_strategy()

    # --- adding and removing -------------------------------------------------------------------------
    def add_files(self, paths: Sequence[str]) -> None:
        if self.chat_id is None:
            self.notice.emit("Open or start a chat before adding a document.", "info")
            return
        for path in paths:
            chat_id, name = self.chat_id, Path(path).name
            task = self.tasks.iterate(lambda p=path, c=chat_id: parse_and_store(p, self.store, c, self.limits),
                                      name=f"parse {name}", on_item=lambda item, c=chat_id: self._parsed(c, item),
                                      on_error=lambda exc, n=name: self._parse_failed(n, exc),
                                      on_finished=lambda: self._parse_done())
            self._parsing[task] = name
            self.panel.show_status(f"Reading {name}…")

    def remove(self, index: int) -> None:
        if self.chat_id is None or not 0 <= index < len(self.documents):
            return
        document_id, _ = self.documents.pop(index)
        self.store.unlink_document(self.chat_id, document_id)
        self._rebuild()

    def cancel(self) -> None:
        """The panel's Cancel: stop the files being parsed, else the sequential reading."""
        if self._parsing:
            for task in list(self._parsing):
                task.cancel()
        else:
            self.reading_cancel_requested.emit()

    def _parsed(self, chat_id: int, item: Any) -> None:
        if isinstance(item, ParseProgress):
            self.panel.show_status(item.describe(), item.done, item.total)
            return
        document_id, document = item
        if chat_id != self.chat_id:
            return
        if any(d.sha256 == document.sha256 for _, d in self.documents):
            self.notice.emit(f"{document.name} is already in this chat.", "info")
            return
        self.documents.append((document_id, document))
        for warning in document.warnings:
            self.notice.emit(warning, "warning")
        self._rebuild()

    def _parse_failed(self, name: str, exc: BaseException) -> None:
        if isinstance(exc, DocumentError):
            self.notice.emit(str(exc), "info" if exc.code == "cancelled" else "error")
        else:
            log.exception("adding %s failed", name, exc_info=exc)
            self.notice.emit(f"{name} could not be added ({type(exc).__name__}: {exc}).", "error")

    def _parse_done(self) -> None:
        self._parsing = {t: n for t, n in self._parsing.items() if not t.done}
        if not self._parsing:
            self.panel.hide_status()

    @property
    def parsing(self) -> bool:
        return bool(self._parsing)

    # --- the context -------------------------------------------------------------------------------
    def budget(self) -> ContextBudget:
        return ContextBudget.for_context(self.context_tokens or ASSUMED_CONTEXT_TOKENS, self.reserve_tokens)

    def context(self) -> DocumentContext | None:
        """What the next question is sent with (None: no documents, or still being prepared)."""
        return self.built.context if self.built is not None and self.documents else None

    def _rebuild(self) -> None:
        self._generation += 1
        generation = self._generation
        self.built = None
        self._links.clear()
        documents = [d for _, d in self.documents]
        self.panel.set_documents(documents)
        if not documents:
            self.panel.set_budget(0, 0, 0, 0)
            self.panel.set_strategy("whole", "", self.strategy)
            self.changed.emit()
            return
        strategy = None if self.strategy == "auto" else self.strategy
        key = (tuple(d.sha256 for d in documents), self.model_dir, self.budget())
        cached = self._cache.get(key)
        if cached is not None and self._counter is not None:
            context = cached.context.with_options(strategy=self.strategy)
            self._built(generation, (Built(context, cached.section_tokens, cached.citations, cached.room_tokens),
                                     self._counter), key)
            return
        self.panel.reason_label.setText("Counting tokens…")
        self.tasks.run(build, documents, self._counter, self.model_dir, self.budget(), strategy, name="documents",
                       on_result=lambda result: self._built(generation, result, key),
                       on_error=lambda exc: self._build_failed(generation, exc))

    def _built(self, generation: int, result: tuple[Built, TokenCounter], key: tuple) -> None:
        if generation != self._generation:
            return
        self.built, self._counter = result
        self._cache.pop(key, None)
        self._cache[key] = self.built
        while len(self._cache) > CACHED_SETS:
            self._cache.pop(next(iter(self._cache)))
        context = self.built.context
        self.panel.set_documents([d for _, d in self.documents], self.built.section_tokens)
        budget = context.budget
        self.panel.set_budget(context.document_tokens, self.built.room_tokens, budget.context_tokens,
                              budget.reserve_tokens, context.counter.exact)
        self._show_strategy()
        self.changed.emit()

    def _build_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            log.warning("preparing the documents failed: %s", exc)
            self.notice.emit(f"The documents could not be prepared for questions: {exc}", "error")

    def _show_strategy(self) -> None:
        if self.built is None:
            return
        context = self.built.context
        choice = choose_strategy(context.document_tokens, self.built.room_tokens, "", context.strategy)
        reason = choice.reason
        if self.context_tokens is None:
            reason += f" (The model's context is not known yet; {ASSUMED_CONTEXT_TOKENS:,} tokens assumed.)"
        self.panel.set_strategy(choice.strategy, reason, self.strategy)

    def show_prompt(self, prompt: QuestionPrompt) -> None:
        """How the last question met the documents (the chat session reports it)."""
        extra = (f" This question read {len(prompt.included)} passages (listed under the answer)."
                 if prompt.included else "")
        self.panel.set_strategy(prompt.strategy, prompt.reason + extra, self.strategy)

    def show_reading(self, progress: ReadProgress | None) -> None:
        if progress is None:
            if not self._parsing:
                self.panel.hide_status()
            return
        self.panel.show_status(progress.describe(), progress.part - (progress.stage == "part"), progress.parts)

    # --- citations ---------------------------------------------------------------------------------
    def cite(self, answer: str, steps: Sequence[str]) -> tuple[list[tuple[str, str]], dict[int, list[tuple[str, str]]]]:
        """Links ``(label, key)`` for the answer's cited sentences and for each step (1-based) that cites."""
        if self.built is None:
            return [], {}
        index = self.built.citations
        answer_links = [self._link(c.char_start, c.char_end) for c in index.find(answer)]
        step_links = {}
        for number, text in enumerate(steps, 1):
            links = [self._link(c.char_start, c.char_end) for c in index.find(text)]
            if links:
                step_links[number] = links
        return answer_links, step_links

    def passage_links(self, passages: Sequence[Sequence[int]]) -> list[tuple[str, str, str]]:
        """``(label, key, first words)`` for each ``[char start, char end]`` of the documents a retrieval read."""
        if self.built is None:
            return []
        text = self.built.context.documents.combined.text
        links = []
        for start, end in passages:
            if not 0 <= start < end <= len(text):
                continue
            label, key = self._link(start, end)
            words = text[start:end].split()
            first = " ".join(words[:FIRST_WORDS]) + ("…" if len(words) > FIRST_WORDS else "")
            links.append((label, key, first))
        return links

    def location(self, key: str) -> Location | None:
        return self._links.get(key)

    def show_citation(self, key: str) -> bool:
        where = self._links.get(key)
        if where is None:
            return False
        self.panel.show_passage(where.document_index, where.char_start, where.char_end)
        return True

    def _link(self, char_start: int, char_end: int) -> tuple[str, str]:
        assert self.built is not None
        where = self.built.context.documents.locate(char_start, char_end)
        document = self.documents[where.document_index][1]
        label = document.sections[where.section_index].label()
        if len(self.documents) > 1:
            label = f"{document.name}, {label}"
        key = f"cite-{len(self._links) + 1}"
        self._links[key] = where
        return label, key
