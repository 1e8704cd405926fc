"""ConnectDialog: the address and API key of an OpenAI-compatible server (vLLM, SGLang, another Ponder).

The window then talks to that server instead of its local engine. The key is kept in memory only (never
written to the settings file); the last address is remembered and offered selected, so typing replaces it.
"""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget


def normalise_url(text: str) -> str:
    """``host:8000`` -> ``http://host:8000``; a trailing ``/v1`` is fine (the client strips it)."""
    text = text.strip()
    if text and "://" not in text:
        text = "http://" + text
    return text.rstrip("/")


def url_problem(text: str) -> str | None:
    url = QUrl(normalise_url(text))
    if not text.strip():
        return "Type the server's address, e.g. http://gpu-box:8000/v1"
    if not url.isValid() or url.scheme() not in ("http", "https") or not url.host():
        return f"{text!r} is not an http(s) address"
    return None


class ConnectDialog(QDialog):
    def __init__(self, url: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a server")
        intro = QLabel("Use an OpenAI-compatible server (vLLM, SGLang, LM Studio, another Ponder engine) instead "
                       "of the local engine. Reasoning is read from <code>reasoning_content</code> or a "
                       "<code>&lt;think&gt;</code> block.", wordWrap=True)
        self.url_edit = QLineEdit(url, objectName="serverUrl", placeholderText="http://host:8000/v1")
        self.key_edit = QLineEdit(objectName="serverKey", placeholderText="optional")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.problem = QLabel(objectName="urlProblem", wordWrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Address", self.url_edit)
        form.addRow("API key", self.key_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.url_edit.textChanged.connect(self._validate)
        self.url_edit.selectAll()  # the remembered address: typing a new one replaces it, an arrow key keeps it
        self.url_edit.setFocus()
        self._validate()

    @property
    def url(self) -> str:
        return normalise_url(self.url_edit.text())

    @property
    def key(self) -> str | None:
        return self.key_edit.text().strip() or None

    def _validate(self) -> None:
        problem = url_problem(self.url_edit.text())
        self.problem.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)
