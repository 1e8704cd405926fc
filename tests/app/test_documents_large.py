"""A large document in the window (issue 27, point 1): nothing is counted on the GUI thread, and the text
reaches the view a slice per event-loop turn; the notice bar shows file names and errors as plain text."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from app.document_controller import DocumentController
from app.tasks import TaskRunner
from app.widgets.document_panel import TEXT_SLICE_CHARS, DocumentPanel
from app.widgets.notice_bar import NoticeBar
from core.documents import EstimatedCounter, ParsedDocument, Section
from core.store import Store
from tests.app.window_support import wait_until
from tests.core.test_documents_support import filler_page

pytestmark = pytest.mark.timeout(60)


class ThreadCheckingCounter(EstimatedCounter):
    """An estimate that remembers whether it was ever asked on the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.on_gui_thread = 0

    def _note(self) -> None:
        self.on_gui_thread += threading.current_thread() is threading.main_thread()

    def count_tokens(self, text: str) -> int:
        self._note()
        return super().count_tokens(text)

    def count_many(self, texts):
        self._note()
        return super().count_many(texts)

    def count_prompt(self, messages) -> int:
        self._note()
        return super().count_prompt(messages)


def test_a_large_document_is_counted_off_the_gui_thread_and_shown_in_slices(qapp, tmp_path):
    store = Store(tmp_path / "ponder.db")
    panel, tasks = DocumentPanel(), TaskRunner()
    controller = DocumentController(panel, store, tasks)
    counter = ThreadCheckingCounter()
    try:
        controller._counter = counter
        chat = store.create_chat()
        controller.set_chat(chat.id)
        text = "\n\n".join(filler_page(n) for n in range(1, 2500))  # about 1.1 MB
        document = ParsedDocument("big.txt", "text", "a" * 64, len(text), (Section(None, None, text, 0),))
        row = store.add_document(document.sha256, document.name, document.mime, document.size_bytes,
                                 document.to_dict())
        controller._parsed(chat.id, (row.id, document))
        assert 0 < len(panel.text.toPlainText()) <= TEXT_SLICE_CHARS  # the first slice only, at once
        wait_until(lambda: controller.built is not None, 30, "the documents to be prepared")
        wait_until(lambda: len(panel.text.toPlainText()) == len(text), 10, "the whole text in the view")
        assert panel.text.toPlainText() == text
        controller.set_strategy("retrieval")  # shows the strategy again, from what the worker counted
        assert counter.on_gui_thread == 0
        assert controller.built.room_tokens > 0 and "Best passages" in panel.reason_label.text()
    finally:
        tasks.shutdown()
        store.close()


def test_the_notice_bar_shows_markup_as_text(qapp):
    bar = NoticeBar()
    message = 'Could not read <b>report</b><img src="http://attacker.example/x.png">.pdf: <a href="x">here</a>'
    bar.show_notice(message, "error")
    assert bar.label.textFormat() == Qt.TextFormat.PlainText and bar.text == message
