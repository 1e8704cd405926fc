"""One chat's requests: history -> messages, the stream on a worker, every delta to the store, then to the view.

Shape:

    GUI thread                         worker (app.tasks)                      engine
    ask(text) ─ store: user message,
               assistant "streaming" ─► stream_answer(): client.chat_stream ◄── SSE deltas
                                        store.append_to_message (committed)
    delta_received ◄──────────────────── StreamUpdate per delta
    answer_finished ◄─────────────────── store.finish_message(status, stats)

The worker owns the store writes of a stream (each thread has its own SQLite connection), so a crash of
the engine or of the app loses at most the delta in flight. Statuses: "complete"; "stopped" (Stop, or
the server aborted the request); "interrupted" (the engine died or restarted under the stream: the
partial answer is kept); "error" (the server refused or failed the request: the message says why).

Stop closes the stream between two deltas and asks the engine to cancel the request, so the engine
frees its slot within one decoding step even when no more tokens arrive.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterator, Sequence

import httpx
from PySide6.QtCore import QObject, Signal

from app.tasks import Task, TaskRunner
from core.client import ChatDelta, EngineClient, EngineError, LoadingError, NotFoundError, NotSupportedError
from core.documents import DocumentContext, DocumentPlan, Prepared, ReadProgress
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


@dataclass(frozen=True, slots=True)
class StreamUpdate:
    """One streamed delta, as the GUI receives it. ``t_s`` is ``time.monotonic()`` when it arrived."""

    request_id: str
    reasoning: str
    answer: str
    n_tokens: int
    t_s: float
    finish_reason: str | None = None


@dataclass(slots=True)
class StreamState:
    """Shared by the worker (writes) and the GUI (reads after ``finished``; ``stop_requested`` the other way)."""

    message_id: int
    sent_s: float
    model: str | None = None
    request_id: str = ""
    status: str = "streaming"
    finish_reason: str | None = None
    stop_requested: bool = False
    error: BaseException | None = None
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AnswerMeter:
    """Per-answer numbers: TTFT, tokens/s, token count; the server's own figures win when it sends them."""

    sent_s: float
    first_s: float | None = None
    last_s: float | None = None
    tokens: int = 0
    usage: Any = None
    server: Any = None  # PonderStats

    def add(self, delta: ChatDelta, now: float) -> int:
        """Count a delta; returns its tokens (one per text chunk: servers stream a token per chunk)."""
        if delta.usage is not None:
            self.usage = delta.usage
        if delta.stats is not None:
            self.server = delta.stats
        if not (delta.reasoning or delta.answer):
            return 0
        self.first_s = self.first_s if self.first_s is not None else now
        self.last_s = now
        self.tokens += 1
        return 1

    @property
    def ttft_s(self) -> float | None:
        if self.server is not None and self.server.ttft_s is not None:
            return float(self.server.ttft_s)
        return None if self.first_s is None else self.first_s - self.sent_s

    @property
    def tokens_per_s(self) -> float | None:
        if self.server is not None and self.server.decode_tokens_per_s:
            return float(self.server.decode_tokens_per_s)
        if self.first_s is None or self.last_s is None or self.tokens < 2 or self.last_s <= self.first_s:
            return None
        return (self.tokens - 1) / (self.last_s - self.first_s)

    def stats(self, finish_reason: str | None, model: str | None, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"ttft_s": self.ttft_s, "tokens_per_s": self.tokens_per_s, "tokens": self.tokens,
                               "elapsed_s": round(now - self.sent_s, 3), "finish_reason": finish_reason}
        if model:
            out["model"] = model
        usage = self.usage
        if usage is not None:
            cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else None
            reasoning = usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else None
            out.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                       cached_tokens=cached or 0)
            if reasoning is not None:
                out["reasoning_tokens"] = reasoning
                out["answer_tokens"] = max(0, usage.completion_tokens - reasoning)
        if self.server is not None and self.server.prefill_tokens_per_s:
            out["prefill_tokens_per_s"] = self.server.prefill_tokens_per_s
        return out


def is_interruption(exc: BaseException) -> bool:
    """The engine went away under the stream (died, restarted, switched models), not a refused request."""
    if isinstance(exc, LoadingError):  # "shutting down" / "switching to another model" / "loading"
        return True
    if isinstance(exc, EngineError) and isinstance(exc.__cause__, httpx.TransportError):
        return True
    return isinstance(exc, httpx.TransportError)


def stream_answer(client: EngineClient, store: Store, state: StreamState, messages: list[dict[str, Any]],
                  params: dict[str, Any], documents: DocumentContext | None = None) -> Iterator[Any]:
    """The worker side of one answer: stream, commit each delta, finish the stored message whatever happens.

    With ``documents``, the chat's documents are put into the messages first (``DocumentContext.prepare``):
    its ``DocumentPlan`` and, for sequential reading, each ``ReadProgress`` are yielded before the deltas.
    """
    meter = AnswerMeter(state.sent_s)
    deltas: Iterator[ChatDelta] | None = None
    plan: DocumentPlan | None = None
    try:
        if documents is not None:
            prepared = yield from _with_documents(client, documents, messages, params)
            messages, plan = prepared.messages, prepared.plan
            if state.stop_requested:
                state.status = "stopped"
                return
        deltas = client.chat_stream(messages, **params)
        for delta in deltas:
            if state.stop_requested:
                break
            now = time.monotonic()
            state.request_id = delta.request_id or state.request_id
            n_tokens = meter.add(delta, now)
            if delta.reasoning or delta.answer:
                store.append_to_message(state.message_id, delta.reasoning, delta.answer)
            if delta.finish_reason:
                state.finish_reason = delta.finish_reason
            yield StreamUpdate(state.request_id, delta.reasoning, delta.answer, n_tokens, now, delta.finish_reason)
        stopped = state.stop_requested or state.finish_reason == "abort"
        state.status = "stopped" if stopped else "complete"
    except GeneratorExit:  # the task was cancelled (Stop): the connection closes, the server aborts
        state.status = "stopped"
        raise
    except Exception as exc:
        state.error = exc
        state.status = "stopped" if state.stop_requested else "interrupted" if is_interruption(exc) else "error"
        raise
    finally:
        if deltas is not None:
            deltas.close()  # closes the HTTP response now: the server sees the disconnect and aborts
        state.stats = meter.stats(state.finish_reason, state.model, time.monotonic())
        if plan is not None:
            state.stats.update(document_strategy=plan.strategy, document_tokens=plan.document_tokens)
        if state.status == "error" and state.error is not None:
            state.stats["error"] = str(state.error)
        try:
            store.finish_message(state.message_id, state.status, state.stats)
        except Exception:  # noqa: BLE001 - the stream's own outcome matters more; the next start recovers it
            log.exception("could not record the end of message %s", state.message_id)


def _with_documents(client: EngineClient, documents: DocumentContext, messages: list[dict[str, Any]],
                    params: dict[str, Any]) -> Generator[Any, None, Prepared]:
    """Documents into the messages; sequential reading asks the engine once per part (not streamed)."""
    def ask(part: list[dict[str, str]]) -> str:
        return client.chat(part, **{k: v for k, v in params.items() if k != "include_usage"}).answer

    return (yield from documents.prepare(messages, ask))


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
    answer_started = Signal(int, float)  # message id, start (time.monotonic())
    delta_received = Signal(str, str, int, float)  # reasoning, answer, n_tokens, t (time.monotonic())
    progress = Signal(object, object, int)  # ttft_s, tokens_per_s, tokens: this answer so far
    answer_finished = Signal(int, str, object, dict)  # message id, status, finish reason, stats
    busy_changed = Signal(bool)
    document_plan = Signal(object)  # DocumentPlan: how this question met the chat's documents
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
        self._meter: AnswerMeter | None = None
        self._first_s: float | None = None
        self._tokens = 0
        self.documents: Callable[[], DocumentContext | None] = lambda: None  # the chat's documents, if any

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def state(self) -> StreamState | None:
        """The current (or last) answer's shared state."""
        return self._state

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

    # --- streaming -----------------------------------------------------------------------------------
    def _start(self) -> None:
        messages = build_messages(self.history())
        sent = time.monotonic()
        message = self.store.add_message(self.chat_id, "assistant", status="streaming", model=self.model)
        state = StreamState(message.id, sent, self.model)
        client, store, params, documents = self.client, self.store, dict(self.params), self.documents()
        self._state, self._first_s, self._tokens = state, None, 0
        work = lambda: stream_answer(client, store, state, messages, params, documents)  # noqa: E731
        self._task = self.tasks.iterate(work, name=f"chat {self.chat_id}", on_item=self._on_update,
                                        on_error=self._on_error, on_finished=lambda: self._on_finished(state))
        self.busy_changed.emit(True)
        self.answer_started.emit(message.id, sent)

    def _on_update(self, update: StreamUpdate | DocumentPlan | ReadProgress) -> None:
        if isinstance(update, DocumentPlan):
            self.document_plan.emit(update)
            return
        if isinstance(update, ReadProgress):
            self.reading_progress.emit(update)
            return
        if update.reasoning or update.answer:
            self.delta_received.emit(update.reasoning, update.answer, update.n_tokens, update.t_s)
            self._tokens += update.n_tokens
            if self._first_s is None:
                self._first_s = update.t_s
            state = self._state
            ttft = self._first_s - state.sent_s if state is not None else None
            elapsed = update.t_s - self._first_s
            speed = (self._tokens - 1) / elapsed if self._tokens > 1 and elapsed > 0 else None
            self.progress.emit(ttft, speed, self._tokens)

    def _on_error(self, exc: BaseException) -> None:
        state = self._state
        if state is not None and state.status in ("interrupted", "stopped"):
            log.info("answer %s %s: %s", state.message_id, state.status, exc)
            return
        self.failed.emit(exc)

    def _on_finished(self, state: StreamState) -> None:
        if self._state is state:
            self._task = None
        status = state.status if state.status != "streaming" else "stopped"
        stats = dict(state.stats)
        self.progress.emit(stats.get("ttft_s"), stats.get("tokens_per_s"), self._tokens)
        self.busy_changed.emit(False)
        self.answer_finished.emit(state.message_id, status, state.finish_reason, stats)

    def save_view_stats(self, message_id: int, extra: dict[str, Any]) -> None:
        """Merge what the view measured (step tokens and times, thought time) into the stored stats."""
        def merge() -> None:
            stored = self.store.get_message(message_id)
            self.store.update_message(message_id, stats={**extra, **stored.stats})

        self.tasks.run(merge, name="save view stats")
