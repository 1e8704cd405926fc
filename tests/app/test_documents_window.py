"""Documents in the main window, end to end: drop files on the window (real parser worker processes), the
panel's pages, token counts and budget bar, the strategy, a follow-up question served from the engine's
prefix cache, citations that scroll the panel, refusals and parse errors in the notice bar, and cancelling
a sequential reading. The engine is the scripted one (real server, real tokenizer, real prefix cache).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel

from tests.app.scripted_engine import write_model_folder
from tests.app.window_support import QUESTION, ask_and_wait, close_window, make_window, wait_ready, wait_until
from tests.core.test_documents_support import FACT_PAGE, FACT_QUESTION, fact_pages, filler_page, make_pdf

pytestmark = pytest.mark.timeout(180)
CITED = "The first invoice is 1,250 euros and the second is 730 euros."  # step 2 of the scripted reasoning


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_model_folder(tmp_path_factory.mktemp("models") / "scripted-reasoner")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("files")
    pages = [filler_page(n, sentences=4) for n in range(1, 6)]
    pages[3] += " Billing. " + CITED + " Both were paid late."
    make_pdf(folder / "invoices.pdf", pages)
    make_pdf(folder / "survey.pdf", fact_pages())
    make_pdf(folder / "locked.pdf", ["secret"], password="pw")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "data.xyz").write_bytes(b"\x00\x01\x02 binary")
    return folder


@pytest.fixture(scope="module")
def window(qapp, model_dir, tmp_path_factory):
    w = make_window(tmp_path_factory.mktemp("app"), model_dir)
    wait_ready(w)
    wait_until(lambda: w.documents.context_tokens is not None, 20, "the model's context")
    w.new_chat()
    yield w
    close_window(w)


def drop(window, *paths: Path) -> None:
    """Drag the files onto the window and drop them (a drop always follows an accepted drag enter)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)


def wait_built(window, count: int) -> None:
    wait_until(lambda: len(window.documents.documents) == count and window.documents.built is not None
               and not window.documents.parsing, 60, f"{count} document(s) parsed and counted")


def test_drops_over_the_document_panel_reach_the_windows_one_handler(window, files):
    # Qt offers a drag to the widget under the cursor, then to its parents until one accepts. The panel
    # takes none itself, and its read-only text view passes on what it cannot insert, so a file dragged
    # over either is taken by the window's handler, as anywhere else (which starts a chat if there is none).
    panel = window.document_panel
    assert window.acceptDrops() and not panel.acceptDrops()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(files / "invoices.pdf"))])
    for target in (panel, panel.view.text.viewport(), panel.picker):
        event = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
        event.ignore()
        QApplication.sendEvent(target, event)
        assert event.isAccepted(), target


def test_a_dropped_pdf_shows_pages_tokens_and_the_budget(window, files):
    drop(window, files / "invoices.pdf")
    wait_built(window, 1)
    panel, context = window.document_panel, window.documents.context()
    assert panel.picker.currentText().startswith("invoices.pdf (PDF, 5 pages")
    assert panel.sections.topLevelItemCount() == 5 and panel.sections.topLevelItem(3).text(0) == "Page 4"
    counts = window.documents.built.section_tokens[0]
    assert [int(panel.sections.topLevelItem(i).text(1).replace(",", "")) for i in range(5)] == counts
    bar = panel.budget_bar
    assert bar.context_tokens == 2048 and bar.reserve_tokens == 1024  # half of a small context is kept
    assert bar.document_tokens == context.document_tokens and 0 < bar.room_tokens < 1024 and not bar.over
    assert f"{context.document_tokens:,} of {bar.room_tokens:,} tokens" in panel.budget_label.text()
    assert panel.strategy_combo.currentText() == "Automatic: whole document"
    assert panel.reason_label.text().startswith(f"Whole document: all {context.document_tokens:,} tokens fit")
    stored = window.store.chat_documents(window.session.chat_id)
    assert [d.name for d in stored] == ["invoices.pdf"]


def test_a_follow_up_question_reuses_the_cached_document(window):
    first_id = ask_and_wait(window, QUESTION)
    second_id = ask_and_wait(window, "And what was paid late?")
    first, second = window.view.trace(first_id).stored_stats(), window.view.trace(second_id).stored_stats()
    document_tokens = window.documents.context().document_tokens
    print(f"document {document_tokens} tokens; first: {first['prompt_tokens']} prompt, {first['cached_tokens']} "
          f"cached, TTFT {first['ttft_s']:.3f} s; follow-up: {second['prompt_tokens']} prompt, "
          f"{second['cached_tokens']} cached, TTFT {second['ttft_s']:.3f} s")
    assert first["document_strategy"] == second["document_strategy"] == "whole"
    assert first["prompt_tokens"] > document_tokens
    assert second["cached_tokens"] >= 0.9 * document_tokens
    prompt_label = window.stats_bar.findChild(QLabel, "prompt")
    assert prompt_label.text() == f"prompt {second['prompt_tokens']:,} · {second['cached_tokens']:,} cached"


def test_a_cited_step_scrolls_the_panel_to_the_passage(window):
    message_id = window.view.message_ids()[-1]
    labels = window.view.citation_labels(message_id)
    assert "step 2" in labels and labels["step 2"].isVisibleTo(window)
    assert "page 4" in labels["step 2"].text()
    key = re.search(r'href="([^"]+)"', labels["step 2"].text()).group(1)
    panel = window.document_panel
    panel.view.text.verticalScrollBar().setValue(0)
    labels["step 2"].linkActivated.emit(key)  # what a click on the link does
    document_index, start, end = panel.highlighted
    text = window.documents.documents[0][1].text
    assert document_index == 0 and "first invoice is 1,250 euros" in " ".join(text[start:end].split())
    assert "first invoice" in panel.highlighted_text()
    assert panel.sections.currentItem().text(0) == "Page 4"
    assert panel.view.text.verticalScrollBar().value() > 0  # scrolled down to page 4


def test_a_reopened_chat_shows_its_citations_and_its_strategy(window):
    chat_id, message_id = window.session.chat_id, window.view.message_ids()[-1]
    panel = window.document_panel
    panel.strategy_combo.setCurrentIndex(panel.strategy_combo.findData("retrieval"))
    panel.strategy_changed.emit("retrieval")  # this chat reads passages from now on
    window.new_chat()
    assert window.documents.strategy == "auto" and panel.strategy_combo.currentData() == "auto"  # its own
    for _ in range(2):  # reopened twice: the second time its documents come from the cache, at once
        window.chats.open_chat(chat_id)
        wait_built(window, 1)
        wait_until(lambda: "step 2" in window.view.citation_labels(message_id), 10, "the citations")
        wait_until(lambda: window.view.citation_labels(message_id)["step 2"].isVisibleTo(window), 10, "them shown")
        assert "page 4" in window.view.citation_labels(message_id)["step 2"].text()
        assert window.documents.strategy == "retrieval" and panel.strategy_combo.currentData() == "retrieval"
        assert window.store.get_chat(chat_id).settings["document_strategy"] == "retrieval"
        window.chats.open_chat(window.store.list_chats()[0].id if window.store.list_chats()[0].id != chat_id
                               else window.store.list_chats()[1].id)
    window.chats.open_chat(chat_id)
    panel.strategy_changed.emit("auto")
    wait_built(window, 1)


def test_parse_errors_go_to_the_notice_bar_and_nothing_crashes(window, files):
    for name, words in (("locked.pdf", "password"), ("empty.txt", "empty"), ("data.xyz", "PDF (.pdf)")):
        window.notice.hide()
        drop(window, files / name)
        wait_until(lambda: window.notice.isVisible() and not window.documents.parsing, 30, f"the notice for {name}")
        assert words in window.notice.text, window.notice.text
        assert window.notice.level in ("error", "info")
    assert len(window.documents.documents) == 1 and window.link.client is not None
    assert window.engine.state == "ready"


def test_over_the_context_retrieves_and_forcing_whole_is_refused(window, files):
    window.new_chat()
    drop(window, files / "survey.pdf")
    wait_built(window, 1)
    panel = window.document_panel
    assert panel.budget_bar.over and "retrieval" in panel.strategy_combo.currentText().lower()
    prompts = []
    window.session.document_prompt.connect(prompts.append)
    message_id = ask_and_wait(window, FACT_QUESTION)
    assert prompts[-1].strategy == "retrieval" and FACT_PAGE in [c.page for c in prompts[-1].included]
    included = prompts[-1].included
    assert f"This question read {len(included)} passages" in panel.reason_label.text()
    listed = window.view.passages(message_id)  # under the answer: page and first words, each a link
    assert [label for label, _ in listed] == [f"page {c.page}" for c in included]
    assert listed[0][1].split()[0] == included[0].text.split()[0]
    window.notice.hide()
    panel.strategy_combo.setCurrentIndex(panel.strategy_combo.findData("whole"))
    panel.strategy_changed.emit("whole")
    message_id = ask_and_wait(window, FACT_QUESTION)
    assert window.view.trace(message_id).status == "error"
    document_tokens = window.documents.context().document_tokens
    counts = re.search(r"is ([\d,]+) tokens but the model's context is ([\d,]+) tokens", window.notice.text)
    assert counts and window.notice.level == "error", window.notice.text
    assert int(counts.group(1).replace(",", "")) > document_tokens and counts.group(2) == "2,048"
    assert window.link.client is not None


def test_sequential_reading_shows_progress_and_cancels(window):
    panel = window.document_panel
    panel.strategy_changed.emit("auto")
    window.prompt.set_text("Summarise the whole survey.")
    window.prompt.submit()
    wait_until(lambda: "Reading part 2 of" in panel.progress_label.text(), 60, "part 2 of the sequential reading")
    assert panel.progress_box.isVisible() and panel.progress_bar.maximum() > 2
    panel.cancel_button.click()
    wait_until(lambda: not window.session.busy, 30, "the reading to stop")
    assert window.view.trace(window.session.state.message_id).status == "stopped"
    assert not panel.progress_box.isVisible()


def test_documents_stay_with_their_chat_and_are_stored_once(window, files):
    chats = [c.id for c in window.store.list_chats()]
    survey_chat, invoice_chat = window.session.chat_id, next(c for c in chats if c != window.session.chat_id
                                                            and window.store.chat_documents(c))
    window.chats.open_chat(invoice_chat)
    wait_built(window, 1)
    assert window.document_panel.picker.currentText().startswith("invoices.pdf")
    drop(window, files / "survey.pdf")  # a second document in this chat: the same stored row as the other chat's
    wait_built(window, 2)
    rows = {c: [d.id for d in window.store.chat_documents(c)] for c in (survey_chat, invoice_chat)}
    assert rows[invoice_chat][1] == rows[survey_chat][0]
    assert window.document_panel.picker.count() == 2
    assert window.documents.context().documents.combined.name.startswith("2 documents (invoices.pdf, survey.pdf")
    window.document_panel.remove_requested.emit(1)
    wait_built(window, 1)
    assert [d.name for d in window.store.chat_documents(invoice_chat)] == ["invoices.pdf"]
    assert [d.name for d in window.store.chat_documents(survey_chat)] == ["survey.pdf"]  # still there


def test_file_open_document_asks_for_files(window, files, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        lambda *a, **k: (asked.append(a) or [str(files / "empty.txt")], ""))
    window.notice.hide()
    window.actions.open_document.trigger()
    wait_until(lambda: window.notice.isVisible() and not window.documents.parsing, 30, "the notice for empty.txt")
    assert asked and "empty" in window.notice.text
