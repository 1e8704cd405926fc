"""StatsBar: a slim bar of live figures: this answer's speed, and the engine's memory, KV cache and queue.

Two feeds, both on the GUI thread:
- ``show_trace(trace)`` from the chat stream (a ``ReasoningTrace`` snapshot: this answer's time to first
  token, speed and tokens so far, how much of its prompt is read and, once the server says, its prompt size
  and how much of it the engine's prefix cache served: a follow-up on a document); ``show_trace(None)``
  before the next one: every figure of the previous answer goes;
- ``update_engine(event)`` from the engine's ``/v1/engine/events`` (about two per second): RSS, VRAM
  (hidden off CUDA, where the engine reports None), KV cache fill, queue (and a prompt being read), and two
  60 s sparklines (memory and speed). ``reset_engine()`` when the engine goes away (a restart): no stale
  "1 running". A remote server without those events: ``set_unavailable(reason)`` says so instead of zeros.
TTFT is always this answer's own (never another chat's); with no answer streaming, tokens/s is the engine's.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLayout, QWidget

from app.widgets.sparkline import Sparkline
from core.api.protocol import EngineEvent
from core.reasoning import ReasoningTrace

NO_VALUE = "—"
QUEUE_TIP = "Requests the engine is generating now / waiting for a free slot, and how much of a prompt it is reading"
GRAPH_WINDOW_S = 60.0


def format_bytes(count: int | float) -> str:
    """1,288,490,189 -> "1.2 GiB" (binary units, as memory is sized)."""
    value, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"


def format_tokens(count: int) -> str:
    """Token counts as context sizes are written: 812, 1.2k, 32k (k = 1024)."""
    if count < 1000:
        return str(count)
    k = count / 1024
    return f"{k:.1f}k".replace(".0k", "k") if k < 10 else f"{k:.0f}k"


class StatsBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ttft_s: float | None = None
        self._tokens_per_s: float | None = None
        self._tokens = 0
        self._engine_tokens_per_s: float | None = None
        self._unavailable = False
        self._ttft = self._label("ttft", "Time to first token: from sending the question to the first generated "
                                         "token (mostly the prompt's prefill)")
        self._speed = self._label("speed", "Generation speed: tokens per second of this answer (the engine's "
                                           "recent average when no answer streams)")
        self._count = self._label("tokens", "Tokens generated so far for this answer (reasoning and answer)")
        self._prompt = self._label("prompt", "Prompt tokens of the last answer, and how many of them the engine "
                                             "served from its prefix cache (not computed again)")
        self._prompt.setVisible(False)
        self._rss = self._label("rss", "RSS: the engine process's resident memory (weights on CPU, KV cache, "
                                       "workspace)")
        self._vram = self._label("vram", "VRAM: GPU memory allocated by the engine / reserved by its allocator")
        self._kv = self._label("kv", "KV cache fill: tokens held for running requests / tokens the cache can hold")
        self._queue = self._label("queue", QUEUE_TIP)
        self.memory_graph = Sparkline("RSS", GRAPH_WINDOW_S, format_bytes)
        self.memory_graph.setObjectName("memoryGraph")
        self.memory_graph.setToolTip("Engine memory over the last 60 s (VRAM on a GPU, else RSS)")
        self.speed_graph = Sparkline("tok/s", GRAPH_WINDOW_S, lambda v: f"{v:.0f}" if v >= 10 else f"{v:.1f}")
        self.speed_graph.setObjectName("speedGraph")
        self.speed_graph.setToolTip("Engine generation speed (tokens/s, all requests) over the last 60 s")
        self._unavailable_label = self._label("unavailable", "This server does not publish live engine figures "
                                                             "(it is not a Ponder engine); the answer's own speed "
                                                             "still shows")
        self._engine = QWidget(objectName="engineStats")
        engine_row = QHBoxLayout(self._engine)
        engine_row.setContentsMargins(0, 0, 0, 0)
        engine_row.setSpacing(14)
        for widget in (self._rss, self._vram, self._kv, self._queue, self.memory_graph, self.speed_graph):
            engine_row.addWidget(widget)
        row = QHBoxLayout(self)
        row.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)  # narrower than all figures: graphs go
        row.setContentsMargins(8, 2, 8, 2)
        row.setSpacing(14)
        for widget in (self._ttft, self._speed, self._count, self._prompt, _separator(), self._engine,
                       self._unavailable_label):
            row.addWidget(widget)
        row.addStretch(1)
        self._vram.setVisible(False)
        self._unavailable_label.setVisible(False)
        self._show_request()
        self._show_engine(None)

    # --- size: the graphs give way first when the window is narrow ---------------------------------
    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_graphs()

    def _fit_graphs(self) -> None:
        """Show the graphs only while every figure fits beside them (a longer figure can push them out too)."""
        graphs = (self.memory_graph, self.speed_graph)
        for graph in graphs:
            graph.setVisible(True)
        for graph in reversed(graphs):
            if self.layout().sizeHint().width() <= self.width():
                break
            graph.setVisible(False)

    # --- feeds -------------------------------------------------------------------------------------
    def show_trace(self, trace: ReasoningTrace | None) -> None:
        """This answer's figures, as its trace has them (None: no answer yet, nothing shown of the last one)."""
        self._ttft_s = trace.ttft_s if trace else None
        self._tokens_per_s = trace.tokens_per_s if trace else None
        self._tokens = trace.tokens if trace else 0
        self._show_request()
        text = ""
        if trace is not None and trace.prompt_tokens is not None:
            text = f"prompt {trace.prompt_tokens:,} · {trace.cached_tokens or 0:,} cached"
        elif trace is not None and trace.prompt is not None:
            text = f"prompt {trace.prompt.done_tokens:,} of {trace.prompt.total_tokens:,} read"
        self._prompt.setText(text)
        self._prompt.setVisible(bool(text))
        self._fit_graphs()

    def reset_engine(self) -> None:
        """The engine went away (restarting, stopped, switched): its figures are no longer true."""
        self._engine_tokens_per_s = None
        self._show_engine(None)
        self._show_request()

    def update_engine(self, event: EngineEvent) -> None:
        if self._unavailable:
            self._unavailable = False
            self._engine.setVisible(True)
            self._unavailable_label.setVisible(False)
        self._engine_tokens_per_s = event.tokens_per_s
        self._show_engine(event)
        on_gpu = event.vram_allocated_bytes is not None
        self.memory_graph.set_title("VRAM" if on_gpu else "RSS")
        self.memory_graph.add(event.time, event.vram_allocated_bytes if on_gpu else event.rss_bytes)
        self.speed_graph.add(event.time, event.tokens_per_s)
        self._show_request()

    def set_unavailable(self, reason: str = "") -> None:
        """A server without engine events: say so in place of the engine figures (not an error)."""
        self._unavailable = True
        self._engine_tokens_per_s = None
        self._engine.setVisible(False)
        self._unavailable_label.setText("engine stats unavailable on this server")
        tip = "This server does not publish live engine figures; the answer's own speed still shows."
        self._unavailable_label.setToolTip(f"{tip}\n{reason}" if reason else tip)
        self._unavailable_label.setVisible(True)
        self.memory_graph.clear()
        self.speed_graph.clear()
        self._show_request()

    @property
    def unavailable(self) -> bool:
        return self._unavailable

    # --- showing -----------------------------------------------------------------------------------
    def _show_request(self) -> None:
        ttft = self._ttft_s
        speed = self._tokens_per_s if self._tokens_per_s is not None else self._engine_tokens_per_s
        self._ttft.setText(f"TTFT {_seconds(ttft)}")
        self._speed.setText(f"{speed:.1f} tok/s" if speed is not None else f"{NO_VALUE} tok/s")
        self._count.setText(f"{self._tokens:,} tokens")

    def _show_engine(self, event: EngineEvent | None) -> None:
        if event is None:
            for label, name in ((self._rss, "RSS"), (self._kv, "KV"), (self._queue, "queue")):
                label.setText(f"{name} {NO_VALUE}")
            return
        self._rss.setText(f"RSS {format_bytes(event.rss_bytes)}")
        on_gpu = event.vram_allocated_bytes is not None
        self._vram.setVisible(on_gpu)
        if on_gpu:
            reserved = event.vram_reserved_bytes
            self._vram.setText(f"VRAM {format_bytes(event.vram_allocated_bytes)}"
                               + (f" / {format_bytes(reserved)}" if reserved is not None else ""))
        if event.kv_tokens_total:
            self._kv.setText(f"KV {format_tokens(event.kv_tokens_used)}/{format_tokens(event.kv_tokens_total)} tokens")
            self._kv.setToolTip(f"KV cache fill: {event.kv_tokens_used:,} of {event.kv_tokens_total:,} tokens "
                                f"({event.kv_tokens_used / event.kv_tokens_total:.0%}), "
                                f"{format_bytes(event.kv_bytes_used)} of {format_bytes(event.kv_bytes_total)}")
        else:
            self._kv.setText(f"KV {NO_VALUE}")
        reading = (f" · reading {event.prefill_tokens_done / event.prefill_tokens_total:.0%}"
                   if event.prefill_tokens_total else "")
        self._queue.setText(f"{event.running} running · {event.waiting} waiting{reading}")
        self._queue.setToolTip(QUEUE_TIP + (f"\nReading {event.prefilling} prompt(s): {event.prefill_tokens_done:,} of "
                                            f"{event.prefill_tokens_total:,} tokens" if event.prefill_tokens_total else ""))
        self._fit_graphs()

    def _label(self, name: str, tooltip: str) -> QLabel:
        label = QLabel(objectName=name)
        label.setToolTip(tooltip)
        return label


def _seconds(value: float | None) -> str:
    if value is None:
        return NO_VALUE
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _separator() -> QFrame:
    line = QFrame()
    line.setFixedWidth(1)
    line.setAutoFillBackground(True)
    line.setBackgroundRole(QPalette.ColorRole.Mid)
    return line
