"""Helpers for the server tests (no tests here): the engine as a real subprocess, or in a thread.

- ``RemoteServer``: ``python -m core.server --port 0`` as the GUI starts it (token in the environment),
  the handshake line read with a timeout, and terminate -> wait -> kill at the end (vLLM's
  ``RemoteOpenAIServer`` lifecycle).
- ``ThreadServer``: the same app and engine thread inside the test process, on a real loopback socket,
  with an injected launcher, for faults that need control over the engine (a blocked load, a failing
  step).
- ``ChainModel``: a scripted model whose next token depends only on the current one, so a chat's output
  is exact whatever the prompt length: ``<｜Assistant｜>`` -> ``<think>`` -> reasoning -> ``</think>`` ->
  answer -> eos.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch
import uvicorn
from torch import Tensor, nn

from core.engine.engine import Engine, EngineConfig
from core.engine.launch import Launched, LaunchOptions
from core.engine.repetition import MAX_PERIOD
from core.engine.speculative import SpeculationConfig
from core.tokenizer import Tokenizer
from core.hardware import HardwareInfo
from core.model_config import ModelConfig
from core.models.loader import LoadedModel
from core.precision import plan
from core.server.app import AppSettings, create_app
from core.server.lifecycle import bind_socket
from core.server.serving import EngineService
from tests.checkpoints import R1_TOKENIZER, random_checkpoint, tiny_config

TOKEN = "test-token-0123456789-abcdefghij"
VOCAB = 152064
ASSISTANT, THINK, END_THINK, EOS = 151645, 151648, 151649, 151643
REPO = Path(__file__).resolve().parents[2]


def tiny_model(path: Path, **overrides: Any) -> Path:
    """A random qwen2 with the real R1 tokenizer; generation_config's sampling is dropped (greedy default)."""
    random_checkpoint(path, "qwen2", vocab_size=VOCAB, tokenizer=R1_TOKENIZER, hidden_size=64,
                      max_position_embeddings=2048, **overrides)
    (path / "generation_config.json").write_text(json.dumps({"bos_token_id": 151646, "eos_token_id": EOS}))
    return path


class RemoteServer:
    def __init__(self, model_dir: Path, work_dir: Path, *args: str, token: str | None = TOKEN,
                 module: tuple[str, ...] = ("-m", "core.server"), stdin_text: str | None = None,
                 wait_ready: bool = True, startup_timeout_s: float = 120.0) -> None:
        self.log_file = work_dir / "engine.log"
        self.stderr_file = work_dir / "stderr.txt"
        env = {**os.environ, "PONDER_CACHE_DIR": str(work_dir / "cache")}
        env.pop("PONDER_API_TOKEN", None)
        if token is not None:
            env["PONDER_API_TOKEN"] = token
        self.argv = [sys.executable, *module, "--model", str(model_dir), "--port", "0", "--threads", "1",
                     "--log-file", str(self.log_file), *args]
        self._stderr = open(self.stderr_file, "w")
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._stderr, env=env, cwd=REPO,
                                        stdin=subprocess.DEVNULL if stdin_text is None else subprocess.PIPE, text=True)
        if stdin_text is not None:
            self.process.stdin.write(stdin_text)  # type: ignore[union-attr]
            self.process.stdin.close()  # type: ignore[union-attr]
        self.token = token
        self.handshake = self.read_handshake(startup_timeout_s) if wait_ready else {}

    def read_handshake(self, timeout_s: float, expect: str = "ready") -> dict[str, Any]:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()  # type: ignore
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"no handshake within {timeout_s} s; stderr:\n{self.stderr_file.read_text()[-3000:]}")
        if not line:
            self.stop()
            raise RuntimeError(f"the server exited unexpectedly; stderr:\n{self.stderr_file.read_text()[-3000:]}")
        handshake = json.loads(line)
        assert handshake["event"] == expect, handshake
        return handshake

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.handshake['port']}"

    def stop(self, timeout_s: float = 8.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()
        return self.process.returncode


# --- in-process server with a scripted engine --------------------------------------------------------
class ChainModel(nn.Module):
    """Next token = ``chain[current token]`` (eos when unknown); optional delay and injected failures."""

    def __init__(self, config: ModelConfig, chain: dict[int, int], delay_s: float = 0.0) -> None:
        super().__init__()
        self.config, self.chain, self.delay_s = config, chain, delay_s
        self.fail_next = threading.Event()

    def forward(self, tokens: Tensor, positions: Tensor, cache=None, logits_at: Tensor | None = None) -> Tensor:
        if self.fail_next.is_set():
            self.fail_next.clear()
            raise RuntimeError("injected fault")
        if self.delay_s:
            time.sleep(self.delay_s)
        toks = tokens[0].tolist()
        rows = range(len(toks)) if logits_at is None else logits_at.tolist()
        logits = torch.zeros(len(rows), self.config.vocab_size)
        for i, r in enumerate(rows):
            logits[i, self.chain.get(toks[r], EOS)] = 100.0
        return logits


def chain_for(tokenizer: Tokenizer, reasoning: str, answer: str) -> dict[int, int]:
    """The chain that makes the model answer ``<think>reasoning</think>answer`` after ``<｜Assistant｜>``."""
    ids = [ASSISTANT, THINK, *tokenizer.encode(reasoning), END_THINK, *tokenizer.encode(answer), EOS]
    assert len(set(ids)) == len(ids), "chain tokens must be distinct"
    return dict(zip(ids, ids[1:]))


def loop_chain(tokenizer: Tokenizer) -> dict[int, int]:
    """Never-ending output the repetition guard never calls a loop: a line of words longer than the longest span
    it watches, over and over (``<｜Assistant｜>`` -> " week", " prop", " All", ..., " week", ...)."""
    words = (t for t in range(2000, VOCAB) if (text := tokenizer.decode([t]))[:1] == " " and text[1:].isalpha())
    line = [next(words) for _ in range(2 * MAX_PERIOD)]
    return {ASSISTANT: line[0], **dict(zip(line, line[1:] + line[:1]))}


def scripted_launcher(chain: dict[int, int], delay_s: float = 0.0,
                      gate: Callable[[LaunchOptions], None] | None = None) -> Callable[..., Launched]:
    """A launcher building a ChainModel engine; ``gate(options)`` runs first (to block or fail a load)."""
    tokenizer = Tokenizer.from_dir(R1_TOKENIZER)
    config = ModelConfig.from_hf(tiny_config("qwen2", vocab_size=VOCAB, max_position_embeddings=4096))
    hw = HardwareInfo(device="cpu", device_name="test CPU", total_memory_bytes=64 * 2**30,
                      free_memory_bytes=64 * 2**30, cpu_name="test CPU")

    def launch(options: LaunchOptions, on_progress: Callable[[str, float], None]) -> Launched:
        on_progress("planning", 0.0)
        if gate is not None:
            gate(options)
        precision = "fp32" if options.precision == "auto" else options.precision
        the_plan = plan(config, hw, options.context_tokens or 4096, precision, options.max_sequences)
        for i in range(1, 5):
            on_progress("loading", i / 4)
        model = ChainModel(config, chain, delay_s)
        loaded = LoadedModel(model, config, precision, torch.float32, torch.device("cpu"), 0.0, 0)  # type: ignore
        engine = Engine(loaded, tokenizer, EngineConfig(max_sequences=options.max_sequences,
                                                        context_tokens=the_plan.context_tokens,
                                                        max_waiting=options.max_waiting,
                                                        # one token per pass, ``delay_s`` each: the tests time
                                                        # requests by it (a looping chain would be drafted whole)
                                                        speculation=SpeculationConfig(enabled=False)))
        return Launched(engine, the_plan, hw, loaded, [])

    return launch


class ThreadServer:
    """The real app + engine thread on a loopback socket, served by uvicorn in a background thread."""

    def __init__(self, launcher: Callable[..., Launched], model_dir: Path, **options: Any) -> None:
        self.sock = bind_socket(0)
        self.port = self.sock.getsockname()[1]
        self.service = EngineService(replace(LaunchOptions(model_dir), **{"max_sequences": 4, **options}), launcher)
        self.settings = AppSettings(token=TOKEN, port=self.port, version="test")
        config = uvicorn.Config(create_app(self.service, self.settings), log_config=None, access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.service.start()
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        self.service.first_load.result(timeout=60)
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def model(self) -> ChainModel:
        return self.service.model.engine.loaded.model  # type: ignore[union-attr, return-value]

    def stop(self) -> None:
        self.settings.shutting_down = True
        self.server.should_exit = True
        self.thread.join(10)
        self.service.stop()
        self.sock.close()
