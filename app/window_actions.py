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
    model_panel: QAction  # checkable: the side panel's Model tab is shown
    documents_panel: QAction  # checkable: its Documents tab is shown
    benchmark: QAction  # checkable: its Benchmark tab is shown
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
    pages = {}
    for name, text, keys in (("documents", "&Documents panel", "Ctrl+Shift+D"), ("model", "&Model panel", "Ctrl+M"),
                             ("benchmark", "&Benchmark precisions", "Ctrl+B")):
        action = QAction(text, w, checkable=True, checked=w.side.page_visible(name), shortcut=QKeySequence(keys))
        action.toggled.connect(lambda on, n=name: w.side.set_page_visible(n, on))
        view.addAction(action)
        pages[name] = action
    w.side.page_visibility_changed.connect(lambda name, on: pages[name].setChecked(on))
    themes = theme.add_theme_actions(view.addMenu("&Theme"), w.set_theme)

    help_menu = bar.addMenu("&Help")
    help_menu.addAction("&Welcome", w.welcome.show_welcome)
    help_menu.addAction("Model &catalog…", w.catalog.show)
    help_menu.addAction("&About Ponder", w.show_about)
    stop = QShortcut(QKeySequence(Qt.Key.Key_Escape), w, w.stop_answer)
    stop.setEnabled(False)
    for keys in ("Ctrl+Return", "Ctrl+Enter"):
        QShortcut(QKeySequence(keys), w, w.prompt.submit)
    return WindowActions(new_chat, open_model, open_document, pages["model"], pages["documents"], pages["benchmark"],
                         themes, stop)
