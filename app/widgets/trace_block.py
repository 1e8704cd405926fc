"""TraceBlock: one assistant answer of the transcript, drawn from a ``ReasoningTrace`` snapshot.

    [▾ Thought for 4.2 s, 380 tokens]                         [Expand all]
    ▓▓▓▓░░░░ Reading part 3 of 12 · about 40 s left       (only while the prompt or a document is read)
      Notes so far: …
      1. The report lists revenue for each quarter …      42 tokens · 1.3 s
      2. …                                                  (one StepRow each; click to expand)
    [████░░] reasoning 380 · answer 42 tokens of 2,048
    The answer, as Markdown (AnswerView)
    Cited: ↗ page 37 · ↗ page 38
    Read 4 passages: ↗ page 3 “The board met …” · …       (retrieval)
                                                         [Copy trace] [Export…]

One-line texts elide (full text in the tooltip) and the rest wraps, so a block is never wider than the
column it is given, whatever an error message or a citation list says.

``show_trace`` makes the widgets match a snapshot: only the rows whose step changed are touched (a closed
step keeps its ``Step`` object from one snapshot to the next), and while the answer streams it is rendered
at most every ``RENDER_INTERVAL_MS`` (and at once when the trace has finished).
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from app.widgets.answer_view import AnswerView
from app.widgets.elided import ElidedLabel, ElidedToolButton
from app.widgets.step_row import StepRow
from app.widgets.trace_text import budget_text, header_text, step_meta_text, waiting_fraction, waiting_text
from core.reasoning import ReasoningTrace, Step

NOTES_SHOWN_CHARS = 400  # the end of a sequential reading's notes, while it reads


class TraceBlock(QFrame):
    step_toggled = Signal(int, bool)  # step index (1-based), expanded
    link_activated = Signal(str)  # a link in the answer was clicked (nothing is opened here)
    citation_activated = Signal(str)  # the key of a clicked citation link
    copy_requested = Signal()
    export_requested = Signal()

    RENDER_INTERVAL_MS = 100

    def __init__(self, message_id: int | str, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName=f"message-{message_id}")
        self.message_id = message_id
        self.trace = ReasoningTrace(_tracker=None)
        self.rows: list[StepRow] = []
        self.answer_cites: QLabel | None = None
        self.passages_label: QLabel | None = None
        self.passage_list: list[tuple[str, str]] = []  # (label, first words) of the passages a retrieval read
        self._stopping = False
        self._current_row: StepRow | None = None
        self._steps_shown = True
        self._all_expanded = False
        self._shown_answer = ""
        self._render_timer = QTimer(self, singleShot=True, interval=self.RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render_pending)
        self._build()

    # --- showing a snapshot ----------------------------------------------------------------------------
    def show_trace(self, trace: ReasoningTrace) -> None:
        self.trace = trace
        while len(self.rows) > len(trace.steps):  # the last fragment may fold into the step before
            row = self.rows.pop()
            row.setParent(None)
            row.deleteLater()
        for step in trace.steps:
            self._show_step(step)
        if not trace.streaming:
            self._render_pending()
        elif trace.answer != self._shown_answer:
            self._schedule_render()
        self._refresh_header()
        self._refresh_waiting()
        self._refresh_budget()

    def set_stopping(self, stopping: bool) -> None:
        """Stop was pressed: "Stopping…" until the trace has finished."""
        self._stopping = stopping
        self._refresh_header()

    def _show_step(self, step: Step) -> None:
        if step.index > len(self.rows):
            row = StepRow(step)
            row.toggled.connect(lambda expanded, r=row: self.step_toggled.emit(r.step.index, expanded))
            self.steps_layout.insertWidget(self.steps_layout.count() - 1, row)  # before "No reasoning steps"
            self.rows.append(row)
        row = self.rows[step.index - 1]
        if row.step is not step or not row.title_label.text():
            row.show_step(step, step_meta_text(step, self.trace.last_s))
            if row.expanded:
                self._schedule_render()
        open_now = step.end_s is None and self.trace.streaming
        if open_now and self._current_row is not row:
            self._mark_current(row)
        elif not open_now and self._current_row is row:
            self._mark_current(None)

    def _schedule_render(self) -> None:
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _render_pending(self) -> None:
        self._render_timer.stop()
        if self.trace.answer != self._shown_answer:
            self._render_answer()
        for row in self.rows:
            row.refresh_body()

    def _render_answer(self) -> None:
        self._shown_answer = self.trace.answer
        self.answer.show_markdown(self.trace.answer)

    def _refresh_header(self) -> None:
        trace = self.trace
        self.header.setText("Stopping…" if self._stopping and trace.streaming else header_text(trace))
        no_steps = not trace.steps and not trace.streaming
        self.empty_label.setVisible(no_steps)
        self.expand_all.setVisible(bool(trace.steps) or trace.streaming)
        if no_steps:
            self.show_steps(False)  # "No reasoning steps", collapsed

    def _refresh_waiting(self) -> None:
        trace = self.trace
        text = waiting_text(trace) if trace.waiting else ""
        self.waiting_box.setVisible(bool(text))
        if not text:
            return
        self.waiting_label.setText(text)
        fraction = waiting_fraction(trace)
        self.waiting_bar.setRange(0, 0 if fraction is None else 1000)  # no fraction yet: a busy bar
        self.waiting_bar.setValue(round(1000 * (fraction or 0.0)))
        notes = trace.reading.notes.strip() if trace.reading is not None else ""
        if len(notes) > NOTES_SHOWN_CHARS:
            notes = "…" + notes[-NOTES_SHOWN_CHARS:]
        self.notes_label.setText(f"Notes so far: {notes}" if notes else "")
        self.notes_label.setVisible(bool(notes))

    def _refresh_budget(self) -> None:
        trace = self.trace
        for widget in (self.budget_label, self.budget_bars[0].parentWidget()):
            widget.setVisible(bool(trace.tokens))  # no "reasoning 0 · answer 0" before (or without) any token
        left = max(0, (trace.max_tokens or 0) - trace.reasoning_tokens - trace.answer_tokens)
        layout = self.budget_bars[0].parentWidget().layout()
        for position, (bar, count) in enumerate(zip(self.budget_bars, (trace.reasoning_tokens, trace.answer_tokens,
                                                                       left))):
            bar.setVisible(count > 0)
            layout.setStretch(position, count)
        self.budget_label.setText(budget_text(trace))

    # --- actions ---------------------------------------------------------------------------------------
    def show_steps(self, shown: bool) -> None:
        self._steps_shown = shown
        self.steps_panel.setVisible(shown)
        self.header.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def set_all_expanded(self, expanded: bool) -> None:
        for row in self.rows:
            row.set_expanded(expanded)
        self._all_expanded = expanded
        self.expand_all.setText("Collapse all" if expanded else "Expand all")

    def set_citations(self, answer_links: list[tuple[str, str]], step_links: dict[int, list[tuple[str, str]]]) -> None:
        """Where the answer and the steps (1-based) cite the documents: ``(label, key)`` links."""
        for row in self.rows:
            row.show_citations(citation_html(step_links.get(row.step.index, [])),
                               lambda: self._citation_label("stepCitations"))
        if self.answer_cites is None and answer_links:
            self.answer_cites = self._citation_label("answerCitations")
            box = self.layout()
            box.insertWidget(box.indexOf(self.answer) + 1, self.answer_cites)
        if self.answer_cites is not None:
            self.answer_cites.setText(("Cited: " + citation_html(answer_links)) if answer_links else "")
            self.answer_cites.setVisible(bool(answer_links))

    def set_passages(self, links: list[tuple[str, str, str]]) -> None:
        """The passages a retrieval answer read: ``(label, key, first words)``, each a link to the document."""
        self.passage_list = [(label, words) for label, _key, words in links]
        if self.passages_label is None and links:
            self.passages_label = self._citation_label("passages")
            self.passages_label.setToolTip("Show the passage in the document panel")
            box = self.layout()
            box.insertWidget(box.indexOf(self.answer) + 1 + (self.answer_cites is not None), self.passages_label)
        if self.passages_label is not None:
            items = " · ".join(f'<a href="{html.escape(key)}">↗ {html.escape(label)}</a> “{html.escape(words)}”'
                               for label, key, words in links)
            self.passages_label.setText(f"Read {len(links)} passage{'s' if len(links) != 1 else ''}: {items}")
            self.passages_label.setVisible(bool(links))

    def apply_palette(self) -> None:
        palette = self.palette()
        highlight, text, base = (palette.color(QPalette.ColorRole.Highlight),
                                 palette.color(QPalette.ColorRole.WindowText), palette.color(QPalette.ColorRole.Window))
        for bar, colour in zip(self.budget_bars, (highlight, blend(text, base, 0.45), blend(text, base, 0.12))):
            bar_palette = bar.palette()
            bar_palette.setColor(QPalette.ColorRole.Window, colour)
            bar.setPalette(bar_palette)
        if self._current_row is not None:
            self._current_row.set_highlight(self._current_colour())
        self.answer.restyle()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_palette()

    def _mark_current(self, row: StepRow | None) -> None:
        previous, self._current_row = self._current_row, row
        if previous is not None:
            previous.set_current(False, self._current_colour())
        if row is not None:
            row.set_current(True, self._current_colour())

    def _current_colour(self) -> QColor:
        palette = self.palette()
        return blend(palette.color(QPalette.ColorRole.Highlight), palette.color(QPalette.ColorRole.Window), 0.22)

    def _citation_label(self, name: str) -> QLabel:
        label = QLabel(objectName=name, textFormat=Qt.TextFormat.RichText, wordWrap=True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        label.setToolTip("Show the quoted passage in the document panel")
        label.linkActivated.connect(self.citation_activated)
        return label

    # --- building --------------------------------------------------------------------------------------
    def _build(self) -> None:
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(4)
        self.header = ElidedToolButton(object_name="traceHeader")
        self.header.setAutoRaise(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.DownArrow)
        self.expand_all = QToolButton(objectName="expandAll", text="Expand all", autoRaise=True)
        self.expand_all.setToolTip("Show the full text of every step")
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.expand_all)
        box.addLayout(top)
        box.addWidget(self._waiting_box())
        self.steps_panel = QWidget(objectName="steps")
        self.steps_layout = QVBoxLayout(self.steps_panel)
        self.steps_layout.setContentsMargins(4, 0, 0, 0)
        self.steps_layout.setSpacing(1)
        self.empty_label = QLabel("No reasoning steps", objectName="noSteps", visible=False)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.steps_layout.addWidget(self.empty_label)
        box.addWidget(self.steps_panel)
        self.budget_bars = tuple(QFrame(objectName=name) for name in ("budgetReasoning", "budgetAnswer", "budgetLeft"))
        self.budget_label = ElidedLabel(object_name="tokenBudget")
        self.budget_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.budget_label.set_tooltip("Tokens generated for the reasoning and for the answer (of max tokens, when set)")
        box.addLayout(self._budget_row())
        self.answer = AnswerView()
        self.answer.link_activated.connect(self.link_activated)
        box.addWidget(self.answer)
        box.addLayout(self._actions_row())
        self.header.clicked.connect(lambda: self.show_steps(not self._steps_shown))
        self.expand_all.clicked.connect(lambda: self.set_all_expanded(not self._all_expanded))
        self.apply_palette()

    def _waiting_box(self) -> QWidget:
        """What the wait before the first token is spent on: the prompt being read, a document part by part."""
        self.waiting_box = QWidget(objectName="waitingBox", visible=False)
        column = QVBoxLayout(self.waiting_box)
        column.setContentsMargins(4, 0, 0, 2)
        column.setSpacing(2)
        self.waiting_bar = QProgressBar(objectName="promptProgress", textVisible=False, maximumHeight=8)
        self.waiting_bar.setMaximumWidth(360)
        self.waiting_label = ElidedLabel(object_name="waitingText")
        self.waiting_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.notes_label = QLabel(objectName="readingNotes", wordWrap=True, textFormat=Qt.TextFormat.PlainText,
                                  visible=False)
        self.notes_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.notes_label.setToolTip("What the model noted so far from the parts it has read")
        for widget in (self.waiting_bar, self.waiting_label, self.notes_label):
            column.addWidget(widget)
        return self.waiting_box

    def _budget_row(self) -> QHBoxLayout:
        track = QWidget(objectName="budgetBar")
        track.setFixedSize(120, 6)
        track.setToolTip("Tokens generated for the reasoning and for the answer (of max tokens, when set)")
        inner = QHBoxLayout(track)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.setSpacing(0)
        for bar in self.budget_bars:
            bar.setAutoFillBackground(True)
            bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
            inner.addWidget(bar)
        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 0, 2)
        row.addWidget(track)
        row.addWidget(self.budget_label, 1)
        return row

    def _actions_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        for name, text, tip, signal in (("copyTrace", "Copy trace", "Copy the reasoning steps and the answer as Markdown",
                                         self.copy_requested),
                                        ("exportTrace", "Export…", "Save the trace as Markdown or JSON",
                                         self.export_requested)):
            button = QPushButton(text, objectName=name, flat=True)
            button.setToolTip(tip)
            button.clicked.connect(signal)
            row.addWidget(button)
        return row


def citation_html(links: list[tuple[str, str]]) -> str:
    """``(label, key)`` links as rich text: "↗ page 37 · ↗ page 38"."""
    return " · ".join(f'<a href="{html.escape(key)}">↗ {html.escape(label)}</a>' for label, key in links)


def blend(colour: QColor, under: QColor, amount: float) -> QColor:
    """``amount`` of ``colour`` over ``under``."""
    return QColor.fromRgbF(*(amount * a + (1 - amount) * b for a, b in zip(colour.getRgbF()[:3], under.getRgbF()[:3])))

