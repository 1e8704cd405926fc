"""BenchmarkPanel: run a precision sweep, watch it, read the table "metric x precision", compare past runs.

    ┌ (•) Quick  ( ) Full            [Run] [Cancel] ┐   fits the side panel's width: the controls wrap,
    │ what the chosen mode measures (tooltip: all)   │   the table scrolls sideways
    │ ▓▓▓▓▓▓▓░░░░  int8 (4/5): retention · 12 s left │
    │ History [run ▾]           [CSV] [JSON] [PNG]   │
    │ model · machine · status, notes                │
    │ table: metric x precision; each column as soon as its precision is measured │
    │ charts: TTFT · memory · decode tok/s vs depth (each point with its range)   │
    │ [Legend]: what every row measures                                           │
    └────────────────────────────────────────────────┘

Only shows and asks: ``BenchController`` runs the engine calls, the store and the exports. The table, its
verdicts ("within noise", better, worse) and the legend come from ``core.api.bench_report``, so the GUI and
``ponder bench`` show the same rows and judge them alike.

Signals:
    run_requested(quick)    cancel_requested()    export_requested(kind)   kind: csv | json | png
    history_selected(run_id)
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QGridLayout, QHBoxLayout, QHeaderView,
                               QLabel, QProgressBar, QPushButton, QRadioButton, QSizePolicy, QSplitter, QTableWidget,
                               QTableWidgetItem, QToolButton, QVBoxLayout, QWidget)

from app.widgets.bench_charts import BarChartView, LineChartView
from app.widgets.elided import ElidedLabel
from core.api import bench_report as report
from core.api.bench_spec import BASELINE, SuiteConfig

BETTER, WORSE = QColor("#2e7d32"), QColor("#c62828")
READY_TEXT = "Ready: Run measures every precision of the loaded model; each column appears as it finishes."
MODE_TEXT = {True: "Quick: under 2 minutes for the bundled model (short prompts, 8 held-out questions).",
             False: "Full: 512, 2k and 8k-token prompts, more repeats, every held-out question: many minutes."}


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
        self._row_keys: list[str] = []
        self._available = False
        self._build()
        self.set_available(False, "Start the engine to run a benchmark.")

    # --- building ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.quick_radio = QRadioButton("Quick", checked=True)
        self.full_radio = QRadioButton("Full")
        group = QButtonGroup(self)
        group.addButton(self.quick_radio)
        group.addButton(self.full_radio)
        self.run_button = QPushButton("Run benchmark", objectName="benchRun")
        self.cancel_button = QPushButton("Cancel", objectName="benchCancel", enabled=False)
        self.mode_label = ElidedLabel(object_name="benchMode")
        self.history_combo = QComboBox(objectName="benchHistory")
        self.history_combo.setMinimumContentsLength(12)
        self.history_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.export_buttons = {kind: QPushButton(kind.upper(), enabled=False) for kind in ("csv", "json", "png")}
        for kind, button in self.export_buttons.items():
            button.setToolTip(f"Export the shown run as {kind.upper()}")
        controls = QGridLayout()
        controls.addWidget(self.quick_radio, 0, 0)
        controls.addWidget(self.full_radio, 0, 1)
        controls.setColumnStretch(2, 1)
        controls.addWidget(self.run_button, 0, 3)
        controls.addWidget(self.cancel_button, 0, 4)
        controls.addWidget(self.mode_label, 1, 0, 1, 5)
        history = QGridLayout()
        history.addWidget(QLabel("History"), 0, 0)
        history.addWidget(self.history_combo, 0, 1, 1, 4)
        history.addWidget(QLabel("Export"), 1, 0)
        for column, button in enumerate(self.export_buttons.values(), 1):
            history.addWidget(button, 1, column)
        history.setColumnStretch(4, 1)

        self.progress = QProgressBar(objectName="benchProgress", maximum=1000, textVisible=False, maximumHeight=10)
        self.progress_label = ElidedLabel(object_name="benchProgressLabel")
        self.header_label = QLabel("", objectName="benchHeader", wordWrap=True)
        self.header_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.table = QTableWidget(objectName="benchTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.latency_chart = BarChartView("TTFT (s)")
        self.memory_chart = BarChartView("weights memory (MiB)")
        self.depth_chart = LineChartView("decode tok/s (batch 1) vs depth")
        self.depth_chart.setToolTip("Each point is the median of its runs, its bar their range: lines whose bars "
                                    "overlap are within noise, whichever is on top")
        self.latency_chart.setToolTip("Median time to first token; the whisker is the range of the runs")
        charts = QWidget()
        row = QHBoxLayout(charts)
        row.setContentsMargins(0, 0, 0, 0)
        for chart in (self.latency_chart, self.memory_chart, self.depth_chart):
            row.addWidget(chart)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(charts)
        self.splitter.setSizes([500, 220])
        self.legend_button = QToolButton(objectName="benchLegendButton", text="Legend", checkable=True, autoRaise=True)
        self.legend_button.setToolTip("What every row measures, and how to read a cell")
        self.legend_label = QLabel(objectName="benchLegend", wordWrap=True, textFormat=Qt.TextFormat.RichText,
                                   visible=False)
        self.legend_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.legend_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addLayout(history)
        layout.addWidget(self.header_label)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.legend_button)
        layout.addWidget(self.legend_label)

        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.quick_radio.isChecked()))
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        for kind, button in self.export_buttons.items():
            button.clicked.connect(lambda _=False, k=kind: self.export_requested.emit(k))
        self.history_combo.activated.connect(self._history_activated)
        self.quick_radio.toggled.connect(lambda _on: self._show_mode())
        self.legend_button.toggled.connect(self.legend_label.setVisible)
        self._show_mode()

    def _show_mode(self) -> None:
        quick = self.quick_radio.isChecked()
        self.mode_label.setText(MODE_TEXT[quick])
        described = SuiteConfig.make(Path("."), quick=quick).describe()
        self.mode_label.set_tooltip(described)
        for radio in (self.quick_radio, self.full_radio):
            radio.setToolTip(SuiteConfig.make(Path("."), quick=radio is self.quick_radio).describe())

    # --- state ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.cancel_button.isEnabled()

    def set_available(self, available: bool, reason: str = "") -> None:
        """Whether a run can start (an engine with the benchmark endpoints is connected); the line says so."""
        self._available = available
        self.run_button.setEnabled(available and not self.running)
        self.run_button.setToolTip("" if available else reason)
        if not self.running:
            self.progress_label.setText(READY_TEXT if available else reason)

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
        seconds = (self.result or {}).get("seconds")
        took = f" in {seconds:.0f} s" if state == "done" and isinstance(seconds, (int, float)) else ""
        self.progress_label.setText({"done": f"Finished{took}.", "cancelled": "Cancelled; the precisions measured so "
                                     "far are shown."}.get(state, f"Failed: {message or 'unknown error'}"))

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
    def show_result(self, result: dict[str, Any], partial: bool = False) -> None:
        """A run's result; ``partial``: it is still running, with the precisions measured so far."""
        self.result = result
        count = len(report.precisions_of(result))
        so_far = f"\nRunning: {count} precision{'s' if count != 1 else ''} measured so far." if partial else ""
        self.header_label.setText(report.header(result) + so_far + _failures_text(result))
        self._fill_table(result)
        self._fill_charts(result)
        self._fill_legend(result)
        for button in self.export_buttons.values():
            button.setEnabled(not partial)

    def _fill_table(self, result: dict[str, Any]) -> None:
        precisions = report.precisions_of(result)
        rows = report.table(result)
        self._row_keys = [row.metric.key for row in rows]
        self.table.clear()
        self.table.setColumnCount(1 + len(precisions))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(["metric"] + [p + (" (baseline)" if p == BASELINE else "")
                                                           for p in precisions])
        for r, row in enumerate(rows):
            unit = row.metric.unit if row.metric.unit not in ("", "bytes", "fraction") else ""
            label = QTableWidgetItem(row.metric.label + (f" ({unit})" if unit else ""))
            label.setToolTip(row.metric.help)
            self.table.setItem(r, 0, label)
            for c, p in enumerate(precisions, 1):
                cell = row.cells[p]
                item = QTableWidgetItem(report.cell_text(cell))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                color = {"better": BETTER, "worse": WORSE}.get(cell.verdict or "")
                if color is not None:
                    item.setForeground(QBrush(color))
                tips = [row.metric.help]
                if cell.spread is not None and cell.spread.runs:
                    tips.append("runs: " + ", ".join(row.metric.fmt(v) for v in cell.spread.runs))
                if cell.within_noise:
                    tips.append("within noise: the difference from fp32 is not larger than the runs' own spread")
                item.setToolTip("\n".join(t for t in tips if t))
                self.table.setItem(r, c, item)
        header = self.table.horizontalHeader()
        for c in range(self.table.columnCount()):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)

    def _fill_charts(self, result: dict[str, Any]) -> None:
        depths = report.depths_of(result)
        rows = {r.metric.key: r for r in report.table(result)}
        ttft = rows.get(f"ttft_s@{depths[0]}") if depths else None
        if ttft is not None:
            self.latency_chart.title = f"TTFT @{depths[0]} tokens (s)"
            self.latency_chart.set_bars(_bars(ttft))
        self.memory_chart.set_bars([(p, v / 2**20, lo / 2**20, hi / 2**20) for p, v, lo, hi in _bars(rows["weights_bytes"])])
        self.depth_chart.set_series({p: [(d, s.median, s.min, s.max) for d, s in points]
                                     for p, points in report.series_spread(result, "decode_tok_s@1").items()})

    def _fill_legend(self, result: dict[str, Any]) -> None:
        items = "".join(f"<li><b>{html.escape(label)}</b>: {html.escape(text)}</li>"
                        for label, text in report.legend(result))
        about = html.escape(str(result.get("description") or ""))
        self.legend_label.setText(f"<ul style='margin-left:-24px'>{items}</ul>" + (f"<p>{about}</p>" if about else ""))

    def table_text(self) -> list[list[str]]:
        """The table as shown (header row first): for tests and for copying."""
        header = [self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]
        body = [[self.table.item(r, c).text() if self.table.item(r, c) else ""
                 for c in range(self.table.columnCount())] for r in range(self.table.rowCount())]
        return [header, *body]

    def cell_colour(self, row_key: str, precision: str) -> str | None:
        """How the cell is coloured: "better" (green), "worse" (red) or None (tests read it)."""
        column = report.precisions_of(self.result or {}).index(precision) + 1
        item = self.table.item(self._row_keys.index(row_key), column)
        colour = item.foreground().color() if item.foreground().style() != Qt.BrushStyle.NoBrush else None
        return "better" if colour == BETTER else "worse" if colour == WORSE else None


def _bars(row: report.Row) -> list[tuple[str, float, float, float]]:
    out = []
    for p, cell in row.cells.items():
        if cell.value is None:
            continue
        low, high = (cell.spread.min, cell.spread.max) if cell.spread else (cell.value, cell.value)
        out.append((p, cell.value, low, high))
    return out


def _failures_text(result: dict[str, Any]) -> str:
    notes = report.failures(result)
    return ("\n" + "\n".join(notes)) if notes else ""
