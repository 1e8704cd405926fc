"""WelcomeView: what the empty chat pane shows on a first start (and Help ▸ Welcome shows again).

What Ponder does in three lines; the sample document with its three example questions (each one click: the
sample opens in a new chat and the question is asked); what the bundled model is and is not good at; and the
way to a real reasoning model (the catalog). It only shows and asks: ``app.welcome_controller`` acts.

Signals: sample_requested(), question_requested(question), catalog_requested(), dismissed().
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout,
                               QWidget)

from core.samples import Sample

WHAT_PONDER_DOES = (
    "Drop a long document on the window (PDF, Word, HTML, Markdown, text) and ask about it.",
    "A reasoning model works it out step by step, in view, quoting the document, then answers.",
    "Everything runs on this computer: your documents and chats never leave it.",
)
BUNDLED_GOOD_AT = ("short company documents like the sample: looking up a fact, following two or three links (a "
                   "team's manager, then that manager's office), sums and differences of the numbers it states")
BUNDLED_NOT_GOOD_AT = ("documents written unlike the sample (in plain-English memos and letters it looks a fact up "
                       "right about one time in two, and rarely adds numbers right), long documents, dates: it is a small demonstration model, "
                       "not a general one")


class WelcomeView(QWidget):
    sample_requested = Signal()
    question_requested = Signal(str)
    catalog_requested = Signal()
    dismissed = Signal()

    def __init__(self, sample: Sample | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeView")
        self.question_links: list[QLabel] = []
        column = QVBoxLayout()
        column.setSpacing(14)
        title = QLabel("Welcome to Ponder", objectName="welcomeTitle")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        column.addWidget(title)
        for line in WHAT_PONDER_DOES:
            column.addWidget(self._text(line))
        column.addWidget(self._sample_box(sample))
        column.addWidget(self._model_box())
        self.back_button = QPushButton("Back to my chats", objectName="welcomeBackButton")
        self.back_button.clicked.connect(self.dismissed)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.back_button)
        column.addLayout(buttons)
        column.addStretch(1)
        inner = QWidget()
        inner.setMinimumWidth(0)
        inner.setMaximumWidth(760)
        inner.setLayout(column)
        centred = QWidget()
        row = QHBoxLayout(centred)
        row.addStretch(1)
        row.addWidget(inner, 10)
        row.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(centred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

    @staticmethod
    def _text(text: str, name: str = "") -> QLabel:
        label = QLabel(text, wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        if name:
            label.setObjectName(name)
        return label

    def _sample_box(self, sample: Sample | None) -> QGroupBox:
        box = QGroupBox("Try it on the sample document")
        layout = QVBoxLayout(box)
        if sample is None:
            layout.addWidget(self._text("The sample document is not installed (resources/samples)."))
            self.open_sample_button = QPushButton("Open the sample", objectName="openSampleButton", enabled=False)
            return box
        head = QHBoxLayout()
        head.addWidget(self._text(f"{sample.title}: a short handbook like those the bundled model was trained on.",
                                  "sampleTitle"), 1)
        self.open_sample_button = QPushButton("Open the sample", objectName="openSampleButton")
        self.open_sample_button.setToolTip(f"Open {sample.path.name} in a new chat")
        self.open_sample_button.clicked.connect(self.sample_requested)
        head.addWidget(self.open_sample_button)
        layout.addLayout(head)
        layout.addWidget(self._text("Ask one (it opens the sample in a new chat and sends the question):"))
        for i, q in enumerate(sample.questions):
            kind = f" <i>({escape(q.kind)})</i>" if q.kind else ""
            link = QLabel(f"▸ <a href='{i}'>{escape(q.question)}</a>{kind}", objectName=f"sampleQuestion{i}",
                          wordWrap=True, textFormat=Qt.TextFormat.RichText)
            link.setToolTip("Open the sample in a new chat and ask this")
            link.linkActivated.connect(lambda _href, text=q.question: self.question_requested.emit(text))
            self.question_links.append(link)
            layout.addWidget(link)
        return box

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("The bundled model: ponder-reasoner-mini")
        layout = QVBoxLayout(box)
        layout.addWidget(self._text(f"Good at: {BUNDLED_GOOD_AT}.", "bundledGoodAt"))
        layout.addWidget(self._text(f"Not good at: {BUNDLED_NOT_GOOD_AT}.", "bundledNotGoodAt"))
        self.catalog_button = QPushButton("Get a real reasoning model…", objectName="catalogButton")
        self.catalog_button.setToolTip("The model catalog: DeepSeek-R1-Distill and Qwen3 models, with what fits "
                                       "this computer, one click to download")
        self.catalog_button.clicked.connect(self.catalog_requested)
        row = QHBoxLayout()
        row.addWidget(self.catalog_button)
        row.addWidget(self._text("DeepSeek-R1-Distill, Qwen3: what fits this computer"), 1)
        layout.addLayout(row)
        return box

    def set_can_dismiss(self, can: bool) -> None:
        """"Back to my chats" only when there are chats to go back to."""
        self.back_button.setVisible(can)
