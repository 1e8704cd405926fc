"""The window's menus, actions and shortcuts: what each one does is a method of the window or of a panel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut

from app import theme


@dataclass(frozen=True, slots=True)
class WindowActions:
    new_chat: QAction
    open_model: QAction
    open_document: QAction
    model_panel: QAction  # checkable: the model panel is shown
    documents_panel: QAction  # checkable: the documents panel is shown
    benchmark: QAction  # checkable: the benchmark dock is shown
    themes: dict[str, QAction]
    stop: QShortcut  # Esc, enabled only while an answer streams (Esc keeps its usual jobs otherwise)


def build_menus(w: Any) -> WindowActions:
    """The menu bar of ``w`` (the ``MainWindow``: its commands and panels), and the actions others toggle."""
    bar = w.menuBar()
    file = bar.addMenu("&File")
    new_chat = file.addAction("&New chat", w.new_chat, QKeySequence.StandardKey.New)
    open_model = file.addAction("&Open model folder…", w.open_model_folder, QKeySequence("Ctrl+O"))
    open_document = file.addAction("Open &document…", lambda: w.open_documents(), QKeySequence("Ctrl+Shift+O"))
    file.addAction("Model &catalog…", w.catalog.show, QKeySequence("Ctrl+Shift+M"))
    file.addSeparator()
    file.addAction("&Quit", w.close, QKeySequence.StandardKey.Quit)

    chat = bar.addMenu("&Chat")
    chat.addAction("&Regenerate answer", w.regenerate, QKeySequence("Ctrl+R"))
    chat.addAction("Re&name chat", w.chat_list.rename_current, QKeySequence("F2"))
    chat.addAction("&Delete chat", lambda: w.chats.delete_chat(w.chat_list.current_chat_id))
    chat.addSeparator()
    chat.addAction("&Generation settings…", w.show_generation_dialog, QKeySequence("Ctrl+,"))

    engine = bar.addMenu("&Engine")
    engine.addAction("&Connect to a server…", w.show_connect_dialog)
    engine.addAction("Use &local engine", w.link.use_local)
    engine.addAction("&Restart engine", w.link.restart)

    view = bar.addMenu("&View")
    model_panel = QAction("&Model panel", w, checkable=True, checked=True)
    model_panel.toggled.connect(w.model_panel.setVisible)
    view.addAction(model_panel)
    documents_panel = QAction("&Documents panel", w, checkable=True, checked=True)
    documents_panel.toggled.connect(w.document_panel.setVisible)
    view.addAction(documents_panel)
    benchmark = w.bench_dock.toggleViewAction()
    benchmark.setText("&Benchmark precisions")
    benchmark.setShortcut(QKeySequence("Ctrl+B"))
    view.addAction(benchmark)
    themes = theme.add_theme_actions(view.addMenu("&Theme"), w.set_theme)

    help_menu = bar.addMenu("&Help")
    help_menu.addAction("&Welcome", w.welcome.show_welcome)
    help_menu.addAction("Model &catalog…", w.catalog.show)
    help_menu.addAction("&About Ponder", w.show_about)
    stop = QShortcut(QKeySequence(Qt.Key.Key_Escape), w, w.stop_answer)
    stop.setEnabled(False)
    for keys in ("Ctrl+Return", "Ctrl+Enter"):
        QShortcut(QKeySequence(keys), w, w.prompt.submit)
    return WindowActions(new_chat, open_model, open_document, model_panel, documents_panel, benchmark, themes, stop)
