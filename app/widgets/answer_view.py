"""AnswerView: an answer rendered as Markdown, safe to show whatever the model wrote.

It never fetches anything: images other than ``data:`` URLs become a grey placeholder, raw HTML shows as
text, and a clicked link is reported (``link_activated``), never opened. It is as tall as its text (the
transcript scrolls, not the answer), so the mouse wheel over it scrolls the transcript.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QByteArray, QUrl, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPalette, QTextDocument, QTextTable, QWheelEvent
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QFrame, QSizePolicy, QTextBrowser, QWidget

MARKDOWN_FEATURES = (QTextDocument.MarkdownFeature.MarkdownDialectGitHub
                     | QTextDocument.MarkdownFeature.MarkdownNoHTML)  # raw HTML in an answer shows as text


class OfflineDocument(QTextDocument):
    """A text document that loads nothing from outside: every non-``data:`` image becomes a placeholder."""

    def loadResource(self, type: int, url: QUrl) -> object:  # noqa: A002 (Qt's name)
        if url.scheme().lower() == "data":
            return super().loadResource(type, url)
        if type != QTextDocument.ResourceType.ImageResource.value:
            return QByteArray()  # non-null: Qt must not fall back to reading a local file
        placeholder = QImage(16, 16, QImage.Format.Format_ARGB32)
        placeholder.fill(QColor(128, 128, 128, 90))
        self.addResource(type, url, placeholder)  # cached: asked once per render, not once per layout
        return placeholder


class AnswerView(QTextBrowser):
    link_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="answer", visible=False)
        self.setDocument(OfflineDocument(self))
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.viewport().setAutoFillBackground(False)
        self.viewport().setObjectName("answerViewport")
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(
            lambda size: self.setFixedHeight(math.ceil(size.height()) + 2))
        self.anchorClicked.connect(lambda url: self.link_activated.emit(url.toString()))
        self._markdown = ""

    def show_markdown(self, text: str) -> None:
        self._markdown = text
        self.setVisible(bool(text.strip()))
        if text.strip():
            self.document().setMarkdown(text, MARKDOWN_FEATURES)
            self._style_tables()

    def restyle(self) -> None:
        """The palette changed: table borders follow it."""
        if self._markdown.strip():
            self.show_markdown(self._markdown)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt's name)
        """The transcript around it scrolls (it never scrolls itself)."""
        area = self.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:
            QApplication.sendEvent(area.verticalScrollBar(), event)

    def _style_tables(self) -> None:
        """Markdown tables get Qt's default border; give them the palette's (readable in a dark theme too)."""
        for frame in self.document().rootFrame().childFrames():
            if isinstance(frame, QTextTable):
                table_format = frame.format()
                table_format.setBorderBrush(self.palette().color(QPalette.ColorRole.Mid))
                table_format.setBorderCollapse(True)
                table_format.setCellPadding(3)
                frame.setFormat(table_format)
