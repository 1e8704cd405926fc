"""The window's watchdog restarts an engine that answers but makes no progress, and says why (issue 27, 5)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import app.engine_process as engine_process
from app.engine_process import EngineProcess
from app.tasks import TaskRunner
from tests.app.window_support import wait_until

pytestmark = pytest.mark.timeout(30)
STALL = "the engine thread has made no progress for 135 s while generating (more than the 120 s that can take)"


def test_a_stalled_engine_is_restarted_with_the_reason(qapp, monkeypatch, tmp_path):
    answers = iter([None, STALL, STALL, STALL])
    monkeypatch.setattr(engine_process, "_probe_health", lambda url, token: next(answers))
    tasks = TaskRunner()
    engine = EngineProcess(tasks, tmp_path)
    spawned: list[bool] = []
    monkeypatch.setattr(engine, "_spawn", lambda: spawned.append(engine._restarting))
    crashes: list[str] = []
    engine.crashed.connect(crashes.append)
    engine._sub = SimpleNamespace(base_url="http://127.0.0.1:1", token="t", alive=lambda: True)
    engine.state = "ready"
    for _ in range(4):  # one check at a time, as the health timer runs them
        engine._check_health()
        wait_until(lambda: engine._health_task is None, 10, "the health check")
    assert spawned == [True] and len(crashes) == 1
    assert "wedged" in crashes[0] and "no progress for 135 s" in crashes[0] and "3 health checks" in crashes[0]
    tasks.shutdown()


def test_a_loading_engine_is_alive_and_a_silent_one_is_not(qapp, monkeypatch, tmp_path):
    from core.client import EngineClient, EngineNotRunningError, LoadingError

    def health(self):
        raise behaviour.pop(0)

    behaviour = [LoadingError("a model is loading", status=503), EngineNotRunningError("connection refused")]
    monkeypatch.setattr(EngineClient, "health", health)
    assert engine_process._probe_health("http://127.0.0.1:1", "t") is None
    assert "does not answer" in engine_process._probe_health("http://127.0.0.1:1", "t")
