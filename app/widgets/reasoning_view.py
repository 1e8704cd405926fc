"""ReasoningView: one chat transcript, with each answer's ``<think>`` trace shown live as a list of steps.

Shape: a QScrollArea holding a column of message blocks. A user block is the question; an assistant block
is a header ("Thinking…", then "Thought for N s, M tokens"), the steps (one row each: index, title, token
count, time; click to expand its text), a reasoning-vs-answer token budget, the answer as Markdown, and
"Copy trace" / "Export…". The chat controller drives it on the GUI thread:

    view.add_user_message(question)
    view.begin_assistant(message_id)
    view.append(reasoning_delta, answer_delta, n_tokens)   # per streamed delta
    view.finish(finish_reason, stats, status)              # complete | stopped | interrupted | error

Logic lives elsewhere: steps come from ``core.reasoning.StepTracker`` (only the rows it reports changed are
touched), summaries and copy/export text from ``trace_export``. The answer is re-rendered at most every
``RENDER_INTERVAL_MS`` and once at the end. It never fetches anything: images other than ``data:`` URLs
are replaced by a placeholder, and links are reported through ``link_activated``, never opened.
"""

from __future__ import annotations

import html
import logging
import math
import time
from dataclasses import dataclass, field

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPalette, QTextDocument, QTextTable
from PySide6.QtWidgets import (QApplication, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy,
                               QTextBrowser, QToolButton, QVBoxLayout, QWidget)

from app.widgets.step_row import StepRow
from app.widgets.trace_export import (FINISH_STATUSES, TraceMessage, budget_text, header_text, message_from_history,
                                      step_meta_text, trace_markdown)
from core.reasoning import Step, StepTracker

log = logging.getLogger(__name__)

MessageId = int | str
MARKDOWN_FEATURES = (QTextDocument.MarkdownFeature.MarkdownDialectGitHub
                     | QTextDocument.MarkdownFeature.MarkdownNoHTML)  # raw HTML in an answer shows as text


class OfflineDocument(QTextDocument):
    """A text document that loads nothing from outside: every non-``data:`` image becomes a placeholder."""

    def loadResource(self, type: int, url: QUrl) -> object:  # noqa: A002 (Qt's name)
        if url.scheme().lower() == "data":
            return super().loadResource(type, url)
        if type != QTextDocument.ResourceType.ImageResource.value:
            return QByteArray()  # non-null: Qt must not fall back to reading a local file
        placeholder = QImage(16, 16, QImage.Format.Format_ARGB32)
        placeholder.fill(QColor(128, 128, 128, 90))
        self.addResource(type, url, placeholder)  # cached: asked once per render, not once per layout
        return placeholder


@dataclass(eq=False)
class _Block:
    """The widgets and state of one assistant message (a record, not a widget)."""

    message: TraceMessage
    frame: QFrame
    header: QToolButton
    expand_all: QToolButton
    steps_panel: QWidget
    steps_layout: QVBoxLayout
    empty_label: QLabel
    budget_bars: tuple[QFrame, QFrame, QFrame]
    budget_label: QLabel
    answer: QTextBrowser
    start_s: float = 0.0
    tracker: StepTracker = field(default_factory=StepTracker)
    rows: list[StepRow] = field(default_factory=list)
    current_row: StepRow | None = None
    answer_dirty: bool = False
    steps_shown: bool = True
    all_expanded: bool = False
    last_t: float = 0.0  # seconds since start of the latest delta
    explicit_clock: bool = False
    answer_cites: QLabel | None = None


class ReasoningView(QWidget):
    step_toggled = Signal(object, int, bool)  # message id, step index (1-based), expanded
    link_activated = Signal(str)  # a link in an answer was clicked (nothing is opened here)
    export_requested = Signal(object)  # message id: the owner asks where, then writes trace_markdown/json
    trace_copied = Signal(object)  # message id: its trace is on the clipboard as Markdown
    citation_activated = Signal(str)  # the key of a clicked citation link (see ``set_citations``)

    RENDER_INTERVAL_MS = 100
    FOLLOW_SLACK_PX = 24  # "at the bottom" when within this of it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._blocks: dict[MessageId, _Block] = {}
        self._pending: dict[MessageId, _Block] = {}  # answers and expanded steps to re-render on the timer
        self._current: _Block | None = None
        self._follow = True
        self._pin_bottom = False
        self._next_user_id = 0
        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        self._column = QVBoxLayout(content)
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
        self._render_timer = QTimer(self, singleShot=True, interval=self.RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render_pending)

    # --- the controller's API ----------------------------------------------------------------------
    @property
    def current_message_id(self) -> MessageId | None:
        return self._current.message.message_id if self._current else None

    def message(self, message_id: MessageId) -> TraceMessage:
        """The record of an assistant message (for export and for storing the chat); KeyError if unknown."""
        return self._blocks[message_id].message

    def clear(self) -> None:
        self._render_timer.stop()
        self._pending.clear()
        self._current = None
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

    def begin_assistant(self, message_id: MessageId, start_s: float | None = None, *,
                        max_tokens: int | None = None) -> None:
        """Start a streamed answer. Times (``start_s`` here, ``t_s`` later) share one clock, monotonic by default."""
        if self._current is not None:
            log.warning("begin_assistant(%r) while %r streams: marking that one interrupted", message_id,
                        self._current.message.message_id)
            self.finish(None, status="interrupted")
        if message_id in self._blocks:
            raise ValueError(f"message {message_id!r} is already in the view")
        block = self._new_block(TraceMessage(message_id, max_tokens=max_tokens))
        block.start_s = time.monotonic() if start_s is None else start_s
        self._current = block
        self._refresh_header(block)
        self._refresh_budget(block)

    def append(self, reasoning: str, answer: str, n_tokens: int = 1, t_s: float | None = None) -> None:
        """Add one streamed delta; ``n_tokens`` go to the reasoning if it has text, else to the answer."""
        block = self._current
        if block is None:
            raise RuntimeError("append() without begin_assistant()")
        t = self._elapsed(block, t_s)
        message = block.message
        if reasoning:
            message.reasoning += reasoning
            message.reasoning_tokens += n_tokens
            self._feed_steps(block, reasoning, n_tokens, t)
        elif answer or message.thought_s is not None:
            message.answer_tokens += n_tokens
        else:  # a token with no text yet (a special token): still reasoning
            message.reasoning_tokens += n_tokens
            self._feed_steps(block, "", n_tokens, t)
        if answer:
            if message.thought_s is None:
                self._end_reasoning(block, t)
            message.answer += answer
            block.answer_dirty = True
            self._schedule_render(block)
        self._refresh_budget(block)

    def finish(self, finish_reason: str | None, stats: dict | None = None, status: str = "complete", *,
               t_s: float | None = None) -> None:
        """End the streamed answer: close the last step, render the answer, show how it ended."""
        if status not in FINISH_STATUSES:
            raise ValueError(f"status must be one of {FINISH_STATUSES}, not {status!r}")
        block = self._current
        if block is None:
            log.warning("finish() without a streaming message")
            return
        message = block.message
        if message.thought_s is None:
            self._end_reasoning(block, self._elapsed(block, t_s))
        message.finish_reason, message.status = finish_reason, status
        message.stats = dict(stats or {})
        for key in ("reasoning_tokens", "answer_tokens"):  # the server's count wins over ours, when given
            if isinstance(message.stats.get(key), int):
                setattr(message, key, message.stats[key])
        self._current = None
        self._render_answer(block)
        self._refresh_header(block)
        self._refresh_budget(block)

    def show_history(self, messages: list[dict]) -> None:
        """Rebuild a stored chat: dicts with role, content, reasoning, status, stats (and optionally id)."""
        self.clear()
        for position, entry in enumerate(messages):
            role = entry.get("role")
            if role == "user":
                self.add_user_message(str(entry.get("content") or ""))
            elif role == "assistant":
                message = message_from_history(entry, entry.get("id", f"history-{position}"))
                block = self._new_block(message)
                for step in message.steps:
                    self._update_row(block, step)
                self._render_answer(block)
                self._refresh_header(block)
                self._refresh_budget(block)
        self._pin_bottom = True

    def message_ids(self) -> list[MessageId]:
        return list(self._blocks)

    def set_citations(self, message_id: MessageId, answer_links: list[tuple[str, str]],
                      step_links: dict[int, list[tuple[str, str]]]) -> None:
        """Show where the answer and the steps (1-based) cite the documents: ``(label, key)`` links; a click
        emits ``citation_activated(key)``. Replaces the message's previous citations."""
        block = self._blocks.get(message_id)
        if block is None:
            return
        for row in block.rows:
            row.show_citations(citation_html(step_links.get(row.step.index, [])),
                               lambda: self._citation_label("stepCitations"))
        if block.answer_cites is None and answer_links:
            block.answer_cites = self._citation_label("answerCitations")
            box = block.frame.layout()
            box.insertWidget(box.indexOf(block.answer) + 1, block.answer_cites)
        if block.answer_cites is not None:
            block.answer_cites.setText(("Cited: " + citation_html(answer_links)) if answer_links else "")
            block.answer_cites.setVisible(bool(answer_links))

    def citation_labels(self, message_id: MessageId) -> dict[str, QLabel]:
        """The citation labels of a message: "answer" and "step N" (tests click their links)."""
        block = self._blocks[message_id]
        found = {f"step {row.step.index}": row.cite_label for row in block.rows if row.cite_label is not None}
        if block.answer_cites is not None:
            found["answer"] = block.answer_cites
        return found

    def _citation_label(self, name: str) -> QLabel:
        label = QLabel(objectName=name, textFormat=Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        label.setToolTip("Show the quoted passage in the document panel")
        label.linkActivated.connect(self.citation_activated)
        return label

    # --- per-message actions -----------------------------------------------------------------------
    def copy_trace(self, message_id: MessageId) -> None:
        QGuiApplication.clipboard().setText(trace_markdown(self.message(message_id)))
        self.trace_copied.emit(message_id)

    def set_step_expanded(self, message_id: MessageId, index: int, expanded: bool) -> None:
        self._blocks[message_id].rows[index - 1].set_expanded(expanded)

    def is_step_expanded(self, message_id: MessageId, index: int) -> bool:
        return self._blocks[message_id].rows[index - 1].expanded

    def set_all_expanded(self, message_id: MessageId, expanded: bool) -> None:
        block = self._blocks[message_id]
        for row in block.rows:
            row.set_expanded(expanded)
        block.all_expanded = expanded
        block.expand_all.setText("Collapse all" if expanded else "Expand all")

    # --- building ----------------------------------------------------------------------------------
    def _new_block(self, message: TraceMessage) -> _Block:
        frame = QFrame(objectName=f"message-{message.message_id}")
        box = QVBoxLayout(frame)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(4)
        header = QToolButton(objectName="traceHeader", autoRaise=True)
        header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        header.setArrowType(Qt.ArrowType.DownArrow)
        header.setToolTip("Show or hide the reasoning steps")
        expand_all = QToolButton(objectName="expandAll", text="Expand all", autoRaise=True)
        expand_all.setToolTip("Show the full text of every step")
        top = QHBoxLayout()
        top.addWidget(header)
        top.addStretch(1)
        top.addWidget(expand_all)
        box.addLayout(top)
        steps_panel = QWidget(objectName="steps")
        steps_layout = QVBoxLayout(steps_panel)
        steps_layout.setContentsMargins(4, 0, 0, 0)
        steps_layout.setSpacing(1)
        empty = QLabel("No reasoning steps", objectName="noSteps", visible=False)
        empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        steps_layout.addWidget(empty)
        box.addWidget(steps_panel)
        bars = tuple(QFrame(objectName=name) for name in ("budgetReasoning", "budgetAnswer", "budgetLeft"))
        budget_label = QLabel(objectName="tokenBudget")
        budget_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        budget_label.setToolTip("Tokens generated for the reasoning and for the answer (of max tokens, when set)")
        box.addLayout(self._budget_row(bars, budget_label))
        answer = QTextBrowser(objectName="answer", visible=False)
        answer.setDocument(OfflineDocument(answer))
        answer.setOpenLinks(False)
        answer.setOpenExternalLinks(False)
        answer.setFrameShape(QFrame.Shape.NoFrame)
        answer.viewport().setAutoFillBackground(False)
        answer.viewport().setObjectName("answerViewport")
        answer.viewport().installEventFilter(self)  # its wheel scrolls the transcript (it never scrolls itself)
        answer.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        answer.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        answer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        answer.document().setDocumentMargin(2)
        answer.document().documentLayout().documentSizeChanged.connect(
            lambda size, a=answer: a.setFixedHeight(math.ceil(size.height()) + 2))
        answer.anchorClicked.connect(lambda url: self.link_activated.emit(url.toString()))
        box.addWidget(answer)
        block = _Block(message, frame, header, expand_all, steps_panel, steps_layout, empty, bars, budget_label, answer)
        box.addLayout(self._actions_row(block))
        header.clicked.connect(lambda: self._show_steps(block, not block.steps_shown))
        expand_all.clicked.connect(lambda: self.set_all_expanded(block.message.message_id, not block.all_expanded))
        self._apply_colours(block)
        self._blocks[message.message_id] = block
        self._add_to_column(frame)
        return block

    def _budget_row(self, bars: tuple[QFrame, QFrame, QFrame], label: QLabel) -> QHBoxLayout:
        track = QWidget(objectName="budgetBar")
        track.setFixedSize(120, 6)
        track.setToolTip(label.toolTip())
        inner = QHBoxLayout(track)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.setSpacing(0)
        for bar in bars:
            bar.setAutoFillBackground(True)
            bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
            inner.addWidget(bar)
        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 0, 2)
        row.addWidget(track)
        row.addWidget(label)
        row.addStretch(1)
        return row

    def _actions_row(self, block: _Block) -> QHBoxLayout:
        copy = QPushButton("Copy trace", objectName="copyTrace", flat=True)
        copy.setToolTip("Copy the reasoning steps and the answer as Markdown")
        copy.clicked.connect(lambda: self.copy_trace(block.message.message_id))
        export = QPushButton("Export…", objectName="exportTrace", flat=True)
        export.setToolTip("Save the trace as Markdown or JSON")
        export.clicked.connect(lambda: self.export_requested.emit(block.message.message_id))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(copy)
        row.addWidget(export)
        return row

    def _new_row(self, block: _Block, step: Step) -> StepRow:
        row = StepRow(step)
        row.toggled.connect(lambda expanded: self._on_step_toggled(block, row, expanded))
        block.steps_layout.insertWidget(block.steps_layout.count() - 1, row)  # before "No reasoning steps"
        block.rows.append(row)
        return row

    def _add_to_column(self, widget: QWidget) -> None:
        at_bottom = self._follow
        self._column.insertWidget(self._column.count() - 1, widget)
        self._pin_bottom = self._pin_bottom or at_bottom

    # --- streaming ---------------------------------------------------------------------------------
    @staticmethod
    def _elapsed(block: _Block, t_s: float | None) -> float:
        """Seconds since the start; a caller that passes its own times moves the clock alone."""
        if t_s is None and block.explicit_clock:
            return block.last_t
        block.explicit_clock = block.explicit_clock or t_s is not None
        now = time.monotonic() if t_s is None else t_s
        block.last_t = max(block.last_t, now - block.start_s)
        return block.last_t

    def _feed_steps(self, block: _Block, text: str, n_tokens: int, t: float) -> None:
        if block.message.thought_s is not None:  # reasoning after the answer began: unusual, re-cut it all
            log.info("reasoning text after the answer began in message %r", block.message.message_id)
            block.tracker = StepTracker()
            block.tracker.feed(block.message.reasoning, block.message.reasoning_tokens, t)
            block.tracker.finish(t)
            self._sync_rows(block, block.tracker.steps)
            return
        for step in block.tracker.feed(text, n_tokens, t):
            self._update_row(block, step)

    def _end_reasoning(self, block: _Block, t: float) -> None:
        block.message.thought_s = t if block.message.reasoning.strip() else 0.0
        block.tracker.finish(t)
        self._sync_rows(block, block.tracker.steps)
        self._refresh_header(block)

    def _sync_rows(self, block: _Block, steps: list[Step]) -> None:
        """Make the rows match ``steps`` exactly (finish() may fold a short last step into the one before)."""
        block.message.steps = steps
        while len(block.rows) > len(steps):
            row = block.rows.pop()
            row.setParent(None)
            row.deleteLater()
        for step in steps:
            self._update_row(block, step)

    def _update_row(self, block: _Block, step: Step) -> None:
        rows = block.rows
        row = rows[step.index - 1] if step.index <= len(rows) else self._new_row(block, step)
        if step.index > len(block.message.steps):
            block.message.steps.append(step)
        else:
            block.message.steps[step.index - 1] = step
        row.show_step(step, step_meta_text(step, block.last_t))
        if row.expanded:
            self._schedule_render(block)
        open_now = step.end_s is None and block is self._current
        if open_now and block.current_row is not row:
            self._mark_current(block, row)
        elif not open_now and block.current_row is row:
            self._mark_current(block, None)

    def _mark_current(self, block: _Block, row: StepRow | None) -> None:
        previous, block.current_row = block.current_row, row
        if previous is not None:
            previous.set_current(False, self._current_row_colour())
        if row is not None:
            row.set_current(True, self._current_row_colour())

    def _schedule_render(self, block: _Block) -> None:
        self._pending[block.message.message_id] = block
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _render_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for block in pending.values():
            if block.answer_dirty:
                self._render_answer(block)
            for row in block.rows:
                row.refresh_body()

    def _render_answer(self, block: _Block) -> None:
        block.answer_dirty = False
        text = block.message.answer
        block.answer.setVisible(bool(text.strip()))
        if text.strip():
            block.answer.document().setMarkdown(text, MARKDOWN_FEATURES)
            self._style_tables(block.answer.document())

    def _style_tables(self, document: QTextDocument) -> None:
        """Markdown tables get Qt's default border; give them the palette's (readable in a dark theme too)."""
        for frame in document.rootFrame().childFrames():
            if isinstance(frame, QTextTable):
                table_format = frame.format()
                table_format.setBorderBrush(self.palette().color(QPalette.ColorRole.Mid))
                table_format.setBorderCollapse(True)
                table_format.setCellPadding(3)
                frame.setFormat(table_format)

    # --- showing -----------------------------------------------------------------------------------
    def _refresh_header(self, block: _Block) -> None:
        message = block.message
        block.header.setText(header_text(message))
        no_steps = not message.steps and message.status != "streaming"
        block.empty_label.setVisible(no_steps)
        block.expand_all.setVisible(bool(message.steps) or message.status == "streaming")
        if no_steps:
            self._show_steps(block, False)  # "No reasoning steps", collapsed

    def _refresh_budget(self, block: _Block) -> None:
        message = block.message
        left = max(0, (message.max_tokens or 0) - message.reasoning_tokens - message.answer_tokens)
        layout = block.budget_bars[0].parentWidget().layout()
        for position, (bar, count) in enumerate(zip(block.budget_bars,
                                                    (message.reasoning_tokens, message.answer_tokens, left))):
            bar.setVisible(count > 0)
            layout.setStretch(position, count)
        block.budget_label.setText(budget_text(message))

    def _show_steps(self, block: _Block, shown: bool) -> None:
        block.steps_shown = shown
        block.steps_panel.setVisible(shown)
        block.header.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _on_step_toggled(self, block: _Block, row: StepRow, expanded: bool) -> None:
        self.step_toggled.emit(block.message.message_id, row.step.index, expanded)

    def _apply_colours(self, block: _Block) -> None:
        palette = self.palette()
        highlight, text, base = (palette.color(QPalette.ColorRole.Highlight),
                                 palette.color(QPalette.ColorRole.WindowText), palette.color(QPalette.ColorRole.Window))
        colours = (highlight, _blend(text, base, 0.45), _blend(text, base, 0.12))
        for bar, colour in zip(block.budget_bars, colours):
            bar_palette = bar.palette()
            bar_palette.setColor(QPalette.ColorRole.Window, colour)
            bar.setPalette(bar_palette)
        if block.current_row is not None:
            block.current_row.set_highlight(self._current_row_colour())

    def _current_row_colour(self) -> QColor:
        palette = self.palette()
        return _blend(palette.color(QPalette.ColorRole.Highlight), palette.color(QPalette.ColorRole.Window), 0.22)

    # --- events ------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and watched.objectName() == "answerViewport":
            QApplication.sendEvent(self._scroll.verticalScrollBar(), event)
            return True
        return super().eventFilter(watched, event)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            for block in self._blocks.values():
                self._apply_colours(block)
                if block.message.answer.strip():
                    self._render_answer(block)  # table borders follow the palette

    def _on_scrolled(self, value: int) -> None:
        bar = self._scroll.verticalScrollBar()
        self._follow = value >= bar.maximum() - self.FOLLOW_SLACK_PX

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        """Content grew: stay at the bottom while a message streams (or once after a rebuild), unless the
        user has scrolled up to read."""
        if (self._current is not None and self._follow) or self._pin_bottom:
            self._pin_bottom = False
            self._scroll.verticalScrollBar().setValue(maximum)


def citation_html(links: list[tuple[str, str]]) -> str:
    """``(label, key)`` links as rich text: "↗ page 37 · ↗ page 38"."""
    return " · ".join(f'<a href="{html.escape(key)}">↗ {html.escape(label)}</a>' for label, key in links)


def _blend(colour: QColor, under: QColor, amount: float) -> QColor:
    """``amount`` of ``colour`` over ``under``."""
    return QColor.fromRgbF(*(amount * a + (1 - amount) * b for a, b in
                             zip(colour.getRgbF()[:3], under.getRgbF()[:3])))
