"""ReasoningView with real widgets (pytest-qt, offscreen), and the trace export functions."""

from __future__ import annotations

import json
import re
import time

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import (QColor, QDesktopServices, QGuiApplication, QImage, QPalette, QTextDocument,
                           QWheelEvent)
from PySide6.QtWidgets import (QApplication, QFrame, QLabel, QPushButton, QScrollArea, QTextBrowser, QToolButton,
                               QWidget)

from app.widgets import answer_view
from app.widgets.reasoning_view import ReasoningView
from app.widgets.trace_text import header_text, trace_json, trace_markdown
from core.reasoning import ReasoningTrace, segment_steps, step_body

TRACE = ("1. The report lists revenue for each quarter on page four of the document.\n"
         "2. Adding the four quarters gives five point seven million in total.\n\n"
         "Wait, the footnote on page five says the third quarter was restated upward.\n\n"
         "3. With the restated quarter the total is five point nine million dollars.")
ANSWER = "The total is **5.9M** (restated).\n\n- page 2\n- page 5"


@pytest.fixture
def view(qtbot):
    widget = ReasoningView()
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    return widget


def pieces(text: str) -> list[str]:
    """The text cut like a tokenizer would, roughly: each word with the whitespace before it."""
    return re.findall(r"\s*\S+|\s+$", text)


def stream(view, message_id, reasoning=TRACE, answer=ANSWER, finish_reason="stop", status="complete", error=None,
           max_tokens=None) -> ReasoningTrace:
    """Feed a trace delta by delta, showing a snapshot after each one (as the chat worker does)."""
    trace, t = ReasoningTrace(started_at=0.0, max_tokens=max_tokens), 0.0
    view.show_trace(message_id, trace.snapshot())
    for piece in pieces(reasoning):
        t += 0.05
        trace.add(piece, "", t)
        view.show_trace(message_id, trace.snapshot())
    for piece in pieces(answer):
        t += 0.05
        trace.add("", piece, t)
        view.show_trace(message_id, trace.snapshot())
    if status is not None:
        trace.finish(status, finish_reason, t + 0.05, error)
        view.show_trace(message_id, trace.snapshot())
    QApplication.processEvents()  # new blocks are shown on the next turn of the event loop
    return trace


def block(view, message_id) -> QFrame:
    return view.findChild(QFrame, f"message-{message_id}")


def rows(view, message_id) -> list[QFrame]:
    panel, found = block(view, message_id), []
    while (row := panel.findChild(QFrame, f"step-{len(found) + 1}")) is not None:
        found.append(row)
    return found


def header(view, message_id) -> str:
    return block(view, message_id).findChild(QToolButton, "traceHeader").full_text()


def answer_browser(view, message_id) -> QTextBrowser:
    return block(view, message_id).findChild(QTextBrowser, "answer")


# --- streaming -----------------------------------------------------------------------------------
def test_steps_appear_while_reasoning_streams_and_the_open_step_is_highlighted(view, qtbot):
    view.add_user_message("What was the revenue?")
    live = stream(view, 1, answer="", status=None)
    assert view.current_message_id == 1
    assert header(view, 1) == "Thinking…"
    message = view.trace(1)
    titles = [s.title for s in message.steps]
    assert titles[:3] == ["The report lists revenue for each quarter on page four of the document.",
                          "Adding the four quarters gives five point seven million in total.",
                          "Wait, the footnote on page five says the third quarter was restated upward."]
    assert [s.kind for s in message.steps[:3]] == ["numbered", "numbered", "turn"]
    shown = rows(view, 1)
    assert len(shown) == len(message.steps) == 4
    assert shown[1].findChild(QLabel, "stepIndex").text() == "2."
    assert shown[2].findChild(QLabel, "stepTitle").toolTip().startswith("Wait, the footnote")
    assert "tokens" in shown[0].findChild(QLabel, "stepMeta").text()
    assert [row.property("current") for row in shown] == [False, False, False, True]  # the open step

    live.finish("complete", "stop", 10.0)
    view.show_trace(1, live.snapshot())
    assert view.current_message_id is None
    assert not any(row.property("current") for row in rows(view, 1))


def test_thought_for_header_budget_and_markdown_answer_after_finish(view):
    stream(view, "a")
    message = view.trace("a")
    assert header(view, "a") == header_text(message)
    assert re.fullmatch(r"Thought for \d\.\d s, \d+ tokens", header(view, "a"))
    assert message.reasoning_tokens == len(pieces(TRACE)) and message.answer_tokens == len(pieces(ANSWER))
    budget = block(view, "a").findChild(QLabel, "tokenBudget").full_text()
    assert budget == f"reasoning {message.reasoning_tokens} · answer {message.answer_tokens} tokens"
    browser = answer_browser(view, "a")
    assert browser.isVisible()
    fragments = []
    text_block = browser.document().begin()
    iterator = text_block.begin()
    while not iterator.atEnd():
        fragment = iterator.fragment()
        fragments.append((fragment.text(), fragment.charFormat().fontWeight()))
        iterator += 1
    assert ("5.9M", 700) in fragments  # **5.9M** is bold, not asterisks
    assert "**" not in browser.toPlainText()
    assert browser.document().toPlainText().count("page") == 2


def test_the_answer_is_rendered_at_most_every_interval_and_at_finish(view, qtbot):
    trace = ReasoningTrace()
    trace.add("", "**Hello**", 0.1)
    view.show_trace(1, trace.snapshot())
    browser = answer_browser(view, 1)
    assert browser.toPlainText() == ""  # not yet: coalesced
    qtbot.waitUntil(lambda: browser.toPlainText() == "Hello", timeout=2000)
    trace.add("", " world", 0.2)
    trace.finish("complete", "stop", 0.3)
    view.show_trace(1, trace.snapshot())
    assert browser.toPlainText() == "Hello world"  # at once on finish


def test_expand_and_collapse_a_step_by_chevron_title_and_expand_all(view, qtbot):
    stream(view, 1)
    first = rows(view, 1)[0]
    body = first.findChild(QLabel, "stepBody")
    assert not body.isVisible()
    with qtbot.waitSignal(view.step_toggled) as signal:
        qtbot.mouseClick(first.findChild(QToolButton, "stepChevron"), Qt.MouseButton.LeftButton)
    assert signal.args == [1, 1, True]
    # the full text in the title's place (its "1." is the index beside it): the title is not shown twice
    assert body.isVisible() and body.text() == step_body(view.trace(1).steps[0].text)
    assert not first.findChild(QLabel, "stepTitle").isVisible()
    assert view.is_step_expanded(1, 1)
    with qtbot.waitSignal(view.step_toggled) as signal:
        qtbot.mouseClick(first.findChild(QLabel, "stepIndex"), Qt.MouseButton.LeftButton)
    assert signal.args == [1, 1, False] and not body.isVisible()

    expand_all = block(view, 1).findChild(QToolButton, "expandAll")
    qtbot.mouseClick(expand_all, Qt.MouseButton.LeftButton)
    assert all(row.findChild(QLabel, "stepBody").isVisible() for row in rows(view, 1))
    assert expand_all.text() == "Collapse all"
    qtbot.mouseClick(expand_all, Qt.MouseButton.LeftButton)
    assert not any(row.findChild(QLabel, "stepBody").isVisible() for row in rows(view, 1))

    steps_panel = block(view, 1).findChild(QWidget, "steps")
    qtbot.mouseClick(block(view, 1).findChild(QToolButton, "traceHeader"), Qt.MouseButton.LeftButton)
    assert not steps_panel.isVisible()


def test_an_expanded_open_step_follows_its_text(view, qtbot):
    trace = ReasoningTrace()
    trace.add("Let me read the whole report before I answer anything", "", 0.1)
    view.show_trace(1, trace.snapshot())
    view.set_step_expanded(1, 1, True)
    trace.add(" at all about it.", "", 0.2)
    view.show_trace(1, trace.snapshot())
    body = rows(view, 1)[0].findChild(QLabel, "stepBody")
    qtbot.waitUntil(lambda: body.text().endswith("about it."), timeout=2000)


# --- how an answer ends --------------------------------------------------------------------------
def test_reasoning_that_runs_out_of_tokens(view):
    stream(view, 1, answer="", finish_reason="length")
    assert header(view, 1) == "Reasoning ran out of tokens before an answer (max tokens reached)"
    assert not answer_browser(view, 1).isVisible()
    assert len(rows(view, 1)) == 4


def test_interrupted_stopped_and_error(view):
    stream(view, 1, status="interrupted")
    assert header(view, 1) == "Interrupted — the engine stopped; partial answer kept"
    assert "5.9M" in answer_browser(view, 1).toPlainText()
    stream(view, 2, status="stopped", finish_reason="abort")
    assert header(view, 2) == "Stopped"
    stream(view, 3, status="error", finish_reason=None, error="out of memory")
    assert header(view, 3) == "Failed: out of memory"


def test_an_empty_think_block_shows_no_reasoning_steps_collapsed(view):
    stream(view, 1, reasoning="\n\n")
    assert header(view, 1) == "No reasoning steps"
    assert rows(view, 1) == []
    panel = block(view, 1)
    assert panel.findChild(QLabel, "noSteps").isVisibleTo(panel.findChild(QWidget, "steps"))
    assert not panel.findChild(QWidget, "steps").isVisible()  # collapsed
    assert "5.9M" in answer_browser(view, 1).toPlainText()


def test_the_current_message_is_the_one_still_streaming(view):
    stream(view, 1)
    stream(view, 2, answer="", status=None)
    assert view.current_message_id == 2
    view.clear()
    assert view.current_message_id is None and view.message_ids() == []


# --- history -------------------------------------------------------------------------------------
def test_history_rebuild_equals_the_live_result(view, qtbot):
    view.add_user_message("What was the revenue?")
    live = stream(view, 7, max_tokens=512)
    view.set_step_expanded(7, 2, True)
    stored = json.loads(json.dumps(live.stored_stats()))  # storable as is
    rebuilt = ReasoningTrace.from_stored(live.reasoning, live.answer, live.status, stored)

    other = ReasoningView()
    qtbot.addWidget(other)
    other.resize(700, 500)
    other.show()
    other.show_history([(0, "What was the revenue?"), (7, rebuilt)])
    assert other.trace(7).steps == view.trace(7).steps  # titles, texts, kinds, token counts, times
    assert trace_json(other.trace(7), 7) == trace_json(view.trace(7), 7)
    assert header(other, 7) == header(view, 7)
    assert (block(other, 7).findChild(QLabel, "tokenBudget").full_text()
            == block(view, 7).findChild(QLabel, "tokenBudget").full_text())
    assert answer_browser(other, 7).toHtml() == answer_browser(view, 7).toHtml()
    assert [r.findChild(QLabel, "stepTitle").toolTip() for r in rows(other, 7)] == \
           [r.findChild(QLabel, "stepTitle").toolTip() for r in rows(view, 7)]
    assert other.findChild(QLabel, "userText").text() == "What was the revenue?"


def test_history_without_stats_and_a_message_stored_mid_stream(view):
    view.show_history([(0, "q"), (1, ReasoningTrace.from_stored(TRACE, "partial", "streaming", {}))])
    message = view.trace(1)
    assert message.status == "interrupted"
    assert [s.text for s in message.steps] == [s.text for s in segment_steps(TRACE)]
    assert header(view, 1) == "Interrupted — the engine stopped; partial answer kept"
    view.clear()
    assert view.findChild(QFrame, "message-1") is None
    with pytest.raises(KeyError):
        view.trace(1)


# --- safety of the answer ------------------------------------------------------------------------
def test_no_image_is_fetched_except_data_urls(view, qtbot, tmp_path, monkeypatch):
    local = tmp_path / "secret.png"
    image = QImage(40, 30, QImage.Format.Format_ARGB32)
    image.fill(QColor("red"))
    image.save(str(local))
    asked: list[str] = []
    original = answer_view.OfflineDocument.loadResource

    def recording(self, kind, url):
        asked.append(url.toString())
        return original(self, kind, url)

    monkeypatch.setattr(answer_view.OfflineDocument, "loadResource", recording)
    tiny = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAA"
            "AABJRU5ErkJggg==")
    answer = (f"![remote](https://tracker.example.com/pixel.png) ![local]({local.as_uri()}) ![rel](secret.png) "
              f"![inline]({tiny}) <img src='http://example.com/html.png'>")
    stream(view, 1, reasoning="Short reasoning about the images here.", answer=answer)
    browser = answer_browser(view, 1)
    browser.grab()  # lay out and paint: images are asked for now
    assert "https://tracker.example.com/pixel.png" in asked
    assert local.as_uri() in asked
    document = browser.document()
    for url in ("https://tracker.example.com/pixel.png", local.as_uri(), "secret.png"):
        loaded = document.resource(QTextDocument.ResourceType.ImageResource.value, QUrl(url))
        assert loaded.size().width() == 16  # the placeholder, never the file (40 px wide)
    inline = document.resource(QTextDocument.ResourceType.ImageResource.value, QUrl(tiny))
    assert inline.size().width() == 1  # data: URLs are decoded
    assert "http://example.com/html.png" not in asked  # raw HTML stays text
    assert "<img src=" in browser.toPlainText()


def test_links_are_reported_never_opened(view, qtbot, monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url)))
    stream(view, 1, answer="See [the report](https://example.com/report).")
    browser = answer_browser(view, 1)
    assert not browser.openLinks() and not browser.openExternalLinks()
    with qtbot.waitSignal(view.link_activated) as signal:
        browser.anchorClicked.emit(QUrl("https://example.com/report"))
    assert signal.args == ["https://example.com/report"]
    assert opened == []
    assert "the report" in browser.toPlainText()


# --- copy and export -----------------------------------------------------------------------------
def test_copy_trace_puts_markdown_on_the_clipboard_and_export_is_requested(view, qtbot):
    stream(view, 1)
    with qtbot.waitSignal(view.trace_copied) as copied:
        qtbot.mouseClick(block(view, 1).findChild(QPushButton, "copyTrace"), Qt.MouseButton.LeftButton)
    assert copied.args == [1]
    assert QGuiApplication.clipboard().text() == trace_markdown(view.trace(1))
    with qtbot.waitSignal(view.export_requested) as export:
        qtbot.mouseClick(block(view, 1).findChild(QPushButton, "exportTrace"), Qt.MouseButton.LeftButton)
    assert export.args == [1]


def test_trace_markdown_and_json():
    trace = ReasoningTrace(reasoning=TRACE, answer=ANSWER, steps=tuple(segment_steps(TRACE)), reasoning_tokens=60,
                           answer_tokens=12, thought_s=4.2, finish_reason="stop", status="complete", server_ttft_s=0.3)
    text = trace_markdown(trace)
    assert text.startswith("**Thought for 4.2 s, 60 tokens**")
    assert "reasoning 60 · answer 12 tokens" in text
    for step in trace.steps:
        assert f"### Step {step.index}. {step.title}" in text and step.text in text
    assert text.index("## Reasoning") < text.index("## Answer") < text.index("**5.9M**")
    data = trace_json(trace, 3)
    assert json.loads(json.dumps(data)) == data
    assert data["message_id"] == 3 and data["summary"] == "Thought for 4.2 s, 60 tokens"
    assert [s["title"] for s in data["steps"]] == [s.title for s in trace.steps]
    assert data["answer"] == ANSWER and data["reasoning"] == TRACE and data["stats"]["ttft_s"] == 0.3
    assert "_No reasoning steps_" in trace_markdown(ReasoningTrace(answer="Hi.", status="complete"))


# --- following and speed -------------------------------------------------------------------------
def test_follows_the_stream_unless_the_user_scrolled_up(view, qtbot):
    bar = view.findChild(QScrollArea).verticalScrollBar()
    trace = ReasoningTrace()

    def steps(first: int, last: int) -> None:
        for i in range(first, last):
            trace.add(f"{i + 1}. This is step number {i + 1} of a long trace.\n", "", 0.1 * i, n_tokens=5)
            view.show_trace(1, trace.snapshot())

    steps(0, 40)
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=2000)
    bar.setValue(0)  # the user scrolls up to read
    steps(40, 60)
    qtbot.wait(50)
    assert bar.value() == 0
    bar.setValue(bar.maximum())  # back at the bottom: following again
    steps(60, 80)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=2000)


def test_a_long_trace_shown_delta_by_delta_is_cheap(view, qtbot):
    paragraph = ("{n}. Consider the figure in section {n} of the document and compare it with the total so far, "
                 "carrying the remainder into the next line of the table.\n\nWait, the previous estimate for "
                 "section {n} ignored the footnote, so the correction must be applied before moving on.\n\n")
    tokens = pieces("".join(paragraph.format(n=n) for n in range(1, 100)))[:4000]
    answer = "**Done.** The total is 42."
    trace = ReasoningTrace()
    started = time.perf_counter()
    for i, token in enumerate(tokens):
        trace.add(token, "", i * 0.01)
        view.show_trace("streamed", trace.snapshot())
    per_delta_ms = (time.perf_counter() - started) / len(tokens) * 1000
    for token in pieces(answer):
        trace.add("", token, 41.0)
    trace.finish("complete", "stop", 42.0)
    view.show_trace("streamed", trace.snapshot())

    whole = ReasoningTrace()
    whole.add("".join(tokens), "", 40.0, n_tokens=4000)
    whole.add("", answer, 41.0, n_tokens=7)
    whole.finish("complete", "stop", 42.0)
    view.show_trace("whole", whole)
    assert len(rows(view, "streamed")) == len(rows(view, "whole")) == len(trace.steps) > 100
    assert answer_browser(view, "streamed").toHtml() == answer_browser(view, "whole").toHtml()
    print(f"trace + snapshot + view: {per_delta_ms:.3f} ms on average over 4,000 one-token deltas")
    assert per_delta_ms < 5.0  # generous: a busy 2-core machine; typically well under 1 ms


def test_the_wheel_over_an_answer_scrolls_the_transcript(view, qtbot):
    for i in range(3):
        stream(view, i, answer="A line of the answer.\n\n" * 12)
    bar = view.findChild(QScrollArea).verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    bar.setValue(0)
    viewport = answer_browser(view, 0).viewport()
    wheel = QWheelEvent(QPointF(5, 5), QPointF(viewport.mapToGlobal(QPoint(5, 5))), QPoint(), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    assert bar.value() > 0


def test_colours_follow_the_palette(view):
    stream(view, 1, answer="", status=None)
    palette = view.palette()
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#ff0000"))
    view.setPalette(palette)
    bar = block(view, 1).findChild(QFrame, "budgetReasoning")
    assert bar.palette().color(QPalette.ColorRole.Window) == QColor("#ff0000")
    current = rows(view, 1)[-1]
    assert current.property("current") and current.palette().color(QPalette.ColorRole.Window).red() > \
        current.palette().color(QPalette.ColorRole.Window).green()  # a tint of the new highlight
