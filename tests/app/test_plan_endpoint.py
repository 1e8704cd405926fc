"""POST /v1/engine/plan and EngineClient.plan: the plan of a hypothetical load, computed by the engine.

The real app and engine thread in this process (``ThreadServer``) with the scripted launcher, whose
hardware is a fixed 12 GiB-free CPU, so the numbers are exact.
"""

from __future__ import annotations

import json

import httpx
import pytest

from core.client import BadRequestError, EngineClient, NotSupportedError
from tests.app.scripted_engine import HARDWARE, scripted_launcher, write_model_folder
from tests.core.test_server_support import TOKEN, ThreadServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_model_folder(tmp_path_factory.mktemp("m") / "scripted-reasoner")


@pytest.fixture(scope="module")
def client(model_dir):
    server = ThreadServer(scripted_launcher(0.0), model_dir, context_tokens=1024)
    with EngineClient(server.base_url, TOKEN, timeout=30) as c:
        yield c
    server.stop()


def test_the_plan_of_another_precision_without_loading_it(client):
    result = client.plan(precision="int4")
    assert result.fits and result.precision == "int4" and result.plan["requested"] == "int4"
    assert result.budget_bytes == HARDWARE.free_memory_bytes
    assert 0 < result.needs_bytes == result.plan["estimate"]["total_bytes"] < result.budget_bytes
    assert result.plan["context_tokens"] == 1024  # the current context: only the precision changed
    assert result.plan["reasons"] and result.plan["summary"].startswith("int4 on cpu")
    assert client.status().model.precision == "fp32"  # nothing was loaded


def test_a_plan_that_does_not_fit_says_why(client, tmp_path):
    big = tmp_path / "big"
    write_model_folder(big)
    config = json.loads((big / "config.json").read_text())
    config.update(hidden_size=8192, intermediate_size=29568, num_hidden_layers=80, num_attention_heads=64,
                  num_key_value_heads=8)
    (big / "config.json").write_text(json.dumps(config))
    result = client.plan(model=str(big), precision="fp32")
    assert not result.fits and result.plan is None
    assert result.needs_bytes > result.budget_bytes and "does not fit" in result.message


def test_a_context_beyond_the_model_is_refused_with_the_limit(client):
    result = client.plan(context=100_000)
    assert not result.fits and "4,096" in result.message


def test_a_folder_that_is_not_a_model_is_a_400(client, tmp_path):
    with pytest.raises(BadRequestError) as err:
        client.plan(model=str(tmp_path / "missing"))
    assert err.value.param == "model"
    with pytest.raises(BadRequestError) as err:
        client.plan(model=str(tmp_path))  # a folder, but no config.json
    assert "config.json" in err.value.message


def test_other_servers_say_not_supported():
    transport = httpx.MockTransport(lambda request: httpx.Response(404, json={"detail": "Not Found"}))
    with EngineClient("http://vllm.example:8000/v1", "k", transport=transport) as other:
        with pytest.raises(NotSupportedError):
            other.plan(precision="int8")
