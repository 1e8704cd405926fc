"""MainWindow: composes the panels and wires the engine to them; each job lives in the room it names.

    ┌ chats ┐┌ notice ─────────────────────────┐┌ Documents │ Model │ Benchmark ┐
    │ list  ││ ReasoningView (steps, answer)   ││ the shown tab (SidePanel)     │
    │       ││ PromptBox (Send / Stop)         ││                               │
    └───────┘└─────────────────────────────────┘└───────────────────────────────┘
     StatsBar (this answer, engine memory / KV / queue)
     status line: the engine's state

The chat is the main region: it takes the extra width and never goes below ``CHAT_MIN_WIDTH_PX``; in a narrow
window the chat list and the side panel give way first, down to their own minimum, until the chat has
``CHAT_COMFORT_PX`` (each also collapses when dragged to the edge, the side panel's tabs close). The
splitter, the tabs shown and the window are remembered.

Who does what: ``EngineLink`` (local ``EngineProcess`` or a remote server, live events), ``ChatController``
(the open chat, its ``ChatSession`` and what the view and the stats bar show of its answers),
``ModelController`` (status, plan, reload, download), ``BenchController`` (benchmark runs, their history,
exports), ``DocumentController`` (dropped files -> parser process -> store; budget, strategy, citations),
``CatalogController`` (the model catalog: fits, downloads, local models), ``WelcomeController`` (the first-run
welcome in the chat pane and its sample), ``window_actions`` (menus and shortcuts), ``DocumentDropTarget`` (files
dropped on the window), ``app.tasks`` (every blocking call), ``app.dialogs.error_dialog`` (every error shown to the
user).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QKeyEvent, QResizeEvent
from PySide6.QtWidgets import (QFileDialog, QMainWindow, QMessageBox, QSplitter, QStackedWidget, QVBoxLayout,
                               QWidget)

from app import theme
from app.bench_controller import BenchController
from app.catalog_controller import CatalogController
from app.chat_controller import ChatController
from app.chat_session import ChatSession
from app.dialogs.connect_dialog import ConnectDialog
from app.dialogs.error_dialog import show_error
from app.dialogs.generation_dialog import GenerationDialog, GenerationSettings
from app.document_controller import DocumentController
from app.drop_target import DocumentDropTarget
from app.engine_link import EngineLink, ready_text
from app.engine_process import EngineProcess
from app.model_controller import ModelController
from app.tasks import TaskRunner
from app.welcome_controller import WelcomeController
from app.widgets.benchmark_panel import BenchmarkPanel
from app.widgets.chat_list import ChatListPanel
from app.widgets.document_panel import DocumentPanel
from app.widgets.elided import ElidedLabel
from app.widgets.model_panel import ModelPanel
from app.widgets.notice_bar import NoticeBar
from app.widgets.prompt_box import PromptBox
from app.widgets.reasoning_view import ReasoningView
from app.widgets.side_panel import SidePanel
from app.widgets.stats_bar import StatsBar
from app.window_actions import build_menus
from core.api.protocol import EngineStatus
from core.client import EngineClient
from core.documents import SUPPORTED_TYPES_TEXT, DocumentError
from core.reasoning import ReasoningTrace
from core.store import Store

log = logging.getLogger(__name__)

CHAT_MIN_WIDTH_PX = 380  # about 55 characters: below this a conversation is not readable
DEFAULT_PANEL_WIDTHS = {0: 200, 2: 380}  # splitter index -> width: the chat list, the side panel
CHAT_COMFORT_PX = 560  # below this the chat list, then the side panel, give way to the chat (down to their minimum)
SIDE_PAGES = (("documents", "Documents", "The chat's documents, how questions read them, citations"),
              ("model", "Model", "The model, its precision plan and the reasons; load another"),
              ("benchmark", "Benchmark", "What each precision costs and loses on this machine"))


class MainWindow(QMainWindow):
    def __init__(self, store: Store, *, settings: QSettings | None = None, engine_options: dict[str, Any] | None = None,
                 confirm_deletes: bool = True, log_file: Path | None = None, store_note: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Ponder")
        self.store, self.settings, self.log_file = store, settings or QSettings(), log_file
        self.tasks = TaskRunner(self)
        self.engine = EngineProcess(self.tasks, **(engine_options or {}), parent=self)
        self.link = EngineLink(self.tasks, self.engine, self)
        self._client_params: dict[str, Any] = {}  # what the server needs named (a remote server's model)
        self.generation = GenerationSettings.load(self.settings)
        self._shut_down = False
        self.shown_errors: list[Any] = []  # dialogs opened through show_error (tests read it)
        self._build()
        self.chats.confirm_deletes = self.catalog.confirm_deletes = confirm_deletes
        self.actions = build_menus(self)
        self._wire()
        self._restore()
        recovered = store.recover_interrupted()
        if recovered:
            self.notice.show_notice(f"{recovered} answer(s) from the last session were cut off when Ponder stopped; "
                                    "they are kept and marked interrupted.", "info")
        if store_note:
            self.notice.show_notice(store_note, "warning")
        self.chat_list.refresh()
        self.chats.open_last()

    @property
    def session(self) -> ChatSession | None:
        """The open chat's session (None when no chat is open)."""
        return self.chats.session

    # --- building ----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.chat_list = ChatListPanel(self.store)
        self.view = ReasoningView()
        self.view.setObjectName("reasoningView")
        self.prompt = PromptBox()
        self.notice = NoticeBar()
        self.stats_bar = StatsBar()
        self.stats_bar.setObjectName("statsBar")
        self.model_panel = ModelPanel()
        self.models = ModelController(self.model_panel, self.tasks, self)
        self.document_panel = DocumentPanel()
        self.documents = DocumentController(self.document_panel, self.store, self.tasks, self)
        self.chats = ChatController(self.store, self.tasks, self.settings, self.view, self.stats_bar, self.chat_list,
                                    self.documents, self.report, self)
        self.setAcceptDrops(True)  # anywhere in the window, the document panel included (it takes none itself)
        self.drop_target = DocumentDropTarget(self)
        self.installEventFilter(self.drop_target)
        center = QWidget(objectName="chatColumn")
        center.setMinimumWidth(CHAT_MIN_WIDTH_PX)
        column = QVBoxLayout(center)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.chat_pane = QStackedWidget(objectName="chatPane")  # the welcome, or the open chat
        self.chat_pane.addWidget(self.view)
        for widget, stretch in ((self.notice, 0), (self.chat_pane, 1), (self.prompt, 0)):
            column.addWidget(widget, stretch)
        self.bench_panel = BenchmarkPanel()
        self.bench = BenchController(self.bench_panel, self.tasks, self.store, self)
        self.side = SidePanel()
        pages = {"documents": self.document_panel, "model": self.model_panel, "benchmark": self.bench_panel}
        for name, title, tip in SIDE_PAGES:
            self.side.add_page(name, title, pages[name], tip)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        for widget in (self.chat_list, center, self.side):
            self.splitter.addWidget(widget)
        self.splitter.setCollapsible(1, False)
        for index, stretch in enumerate((0, 1, 0)):
            self.splitter.setStretchFactor(index, stretch)
        self.splitter.setSizes([200, 700, 380])
        self._chosen_widths: dict[int, int] = dict(DEFAULT_PANEL_WIDTHS)
        self.splitter.splitterMoved.connect(lambda *_: self._remember_widths())
        self.side.page_visibility_changed.connect(self._side_page_shown)
        root = QWidget()
        layout = QVBoxLayout(root)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.stats_bar)
        self.setCentralWidget(root)
        self.catalog = CatalogController(self, self.models, self.tasks, self.settings, self.report, self)
        self.welcome = WelcomeController(self, self.chat_pane, self.view, self.catalog.show, self)
        self.engine_state = ElidedLabel("Starting…", object_name="engineState")
        self.statusBar().addWidget(self.engine_state, 1)
        self.resize(1280, 800)

    def _wire(self) -> None:
        link, models, chats = self.link, self.models, self.chats
        link.connected.connect(self._connected)
        link.disconnected.connect(self._disconnected)
        link.disconnected.connect(lambda _reason: self.stats_bar.reset_engine())
        link.state_changed.connect(self._engine_state)
        link.notice.connect(self.notice.show_notice)
        link.event_received.connect(self.stats_bar.update_engine)
        link.event_received.connect(models.on_event)
        link.events_unavailable.connect(self.stats_bar.set_unavailable)
        link.connect_failed.connect(lambda exc: self.report(exc, "Could not connect to the server"))
        link.connected.connect(self.bench.set_client)
        link.disconnected.connect(lambda _reason: self.bench.set_client(None))
        models.status_received.connect(self._status_received)
        models.load_started.connect(self._refresh_prompt)
        models.load_started.connect(lambda: self.engine_state.setText("Loading the model…"))
        models.load_progress.connect(lambda f, stage: self.engine_state.setText(f"Loading {f:.0%} ({stage})"))
        models.loaded.connect(lambda folder, precision, context: self.engine.set_launch(folder, precision, context))
        models.load_finished.connect(self._refresh_prompt)
        models.start_requested.connect(self._start_engine_with)
        models.error.connect(self.report)
        self.bench.error.connect(self.report)
        chats.busy_changed.connect(self._refresh_prompt)
        chats.busy_changed.connect(self.welcome.refresh)
        chats.failed.connect(self._answer_failed)
        chats.answer_finished.connect(self._answer_finished)
        self.prompt.submitted.connect(self.ask)
        self.prompt.stop_requested.connect(self.stop_answer)
        self.chat_list.chat_selected.connect(chats.open_chat)
        self.chat_list.new_requested.connect(self.new_chat)
        self.chat_list.rename_requested.connect(chats.rename_chat)
        self.chat_list.delete_requested.connect(chats.delete_chat)
        self.view.link_activated.connect(self._open_link)
        self.view.export_requested.connect(chats.export_trace)
        self.view.citation_activated.connect(self.show_citation)
        self.document_panel.add_requested.connect(lambda: self.open_documents())
        self.documents.notice.connect(self.notice.show_notice)
        self.documents.changed.connect(chats.cite_all)
        self.documents.reading_cancel_requested.connect(self.stop_answer)
        self.drop_target.files_dropped.connect(self.open_documents)
        self.drop_target.other_dropped.connect(lambda: self.notice.show_notice(
            f"Only files can be dropped here: {SUPPORTED_TYPES_TEXT}.", "info"))

    # --- engine ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the local engine (the window is already usable: chats can be read meanwhile)."""
        self.link.start_local()

    def _start_engine_with(self, folder: str, precision: str, context: int | None) -> None:
        self.engine.set_launch(folder, precision, context)
        self.link.start_local(folder)

    def _connected(self, client: EngineClient, info: dict[str, Any]) -> None:
        self._client_params = {"model": info["model"]} if info.get("mode") == "remote" and info.get("model") else {}
        self.chats.set_client(client, info.get("model"), self._session_params())
        self.models.set_client(client, info.get("mode", "local"), info)
        if info.get("mode") == "remote":
            self.documents.set_model(None, None)
        self._refresh_prompt()
        self.prompt.editor.setFocus()

    def _disconnected(self, reason: str) -> None:
        self.chats.set_client(None)
        self.models.set_no_engine(f"The engine is not available: {reason}")
        self._refresh_prompt()

    def _engine_state(self, kind: str, text: str) -> None:
        self.engine_state.setText(text)
        self.engine_state.setProperty("kind", kind)
        if kind == "no_model":
            self.models.set_no_engine(text)
            self.notice.show_notice(text, "info")
        elif kind == "failed":
            self.models.set_no_engine(text)
            self.report(text.removeprefix("Engine error: "), "The engine could not start")
        self._refresh_prompt()

    def _status_received(self, status: EngineStatus) -> None:
        if self.link.mode == "local" and status.model is not None:
            self.engine_state.setText(ready_text(status.model.id, status.plan or {}))
            self.documents.set_model(status.model.path, status.model.context_tokens or None)

    def show_connect_dialog(self) -> None:
        dialog = ConnectDialog(str(self.settings.value("remote/url", "")), self)
        dialog.accepted.connect(lambda: self.connect_remote(dialog.url, dialog.key))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def show_generation_dialog(self) -> None:
        dialog = GenerationDialog(self.generation, self)
        dialog.accepted.connect(lambda: self.set_generation(dialog.settings()))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def set_generation(self, generation: GenerationSettings) -> None:
        """From the next question on, in every chat (an answer already streaming keeps what it started with)."""
        self.generation = generation
        generation.save(self.settings)
        self.chats.set_params(self._session_params())

    def _session_params(self) -> dict[str, Any]:
        return {**self.generation.params(), **self._client_params}

    def connect_remote(self, url: str, key: str | None) -> None:
        self.settings.setValue("remote/url", url)
        self.link.connect_remote(url, key)

    def open_model_folder(self, folder: str | None = None) -> None:
        """Ctrl+O: pick a folder; the panel shows its estimate (Load to switch), or the engine starts on it."""
        if self.link.mode == "remote":
            self.report("Loading a model folder needs the local engine: Engine ▸ Use local engine first.",
                        "Not available on this server")
            return
        folder = folder or QFileDialog.getExistingDirectory(self, "Open a model folder")
        if not folder:
            return
        self.side.show_page("model")
        if self.link.client is None:
            self._start_engine_with(folder, self.model_panel.precision_combo.currentText(), None)
        else:
            self.model_panel.set_folder(folder)
            self.model_panel.load_button.setFocus()

    # --- chats and answers -------------------------------------------------------------------------------
    def new_chat(self) -> None:
        self.chats.new_chat()
        self.prompt.editor.setFocus()

    def ask(self, text: str) -> bool:
        return self.chats.ask(text)

    def stop_answer(self) -> None:
        self.chats.stop()

    def regenerate(self) -> None:
        self.chats.regenerate()

    def _answer_failed(self, exc: BaseException) -> None:
        if isinstance(exc, DocumentError):  # e.g. a prompt over the context: a message, not a crash dialog
            self.notice.show_notice(str(exc), "error")
        else:
            self.report(exc, "The answer failed")

    def _answer_finished(self, trace: ReasoningTrace) -> None:
        if trace.status == "interrupted" and self.link.mode == "remote":  # no restart to announce: say it here
            self.notice.show_notice(f"The server {self.link.info.get('url', '')} stopped answering mid-answer; the "
                                    "partial answer was kept. Check the server, or switch back to the local "
                                    "engine (Engine ▸ Use local engine).", "warning")

    def _refresh_prompt(self) -> None:
        if self.chats.busy:
            state = "stopping" if self.chats.stopping else "streaming"
        elif self.link.client is not None and not self.models.loading:
            state = "ready"
        elif self.engine.state in ("starting", "restarting") or self.models.loading:
            state = "loading"
        else:
            state = "no_engine"
        self.prompt.set_state(state)
        self.actions.stop.setEnabled(state == "streaming")

    # --- documents ---------------------------------------------------------------------------------------
    def open_documents(self, paths: list[str] | None = None) -> None:
        """File ▸ Open document…, the panel's Add… and drops: parse and add the files to this chat."""
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(self, "Add documents to this chat", "",
                                                    "Documents (*.pdf *.docx *.html *.htm *.md *.markdown *.txt);;"
                                                    "All files (*)")
        if not paths:
            return
        if self.session is None:
            self.new_chat()
        self.side.show_page("documents")
        self.documents.add_files(paths)

    def show_citation(self, key: str) -> None:
        if self.documents.show_citation(key):
            self.side.show_page("documents")

    # --- small actions -----------------------------------------------------------------------------------
    def report(self, error: BaseException | str, title: str = "Something went wrong") -> None:
        """The one way errors reach the user."""
        self.shown_errors.append(show_error(self, error, title))

    def set_theme(self, name: str) -> None:
        theme.apply(name)
        self.settings.setValue("view/theme", name)
        for key, action in self.actions.themes.items():
            action.setChecked(key == name)

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "About Ponder", theme.about_text(
            self.engine.handshake.get("version"), self.log_file), parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    @staticmethod
    def _open_link(url: str) -> None:
        if url.startswith(("http://", "https://")):
            QDesktopServices.openUrl(QUrl(url))

    # --- settings and shutdown ---------------------------------------------------------------------------
    def _restore(self) -> None:
        for key, restore in (("window/geometry", self.restoreGeometry), ("window/state", self.restoreState)):
            value = self.settings.value(key)
            if value is not None:
                restore(value)
        widths = self.settings.value("window/panel_widths")
        if isinstance(widths, list) and len(widths) == 2 and all(str(w).isdigit() for w in widths):
            self._chosen_widths = {0: int(widths[0]), 2: int(widths[1])}
        shown = self.settings.value("view/side_pages")
        shown = [str(name) for name in shown] if isinstance(shown, list) else (
            [] if shown == "" else [str(shown)] if shown else ["documents", "model"])
        for name, _title, _tip in SIDE_PAGES:
            self.side.set_page_visible(name, name in shown)
        current = str(self.settings.value("view/side_current", "") or "")
        if current in shown:
            self.side.show_page(current)
        self.set_theme(str(self.settings.value("view/theme", "system")))

    def shutdown(self) -> None:
        """Stop streams and the engine (terminate, wait, kill), then the workers. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        for key, value in (("window/geometry", self.saveGeometry()), ("window/state", self.saveState()),
                           ("window/panel_widths", [self._chosen_widths[0], self._chosen_widths[2]]),
                           ("view/side_pages", self.side.visible_pages() or ""),
                           ("view/side_current", self.side.current_page() or "")):
            self.settings.setValue(key, value)
        self.settings.sync()
        self.chats.stop_all()
        self.link.shutdown()
        if not self.tasks.shutdown(5000):
            log.warning("some background work did not stop in time")

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._make_room_for_chat()

    def set_splitter_sizes(self, sizes: list[int]) -> None:
        """Chat list, chat and side panel widths, as if dragged there (kept as the user's choice)."""
        self.splitter.setSizes(sizes)
        self._remember_widths()

    def _remember_widths(self) -> None:
        """The widths the user gave the chat list and the side panel (dragged, or restored): kept while a
        narrow window squeezes them, given back when it widens again."""
        sizes = self.splitter.sizes()
        self._chosen_widths = {0: sizes[0], 2: sizes[2]}

    def _side_page_shown(self, _name: str, shown: bool) -> None:
        """A tab shown in a side panel collapsed by dragging opens it again at its usual width."""
        if shown and self._chosen_widths[2] < self.side.minimumSizeHint().width():
            self._chosen_widths[2] = DEFAULT_PANEL_WIDTHS[2]
        self._make_room_for_chat()

    def _make_room_for_chat(self) -> None:
        """The chat list and the side panel at the widths the user chose, unless that leaves the chat less than
        ``CHAT_COMFORT_PX``: then the chat list, then the side panel, give way down to their minimum."""
        if not self.splitter.isVisible():
            return  # the first show resizes the window, and fits it then
        sizes = self.splitter.sizes()
        total = sum(sizes)
        for index in (0, 2):
            if not self.splitter.widget(index).isHidden():
                sizes[index] = self._chosen_widths[index]
        sizes[1] = total - sizes[0] - sizes[2]
        wanted = CHAT_COMFORT_PX - sizes[1]
        for index in (0, 2):
            widget = self.splitter.widget(index)
            if wanted <= 0 or sizes[index] == 0 or widget.isHidden():
                continue
            floor = max(widget.minimumSizeHint().width(), widget.minimumWidth())
            given = max(0, min(wanted, sizes[index] - floor))
            sizes[index] -= given
            sizes[1] += given
            wanted -= given
        if sizes != self.splitter.sizes():
            self.splitter.setSizes(sizes)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        """Esc stops the answer also where the Esc shortcut is not heard (no active window: a window manager
        that does not activate it, a remote desktop); a key no child took ends up here."""
        if event.key() == Qt.Key.Key_Escape and self.chats.busy:
            self.stop_answer()
            event.accept()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)
