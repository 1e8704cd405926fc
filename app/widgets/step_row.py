"""StepRow: one step of a reasoning trace: index, title, tokens and time; a click shows its full text.

Expanded, the full text takes the title's place (the title is its first sentence: shown once, not twice).

The row owns its widgets and its own state (expanded, current, body up to date); the ``ReasoningView``
decides which rows exist and which one is being written, and hears about clicks through ``toggled``.
The body's text is filled lazily: only when the row is open, and at most once per render tick while the
step is still growing (``refresh_body``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from core.reasoning import Step, step_body


class StepRow(QFrame):
    toggled = Signal(bool)  # expanded (by a click or by set_expanded)

    def __init__(self, step: Step, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName=f"step-{step.index}")
        self.step = step
        self.expanded = False
        self.body_stale = True
        self.cite_label: QLabel | None = None
        self.setProperty("current", False)
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 1, 4, 1)
        box.setSpacing(0)
        self.head = QWidget(objectName="stepHead")
        self.head.setCursor(Qt.CursorShape.PointingHandCursor)
        line = QHBoxLayout(self.head)
        line.setContentsMargins(0, 0, 0, 0)
        line.setSpacing(6)
        self.chevron = QToolButton(objectName="stepChevron", autoRaise=True)
        self.chevron.setArrowType(Qt.ArrowType.RightArrow)
        self.chevron.setFixedSize(18, 18)
        self.chevron.setToolTip("Show or hide this step's full text")
        self.index_label = QLabel(f"{step.index}.", objectName="stepIndex")
        self.index_label.setMinimumWidth(self.index_label.fontMetrics().horizontalAdvance("00.") + 2)
        self.index_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.title_label = QLabel(objectName="stepTitle", textFormat=Qt.TextFormat.PlainText)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.meta_label = QLabel(objectName="stepMeta")
        self.meta_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.meta_label.setToolTip("Tokens in this step · time it took")
        self.body_label = QLabel(objectName="stepBody", wordWrap=True, textFormat=Qt.TextFormat.PlainText,
                                 visible=False)
        self.body_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.body_label.setContentsMargins(0, 0, 0, 4)
        top = Qt.AlignmentFlag.AlignTop
        for widget, stretch, align in ((self.chevron, 0, top), (self.index_label, 0, top), (self.title_label, 1, 0),
                                       (self.body_label, 1, 0), (self.meta_label, 0, top)):
            line.addWidget(widget, stretch, Qt.AlignmentFlag(align))
        box.addWidget(self.head)
        self.chevron.clicked.connect(lambda: self.set_expanded(not self.expanded))
        self.head.installEventFilter(self)
        self.title_label.installEventFilter(self)

    def show_step(self, step: Step, meta: str) -> None:
        """The step grew or changed: new title (elided to fit), meta line; the body is refilled when shown."""
        retitled = self.step.title != step.title or not self.title_label.text()
        self.step = step
        if retitled:
            self.title_label.setToolTip(step.title)
            self._elide_title()
        self.meta_label.setText(meta)
        self.body_stale = True

    def set_expanded(self, expanded: bool) -> None:
        if self.expanded == expanded:
            return
        self.expanded = expanded
        self.setProperty("expanded", expanded)
        self.chevron.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.refresh_body()
        self.title_label.setVisible(not expanded)
        self.body_label.setVisible(expanded)
        self.toggled.emit(expanded)

    def refresh_body(self) -> None:
        if self.expanded and self.body_stale:
            self.body_stale = False
            self.body_label.setText(step_body(self.step.text))

    def set_current(self, on: bool, highlight: QColor) -> None:
        """The step being written: bold index on a tinted background."""
        self.setProperty("current", on)
        self.setAutoFillBackground(on)
        font = self.index_label.font()
        font.setBold(on)
        self.index_label.setFont(font)
        if on:
            self.set_highlight(highlight)

    def set_highlight(self, colour: QColor) -> None:
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, colour)
        self.setPalette(palette)

    def show_citations(self, html: str, make_label: Callable[[], QLabel]) -> None:
        """Citation links after the title; the label comes from ``make_label`` (the view, which hears its
        clicks), made the first time there is something to show."""
        if self.cite_label is None and html:
            self.cite_label = make_label()
            self.head.layout().insertWidget(4, self.cite_label, 0, Qt.AlignmentFlag.AlignTop)
        if self.cite_label is not None:
            self.cite_label.setText(html)
            self.cite_label.setVisible(bool(html))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            self.set_expanded(not self.expanded)
            return True
        if event.type() == QEvent.Type.Resize and watched is self.title_label:
            self._elide_title()
        return super().eventFilter(watched, event)

    def _elide_title(self) -> None:
        label, title = self.title_label, self.step.title
        width = label.width()
        label.setText(label.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, width)
                      if width > 20 and label.isVisible() else title)
