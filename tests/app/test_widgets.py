"""The window's smaller parts: prompt box states and keys, chat list, model card offline, dialogs, layering."""

from __future__ import annotations


import httpx
import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QTextDocument
from PySide6.QtTest import QSignalSpy, QTest

from app.dialogs.connect_dialog import ConnectDialog, normalise_url
from app.dialogs.error_dialog import ErrorDialog, explain
from app.widgets.chat_list import ChatListPanel
from app.widgets.model_panel import ModelPanel, estimate_text
from app.widgets.prompt_box import PromptBox
from core.client import AuthError, ContextLengthError, ServerError
from core.hub import HubError
from core.api.protocol import PlanResult
from core.store import Store


def test_the_prompt_box_sends_with_ctrl_enter_only_when_ready(qtbot):
    box = PromptBox()
    qtbot.addWidget(box)
    sent = QSignalSpy(box.submitted)
    box.set_text("What is the total?")
    QTest.keyClick(box.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert sent.count() == 0 and not box.send_button.isEnabled()  # no engine yet
    box.set_state("ready")
    assert box.send_button.isEnabled() and not box.stop_button.isEnabled()
    QTest.keyClick(box.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert sent.count() == 1 and sent.at(0) == ["What is the total?"] and box.text() == ""
    box.set_state("streaming")
    box.set_text("next question")
    assert not box.send_button.isEnabled() and box.stop_button.isEnabled()
    QTest.keyClick(box.editor, Qt.Key.Key_Return)  # a plain Enter is a new line
    assert sent.count() == 1 and box.text().count("\n") == 1


def test_the_chat_list_searches_renames_and_asks_to_delete(qtbot, tmp_path):
    with Store(tmp_path / "p.db") as store:
        first = store.create_chat("Invoices of March")
        second = store.create_chat("Lease contract")
        store.add_message(second.id, "user", "Who pays the repairs?")
        store.add_message(second.id, "assistant", "The tenant pays small repairs.")
        panel = ChatListPanel(store)
        qtbot.addWidget(panel)
        panel.show()
        qtbot.waitExposed(panel)
        panel.activateWindow()
        panel.refresh()
        assert [panel.list.item(i).text() for i in range(2)] == ["Lease contract", "Invoices of March"]
        selected = QSignalSpy(panel.chat_selected)
        panel.list.setCurrentRow(1)
        assert selected.count() == 1 and selected.at(0) == [first.id]
        panel.search.setText("tenant")  # matches an answer, not a title
        qtbot.waitUntil(lambda: panel.list.count() == 1, timeout=2000)
        assert panel.list.item(0).text() == "Lease contract"
        renamed = QSignalSpy(panel.rename_requested)
        panel.list.item(0).setText("Lease 2024")
        assert renamed.at(0) == [second.id, "Lease 2024"]
        deleted = QSignalSpy(panel.delete_requested)
        panel.list.setCurrentRow(0)
        panel.list.setFocus()
        QTest.keyClick(panel.list, Qt.Key.Key_Delete)
        assert deleted.count() == 1 and deleted.at(0) == [second.id]


def test_the_model_card_renders_offline(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.show_model_card("---\nlicense: mit\n---\n# Reasoner\n\nSee ![chart](https://example.com/c.png) and "
                          "<img src='file:///etc/passwd'>.\n")
    text = panel.card.toPlainText()
    assert "Reasoner" in text and "license" not in text
    for url in ("https://example.com/c.png", "file:///etc/passwd", "c.png"):
        assert not panel.card.loadResource(QTextDocument.ResourceType.ImageResource.value, QUrl(url))
    assert not panel.card.openLinks() and not panel.card.openExternalLinks()


def test_the_cards_one_line_summary_shows_under_the_name(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.show_model_card('---\nlicense: mit\nsummary: "Reads short memos; not long documents."\n---\n# M\n')
    assert panel.summary_label.text() == "Reads short memos; not long documents." and panel.summary_label.isVisibleTo(panel)
    assert "summary" not in panel.card.toPlainText()
    panel.show_model_card("# Another model\n\nsummary: not front matter\n")
    assert panel.summary_label.text() == "" and not panel.summary_label.isVisibleTo(panel)


def test_the_estimate_line(qtbot):
    fits = PlanResult(model="m", fits=True, precision="int8", needs_bytes=int(3.4 * 2**30),
                      budget_bytes=int(11.2 * 2**30), plan={"precision": "int8", "device": "cuda",
                                                            "context_tokens": 32768})
    assert estimate_text(fits) == "fits: 3.4 GiB of 11.2 GiB (int8 on cuda, 32,768-token context)"
    nope = PlanResult(model="m", fits=False, needs_bytes=int(19.5 * 2**30), budget_bytes=int(11.2 * 2**30),
                      message="bf16 was requested but does not fit")
    assert estimate_text(nope) == "does not fit: needs 19.5 GiB, 11.2 GiB free"
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.set_remote("http://gpu:8000", "deepseek-r1")
    assert "not available on this server" in panel.estimate_label.text()
    assert not panel.load_button.isEnabled() and not panel.precision_combo.isEnabled()


def test_errors_say_what_to_do_next(qtbot):
    problem = explain(ContextLengthError("prompt of 9000 tokens; context 8192", 9000, 8192, status=400))
    assert "new chat" in problem.next_step and "HTTP 400" in problem.details
    assert "API key" in explain(AuthError("bad token", status=401)).next_step
    assert "log" in explain(ServerError("boom", status=500)).next_step
    hub = HubError("the hub cannot be reached", "Check your connection.", "offline")
    assert explain(hub).next_step == "Check your connection."
    dialog = ErrorDialog(explain(RuntimeError("unexpected")))
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.details.isVisible()
    dialog.toggle.click()
    assert dialog.details.isVisible() and "RuntimeError" in dialog.details.toPlainText()


def test_the_connect_dialog_checks_the_address(qtbot):
    assert normalise_url("gpu-box:8000/v1/") == "http://gpu-box:8000/v1"
    dialog = ConnectDialog()
    qtbot.addWidget(dialog)
    ok = dialog.buttons.buttons()[0]
    assert not ok.isEnabled()
    dialog.url_edit.setText("localhost:8000")
    dialog.key_edit.setText(" secret ")
    assert ok.isEnabled() and dialog.url == "http://localhost:8000" and dialog.key == "secret"
    dialog.url_edit.setText("ftp://x")
    assert not ok.isEnabled() and dialog.problem.text()


def test_the_remembered_address_is_replaced_by_typing(qtbot):
    dialog = ConnectDialog("http://old-box:8000/v1")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.keyClicks(dialog.url_edit, "new-box:9000")
    assert dialog.url == "http://new-box:9000"  # not "http://old-box:8000/v1new-box:9000"


def test_the_estimate_keeps_its_room_so_nothing_moves(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.resize(320, 900)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.wait(20)
    before = panel.load_button.mapTo(panel, panel.load_button.rect().topLeft())
    long = PlanResult(model="m", fits=False, needs_bytes=int(19.5 * 2**30), budget_bytes=int(11.2 * 2**30),
                      message="does not fit")
    for shown in ("estimating…", long, None):
        if isinstance(shown, str):
            panel.estimate_label.setText(shown)
        else:
            panel.show_estimate(shown, "no estimate: the engine is restarting, try again in a moment")
        qtbot.wait(20)
        assert panel.load_button.mapTo(panel, panel.load_button.rect().topLeft()) == before


def test_missing_x11_libraries_are_named_with_the_command_to_install_them():
    from app.system_libraries import missing_libraries, missing_message, uses_xcb

    missing = missing_libraries(lambda name: None if name == "xcb-cursor" else f"lib{name}.so")
    message = missing_message(missing)
    assert missing == ["xcb-cursor"] and "sudo apt install libxcb-cursor0" in message
    assert "sudo dnf install xcb-util-cursor" in message and missing_message([]) == ""
    assert uses_xcb({"DISPLAY": ":0"}, "linux") and not uses_xcb({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux") and not uses_xcb({}, "darwin")


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused")])
def test_transport_errors_are_explained(exc):
    assert explain(exc).message == "refused"


def test_the_theme_follows_the_choice_and_back_to_the_system(qapp):
    from PySide6.QtGui import QPalette

    from app import theme

    lightness = lambda: qapp.palette().color(QPalette.ColorRole.Window).lightness()  # noqa: E731
    theme.apply("system")
    system = lightness()
    theme.apply("dark")
    assert lightness() < 128
    theme.apply("light")
    assert lightness() >= 128
    theme.apply("system")
    assert lightness() == system and not qapp.property(theme.CUSTOM_PALETTE)
