"""ChatListPanel: the chats of the store, newest first, with search, new, rename and delete.

It reads the store (local SQLite, fast) and reports what the user wants through signals; the window does
the rest (switching sessions, confirming a delete). Rename is in place (double-click or F2), delete from
the context menu or the Delete key; search matches titles and answers (``Store.search_chats``).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QMenu,
                               QPushButton, QVBoxLayout, QWidget)

from core.store import Chat, Store

log = logging.getLogger(__name__)
ID_ROLE = Qt.ItemDataRole.UserRole


class ChatListPanel(QWidget):
    chat_selected = Signal(int)
    new_requested = Signal()
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.search = QLineEdit(objectName="chatSearch", placeholderText="Search chats…", clearButtonEnabled=True)
        self.new_button = QPushButton("New chat", objectName="newChatButton")
        self.new_button.setToolTip("Start a new chat (Ctrl+N)")
        self.list = QListWidget(objectName="chatList")
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setUniformItemSizes(True)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        delete = QAction("Delete chat", self.list, shortcut=QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self._delete_current)
        self.list.addAction(delete)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._search_timer.start)
        self.new_button.clicked.connect(self.new_requested)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemChanged.connect(self._item_edited)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self._current_id: int | None = None

    @property
    def current_chat_id(self) -> int | None:
        return self._current_id

    def refresh(self) -> None:
        """Reload from the store, keeping the selection (without re-announcing it)."""
        query = self.search.text().strip()
        try:
            chats = self.store.search_chats(query) if query else self.store.list_chats()
        except Exception:  # noqa: BLE001 - a list that cannot load stays as it was; the window reports store errors
            log.exception("could not list the chats")
            return
        with QSignalBlocker(self.list):
            self.list.clear()
            for chat in chats:
                self.list.addItem(self._item(chat))
            self._select_row_of(self._current_id)

    def select(self, chat_id: int | None) -> None:
        """Show ``chat_id`` as current (the window already switched to it)."""
        self._current_id = chat_id
        with QSignalBlocker(self.list):
            self._select_row_of(chat_id)

    def rename_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.list.editItem(item)

    def _select_row_of(self, chat_id: int | None) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == chat_id:
                self.list.setCurrentRow(row)
                return
        self.list.setCurrentRow(-1)

    @staticmethod
    def _item(chat: Chat) -> QListWidgetItem:
        item = QListWidgetItem(chat.title)
        item.setData(ID_ROLE, chat.id)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        item.setToolTip(chat.title)
        return item

    def _current_changed(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if current is None:
            return
        chat_id = int(current.data(ID_ROLE))
        if chat_id != self._current_id:
            self._current_id = chat_id
            self.chat_selected.emit(chat_id)

    def _item_edited(self, item: QListWidgetItem) -> None:
        title = item.text().strip()
        if title:
            self.rename_requested.emit(int(item.data(ID_ROLE)), title)
        else:
            self.refresh()  # an empty title is not a title: show the old one again

    def _delete_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.delete_requested.emit(int(item.data(ID_ROLE)))

    def _context_menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.list.editItem(item))
        menu.addAction("Delete", lambda: self.delete_requested.emit(int(item.data(ID_ROLE))))
        menu.popup(self.list.viewport().mapToGlobal(pos))
