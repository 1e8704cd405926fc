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
``cancel_requested``). ``show_passage`` scrolls the text to a character range and highlights it. The text
itself is a ``DocumentTextView``: a long document is held a window of it at a time.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from app.widgets.budget_bar import BudgetBar
from app.widgets.document_text import DocumentTextView
from core.documents import SUPPORTED_TYPES_TEXT, ParsedDocument

STRATEGY_LABELS = {"auto": "Automatic", "whole": "Whole document", "retrieval": "Retrieval (best passages)",
                   "sequential": "Sequential reading (notes)"}


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
        self.view = DocumentTextView()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.sections)
        split.addWidget(self.view)
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
                       self.reason_label, self.sections, self.view):
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
        self.view.show_range(char_start, char_end)
        item = self.sections.topLevelItem(self._documents[document_index].section_at(char_start))
        if item is not None:
            self.sections.setCurrentItem(item)
            self.sections.scrollToItem(item)
        self.highlighted = (document_index, char_start, char_end)

    def highlighted_text(self) -> str:
        return self.view.highlighted_text()

    # --- inside ------------------------------------------------------------------------------------
    def _show_document(self, index: int) -> None:
        self.sections.clear()
        self.view.clear_highlight()
        self.highlighted = None
        if not 0 <= index < len(self._documents):
            self.view.set_text("")
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
        self.view.set_text(document.text)
        self.document_selected.emit(index)

    def _jump_to_section(self, item: QTreeWidgetItem) -> None:
        self.view.scroll_to(int(item.data(0, Qt.ItemDataRole.UserRole)))
