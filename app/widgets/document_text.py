"""DocumentTextView: a document's text, read-only, holding at most ``WINDOW_CHARS`` of it at a time.

A text view keeps its whole text as UTF-16 plus a layout block per paragraph: a 16 MB document held whole
costs hundreds of megabytes and a long stall to set. So a long document is shown through a window of about
``WINDOW_CHARS`` characters, cut at line starts: scrolling to either end of the window moves it on by half
its size (the line at the top stays where it was), jumping to a section or a cited passage moves it there,
and a line under the view says which part of the text is shown. A document shorter than the window is
shown whole, as any text view would.

Offsets in and out are Python offsets into the document's text; Qt's positions (UTF-16 code units) are
converted inside, only over the window.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

WINDOW_CHARS = 256 * 1024  # characters the view holds at most
_LINE_SEARCH_CHARS = 4096  # how far a window's edge looks for a line start to cut at


def qt_position(text: str, offset: int) -> int:
    """Qt's position (UTF-16 code units) of Python offset ``offset`` in ``text`` (they differ past the BMP)."""
    if text.isascii():
        return offset
    return offset + sum(1 for ch in text[:offset] if ord(ch) > 0xFFFF)


def python_offset(text: str, position: int) -> int:
    """The Python offset in ``text`` of Qt's position ``position`` (the inverse of ``qt_position``)."""
    if text.isascii():
        return position
    offset = units = 0
    while offset < len(text) and units < position:
        units += 2 if ord(text[offset]) > 0xFFFF else 1
        offset += 1
    return offset


class DocumentTextView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit(objectName="documentText", readOnly=True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.where = QLabel(objectName="documentWindow", wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.where.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.where.hide()
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.text, 1)
        column.addWidget(self.where)
        self._full = self._shown = ""  # the document's text; the part of it in the view
        self._start = self._end = 0  # self._shown == self._full[self._start:self._end]
        self._highlight: tuple[int, int] | None = None
        self._moving = False
        self.text.verticalScrollBar().valueChanged.connect(self._scrolled)

    # --- what the panel asks ------------------------------------------------------------------------
    def set_text(self, text: str) -> None:
        """Show ``text`` from its beginning (the same text object again changes nothing)."""
        if text is self._full:
            return
        self._full, self._highlight = text, None
        self.text.setExtraSelections([])
        self._show_window(0, 0)

    @property
    def window(self) -> tuple[int, int]:
        """The range of the document's text the view holds."""
        return self._start, self._end

    def scroll_to(self, offset: int) -> None:
        """Bring ``offset`` of the document's text to the top of the view."""
        self._place(offset, offset, None)

    def show_range(self, start: int, end: int) -> None:
        """Scroll to ``text[start:end]`` (near the top of the view) and highlight it."""
        self._place(start, end, (start, end))

    def highlighted_text(self) -> str:
        return self._full[self._highlight[0]:self._highlight[1]] if self._highlight else ""

    def clear_highlight(self) -> None:
        self._highlight = None
        self.text.setExtraSelections([])

    # --- inside --------------------------------------------------------------------------------------
    def _place(self, start: int, end: int, highlight: tuple[int, int] | None) -> None:
        start, end = max(0, min(start, len(self._full))), max(0, min(end, len(self._full)))
        if not (self._start <= start and end <= self._end):
            self._show_window(start - WINDOW_CHARS // 4, start)
        self._highlight = highlight
        self._apply_highlight()
        last = QTextCursor(self.text.document())
        last.movePosition(QTextCursor.MoveOperation.End)
        self.text.setTextCursor(last)  # from the end back, so the place lands near the top
        self.text.setTextCursor(self._cursor(start))
        self.text.ensureCursorVisible()

    def _show_window(self, first: int, anchor: int) -> None:
        """Hold the window starting near ``first`` (at a line start), and keep ``anchor`` inside it."""
        total = len(self._full)
        if total <= WINDOW_CHARS:
            start, end = 0, total
        else:
            start = self._line_start(max(0, min(first, total - WINDOW_CHARS)))
            start = min(start, anchor)
            end = self._line_start(min(total, start + WINDOW_CHARS)) if start + WINDOW_CHARS < total else total
            end = max(end, min(total, anchor + 1))
        self._moving = True
        try:
            self._start, self._end, self._shown = start, end, self._full[start:end]
            self.text.setPlainText(self._shown)
        finally:
            self._moving = False
        self._apply_highlight()
        self._describe()

    def _line_start(self, offset: int) -> int:
        """The start of the line holding ``offset`` when one is near, else ``offset``."""
        if offset <= 0 or offset >= len(self._full):
            return offset
        newline = self._full.rfind("\n", max(0, offset - _LINE_SEARCH_CHARS), offset)
        return newline + 1 if newline >= 0 else offset

    def _scrolled(self, value: int) -> None:
        """At either end of the window, move it on by half its size, keeping the top line in place."""
        if self._moving or len(self._full) <= WINDOW_CHARS:
            return
        bar = self.text.verticalScrollBar()
        if value >= bar.maximum() and self._end < len(self._full):
            first = self._start + WINDOW_CHARS // 2
        elif value <= bar.minimum() and self._start > 0:
            first = self._start - WINDOW_CHARS // 2
        else:
            return
        top = self._offset_of(self.text.cursorForPosition(self.text.viewport().rect().topLeft()).position())
        self._show_window(first, top)
        self._moving = True
        try:
            self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())
            self.text.setTextCursor(self._cursor(top))
            self.text.ensureCursorVisible()
        finally:
            self._moving = False

    def _cursor(self, offset: int) -> QTextCursor:
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(qt_position(self._shown, max(0, offset - self._start)))
        return cursor

    def _offset_of(self, position: int) -> int:
        return self._start + python_offset(self._shown, position)

    def _apply_highlight(self) -> None:
        if self._highlight is None:
            self.text.setExtraSelections([])
            return
        start, end = (max(self._start, min(self._end, x)) for x in self._highlight)
        cursor = self._cursor(start)
        cursor.setPosition(self._cursor(end).position(), QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor
        selection.format = QTextCharFormat()
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        selection.format.setBackground(QColor(highlight.red(), highlight.green(), highlight.blue(), 90))
        self.text.setExtraSelections([selection])

    def _describe(self) -> None:
        total = len(self._full)
        if total <= WINDOW_CHARS:
            self.where.hide()
            return
        self.where.setText(f"Showing characters {self._start + 1:,}–{self._end:,} of {total:,} "
                           f"({100 * self._start / total:.0f}–{100 * self._end / total:.0f}%): the view holds "
                           f"{WINDOW_CHARS // 1024:,}K characters of a long text at a time. Scroll on for more, or "
                           "pick a page or section above.")
        self.where.show()
