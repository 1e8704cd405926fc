"""Two small charts for the benchmark panel, drawn with QPainter (PySide6-Essentials has no QtCharts).

- ``BarChartView``: one value per precision (TTFT, decode speed, memory), each bar with its min-max
  whisker, so the spread is visible next to the median.
- ``LineChartView``: tokens/s against context depth, one line per precision.

Colours come from a fixed per-precision set (the same precision has the same colour in both charts) over
the palette's base and text colours, so they follow a light or dark theme.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PRECISION_COLORS = {"fp32": "#4e79a7", "bf16": "#f28e2b", "fp16": "#e15759", "int8": "#59a14f", "int4": "#b07aa1"}
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 12, 24, 34


def color_of(precision: str) -> QColor:
    return QColor(PRECISION_COLORS.get(precision, "#9c755f"))


class _ChartBase(QWidget):
    def __init__(self, title: str, format_value: Callable[[float], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.format_value = format_value
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(220, 160)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(360, 220)

    top_margin = MARGIN_TOP

    def _frame(self, p: QPainter, top: float | None) -> QRectF:
        """Background, title and the plot area, its left margin wide enough for the y labels up to ``top``."""
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        p.setPen(pal.color(QPalette.ColorRole.Text))
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(QRectF(0, 2, self.width(), MARGIN_TOP - 4), Qt.AlignmentFlag.AlignCenter, self.title)
        p.setFont(self.font())
        left = MARGIN_LEFT
        if top is not None:  # "12,000 tok/s" does not fit a fixed margin
            left = max(left, 8 + max(p.fontMetrics().horizontalAdvance(self.format_value(top * i / 3))
                                     for i in range(4)))
        return QRectF(left, self.top_margin, max(self.width() - left - MARGIN_RIGHT, 10),
                      max(self.height() - self.top_margin - MARGIN_BOTTOM, 10))

    def _axis(self, p: QPainter, area: QRectF, top: float) -> None:
        """Y axis from 0 to ``top`` with three labelled grid lines."""
        pal = self.palette()
        grid = QColor(pal.color(QPalette.ColorRole.Text))
        grid.setAlpha(50)
        for i in range(4):
            y = area.bottom() - area.height() * i / 3
            p.setPen(QPen(grid, 1))
            p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            p.setPen(pal.color(QPalette.ColorRole.Text))
            p.drawText(QRectF(0, y - 8, area.left() - 4, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       self.format_value(top * i / 3))

    def _empty(self, p: QPainter, area: QRectF) -> None:
        p.drawText(area, Qt.AlignmentFlag.AlignCenter, "no data yet")


class BarChartView(_ChartBase):
    """Bars per precision: ``set_bars([(precision, median, min, max)])``."""

    def __init__(self, title: str, format_value: Callable[[float], str] = lambda v: f"{v:.3g}",
                 parent: QWidget | None = None) -> None:
        super().__init__(title, format_value, parent)
        self.bars: list[tuple[str, float, float, float]] = []

    def set_bars(self, bars: list[tuple[str, float, float, float]]) -> None:
        self.bars = list(bars)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        top = (max(max(b[3], b[1]) for b in self.bars) * 1.1 or 1.0) if self.bars else None
        area = self._frame(p, top)
        if top is None:
            self._empty(p, area)
            return
        self._axis(p, area, top)
        slot = area.width() / len(self.bars)
        text = self.palette().color(QPalette.ColorRole.Text)
        for i, (name, median, low, high) in enumerate(self.bars):
            x = area.left() + slot * i + slot * 0.2
            w = slot * 0.6
            h = area.height() * median / top
            p.fillRect(QRectF(x, area.bottom() - h, w, h), color_of(name))
            p.setPen(QPen(text, 1.5))
            cx = x + w / 2
            y_low, y_high = area.bottom() - area.height() * low / top, area.bottom() - area.height() * high / top
            p.drawLine(QPointF(cx, y_low), QPointF(cx, y_high))
            p.drawLine(QPointF(cx - 4, y_high), QPointF(cx + 4, y_high))
            p.drawLine(QPointF(cx - 4, y_low), QPointF(cx + 4, y_low))
            p.drawText(QRectF(x - slot * 0.2, area.bottom() + 2, slot, 16), Qt.AlignmentFlag.AlignCenter, name)
            p.drawText(QRectF(x - slot * 0.2, area.bottom() + 16, slot, 16), Qt.AlignmentFlag.AlignCenter,
                       self.format_value(median))


class LineChartView(_ChartBase):
    """Lines per precision: ``set_series({precision: [(depth, value), ...]})``; x is the depth in tokens."""

    top_margin = MARGIN_TOP + 18  # room for the legend above the plot

    def __init__(self, title: str, format_value: Callable[[float], str] = lambda v: f"{v:.3g}",
                 parent: QWidget | None = None) -> None:
        super().__init__(title, format_value, parent)
        self.series: dict[str, list[tuple[int, float]]] = {}

    def set_series(self, series: dict[str, list[tuple[int, float]]]) -> None:
        self.series = {k: sorted(v) for k, v in series.items() if v}
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        top = (max(v for points in self.series.values() for _, v in points) * 1.1 or 1.0) if self.series else None
        area = self._frame(p, top)
        if top is None:
            self._empty(p, area)
            return
        depths = sorted({d for points in self.series.values() for d, _ in points})
        self._axis(p, area, top)
        # Depths are spaced evenly (512, 2k, 8k would otherwise crowd the left): a categorical x axis.
        xs = {d: area.left() + area.width() * (i + 0.5) / len(depths) for i, d in enumerate(depths)}
        text = self.palette().color(QPalette.ColorRole.Text)
        p.setPen(text)
        for d, x in xs.items():
            p.drawText(QRectF(x - 40, area.bottom() + 2, 80, 16), Qt.AlignmentFlag.AlignCenter, f"{d:,}")
        p.drawText(QRectF(area.left(), area.bottom() + 16, area.width(), 16), Qt.AlignmentFlag.AlignCenter,
                   "context depth (tokens)")
        for k, (name, points) in enumerate(self.series.items()):
            pen = QPen(color_of(name), 2)
            p.setPen(pen)
            prev = None
            for d, v in points:
                pt = QPointF(xs[d], area.bottom() - area.height() * v / top)
                if prev is not None:
                    p.drawLine(prev, pt)
                p.setBrush(color_of(name))
                p.drawEllipse(pt, 3, 3)
                prev = pt
            p.drawText(QRectF(area.left() + 6 + 52 * k, area.top() - 18, 50, 14), Qt.AlignmentFlag.AlignLeft, name)
