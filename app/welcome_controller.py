"""The welcome in the chat pane: when it shows, and what its buttons do.

It shows while there is no chat at all (a first start), and whenever Help ▸ Welcome asks; it gives way to the
chat as soon as one is open. "Open the sample" opens the sample document in a new chat; a sample question does
that and, once the document is read and the engine is ready, asks it through the prompt box (as a user would;
until then the question waits in the box). "Get a real reasoning model" opens the catalog.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QStackedWidget, QWidget

from app.widgets.welcome_view import WelcomeView
from core.samples import Sample, load_sample

log = logging.getLogger(__name__)

ASK_WAIT_S = 300.0  # a question waits this long for the document and the engine, then stays in the prompt box


def try_load_sample() -> Sample | None:
    try:
        return load_sample()
    except (OSError, ValueError, KeyError) as exc:
        log.warning("the sample document is not available: %s", exc)
        return None


class WelcomeController(QObject):
    """``window`` is the MainWindow (its chats, documents, prompt box and store); ``stack`` holds the welcome
    and the chat view; ``open_catalog`` shows the model catalog."""

    def __init__(self, window: Any, stack: QStackedWidget, chat_view: QWidget, open_catalog: Callable[[], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window, self.stack, self.chat_view = window, stack, chat_view
        self.sample = try_load_sample()
        self.view = WelcomeView(self.sample)
        stack.insertWidget(0, self.view)
        self._pending: int | None = None  # the chat whose sample question waits to be sent
        self._deadline = 0.0
        self._timer = QTimer(self, interval=100)
        self._timer.timeout.connect(self._ask_when_ready)
        self.view.sample_requested.connect(self.open_sample)
        self.view.question_requested.connect(self.ask_sample)
        self.view.catalog_requested.connect(open_catalog)
        self.view.dismissed.connect(self.show_chat)

    @property
    def showing(self) -> bool:
        return self.stack.currentWidget() is self.view

    def refresh(self) -> None:
        """The welcome on a first start (no chat exists), the chat view once one is open."""
        if self.window.session is not None:
            self.show_chat()
        elif not self.window.store.list_chats():
            self.show_welcome()

    def show_welcome(self) -> None:
        self.view.set_can_dismiss(self.window.session is not None or bool(self.window.store.list_chats()))
        self.stack.setCurrentWidget(self.view)

    def show_chat(self) -> None:
        self.stack.setCurrentWidget(self.chat_view)

    def open_sample(self) -> bool:
        """The sample document in a new chat (False if it is not installed)."""
        if self.sample is None:
            return False
        self.window.new_chat()
        self.window.open_documents([str(self.sample.path)])
        self.show_chat()
        return True

    def ask_sample(self, question: str) -> None:
        if not self.open_sample():
            return
        self.window.prompt.set_text(question)
        self._pending, self._deadline = self.window.session.chat_id, time.monotonic() + ASK_WAIT_S
        self._timer.start()

    def _ask_when_ready(self) -> None:
        window, documents = self.window, self.window.documents
        session = window.session
        if (self._pending is None or time.monotonic() > self._deadline or session is None
                or session.chat_id != self._pending):  # gone, or the user went to another chat
            self._pending = None
            self._timer.stop()
            return
        if documents.parsing or documents.built is None or window.prompt.state != "ready":
            return
        self._timer.stop()
        self._pending = None
        window.prompt.submit()
