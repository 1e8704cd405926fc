"""Helpers for the main-window tests (no tests here): a window on a real engine subprocess.

The engine is ``python -m tests.app.scripted_engine``: the real server, started by the window's own
``EngineProcess`` exactly as ``python -m core.server`` is (token in the environment, handshake line,
terminate/kill), with a scripted model that writes ``<think>`` steps then an answer.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QLabel
from shiboken6 import isValid

from app.main_window import MainWindow
from core.store import Store

REPO = Path(__file__).resolve().parents[2]
QUESTION = "What is the total of the two invoices?"
ENDLESS_QUESTION = "Check the report forever, please."


def engine_options(model_dir: Path, token_delay_s: float = 0.01, context: int = 2048) -> dict[str, Any]:
    return dict(model_dir=model_dir, cwd=REPO,
                command=[sys.executable, "-m", "tests.app.scripted_engine", "--token-delay", str(token_delay_s)],
                extra_args=["--threads", "1", "--context", str(context), "--max-sequences", "2"])


def real_engine_options(model_dir: Path, *extra_args: str) -> dict[str, Any]:
    """The real engine (``python -m core.server``) on ``model_dir``, one thread, the given extra options."""
    return dict(model_dir=model_dir, cwd=REPO, extra_args=["--threads", "1", "--max-sequences", "2", *extra_args])


def make_real_window(work: Path, model_dir: Path, *extra_args: str) -> MainWindow:
    """A window on ``work/ponder.db`` whose engine is the real one on ``model_dir``, started."""
    store = Store(work / "ponder.db")
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(store, settings=settings, confirm_deletes=False,
                        engine_options=real_engine_options(model_dir, *extra_args))
    window.show()
    window.start()
    return window


def make_window(work: Path, model_dir: Path | None, start: bool = True, **options: Any) -> MainWindow:
    """A window on ``work/ponder.db`` with settings in ``work/settings.ini``; the engine started if asked."""
    store = Store(work / "ponder.db")
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(store, settings=settings, confirm_deletes=False,
                        engine_options=engine_options(model_dir, **options) if model_dir else None)
    window.show()
    if start:
        window.start()
    return window


def close_window(window: MainWindow) -> None:
    if not isValid(window):
        return
    window.close()
    window.store.close()
    window.deleteLater()
    QApplication.processEvents()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    """Process Qt events until ``predicate()`` holds; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        QApplication.processEvents()
        time.sleep(0.005)


def wait_ready(window: MainWindow, timeout_s: float = 60.0) -> None:
    wait_until(lambda: window.link.client is not None and window.prompt.state == "ready", timeout_s,
               f"the engine to be ready (status line: {window.engine_state.text()!r})")


def ask_and_wait(window: MainWindow, question: str = QUESTION, timeout_s: float = 60.0) -> int:
    """Ask through the prompt box (Ctrl+Enter path); return the assistant message id once it finished."""
    window.prompt.set_text(question)
    window.prompt.submit()
    wait_until(lambda: window.session is not None and window.session.busy, 5, "the answer to start")
    message_id = window.session.state.message_id
    wait_until(lambda: not window.session.busy, timeout_s, "the answer to finish")
    return message_id


def label(window: MainWindow, name: str) -> str:
    widget = window.findChild(QLabel, name)
    assert widget is not None, f"no QLabel named {name}"
    return widget.text()
