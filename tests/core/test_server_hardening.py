"""The engine under attack (issue 27): a runaway chat template or a huge prompt never holds up the engine
thread, one failing request never fails the others, ``/health`` says when the engine thread is stuck, and
client mistakes are 4xx naming the parameter."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

import core.engine.engine as engine_module
from core.chat_template import TemplateLimits
from core.tokenizer import Tokenizer
from tests.checkpoints import R1_TOKENIZER
from tests.core.test_server_support import TOKEN, ThreadServer, chain_for, loop_chain, scripted_launcher

pytestmark = pytest.mark.timeout(90)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HI = [{"role": "user", "content": "What is 2+2?"}]
SLOW_TEMPLATE = ("{% for m in messages %}{% for a in m['content'] %}{% for b in m['content'] %}{% endfor %}"
                 "{% endfor %}<｜User｜>{{ m['content'] }}{% endfor %}<｜Assistant｜>")


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_dir(R1_TOKENIZER)


@pytest.fixture(scope="module")
def server(tokenizer, tmp_path_factory):
    srv = ThreadServer(scripted_launcher(chain_for(tokenizer, "Adding them gives four.", "It is 4!"), delay_s=0.005),
                       tmp_path_factory.mktemp("hardening"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def looper(tokenizer, tmp_path_factory):
    srv = ThreadServer(scripted_launcher(loop_chain(tokenizer), delay_s=0.005), tmp_path_factory.mktemp("looper"))
    yield srv
    srv.stop()


def post(srv: ThreadServer, path: str, body: Any = None, raw: bytes | None = None, timeout: float = 60) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body)
    return httpx.post(srv.base_url + path, content=content, timeout=timeout,
                      headers={**AUTH, "Content-Type": "application/json"})


def chat(srv: ThreadServer, **fields: Any) -> httpx.Response:
    return post(srv, "/v1/chat/completions", {"messages": HI, **fields})


def error(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]


# --- point 2 / point 1: rendering and encoding are off the engine thread -------------------------------------
def while_streaming(srv: ThreadServer, *bodies: dict[str, Any]) -> tuple[list[float], list[int], list[httpx.Response]]:
    """Send ``bodies`` while another chat streams: (the stream's gaps between tokens, /health statuses polled
    meanwhile, the responses)."""
    gaps, health = [], []
    with httpx.Client(base_url=srv.base_url, headers=AUTH, timeout=60) as client:
        with client.stream("POST", "/v1/chat/completions", json={"messages": [{"role": "user", "content": "go"}],
                                                                 "stream": True, "max_tokens": 3000}) as stream:
            lines = stream.iter_lines()
            next(lines)
            with ThreadPoolExecutor(len(bodies)) as pool:
                futures = [pool.submit(post, srv, "/v1/chat/completions", body) for body in bodies]
                last = time.monotonic()
                for count, _line in enumerate(lines):  # tokens keep coming while the others are prepared
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now
                    if count % 20 == 0:
                        health.append(client.get("/health").status_code)
                    if all(f.done() for f in futures):
                        break
                return gaps, health, [f.result() for f in futures]


def test_a_runaway_template_never_holds_up_health_or_other_streams(looper):
    tok = looper.service.model.engine.tokenizer
    template, compiled = tok._template_text, tok._template
    tok._template_text, tok._template, tok.request_limits = SLOW_TEMPLATE, None, TemplateLimits(time_s=1.5)
    try:
        gaps, health, (slow,) = while_streaming(looper, {"messages": [{"role": "user", "content": "x" * 60_000}]})
    finally:
        tok._template_text, tok._template, tok.request_limits = template, compiled, TemplateLimits()
    assert max(gaps) < 1.0 and len(gaps) > 20 and set(health) == {200}
    assert slow.status_code == 400 and "exceeded its limits" in error(slow)["message"]


def test_a_7_mb_prompt_never_holds_up_health_or_other_streams(looper):
    gaps, health, (huge,) = while_streaming(looper, {"messages": [{"role": "user", "content": "word " * 1_400_000}]})
    assert max(gaps) < 1.0 and set(health) == {200}
    assert huge.status_code == 400 and error(huge)["code"] == "context_length_exceeded"
    assert "at least" in error(huge)["message"] and error(huge)["context_tokens"] == 4096


def test_a_load_after_a_runaway_render_completes(server):
    response = post(server, "/v1/engine/load", {"precision": "fp32"})
    assert response.status_code == 200 and '"event":"ready"' in response.text
    assert chat(server).status_code == 200


# --- point 4: one failing request, the others go on -----------------------------------------------------------
def test_a_top_p_below_float32s_range_keeps_the_most_likely_token(server):
    response = chat(server, temperature=1.0, top_p=1e-300)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "It is 4!"


def test_a_request_whose_sampling_fails_fails_alone(server, monkeypatch):
    real = engine_module.sample_batch

    def failing(logits, params, generators, histories=None):
        if any(p.top_k == 7 for p in params):  # the marked request's sampling breaks
            raise IndexError("injected sampling failure")
        return real(logits, params, generators, histories)

    monkeypatch.setattr(engine_module, "sample_batch", failing)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(chat, server, **({"top_k": 7, "temperature": 1.0} if i == 3 else {}))
                   for i in range(8)]
        responses = [f.result() for f in futures]
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 7 and statuses[3] == 500
    assert "injected sampling failure" in error(responses[3])["message"]
    assert all(r.json()["choices"][0]["message"]["content"] == "It is 4!" for r in responses if r.status_code == 200)


def test_a_failing_stream_ends_with_its_own_error_chunk(server, monkeypatch):
    real = engine_module.sample_batch
    calls = {"n": 0}

    def failing(logits, params, generators, histories=None):
        calls["n"] += 1
        if any(p.top_k == 7 for p in params) and calls["n"] > 3:
            raise IndexError("injected mid-stream failure")
        return real(logits, params, generators, histories)

    monkeypatch.setattr(engine_module, "sample_batch", failing)
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=60) as client:
        with client.stream("POST", "/v1/chat/completions",
                           json={"messages": HI, "stream": True, "top_k": 7, "temperature": 1.0}) as stream:
            frames = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]" and "injected mid-stream failure" in frames[-2]
    assert chat(server).status_code == 200


# --- point 5: /health measures progress ------------------------------------------------------------------------
def test_health_is_503_engine_stalled_while_the_engine_thread_is_stuck(server):
    from app.engine_process import _probe_health

    gate = threading.Event()
    runner = server.service.model.engine.runner
    liveness = server.service.liveness
    limit = liveness.stall_after_s
    real_forward = runner._forward

    def stuck(*args: Any, **kwargs: Any):
        gate.wait(30)
        return real_forward(*args, **kwargs)

    runner._forward = stuck
    liveness.stall_after_s = 0.5
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(chat, server)
            deadline = time.monotonic() + 20
            while (response := httpx.get(server.base_url + "/health", headers=AUTH)).status_code == 200:
                assert time.monotonic() < deadline, "health never noticed the stuck engine thread"
                time.sleep(0.1)
            assert response.status_code == 503 and error(response)["code"] == "engine_stalled"
            assert "no progress" in error(response)["message"] and "generating" in error(response)["message"]
            assert "no progress" in _probe_health(server.base_url, TOKEN)  # the window's watchdog sees it
            gate.set()
            assert pending.result().status_code == 200
        assert httpx.get(server.base_url + "/health", headers=AUTH).status_code == 200
        assert _probe_health(server.base_url, TOKEN) is None
    finally:
        gate.set()
        runner._forward = real_forward
        liveness.stall_after_s = limit


# --- point 10: client errors are 4xx naming the parameter -------------------------------------------------
@pytest.mark.parametrize("raw, param", [
    (b'{"messages": [{"role": "user", "content": "\\ud800"}]}', "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "a\\udfffb"}]}]}',
     "messages[0].content[0].text"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "stop": ["\\ud83d"]}', "stop[0]"),
])
def test_a_lone_surrogate_is_a_400_naming_where(server, raw, param):
    response = post(server, "/v1/chat/completions", raw=raw)
    assert response.status_code == 400 and error(response)["param"] == param and "surrogate" in error(response)["message"]


def test_a_model_name_with_a_nul_is_a_404_naming_model(server):
    response = chat(server, model="\u0000")
    assert response.status_code == 404 and error(response)["param"] == "model"


@pytest.mark.parametrize("path", ["/v1/engine/plan", "/v1/engine/load"])
@pytest.mark.parametrize("model", ["a" * 5000, "\u0000", "models/\u0000/x"])
def test_an_impossible_model_path_is_a_400_naming_model(server, path, model):
    response = post(server, path, {"model": model})
    assert response.status_code == 400 and error(response)["param"] == "model"
    assert error(response)["type"] == "invalid_request_error" and len(error(response)["message"]) < 400


@pytest.mark.parametrize("raw", [b'{"messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                                 b'{"a": ' * 5000 + b"1" + b"}" * 5000, b'{"messages": [', b"\xff\xfe{"])
def test_malformed_json_is_an_invalid_request_error(server, raw):
    response = post(server, "/v1/chat/completions", raw=raw)
    assert response.status_code == 400 and error(response)["type"] == "invalid_request_error"
    assert error(response)["code"] == "invalid_json"


def test_an_empty_body_says_so(server):
    response = post(server, "/v1/chat/completions", raw=b"")
    assert response.status_code == 400 and "no body" in error(response)["message"]


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_a_seed_out_of_range_is_a_400_naming_seed(server, seed):
    response = chat(server, seed=seed, temperature=1.0)
    assert response.status_code == 400 and error(response)["param"] == "seed"


def test_a_seed_at_the_edge_of_the_range_is_served(server):
    assert chat(server, seed=2**64 - 1, temperature=1.0).status_code == 200


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_over_what_the_context_leaves_is_a_400_naming_both_numbers(server, field):
    context = server.service.model.context_tokens
    response = chat(server, **{field: context})
    body = error(response)
    assert response.status_code == 400 and body["param"] == field and body["code"] == "context_length_exceeded"
    assert f"{context:,}" in body["message"] and f"{field}={context:,}" in body["message"]
    assert body["prompt_tokens"] > 0 and body["max_tokens"] == context and body["context_tokens"] == context
    assert chat(server, **{field: 16}).status_code == 200  # what fits is served, and leaving it out too
    assert chat(server).status_code == 200


def test_the_server_listens_on_both_loopback_addresses(server):
    import uvicorn

    from core.server.app import AppSettings, create_app
    from core.server.lifecycle import bind_sockets

    sockets = bind_sockets(0)
    try:
        if len(sockets) == 1:
            pytest.skip("this machine has no IPv6 loopback")
        port = sockets[0].getsockname()[1]
        assert sockets[1].getsockname()[:2] == ("::1", port)  # [::1] is accepted as Host: it is served too
        app = create_app(server.service, AppSettings(token=TOKEN, port=port))
        uv = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
        thread = threading.Thread(target=uv.run, kwargs={"sockets": sockets}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not uv.started and time.monotonic() < deadline:
            time.sleep(0.01)
        for base in (f"http://127.0.0.1:{port}", f"http://[::1]:{port}"):
            assert httpx.get(base + "/health", headers=AUTH).status_code == 200
        uv.should_exit = True
        thread.join(10)
    finally:
        for sock in sockets:
            sock.close()


def test_liveness_counts_only_busy_time_and_allows_for_slow_steps_and_loads():
    from core.server.liveness import Liveness

    live = Liveness(stall_after_s=10, load_stall_after_s=100)
    now = time.monotonic()
    assert live.stalled(now + 1000) is None  # idle: waiting for work is not being stuck
    live.busy("generating")
    assert live.stalled(now + 5) is None and live.stalled(now + 11).activity == "generating"
    live.step_took(3.0)  # a slow machine: ten times its slowest step is allowed
    assert live.stalled(time.monotonic() + 25) is None and live.stalled(time.monotonic() + 31) is not None
    live.busy("loading a model")
    assert live.stalled(time.monotonic() + 90) is None and live.stalled(time.monotonic() + 101) is not None
    live.idle()
    assert live.stalled(time.monotonic() + 1000) is None
