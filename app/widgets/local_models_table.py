"""LocalModelsTable: the model folders on this computer (bundled, downloaded, extra), with Load and Delete.

Columns: name, where it comes from, size on disk, last used, folder, and the buttons. Delete is offered only
for folders Ponder downloaded (``LocalModel.deletable``). It shows what it is given: ``show_models(models)``;
``load_requested(path)``, ``delete_requested(path)``.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableWidget, \
    QTableWidgetItem, QWidget

from core.hub import format_size
from core.local_models import LocalModel

COLUMNS = ("Model", "Kind", "Size on disk", "Last used", "Folder", "")
KIND_TEXT = {"bundled": "bundled", "downloaded": "downloaded", "folder": "folder"}


def when_text(stamp: float | None) -> str:
    return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else "never"


class LocalModelsTable(QTableWidget):
    load_requested = Signal(str)
    delete_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("localModelsTable")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.models: list[LocalModel] = []

    def show_models(self, models: list[LocalModel]) -> None:
        self.models = list(models)
        self.setRowCount(len(models))
        for r, m in enumerate(models):
            status = "" if m.complete else " (incomplete)"
            for c, text in enumerate((m.name + status, KIND_TEXT.get(m.source, m.source), format_size(m.size_bytes),
                                      when_text(m.last_used), str(m.path))):
                item = QTableWidgetItem(text)
                item.setToolTip(str(m.path))
                self.setItem(r, c, item)
            holder = QWidget()
            row = QHBoxLayout(holder)
            row.setContentsMargins(4, 2, 4, 2)
            load = QPushButton("Load", objectName=f"load:{m.path}")
            load.setEnabled(m.complete)
            load.clicked.connect(lambda _=False, p=str(m.path): self.load_requested.emit(p))
            row.addWidget(load)
            if m.deletable:
                delete = QPushButton("Delete", objectName=f"delete:{m.path}")
                delete.setToolTip(f"Delete {m.path} ({format_size(m.size_bytes)})")
                delete.clicked.connect(lambda _=False, p=str(m.path): self.delete_requested.emit(p))
                row.addWidget(delete)
            self.setCellWidget(r, 5, holder)
        self.resizeRowsToContents()
