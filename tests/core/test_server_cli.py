"""Starting the engine as the GUI and as a person do: token sources, the handshake, ``ponder serve``."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from core.client import EngineClient
from tests.core.test_server_support import RemoteServer, tiny_model

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model"))


def test_token_from_stdin_is_used_and_not_echoed(model_dir, tmp_path):
    srv = RemoteServer(model_dir, tmp_path, "--token-stdin", "--precision", "fp32", token=None,
                       stdin_text="stdin-token-abcdefghijklmnop\n")
    try:
        assert "token" not in srv.handshake
        assert EngineClient(srv.base_url, "stdin-token-abcdefghijklmnop").health() == "ok"
        assert httpx.get(srv.base_url + "/health").status_code == 401
    finally:
        assert srv.stop() == 0
    assert "stdin-token-abcdefghijklmnop" not in srv.log_file.read_text()


def test_a_failed_first_load_is_an_error_handshake_and_exit_1(tmp_path):
    (tmp_path / "empty-model").mkdir()
    srv = RemoteServer(tmp_path / "empty-model", tmp_path, wait_ready=False)
    handshake = srv.read_handshake(60, expect="error")
    assert "config.json" in handshake["message"]
    assert srv.process.wait(30) == 1
    assert srv.process.stdout.read() == ""


def test_ponder_serve_prints_address_token_and_curl_for_humans(model_dir, tmp_path):
    srv = RemoteServer(model_dir, tmp_path, "--precision", "fp32", token=None, module=("-m", "core.cli", "serve"),
                       wait_ready=False)
    try:
        deadline = time.monotonic() + 60
        while "Press Ctrl+C" not in srv.stderr_file.read_text() and time.monotonic() < deadline:
            assert srv.process.poll() is None, srv.stderr_file.read_text()
            time.sleep(0.1)
        text = srv.stderr_file.read_text()
        url = re.search(r"API:\s+(http://127\.0\.0\.1:\d+)/v1", text).group(1)
        token = re.search(r"Token:\s+(\S+)", text).group(1)
        assert f"curl -N {url}/v1/chat/completions -H 'Authorization: Bearer {token}'" in text
        with EngineClient(url, token) as client:
            assert client.health() == "ok"
            assert client.chat([{"role": "user", "content": "Hi"}], max_tokens=2).usage.completion_tokens == 2
    finally:
        assert srv.stop() == 0
    assert srv.process.stdout.read() == ""  # for humans: nothing on stdout
