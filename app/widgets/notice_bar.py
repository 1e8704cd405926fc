"""NoticeBar: one line above the chat for what the user must know now (the engine crashed and restarted,
the chat database was moved aside, ...), with a close button. Not for errors that need a decision:
those go through ``app.dialogs.error_dialog``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

COLOURS = {"info": QColor(70, 130, 200), "warning": QColor(210, 150, 30), "error": QColor(200, 70, 60)}


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.label = QLabel(objectName="noticeText", wordWrap=True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # notices quote file names and error text: never markup
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(text="✕", objectName="noticeClose", autoRaise=True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.level = "info"
        self.hide()

    def show_notice(self, text: str, level: str = "info") -> None:
        self.level = level
        self.label.setText(text)
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Window)
        accent = COLOURS.get(level, COLOURS["info"])
        mixed = QColor(int(base.red() * 0.75 + accent.red() * 0.25), int(base.green() * 0.75 + accent.green() * 0.25),
                       int(base.blue() * 0.75 + accent.blue() * 0.25))
        palette.setColor(QPalette.ColorRole.Window, mixed)
        self.setPalette(palette)
        self.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
