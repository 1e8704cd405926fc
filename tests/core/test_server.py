"""The engine's HTTP API, end to end: the real server as a subprocess on loopback, a tiny random model.

Driven through ``core.client`` and the official ``openai`` package, as the GUI and other tools would.
One server per module (started once); the tests that switch the model or stop the server come last.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from core.client import (AuthError, BadRequestError, ContextLengthError, EngineClient, LoadFailedError,
                         NotFoundError)
from tests.core.test_server_support import TOKEN, RemoteServer, tiny_model

pytestmark = pytest.mark.timeout(120)
GREEDY = {"temperature": 0}
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    srv = RemoteServer(model_dir, tmp_path_factory.mktemp("server"), "--precision", "fp32", "--context", "1024")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with EngineClient(server.base_url, TOKEN, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def oai(server):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=TOKEN, max_retries=0)


def http(server, method: str, path: str, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", **kw.pop("headers", {})}
    kw.setdefault("timeout", 30)
    return httpx.request(method, server.base_url + path, headers=headers, **kw)


def wait_until(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --- handshake, models, health, status ---------------------------------------------------------------
def test_handshake_names_port_model_and_plan_without_the_token(server, model_dir):
    hs = server.handshake
    assert hs["port"] > 0 and hs["pid"] == server.process.pid and hs["version"]
    assert hs["model"] == model_dir.name and hs["plan"]["precision"] == "fp32" and hs["plan"]["reasons"]
    assert "token" not in hs  # the token came from the environment: not echoed
    cmdline = " ".join(psutil.Process(server.process.pid).cmdline())
    assert "--model" in cmdline and TOKEN not in cmdline


def test_models_health_and_status(client, model_dir):
    assert client.health() == "ok"
    assert [m.id for m in client.models()] == [model_dir.name]
    status = client.status()
    assert status.load.state == "ready" and status.model.id == model_dir.name
    assert status.model.precision == "fp32" and status.model.context_tokens == 1024
    assert status.plan["reasons"] and status.hardware["device"] == "cpu"
    assert status.memory.weights_bytes > 0 and status.memory.rss_bytes > 0 and status.memory.peak_rss_bytes > 0
    assert status.memory.kv_cache_total_bytes > 0 and status.memory.vram_allocated_bytes is None
    assert status.queue.max_sequences == 4 and status.queue.running == 0


# --- chat: our client and the official openai package ---------------------------------------------------
def test_engine_client_chat_and_stream_agree(client, model_dir):
    result = client.chat(HI, max_tokens=6, **GREEDY)
    assert result.request_id.startswith("chatcmpl-") and result.model == model_dir.name
    assert result.finish_reason == "length" and result.answer
    assert result.usage.completion_tokens == 6 and result.usage.prompt_tokens == 4
    assert result.usage.total_tokens == 10 and result.stats.ttft_s > 0
    deltas = list(client.chat_stream(HI, max_tokens=6, **GREEDY))
    assert len({d.request_id for d in deltas}) == 1
    assert "".join(d.answer for d in deltas) == result.answer
    assert "".join(d.reasoning for d in deltas) == result.reasoning
    assert deltas[-2].finish_reason == "length" and deltas[-2].stats.decode_tokens_per_s is not None
    assert deltas[-1].usage.completion_tokens == 6 and deltas[-1].usage.completion_tokens_details is not None


def test_openai_package_non_streaming(oai, model_dir):
    r = oai.chat.completions.create(model=model_dir.name, messages=HI, max_tokens=5, temperature=0)
    assert r.object == "chat.completion" and r.choices[0].finish_reason == "length"
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content
    assert hasattr(r.choices[0].message, "reasoning_content")  # the field is there (None: no <think> here)
    assert r.usage.prompt_tokens == 4 and r.usage.completion_tokens == 5 and r.usage.total_tokens == 9
    assert r.usage.prompt_tokens_details.cached_tokens >= 0
    assert r.usage.completion_tokens_details.reasoning_tokens == 0


def test_openai_package_streaming(oai):
    stream = oai.chat.completions.create(model="default", messages=HI, max_tokens=5, temperature=0, stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert len({c.id for c in chunks}) == 1


def test_assistant_turns_may_carry_reasoning_and_text_parts(client):
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
                {"role": "assistant", "content": "4", "reasoning_content": "2+2=4"},
                {"role": "user", "content": "And 3+3?"}]
    assert client.chat(messages, max_tokens=2, **GREEDY).usage.completion_tokens == 2


# --- batching, prefix reuse -----------------------------------------------------------------------
def test_eight_concurrent_greedy_requests_equal_their_solo_outputs(client):
    prompts = [[{"role": "user", "content": f"Question {i}: what is {i} times {i + 3}?"}] for i in range(8)]
    solo = [client.chat(p, max_tokens=12, **GREEDY).answer for p in prompts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda p: client.chat(p, max_tokens=12, **GREEDY).answer, prompts))
    assert together == solo
    assert len(set(solo)) > 1  # different prompts, different outputs: the comparison means something


def test_the_same_long_prompt_twice_reuses_its_prefix(client):
    document = " ".join(f"Paragraph {i} says that the value of item {i} is {i * 7}." for i in range(30))
    messages = [{"role": "user", "content": document + " What is the value of item 12?"}]
    first = client.chat(messages, max_tokens=3, **GREEDY).usage
    second = client.chat(messages, max_tokens=3, **GREEDY).usage
    assert first.prompt_tokens == second.prompt_tokens > 300
    assert second.prompt_tokens_details.cached_tokens >= second.prompt_tokens - 1


# --- cancellation ------------------------------------------------------------------------------------
def aborted(client: EngineClient) -> int:
    """Requests that ended by an abort (not by running out of tokens), from /metrics."""
    match = re.search(r'^ponder_requests_finished_total\{reason="abort"\} (\d+)$', client.metrics_text(), re.M)
    return int(match.group(1)) if match else 0


def test_cancel_endpoint_stops_a_long_generation_and_frees_its_slot(client):
    stream = client.chat_stream(HI, max_tokens=1000, ignore_eos=True, **GREEDY)
    first = next(d for d in stream if d.answer)
    client.cancel(first.request_id)
    rest = list(stream)
    assert [d.finish_reason for d in rest if d.finish_reason] == ["abort"]
    produced = sum(1 for d in rest if d.answer)
    assert produced < 100 and rest[-1].usage.completion_tokens < 200
    assert wait_until(lambda: client.status().queue.running == 0, 2)
    with pytest.raises(NotFoundError) as err:
        client.cancel(first.request_id)
    assert err.value.code == "request_not_found"


def test_client_disconnect_mid_stream_aborts_the_request(client):
    before = aborted(client)
    stream = client.chat_stream(HI, max_tokens=1000, ignore_eos=True, **GREEDY)
    next(d for d in stream if d.answer)
    assert client.status().queue.running == 1
    stream.close()  # closes the HTTP connection, as a closed window or a killed GUI would
    assert wait_until(lambda: client.status().queue.running == 0, 2)
    assert aborted(client) == before + 1


def test_non_streaming_client_disconnect_also_aborts(server, client):
    before = aborted(client)
    body = {"messages": HI, "max_tokens": 1000, "ignore_eos": True, "temperature": 0}
    with pytest.raises(httpx.ReadTimeout):
        http(server, "POST", "/v1/chat/completions", json=body, timeout=0.5)
    assert wait_until(lambda: client.status().queue.running == 0, 2)
    assert aborted(client) == before + 1


# --- errors and security --------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/health", "/metrics", "/v1/models", "/v1/engine/status"])
def test_every_route_needs_the_token(server, path):
    no_token = httpx.get(server.base_url + path, timeout=10)
    wrong = httpx.get(server.base_url + path, headers={"Authorization": "Bearer nope"}, timeout=10)
    for r in (no_token, wrong):
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["type"] == "authentication_error"
    assert "missing" in no_token.json()["error"]["message"] and "invalid" in wrong.json()["error"]["message"]


def test_chat_without_a_valid_token_is_401_for_both_clients(server, oai):
    with pytest.raises(AuthError) as err:
        EngineClient(server.base_url, "wrong").chat(HI, max_tokens=1)
    assert err.value.status == 401
    bad = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="default", messages=HI, max_tokens=1)


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:80", "127.0.0.1:1", "localhost.evil.com"])
def test_foreign_host_header_is_421(server, host):
    r = http(server, "GET", "/health", headers={"Host": host})
    assert r.status_code == 421 and r.json()["error"]["code"] == "host_not_allowed"


def test_local_host_names_are_accepted(server):
    port = server.handshake["port"]
    for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
        assert http(server, "GET", "/health", headers={"Host": host}).status_code == 200, host


def test_foreign_origin_is_403_and_there_is_no_cors(server):
    port = server.handshake["port"]
    for origin in ("http://evil.example.com", "null", f"http://127.0.0.1:{port + 1}", f"https://localhost:{port}"):
        r = http(server, "GET", "/health", headers={"Origin": origin})
        assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error", origin
        assert "access-control-allow-origin" not in r.headers
    ok = http(server, "GET", "/health", headers={"Origin": f"http://localhost:{port}"})
    assert ok.status_code == 200 and "access-control-allow-origin" not in ok.headers


def test_text_plain_post_is_415(server):
    body = json.dumps({"messages": HI, "max_tokens": 1})
    r = http(server, "POST", "/v1/chat/completions", content=body, headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = http(server, "POST", "/v1/chat/completions", content=body, headers={"Content-Type": ""})
    assert r.status_code == 415


def test_body_over_the_cap_is_413_by_length_and_while_reading(server):
    big = b'{"messages": [{"role": "user", "content": "' + b"a" * (9 * 2**20) + b'"}]}'
    r = http(server, "POST", "/v1/chat/completions", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunked():  # no Content-Length: the cap must hold while reading
        for i in range(0, len(big), 2**20):
            yield big[i:i + 2**20]

    r = http(server, "POST", "/v1/chat/completions", content=chunked(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("extra, param", [
    ({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p"), ({"max_tokens": 0}, "max_tokens"),
    ({"n": 2}, "n"), ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"logprobs": True}, "logprobs"), ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"frequency_penalty": 2.5}, "frequency_penalty"), ({"presence_penalty": -3}, "presence_penalty"),
    ({"repetition_penalty": 0}, "repetition_penalty"), ({"min_p": 0.2}, "min_p"),
    ({"chat_template": "{{ messages }}"}, "chat_template"), ({"bogus_option": 1}, "bogus_option"),
    ({"messages": [{"role": "wizard", "content": "Hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0].type"),
    ({"messages": []}, "messages"), ({"stop": ["a"] * 17}, "stop"),
])
def test_bad_parameters_are_400_naming_the_parameter(server, extra, param):
    body = {"messages": HI, "max_tokens": 2, **extra}
    r = http(server, "POST", "/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and param.split("[")[0] in error["message"]


def test_accepted_harmless_parameters(client):
    r = client.chat(HI, max_tokens=1, frequency_penalty=0, presence_penalty=0, n=1, user="me", seed=3,
                    top_k=5, stop=["zzz"], max_completion_tokens=1)
    assert r.usage.completion_tokens == 1


def test_penalties_are_honoured(client):
    """OpenAI's frequency and presence penalties and vLLM's repetition_penalty reach the sampler: under 1, the
    repetition penalty pulls the greedy answer back to the prompt's tokens."""
    plain = client.chat(HI, max_tokens=6, ignore_eos=True)
    penalised = client.chat(HI, max_tokens=6, ignore_eos=True, repetition_penalty=0.3, frequency_penalty=1.0,
                            presence_penalty=0.5)
    assert penalised.usage.completion_tokens == 6
    assert (penalised.reasoning, penalised.answer) != (plain.reasoning, plain.answer)


def test_invalid_json_is_400(server):
    r = http(server, "POST", "/v1/chat/completions", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_unknown_model_is_404_and_unknown_route_is_404(server, client, oai):
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=1)
    with pytest.raises(NotFoundError) as err:
        client.chat(HI, model="gpt-4o", max_tokens=1)
    assert err.value.code == "model_not_found" and err.value.param == "model"
    r = http(server, "GET", "/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "route_not_found"


def test_prompt_over_the_context_is_400_with_both_counts(client, oai):
    long = [{"role": "user", "content": "word " * 1500}]
    with pytest.raises(ContextLengthError) as err:
        client.chat(long, max_tokens=1)
    e = err.value
    assert e.status == 400 and e.context_tokens == 1024 and e.prompt_tokens > 1024
    assert f"{e.prompt_tokens} tokens" in e.message and "1024 tokens" in e.message
    with pytest.raises(openai.BadRequestError) as oe:
        oai.chat.completions.create(model="default", messages=long, max_tokens=1, stream=True)
    assert oe.value.code == "context_length_exceeded"


def test_bad_request_error_carries_param(client):
    with pytest.raises(BadRequestError) as err:
        client.chat(HI, temperature=-1)
    assert err.value.param == "temperature" and err.value.status == 400


# --- live numbers ----------------------------------------------------------------------------------------
def test_events_stream_snapshots(client):
    events = client.events()
    started = time.monotonic()
    threading.Thread(target=lambda: client.chat(HI, max_tokens=20, **GREEDY), daemon=True).start()
    snapshots = [next(events) for _ in range(4)]
    events.close()
    assert 1.0 <= time.monotonic() - started < 5
    for s in snapshots:
        assert s.state == "ready" and s.kv_tokens_total > 0 and s.kv_bytes_total > 0 and s.rss_bytes > 0
        assert s.vram_allocated_bytes is None and s.vram_reserved_bytes is None
        assert s.running >= 0 and s.waiting >= 0 and s.tokens_per_s >= 0
    assert snapshots[-1].last_ttft_s is not None


_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                     r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? -?[0-9.eE+-]+(?:\s[0-9]+)?$')


def test_metrics_are_valid_prometheus_text(server, client):
    client.chat(HI, max_tokens=2, **GREEDY)
    text = client.metrics_text()
    r = http(server, "GET", "/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            types[name] = kind
        elif not line.startswith("# HELP"):
            assert _SAMPLE.match(line), line
            assert line.split("{")[0].split(" ")[0] in types, line
    assert types["ponder_generated_tokens_total"] == "counter" and types["ponder_requests_running"] == "gauge"
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if not line.startswith("#")}
    assert values["ponder_generated_tokens_total"] > 0 and values["ponder_resident_memory_bytes"] > 0
    assert values['ponder_kv_cache_tokens{state="total"}'] == 4 * 1024


# --- switching models (last: they change what is served) ------------------------------------------------
def test_load_switches_precision_with_progress_events(client):
    progress = list(client.load(precision="bf16"))
    kinds = [p.event for p in progress]
    assert kinds[0] == "planning" and "loading" in kinds and kinds[-1] == "ready"
    fractions = [p.fraction for p in progress if p.event == "loading"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert progress[-1].model.precision == "bf16" and progress[-1].plan["precision"] == "bf16"
    status = client.status()
    assert status.model.precision == "bf16" and status.model.context_tokens == 1024
    assert client.chat(HI, max_tokens=3, **GREEDY).usage.completion_tokens == 3


def test_failed_load_keeps_the_old_model_serving(client, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(LoadFailedError) as err:
        list(client.load(model=str(broken)))
    assert str(broken) in err.value.message and "still serving" in err.value.message
    assert err.value.kept_model is not None
    status = client.status()
    assert status.load.state == "ready" and status.model.precision == "bf16" and str(broken) in status.load.error
    assert client.chat(HI, max_tokens=2, **GREEDY).usage.completion_tokens == 2
    with pytest.raises(BadRequestError) as missing:
        list(client.load(model=str(tmp_path / "nowhere")))
    assert missing.value.param == "model"
    with pytest.raises(BadRequestError) as bad_precision:
        list(client.load(precision="fp8"))
    assert bad_precision.value.param == "precision"


def test_sigterm_aborts_streams_exits_0_and_leaves_one_stdout_line(server, client):
    stream = client.chat_stream(HI, max_tokens=1000, ignore_eos=True, **GREEDY)
    next(d for d in stream if d.answer)
    server.process.terminate()
    with pytest.raises(Exception) as err:  # the stream ends with an error chunk ("shutting down")
        list(stream)
    assert "shutting down" in str(err.value)
    assert server.process.wait(15) == 0
    assert server.process.stdout.read() == ""  # nothing after the handshake line
    log = server.log_file.read_text()
    assert "ready: serving" in log and TOKEN not in log and TOKEN not in server.stderr_file.read_text()
