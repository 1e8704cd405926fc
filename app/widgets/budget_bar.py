"""BudgetBar: how a chat's documents meet the model's context, as one bar drawn with QPainter.

    [■■■■■■■■■■■■■■■■■■░░░░░░░░│▒▒▒▒▒]   12,345 of 28,000 tokens for documents · 4,096 kept for reasoning
     documents        free room  reserve

The bar is the whole context: the documents' tokens (red past the room they may take), the room left for
them, and the reserve for the reasoning and the answer, drawn hatched at the right. Colours come from the
palette, so it follows a light or dark theme.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

OVER_COLOUR = QColor(200, 70, 60)


class BudgetBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentBudgetBar")
        self.document_tokens = 0
        self.room_tokens = 0
        self.context_tokens = 0
        self.reserve_tokens = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_values(self, document_tokens: int, room_tokens: int, context_tokens: int, reserve_tokens: int) -> None:
        """``room_tokens``: what the context leaves for the documents (context - reserve - the prompt's frame)."""
        self.document_tokens, self.room_tokens = document_tokens, room_tokens
        self.context_tokens, self.reserve_tokens = context_tokens, reserve_tokens
        self.setToolTip(self.describe())
        self.update()

    @property
    def over(self) -> bool:
        return self.document_tokens > self.room_tokens

    @property
    def fraction(self) -> float:
        """Documents' share of the room they may take (over 1.0 when they do not fit)."""
        return self.document_tokens / self.room_tokens if self.room_tokens else 0.0

    def describe(self) -> str:
        if not self.context_tokens:
            return "No model context yet"
        verdict = "do not fit" if self.over else "fit"
        return (f"Documents {self.document_tokens:,} tokens of the {self.room_tokens:,} the context leaves them "
                f"({self.fraction:.0%}): they {verdict}. Context {self.context_tokens:,} tokens, "
                f"{self.reserve_tokens:,} kept for the reasoning and the answer.")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(200, 14)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.setBrush(palette.color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(rect, 3, 3)
        total = max(self.context_tokens, self.document_tokens + self.reserve_tokens, 1)
        if not self.context_tokens:
            return
        inner = rect.adjusted(1, 1, -1, -1)
        scale = inner.width() / total
        used = min(self.document_tokens, self.room_tokens) * scale
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
        painter.drawRect(QRectF(inner.left(), inner.top(), used, inner.height()))
        if self.over:
            extra = (self.document_tokens - self.room_tokens) * scale
            painter.setBrush(OVER_COLOUR)
            painter.drawRect(QRectF(inner.left() + used, inner.top(), extra, inner.height()))
        reserve = self.reserve_tokens * scale
        painter.setBrush(QBrush(palette.color(QPalette.ColorRole.Mid), Qt.BrushStyle.BDiagPattern))
        painter.drawRect(QRectF(inner.right() - reserve, inner.top(), reserve, inner.height()))
        painter.end()
