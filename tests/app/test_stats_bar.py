"""StatsBar and Sparkline with real widgets (pytest-qt, offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage, QPalette
from PySide6.QtWidgets import QLabel, QWidget

from app.widgets.sparkline import Sparkline
from app.widgets.stats_bar import StatsBar, format_bytes, format_tokens
from core.api.protocol import EngineEvent
from core.reasoning import ReasoningTrace

GIB = 2**30


def event(t: float = 1000.0, **fields) -> EngineEvent:
    values = dict(time=t, state="ready", tokens_per_s=18.5, last_ttft_s=0.35, rss_bytes=int(1.2 * GIB),
                  kv_tokens_used=1200, kv_tokens_total=32768, kv_bytes_used=300 * 2**20, kv_bytes_total=8 * GIB,
                  running=1, waiting=2)
    values.update(fields)
    return EngineEvent(**values)


@pytest.fixture
def bar(qtbot):
    widget = StatsBar()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def text(bar: StatsBar, name: str) -> str:
    return bar.findChild(QLabel, name).text()


def shown(bar: StatsBar, name: str) -> bool:
    return bar.findChild(QWidget, name).isVisible()


def test_engine_figures_from_an_event_on_cpu(bar):
    bar.update_engine(event())
    assert text(bar, "rss") == "RSS 1.2 GiB"
    assert text(bar, "kv") == "KV 1.2k/32k tokens"
    assert "1,200 of 32,768 tokens (4%)" in bar.findChild(QLabel, "kv").toolTip()
    assert text(bar, "queue") == "1 running · 2 waiting"
    assert not shown(bar, "vram")  # None off CUDA: hidden, not "0 B"
    # no answer: the engine's live speed, but no time to first token (another chat's is not this one's)
    assert text(bar, "ttft") == "TTFT —" and text(bar, "speed") == "18.5 tok/s"
    assert bar.memory_graph.title == "RSS" and bar.memory_graph.points() == [(1000.0, float(int(1.2 * GIB)))]
    assert bar.speed_graph.points() == [(1000.0, 18.5)]


def test_vram_shows_on_a_gpu_and_the_memory_graph_follows_it(bar):
    bar.update_engine(event(vram_allocated_bytes=3 * GIB, vram_reserved_bytes=4 * GIB))
    assert shown(bar, "vram")
    assert text(bar, "vram") == "VRAM 3.0 GiB / 4.0 GiB"
    assert bar.memory_graph.title == "VRAM" and bar.memory_graph.points()[-1][1] == 3 * GIB


def answer(ttft_s: float | None, tokens_per_s: float | None, tokens: int, **figures: int) -> ReasoningTrace:
    return ReasoningTrace(server_ttft_s=ttft_s, server_tokens_per_s=tokens_per_s, reasoning_tokens=tokens, **figures)


def test_request_figures_and_reset(bar):
    bar.update_engine(event(last_ttft_s=None, tokens_per_s=0.0))
    bar.show_trace(answer(0.42, 21.66, 1234))
    assert (text(bar, "ttft"), text(bar, "speed"), text(bar, "tokens")) == ("TTFT 420 ms", "21.7 tok/s", "1,234 tokens")
    assert not shown(bar, "prompt")  # the server has not said yet
    bar.show_trace(answer(1.5, None, 1300, prompt_tokens=900, cached_tokens=850))
    assert text(bar, "ttft") == "TTFT 1.50 s" and text(bar, "speed") == "0.0 tok/s"  # the engine's figure
    assert text(bar, "prompt") == "prompt 900 · 850 cached"
    bar.show_trace(None)
    assert (text(bar, "ttft"), text(bar, "tokens")) == ("TTFT —", "0 tokens") and not shown(bar, "prompt")


def test_a_prompt_being_read_shows_then_the_next_answer_starts_clean(bar):
    from core.api.protocol import PromptProgress

    trace = ReasoningTrace(started_at=0.0)
    trace.record_prompt(PromptProgress(total=50_112, cache=0, processed=12_288, time_ms=4000))
    bar.show_trace(trace)
    assert text(bar, "prompt") == "prompt 12,288 of 50,112 read" and text(bar, "ttft") == "TTFT —"
    bar.show_trace(answer(0.9, 20.0, 10, prompt_tokens=900, cached_tokens=0))
    assert text(bar, "prompt") == "prompt 900 · 0 cached"
    bar.show_trace(ReasoningTrace())  # the next answer, nothing known yet: nothing of the last one shows
    assert not shown(bar, "prompt") and text(bar, "ttft") == "TTFT —"


def test_an_engine_restart_clears_its_figures(bar):
    bar.update_engine(event(prefilling=1, prefill_tokens_done=2048, prefill_tokens_total=8192))
    assert text(bar, "queue") == "1 running · 2 waiting · reading 25%"
    assert "2,048 of 8,192 tokens" in bar.findChild(QLabel, "queue").toolTip()
    bar.reset_engine()
    assert (text(bar, "queue"), text(bar, "rss"), text(bar, "kv")) == ("queue —", "RSS —", "KV —")
    assert text(bar, "speed") == "— tok/s"


def test_unavailable_on_a_server_without_engine_events(bar):
    bar.update_engine(event())
    bar.set_unavailable("GET /v1/engine/events is not supported by this server")
    assert bar.unavailable
    assert shown(bar, "unavailable") and text(bar, "unavailable") == "engine stats unavailable on this server"
    assert "not supported" in bar.findChild(QLabel, "unavailable").toolTip()
    assert not shown(bar, "engineStats")  # no zeros pretending to be figures
    assert bar.memory_graph.points() == []
    bar.show_trace(answer(0.8, 12.0, 50))  # the answer's own figures still show
    assert text(bar, "speed") == "12.0 tok/s" and text(bar, "ttft") == "TTFT 800 ms"
    bar.show_trace(None)
    assert text(bar, "speed") == "— tok/s"
    bar.update_engine(event())  # the engine came back
    assert not bar.unavailable and shown(bar, "engineStats") and not shown(bar, "unavailable")


def test_every_figure_has_a_tooltip(bar):
    for name in ("ttft", "speed", "tokens", "rss", "vram", "kv", "queue", "unavailable", "memoryGraph", "speedGraph"):
        assert bar.findChild(QWidget, name).toolTip(), name


def test_sparkline_keeps_only_its_window(qtbot):
    line = Sparkline("tok/s", window_s=60.0)
    qtbot.addWidget(line)
    for second in range(0, 91, 5):
        line.add(float(second), float(second % 20))
    times = [t for t, _ in line.points()]
    assert times[0] == 30.0 and times[-1] == 90.0  # older than 90 - 60 dropped
    assert line.value_range() == (0.0, 15.0)
    line.add(5.0, 1.0)  # the clock went back: a new series
    assert line.points() == [(5.0, 1.0)]
    with pytest.raises(ValueError):
        Sparkline(window_s=0)


@pytest.mark.parametrize("count", [0, 1, 2, 50])
def test_sparkline_paints_with_palette_colours(qtbot, count):
    line = Sparkline("RSS", 60.0, format_bytes)
    qtbot.addWidget(line)
    line.resize(line.sizeHint())
    palette = line.palette()
    palette.setColor(QPalette.ColorRole.Window, "#000000")
    palette.setColor(QPalette.ColorRole.Highlight, "#ff0000")
    line.setPalette(palette)
    line.setAutoFillBackground(True)
    for i in range(count):
        line.add(float(i), float(GIB + i * 2**20))
    image = line.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    reds = sum(1 for x in range(image.width()) for y in range(image.height())
               if image.pixelColor(x, y).red() > 150 and image.pixelColor(x, y).green() < 80)
    assert (reds > 20) == (count >= 2)  # the line is drawn in the palette's highlight colour


def test_formats():
    assert format_bytes(512) == "512 B"
    assert format_bytes(int(1.5 * 2**20)) == "1.5 MiB"
    assert format_bytes(300 * 2**20) == "300 MiB"
    assert format_bytes(int(12.34 * GIB)) == "12.3 GiB"
    assert format_tokens(812) == "812"
    assert format_tokens(1200) == "1.2k"
    assert format_tokens(32768) == "32k"
    assert format_tokens(131072) == "128k"


def test_the_graphs_give_way_in_a_narrow_window(bar, qtbot):
    bar.update_engine(event())
    bar.resize(2000, 30)
    qtbot.waitUntil(lambda: bar.speed_graph.isVisible() and bar.memory_graph.isVisible(), timeout=1000)
    bar.resize(500, 30)
    qtbot.waitUntil(lambda: not bar.speed_graph.isVisible() and not bar.memory_graph.isVisible(), timeout=1000)
    assert bar.minimumSizeHint().width() == 0  # the bar never forces the window wider
