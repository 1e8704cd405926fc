"""One-line labels that never push their column wider: too long a text ends in "…", the full text in its tooltip.

A QLabel or QToolButton asks for the width of its whole text, so one long line ("Failed: <a long error>", a
long file name, a status) makes its column's minimum wider than the window and slides its neighbours out of
view. These ask for ``MIN_WIDTH_PX`` at least, show what fits, and say the rest on hover.

    label = ElidedLabel("Interrupted — the engine stopped; partial answer kept")
    button = ElidedToolButton()          # a header with an arrow
    button.setText(text)                 # full_text() gives it back, text() the shown part
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStyle, QStyleOptionToolButton, QToolButton, QWidget

MIN_WIDTH_PX = 40


class ElidedLabel(QLabel):
    """A plain-text, one-line label whose text is elided at the right to its width."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, object_name: str = "") -> None:
        super().__init__(parent)
        if object_name:
            self.setObjectName(object_name)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._full = ""
        self._tip = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = text
        self._elide()

    def full_text(self) -> str:
        return self._full

    def set_tooltip(self, tip: str) -> None:
        """A tooltip of its own (shown with the full text when elided)."""
        self._tip = tip
        self._elide()

    @property
    def elided(self) -> bool:
        return super().text() != self._full

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(min(MIN_WIDTH_PX, super().sizeHint().width()), super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 2 * self.margin() + 4,
                     super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width() - 2 * self.margin()
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(width, 0))
        QLabel.setText(self, shown if width > 0 else self._full)
        tips = [t for t in ((self._full if shown != self._full else ""), self._tip) if t]
        self.setToolTip("\n\n".join(tips))


class ElidedToolButton(QToolButton):
    """A tool button (arrow and text beside it) whose text is elided to the width it is given."""

    def __init__(self, parent: QWidget | None = None, *, object_name: str = "") -> None:
        super().__init__(parent)
        if object_name:
            self.setObjectName(object_name)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._full = ""

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = text
        self._elide()

    def full_text(self) -> str:
        return self._full

    @property
    def elided(self) -> bool:
        return super().text() != self._full

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(MIN_WIDTH_PX, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        option = QStyleOptionToolButton()
        self.initStyleOption(option)
        margin = self.style().pixelMetric(QStyle.PixelMetric.PM_ButtonMargin, option, self)
        width = self.width() - 2 * margin - self.iconSize().width() - 10  # the arrow beside the text, and a gap
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(width, 0))
        QToolButton.setText(self, shown if width > 0 else self._full)
        self.setToolTip(self._full)
