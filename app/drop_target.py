"""Documents dropped anywhere on the window: one handler for the whole window, panels included.

Qt offers a drag to the widget under the cursor, then to its parents until one accepts; the panels take
none themselves, so every file drag reaches the window, where this filter takes it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent


def local_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    """The local files a drag carries (nothing for text or remote URLs)."""
    mime = event.mimeData()
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


class DocumentDropTarget(QObject):
    """Install on a window (``window.installEventFilter(target)``; the window must accept drops)."""

    files_dropped = Signal(list)  # local paths
    other_dropped = Signal()  # text, remote links, ...: nothing to open

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.DragEnter:
            if local_paths(event):
                event.acceptProposedAction()
            return True
        if event.type() == QEvent.Type.Drop:
            paths = local_paths(event)
            if paths:
                event.acceptProposedAction()
                self.files_dropped.emit(paths)
            else:
                self.other_dropped.emit()
            return True
        return super().eventFilter(watched, event)
