"""Killing the engine (SIGKILL) mid-answer: notice, automatic restart, partial answer kept as interrupted."""

from __future__ import annotations

import os
import signal

import pytest

from tests.app.scripted_engine import ANSWER, write_model_folder
from tests.app.window_support import (ENDLESS_QUESTION, ask_and_wait, close_window, make_window, wait_ready,
                                      wait_until)

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]


def test_a_killed_engine_is_restarted_and_the_partial_answer_kept(qapp, tmp_path):
    window = make_window(tmp_path, write_model_folder(tmp_path / "scripted-reasoner"))
    crashes: list[str] = []
    window.engine.crashed.connect(crashes.append)
    try:
        wait_ready(window)
        window.prompt.set_text(ENDLESS_QUESTION)
        window.prompt.submit()
        message_id = window.session.state.message_id
        wait_until(lambda: len(window.view.trace(message_id).steps) >= 2, 30, "a few steps")
        pid = window.engine.pid
        os.kill(pid, signal.SIGKILL)

        wait_until(lambda: not window.session.busy, 10, "the stream to end")
        shown = window.view.trace(message_id)
        assert shown.status == "interrupted" and "Checking the report" in shown.reasoning
        stored = window.store.get_message(message_id)
        assert stored.status == "interrupted" and stored.reasoning.strip()
        assert shown.reasoning.startswith(stored.reasoning[:200])  # what was shown is what was committed
        assert window.shown_errors == []  # a crash is a notice, not an error dialog

        wait_until(lambda: bool(crashes), 5, "the crash to be noticed")
        assert "killed by SIGKILL" in crashes[0]
        assert "killed by SIGKILL" in window.notice.text and "Restarting" in window.notice.text
        wait_ready(window, 60)
        assert window.engine.pid != pid and window.engine.state == "ready"
        assert "restarted" in window.notice.text

        new_id = ask_and_wait(window)  # the chat stays usable after the restart
        assert window.store.get_message(new_id).status == "complete"
        assert window.view.trace(new_id).answer.strip() == ANSWER
        assert window.store.get_message(message_id).status == "interrupted"
    finally:
        close_window(window)
