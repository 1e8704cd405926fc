"""A long prompt is visible while it is read, and Stop reaches it between two chunks (issue 28, points 2 and 3):
the real server as a subprocess, the real engine on the bundled model, the real client over loopback.

``--step-tokens 32`` makes the bundled model (4.5M parameters, ~a few ms per pass) read a 3,000-token prompt
in about a hundred passes, so a cancel can land in the middle of it the way it does for a large model whose
every 512-token pass takes seconds.
"""

from __future__ import annotations

import time

import openai
import pytest

from core.client import EngineClient
from core.paths import default_model_dir
from tests.core.test_server_support import TOKEN, RemoteServer

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(default_model_dir() is None, reason="the bundled model is not installed")]
STEP_TOKENS = 32


def long_messages(items: int = 250) -> list[dict[str, str]]:
    """A made-up inventory of about 13 tokens per item (3,200 tokens for 250), and a question about it."""
    lines = [f"Crate {i} holds {i * 7 % 90 + 3} lamps." for i in range(items)]
    return [{"role": "user", "content": "Inventory\n\n" + " ".join(lines) + "\n\nQuestion: How many lamps does "
                                        "crate 17 hold?"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = RemoteServer(default_model_dir(), tmp_path_factory.mktemp("server"), "--context", "4096",
                       "--step-tokens", str(STEP_TOKENS), "--max-sequences", "2")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with EngineClient(server.base_url, TOKEN, timeout=60) as c:
        yield c


def test_the_prompt_reports_its_progress_before_the_first_token(client):
    deltas = list(client.chat_stream(long_messages(), max_tokens=4))
    first_text = next(i for i, d in enumerate(deltas) if d.reasoning or d.answer)
    progress = [d.prompt for d in deltas if d.prompt is not None]
    assert len(progress) > 10 and all(d.prompt is None for d in deltas[first_text:])
    done = [p.processed for p in progress]
    assert done == sorted(set(done)) and all(b - a <= STEP_TOKENS for a, b in zip(done, done[1:]))
    usage = next(d.usage for d in deltas if d.usage is not None)
    assert {p.total for p in progress} == {usage.prompt_tokens} and done[-1] < usage.prompt_tokens
    timed = [p for p in progress if p.tokens_per_s]
    assert timed and all(p.eta_s is not None and p.time_ms > 0 for p in timed)


def test_return_progress_false_and_plain_openai_clients(server, client):
    quiet = list(client.chat_stream(long_messages(80), max_tokens=2, return_progress=False))
    assert not any(d.prompt for d in quiet) and any(d.reasoning or d.answer for d in quiet)
    oai = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=TOKEN, max_retries=0)
    chunks = list(oai.chat.completions.create(model="default", messages=long_messages(80), max_tokens=2,
                                               stream=True))
    assert any((c.model_extra or {}).get("prompt_progress") for c in chunks)  # an extra field, ignored by it
    assert all(len(c.choices) == 1 for c in chunks)  # an empty delta, never an empty choices list


def test_cancel_during_prefill_ends_the_stream_within_a_second(client):
    stream = client.chat_stream(long_messages(), max_tokens=64)
    cancelled_at, last_progress, finish = None, None, None
    for delta in stream:
        if delta.prompt is not None:
            last_progress = delta.prompt
            if cancelled_at is None and delta.prompt.processed >= 4 * STEP_TOKENS:
                cancelled_at = time.monotonic()
                client.cancel(delta.request_id)
        assert not (delta.reasoning or delta.answer), "the answer started: the cancel came too late"
        finish = delta.finish_reason or finish
    elapsed = time.monotonic() - cancelled_at
    assert finish == "abort" and elapsed < 1.0, (finish, elapsed)
    assert last_progress.processed < last_progress.total  # stopped in the middle of the prompt
    assert client.status().queue.running == 0  # its slot is free
