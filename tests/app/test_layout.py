"""The chat-first layout (issue 28, point 1) with real widgets: the conversation keeps a readable width at
1000x700 and takes the room at 2560x1440, long headers and status lines elide (full text in the tooltip)
instead of pushing the Export button and the scrollbar out of view, the side panels are tabs, and the
splitter and the tabs shown are remembered. No engine: the chat is a stored one."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QPushButton, QToolButton, QWidget

from app.main_window import CHAT_MIN_WIDTH_PX
from tests.app.window_support import close_window, make_window

pytestmark = pytest.mark.timeout(60)
LONG_ERROR = ("the engine failed while generating this request (RuntimeError: could not allocate 1,073,741,824 "
              "bytes for the KV cache of slot 3 at position 31,744 of 32,768 while reading chunk 62 of the "
              "prompt); it was stopped, the engine keeps serving")
REASONING = "1. The report lists the invoices by quarter.\n\n2. The second quarter has the larger total."


@pytest.fixture
def window(qapp, tmp_path):
    w = make_window(tmp_path, None, start=False)
    chat = w.store.create_chat("Quarterly invoices")
    w.store.add_message(chat.id, "user", "Which quarter had the larger total of invoices, and by how much?")
    w.store.add_message(chat.id, "assistant", "", REASONING, status="error", stats={"error": LONG_ERROR})
    w.store.add_message(chat.id, "user", "Try again, please.")
    w.store.add_message(chat.id, "assistant", "The second quarter.", REASONING, status="interrupted")
    w.chats.open_chat(chat.id)
    yield w
    close_window(w)


def settle(window, width: int, height: int) -> None:
    window.resize(width, height)
    for _ in range(5):
        QApplication.processEvents()


def inside(widget: QWidget, area: QWidget) -> bool:
    """``widget``'s visible rectangle lies within ``area`` (both mapped to the window)."""
    window = area.window()
    top_left = widget.mapTo(window, QPoint(0, 0))
    rect = QRect(top_left, widget.size())
    box = QRect(area.mapTo(window, QPoint(0, 0)), area.size())
    return box.contains(rect)


@pytest.mark.parametrize("size", [(1600, 1000), (1000, 700)])
def test_long_headers_elide_and_nothing_slides_under_the_side_panel(window, size):
    settle(window, *size)
    assert window.width() == size[0]  # nothing forced the window wider
    column = window.findChild(QWidget, "chatColumn")
    assert column.width() >= CHAT_MIN_WIDTH_PX and window.side.isVisible()
    assert column.width() > window.side.width() and column.width() > window.chat_list.width()  # the widest
    assert window.side.visible_pages() == ["documents", "model"]  # tabs, not a column each
    headers = [b.header for b in window.view._blocks.values()]
    assert headers[0].full_text().startswith("Failed: the engine failed") and headers[0].elided
    assert headers[0].toolTip() == headers[0].full_text()
    assert headers[1].full_text() == "Interrupted — the engine stopped; partial answer kept"
    viewport = window.view._scroll.viewport()
    for block in window.view._blocks.values():
        for widget in (block.header, block.expand_all, block.findChild(QPushButton, "exportTrace")):
            assert widget.isVisible() and inside(widget, viewport), (widget.objectName(), size)
    assert inside(window.view._scroll.verticalScrollBar(), column) or not window.view._scroll.verticalScrollBar().isVisible()
    assert inside(window.prompt.stop_button, column) and inside(window.prompt.send_button, column)


def test_a_long_status_line_does_not_widen_the_window(window):
    settle(window, 1000, 700)
    window.engine_state.setText("Engine error: " + LONG_ERROR * 3)
    settle(window, 1000, 700)
    assert window.width() == 1000 and window.minimumSizeHint().width() <= 1000
    assert window.engine_state.elided and LONG_ERROR in window.engine_state.toolTip()


def test_a_wide_screen_gives_the_chat_the_room_and_keeps_lines_readable(window):
    settle(window, 2560, 1440)
    column = window.findChild(QWidget, "chatColumn")
    assert column.width() > 2560 // 2  # the conversation is the widest region
    assert window.view.column_widget.width() == window.view.MAX_COLUMN_PX  # a centred column of text
    assert window.side.width() < column.width() and window.chat_list.width() < column.width()


def test_side_panels_are_tabs_that_close_and_come_back(window):
    settle(window, 1200, 800)
    window.actions.benchmark.trigger()
    assert window.side.current_page() == "benchmark" and window.actions.benchmark.isChecked()
    tabs = window.side.tabs
    for name in ("benchmark", "model", "documents"):  # each tab's ✕
        tabs.tabCloseRequested.emit(window.side._names.index(name))
    assert not window.side.isVisible() and not window.actions.documents_panel.isChecked()
    column = window.findChild(QWidget, "chatColumn")
    settle(window, 1200, 800)
    assert column.width() > 800  # the chat took the room
    window.show_citation("unknown")  # nothing to show: nothing opens
    assert not window.side.isVisible()
    window.actions.model_panel.trigger()
    assert window.side.isVisible() and window.side.visible_pages() == ["model"]


def test_a_narrow_window_squeezes_the_panels_first_and_gives_their_widths_back(window):
    settle(window, 1600, 1000)
    window.set_splitter_sizes([220, 900, 420])
    settle(window, 1000, 700)
    narrow = window.splitter.sizes()
    assert narrow[1] >= 520 and narrow[0] == window.chat_list.minimumSizeHint().width()
    settle(window, 1600, 1000)
    wide = window.splitter.sizes()
    assert (wide[0], wide[2]) == (220, 420)  # the widths the user chose, back


def test_splitter_and_tabs_are_remembered(qapp, tmp_path):
    first = make_window(tmp_path, None, start=False)
    settle(first, 1400, 900)
    first.actions.benchmark.trigger()
    first.side.set_page_visible("model", False)
    first.set_splitter_sizes([150, 800, 450])
    sizes = first.splitter.sizes()
    close_window(first)
    again = make_window(tmp_path, None, start=False)
    try:
        settle(again, 1400, 900)
        assert again.side.visible_pages() == ["documents", "benchmark"] and again.side.current_page() == "benchmark"
        assert [abs(a - b) <= 2 for a, b in zip(again.splitter.sizes(), sizes)] == [True] * 3
    finally:
        close_window(again)


def test_an_expanded_step_shows_its_text_once(window):
    settle(window, 1200, 800)
    message_id = window.view.message_ids()[-1]
    window.view.set_step_expanded(message_id, 1, True)
    row = window.view._blocks[message_id].rows[0]
    QApplication.processEvents()
    assert row.body_label.isVisible() and not row.title_label.isVisible()
    assert row.body_label.text() == "The report lists the invoices by quarter."  # its "1." is the index beside it
    assert row.index_label.text() == "1."
    shown = [w.text() for w in row.findChildren(QWidget) if hasattr(w, "text") and w.isVisible()
             and not isinstance(w, QToolButton)]
    assert sum("lists the invoices" in text for text in shown) == 1  # the title is not repeated above it
