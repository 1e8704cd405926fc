"""Two small charts for the benchmark panel, drawn with QPainter (PySide6-Essentials has no QtCharts).

- ``BarChartView``: one value per precision (TTFT, memory), each bar with its min-max whisker, so the spread
  is visible next to the median.
- ``LineChartView``: tokens/s against context depth, one line per precision, each point with its min-max
  range: two lines whose ranges overlap are not different, whatever order their medians are in.

The y axis runs from 0 to a round number in round steps (1, 2, 2.5 or 5 times a power of ten: 0, 1, 2, 3,
never 3.17 / 2.12). Colours come from a fixed per-precision set (the same precision has the same colour in
both charts) over the palette's base and text colours, so they follow a light or dark theme.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PRECISION_COLORS = {"fp32": "#4e79a7", "bf16": "#f28e2b", "fp16": "#e15759", "int8": "#59a14f", "int4": "#b07aa1"}
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 40, 12, 24, 34
TICKS = 4  # about this many steps up the y axis


def color_of(precision: str) -> QColor:
    return QColor(PRECISION_COLORS.get(precision, "#9c755f"))


def nice_axis(high: float, ticks: int = TICKS) -> tuple[float, float]:
    """(top, step) of an axis from 0 that shows ``high``: the step 1, 2, 2.5 or 5 times a power of ten."""
    if not math.isfinite(high) or high <= 0:
        return 1.0, 0.25
    rough = high / ticks
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)
    return step * math.ceil(high / step - 1e-9), step


def tick_text(value: float, step: float) -> str:
    """A tick label with as many decimals as the step needs: 0.25 -> "0.25", 2 -> "2", 12000 -> "12,000"."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    if step < 1 and round(step * 10 ** decimals) % 10 != 0 and round(step * 10 ** (decimals + 1)) % 10:
        decimals += 1
    return f"{value:,.{decimals}f}"


def value_text(value: float) -> str:
    """A measured value under a bar: three significant digits, thousands separated."""
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}"


class _ChartBase(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(90, 150)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(300, 220)

    top_margin = MARGIN_TOP

    def ticks(self, high: float) -> list[str]:
        """The y axis labels for data up to ``high`` (tests read them)."""
        top, step = nice_axis(high)
        return [tick_text(step * i, step) for i in range(round(top / step) + 1)]

    def _frame(self, p: QPainter, high: float | None) -> tuple[QRectF, float, float]:
        """Background, title and the plot area (its left margin wide enough for the y labels); (area, top, step)."""
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        p.setPen(pal.color(QPalette.ColorRole.Text))
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(QRectF(0, 2, self.width(), MARGIN_TOP - 4), Qt.AlignmentFlag.AlignCenter, self.title)
        p.setFont(self.font())
        top, step = nice_axis(high or 0.0)
        left = MARGIN_LEFT
        if high is not None:
            left = max(left, 8 + max(p.fontMetrics().horizontalAdvance(t) for t in self.ticks(high)))
        area = QRectF(left, self.top_margin, max(self.width() - left - MARGIN_RIGHT, 10),
                      max(self.height() - self.top_margin - MARGIN_BOTTOM, 10))
        return area, top, step

    def _axis(self, p: QPainter, area: QRectF, top: float, step: float) -> None:
        """Y axis from 0 to ``top`` with a labelled grid line every ``step``."""
        pal = self.palette()
        grid = QColor(pal.color(QPalette.ColorRole.Text))
        grid.setAlpha(50)
        for i in range(round(top / step) + 1):
            y = area.bottom() - area.height() * (i * step) / top
            p.setPen(QPen(grid, 1))
            p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            p.setPen(pal.color(QPalette.ColorRole.Text))
            p.drawText(QRectF(0, y - 8, area.left() - 4, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       tick_text(i * step, step))

    def _empty(self, p: QPainter, area: QRectF) -> None:
        p.drawText(area, Qt.AlignmentFlag.AlignCenter, "no data yet")


class BarChartView(_ChartBase):
    """Bars per precision: ``set_bars([(precision, median, min, max)])``."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.bars: list[tuple[str, float, float, float]] = []

    def set_bars(self, bars: list[tuple[str, float, float, float]]) -> None:
        self.bars = list(bars)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        high = max(max(b[3], b[1]) for b in self.bars) if self.bars else None
        area, top, step = self._frame(p, high)
        if high is None:
            self._empty(p, area)
            return
        self._axis(p, area, top, step)
        slot = area.width() / len(self.bars)
        text = self.palette().color(QPalette.ColorRole.Text)
        for i, (name, median, low, high_value) in enumerate(self.bars):
            x = area.left() + slot * i + slot * 0.2
            w = slot * 0.6
            h = area.height() * median / top
            p.fillRect(QRectF(x, area.bottom() - h, w, h), color_of(name))
            p.setPen(QPen(text, 1.5))
            cx = x + w / 2
            y_low, y_high = area.bottom() - area.height() * low / top, area.bottom() - area.height() * high_value / top
            p.drawLine(QPointF(cx, y_low), QPointF(cx, y_high))
            p.drawLine(QPointF(cx - 4, y_high), QPointF(cx + 4, y_high))
            p.drawLine(QPointF(cx - 4, y_low), QPointF(cx + 4, y_low))
            p.drawText(QRectF(x - slot * 0.2, area.bottom() + 2, slot, 16), Qt.AlignmentFlag.AlignCenter, name)
            label = value_text(median)
            if p.fontMetrics().horizontalAdvance(label) < slot - 2:  # a narrow chart: the axis says it instead
                p.drawText(QRectF(x - slot * 0.2, area.bottom() + 16, slot, 16), Qt.AlignmentFlag.AlignCenter, label)


class LineChartView(_ChartBase):
    """Lines per precision: ``set_series({precision: [(depth, median, min, max), ...]})``; x is the depth, and
    each point's vertical bar is the range of its runs."""

    top_margin = MARGIN_TOP + 32  # room for the legend above the plot (two lines in a narrow chart)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.series: dict[str, list[tuple[int, float, float, float]]] = {}

    def set_series(self, series: dict[str, list[tuple[int, float, float, float]]]) -> None:
        self.series = {k: sorted(v) for k, v in series.items() if v}
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        high = max(max(hi, v) for points in self.series.values() for _, v, _, hi in points) if self.series else None
        area, top, step = self._frame(p, high)
        if high is None:
            self._empty(p, area)
            return
        depths = sorted({d for points in self.series.values() for d, *_ in points})
        self._axis(p, area, top, step)
        # Depths are spaced evenly (512, 2k, 8k would otherwise crowd the left): a categorical x axis.
        xs = {d: area.left() + area.width() * (i + 0.5) / len(depths) for i, d in enumerate(depths)}
        text = self.palette().color(QPalette.ColorRole.Text)
        p.setPen(text)
        for d, x in xs.items():
            p.drawText(QRectF(x - 40, area.bottom() + 2, 80, 16), Qt.AlignmentFlag.AlignCenter, f"{d:,}")
        p.drawText(QRectF(area.left(), area.bottom() + 16, area.width(), 16), Qt.AlignmentFlag.AlignCenter,
                   "context depth (tokens)")
        n = len(self.series)
        for k, (name, points) in enumerate(self.series.items()):
            colour = color_of(name)
            offset = (k - (n - 1) / 2) * 4  # ranges side by side, not on top of each other
            prev = None
            for d, v, low, high_value in points:
                x = xs[d] + offset
                pt = QPointF(x, area.bottom() - area.height() * v / top)
                p.setPen(QPen(colour, 1.5))
                p.drawLine(QPointF(x, area.bottom() - area.height() * low / top),
                           QPointF(x, area.bottom() - area.height() * high_value / top))
                p.setPen(QPen(colour, 2))
                if prev is not None:
                    p.drawLine(prev, pt)
                p.setBrush(colour)
                p.drawEllipse(pt, 3, 3)
                prev = pt
        self._legend(p, area)

    def _legend(self, p: QPainter, area: QRectF) -> None:
        """The precisions' names in their colours above the plot, on as many lines as the width needs."""
        x, y = area.left() + 4, area.top() - 18
        for name in self.series:
            width = p.fontMetrics().horizontalAdvance(name) + 10
            if x + width > self.width() - MARGIN_RIGHT and x > area.left() + 4:
                x, y = area.left() + 4, y + 14
            p.setPen(QPen(color_of(name), 2))
            p.drawText(QRectF(x, y, width, 14), Qt.AlignmentFlag.AlignLeft, name)
            x += width
