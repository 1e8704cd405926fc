"""A large document in the window (issue 27, point 1): nothing is counted on the GUI thread, the text view
holds a window of the text (scrolling moves it, a cited passage far in is shown and highlighted); the notice
bar shows file names and errors as plain text."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from app.document_controller import DocumentController
from app.tasks import TaskRunner
from app.widgets.document_panel import DocumentPanel
from app.widgets.document_text import WINDOW_CHARS, DocumentTextView
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


def test_a_large_document_is_counted_off_the_gui_thread_and_shown_through_a_window(qapp, tmp_path):
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
        shown = panel.view.text.toPlainText()
        assert WINDOW_CHARS - 4096 <= len(shown) <= WINDOW_CHARS and text.startswith(shown)
        assert "of 1," in panel.view.where.text() and panel.view.where.isVisibleTo(panel)
        wait_until(lambda: controller.built is not None, 30, "the documents to be prepared")
        controller.set_strategy("retrieval")  # shows the strategy again, from what the worker counted
        assert counter.on_gui_thread == 0
        assert controller.built.room_tokens > 0 and "Best passages" in panel.reason_label.text()
    finally:
        tasks.shutdown()
        store.close()


def test_the_view_moves_its_window_when_scrolled_to_its_end_and_to_a_passage(qapp):
    view = DocumentTextView()
    view.resize(500, 400)
    view.show()
    text = "".join(f"Line {n:06d} of the long text, with a few words after the number.\n" for n in range(40_000))
    view.set_text(text)
    assert view.window[0] == 0 and view.window[1] <= WINDOW_CHARS
    bar = view.text.verticalScrollBar()
    bar.setValue(bar.maximum())  # the user scrolls to the end of what the view holds
    start, end = view.window
    assert start > 0 and end > WINDOW_CHARS and text[start - 1] == "\n"  # moved on, cut at a line start
    top = view.text.cursorForPosition(view.text.viewport().rect().topLeft()).block().text()
    assert top.startswith("Line ") and 0 < bar.value() < bar.maximum()  # the line read stays in view
    far = text.index("Line 039000")
    view.show_range(far, far + len("Line 039000"))
    assert view.window[0] <= far < view.window[1] and view.highlighted_text() == "Line 039000"
    assert view.text.extraSelections()[0].cursor.selectedText() == "Line 039000"
    bar.setValue(bar.minimum())  # and back up
    assert view.window[0] < far - WINDOW_CHARS // 4
    view.set_text("short text")
    assert view.text.toPlainText() == "short text" and not view.where.isVisibleTo(view)
    view.close()


def test_positions_past_the_basic_plane_map_both_ways():
    from app.widgets.document_text import python_offset, qt_position
    text = "a😀b😀c"
    assert [qt_position(text, i) for i in range(6)] == [0, 1, 3, 4, 6, 7]
    assert [python_offset(text, qt_position(text, i)) for i in range(6)] == list(range(6))


def test_the_notice_bar_shows_markup_as_text(qapp):
    bar = NoticeBar()
    message = 'Could not read <b>report</b><img src="http://attacker.example/x.png">.pdf: <a href="x">here</a>'
    bar.show_notice(message, "error")
    assert bar.label.textFormat() == Qt.TextFormat.PlainText and bar.text == message
