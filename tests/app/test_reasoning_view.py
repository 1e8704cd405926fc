"""ReasoningView with real widgets (pytest-qt, offscreen), and the trace export functions."""

from __future__ import annotations

import json
import re
import time

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import (QColor, QDesktopServices, QGuiApplication, QImage, QPalette, QTextDocument,
                           QWheelEvent)
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QPushButton, QTextBrowser, QToolButton

from app.widgets import reasoning_view
from app.widgets.reasoning_view import ReasoningView
from app.widgets.trace_export import (TraceMessage, header_text, history_entry, message_from_history, trace_json,
                                      trace_markdown)
from core.reasoning import segment_steps

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


def stream(view, message_id, reasoning=TRACE, answer=ANSWER, finish_reason="stop", status="complete", stats=None):
    view.begin_assistant(message_id, start_s=0.0)
    t = 0.0
    for piece in pieces(reasoning):
        t += 0.05
        view.append(piece, "", 1, t)
    for piece in pieces(answer):
        t += 0.05
        view.append("", piece, 1, t)
    if status is not None:
        view.finish(finish_reason, stats, status, t_s=t + 0.05)
    QApplication.processEvents()  # new blocks are shown on the next turn of the event loop


def block(view, message_id) -> QFrame:
    return view.findChild(QFrame, f"message-{message_id}")


def rows(view, message_id) -> list[QFrame]:
    panel, found = block(view, message_id), []
    while (row := panel.findChild(QFrame, f"step-{len(found) + 1}")) is not None:
        found.append(row)
    return found


def header(view, message_id) -> str:
    return block(view, message_id).findChild(QToolButton, "traceHeader").text()


def answer_browser(view, message_id) -> QTextBrowser:
    return block(view, message_id).findChild(QTextBrowser, "answer")


# --- streaming -----------------------------------------------------------------------------------
def test_steps_appear_while_reasoning_streams_and_the_open_step_is_highlighted(view, qtbot):
    view.add_user_message("What was the revenue?")
    stream(view, 1, answer="", status=None)
    assert view.current_message_id == 1
    assert header(view, 1) == "Thinking…"
    message = view.message(1)
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

    view.finish("stop", t_s=10.0)
    assert view.current_message_id is None
    assert not any(row.property("current") for row in rows(view, 1))


def test_thought_for_header_budget_and_markdown_answer_after_finish(view):
    stream(view, "a")
    message = view.message("a")
    assert header(view, "a") == header_text(message)
    assert re.fullmatch(r"Thought for \d\.\d s, \d+ tokens", header(view, "a"))
    assert message.reasoning_tokens == len(pieces(TRACE)) and message.answer_tokens == len(pieces(ANSWER))
    budget = block(view, "a").findChild(QLabel, "tokenBudget").text()
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
    view.begin_assistant(1, start_s=0.0)
    view.append("", "**Hello**", 1, 0.1)
    browser = answer_browser(view, 1)
    assert browser.toPlainText() == ""  # not yet: coalesced
    qtbot.waitUntil(lambda: browser.toPlainText() == "Hello", timeout=2000)
    view.append("", " world", 1, 0.2)
    view.finish("stop", t_s=0.3)
    assert browser.toPlainText() == "Hello world"  # at once on finish


def test_expand_and_collapse_a_step_by_chevron_title_and_expand_all(view, qtbot):
    stream(view, 1)
    first = rows(view, 1)[0]
    body = first.findChild(QLabel, "stepBody")
    assert not body.isVisible()
    with qtbot.waitSignal(view.step_toggled) as signal:
        qtbot.mouseClick(first.findChild(QToolButton, "stepChevron"), Qt.MouseButton.LeftButton)
    assert signal.args == [1, 1, True]
    assert body.isVisible() and body.text() == view.message(1).steps[0].text
    assert view.is_step_expanded(1, 1)
    with qtbot.waitSignal(view.step_toggled) as signal:
        qtbot.mouseClick(first.findChild(QLabel, "stepTitle"), Qt.MouseButton.LeftButton)
    assert signal.args == [1, 1, False] and not body.isVisible()

    expand_all = block(view, 1).findChild(QToolButton, "expandAll")
    qtbot.mouseClick(expand_all, Qt.MouseButton.LeftButton)
    assert all(row.findChild(QLabel, "stepBody").isVisible() for row in rows(view, 1))
    assert expand_all.text() == "Collapse all"
    qtbot.mouseClick(expand_all, Qt.MouseButton.LeftButton)
    assert not any(row.findChild(QLabel, "stepBody").isVisible() for row in rows(view, 1))

    steps_panel = block(view, 1).findChild(reasoning_view.QWidget, "steps")
    qtbot.mouseClick(block(view, 1).findChild(QToolButton, "traceHeader"), Qt.MouseButton.LeftButton)
    assert not steps_panel.isVisible()


def test_an_expanded_open_step_follows_its_text(view, qtbot):
    view.begin_assistant(1, start_s=0.0)
    view.append("Let me read the whole report before I answer anything", "", 1, 0.1)
    view.set_step_expanded(1, 1, True)
    view.append(" at all about it.", "", 1, 0.2)
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
    stream(view, 3, status="error", finish_reason=None, stats={"error": "out of memory"})
    assert header(view, 3) == "Failed: out of memory"
    with pytest.raises(ValueError):
        view.begin_assistant(4)
        view.finish("stop", status="exploded")


def test_an_empty_think_block_shows_no_reasoning_steps_collapsed(view):
    stream(view, 1, reasoning="\n\n")
    assert header(view, 1) == "No reasoning steps"
    assert rows(view, 1) == []
    panel = block(view, 1)
    assert panel.findChild(QLabel, "noSteps").isVisibleTo(panel.findChild(reasoning_view.QWidget, "steps"))
    assert not panel.findChild(reasoning_view.QWidget, "steps").isVisible()  # collapsed
    assert "5.9M" in answer_browser(view, 1).toPlainText()


def test_a_new_message_while_one_streams_interrupts_it(view):
    stream(view, 1, answer="", status=None)
    view.begin_assistant(2, start_s=0.0)
    assert view.message(1).status == "interrupted"
    with pytest.raises(ValueError):
        view.begin_assistant(2)
    view.finish("stop", t_s=1.0)
    with pytest.raises(RuntimeError):
        view.append("late", "")


# --- history -------------------------------------------------------------------------------------
def test_history_rebuild_equals_the_live_result(view, qtbot):
    view.add_user_message("What was the revenue?")
    stream(view, 7, stats={"ttft_s": 0.4})
    view.set_step_expanded(7, 2, True)
    live = view.message(7)
    stored = [{"role": "user", "content": "What was the revenue?"}, {**history_entry(live), "id": 7}]
    json.dumps(stored)  # storable as is

    other = ReasoningView()
    qtbot.addWidget(other)
    other.resize(700, 500)
    other.show()
    other.show_history(stored)
    rebuilt = other.message(7)
    assert rebuilt.steps == live.steps  # titles, texts, kinds, token counts, times
    assert trace_json(rebuilt) == trace_json(live)
    assert header(other, 7) == header(view, 7)
    assert (block(other, 7).findChild(QLabel, "tokenBudget").text()
            == block(view, 7).findChild(QLabel, "tokenBudget").text())
    assert answer_browser(other, 7).toHtml() == answer_browser(view, 7).toHtml()
    assert [r.findChild(QLabel, "stepTitle").toolTip() for r in rows(other, 7)] == \
           [r.findChild(QLabel, "stepTitle").toolTip() for r in rows(view, 7)]
    assert other.findChild(QLabel, "userText").text() == "What was the revenue?"


def test_history_without_stats_and_a_message_stored_mid_stream(view):
    view.show_history([{"role": "user", "content": "q"},
                       {"role": "assistant", "content": "partial", "reasoning": TRACE, "status": "streaming"},
                       {"role": "system", "content": "ignored"}])
    message = view.message("history-1")
    assert message.status == "interrupted"
    assert [s.text for s in message.steps] == [s.text for s in segment_steps(TRACE)]
    assert header(view, "history-1") == "Interrupted — the engine stopped; partial answer kept"
    view.clear()
    assert view.findChild(QFrame, "message-history-1") is None
    with pytest.raises(KeyError):
        view.message("history-1")


# --- safety of the answer ------------------------------------------------------------------------
def test_no_image_is_fetched_except_data_urls(view, qtbot, tmp_path, monkeypatch):
    local = tmp_path / "secret.png"
    image = QImage(40, 30, QImage.Format.Format_ARGB32)
    image.fill(QColor("red"))
    image.save(str(local))
    asked: list[str] = []
    original = reasoning_view.OfflineDocument.loadResource

    def recording(self, kind, url):
        asked.append(url.toString())
        return original(self, kind, url)

    monkeypatch.setattr(reasoning_view.OfflineDocument, "loadResource", recording)
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
    assert QGuiApplication.clipboard().text() == trace_markdown(view.message(1))
    with qtbot.waitSignal(view.export_requested) as export:
        qtbot.mouseClick(block(view, 1).findChild(QPushButton, "exportTrace"), Qt.MouseButton.LeftButton)
    assert export.args == [1]


def test_trace_markdown_and_json():
    steps = segment_steps(TRACE)
    message = TraceMessage(3, reasoning=TRACE, answer=ANSWER, steps=steps, reasoning_tokens=60, answer_tokens=12,
                           thought_s=4.2, finish_reason="stop", status="complete", stats={"ttft_s": 0.3})
    text = trace_markdown(message)
    assert text.startswith("**Thought for 4.2 s, 60 tokens**")
    assert "reasoning 60 · answer 12 tokens" in text
    for step in steps:
        assert f"### Step {step.index}. {step.title}" in text and step.text in text
    assert text.index("## Reasoning") < text.index("## Answer") < text.index("**5.9M**")
    data = trace_json(message)
    assert json.loads(json.dumps(data)) == data
    assert data["summary"] == "Thought for 4.2 s, 60 tokens"
    assert [s["title"] for s in data["steps"]] == [s.title for s in steps]
    assert data["answer"] == ANSWER and data["reasoning"] == TRACE and data["stats"] == {"ttft_s": 0.3}
    empty = TraceMessage(4, answer="Hi.", status="complete", finish_reason="stop")
    assert "_No reasoning steps_" in trace_markdown(empty)
    assert message_from_history(history_entry(message), 3) == message


# --- following and speed -------------------------------------------------------------------------
def test_follows_the_stream_unless_the_user_scrolled_up(view, qtbot):
    bar = view.findChild(reasoning_view.QScrollArea).verticalScrollBar()
    view.begin_assistant(1, start_s=0.0)
    for i in range(40):
        view.append(f"{i + 1}. This is step number {i + 1} of a long trace.\n", "", 5, 0.1 * i)
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=2000)
    bar.setValue(0)  # the user scrolls up to read
    for i in range(40, 60):
        view.append(f"{i + 1}. This is step number {i + 1} of a long trace.\n", "", 5, 0.1 * i)
    qtbot.wait(50)
    assert bar.value() == 0
    bar.setValue(bar.maximum())  # back at the bottom: following again
    for i in range(60, 80):
        view.append(f"{i + 1}. This is step number {i + 1} of a long trace.\n", "", 5, 0.1 * i)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=2000)


def test_a_long_trace_in_one_token_deltas_is_cheap_and_equals_one_piece(view, qtbot):
    paragraph = ("{n}. Consider the figure in section {n} of the document and compare it with the total so far, "
                 "carrying the remainder into the next line of the table.\n\nWait, the previous estimate for "
                 "section {n} ignored the footnote, so the correction must be applied before moving on.\n\n")
    reasoning = "".join(paragraph.format(n=n) for n in range(1, 100))
    tokens = pieces(reasoning)[:4000]
    reasoning = "".join(tokens)
    assert len(tokens) == 4000
    answer = "**Done.** The total is 42."

    view.begin_assistant("streamed", start_s=0.0)
    started = time.perf_counter()
    for i, token in enumerate(tokens):
        view.append(token, "", 1, i * 0.01)
    per_append_ms = (time.perf_counter() - started) / len(tokens) * 1000
    for token in pieces(answer):
        view.append("", token, 1, 41.0)
    view.finish("stop", t_s=42.0)

    view.begin_assistant("whole", start_s=0.0)
    view.append(reasoning, "", 4000, 40.0)
    view.append("", answer, 7, 41.0)
    view.finish("stop", t_s=42.0)

    streamed, whole = view.message("streamed"), view.message("whole")
    shape = lambda m: [(s.index, s.title, s.text, s.kind, s.char_start, s.char_end) for s in m.steps]  # noqa: E731
    assert shape(streamed) == shape(whole) and len(streamed.steps) > 100
    assert streamed.reasoning == whole.reasoning and streamed.answer == whole.answer
    assert streamed.reasoning_tokens == whole.reasoning_tokens == 4000
    assert len(rows(view, "streamed")) == len(rows(view, "whole")) == len(streamed.steps)
    assert answer_browser(view, "streamed").toHtml() == answer_browser(view, "whole").toHtml()
    print(f"append: {per_append_ms:.3f} ms on average over 4,000 one-token deltas")
    assert per_append_ms < 5.0  # generous: a busy 2-core machine; typically well under 1 ms


def test_the_wheel_over_an_answer_scrolls_the_transcript(view, qtbot):
    for i in range(3):
        stream(view, i, answer="A line of the answer.\n\n" * 12)
    bar = view.findChild(reasoning_view.QScrollArea).verticalScrollBar()
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
