"""``core.client`` against other OpenAI-compatible servers (scripted with httpx.MockTransport): reasoning
from ``<think>`` inside content or vLLM's fields, typed errors from every error shape, engine endpoints
that a server lacks, and an engine that is not running. (Against the real engine: test_server*.py.)"""

from __future__ import annotations

import json
import socket
from typing import Any, Callable

import httpx
import pytest

from core.client import (AuthError, BadRequestError, BusyError, ContextLengthError, EngineClient, EngineError,
                         EngineNotRunningError, LoadFailedError, LoadingError, NotFoundError, NotSupportedError,
                         ServerError)

HI = [{"role": "user", "content": "Hi"}]


def sse(*payloads: Any) -> bytes:
    return b"".join(f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n".encode() for p in payloads)


def chunk(delta: dict, finish: str | None = None, **extra: Any) -> dict:
    return {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "remote",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> EngineClient:
    return EngineClient("http://vllm.local:8000/v1", "key", transport=httpx.MockTransport(handler), **kw)


def streaming(body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def test_think_block_inside_content_is_split_while_streaming():
    pieces = ["<thi", "nk>\nFirst, 2+2", " is 4.</th", "ink>\n\nThe answer", " is 4."]
    body = sse(chunk({"role": "assistant", "content": ""}), *[chunk({"content": p}) for p in pieces],
               chunk({}, "stop"), {"id": "cmpl-1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9,
                                                                             "total_tokens": 12}}, "[DONE]")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return streaming(body)(request)

    deltas = list(client_for(handler).chat_stream(HI, max_tokens=50))
    assert "".join(d.reasoning for d in deltas) == "\nFirst, 2+2 is 4."
    assert "".join(d.answer for d in deltas) == "The answer is 4."
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"] and deltas[-1].usage.total_tokens == 12
    assert str(seen[0].url) == "http://vllm.local:8000/v1/chat/completions"
    sent = json.loads(seen[0].content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True} and "model" not in sent
    assert seen[0].headers["authorization"] == "Bearer key"


def test_reasoning_fields_of_vllm_are_used_as_given():
    for field in ("reasoning_content", "reasoning"):
        body = sse(chunk({"role": "assistant"}), chunk({field: "Think."}), chunk({"content": "<think>literal"}),
                   chunk({}, "length"), "[DONE]")
        deltas = list(client_for(streaming(body)).chat_stream(HI))
        assert "".join(d.reasoning for d in deltas) == "Think."
        assert "".join(d.answer for d in deltas) == "<think>literal"  # the server split: content is the answer


def test_template_that_opens_think_in_the_prompt():
    body = sse(chunk({"content": "Reason here.</think>"}), chunk({"content": "Answer."}, "stop"), "[DONE]")
    deltas = list(client_for(streaming(body), think_open_in_prompt=True).chat_stream(HI))
    assert "".join(d.reasoning for d in deltas) == "Reason here." and "".join(d.answer for d in deltas) == "Answer."


def test_non_streamed_think_in_content_and_reasoning_field():
    def handler(content: str, **message: Any) -> Callable[[httpx.Request], httpx.Response]:
        body = {"id": "cmpl-9", "object": "chat.completion", "model": "remote",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message},
                             "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                                                  "total_tokens": 3}}
        return lambda request: httpx.Response(200, json=body)

    r = client_for(handler("<think>Hmm.</think>\n\nYes.")).chat(HI)
    assert (r.reasoning, r.answer, r.request_id, r.model, r.usage.total_tokens) == ("Hmm.", "Yes.", "cmpl-9", "remote", 3)
    assert r.usage.prompt_tokens_details is None and r.stats is None and not r.reasoning_unfinished
    r = client_for(handler("Yes.", reasoning="Hmm.")).chat(HI)
    assert (r.reasoning, r.answer) == ("Hmm.", "Yes.")


def error_response(status: int, body: Any, headers: dict | None = None) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body, headers=headers or {})


def openai_error(message: str, type_: str, code: str | None = None, param: str | None = None, **extra: Any) -> dict:
    return {"error": {"message": message, "type": type_, "code": code, "param": param, **extra}}


@pytest.mark.parametrize("status, body, headers, kind", [
    (401, openai_error("bad key", "authentication_error", "invalid_api_key"), None, AuthError),
    (421, openai_error("bad host", "invalid_request_error", "host_not_allowed"), None, AuthError),
    (404, openai_error("no model", "not_found_error", "model_not_found", "model"), None, NotFoundError),
    (400, openai_error("bad temperature", "invalid_request_error", "invalid_parameter", "temperature"), None,
     BadRequestError),
    (429, openai_error("busy", "rate_limit_error", "queue_full"), {"Retry-After": "3"}, BusyError),
    (503, openai_error("loading", "service_unavailable", "model_loading"), None, LoadingError),
    (500, openai_error("boom", "server_error", "internal_error"), None, ServerError),
    (502, "<html>bad gateway</html>", None, ServerError),
])
def test_error_bodies_become_typed_errors(status, body, headers, kind):
    with pytest.raises(kind) as err:
        client_for(error_response(status, body, headers)).chat(HI)
    e = err.value
    assert isinstance(e, EngineError) and e.status == status
    if isinstance(body, dict):
        assert e.message == body["error"]["message"] and e.code == body["error"]["code"]
        assert e.param == body["error"]["param"]
    if kind is BusyError:
        assert e.retry_after == 3.0


def test_context_length_errors_carry_both_counts():
    ours = openai_error("the prompt has 5000 tokens but the context window is 4096 tokens", "invalid_request_error",
                        "context_length_exceeded", "messages", prompt_tokens=5000, context_tokens=4096)
    with pytest.raises(ContextLengthError) as err:
        client_for(error_response(400, ours)).chat(HI)
    assert (err.value.prompt_tokens, err.value.context_tokens, err.value.param) == (5000, 4096, "messages")
    vllm = {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
            "message": "This model's maximum context length is 4096 tokens. However, you requested 5,010 tokens "
                       "(5000 in the messages, 10 in the completion)."}
    with pytest.raises(ContextLengthError) as err:
        list(client_for(error_response(400, vllm)).chat_stream(HI))
    assert (err.value.context_tokens, err.value.prompt_tokens) == (4096, 5010)


def test_mid_stream_error_chunk_raises():
    body = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "par"}),
               openai_error("the engine failed", "server_error", "internal_error"), "[DONE]")
    stream = client_for(streaming(body)).chat_stream(HI)
    assert next(stream).request_id == "cmpl-1"
    assert next(stream).answer == "par"
    with pytest.raises(ServerError, match="the engine failed"):
        next(stream)


def test_engine_endpoints_on_a_plain_openai_server_are_not_supported():
    client = client_for(error_response(404, {"detail": "Not Found"}))
    for call in (client.status, lambda: list(client.events()), lambda: list(client.load(precision="bf16")),
                 lambda: client.cancel("cmpl-1"), client.metrics_text):
        with pytest.raises(NotSupportedError, match="not supported by this server"):
            call()
    with pytest.raises(NotFoundError) as err:  # a 404 on an OpenAI route stays a 404
        client.models()
    assert not isinstance(err.value, NotSupportedError)


def test_unknown_request_id_on_our_engine_is_not_found_not_unsupported():
    body = openai_error("no running request", "not_found_error", "request_not_found", "request_id")
    with pytest.raises(NotFoundError) as err:
        client_for(error_response(404, body)).cancel("chatcmpl-x")
    assert not isinstance(err.value, NotSupportedError) and err.value.code == "request_not_found"


def test_load_progress_and_failure():
    ok = sse({"event": "planning", "fraction": 0.0}, {"event": "loading", "fraction": 0.5},
             {"event": "ready", "fraction": 1.0, "model": {"id": "m", "path": "/m", "precision": "bf16"}}, "[DONE]")
    progress = list(client_for(streaming(ok)).load(precision="bf16"))
    assert [p.event for p in progress] == ["planning", "loading", "ready"] and progress[-1].model.precision == "bf16"
    failed = sse({"event": "planning"}, {"event": "error", "message": "could not load /x: no config.json; still "
                                         "serving old", "model": {"id": "old", "path": "/old"}}, "[DONE]")
    with pytest.raises(LoadFailedError) as err:
        list(client_for(streaming(failed)).load(model="/x"))
    assert err.value.kept_model == "old" and "no config.json" in err.value.message


def test_events_are_typed_snapshots():
    snap = {"time": 1.0, "state": "ready", "tokens_per_s": 12.5, "kv_tokens_used": 10, "kv_tokens_total": 100,
            "running": 1, "waiting": 0, "rss_bytes": 5, "vram_allocated_bytes": None}
    events = list(client_for(streaming(sse(snap, snap, "[DONE]"))).events())
    assert len(events) == 2 and events[0].tokens_per_s == 12.5 and events[0].vram_allocated_bytes is None


def test_health_of_servers_that_answer_an_empty_200():
    assert client_for(lambda r: httpx.Response(200)).health() == "ok"


def test_an_engine_that_is_not_running():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    client = EngineClient(f"http://127.0.0.1:{port}", "t", timeout=2)
    for call in (client.health, lambda: client.chat(HI), lambda: list(client.chat_stream(HI)), client.status):
        with pytest.raises(EngineNotRunningError, match="the engine is not running"):
            call()
