"""SidePanel: the documents, model and benchmark panels as tabs beside the chat, each one shown or closed.

The chat is the window's main region; these panels share one column next to it instead of a column each,
so opening one never squeezes the conversation. Its width is what its widest page needs at least (each page
wraps or elides its text to stay narrow). A page is shown (``set_page_visible``) from the View menu
or closed with its tab's ✕; the column hides itself when no page is left, and the window's splitter
collapses it when dragged to the edge.

    side = SidePanel()
    side.add_page("documents", "Documents", document_panel)
    side.show_page("documents")            # shown and brought to the front
    side.page_visibility_changed.connect(...)   # (name, visible): the View menu's check marks follow
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget


class SidePanel(QWidget):
    page_visibility_changed = Signal(str, bool)  # page name, shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidePanel")
        self.tabs = QTabWidget(objectName="sideTabs", documentMode=True, tabsClosable=True, movable=False)
        self.tabs.tabCloseRequested.connect(lambda index: self.set_page_visible(self._names[index], False))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self._names: list[str] = []

    def add_page(self, name: str, title: str, widget: QWidget, tooltip: str = "") -> None:
        self.tabs.addTab(widget, title)
        index = self.tabs.count() - 1
        self.tabs.setTabToolTip(index, tooltip or title)
        self._names.append(name)

    def page(self, name: str) -> QWidget:
        return self.tabs.widget(self._names.index(name))

    def page_visible(self, name: str) -> bool:
        return self.tabs.isTabVisible(self._names.index(name))

    def current_page(self) -> str | None:
        index = self.tabs.currentIndex()
        return self._names[index] if index >= 0 and self.tabs.isTabVisible(index) else None

    def visible_pages(self) -> list[str]:
        return [name for i, name in enumerate(self._names) if self.tabs.isTabVisible(i)]

    def set_page_visible(self, name: str, visible: bool) -> None:
        index = self._names.index(name)
        if self.tabs.isTabVisible(index) != visible:
            self.tabs.setTabVisible(index, visible)
            self.page_visibility_changed.emit(name, visible)
        if visible:
            self.tabs.setCurrentIndex(index)
        self.setVisible(bool(self.visible_pages()))

    def show_page(self, name: str) -> None:
        """Show ``name`` and bring it to the front."""
        self.set_page_visible(name, True)
