"""The first start: the welcome in the empty chat pane, its sample (one click opens it; a question is asked once
the document is read and the engine is ready), Help ▸ Welcome, and the way to the catalog."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from core.samples import load_sample
from tests.app.scripted_engine import write_model_folder
from tests.app.window_support import close_window, make_window, wait_ready, wait_until

pytestmark = pytest.mark.timeout(120)


def menu_action(window, menu: str, text: str):
    for top in window.menuBar().actions():
        if top.text().replace("&", "") == menu:
            return next(a for a in top.menu().actions() if a.text().replace("&", "").rstrip("…") == text)
    raise KeyError(menu)


def test_a_first_start_shows_the_welcome_and_it_gives_way_to_a_chat(qapp, tmp_path):
    window = make_window(tmp_path, None, start=False)
    try:
        welcome = window.welcome
        assert welcome.showing and not welcome.view.back_button.isVisibleTo(window)
        links = [window.findChild(QLabel, f"sampleQuestion{i}") for i in range(3)]
        assert [q.question in link.text() for q, link in zip(load_sample().questions, links)] == [True] * 3
        assert "Not good at" in window.findChild(QLabel, "bundledNotGoodAt").text()
        welcome.view.open_sample_button.click()
        assert not welcome.showing and window.session is not None
        wait_until(lambda: window.documents.built is not None and not window.documents.parsing, 30, "the sample")
        assert [row.name for row in window.store.chat_documents(window.session.chat_id)] == ["brightmoor-handbook.txt"]
        menu_action(window, "Help", "Welcome").trigger()
        assert welcome.showing and welcome.view.back_button.isVisibleTo(window)
        welcome.view.back_button.click()
        assert not welcome.showing
        menu_action(window, "Help", "Welcome").trigger()
        welcome.view.catalog_button.click()
        assert window.catalog.dialog is not None and window.catalog.dialog.isVisible()
        assert window.catalog.dialog.table.rowCount() >= 12
    finally:
        close_window(window)


def test_a_sample_question_is_asked_once_the_document_and_the_engine_are_ready(qapp, tmp_path):
    window = make_window(tmp_path, write_model_folder(tmp_path / "scripted"))
    try:
        question = load_sample().questions[1].question
        window.welcome.view.question_links[1].linkActivated.emit("1")  # a click on the link
        assert window.prompt.editor.toPlainText() == question  # waits in the box meanwhile
        wait_ready(window)
        wait_until(lambda: window.session is not None and window.session.busy or
                   bool(window.store.messages(window.session.chat_id)), 60, "the question to be sent")
        wait_until(lambda: not window.session.busy, 60, "the answer")
        messages = window.store.messages(window.session.chat_id)
        assert messages[0].role == "user" and messages[0].content == question
        assert window.store.chat_documents(window.session.chat_id)[0].name == "brightmoor-handbook.txt"
        assert not window.welcome.showing
    finally:
        close_window(window)
