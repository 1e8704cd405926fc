"""One chat's requests: history -> messages, the stream on a worker, every delta to the store, then to the view.

Shape:

    GUI thread                         worker (app.tasks)                      engine
    ask(text) ─ store: user message,
               assistant "streaming" ─► stream_answer(): client.chat_stream ◄── SSE deltas
                                        ReasoningTrace.add (steps, counts, times)
                                        store.append_to_message (committed)
    trace_updated ◄───────────────────── a trace snapshot per delta
    answer_finished ◄─────────────────── store.finish_message(status, trace.stored_stats())

The worker owns the store writes of a stream (each thread has its own SQLite connection), so a crash of
the engine or of the app loses at most the delta in flight. Statuses: "complete"; "stopped" (Stop, or
the server aborted the request); "interrupted" (the engine died or restarted under the stream: the
partial answer is kept); "error" (the server refused or failed the request: the message says why).

Stop closes the stream between two deltas and asks the engine to cancel the request, so the engine
frees its slot within one step even when no more tokens arrive; while a long prompt is read the engine sends
its progress after every prefill pass, so the worker sees the Stop within a pass there too. Until the
worker has ended the stream the answer shows "Stopping…" (``stopping``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterator, Sequence

import httpx
from PySide6.QtCore import QObject, Signal

from app.tasks import Task, TaskRunner
from core.client import ChatDelta, EngineClient, EngineError, LoadingError, NotFoundError, NotSupportedError
from core.documents import DocumentContext, QuestionPrompt, Prepared, ReadProgress
from core.reasoning import ReasoningTrace
from core.store import Message, Store

log = logging.getLogger(__name__)


# --- pure parts (no Qt) ------------------------------------------------------------------------------
def build_messages(history: Sequence[Message]) -> list[dict[str, Any]]:
    """The request's messages: user turns, and assistant answers with their reasoning as ``reasoning_content``.

    An assistant turn with no answer text (stopped or interrupted while still reasoning, or failed) is left
    out: there is nothing the model said to the user.
    """
    out: list[dict[str, Any]] = []
    for m in history:
        if m.role in ("user", "system"):
            out.append({"role": m.role, "content": m.content})
        elif m.role == "assistant" and m.content.strip():
            turn: dict[str, Any] = {"role": "assistant", "content": m.content}
            if m.reasoning:
                turn["reasoning_content"] = m.reasoning
            out.append(turn)
    return out


@dataclass(slots=True)
class StreamState:
    """Shared by the worker (writes) and the GUI (reads after ``finished``; ``stop_requested`` the other way).

    ``trace`` is the live answer: only the worker touches it; the GUI gets ``trace.snapshot()`` copies.
    """

    message_id: int
    trace: ReasoningTrace
    request_id: str = ""
    stop_requested: bool = False
    error: BaseException | None = None


def is_interruption(exc: BaseException) -> bool:
    """The engine went away under the stream (died, restarted, switched models), not a refused request."""
    if isinstance(exc, LoadingError):  # "shutting down" / "switching to another model" / "loading"
        return True
    if isinstance(exc, EngineError) and isinstance(exc.__cause__, httpx.TransportError):
        return True
    return isinstance(exc, httpx.TransportError)


class StopRequested(Exception):
    """Stop was asked while a document was being read part by part (raised inside the reading, caught here)."""


def stream_answer(client: EngineClient, store: Store, state: StreamState, messages: list[dict[str, Any]],
                  params: dict[str, Any], documents: DocumentContext | None = None) -> Iterator[Any]:
    """The worker side of one answer: stream into the trace, commit each delta, finish the stored message
    whatever happens. Yields a trace snapshot per delta (the prompt's reading progress included).

    With ``documents``, the chat's documents are put into the messages first (``DocumentContext.prepare``):
    its ``QuestionPrompt`` and, for sequential reading, each ``ReadProgress`` are yielded before the deltas.
    A Stop seen between two deltas (or two parts of a sequential reading) ends the stream and cancels its
    request in the engine.
    """
    trace = state.trace
    deltas: Iterator[ChatDelta] | None = None
    status, finish_reason = "stopped", None  # what Stop leaves (closing this generator), unless it ends otherwise
    try:
        if documents is not None:
            prepared = yield from _with_documents(client, state, documents, messages, params)
            messages = prepared.messages
            trace.document_strategy, trace.document_tokens = prepared.prompt.strategy, prepared.prompt.document_tokens
            if prepared.prompt.included:
                trace.document_passages = [[c.char_start, c.char_end] for c in prepared.prompt.included]
            if state.stop_requested:
                return
        deltas = client.chat_stream(messages, **params)
        for delta in deltas:
            state.request_id = delta.request_id or state.request_id
            if state.stop_requested:
                break
            if delta.prompt is not None:
                trace.record_prompt(delta.prompt)
                yield trace.snapshot()
                continue
            trace.add(delta.reasoning, delta.answer, time.monotonic())
            trace.record_server(delta.usage, delta.stats)
            if delta.reasoning or delta.answer:
                store.append_to_message(state.message_id, delta.reasoning, delta.answer)
            finish_reason = delta.finish_reason or finish_reason
            if delta.reasoning or delta.answer or delta.usage or delta.stats:
                yield trace.snapshot()
        status = "stopped" if state.stop_requested or finish_reason == "abort" else "complete"
    except StopRequested:
        status = "stopped"
    except Exception as exc:
        state.error = exc
        status = "stopped" if state.stop_requested else "interrupted" if is_interruption(exc) else "error"
        raise
    finally:
        if deltas is not None:
            deltas.close()  # closes the HTTP response now: the server sees the disconnect and aborts
        if state.stop_requested and state.request_id:
            cancel_request(client, state.request_id)  # frees its slot now, even before the disconnect is seen
        trace.finish(status, finish_reason, time.monotonic(),
                     str(state.error) if status == "error" and state.error is not None else None)
        try:
            store.finish_message(state.message_id, status, trace.stored_stats())
        except Exception:  # noqa: BLE001 - the stream's own outcome matters more; the next start recovers it
            log.exception("could not record the end of message %s", state.message_id)


def _with_documents(client: EngineClient, state: StreamState, documents: DocumentContext,
                    messages: list[dict[str, Any]], params: dict[str, Any]) -> Generator[Any, None, Prepared]:
    """Documents into the messages. A sequential reading asks the engine once per part, each part streamed (so a
    Stop cancels it between two deltas, and the trace shows the part, the time left, the notes and the
    part's prompt progress)."""
    trace = state.trace
    part_params = {k: v for k, v in params.items() if k != "include_usage"}

    def ask(part: list[dict[str, str]]) -> Generator[Any, None, str]:
        if state.stop_requested:
            raise StopRequested
        answer: list[str] = []
        deltas = client.chat_stream(part, include_usage=False, **part_params)
        try:
            for delta in deltas:
                state.request_id = delta.request_id or state.request_id
                if state.stop_requested or delta.finish_reason == "abort":
                    raise StopRequested
                if delta.prompt is not None:
                    trace.record_prompt(delta.prompt)
                    yield trace.snapshot()
                answer.append(delta.answer)
        finally:
            deltas.close()
        return "".join(answer)

    steps = documents.prepare(messages, ask)
    while True:
        try:
            item = next(steps)
        except StopIteration as done:
            return done.value
        if isinstance(item, ReadProgress):
            trace.record_reading(item.part if item.stage == "part" else item.parts + 1, item.parts, item.eta_s,
                                 item.notes)
            yield item
            yield trace.snapshot()
        else:
            yield item


def cancel_request(client: EngineClient, request_id: str) -> None:
    """Ask the engine to abort (frees its slot at once); a finished request or a plain OpenAI server is fine."""
    try:
        client.cancel(request_id)
    except (NotFoundError, NotSupportedError):
        pass


# --- the Qt side -------------------------------------------------------------------------------------
class ChatSession(QObject):
    """One chat (a row of the store). Signals are for the view, the stats bar and the prompt box."""

    user_message_added = Signal(str)
    history_reset = Signal()  # regenerate deleted messages: show the stored history again
    answer_started = Signal(int, object)  # message id, its (empty) ReasoningTrace
    trace_updated = Signal(int, object)  # message id, a ReasoningTrace snapshot: one per streamed delta
    answer_finished = Signal(int, object)  # message id, the final ReasoningTrace (status, figures)
    busy_changed = Signal(bool)
    stop_asked = Signal(int)  # message id: Stop was pressed; "Stopping…" until answer_finished
    document_prompt = Signal(object)  # QuestionPrompt: how this question met the chat's documents
    reading_progress = Signal(object)  # ReadProgress: sequential reading, part k of n
    failed = Signal(object)  # an error to show the user (interruptions are not: the engine notice says it)

    def __init__(self, store: Store, tasks: TaskRunner, chat_id: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store, self.tasks, self.chat_id = store, tasks, chat_id
        self.client: EngineClient | None = None
        self.model: str | None = None
        self.params: dict[str, Any] = {}
        self._task: Task | None = None
        self._state: StreamState | None = None
        self.documents: Callable[[], DocumentContext | None] = lambda: None  # the chat's documents, if any

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def state(self) -> StreamState | None:
        """The current (or last) answer's shared state."""
        return self._state

    @property
    def stopping(self) -> bool:
        """Stop was asked and the worker has not ended the stream yet."""
        return self.busy and self._state is not None and self._state.stop_requested

    def set_client(self, client: EngineClient | None, model: str | None = None,
                   params: dict[str, Any] | None = None) -> None:
        """The engine to ask from now on (a restart or a switch to a server hands over a new client)."""
        self.client, self.model, self.params = client, model, dict(params or {})

    def history(self) -> list[Message]:
        return self.store.messages(self.chat_id)

    # --- actions -------------------------------------------------------------------------------------
    def ask(self, text: str) -> bool:
        text = text.strip()
        if not text or self.busy or self.client is None:
            return False
        self.store.add_message(self.chat_id, "user", text)
        self.user_message_added.emit(text)
        self._start()
        return True

    def regenerate(self) -> bool:
        """Answer the last question again: its previous answer (and anything after) is deleted."""
        if self.busy or self.client is None:
            return False
        history = self.history()
        last_user = max((i for i, m in enumerate(history) if m.role == "user"), default=None)
        if last_user is None:
            return False
        if last_user + 1 < len(history):
            self.store.delete_messages_from(self.chat_id, history[last_user + 1].id)
        self.history_reset.emit()
        self._start()
        return True

    def stop(self) -> None:
        """Stop the answer: no more deltas are stored, the stream closes, the engine cancels the request."""
        state, task = self._state, self._task
        if task is None or state is None or state.stop_requested:
            return
        state.stop_requested = True
        task.cancel()
        if state.request_id and self.client is not None:
            self.tasks.run(cancel_request, self.client, state.request_id, name="cancel request")
        self.stop_asked.emit(state.message_id)

    # --- streaming -----------------------------------------------------------------------------------
    def _start(self) -> None:
        messages = build_messages(self.history())
        params = dict(self.params)
        trace = ReasoningTrace(started_at=time.monotonic(), max_tokens=params.get("max_tokens"), model=self.model)
        message = self.store.add_message(self.chat_id, "assistant", status="streaming", model=self.model)
        state = StreamState(message.id, trace)
        client, store, documents = self.client, self.store, self.documents()
        self._state = state
        work = lambda: stream_answer(client, store, state, messages, params, documents)  # noqa: E731
        self._task = self.tasks.iterate(work, name=f"chat {self.chat_id}", on_item=self._on_update,
                                        on_error=self._on_error, on_finished=lambda: self._on_finished(state))
        self.busy_changed.emit(True)
        self.answer_started.emit(message.id, trace.snapshot())

    def _on_update(self, update: ReasoningTrace | QuestionPrompt | ReadProgress) -> None:
        if isinstance(update, QuestionPrompt):
            self.document_prompt.emit(update)
        elif isinstance(update, ReadProgress):
            self.reading_progress.emit(update)
        elif self._state is not None:
            self.trace_updated.emit(self._state.message_id, update)

    def _on_error(self, exc: BaseException) -> None:
        state = self._state
        if state is not None and state.trace.status in ("interrupted", "stopped"):
            log.info("answer %s %s: %s", state.message_id, state.trace.status, exc)
            return
        self.failed.emit(exc)

    def _on_finished(self, state: StreamState) -> None:
        """The worker is done (the trace is final and stored): the GUI thread may read it now."""
        if self._state is state:
            self._task = None
        self.busy_changed.emit(False)
        self.answer_finished.emit(state.message_id, state.trace.snapshot())
