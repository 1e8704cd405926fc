"""The window's chats: which chat is open, its ``ChatSession``, and what the view, the stats bar and the
documents show of its answers.

    chat list ──► open_chat / new_chat / rename / delete          ChatSession (one per open chat)
    prompt box ─► ask / stop / regenerate ──────────────────────►   answer_started / trace_updated /
    ReasoningView, StatsBar ◄── trace snapshots ◄───────────────     answer_finished (ReasoningTrace)

Switching chats while one answers stops that answer (kept as "stopped"); its session finishes on its own
and is forgotten then. Citations of an answer (and the passages a retrieval read) are looked up once it has
finished, and again whenever the chat's documents are ready or change: a reopened chat shows them as before.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.chat_session import ChatSession
from app.document_controller import DocumentController
from app.tasks import TaskRunner
from app.widgets.chat_list import ChatListPanel
from app.widgets.reasoning_view import ReasoningView
from app.widgets.stats_bar import StatsBar
from app.widgets.trace_text import trace_json, trace_markdown
from core.client import EngineClient
from core.reasoning import ReasoningTrace
from core.store import Message, RowNotFound, Store

log = logging.getLogger(__name__)


def history_items(messages: list[Message]) -> list[tuple[int, str | ReasoningTrace]]:
    """A stored chat as the view shows it: questions as text, answers as finished traces."""
    items: list[tuple[int, str | ReasoningTrace]] = []
    for m in messages:
        if m.role == "user":
            items.append((m.id, m.content))
        elif m.role == "assistant":
            items.append((m.id, ReasoningTrace.from_stored(m.reasoning, m.content, m.status, m.stats)))
    return items


class ChatController(QObject):
    busy_changed = Signal()  # the open chat started or ended an answer (the prompt box follows)
    answer_finished = Signal(object)  # the final ReasoningTrace of an answer of the open chat
    failed = Signal(object)  # an answer failed with this error (interruptions are not: the engine notice says it)

    def __init__(self, store: Store, tasks: TaskRunner, settings: QSettings, view: ReasoningView,
                 stats_bar: StatsBar, chat_list: ChatListPanel, documents: DocumentController,
                 report: Callable[[BaseException | str, str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store, self.tasks, self.settings = store, tasks, settings
        self.view, self.stats_bar, self.chat_list, self.documents, self.report = view, stats_bar, chat_list, documents, report
        self.session: ChatSession | None = None
        self.confirm_deletes = True
        self._retired: set[ChatSession] = set()  # sessions still finishing after a chat switch
        self._client: tuple[EngineClient | None, str | None, dict[str, Any]] = (None, None, {})

    # --- the engine to ask ---------------------------------------------------------------------------
    def set_client(self, client: EngineClient | None, model: str | None = None,
                   params: dict[str, Any] | None = None) -> None:
        """Every session (the open one and those still finishing) asks this engine from now on."""
        self._client = (client, model, dict(params or {}))
        for session in self._sessions():
            session.set_client(*self._client)

    def set_params(self, params: dict[str, Any]) -> None:
        """Generation settings for the next question (an answer already streaming keeps its own)."""
        self._client = (self._client[0], self._client[1], dict(params))
        if self.session is not None:
            self.session.params = dict(params)

    # --- chats -----------------------------------------------------------------------------------------
    def open_chat(self, chat_id: int | None) -> None:
        old = self.session
        if old is not None and old.chat_id == chat_id:
            return
        if old is not None and old.busy:
            old.stop()  # its answer is kept as "stopped"; it finishes on its own
            self._retired.add(old)
            old.busy_changed.connect(lambda busy, s=old: None if busy else self._retired.discard(s))
        self.session = None
        self.view.clear()
        self.stats_bar.show_trace(None)
        if chat_id is None:
            self.documents.set_chat(None)
            self.chat_list.select(None)
            self.busy_changed.emit()
            return
        session = ChatSession(self.store, self.tasks, chat_id, self)
        session.set_client(*self._client)
        self._bind(session)
        self.session = session
        self.settings.setValue("chat/last", chat_id)
        self.chat_list.select(chat_id)
        self.view.show_history(history_items(session.history()))
        self.documents.set_chat(chat_id)  # after the history: documents ready now (cached) cite it at once
        self.busy_changed.emit()

    def new_chat(self) -> None:
        chat = self.store.create_chat()
        self.chat_list.refresh()
        self.open_chat(chat.id)

    def rename_chat(self, chat_id: int, title: str) -> None:
        try:
            self.store.rename_chat(chat_id, title)
        except (RowNotFound, ValueError) as exc:
            self.report(exc, "Could not rename the chat")
        self.chat_list.refresh()

    def delete_chat(self, chat_id: int | None) -> None:
        if chat_id is None:
            return
        if self.confirm_deletes:
            answer = QMessageBox.question(self.view.window(), "Delete chat", "Delete this chat and all its messages?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        if self.session is not None and self.session.chat_id == chat_id:
            self.open_chat(None)
        self.store.delete_chat(chat_id)
        self.chat_list.refresh()
        remaining = self.store.list_chats()
        if self.session is None and remaining:
            self.open_chat(remaining[0].id)

    def open_last(self) -> None:
        """The chat open when the app last closed, else the newest one (None if there are no chats)."""
        last = self.settings.value("chat/last", None)
        ids = [c.id for c in self.store.list_chats()]
        self.open_chat(int(last) if last is not None and int(last) in ids else (ids[0] if ids else None))

    # --- answers ---------------------------------------------------------------------------------------
    def ask(self, text: str) -> bool:
        if self.session is None:
            self.new_chat()
        return self.session.ask(text) if self.session is not None else False

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()

    def regenerate(self) -> None:
        if self.session is not None:
            self.session.regenerate()

    def stop_all(self) -> None:
        for session in self._sessions():
            session.stop()

    @property
    def busy(self) -> bool:
        return self.session is not None and self.session.busy

    def _sessions(self) -> list[ChatSession]:
        return [s for s in (self.session, *self._retired) if s is not None]

    def _bind(self, s: ChatSession) -> None:
        def current(fn: Callable[..., None]) -> Callable[..., None]:
            return lambda *args: fn(*args) if s is self.session else None

        s.user_message_added.connect(current(self._user_message))
        s.history_reset.connect(current(lambda: self.view.show_history(history_items(s.history()))))
        s.answer_started.connect(current(self._show_trace))
        s.trace_updated.connect(current(self._show_trace))
        s.answer_finished.connect(current(self._answer_finished))
        s.busy_changed.connect(lambda _busy: self.busy_changed.emit())
        s.stop_asked.connect(current(self._stop_asked))
        s.failed.connect(self.failed)
        s.documents = self.documents.context
        s.document_prompt.connect(current(self.documents.show_prompt))
        s.reading_progress.connect(current(self.documents.show_reading))
        s.busy_changed.connect(current(lambda busy: None if busy else self.documents.show_reading(None)))

    def _stop_asked(self, message_id: int) -> None:
        self.view.set_stopping(message_id)
        self.busy_changed.emit()

    @property
    def stopping(self) -> bool:
        return self.session is not None and self.session.stopping

    def _user_message(self, text: str) -> None:
        self.view.add_user_message(text)
        self.chat_list.refresh()

    def _show_trace(self, message_id: int, trace: ReasoningTrace) -> None:
        self.view.show_trace(message_id, trace)
        self.stats_bar.show_trace(trace)

    def _answer_finished(self, message_id: int, trace: ReasoningTrace) -> None:
        self._show_trace(message_id, trace)
        self.cite(message_id)
        self.chat_list.refresh()
        self.answer_finished.emit(trace)

    # --- citations and export --------------------------------------------------------------------------
    def cite(self, message_id: int | str) -> None:
        """Link the answer's sentences and the steps that quote the chat's documents to their passages."""
        try:
            trace = self.view.trace(message_id)
        except KeyError:
            return
        answer_links, step_links = self.documents.cite(trace.answer, [step.text for step in trace.steps])
        self.view.set_citations(message_id, answer_links, step_links)
        self.view.set_passages(message_id, self.documents.passage_links(trace.document_passages or []))

    def cite_all(self) -> None:
        for message_id in self.view.message_ids():
            self.cite(message_id)

    def export_trace(self, message_id: int | str) -> None:
        path, _ = QFileDialog.getSaveFileName(self.view.window(), "Export the reasoning trace",
                                              f"trace-{message_id}.md", "Markdown (*.md);;JSON (*.json)")
        if not path:
            return
        trace = self.view.trace(message_id)
        text = (json.dumps(trace_json(trace, message_id), indent=2, ensure_ascii=False) if path.endswith(".json")
                else trace_markdown(trace))
        self.tasks.run(Path(path).write_text, text, encoding="utf-8", name="export trace",
                       on_error=lambda exc: self.report(exc, "Could not export the trace"))
