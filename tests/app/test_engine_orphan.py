"""The window killed with ``kill -9`` leaves no engine behind (issue 27, point 3): a real window process
(``python -m app``, offscreen) with its real engine on the bundled model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core.api.engine_pids import process_started
from core.paths import default_model_dir
from tests.app.window_support import REPO

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(os.name != "posix", reason="kill -9"),
              pytest.mark.skipif(default_model_dir() is None, reason="the bundled model is not installed")]


def test_killing_the_window_stops_its_engine(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PONDER_DATA_DIR": str(tmp_path / "data"),
           "PONDER_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    pid_files = tmp_path / "cache" / "engines"
    window = subprocess.Popen([sys.executable, "-m", "app"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    engine = None
    try:
        deadline = time.monotonic() + 90
        while engine is None:  # the engine writes its pid file once it runs
            assert window.poll() is None, "the window exited"
            assert time.monotonic() < deadline, "the engine did not start"
            files = list(pid_files.glob("*.json")) if pid_files.is_dir() else []
            engine = json.loads(files[0].read_text())["pid"] if files else None
            time.sleep(0.1)
        assert process_started(engine) is not None
        window.send_signal(signal.SIGKILL)
        window.wait()
        deadline = time.monotonic() + 5
        while process_started(engine) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_started(engine) is None, "the engine outlived its window by more than 5 s"
        assert not list(pid_files.glob("*.json"))  # it removed its own pid file on the way out
    finally:
        if window.poll() is None:
            window.kill()
            window.wait()
        if engine is not None and process_started(engine) is not None:
            os.kill(engine, signal.SIGKILL)
