"""Starting Ponder: ``ponder`` opens the window, subcommands run the CLI or the engine, and the
states before a model serves (no model yet, a folder that fails to load) are shown, not crashed on."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest

import app.engine_process as engine_process
from core.cli import main
from core.frozen import guard_streams
from tests.app.scripted_engine import write_model_folder
from tests.app.window_support import REPO, close_window, make_window, wait_until

pytestmark = pytest.mark.timeout(90)


def test_subcommands_run_the_cli_and_the_engine(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["engine", "--help"])
    assert exit_.value.code == 0 and "--precision" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--help"])
    assert exit_.value.code == 0 and "--model" in capsys.readouterr().out


def test_missing_streams_of_a_windowed_app_are_replaced(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    guard_streams()
    assert sys.stdout is not None and sys.stdout.write("ok") == 2


def test_a_frozen_app_runs_the_bundles_engine_executable(monkeypatch, tmp_path):
    assert engine_process.engine_command() is None  # source checkout: python -m core.server
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "ponder"))
    assert engine_process.engine_command() == [str(tmp_path.resolve() / "ponder-engine")]  # its sibling


def test_no_model_yet_then_a_folder_that_fails_to_load(qapp, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_process, "bundled_model_dir", lambda: None)
    window = make_window(tmp_path, None)  # the bundled model is not there (it is being trained)
    try:
        assert window.engine.state == "no_model"
        assert "No model yet" in window.engine_state.text() and "Open a model folder" in window.notice.text
        assert window.prompt.state == "no_engine" and not window.prompt.send_button.isEnabled()
        assert window.shown_errors == []  # not an error: a state with a way out

        broken = write_model_folder(tmp_path / "no-weights")  # config and tokenizer, no safetensors
        window.open_model_folder(str(broken))  # the real engine (python -m core.server) tries it
        assert window.prompt.state == "loading"
        wait_until(lambda: window.engine.state == "failed", 60, "the load to fail")
        assert "Engine error" in window.engine_state.text()
        assert len(window.shown_errors) == 1
        problem = window.shown_errors[0].problem
        assert "no-weights" in problem.message and problem.details
        assert window.prompt.state == "no_engine"
    finally:
        close_window(window)


def test_ponder_opens_the_window_and_stops_cleanly_on_sigterm(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PONDER_DATA_DIR": str(tmp_path / "data"),
           "PONDER_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    log = tmp_path / "cache" / "logs" / "ponder-app.log"
    process = subprocess.Popen([sys.executable, "-m", "core.cli"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "Ponder started" in log.read_text()):
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the window did not open"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert "Ponder stopped" in log.read_text()
        assert (tmp_path / "data" / "ponder.db").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
