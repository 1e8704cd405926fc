"""Screenshots of the window in the states a demanding user checks (issue 28), with the real engine on the
bundled model, and the figures behind them printed.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python build_scripts/screenshot_states.py [--out docs]

Saved (PNG, in ``--out``):
- ``window-1600x1000.png``, ``window-1000x700.png``: a chat whose answers failed with a long error and were
  interrupted: the headers elide, Export and the scrollbar stay in the chat column;
- ``prefill-progress.png``: a question on a 100-page PDF while the engine reads its prompt (tokens read of
  total, rate, time left);
- ``sequential-reading.png``: "summarise the whole handbook": part k of n, the time left, the notes so far;
- ``stopping.png`` then ``stopped.png``: Esc during that reading; the time from Esc to "Stopped" and to the
  engine holding no request are printed;
- ``reopened-citations.png``: the sample document's chat, left and opened again: its citations and its
  strategy as before, a citation clicked;
- ``benchmark-running.png``, ``benchmark-done.png``: a quick benchmark from the panel, columns as they come.

The engine runs with ``--step-tokens 16``: the bundled model (4.5M parameters) reads a 2,000-token prompt in
a fraction of a second in 512-token passes, too fast to photograph; in 16-token passes it reads it as a large
model on a CPU does with full-size ones. Nothing else is staged: the answers, notes and numbers are the
model's and this machine's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LONG_ERROR = ("the engine failed while generating this request (RuntimeError: could not allocate 1,073,741,824 "
              "bytes for the KV cache of slot 3 at position 31,744 of 32,768 while reading chunk 62 of the "
              "prompt); it was stopped, the engine keeps serving")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    p.add_argument("--skip", default="", help="comma-separated: layout,prefill,sequential,citations,benchmark")
    p.add_argument("--timeout", type=float, default=900.0)
    return p.parse_args(argv)


def handbook_pdf(path: Path, model_dir: Path, pages: int = 100) -> Path:
    """A 100-page PDF of the bundled model's kind of document: its held-out documents, a section a page."""
    from core.bench.heldout import load_heldout
    from tests.core.test_documents_support import make_pdf

    sections = [part for q in load_heldout(model_dir) for part in q.document.split("\n\n") if part.count(".") >= 2]
    return make_pdf(path, [sections[i % len(sections)] for i in range(pages)])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from PySide6.QtCore import QCoreApplication, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from core.paths import default_model_dir
    from core.samples import load_sample
    from core.store import Store

    model = default_model_dir()
    if model is None:
        raise SystemExit("the bundled model is not installed")
    work = Path(tempfile.mkdtemp(prefix="ponder-states-"))
    QCoreApplication.setOrganizationName("Ponder")
    QCoreApplication.setApplicationName("Ponder")
    app = QApplication([sys.argv[0]])
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("view/theme", "light")
    store = Store(work / "ponder.db")
    window = MainWindow(store, settings=settings, confirm_deletes=False, engine_options={
        "model_dir": model, "cwd": ROOT, "extra_args": ["--threads", "1", "--context", "4096", "--step-tokens", "16"]})
    window.resize(1600, 1000)
    window.show()
    window.start()
    deadline = time.monotonic() + args.timeout
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)

    def wait(predicate, what: str, pause: float = 0.005) -> None:
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what} (status line: {window.engine_state.full_text()!r})")
            app.processEvents()
            time.sleep(pause)

    def settle(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def shot(name: str) -> None:
        window.grab().save(str(args.out / name))
        print(f"saved {args.out / name}")

    def ask(question: str) -> int:
        window.prompt.set_text(question)
        window.prompt.submit()
        wait(lambda: window.session.busy, "the answer to start")
        return window.session.state.message_id

    try:
        wait(lambda: window.link.client is not None and window.prompt.state == "ready", "the engine")
        wait(lambda: window.documents.context_tokens is not None, "the model's context")
        pdf = handbook_pdf(work / "handbook.pdf", model)

        if "layout" not in skip:
            chat = store.create_chat("Quarterly invoices")
            store.add_message(chat.id, "user", "Which quarter had the larger total of invoices, and by how much?")
            store.add_message(chat.id, "assistant", "", "1. The report lists the invoices by quarter.", status="error",
                              stats={"error": LONG_ERROR})
            store.add_message(chat.id, "user", "Try again, please.")
            store.add_message(chat.id, "assistant", "The second quarter.", "1. The report lists the invoices by "
                              "quarter.\n\n2. The second quarter has the larger total.", status="interrupted")
            window.chat_list.refresh()
            window.chats.open_chat(chat.id)
            for width, height in ((1600, 1000), (1000, 700)):
                window.resize(width, height)
                settle()
                shot(f"window-{width}x{height}.png")
            window.resize(1600, 1000)
            settle()

        if "prefill" not in skip:
            window.new_chat()
            window.open_documents([str(pdf)])
            wait(lambda: window.documents.built is not None and not window.documents.parsing, "the PDF")
            message_id = ask("How much does Project Tiger cost?")
            wait(lambda: (window.view.trace(message_id).prompt or 0)
                 and window.view.trace(message_id).prompt.fraction >= 0.35, "a third of the prompt read", 0.0)
            shot("prefill-progress.png")
            prompt = window.view.trace(message_id).prompt
            print(f"prefill: {prompt.done_tokens:,} of {prompt.total_tokens:,} prompt tokens read, "
                  f"{prompt.tokens_per_s or 0:,.0f} tokens/s, eta {prompt.eta_s}")
            wait(lambda: not window.session.busy, "the answer")

        if "sequential" not in skip:
            window.new_chat()
            window.open_documents([str(pdf)])
            wait(lambda: window.documents.built is not None and not window.documents.parsing, "the PDF")
            message_id = ask("Summarise the whole handbook.")
            wait(lambda: (window.view.trace(message_id).reading or 0)
                 and window.view.trace(message_id).reading.part >= 3
                 and window.view.trace(message_id).reading.notes.strip(), "part 3 with notes", 0.01)
            settle(0.2)
            shot("sequential-reading.png")
            reading = window.view.trace(message_id).reading
            pressed = time.monotonic()
            QTest.keyClick(window, Qt.Key.Key_Escape)
            shot("stopping.png")
            wait(lambda: not window.session.busy, "the stop", 0.0)
            stopped = time.monotonic() - pressed
            client = window.link.client
            while client.status().queue.running:
                time.sleep(0.005)
            freed = time.monotonic() - pressed
            settle()
            shot("stopped.png")
            print(f"sequential reading: part {reading.part} of {reading.parts}; Esc -> \"Stopped\" in {stopped:.3f} s, "
                  f"engine holding no request {freed:.3f} s after Esc; "
                  f"status {window.view.trace(message_id).status}")

        if "citations" not in skip:
            sample = load_sample()
            window.new_chat()
            cited_chat = window.session.chat_id
            window.open_documents([str(sample.path)])
            wait(lambda: window.documents.built is not None and not window.documents.parsing, "the sample")
            message_id = ask(sample.questions[0].question)
            wait(lambda: not window.session.busy, "the answer")
            window.new_chat()  # away, then back: the chat as it was
            settle()
            window.chats.open_chat(cited_chat)
            wait(lambda: window.documents.built is not None, "the documents")
            settle()
            labels = window.view.citation_labels(message_id)
            window.view.set_all_expanded(message_id, True)
            import re

            name = next((n for n in sorted(labels) if n.startswith("step")), "answer" if "answer" in labels else None)
            if name is not None:
                labels[name].linkActivated.emit(re.search(r'href="([^"]+)"', labels[name].text()).group(1))
            settle()
            shot("reopened-citations.png")
            print(f"reopened chat: citations {sorted(labels)}, strategy {window.documents.strategy}")

        if "benchmark" not in skip:
            window.side.show_page("benchmark")
            window.set_splitter_sizes([170, 700, 730])
            settle()
            panel = window.bench_panel
            started = time.monotonic()
            panel.run_button.click()
            wait(lambda: panel.running and panel.result is not None and len(panel.result.get("precisions", [])) >= 2,
                 "two precisions measured", 0.02)
            settle(0.2)
            shot("benchmark-running.png")
            wait(lambda: not panel.running, "the benchmark", 0.02)
            wall = time.monotonic() - started
            panel.legend_button.setChecked(False)
            settle()
            shot("benchmark-done.png")
            print(f"benchmark (panel, quick): {wall:.1f} s wall; {panel.progress_label.full_text()}")
        return 0
    finally:
        window.close()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
