"""The server with a scripted engine, in this process on a real loopback socket: exact reasoning/answer
fields, a full queue (429), a load in progress (503), engine faults (500, error chunk then [DONE])."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

from core.client import BusyError, EngineClient, LoadingError, ServerError
from core.tokenizer import Tokenizer
from core.server import telemetry
from tests.checkpoints import R1_TOKENIZER
from tests.core.test_server_support import TOKEN, ThreadServer, chain_for, loop_chain, scripted_launcher

pytestmark = pytest.mark.timeout(60)
REASONING, ANSWER = "Adding them gives four.", "The answer is 4!"
HI = [{"role": "user", "content": "What is 2+2?"}]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_dir(R1_TOKENIZER)


@pytest.fixture(scope="module")
def thinker(tokenizer, tmp_path_factory):
    """Answers every chat with <think>REASONING</think>ANSWER; its loads can be held at a gate."""
    gate = threading.Event()
    gate.set()
    srv = ThreadServer(scripted_launcher(chain_for(tokenizer, REASONING, ANSWER), delay_s=0.01,
                                         gate=lambda _: gate.wait(30)), tmp_path_factory.mktemp("thinker"))
    srv.gate = gate
    yield srv
    gate.set()
    srv.stop()


@pytest.fixture(scope="module")
def looper(tokenizer, tmp_path_factory):
    """One slot, one queue place, endless output at ~2 ms a token: requests pile up."""
    srv = ThreadServer(scripted_launcher(loop_chain(tokenizer), delay_s=0.002), tmp_path_factory.mktemp("looper"),
                       max_sequences=1, max_waiting=1)
    yield srv
    srv.stop()


def sse_lines(response: httpx.Response) -> Iterator[str]:
    return (line[6:] for line in response.iter_lines() if line.startswith("data: "))


# --- reasoning and answer land in their fields ------------------------------------------------------------
def test_openai_package_gets_reasoning_and_answer_apart(thinker):
    oai = openai.OpenAI(base_url=f"{thinker.base_url}/v1", api_key=TOKEN, max_retries=0)
    r = oai.chat.completions.create(model="default", messages=HI)
    message = r.choices[0].message
    assert message.reasoning_content == REASONING and message.content == ANSWER
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens_details.reasoning_tokens > 0
    assert r.usage.completion_tokens > r.usage.completion_tokens_details.reasoning_tokens
    chunks = list(oai.chat.completions.create(model="default", messages=HI, stream=True,
                                              stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == REASONING
    assert "".join(d.content or "" for d in deltas) == ANSWER
    first_answer = next(i for i, d in enumerate(deltas) if d.content)
    assert all(not getattr(d, "reasoning_content", None) for d in deltas[first_answer:])  # reasoning comes first
    assert chunks[-1].usage.total_tokens == r.usage.total_tokens


def test_engine_client_gets_reasoning_and_answer_apart(thinker):
    with EngineClient(thinker.base_url + "/v1", TOKEN) as client:
        result = client.chat(HI)
        assert (result.reasoning, result.answer, result.finish_reason) == (REASONING, ANSWER, "stop")
        assert not result.reasoning_unfinished
        deltas = list(client.chat_stream(HI))
        assert "".join(d.reasoning for d in deltas) == REASONING and "".join(d.answer for d in deltas) == ANSWER
        cut = client.chat(HI, max_tokens=3)  # stops inside <think>
        assert cut.finish_reason == "length" and cut.answer == "" and cut.reasoning_unfinished


# --- busy: 429 with Retry-After ----------------------------------------------------------------------------
def test_full_queue_is_429_with_retry_after(looper):
    with EngineClient(looper.base_url, TOKEN) as client:
        running = client.chat_stream(HI, max_tokens=3000)
        next(d for d in running if d.answer)
        waiting = client.chat_stream(HI, max_tokens=3000)
        assert next(waiting).finish_reason is None  # the first (role) chunk: accepted, queued
        assert client.status().queue.waiting == 1
        r = httpx.post(f"{looper.base_url}/v1/chat/completions", headers=AUTH, timeout=10,
                       json={"messages": HI, "max_tokens": 5})
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["type"] == "rate_limit_error"
        with pytest.raises(BusyError) as err:
            client.chat(HI, max_tokens=5)
        assert err.value.retry_after == 1.0
        running.close()
        waiting.close()
        deadline = time.monotonic() + 5
        while (client.status().queue.running or client.status().queue.waiting) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.status().queue.running == 0 and client.status().queue.waiting == 0


def test_cancel_while_queued_frees_the_place(looper):
    with EngineClient(looper.base_url, TOKEN) as client:
        running = client.chat_stream(HI, max_tokens=3000)
        running_id = next(d for d in running if d.answer).request_id
        queued = client.chat_stream(HI, max_tokens=3000)
        first = next(queued)  # role chunk: accepted and queued behind the running one
        assert first.request_id != running_id and client.status().queue.waiting == 1
        client.cancel(first.request_id)
        assert [d.finish_reason for d in queued if d.finish_reason] == ["abort"]
        assert client.status().queue.waiting == 0
        client.cancel(running_id)
        assert [d.finish_reason for d in running if d.finish_reason] == ["abort"]


# --- loading: 503 meanwhile ----------------------------------------------------------------------------------
def test_requests_during_a_load_are_503_and_the_switch_completes(thinker):
    thinker.gate.clear()
    with EngineClient(thinker.base_url, TOKEN) as client:
        progress = client.load(precision="bf16")
        assert next(progress).event == "planning"  # the launcher now waits at the gate
        with pytest.raises(LoadingError) as err:
            client.chat(HI)
        assert err.value.status == 503 and err.value.code == "model_loading"
        with pytest.raises(LoadingError):
            client.health()
        r = httpx.get(f"{thinker.base_url}/health", headers=AUTH)
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        status = client.status()
        assert status.load.state == "loading" and status.load.stage == "planning"
        second = httpx.post(f"{thinker.base_url}/v1/engine/load", headers=AUTH, json={"precision": "fp32"})
        assert second.status_code == 409
        thinker.gate.set()
        rest = list(progress)
        assert rest[-1].event == "ready" and rest[-1].model.precision == "bf16"
        assert client.health() == "ok" and client.chat(HI).answer == ANSWER


# --- faults inside the engine -------------------------------------------------------------------------------
def test_engine_fault_is_500_without_traceback_and_the_engine_keeps_serving(thinker):
    thinker.model().fail_next.set()
    r = httpx.post(f"{thinker.base_url}/v1/chat/completions", headers=AUTH, json={"messages": HI}, timeout=10)
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["type"] == "server_error" and "injected fault" in error["message"]
    assert "Traceback" not in r.text and "File " not in r.text
    with EngineClient(thinker.base_url, TOKEN) as client:
        assert client.chat(HI).answer == ANSWER


def test_mid_stream_fault_is_an_error_chunk_then_done(thinker, tokenizer):
    with httpx.stream("POST", f"{thinker.base_url}/v1/chat/completions", headers=AUTH, timeout=10,
                      json={"messages": HI, "stream": True}) as response:
        assert response.status_code == 200
        lines = sse_lines(response)
        first = json.loads(next(lines))
        assert first["choices"][0]["delta"]["role"] == "assistant"
        json.loads(next(lines))  # a token arrived: the request is decoding
        thinker.model().fail_next.set()
        rest = list(lines)
    assert rest[-1] == "[DONE]"
    error = json.loads(rest[-2])["error"]
    assert error["type"] == "server_error" and error["code"] == "internal_error"
    with EngineClient(thinker.base_url, TOKEN) as client:
        with pytest.raises(ServerError):
            thinker.model().fail_next.set()
            list(client.chat_stream(HI))
        assert client.chat(HI).answer == ANSWER


def test_unexpected_exception_in_a_route_is_500_without_traceback(thinker, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("secret internals")

    monkeypatch.setattr(telemetry, "status", broken)
    r = httpx.get(f"{thinker.base_url}/v1/engine/status", headers=AUTH)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error" and "Traceback" not in r.text
    assert "secret internals" not in r.text


def test_models_lists_the_model_folder_name(thinker):
    with EngineClient(thinker.base_url, TOKEN) as client:
        assert [m.id for m in client.models()] == [Path(thinker.service.options.model_dir).name]
