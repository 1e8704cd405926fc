"""DocumentPanel: a chat's documents, their pages or sections with token counts, the budget bar, the strategy.

    ┌ Documents ───────────────────── [Add…] [Remove] ┐
    │ report.pdf (PDF, 50 pages, 91,204 characters)  ▾ │   one entry per document of the chat
    │ ███████████████░░░░░░░▒▒▒  (budget bar)          │
    │ 12,345 of 28,000 tokens for documents …          │
    │ Strategy [Automatic ▾]  reason …                 │
    │ Reading part 3 of 9 ▓▓▓░░░░  [Cancel]            │   sequential reading only
    │ page 1 ……… 412 │ page 2 ……… 388 │ …             │   pages / sections, tokens each
    │ the document's text (citations are highlighted)  │
    └──────────────────────────────────────────────────┘

It only shows: ``DocumentController`` gives it documents, counts, the budget and the plan, and listens to its
signals (``add_requested``, ``remove_requested``, ``strategy_changed``,
``cancel_requested``). ``show_passage`` scrolls the text to a character range and highlights it.

A document's text is put in the view once (new counts only refresh the list), ``TEXT_SLICE_CHARS`` at a time
from the event loop: a 16 MB text in one ``setPlainText`` holds the window for a fraction of a second.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QSplitter,
                               QTextEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.widgets.budget_bar import BudgetBar
from core.documents import SUPPORTED_TYPES_TEXT, ParsedDocument

TEXT_SLICE_CHARS = 256 * 1024  # characters added to the text view per event-loop turn
STRATEGY_LABELS = {"auto": "Automatic", "whole": "Whole document", "retrieval": "Retrieval (best passages)",
                   "sequential": "Sequential reading (notes)"}


def qt_position(text: str, offset: int) -> int:
    """Qt's position (UTF-16 code units) of Python offset ``offset`` in ``text`` (they differ past the BMP)."""
    head = text[:offset]
    return offset + sum(1 for ch in head if ord(ch) > 0xFFFF)


class DocumentPanel(QWidget):
    add_requested = Signal()
    remove_requested = Signal(int)  # index of the document in the chat
    strategy_changed = Signal(str)  # auto | whole | retrieval | sequential
    cancel_requested = Signal()
    document_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentPanel")
        self._documents: list[ParsedDocument] = []
        self.highlighted: tuple[int, int, int] | None = None  # document index, char start, char end
        self._shown: ParsedDocument | None = None  # the document whose text the view holds (or is filling with)
        self._filled = 0  # characters of its text already in the view
        self._filler = QTimer(self, interval=0)
        self._filler.timeout.connect(self._fill_slice)
        self._build()
        self.set_documents([])

    # --- building ----------------------------------------------------------------------------------
    def _build(self) -> None:
        title = QLabel("<b>Documents</b>")
        self.add_button = QPushButton("Add…", objectName="addDocument")
        self.add_button.setToolTip(f"Add a document to this chat: {SUPPORTED_TYPES_TEXT}")
        self.remove_button = QPushButton("Remove", objectName="removeDocument")
        self.remove_button.setToolTip("Remove the shown document from this chat (it stays stored)")
        top = QHBoxLayout()
        top.addWidget(title, 1)
        top.addWidget(self.add_button)
        top.addWidget(self.remove_button)
        self.picker = QComboBox(objectName="documentPicker")
        self.hint = QLabel(f"Drop a document here (or File ▸ Open document…): {SUPPORTED_TYPES_TEXT}.",
                           objectName="dropHint", wordWrap=True)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.budget_bar = BudgetBar()
        self.budget_label = QLabel(objectName="budgetText", wordWrap=True)
        self.strategy_combo = QComboBox(objectName="strategyCombo")
        for key, text in STRATEGY_LABELS.items():
            self.strategy_combo.addItem(text, key)
        self.strategy_combo.setToolTip("How a question meets the documents; Automatic chooses by size and question")
        self.reason_label = QLabel(objectName="strategyReason", wordWrap=True)
        strategy_row = QHBoxLayout()
        strategy_row.addWidget(QLabel("Strategy"))
        strategy_row.addWidget(self.strategy_combo, 1)
        self.progress_label = QLabel(objectName="readingProgress", textFormat=Qt.TextFormat.PlainText)  # file names
        self.progress_bar = QProgressBar(objectName="readingBar", textVisible=False, maximumHeight=8)
        self.cancel_button = QPushButton("Cancel", objectName="cancelReading")
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_label, 1)
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget(objectName="progressBox")
        self.progress_box.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.sections = QTreeWidget(objectName="sectionList")
        self.sections.setHeaderLabels(["Page / section", "Tokens"])
        self.sections.setRootIsDecorated(False)
        self.sections.setUniformRowHeights(True)
        self.text = QPlainTextEdit(objectName="documentText", readOnly=True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.sections)
        split.addWidget(self.text)
        split.setSizes([140, 360])
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 8, 8, 8)
        column.addLayout(top)
        column.addWidget(self.picker)
        column.addWidget(self.hint)
        column.addWidget(self.budget_bar)
        column.addWidget(self.budget_label)
        column.addLayout(strategy_row)
        column.addWidget(self.reason_label)
        column.addWidget(self.progress_box)
        column.addWidget(split, 1)
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self.picker.currentIndex()))
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.picker.currentIndexChanged.connect(self._show_document)
        self.strategy_combo.activated.connect(lambda i: self.strategy_changed.emit(self.strategy_combo.itemData(i)))
        self.sections.itemActivated.connect(self._jump_to_section)
        self.sections.itemClicked.connect(self._jump_to_section)
        self.progress_box.hide()

    # --- what the controller shows -----------------------------------------------------------------
    def set_documents(self, documents: Sequence[ParsedDocument],
                      section_tokens: Sequence[Sequence[int]] | None = None) -> None:
        """The chat's documents; ``section_tokens[d][s]``: tokens of section s of document d (None: not counted)."""
        self._documents = list(documents)
        self._section_tokens = [list(t) for t in section_tokens] if section_tokens else None
        current = max(0, self.picker.currentIndex())
        self.picker.blockSignals(True)
        self.picker.clear()
        for document in self._documents:
            self.picker.addItem(document.describe())
        self.picker.setCurrentIndex(min(current, len(self._documents) - 1))
        self.picker.blockSignals(False)
        has = bool(self._documents)
        for widget in (self.picker, self.remove_button, self.budget_bar, self.budget_label, self.strategy_combo,
                       self.reason_label, self.sections, self.text):
            widget.setEnabled(has)
        self.picker.setVisible(has)
        self.hint.setVisible(not has)
        self._show_document(self.picker.currentIndex())

    def set_budget(self, document_tokens: int, room_tokens: int, context_tokens: int, reserve_tokens: int,
                   exact: bool = True) -> None:
        self.budget_bar.set_values(document_tokens, room_tokens, context_tokens, reserve_tokens)
        estimate = "" if exact else " (estimated: the model's tokenizer is not available)"
        verdict = "fit" if document_tokens <= room_tokens else "do not fit whole"
        self.budget_label.setText(f"{document_tokens:,} of {room_tokens:,} tokens for documents: they {verdict}. "
                                  f"Context {context_tokens:,}, {reserve_tokens:,} kept for reasoning and answer"
                                  f"{estimate}.")

    def set_strategy(self, chosen: str, reason: str, requested: str = "auto") -> None:
        """Show the strategy in use (``chosen``), why, and what the user asked for (``requested``)."""
        index = self.strategy_combo.findData(requested)
        self.strategy_combo.setCurrentIndex(max(0, index))
        if requested == "auto":
            self.strategy_combo.setItemText(0, f"Automatic: {STRATEGY_LABELS[chosen].split(' (')[0].lower()}")
        self.reason_label.setText(reason)

    @property
    def strategy(self) -> str:
        return self.strategy_combo.currentData()

    def show_status(self, text: str, done: int = 0, total: int = 0, cancellable: bool = True) -> None:
        """A progress line (parsing a file, reading part k of n); ``hide_status`` removes it."""
        self.progress_label.setText(text)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        self.progress_bar.setVisible(total > 0)
        self.cancel_button.setVisible(cancellable)
        self.progress_box.show()

    def hide_status(self) -> None:
        self.progress_box.hide()

    def show_passage(self, document_index: int, char_start: int, char_end: int) -> None:
        """Show document ``document_index``, scrolled to ``text[char_start:char_end]``, highlighted."""
        if not 0 <= document_index < len(self._documents):
            return
        if self.picker.currentIndex() != document_index:
            self.picker.setCurrentIndex(document_index)
        self._fill_all()
        text = self._documents[document_index].text
        section = self._documents[document_index].section_at(char_start)
        char_start, char_end = qt_position(text, char_start), qt_position(text, char_end)
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(char_start)
        cursor.setPosition(char_end, QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor
        selection.format = QTextCharFormat()
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        selection.format.setBackground(QColor(highlight.red(), highlight.green(), highlight.blue(), 90))
        self.text.setExtraSelections([selection])
        end = QTextCursor(self.text.document())
        end.movePosition(QTextCursor.MoveOperation.End)
        self.text.setTextCursor(end)  # from the end back, so the passage lands near the top
        place = QTextCursor(self.text.document())
        place.setPosition(char_start)
        self.text.setTextCursor(place)
        self.text.ensureCursorVisible()
        item = self.sections.topLevelItem(section)
        if item is not None:
            self.sections.setCurrentItem(item)
            self.sections.scrollToItem(item)
        self.highlighted = (document_index, char_start, char_end)

    def highlighted_text(self) -> str:
        selections = self.text.extraSelections()
        return selections[0].cursor.selectedText() if selections else ""

    # --- inside ------------------------------------------------------------------------------------
    def _show_document(self, index: int) -> None:
        self.sections.clear()
        self.text.setExtraSelections([])
        self.highlighted = None
        if not 0 <= index < len(self._documents):
            self._set_text(None)
            return
        document = self._documents[index]
        counts = self._section_tokens[index] if self._section_tokens and index < len(self._section_tokens) else None
        for s_index, section in enumerate(document.sections):
            tokens = f"{counts[s_index]:,}" if counts else "…"
            item = QTreeWidgetItem([section.heading(), tokens])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            item.setData(0, Qt.ItemDataRole.UserRole, section.char_start)
            self.sections.addTopLevelItem(item)
        self.sections.resizeColumnToContents(0)
        self._set_text(document)
        self.document_selected.emit(index)

    def _set_text(self, document: ParsedDocument | None) -> None:
        """Show ``document``'s text unless the view already holds it: its first slice now, the rest a slice
        per event-loop turn."""
        if document is self._shown and document is not None:
            return
        self._shown = document
        text = document.text if document is not None else ""
        self.text.setPlainText(text[:TEXT_SLICE_CHARS])
        self._filled = min(len(text), TEXT_SLICE_CHARS)
        if self._filled < len(text):
            self._filler.start()
        else:
            self._filler.stop()

    def _fill_slice(self) -> None:
        text = self._shown.text if self._shown is not None else ""
        if self._filled < len(text):
            cursor = QTextCursor(self.text.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(text[self._filled:self._filled + TEXT_SLICE_CHARS])
            self._filled = min(len(text), self._filled + TEXT_SLICE_CHARS)
        if self._filled >= len(text):
            self._filler.stop()

    def _fill_all(self) -> None:
        """The whole text in the view now (a passage is about to be shown)."""
        while self._filler.isActive():
            self._fill_slice()

    def _jump_to_section(self, item: QTreeWidgetItem) -> None:
        self._fill_all()
        cursor = QTextCursor(self.text.document())
        text = self._documents[self.picker.currentIndex()].text
        cursor.setPosition(qt_position(text, int(item.data(0, Qt.ItemDataRole.UserRole))))
        self.text.setTextCursor(cursor)
        self.text.ensureCursorVisible()
