"""MainWindow: composes the panels and menus and wires their signals; the logic lives in what it wires.

    ┌ chats ┐┌ notice ─────────────────────────┐┌ documents ───┐┌ model panel ┐
    │ list  ││ ReasoningView (steps, answer)   ││ budget, text ││ model, plan │
    │       ││ PromptBox (Send / Stop)         ││ strategy     ││ load        │
    └───────┘└─────────────────────────────────┘└──────────────┘└─────────────┘
     StatsBar (this answer, engine memory / KV / queue)
     BenchmarkPanel (a dock, hidden until View ▸ Benchmark precisions)
     status line: the engine's state

Who does what: ``EngineLink`` (local ``EngineProcess`` or a remote server, live events), ``ChatSession``
(one chat's requests, stream -> store -> view), ``ModelController`` (status, plan, reload, download),
``BenchController`` (benchmark runs in the engine, their history in the store, exports),
``DocumentController`` (dropped files -> parser process -> store; budget, strategy, citations),
``app.tasks`` (every blocking call), ``app.dialogs.error_dialog`` (every error shown to the user).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import (QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence,
                           QShortcut)
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QVBoxLayout,
                               QWidget)

from app import theme
from app.bench_controller import BenchController
from app.chat_session import ChatSession
from app.dialogs.connect_dialog import ConnectDialog
from app.dialogs.error_dialog import show_error
from app.dialogs.generation_dialog import GenerationDialog, GenerationSettings
from app.document_controller import DocumentController
from app.engine_link import EngineLink, ready_text
from app.engine_process import EngineProcess
from app.model_controller import ModelController
from app.tasks import TaskRunner
from app.widgets.benchmark_panel import BenchmarkPanel
from app.widgets.chat_list import ChatListPanel
from app.widgets.document_panel import DocumentPanel
from app.widgets.model_panel import ModelPanel
from app.widgets.notice_bar import NoticeBar
from app.widgets.prompt_box import PromptBox
from app.widgets.reasoning_view import ReasoningView
from app.widgets.stats_bar import StatsBar
from app.widgets.trace_export import history_entry, trace_json, trace_markdown
from core.client import EngineClient
from core.documents import SUPPORTED_TYPES_TEXT, DocumentError
from core.api.protocol import EngineStatus
from core.store import Message, RowNotFound, Store

log = logging.getLogger(__name__)


def local_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    """The local files a drag carries (nothing for text or remote URLs)."""
    mime = event.mimeData()
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


def message_dict(m: Message) -> dict[str, Any]:
    return {k: v for k, v in asdict(m).items() if k in ("id", "role", "content", "reasoning", "status", "stats")}


class MainWindow(QMainWindow):
    def __init__(self, store: Store, *, settings: QSettings | None = None, engine_options: dict[str, Any] | None = None,
                 confirm_deletes: bool = True, log_file: Path | None = None, store_note: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Ponder")
        self.store, self.settings = store, settings or QSettings()
        self.confirm_deletes, self.log_file = confirm_deletes, log_file
        self.tasks = TaskRunner(self)
        self.engine = EngineProcess(self.tasks, **(engine_options or {}), parent=self)
        self.link = EngineLink(self.tasks, self.engine, self)
        self.session: ChatSession | None = None
        self._retired: set[ChatSession] = set()  # sessions still finishing after a chat switch
        self._client_params: dict[str, Any] = {}  # what the server needs named (a remote server's model)
        self.generation = GenerationSettings.load(self.settings)
        self._shut_down = False
        self.shown_errors: list[Any] = []  # dialogs opened through show_error (tests read it)
        self._build()
        self._build_menus()
        self._wire()
        self._restore()
        recovered = store.recover_interrupted()
        if recovered:
            self.notice.show_notice(f"{recovered} answer(s) from the last session were cut off when Ponder stopped; "
                                    "they are kept and marked interrupted.", "info")
        if store_note:
            self.notice.show_notice(store_note, "warning")
        self.chat_list.refresh()
        last = self.settings.value("chat/last", None)
        chats = store.list_chats()
        ids = [c.id for c in chats]
        self.open_chat(int(last) if last is not None and int(last) in ids else (ids[0] if ids else None))

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
        self.setAcceptDrops(True)  # anywhere in the window, the document panel included (it takes none itself)
        center = QWidget()
        column = QVBoxLayout(center)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.notice)
        column.addWidget(self.view, 1)
        column.addWidget(self.prompt)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        self.splitter.addWidget(self.chat_list)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.document_panel)
        self.splitter.addWidget(self.model_panel)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([200, 560, 340, 300])
        root = QWidget()
        layout = QVBoxLayout(root)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.stats_bar)
        self.setCentralWidget(root)
        self.bench_panel = BenchmarkPanel()
        self.bench = BenchController(self.bench_panel, self.tasks, self.store, self)
        self.bench_dock = QDockWidget("Benchmark", self, objectName="benchmarkDock")
        self.bench_dock.setWidget(self.bench_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.bench_dock)
        self.bench_dock.hide()
        self.engine_state = QLabel("Starting…", objectName="engineState")
        self.statusBar().addWidget(self.engine_state, 1)
        self.resize(1280, 800)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.new_chat_action = file.addAction("&New chat", self.new_chat, QKeySequence.StandardKey.New)
        self.open_model_action = file.addAction("&Open model folder…", self.open_model_folder, QKeySequence("Ctrl+O"))
        self.open_document_action = file.addAction("Open &document…", lambda: self.open_documents(),
                                                   QKeySequence("Ctrl+Shift+O"))
        file.addSeparator()
        file.addAction("&Quit", self.close, QKeySequence.StandardKey.Quit)
        chat = bar.addMenu("&Chat")
        chat.addAction("&Regenerate answer", self.regenerate, QKeySequence("Ctrl+R"))
        chat.addAction("Re&name chat", self.chat_list.rename_current, QKeySequence("F2"))
        chat.addAction("&Delete chat", lambda: self.delete_chat(self.chat_list.current_chat_id))
        chat.addSeparator()
        chat.addAction("&Generation settings…", self.show_generation_dialog, QKeySequence("Ctrl+,"))
        engine = bar.addMenu("&Engine")
        engine.addAction("&Connect to a server…", self.show_connect_dialog)
        engine.addAction("Use &local engine", self.link.use_local)
        engine.addAction("&Restart engine", self.link.restart)
        view = bar.addMenu("&View")
        self.panel_action = QAction("&Model panel", self, checkable=True, checked=True)
        self.panel_action.toggled.connect(self.model_panel.setVisible)
        view.addAction(self.panel_action)
        self.documents_action = QAction("&Documents panel", self, checkable=True, checked=True)
        self.documents_action.toggled.connect(self.document_panel.setVisible)
        view.addAction(self.documents_action)
        self.bench_action = self.bench_dock.toggleViewAction()
        self.bench_action.setText("&Benchmark precisions")
        self.bench_action.setShortcut(QKeySequence("Ctrl+B"))
        view.addAction(self.bench_action)
        themes = view.addMenu("&Theme")
        self.theme_actions = theme.add_theme_actions(themes, self.set_theme)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("&About Ponder", self.show_about)
        self.stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.stop_answer)
        self.stop_shortcut.setEnabled(False)  # only while an answer streams: Esc keeps its usual jobs otherwise
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self.prompt.submit)

    def _wire(self) -> None:
        link, models = self.link, self.models
        link.connected.connect(self._connected)
        link.disconnected.connect(self._disconnected)
        link.state_changed.connect(self._engine_state)
        link.notice.connect(self.notice.show_notice)
        link.event_received.connect(self.stats_bar.update_engine)
        link.event_received.connect(models.on_event)
        link.events_unavailable.connect(self.stats_bar.set_unavailable)
        link.connect_failed.connect(lambda exc: self.report(exc, "Could not connect to the server"))
        models.status_received.connect(self._status_received)
        models.load_started.connect(self._refresh_prompt)
        models.load_started.connect(lambda: self.engine_state.setText("Loading the model…"))
        models.load_progress.connect(lambda f, stage: self.engine_state.setText(f"Loading {f:.0%} ({stage})"))
        models.loaded.connect(lambda folder, precision, context: self.engine.set_launch(folder, precision, context))
        models.load_finished.connect(self._refresh_prompt)
        models.start_requested.connect(self._start_engine_with)
        models.error.connect(self.report)
        link.connected.connect(self.bench.set_client)
        link.disconnected.connect(lambda _reason: self.bench.set_client(None))
        self.bench.error.connect(self.report)
        self.prompt.submitted.connect(self.ask)
        self.prompt.stop_requested.connect(self.stop_answer)
        self.chat_list.chat_selected.connect(self.open_chat)
        self.chat_list.new_requested.connect(self.new_chat)
        self.chat_list.rename_requested.connect(self.rename_chat)
        self.chat_list.delete_requested.connect(self.delete_chat)
        self.view.link_activated.connect(self._open_link)
        self.view.export_requested.connect(self.export_trace)
        self.view.citation_activated.connect(self.show_citation)
        self.document_panel.add_requested.connect(lambda: self.open_documents())
        self.documents.notice.connect(self.notice.show_notice)
        self.documents.changed.connect(self.cite_all)
        self.documents.reading_cancel_requested.connect(self.stop_answer)

    # --- engine ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the local engine (the window is already usable: chats can be read meanwhile)."""
        self.link.start_local()

    def _start_engine_with(self, folder: str, precision: str, context: int | None) -> None:
        self.engine.set_launch(folder, precision, context)
        self.link.start_local(folder)

    def _connected(self, client: EngineClient, info: dict[str, Any]) -> None:
        self._client_params = {"model": info["model"]} if info.get("mode") == "remote" and info.get("model") else {}
        for session in (self.session, *self._retired):
            if session is not None:
                session.set_client(client, info.get("model"), self._session_params())
        self.models.set_client(client, info.get("mode", "local"), info)
        if info.get("mode") == "remote":
            self.documents.set_model(None, None)
        self._refresh_prompt()
        self.prompt.editor.setFocus()

    def _disconnected(self, reason: str) -> None:
        for session in (self.session, *self._retired):
            if session is not None:
                session.set_client(None)
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
        if self.session is not None:
            self.session.params = self._session_params()

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
        self.panel_action.setChecked(True)
        if self.link.client is None:
            self._start_engine_with(folder, self.model_panel.precision_combo.currentText(), None)
        else:
            self.model_panel.set_folder(folder)
            self.model_panel.load_button.setFocus()

    # --- chats -------------------------------------------------------------------------------------------
    def open_chat(self, chat_id: int | None) -> None:
        old = self.session
        if old is not None and old.chat_id == chat_id:
            return
        if old is not None and old.busy:
            old.stop()  # its answer is kept as "stopped"; it finishes on its own
            self._retired.add(old)
            old.busy_changed.connect(lambda busy, s=old: None if busy else self._retired.discard(s))
        self.session = None
        self.view.clear()
        self.documents.set_chat(chat_id)
        if chat_id is None:
            self.chat_list.select(None)
            self._refresh_prompt()
            return
        session = ChatSession(self.store, self.tasks, chat_id, self)
        session.set_client(self.link.client, self.link.info.get("model"), self._session_params())
        self._bind(session)
        self.session = session
        self.settings.setValue("chat/last", chat_id)
        self.chat_list.select(chat_id)
        self.view.show_history([message_dict(m) for m in session.history()])
        self._refresh_prompt()

    def _bind(self, s: ChatSession) -> None:
        def current(fn):
            return lambda *args: fn(*args) if s is self.session else None

        s.user_message_added.connect(current(self._user_message))
        s.history_reset.connect(current(lambda: self.view.show_history([message_dict(m) for m in s.history()])))
        s.answer_started.connect(current(self._answer_started))
        s.delta_received.connect(current(self.view.append))
        s.progress.connect(current(self.stats_bar.update_request))
        s.answer_finished.connect(current(lambda *a: self._answer_finished(s, *a)))
        s.busy_changed.connect(lambda _busy: self._refresh_prompt())
        s.failed.connect(self._answer_failed)
        s.documents = self.documents.context
        s.document_plan.connect(current(self.documents.show_plan))
        s.reading_progress.connect(current(self.documents.show_reading))
        s.busy_changed.connect(current(lambda busy: None if busy else self.documents.show_reading(None)))

    def new_chat(self) -> None:
        chat = self.store.create_chat()
        self.chat_list.refresh()
        self.open_chat(chat.id)
        self.prompt.editor.setFocus()

    def rename_chat(self, chat_id: int, title: str) -> None:
        try:
            self.store.rename_chat(chat_id, title)
        except (RowNotFound, ValueError) as exc:
            self.report(exc, "Could not rename the chat")
        self.chat_list.refresh()

    def delete_chat(self, chat_id: int | None) -> None:
        if chat_id is None:
            return
        if self.confirm_deletes:
            answer = QMessageBox.question(self, "Delete chat", "Delete this chat and all its messages?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        if self.session is not None and self.session.chat_id == chat_id:
            self.open_chat(None)
        self.store.delete_chat(chat_id)
        self.chat_list.refresh()
        remaining = self.store.list_chats()
        if self.session is None and remaining:
            self.open_chat(remaining[0].id)

    def ask(self, text: str) -> bool:
        if self.session is None:
            self.new_chat()
        return self.session.ask(text) if self.session is not None else False

    def stop_answer(self) -> None:
        if self.session is not None:
            self.session.stop()

    def regenerate(self) -> None:
        if self.session is not None:
            self.session.regenerate()

    def _user_message(self, text: str) -> None:
        self.view.add_user_message(text)
        self.chat_list.refresh()

    def _answer_started(self, message_id: int, start_s: float) -> None:
        self.stats_bar.reset_request()
        self.view.begin_assistant(message_id, start_s)

    def _answer_failed(self, exc: BaseException) -> None:
        if isinstance(exc, DocumentError):  # e.g. a prompt over the context: a message, not a crash dialog
            self.notice.show_notice(str(exc), "error")
        else:
            self.report(exc, "The answer failed")

    def _answer_finished(self, session: ChatSession, message_id: int, status: str, finish_reason: str | None,
                         stats: dict) -> None:
        self.view.finish(finish_reason, stats, status)
        self.stats_bar.update_prompt(stats.get("prompt_tokens"), stats.get("cached_tokens"))
        self.cite(message_id)
        if status == "interrupted" and self.link.mode == "remote":  # no restart to announce: say it here
            self.notice.show_notice(f"The server {self.link.info.get('url', '')} stopped answering mid-answer; the "
                                    "partial answer was kept. Check the server, or switch back to the local "
                                    "engine (Engine ▸ Use local engine).", "warning")
        try:
            session.save_view_stats(message_id, history_entry(self.view.message(message_id))["stats"])
        except KeyError:
            pass
        self.chat_list.refresh()

    def _refresh_prompt(self) -> None:
        if self.session is not None and self.session.busy:
            state = "streaming"
        elif self.link.client is not None and not self.models.loading:
            state = "ready"
        elif self.engine.state in ("starting", "restarting") or self.models.loading:
            state = "loading"
        else:
            state = "no_engine"
        self.prompt.set_state(state)
        self.stop_shortcut.setEnabled(state == "streaming")

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
        self.documents_action.setChecked(True)
        self.documents.add_files(paths)

    def cite(self, message_id: Any) -> None:
        """Link the answer's sentences and the steps that quote the chat's documents to their passages."""
        try:
            message = self.view.message(message_id)
        except KeyError:
            return
        answer_links, step_links = self.documents.cite(message.answer, [step.text for step in message.steps])
        self.view.set_citations(message_id, answer_links, step_links)

    def cite_all(self) -> None:
        for message_id in self.view.message_ids():
            self.cite(message_id)

    def show_citation(self, key: str) -> None:
        if self.documents.show_citation(key):
            self.documents_action.setChecked(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if local_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt's name)
        paths = local_paths(event)
        if paths:
            event.acceptProposedAction()
            self.open_documents(paths)
        else:
            self.notice.show_notice(f"Only files can be dropped here: {SUPPORTED_TYPES_TEXT}.", "info")

    # --- small actions -----------------------------------------------------------------------------------
    def report(self, error: BaseException | str, title: str = "Something went wrong") -> None:
        """The one way errors reach the user."""
        self.shown_errors.append(show_error(self, error, title))

    def set_theme(self, name: str) -> None:
        theme.apply(name)
        self.settings.setValue("view/theme", name)
        for key, action in self.theme_actions.items():
            action.setChecked(key == name)

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "About Ponder", theme.about_text(
            self.engine.handshake.get("version"), self.log_file), parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def export_trace(self, message_id: Any) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the reasoning trace", f"trace-{message_id}.md",
                                              "Markdown (*.md);;JSON (*.json)")
        if not path:
            return
        message = self.view.message(message_id)
        text = json.dumps(trace_json(message), indent=2, ensure_ascii=False) if path.endswith(".json") \
            else trace_markdown(message)
        self.tasks.run(Path(path).write_text, text, encoding="utf-8", name="export trace",
                       on_error=lambda exc: self.report(exc, "Could not export the trace"))

    @staticmethod
    def _open_link(url: str) -> None:
        if url.startswith(("http://", "https://")):
            QDesktopServices.openUrl(QUrl(url))

    # --- settings and shutdown ---------------------------------------------------------------------------
    def _restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        self.panel_action.setChecked(str(self.settings.value("view/model_panel", "true")).lower() != "false")
        self.documents_action.setChecked(str(self.settings.value("view/documents_panel", "true")).lower() != "false")
        self.set_theme(str(self.settings.value("view/theme", "system")))

    def shutdown(self) -> None:
        """Stop streams and the engine (terminate, wait, kill), then the workers. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("view/model_panel", self.panel_action.isChecked())
        self.settings.setValue("view/documents_panel", self.documents_action.isChecked())
        self.settings.sync()
        for session in (self.session, *self._retired):
            if session is not None:
                session.stop()
        self.link.shutdown()
        if not self.tasks.shutdown(5000):
            log.warning("some background work did not stop in time")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)
