"""BenchmarkPanel: run a precision sweep, watch it, read the table "metric x precision", compare past runs.

    ┌ (•) Quick ~1 min  ( ) Full   [Run] [Cancel]      History [run ▾]  [CSV] [JSON] [PNG] ┐
    │ ▓▓▓▓▓▓▓░░░░  int8 (4/5): decode batch 4 @512 · about 12 s left                       │
    │ model · machine · status                                                              │
    │ table: metric x precision; fp32 is the baseline, others show Δ% (green better, red worse) │
    │ charts: TTFT per precision · memory per precision · decode tok/s vs context depth      │
    └───────────────────────────────────────────────────────────────────────────────────────┘

Only shows and asks: ``BenchController`` runs the engine calls, the store and the exports. The table and
the exports use ``core.api.bench_report`` so the GUI and ``ponder bench`` show the same rows.

Signals:
    run_requested(quick)    cancel_requested()    export_requested(kind)   kind: csv | json | png
    history_selected(run_id)
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QProgressBar, QPushButton, QRadioButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from app.widgets.bench_charts import BarChartView, LineChartView
from core.api import bench_report as report
from core.api.bench_spec import BASELINE

BETTER, WORSE = QColor("#2e7d32"), QColor("#c62828")
NOISE_PCT = 2.0  # deltas smaller than this are not coloured


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left…"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


class BenchmarkPanel(QWidget):
    run_requested = Signal(bool)
    cancel_requested = Signal()
    export_requested = Signal(str)
    history_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("benchmarkPanel")
        self.result: dict[str, Any] | None = None
        self._build()
        self.set_available(False, "Start the engine to run a benchmark.")

    # --- building ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.quick_radio = QRadioButton("Quick (~1 min on a small model)", checked=True)
        self.full_radio = QRadioButton("Full (512 / 2k / 8k tokens)")
        group = QButtonGroup(self)
        group.addButton(self.quick_radio)
        group.addButton(self.full_radio)
        self.run_button = QPushButton("Run benchmark", objectName="benchRun")
        self.cancel_button = QPushButton("Cancel", objectName="benchCancel", enabled=False)
        self.history_combo = QComboBox(objectName="benchHistory")
        self.history_combo.setMinimumWidth(220)
        self.export_buttons = {kind: QPushButton(f"Export {kind.upper()}", enabled=False) for kind in ("csv", "json", "png")}
        top = QHBoxLayout()
        for w in (self.quick_radio, self.full_radio, self.run_button, self.cancel_button):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(QLabel("History"))
        top.addWidget(self.history_combo)
        for b in self.export_buttons.values():
            top.addWidget(b)

        self.progress = QProgressBar(objectName="benchProgress", maximum=1000, textVisible=False)
        self.progress_label = QLabel("", objectName="benchProgressLabel")
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label, 2)
        self.header_label = QLabel("", objectName="benchHeader", wordWrap=True)
        self.header_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.table = QTableWidget(objectName="benchTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        self.latency_chart = BarChartView("TTFT (s)", lambda v: f"{v:.3g}")
        self.memory_chart = BarChartView("weights memory (MiB)", lambda v: f"{v:,.0f}")
        self.depth_chart = LineChartView("decode tok/s (batch 1) vs depth", lambda v: f"{v:,.3g}")
        charts = QWidget()
        row = QHBoxLayout(charts)
        row.setContentsMargins(0, 0, 0, 0)
        for chart in (self.latency_chart, self.memory_chart, self.depth_chart):
            row.addWidget(chart)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(charts)
        self.splitter.setSizes([500, 240])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(progress_row)
        layout.addWidget(self.header_label)
        layout.addWidget(self.splitter, 1)

        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.quick_radio.isChecked()))
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        for kind, button in self.export_buttons.items():
            button.clicked.connect(lambda _=False, k=kind: self.export_requested.emit(k))
        self.history_combo.activated.connect(self._history_activated)

    # --- state ---------------------------------------------------------------------------------------
    def set_available(self, available: bool, reason: str = "") -> None:
        """Whether a run can start (an engine with the benchmark endpoints is connected)."""
        self._available = available
        self.run_button.setEnabled(available and not self.cancel_button.isEnabled())
        self.run_button.setToolTip("" if available else reason)
        if not available and not self.cancel_button.isEnabled():
            self.progress_label.setText(reason)

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.run_button.setEnabled(self._available and not running)
        for w in (self.quick_radio, self.full_radio):
            w.setEnabled(not running)
        if running:
            self.progress.setValue(0)
            self.progress_label.setText("Starting…")

    def show_progress(self, fraction: float, stage: str, precision: str | None, index: int, count: int,
                      eta_s: float | None) -> None:
        self.progress.setValue(round(1000 * max(0.0, min(fraction, 1.0))))
        where = f"{precision} ({index + 1}/{count}): " if precision else ""
        self.progress_label.setText(f"{where}{stage} · {format_eta(eta_s)}")

    def show_finished(self, state: str, message: str | None = None) -> None:
        self.set_running(False)
        if state == "done":
            self.progress.setValue(1000)
        self.progress_label.setText({"done": "Finished.", "cancelled": "Cancelled; the precisions measured so far "
                                     "are shown."}.get(state, f"Failed: {message or 'unknown error'}"))

    def set_history(self, runs: list[tuple[int, str]], current: int | None = None) -> None:
        self.history_combo.clear()
        for run_id, label in runs:
            self.history_combo.addItem(label, run_id)
        if current is not None:
            self.history_combo.setCurrentIndex(max(self.history_combo.findData(current), 0))

    def _history_activated(self, index: int) -> None:
        run_id = self.history_combo.itemData(index)
        if run_id is not None:
            self.history_selected.emit(int(run_id))

    # --- results -------------------------------------------------------------------------------------
    def show_result(self, result: dict[str, Any]) -> None:
        self.result = result
        self.header_label.setText(report.header(result) + _failures_text(result))
        self._fill_table(result)
        self._fill_charts(result)
        for button in self.export_buttons.values():
            button.setEnabled(True)

    def _fill_table(self, result: dict[str, Any]) -> None:
        precisions = report.precisions_of(result)
        rows = report.table(result)
        self.table.clear()
        self.table.setColumnCount(1 + len(precisions))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(["metric"] + [p + (" (baseline)" if p == BASELINE else "")
                                                           for p in precisions])
        for r, row in enumerate(rows):
            unit = row.metric.unit if row.metric.unit not in ("", "bytes", "fraction") else ""
            self.table.setItem(r, 0, QTableWidgetItem(row.metric.label + (f" ({unit})" if unit else "")))
            for c, p in enumerate(precisions, 1):
                cell = row.cells[p]
                item = QTableWidgetItem(report.cell_text(cell))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                color = _delta_color(row.metric.better, cell.delta_pct)
                if color is not None:
                    item.setForeground(QBrush(color))
                if cell.spread is not None and cell.spread.runs:
                    item.setToolTip("runs: " + ", ".join(row.metric.fmt(v) for v in cell.spread.runs))
                self.table.setItem(r, c, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for c in range(1, 1 + len(precisions)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)

    def _fill_charts(self, result: dict[str, Any]) -> None:
        depths = report.depths_of(result)
        rows = {r.metric.key: r for r in report.table(result)}
        ttft = rows.get(f"ttft_s@{depths[0]}") if depths else None
        if ttft is not None:
            self.latency_chart.title = f"TTFT @{depths[0]} tokens (s)"
            self.latency_chart.set_bars(_bars(ttft))
        self.memory_chart.set_bars([(p, v / 2**20, lo / 2**20, hi / 2**20) for p, v, lo, hi in _bars(rows["weights_bytes"])])
        self.depth_chart.set_series(report.series(result, "decode_tok_s@1"))

    def table_text(self) -> list[list[str]]:
        """The table as shown (header row first): for tests and for copying."""
        header = [self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]
        body = [[self.table.item(r, c).text() if self.table.item(r, c) else ""
                 for c in range(self.table.columnCount())] for r in range(self.table.rowCount())]
        return [header, *body]


def _bars(row: report.Row) -> list[tuple[str, float, float, float]]:
    out = []
    for p, cell in row.cells.items():
        if cell.value is None:
            continue
        low, high = (cell.spread.min, cell.spread.max) if cell.spread else (cell.value, cell.value)
        out.append((p, cell.value, low, high))
    return out


def _delta_color(better: str, delta: float | None) -> QColor | None:
    if delta is None or not better or abs(delta) < NOISE_PCT:
        return None
    improved = delta < 0 if better == "lower" else delta > 0
    return BETTER if improved else WORSE


def _failures_text(result: dict[str, Any]) -> str:
    notes = report.failures(result)
    return ("\n" + "\n".join(notes)) if notes else ""
