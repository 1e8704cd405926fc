"""Sparkline: a small live line graph of the last ``window_s`` seconds, drawn with QPainter.

``add(t_s, value)`` appends a point (any clock, as long as it only moves forward) and drops those older
than the window. The graph scrolls with the newest point at the right edge, is scaled to the min and max
of the points it shows (labelled at the right), and takes its colours from the palette, so it follows a
light or dark theme.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPalette, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class Sparkline(QWidget):
    def __init__(self, title: str = "", window_s: float = 60.0, format_value: Callable[[float], str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, not {window_s}")
        self.title = title
        self.window_s = window_s
        self._format = format_value or (lambda v: f"{v:.3g}")
        self._points: deque[tuple[float, float]] = deque()
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    # --- data --------------------------------------------------------------------------------------
    def add(self, t_s: float, value: float) -> None:
        if self._points and t_s < self._points[-1][0]:
            self._points.clear()  # the clock went back (a new engine, a new stream): start over
        self._points.append((t_s, float(value)))
        while self._points[0][0] < t_s - self.window_s:
            self._points.popleft()
        self.update()

    def clear(self) -> None:
        self._points.clear()
        self.update()

    def points(self) -> list[tuple[float, float]]:
        return list(self._points)

    def value_range(self) -> tuple[float, float] | None:
        """(min, max) of the points in the window; None when empty."""
        if not self._points:
            return None
        values = [v for _, v in self._points]
        return min(values), max(values)

    def set_title(self, title: str) -> None:
        self.title = title
        self.update()

    # --- drawing -----------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(150, 28)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        line = palette.color(QPalette.ColorRole.Highlight)
        text = palette.color(QPalette.ColorRole.PlaceholderText)
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.75))
        painter.setFont(small)
        metrics = painter.fontMetrics()
        labels = self._labels()
        label_w = max((metrics.horizontalAdvance(s) for s in labels), default=0) + 4
        title_w = metrics.horizontalAdvance(self.title) + 4 if self.title else 0
        plot = QRectF(self.rect()).adjusted(title_w + 1, 2, -label_w - 1, -2)
        frame = QColor(text)
        frame.setAlpha(60)
        painter.setPen(QPen(frame, 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.setPen(text)
        if self.title:
            painter.drawText(QRectF(0, 0, title_w, self.height()), Qt.AlignmentFlag.AlignVCenter, self.title)
        if labels:
            right = QRectF(plot.right() + 3, 0, label_w, self.height())
            painter.drawText(right, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, labels[0])
            painter.drawText(right, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, labels[1])
        if len(self._points) >= 2:
            self._draw_line(painter, plot, line)
        painter.end()

    def _labels(self) -> list[str]:
        bounds = self.value_range()
        return [self._format(bounds[1]), self._format(bounds[0])] if bounds else []

    def _draw_line(self, painter: QPainter, plot: QRectF, colour: QColor) -> None:
        low, high = self.value_range()
        span = (high - low) or max(abs(high), 1.0)  # a flat line sits in the middle
        base = low if high > low else low - span / 2
        newest = self._points[-1][0]
        path = QPainterPath()
        for i, (t, v) in enumerate(self._points):
            x = plot.right() - (newest - t) / self.window_s * plot.width()
            y = plot.bottom() - (v - base) / span * plot.height()
            path.lineTo(x, y) if i else path.moveTo(x, y)
        fill = QPainterPath(path)
        fill.lineTo(QPointF(plot.right(), plot.bottom()))
        fill.lineTo(QPointF(path.elementAt(0).x, plot.bottom()))
        shade = QColor(colour)
        shade.setAlpha(50)
        painter.fillPath(fill, shade)
        painter.setPen(QPen(colour, 1.5))
        painter.drawPath(path)
