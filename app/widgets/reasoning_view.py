"""ReasoningView: one chat's transcript: the questions, and each answer's ``<think>`` trace as a list of steps.

A QScrollArea holding a column of blocks: a question is a label, an answer a ``TraceBlock`` drawn from a
``core.reasoning.ReasoningTrace`` snapshot. The view renders what it is given and computes nothing: the chat
worker owns the live trace and hands snapshots over (through ``ChatSession``'s signals):

    view.add_user_message(question)
    view.show_trace(message_id, trace)      # a new answer, every streamed delta, the end; and stored answers
    view.show_history([(message_id, "question text" | trace), ...])
    view.set_citations(message_id, ...) / view.set_passages(message_id, ...)   # links into the documents
    view.set_stopping(message_id)           # "Stopping…" until the trace has finished

While an answer streams the view follows it to the bottom, unless the user scrolled up to read.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from app.widgets.trace_block import TraceBlock
from app.widgets.trace_text import trace_markdown
from core.reasoning import ReasoningTrace

MessageId = int | str


class ReasoningView(QWidget):
    step_toggled = Signal(object, int, bool)  # message id, step index (1-based), expanded
    link_activated = Signal(str)  # a link in an answer was clicked (nothing is opened here)
    export_requested = Signal(object)  # message id: the owner asks where, then writes trace_markdown/json
    trace_copied = Signal(object)  # message id: its trace is on the clipboard as Markdown
    citation_activated = Signal(str)  # the key of a clicked citation link (see ``set_citations``)

    FOLLOW_SLACK_PX = 24  # "at the bottom" when within this of it
    MAX_COLUMN_PX = 960  # wider lines are hard to read: on a 2560-px screen the transcript is a centred column

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._blocks: dict[MessageId, TraceBlock] = {}
        self._follow = True
        self._pin_bottom = False
        self._next_user_id = 0
        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        self.column_widget = QWidget(objectName="transcriptColumn")
        self.column_widget.setMaximumWidth(self.MAX_COLUMN_PX)
        self.column_widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        centred = QHBoxLayout(content)  # on a wide screen the lines stay readable: the column is centred
        centred.setContentsMargins(0, 0, 0, 0)
        centred.addStretch(0)
        centred.addWidget(self.column_widget, 1)
        centred.addStretch(0)
        self._column = QVBoxLayout(self.column_widget)
        self._column.setContentsMargins(12, 12, 12, 12)
        self._column.setSpacing(12)
        self._column.addStretch(1)
        self._scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._scroll)
        bar = self._scroll.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)

    # --- what the controller calls -------------------------------------------------------------------
    @property
    def current_message_id(self) -> MessageId | None:
        """The answer still streaming, if any."""
        return next((i for i, b in reversed(self._blocks.items()) if b.trace.streaming), None)

    def trace(self, message_id: MessageId) -> ReasoningTrace:
        """The snapshot an answer shows (for export and tests); KeyError if unknown."""
        return self._blocks[message_id].trace

    def message_ids(self) -> list[MessageId]:
        return list(self._blocks)

    def clear(self) -> None:
        for i in reversed(range(self._column.count() - 1)):  # keep the final stretch
            widget = self._column.takeAt(i).widget()
            widget.setParent(None)
            widget.deleteLater()
        self._blocks.clear()
        self._follow = True

    def add_user_message(self, text: str) -> None:
        frame = QFrame(objectName=f"user-{self._next_user_id}")
        self._next_user_id += 1
        frame.setAutoFillBackground(True)
        frame.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        box = QVBoxLayout(frame)
        box.setContentsMargins(10, 6, 10, 8)
        who = QLabel("You")
        who.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        body = QLabel(text, objectName="userText", wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.addWidget(who)
        box.addWidget(body)
        self._add_to_column(frame)

    def show_trace(self, message_id: MessageId, trace: ReasoningTrace) -> None:
        """Show an answer as ``trace`` has it (a new block the first time this id is seen)."""
        block = self._blocks.get(message_id)
        if block is None:
            block = self._blocks[message_id] = self._new_block(message_id)
        block.show_trace(trace)

    def show_history(self, items: list[tuple[MessageId, str | ReasoningTrace]]) -> None:
        """Rebuild a stored chat: a question as its text, an answer as its trace."""
        self.clear()
        for message_id, item in items:
            if isinstance(item, str):
                self.add_user_message(item)
            else:
                self.show_trace(message_id, item)
        self._pin_bottom = True

    def set_citations(self, message_id: MessageId, answer_links: list[tuple[str, str]],
                      step_links: dict[int, list[tuple[str, str]]]) -> None:
        """Show where the answer and the steps (1-based) cite the documents: ``(label, key)`` links; a click
        emits ``citation_activated(key)``. Replaces the message's previous citations."""
        block = self._blocks.get(message_id)
        if block is not None:
            block.set_citations(answer_links, step_links)

    def set_passages(self, message_id: MessageId, links: list[tuple[str, str, str]]) -> None:
        """The passages a retrieval answer read, under it: ``(label, key, first words)``; a click emits
        ``citation_activated(key)``."""
        block = self._blocks.get(message_id)
        if block is not None:
            block.set_passages(links)

    def passages(self, message_id: MessageId) -> list[tuple[str, str]]:
        """``(label, first words)`` of the passages listed under an answer."""
        return list(self._blocks[message_id].passage_list)

    def set_stopping(self, message_id: MessageId) -> None:
        """Stop was pressed for this answer: it says "Stopping…" until its trace has finished."""
        block = self._blocks.get(message_id)
        if block is not None:
            block.set_stopping(True)

    def citation_labels(self, message_id: MessageId) -> dict[str, QLabel]:
        """The citation labels of a message: "answer" and "step N" (tests click their links)."""
        block = self._blocks[message_id]
        found = {f"step {row.step.index}": row.cite_label for row in block.rows if row.cite_label is not None}
        if block.answer_cites is not None:
            found["answer"] = block.answer_cites
        if block.passages_label is not None:
            found["passages"] = block.passages_label
        return found

    # --- per-message actions -------------------------------------------------------------------------
    def copy_trace(self, message_id: MessageId) -> None:
        QGuiApplication.clipboard().setText(trace_markdown(self.trace(message_id)))
        self.trace_copied.emit(message_id)

    def set_step_expanded(self, message_id: MessageId, index: int, expanded: bool) -> None:
        self._blocks[message_id].rows[index - 1].set_expanded(expanded)

    def is_step_expanded(self, message_id: MessageId, index: int) -> bool:
        return self._blocks[message_id].rows[index - 1].expanded

    def set_all_expanded(self, message_id: MessageId, expanded: bool) -> None:
        self._blocks[message_id].set_all_expanded(expanded)

    # --- building --------------------------------------------------------------------------------------
    def _new_block(self, message_id: MessageId) -> TraceBlock:
        block = TraceBlock(message_id)
        block.step_toggled.connect(lambda index, expanded: self.step_toggled.emit(message_id, index, expanded))
        block.link_activated.connect(self.link_activated)
        block.citation_activated.connect(self.citation_activated)
        block.copy_requested.connect(lambda: self.copy_trace(message_id))
        block.export_requested.connect(lambda: self.export_requested.emit(message_id))
        self._add_to_column(block)
        return block

    def _add_to_column(self, widget: QWidget) -> None:
        at_bottom = self._follow
        self._column.insertWidget(self._column.count() - 1, widget)
        self._pin_bottom = self._pin_bottom or at_bottom

    # --- events ----------------------------------------------------------------------------------------
    def _on_scrolled(self, value: int) -> None:
        bar = self._scroll.verticalScrollBar()
        self._follow = value >= bar.maximum() - self.FOLLOW_SLACK_PX

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        """Content grew: stay at the bottom while an answer streams (or once after a rebuild), unless the
        user has scrolled up to read."""
        if (self.current_message_id is not None and self._follow) or self._pin_bottom:
            self._pin_bottom = False
            self._scroll.verticalScrollBar().setValue(maximum)
