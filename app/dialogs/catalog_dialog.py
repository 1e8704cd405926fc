"""CatalogDialog: the model catalog (real reasoning models, with what fits this machine) and the models here.

    ┌ This machine: <device>, N of M GiB free · judged for a 32,768-token context ──────────────┐
    │ CatalogTable: model, parameters, download, license, context, verdict, per precision, ⬇   │
    │ On this computer: LocalModelsTable (size on disk, last used, Load, Delete)                 │
    │ download: <file (k of n files): bytes · speed · time left> [progress] [Cancel]             │
    │ Hugging Face token (gated or private models): [••••••] [Save]                               │
    └───────────────────────────────────────────────────────────────────────────────── [Close] ┘

Non-modal: a download goes on while the user chats. It only shows and asks; ``app.catalog_controller`` acts.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from app.widgets.catalog_table import CatalogTable
from app.widgets.local_models_table import LocalModelsTable
from core.hub import DownloadProgress


class CatalogDialog(QDialog):
    cancel_requested = Signal()
    token_saved = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("catalogDialog")
        self.setWindowTitle("Model catalog")
        self.machine_label = QLabel(objectName="catalogMachine", wordWrap=True)
        self.table = CatalogTable()
        self.local_table = LocalModelsTable()
        local = QWidget()
        local_layout = QVBoxLayout(local)
        local_layout.setContentsMargins(0, 0, 0, 0)
        local_layout.addWidget(QLabel("<b>On this computer</b>"))
        local_layout.addWidget(self.local_table)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(local)
        split.setSizes([520, 180])
        self.download_label = QLabel(objectName="catalogDownloadStatus", wordWrap=True)
        self.download_bar = QProgressBar(objectName="catalogDownloadProgress", minimum=0, maximum=1000)
        self.download_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel download", objectName="catalogCancelButton")
        self.cancel_button.clicked.connect(self.cancel_requested)
        progress = QHBoxLayout()
        progress.addWidget(self.download_label, 1)
        progress.addWidget(self.download_bar)
        progress.addWidget(self.cancel_button)
        self.token_edit = QLineEdit(objectName="hubToken", echoMode=QLineEdit.EchoMode.Password,
                                    placeholderText="hf_… (only for gated or private models; else HF_TOKEN is used)")
        save = QPushButton("Save token", objectName="saveTokenButton")
        save.clicked.connect(lambda: self.token_saved.emit(self.token_edit.text().strip()))
        token_row = QHBoxLayout()
        token_row.addWidget(QLabel("Hugging Face token"))
        token_row.addWidget(self.token_edit, 1)
        token_row.addWidget(save)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.machine_label)
        layout.addWidget(split, 1)
        layout.addLayout(progress)
        layout.addLayout(token_row)
        layout.addWidget(buttons)
        self.show_download(None)
        self.resize(1480, 780)

    def show_machine(self, text: str) -> None:
        self.machine_label.setText(text)

    def show_download(self, progress: DownloadProgress | None, text: str = "") -> None:
        """A download's progress (None with ``text``: how it ended, or nothing when it is empty)."""
        running = progress is not None and progress.path is None
        self.download_bar.setVisible(running)
        self.cancel_button.setVisible(running)
        if progress is not None:
            self.download_bar.setValue(int(progress.fraction * 1000))
            text = f"Downloading {progress.repo_id}: {progress.text()}" if running else progress.text()
        self.download_label.setText(text)
        self.download_label.setVisible(bool(text))
        self.table.set_downloading(running)
