"""CatalogTable: the curated models, one row each, with the planner's verdict for this machine as badges.

Columns: model (name and repository), the verdict badge ("fits at bf16", "fits at int4 only", "too large: needs
…"), one small badge per precision (✓ fits, ✗ does not, with the memory it needs in GiB; — where this hardware
cannot run it), parameters, download size, context, license, and a Download button (Downloaded ✓ once here).
It shows what it is given: ``show_entries(rows)`` with ``core.catalog`` verdicts; ``download_requested(repo)``.
"""

from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, \
    QTableWidgetItem, QWidget

from core.catalog import CatalogEntry, Verdict, fit_text
from core.hub import format_size

COLUMNS = ("Model", "On this machine", "Per precision (memory needed)", "Parameters", "Download", "Context", "License",
           "")
LEVEL_COLOURS = {"fits": ("#1e6b34", "#d9f2df"), "quantized": ("#1f5f73", "#d8eef4"),
                 "int4_only": ("#7a4e00", "#fbecc8"), "too_large": ("#8a1f1f", "#f8dada")}
FIT_COLOURS = {True: ("#1e6b34", "#e6f5e9"), False: ("#6b6b6b", "#eeeeee")}


def badge(text: str, fg: str, bg: str, name: str = "") -> QLabel:
    label = QLabel(text, textFormat=Qt.TextFormat.PlainText)
    if name:
        label.setObjectName(name)
    label.setStyleSheet(f"QLabel {{ color: {fg}; background: {bg}; border-radius: 8px; padding: 2px 8px; }}")
    return label


def _cell(widgets: Iterable[QWidget]) -> QWidget:
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(4, 2, 4, 2)
    row.setSpacing(4)
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return holder


class CatalogTable(QTableWidget):
    download_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("catalogTable")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.badges: dict[str, str] = {}  # repo -> verdict badge text (tests and screenshots read it)
        self.buttons: dict[str, QPushButton] = {}

    def show_entries(self, rows: list[tuple[CatalogEntry, Verdict]], downloaded: set[str] = frozenset()) -> None:
        self.setRowCount(len(rows))
        self.badges.clear()
        self.buttons.clear()
        for r, (entry, verdict) in enumerate(rows):
            name = QTableWidgetItem(f"{entry.name}\n{entry.repo_id}")
            name.setToolTip(entry.about)
            self.setItem(r, 0, name)
            for c, text in ((3, f"{entry.parameters / 1e9:.1f} B"), (4, format_size(entry.download_bytes)),
                            (5, f"{entry.context_tokens:,}"), (6, entry.license)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignVCenter | (Qt.AlignmentFlag.AlignLeft if c == 6
                                                                        else Qt.AlignmentFlag.AlignRight))
                self.setItem(r, c, item)
            fg, bg = LEVEL_COLOURS[verdict.level]
            verdict_badge = badge(verdict.badge, fg, bg, f"verdict:{entry.repo_id}")
            verdict_badge.setToolTip("\n".join([*verdict.reasons, verdict.hint]).strip()
                                     + f"\n(judged for a {verdict.context_tokens:,}-token context)")
            self.setCellWidget(r, 1, _cell([verdict_badge]))
            fits = [badge(fit_text(f, compact=True), *FIT_COLOURS[f.fits]) for f in verdict.fits]
            self.setCellWidget(r, 2, _cell(fits))
            self.badges[entry.repo_id] = verdict.badge
            here = entry.repo_id in downloaded
            button = QPushButton("Downloaded ✓" if here else "Download", objectName=f"download:{entry.repo_id}")
            button.setEnabled(not here)
            button.setToolTip(f"{entry.repo_id}: safetensors, JSON and tokenizer files only "
                              f"({format_size(entry.download_bytes)}); resumable")
            button.clicked.connect(lambda _=False, repo=entry.repo_id: self.download_requested.emit(repo))
            self.buttons[entry.repo_id] = button
            self.setCellWidget(r, 7, _cell([button]))
        self.resizeRowsToContents()

    def set_downloading(self, active: bool) -> None:
        for button in self.buttons.values():
            if button.text() == "Download":
                button.setEnabled(not active)
