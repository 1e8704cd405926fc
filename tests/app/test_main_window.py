"""The main window end to end, against a real engine subprocess (scripted model) spawned by the window.

One window and one engine for the module (started once); the tests that reload the model, switch to a
remote server and close the window come last, in that order.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox
from shiboken6 import isValid

from app.dialogs.generation_dialog import GenerationDialog, GenerationSettings

from core.store import Store
from tests.app.scripted_engine import ANSWER, write_model_folder
from tests.app.window_support import (ENDLESS_QUESTION, QUESTION, ask_and_wait, close_window, label, make_window,
                                      wait_ready, wait_until)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_model_folder(tmp_path_factory.mktemp("models") / "scripted-reasoner")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="module")
def window(qapp, model_dir, work):
    w = make_window(work, model_dir)
    wait_ready(w)
    yield w
    close_window(w)


def test_the_window_opens_before_the_engine_is_ready(qapp, model_dir, tmp_path):
    w = make_window(tmp_path, model_dir, start=False)
    try:
        w.start()
        assert w.isVisible()
        assert w.prompt.state == "loading" and not w.prompt.send_button.isEnabled()
        assert "Starting" in w.engine_state.text()
    finally:
        close_window(w)
        assert w.engine.state == "stopped"


def test_a_question_streams_steps_then_the_answer(window):
    view = window.view
    seen: dict[str, int] = {}

    def on_trace(message_id: int, trace) -> None:  # a snapshot per delta
        previous = seen.get("last")
        seen["last"] = trace
        if previous is None:
            return
        if trace.reasoning != previous.reasoning:
            seen["steps_while_reasoning"] = len(trace.steps)
            seen["reasoning_after_answer"] = seen.get("reasoning_after_answer", 0) + ("steps_at_answer" in seen)
        if trace.answer and "steps_at_answer" not in seen:
            seen["steps_at_answer"] = len(trace.steps)
            seen["answer_chars_before"] = len(previous.answer)
        assert view.trace(message_id).tokens <= trace.tokens  # the view shows this snapshot or an earlier one

    assert window.ask("   ") is False  # nothing to ask: ignored
    window.prompt.set_text(QUESTION)
    assert window.prompt.send_button.isEnabled()
    QTest.keyClick(window.prompt.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    window.session.trace_updated.connect(on_trace)  # before the event loop delivers the first delta
    assert window.prompt.state == "streaming" and window.prompt.stop_button.isEnabled()
    message_id = window.session.state.message_id
    wait_until(lambda: not window.session.busy, 60, "the answer")

    assert seen["steps_while_reasoning"] >= 3  # steps appeared while tokens streamed
    assert seen["steps_at_answer"] >= 4 and seen["answer_chars_before"] == 0  # the answer came after </think>
    assert seen["reasoning_after_answer"] == 0
    message = view.trace(message_id)
    assert message.status == "complete" and message.answer.strip() == ANSWER
    assert [s.title for s in message.steps][:2] == ["The question asks for the total of the two invoices in the report.",
                                                     "The first invoice is 1,250 euros and the second is 730 euros."]
    stored = window.store.get_message(message_id)
    assert stored.status == "complete" and stored.content.strip() == ANSWER and "1,907" in stored.reasoning
    assert stored.stats["finish_reason"] == "stop" and stored.stats["ttft_s"] > 0
    assert stored.stats["tokens_per_s"] > 0 and stored.stats["prompt_tokens"] > 0 and "cached_tokens" in stored.stats
    assert len(stored.stats["step_tokens"]) == len(message.steps)  # the view's step timings are kept too
    assert window.prompt.state == "ready"
    assert window.chat_list.list.count() >= 1 and window.chat_list.list.item(0).text() == QUESTION


def test_the_stats_bar_follows_the_engine_and_the_answer(window):
    wait_until(lambda: label(window, "rss").startswith("RSS") and "—" not in label(window, "rss"), 10,
               "an engine event")
    assert "/" in label(window, "kv") and "running" in label(window, "queue")
    assert "tok/s" in label(window, "speed") and label(window, "tokens") != "0 tokens"
    assert "ms" in label(window, "ttft") or " s" in label(window, "ttft")
    assert "measured RSS" in window.model_panel.memory_label.text()


def test_the_event_loop_is_never_blocked_while_an_answer_streams(window, qapp):
    """The longest gap between 10 ms QTimer ticks stays under 100 ms.

    A gap counts as the GUI thread blocking only when that thread was busy for it (its own CPU time);
    on a shared 2-core CI machine the OS may deschedule the whole process for a tick, which is not a
    block by the app. Both are reported, so a real stall fails with its numbers.
    """
    gaps: list[tuple[float, float]] = []  # (wall gap, GUI-thread CPU time in the gap)
    last = [time.monotonic(), time.thread_time()]

    def tick() -> None:
        now, cpu = time.monotonic(), time.thread_time()
        gaps.append((now - last[0], cpu - last[1]))
        last[:] = [now, cpu]

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    window.prompt.set_text(QUESTION)
    window.prompt.submit()
    message_id = window.session.state.message_id
    last[:] = [time.monotonic(), time.thread_time()]
    timer.start()
    try:
        wait_until(lambda: not window.session.busy, 60, "the answer")
    finally:
        timer.stop()
    assert window.view.trace(message_id).status == "complete"
    assert len(gaps) > 50
    walls = sorted(g for g, _ in gaps)
    busiest = max(gaps, key=lambda g: g[1])
    report = (f"longest gap {walls[-1] * 1000:.0f} ms, p99 {walls[int(len(walls) * 0.99)] * 1000:.0f} ms, "
              f"busiest GUI-thread gap {busiest[1] * 1000:.0f} ms CPU in {busiest[0] * 1000:.0f} ms")
    assert busiest[1] < 0.100, f"the GUI thread blocked the event loop: {report}"
    assert walls[int(len(walls) * 0.99)] < 0.100, f"the event loop stalled: {report}"


def test_stop_keeps_the_partial_answer_and_frees_the_engine(window):
    window.prompt.set_text(ENDLESS_QUESTION)
    window.prompt.submit()
    message_id = window.session.state.message_id
    wait_until(lambda: len(window.view.trace(message_id).steps) >= 3, 30, "a few steps")
    QTest.keyClick(window, Qt.Key.Key_Escape)
    wait_until(lambda: not window.session.busy, 10, "the stop")
    assert window.view.trace(message_id).status == "stopped"
    stored = window.store.get_message(message_id)
    assert stored.status == "stopped" and stored.reasoning.count("Checking the report") >= 3
    client = window.link.client
    wait_until(lambda: client.status().queue.running == 0, 5, "the engine slot to be freed")
    kept = window.store.get_message(message_id).reasoning
    time.sleep(0.3)
    assert window.store.get_message(message_id).reasoning == kept  # nothing more is written after Stop
    assert window.prompt.state == "ready"


def test_regenerate_replaces_the_last_answer(window):
    before = [m.id for m in window.store.messages(window.session.chat_id)]
    window.regenerate()
    new_id = window.session.state.message_id
    wait_until(lambda: not window.session.busy, 60, "the regenerated answer")
    after = window.store.messages(window.session.chat_id)
    assert [m.id for m in after] == before[:-1] + [new_id]  # the stopped answer was replaced
    assert after[-1].status == "complete" and after[-1].content.strip() == ANSWER
    assert window.view.trace(new_id).status == "complete"


def _generation_dialog(window) -> GenerationDialog:
    window.show_generation_dialog()
    wait_until(lambda: window.findChild(GenerationDialog) is not None, 5, "the generation settings dialog")
    return window.findChild(GenerationDialog)


def _accept(dialog: GenerationDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    wait_until(lambda: not isValid(dialog) or not dialog.isVisible(), 5, "the dialog to close")


def test_generation_settings_reach_the_engine_and_are_remembered(window, work):
    window.new_chat()
    dialog = _generation_dialog(window)
    assert {box.text() for name, box in dialog.boxes.items() if name not in ("max_tokens", "seed")} == {"Model default"}
    assert dialog.boxes["max_tokens"].text() == "Until the context is full" and dialog.boxes["seed"].text() == "Random"
    dialog.boxes["temperature"].setValue(0.0)  # one step above "Model default": greedy, set explicitly
    dialog.boxes["max_tokens"].setValue(12)
    dialog.boxes["seed"].setValue(7)
    _accept(dialog)
    assert window.generation == GenerationSettings(temperature=0.0, max_tokens=12, seed=7)
    assert window.session.params == {"temperature": 0.0, "max_tokens": 12, "seed": 7}
    window.settings.sync()
    assert GenerationSettings.load(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)) == window.generation

    message_id = ask_and_wait(window)  # the engine stops at 12 tokens, inside the reasoning
    stored = window.store.get_message(message_id)
    assert stored.stats["completion_tokens"] == 12 and stored.content == "" and stored.reasoning
    assert window.view.trace(message_id).finish_reason == "length"

    dialog = _generation_dialog(window)
    assert dialog.settings() == window.generation  # the dialog opens on what is set
    dialog.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).click()  # resets the boxes only
    assert dialog.isVisible() and dialog.settings() == GenerationSettings()
    _accept(dialog)
    assert window.generation == GenerationSettings() and window.session.params == {}
    window.settings.sync()
    assert "generation" not in QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat).childGroups()
    message_id = ask_and_wait(window)
    assert window.store.get_message(message_id).content.strip() == ANSWER


def test_the_model_panel_estimates_before_loading_then_reloads(window):
    panel = window.model_panel
    assert "fp32" in panel.plan_label.text()
    panel.set_precision("int8")
    wait_until(lambda: "int8" in panel.estimate_label.text(), 10, "the int8 estimate")
    assert panel.estimate_label.text().startswith("fits: ") and " of 12.0 GiB" in panel.estimate_label.text()
    assert "fp32" in panel.plan_label.text()  # nothing loaded yet: the plan is still the loaded one
    panel.context_spin.setValue(1_000_000)
    wait_until(lambda: panel.estimate_label.text().startswith("does not fit"), 10, "a 'does not fit' estimate")
    assert "maximum" in panel.estimate_label.toolTip()
    panel.context_spin.setValue(0)
    wait_until(lambda: panel.estimate_label.text().startswith("fits"), 10, "the estimate again")

    QTest.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    assert window.prompt.state == "loading"
    wait_until(lambda: not window.models.loading and "int8" in panel.plan_label.text(), 30, "the reload")
    wait_until(lambda: "int8" in window.engine_state.text(), 10, "the status line")
    assert window.link.client.status().model.precision == "int8"
    assert window.engine.precision == "int8"  # a restart after a crash loads the same
    assert window.prompt.state == "ready"
    message_id = ask_and_wait(window)
    assert window.store.get_message(message_id).status == "complete"


def test_the_cpu_speed_is_measured_again_from_the_model_panel(window):
    panel = window.model_panel
    wait_until(lambda: panel.cpu_speed_button.isVisibleTo(panel), 10, "the button (the plan runs on a CPU)")
    QTest.mouseClick(panel.cpu_speed_button, Qt.MouseButton.LeftButton)
    assert panel.cpu_speed_button.text() == "Measuring…" and not panel.cpu_speed_button.isEnabled()
    wait_until(lambda: panel.cpu_speed_label.isVisibleTo(panel), 30, "what the measurement did")
    text = panel.cpu_speed_label.text()
    # a quiet CPU replaces the kept measurement; a busy one (a loaded test machine) is thrown away and says so
    assert text.startswith("Measured: bf16 is") or "busy while it was measured" in text, text
    assert panel.cpu_speed_button.isEnabled() and panel.cpu_speed_button.text() == "Measure CPU speed again"


def test_remote_mode_uses_a_server_given_by_address_and_key(window, model_dir, tmp_path):
    from tests.core.test_server_support import TOKEN, RemoteServer

    server = RemoteServer(model_dir, tmp_path, "--context", "2048", module=("-m", "tests.app.scripted_engine"))
    try:
        local = window.engine._spawned[-1].process if window.engine._spawned else None
        window.connect_remote(server.base_url + "/v1", TOKEN)
        wait_until(lambda: window.link.mode == "remote" and window.prompt.state == "ready", 20, "the remote server")
        assert local is None or local.wait(10) is not None  # the local engine was stopped
        assert server.base_url in window.engine_state.text()
        assert "not available on this server" in window.model_panel.plan_label.text()
        assert "not available on this server" in window.model_panel.estimate_label.text()
        assert not window.model_panel.load_button.isEnabled()
        message_id = ask_and_wait(window)
        message = window.view.trace(message_id)
        assert message.status == "complete" and len(message.steps) >= 4 and message.answer.strip() == ANSWER
    finally:
        server.stop()
    window.link.use_local()  # Engine ▸ Use local engine: a fresh local engine, the same chat
    wait_ready(window)
    assert window.link.mode == "local" and "Ready" in window.engine_state.text()
    assert window.model_panel.load_button.isEnabled()


def test_chats_survive_closing_the_window(window, work, qapp):
    chat_id = window.session.chat_id
    titles = [window.chat_list.list.item(i).text() for i in range(window.chat_list.list.count())]
    count = len(window.store.messages(chat_id))
    close_window(window)
    again = make_window(work, None, start=False)
    try:
        assert [again.chat_list.list.item(i).text() for i in range(again.chat_list.list.count())] == titles
        assert again.session is not None and again.session.chat_id == chat_id  # the last chat reopens
        messages = again.store.messages(chat_id)
        assert len(messages) == count and messages[-1].status == "complete"
        shown = again.view.trace(messages[-1].id)
        assert shown.answer.strip() == ANSWER and len(shown.steps) >= 4
        assert again.prompt.state == "no_engine"
    finally:
        close_window(again)
    with Store(work / "ponder.db") as store:
        assert [m.status for m in store.messages(chat_id)].count("streaming") == 0
