"""PromptBox: the question editor with Send (Ctrl+Enter) and Stop (Esc), enabled by the engine's state.

States (``set_state``): "no_engine" (nothing to ask yet), "loading" (a model loads), "ready", "streaming"
(an answer is coming: Send is off, Stop is on; typing the next question is still allowed), "stopping" (Stop
was pressed: the button says "Stopping…" until the engine has let go of the request). The box only
says what the user wants (``submitted``, ``stop_requested``); the window decides what happens.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

PLACEHOLDERS = {
    "no_engine": "No model yet: open a model folder (Ctrl+O) to start asking.",
    "loading": "The model is loading; you can type your question meanwhile.",
    "ready": "Ask a question… (Ctrl+Enter to send)",
    "streaming": "The answer is coming (Esc to stop). You can type the next question.",
    "stopping": "Stopping the answer… You can type the next question.",
}


class _Editor(QPlainTextEdit):
    submit = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submit.emit()
            return
        super().keyPressEvent(event)


class PromptBox(QWidget):
    submitted = Signal(str)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = "no_engine"
        self.editor = _Editor(objectName="promptEditor")
        self.editor.setTabChangesFocus(True)
        self.editor.setMaximumHeight(96)
        self.editor.setMinimumHeight(56)
        self.send_button = QPushButton("Send", objectName="sendButton")
        self.send_button.setToolTip("Send the question (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("Stop", objectName="stopButton")
        self.stop_button.setToolTip("Stop the answer (Esc); what was written so far is kept")
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.editor, 1)
        row.addLayout(buttons)
        self.editor.submit.connect(self.submit)
        self.editor.textChanged.connect(self._refresh)
        self.send_button.clicked.connect(self.submit)
        self.stop_button.clicked.connect(self.stop_requested)
        self.set_state("no_engine")

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        self.editor.setPlainText(text)

    def set_state(self, state: str) -> None:
        if state not in PLACEHOLDERS:
            raise ValueError(f"unknown prompt state {state!r}")
        self.state = state
        self.editor.setPlaceholderText(PLACEHOLDERS[state])
        self.editor.viewport().update()  # Qt does not repaint an empty editor when only its placeholder changes
        self._refresh()

    def can_send(self) -> bool:
        return self.state == "ready" and bool(self.text().strip())

    def submit(self) -> None:
        """Send the text (if the state allows) and clear the editor."""
        if not self.can_send():
            return
        text = self.text().strip()
        self.editor.clear()
        self.submitted.emit(text)

    def _refresh(self) -> None:
        self.send_button.setEnabled(self.can_send())
        self.stop_button.setEnabled(self.state == "streaming")
        self.stop_button.setText("Stopping…" if self.state == "stopping" else "Stop")
