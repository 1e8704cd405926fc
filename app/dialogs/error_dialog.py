"""The single path from an exception to the user: what happened, what to do next, details on demand.

``explain(error)`` turns an exception (the client's typed ``EngineError``s, the store's ``StoreError``, the
hub's ``HubError``, anything else) into a ``Problem``: one sentence, the next step, and the details
(the full message, the HTTP status, the type). ``ErrorDialog`` shows it, with the details collapsed.
``show_error(parent, error)`` is what the rest of the app calls; it never blocks (``open()``, not
``exec()``), so a stream keeps running behind the dialog.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QStyle, QToolButton, QVBoxLayout,
                               QHBoxLayout, QWidget)

from core.client import (AuthError, BadRequestError, BusyError, ContextLengthError, EngineError,
                         EngineNotRunningError, EngineTimeoutError, LoadFailedError, LoadingError, NotFoundError,
                         NotSupportedError, ServerError)
from core.hub import HubError
from core.store import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Problem:
    title: str
    message: str
    next_step: str
    details: str


def explain(error: BaseException | str, title: str = "Something went wrong") -> Problem:
    """Plain words for an error; ``details`` keeps everything a bug report needs."""
    if isinstance(error, str):
        return Problem(title, error, "", error)
    message = str(error) or type(error).__name__
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__)).strip()
    if isinstance(error, EngineError) and error.status is not None:
        details = f"HTTP {error.status} {error.type or ''} {error.code or ''}\n\n{details}"
    return Problem(title, message, _next_step(error), details)


def _next_step(error: BaseException) -> str:
    steps: list[tuple[type | tuple[type, ...], str]] = [
        (ContextLengthError, "Shorten the question or the chat (start a new chat), or load the model with a "
                             "longer context in the model panel."),
        (AuthError, "Check the API key (Engine ▸ Connect to a server…), or switch back to the local engine."),
        (EngineNotRunningError, "The engine is not answering. Ponder restarts its local engine by itself; for a "
                                "server, check that it runs and that the address is right."),
        (EngineTimeoutError, "The engine took too long. Try again; if it keeps happening, restart the engine "
                             "(Engine ▸ Restart engine)."),
        (BusyError, "The engine is busy with other requests. Wait a moment and send again."),
        (LoadingError, "A model is loading. Send again when the status line says ready."),
        (LoadFailedError, "Pick another precision or a shorter context in the model panel, or another model "
                          "folder. The previous model keeps serving."),
        (NotSupportedError, "This server does not offer that feature; it works with Ponder's local engine."),
        (NotFoundError, "The model or request is gone; reload the model or send again."),
        (BadRequestError, "Change what was asked (the message above names the problem) and try again."),
        (ServerError, "The engine failed on this request. Try again; the engine log (Help ▸ About) has details."),
    ]
    for kind, text in steps:
        if isinstance(error, kind):
            return text
    if isinstance(error, StoreError):
        return "Check that the disk is not full and that Ponder may write to its data folder."
    if isinstance(error, HubError):
        return error.next_step or "Check the repository id and your connection."
    if isinstance(error, OSError):
        return "Check the path and its permissions."
    return "If this keeps happening, please report it with the details below."


class ErrorDialog(QDialog):
    """Message + next step, with the details in a collapsible box."""

    def __init__(self, problem: Problem, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.problem = problem
        self.setWindowTitle(problem.title)
        self.setObjectName("errorDialog")
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(32, 32))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.message_label = QLabel(problem.message, wordWrap=True, objectName="errorMessage",
                                    textFormat=Qt.TextFormat.PlainText)  # error text is never markup
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.next_label = QLabel(f"<b>What to do:</b> {_escape(problem.next_step)}", wordWrap=True,
                                 objectName="errorNextStep")
        self.next_label.setVisible(bool(problem.next_step))
        self.toggle = QToolButton(text="Details", checkable=True, objectName="errorDetailsToggle")
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.details = QPlainTextEdit(problem.details, readOnly=True, objectName="errorDetails")
        self.details.setVisible(False)
        self.details.setMinimumHeight(160)
        self.toggle.toggled.connect(self._show_details)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        text = QVBoxLayout()
        text.addWidget(self.message_label)
        text.addWidget(self.next_label)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.toggle)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)
        self.resize(520, 200)

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.adjustSize()


def show_error(parent: QWidget | None, error: BaseException | str, title: str = "Something went wrong") -> ErrorDialog:
    """Log the error and show it without blocking; returns the (open) dialog."""
    problem = explain(error, title)
    log.warning("%s: %s", title, problem.message, exc_info=error if isinstance(error, BaseException) else None)
    dialog = ErrorDialog(problem, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
