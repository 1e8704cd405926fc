"""The server's pure pieces: chunk building from engine events, request validation, gatekeeping rules,
token sources, sampling defaults, the tokens/s meter. No model, no sockets."""

from __future__ import annotations

import argparse
import io
import json
import sys
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from core.engine.engine import TokenEvent
from core.engine.sequence import RequestMetrics
from core.server.chat import template_messages, validate
from core.engine.engine import ContextLengthError
from core.engine.scheduler import QueueFullError
from core.server.errors import BadRequestError, api_error, validation_param
from core.tokenizer import TokenizerError
from core.server.model_state import GenerationDefaults, ModelState
from core.server.responses import ChunkBuilder, completion
from core.server.wire import frame
from core.api.protocol import ChatCompletionChunk, ChatCompletionRequest
from core.server.security import host_allowed, origin_allowed, token_matches
from core.server.counters import RateMeter
from core.server import settings
from core.api.spawn import TOKEN_ENV
from core.server.settings import ServeOptions, read_token


def metrics(**kw) -> RequestMetrics:
    m = RequestMetrics(prompt_tokens=40, cached_prompt_tokens=32, completion_tokens=7, reasoning_tokens=4,
                       arrival_s=1.0, scheduled_s=1.1, first_token_s=1.5, finished_s=2.5)
    for k, v in kw.items():
        setattr(m, k, v)
    return m


SCRIPT = [TokenEvent("r", 1, reasoning="Let me "), TokenEvent("r", 2, reasoning="add."),
          TokenEvent("r", 3), TokenEvent("r", 4, reasoning=" Done", answer="It is"),
          TokenEvent("r", 5, answer=" 4."), TokenEvent("r", 6, finish_reason="stop", metrics=metrics())]


def test_chunks_put_reasoning_and_answer_in_their_fields():
    builder = ChunkBuilder("chatcmpl-1", "m", include_usage=True, created=7)
    chunks = [c.model_dump() for c in [builder.first()] + [c for e in SCRIPT for c in builder.on_event(e)]]
    parsed = [ChatCompletionChunk.model_validate(c) for c in chunks]
    assert parsed[0].choices[0].delta.role == "assistant" and parsed[0].choices[0].delta.content == ""
    deltas = [p.choices[0].delta for p in parsed if p.choices]
    assert "".join(d.reasoning_content or "" for d in deltas) == "Let me add. Done"
    assert "".join(d.content or "" for d in deltas) == "It is 4."
    assert len(chunks) == 7  # role, 4 text chunks (the empty event makes none), finish, usage
    finish = parsed[-2]
    assert finish.choices[0].finish_reason == "stop" and finish.choices[0].delta.content is None
    assert finish.ponder.ttft_s == pytest.approx(0.5) and finish.ponder.decode_tokens_per_s == pytest.approx(6.0)
    assert finish.ponder.prefill_tokens_per_s == pytest.approx(20.0)
    usage = parsed[-1]
    assert usage.choices == [] and usage.usage.total_tokens == 47
    assert usage.usage.prompt_tokens_details.cached_tokens == 32
    assert usage.usage.completion_tokens_details.reasoning_tokens == 4
    assert all(c["id"] == "chatcmpl-1" and c["created"] == 7 and c["object"] == "chat.completion.chunk"
               for c in chunks)
    json.dumps(chunks)  # everything is plain JSON


def test_chunks_without_usage_and_with_text_on_the_final_event():
    builder = ChunkBuilder("id", "m", include_usage=False)
    final = TokenEvent("r", None, answer="tail", finish_reason="length", metrics=metrics(), reasoning_unfinished=False)
    chunks = [c.model_dump() for c in builder.on_event(final)]
    assert [c["choices"][0]["delta"] for c in chunks] == [{"content": "tail"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length" and "usage" not in chunks[-1]
    assert chunks[-1]["choices"][0]["logprobs"] is None and "logprobs" in chunks[-1]["choices"][0]
    assert list(chunks[-1]) == ["id", "object", "created", "model", "choices", "ponder"]


def test_a_chunk_keeps_the_openai_wire_shape():
    """Byte for byte what OpenAI clients read: only the delta's set fields, nulls kept elsewhere."""
    builder = ChunkBuilder("chatcmpl-1", "m", include_usage=True, created=7)
    event = TokenEvent("r", 1, reasoning=" Done", answer="It is \u00e9")
    aborted = TokenEvent("r", None, finish_reason="abort", metrics=RequestMetrics(prompt_tokens=3, arrival_s=1.0))
    assert frame(builder.on_event(event)[0]) == (
        'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,'
        '"delta":{"reasoning_content":" Done","content":"It is \u00e9"},"finish_reason":null,"logprobs":null}]}\n\n')
    finish, usage = builder.on_event(aborted)
    assert frame(finish).endswith('"choices":[{"index":0,"delta":{},"finish_reason":"abort","logprobs":null}],'
                                  '"ponder":{"ttft_s":null,"prefill_tokens_per_s":null,"decode_tokens_per_s":null,'
                                  '"reasoning_unfinished":false,"stop_reason":null,"max_tokens":0,"grounded_quotes":0,'
                                  '"grounding_overrides":0,"draft_tokens":0,"accepted_draft_tokens":0}}\n\n')
    assert frame(usage).endswith('"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":0,"total_tokens":3,'
                                 '"prompt_tokens_details":{"cached_tokens":0},'
                                 '"completion_tokens_details":{"reasoning_tokens":0}}}\n\n')


def test_non_streamed_completion_shape():
    last = TokenEvent("r", 9, finish_reason="length", metrics=metrics(), reasoning_unfinished=True)
    body = completion("chatcmpl-2", "m", "thinking...", "", last).model_dump()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "", "reasoning_content": "thinking..."}
    assert body["choices"][0]["finish_reason"] == "length" and body["ponder"]["reasoning_unfinished"] is True
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 32}


def request(**kw) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "Hi"}], **kw})


@pytest.mark.parametrize("kw, param", [
    ({"n": 3}, "n"), ({"tools": [{"type": "function"}]}, "tools"), ({"tool_choice": "auto"}, "tool_choice"),
    ({"logprobs": True}, "logprobs"), ({"top_logprobs": 2}, "top_logprobs"), ({"logit_bias": {"1": 5}}, "logit_bias"),
    ({"response_format": {"type": "json_schema"}}, "response_format"), ({"min_p": 0.1}, "min_p"),
    ({"chat_template_kwargs": {"x": 1}}, "chat_template_kwargs"), ({"whatever": True}, "whatever"),
    ({"stop": ""}, "stop"),
    ({"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"id": "1"}]}]}, "messages[0].tool_calls"),
    ({"messages": [{"role": "user", "content": "x", "audio": {"id": "a"}}]}, "messages[0].audio"),
])
def test_validate_refuses_what_it_would_not_honour(kw, param):
    with pytest.raises(BadRequestError) as err:
        validate(request(**kw))
    assert err.value.param == param and err.value.status == 400


def test_validate_accepts_defaults_and_harmless_fields():
    validate(request(n=1, logprobs=False, tools=[], tool_choice="none", response_format={"type": "text"},
                     frequency_penalty=0, user="u", metadata={"a": "b"}, store=False, parallel_tool_calls=True,
                     messages=[{"role": "assistant", "content": "x", "refusal": None, "tool_calls": []}]))


def test_messages_and_overrides_for_the_engine():
    req = request(messages=[{"role": "system", "content": "S"},
                            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                            {"role": "assistant", "content": "A", "reasoning_content": "R"},
                            {"role": "assistant", "content": "B", "reasoning": "R2"}],
                  max_tokens=5, max_completion_tokens=9, stop="x", top_k=3, seed=1, temperature=0.5)
    assert template_messages(req.messages) == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": "A", "reasoning_content": "R"},
        {"role": "assistant", "content": "B", "reasoning_content": "R2"}]
    model = ModelState(SimpleNamespace(engine=SimpleNamespace(context_tokens=100)), None, "m",  # type: ignore
                       GenerationDefaults(top_p=0.9, repetition_penalty=1.1), {}, 0.0)
    p = model.sampling_params(req, prompt_tokens=20)
    assert (p.max_tokens, p.stop, p.top_k, p.seed, p.temperature, p.top_p) == (9, ("x",), 3, 1, 0.5, 0.9)
    assert (p.repetition_penalty, p.frequency_penalty, p.ignore_eos) == (1.1, 0.0, False)
    assert model.sampling_params(request(), prompt_tokens=95).max_tokens == 5  # what the context has left


def test_engine_failures_map_to_http_errors_in_one_place():
    context = api_error(ContextLengthError(600, 512), "adding")
    assert (context.status, context.type, context.code, context.param) == (
        400, "invalid_request_error", "context_length_exceeded", "messages")
    body = context.body().model_dump()["error"]
    assert (body["prompt_tokens"], body["context_tokens"]) == (600, 512) and "600 tokens" in body["message"]
    busy = api_error(QueueFullError("2 requests are already waiting"), "adding")
    assert (busy.status, busy.type, busy.code, busy.headers) == (429, "rate_limit_error", "queue_full",
                                                                 {"Retry-After": "1"})
    assert busy.message == "the engine is busy: 2 requests are already waiting"
    assert "prompt_tokens" not in busy.body().model_dump()["error"]
    assert (api_error(TokenizerError("bad template"), "adding").param, api_error(ValueError("v"), "adding").param) == (
        "messages", None)
    unexpected = api_error(RuntimeError("boom"), "preparing the request")
    assert (unexpected.status, unexpected.message) == (500, "internal error while preparing the request (RuntimeError)")
    mine = BadRequestError("x")
    assert api_error(mine, "adding") is mine


def test_pydantic_errors_name_the_parameter():
    with pytest.raises(ValidationError) as err:
        request(messages=[{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}])
    assert validation_param(("body", *err.value.errors()[0]["loc"])) == "messages[1].role"
    assert validation_param(("body", "messages", 0, "content", "list[TextPart]", 2, "type")) == "messages[0].content[2].type"
    assert validation_param(("body",)) is None


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1", True), ("127.0.0.1:8000", True), ("LOCALHOST:8000", True), ("[::1]", True), ("[::1]:8000", True),
    ("127.0.0.1:8001", False), ("localhost.evil.com", False), ("evil.com", False), ("[::1]:80", False),
    ("", False), ("127.0.0.2:8000", False), ("0.0.0.0:8000", False), ("[::1]x", False),
])
def test_host_rule(host, ok):
    assert host_allowed(host, 8000) is ok


def test_origin_and_token_rules():
    assert origin_allowed("http://127.0.0.1:8000", 8000) and origin_allowed("http://localhost:8000", 8000)
    assert not origin_allowed("http://localhost:8001", 8000) and not origin_allowed("null", 8000)
    assert not origin_allowed("https://127.0.0.1:8000", 8000) and not origin_allowed("http://evil.com", 8000)
    assert token_matches("Bearer abc", "abc") and token_matches("bearer abc", "abc")
    assert not token_matches("Bearer abd", "abc") and not token_matches(None, "abc")
    assert not token_matches("Basic abc", "abc") and not token_matches("Bearer ", "abc")


def test_token_sources(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert read_token(False) == ("from-env", False)
    assert read_token(True, io.StringIO("from-stdin\nrest")) == ("from-stdin", False)
    with pytest.raises(ValueError):
        read_token(True, io.StringIO("\n"))
    monkeypatch.delenv(TOKEN_ENV)
    token, generated = read_token(False)
    assert generated and len(token) >= 40 and token != read_token(False)[0]


def test_generation_defaults_from_the_model_folder(tmp_path):
    assert GenerationDefaults.from_dir(tmp_path) == GenerationDefaults(0.0, 1.0, 0)
    (tmp_path / "generation_config.json").write_text(json.dumps({"temperature": 0.6, "top_p": 0.95}))
    assert GenerationDefaults.from_dir(tmp_path) == GenerationDefaults(0.6, 0.95, 0)
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": False, "temperature": 0.6}))
    assert GenerationDefaults.from_dir(tmp_path).temperature == 0.0
    # as transformers: a folder's repetition penalty applies whether or not it samples (Qwen2.5 ships 1.05)
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": False, "repetition_penalty": 1.05}))
    assert GenerationDefaults.from_dir(tmp_path) == GenerationDefaults(0.0, 1.0, 0, 1.05)
    (tmp_path / "generation_config.json").write_text(json.dumps({"temperature": 0.7, "repetition_penalty": -1}))
    assert GenerationDefaults.from_dir(tmp_path) == GenerationDefaults(0.7, 1.0, 0, 1.0)
    (tmp_path / "generation_config.json").write_text("{broken")
    assert GenerationDefaults.from_dir(tmp_path) == GenerationDefaults()


def test_rate_meter_measures_the_recent_rate_and_decays():
    meter = RateMeter(window_s=2.0)
    for i in range(21):
        meter.add(100.0 + i * 0.1, i * 10)  # 100 tokens/s for 2 s
    assert meter.rate(102.0) == pytest.approx(100.0, rel=0.05)
    assert meter.rate(110.0) == 0.0  # idle since: nothing in the window
    assert RateMeter().rate(5.0) == 0.0


def test_serve_options_default_model_and_log_file(monkeypatch, tmp_path):
    parser = argparse.ArgumentParser()
    settings.add_serve_arguments(parser)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)  # resources/ of a bundle
    with pytest.raises(ValueError, match="pass --model"):
        settings.options_from_args(parser.parse_args([]))
    bundled = tmp_path / "resources" / "models" / settings.BUNDLED_MODEL
    bundled.mkdir(parents=True)
    (bundled / "config.json").write_text("{}")
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path / "cache"))
    options = settings.options_from_args(parser.parse_args(["--port", "8123", "--max-waiting", "2"]))
    assert options.model_dir == bundled and options.port == 8123 and options.max_waiting == 2
    assert options.max_sequences == 4 and options.log_file == tmp_path / "cache" / "logs" / "engine.log"
    assert options.speculation and not settings.options_from_args(parser.parse_args(["--no-speculation"])).speculation
    for bad in ({"port": 70000}, {"max_sequences": 0}, {"max_waiting": 0}, {"context_tokens": 1}):
        with pytest.raises(ValueError):
            ServeOptions(model_dir=bundled, **bad)
