"""The chat flow's worker side without an engine: messages from history, the trace it fills, what the store keeps."""

from __future__ import annotations

import time

import httpx
import pytest

from app.chat_session import StreamState, build_messages, is_interruption, stream_answer
from core.client import ChatDelta, EngineNotRunningError, LoadingError, ServerError
from core.api.protocol import CompletionTokensDetails, PonderStats, PromptProgress, PromptTokensDetails, Usage
from core.reasoning import ReasoningTrace
from core.store import Store


class FakeClient:
    """``chat_stream`` yields the given deltas, then raises ``error`` if one is given."""

    def __init__(self, deltas: list[ChatDelta], error: BaseException | None = None) -> None:
        self.deltas, self.error, self.sent = deltas, error, None
        self.cancelled: list[str] = []

    def cancel(self, request_id: str) -> None:
        self.cancelled.append(request_id)

    def chat_stream(self, messages, **params):
        self.sent = messages
        yield from self.deltas
        if self.error is not None:
            raise self.error


USAGE = Usage(prompt_tokens=12, completion_tokens=4, total_tokens=16,
              prompt_tokens_details=PromptTokensDetails(cached_tokens=8),
              completion_tokens_details=CompletionTokensDetails(reasoning_tokens=3))
DELTAS = [ChatDelta("r1"), ChatDelta("r1", reasoning="Step one. "), ChatDelta("r1", reasoning="Step two."),
          ChatDelta("r1", reasoning=" Done."), ChatDelta("r1", answer="42"),
          ChatDelta("r1", finish_reason="stop", stats=PonderStats(ttft_s=0.05, decode_tokens_per_s=20.0)),
          ChatDelta("r1", usage=USAGE)]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "ponder.db") as s:
        yield s


def new_answer(store: Store) -> StreamState:
    chat = store.create_chat()
    store.add_message(chat.id, "user", "What is it?")
    message = store.add_message(chat.id, "assistant", status="streaming")
    return StreamState(message.id, ReasoningTrace(started_at=time.monotonic(), model="m"))


def test_history_becomes_messages_with_reasoning_content(store):
    chat = store.create_chat()
    store.add_message(chat.id, "user", "Q1")
    store.add_message(chat.id, "assistant", "A1", reasoning="R1")
    store.add_message(chat.id, "user", "Q2")
    store.add_message(chat.id, "assistant", "", reasoning="half a thought", status="interrupted")
    store.add_message(chat.id, "user", "Q3")
    assert build_messages(store.messages(chat.id)) == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1", "reasoning_content": "R1"},
        {"role": "user", "content": "Q2"},
        {"role": "user", "content": "Q3"}]


def test_a_complete_stream_is_committed_with_its_stats(store):
    state = new_answer(store)
    updates = list(stream_answer(FakeClient(DELTAS), store, state, [{"role": "user", "content": "?"}], {}))
    assert [u.reasoning + u.answer for u in updates] == ["Step one. ", "Step one. Step two.",
                                                          "Step one. Step two. Done.", "Step one. Step two. Done.42",
                                                          "Step one. Step two. Done.42", "Step one. Step two. Done.42"]
    assert all(u.streaming for u in updates)  # snapshots: the worker's own trace goes on changing
    trace = state.trace
    assert trace.status == "complete" and state.request_id == "r1" and trace.finish_reason == "stop"
    stored = store.get_message(state.message_id)
    assert (stored.status, stored.reasoning, stored.content) == ("complete", "Step one. Step two. Done.", "42")
    stats = stored.stats
    assert stats["ttft_s"] == 0.05 and stats["tokens_per_s"] == 20.0  # the server's own figures win
    assert stats["prompt_tokens"] == 12 and stats["cached_tokens"] == 8 and stats["reasoning_tokens"] == 3
    assert stats["answer_tokens"] == 1 and stats["finish_reason"] == "stop" and stats["model"] == "m"
    assert stats["step_tokens"] == [s.token_count for s in trace.steps] and len(stats["step_times"]) == len(trace.steps)
    assert stats == trace.stored_stats()
    assert ReasoningTrace.from_stored(stored.reasoning, stored.content, stored.status, stats).stored_stats() == stats


def test_closing_the_stream_marks_it_stopped(store):
    state = new_answer(store)
    stream = stream_answer(FakeClient(DELTAS), store, state, [], {})
    next(stream)  # the first delta with text (the role chunk before it yields nothing)
    stream.close()
    stored = store.get_message(state.message_id)
    assert stored.status == "stopped" and stored.reasoning == "Step one. "


def test_stop_requested_writes_nothing_more(store):
    state = new_answer(store)
    client = FakeClient(DELTAS)
    stream = stream_answer(client, store, state, [], {})
    next(stream)  # the first delta with text (the role chunk before it yields nothing)
    state.stop_requested = True
    assert list(stream) == []
    stored = store.get_message(state.message_id)
    assert stored.status == "stopped" and stored.reasoning == "Step one. "
    assert client.cancelled == ["r1"]  # the worker itself tells the engine, whatever the window sent


def test_prompt_progress_shows_before_the_first_token(store):
    state = new_answer(store)
    progress = [ChatDelta("r1", prompt=PromptProgress(total=4096, cache=0, processed=n, time_ms=n / 2))
                for n in (512, 1024)]
    snapshots = list(stream_answer(FakeClient([DELTAS[0], *progress, *DELTAS[1:]]), store, state, [], {}))
    waiting = [s for s in snapshots if s.waiting]
    assert [s.prompt.done_tokens for s in waiting] == [512, 1024]
    assert waiting[-1].prompt.tokens_per_s == pytest.approx(2000.0) and waiting[-1].prompt.eta_s == pytest.approx(1.536)
    assert snapshots[-1].prompt is None and not snapshots[-1].waiting  # gone once the answer flows


@pytest.mark.parametrize("error, status", [
    (EngineNotRunningError("down"), "error"),  # no transport cause: refused before streaming
    (ServerError("the engine failed while generating"), "error"),
    (LoadingError("the engine is shutting down", status=None), "interrupted"),
])
def test_failures_keep_the_partial_answer(store, error, status):
    state = new_answer(store)
    with pytest.raises(type(error)):
        list(stream_answer(FakeClient(DELTAS[:3], error), store, state, [], {}))
    stored = store.get_message(state.message_id)
    assert stored.status == status and stored.reasoning == "Step one. Step two."
    assert ("error" in stored.stats) == (status == "error")


def test_a_connection_lost_mid_stream_is_an_interruption():
    try:
        try:
            raise httpx.RemoteProtocolError("peer closed connection")
        except httpx.HTTPError as exc:
            raise ServerError("closed the connection mid-response") from exc
    except ServerError as err:
        assert is_interruption(err)
    assert not is_interruption(ServerError("bad"))


def test_the_trace_measures_when_the_server_does_not():
    trace = ReasoningTrace(started_at=10.0)
    for i, t in enumerate((10.5, 10.6, 10.7, 10.9)):
        trace.add(f"t{i} ", "", t)
    trace.finish("complete", "stop", 11.0)
    assert trace.tokens == 4 and trace.ttft_s == pytest.approx(0.5) and trace.elapsed_s == pytest.approx(1.0)
    assert trace.tokens_per_s == pytest.approx(3 / 0.4)
