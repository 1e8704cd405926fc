"""Screenshot of Ponder answering a question: the window, the reasoning steps expanded, the answer, live stats.

    .venv/bin/python build_scripts/screenshot.py [--model DIR] [--question TEXT] [--out PNG] [--theme light|dark]
    .venv/bin/python build_scripts/screenshot.py --documents [--document FILE] ...   # a document dropped in

``--documents`` first adds a document to the chat as a drop does (``--document``, else a generated invoice
PDF whose text the stand-in's reasoning quotes), then asks; the picture shows the document panel (pages,
token counts, budget bar, strategy) and the first cited step, clicked, so its passage is highlighted.

The real app (MainWindow, its own engine subprocess, a throw-away chat database and settings) on the
offscreen Qt platform (``--platform xcb`` runs it under ``Xvfb :99`` instead, started here when there is
no display; it needs libxcb-cursor0). The model: ``--model``, else the bundled model when installed, else
``--stand-in``: the test suite's scripted engine (the real server with a scripted model that writes a
fixed ``<think>`` trace), which shows the layout but is not a model's answer, so its picture goes to
build/ and never to docs/.

Exit status 0 when the picture shows a finished answer with reasoning steps, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_QUESTION = ("Invoice A is 1,250 euros and invoice B is 730 euros with a 10% discount. "
                    "What do the two invoices come to in total?")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
    p.add_argument("--stand-in", action="store_true", help="use the scripted stand-in engine (no real model)")
    p.add_argument("--precision", default="auto")
    p.add_argument("--question", default=DEFAULT_QUESTION)
    p.add_argument("--question-file", type=Path, help="read the question (e.g. a document and a question) from a file")
    p.add_argument("--out", type=Path, help="PNG path (default: docs/screenshot.png for a real model, "
                                            "build/screenshot-stand-in.png for the stand-in)")
    p.add_argument("--theme", choices=["light", "dark"], default="light")
    p.add_argument("--size", default="1360x860", help="window size WxH")
    p.add_argument("--platform", choices=["offscreen", "xcb"], default="offscreen")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds for the engine and the answer")
    p.add_argument("--documents", action="store_true", help="drop a document in first (see --document)")
    p.add_argument("--document", type=Path, help="the document to drop in (default: a generated invoice PDF)")
    return p.parse_args(argv)


DEMO_QUESTION = "What do the two invoices in the attached statement come to in total?"


def demo_pdf(path: Path) -> Path:
    """A three-page statement whose page 2 states what the stand-in's reasoning quotes (needs fpdf2)."""
    from fpdf import FPDF

    pages = [
        "Quarterly statement, Harbor Street workshop. This statement lists the invoices received this quarter, "
        "the payments made, and the balance carried forward. All amounts are in euros and include VAT.",
        "Invoices. The first invoice is 1,250 euros and the second is 730 euros. The supplier of the second "
        "invoice grants a 10% discount for payment within thirty days, which was used. No other invoices were "
        "received this quarter.",
        "Payments and balance. Both invoices were paid on time from the workshop account. The balance carried "
        "forward is 3,410 euros. The next statement is due at the end of the following quarter.",
    ]
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 7, text)
    pdf.output(str(path))
    return path


def start_display(platform: str) -> subprocess.Popen | None:
    os.environ["QT_QPA_PLATFORM"] = platform
    if platform != "xcb" or os.environ.get("DISPLAY"):
        return None
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise SystemExit("--platform xcb needs a display or Xvfb")
    server = subprocess.Popen([xvfb, ":99", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["DISPLAY"] = ":99"
    time.sleep(1.0)
    return server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    display = start_display(args.platform)
    try:
        return take(args)
    finally:
        if display is not None:
            display.terminate()
            display.wait(5)


def take(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    from app.engine_process import bundled_model_dir
    from app.main_window import MainWindow
    from core.store import Store

    work = Path(tempfile.mkdtemp(prefix="ponder-screenshot-"))
    QCoreApplication.setOrganizationName("Ponder")
    QCoreApplication.setApplicationName("Ponder")
    app = QApplication([sys.argv[0]])
    model, stand_in = args.model or bundled_model_dir(), args.stand_in
    options: dict = {"precision": args.precision}
    if model is None or stand_in:
        from tests.app.scripted_engine import write_model_folder

        stand_in = True
        model = write_model_folder(work / "scripted-reasoner")
        options.update(command=[sys.executable, "-m", "tests.app.scripted_engine", "--token-delay", "0.02"],
                       cwd=ROOT, extra_args=["--context", "4096"])
        print("no model given and the bundled model is not installed: using the scripted stand-in engine")
    name = "screenshot-documents" if args.documents else "screenshot"
    out = args.out or (ROOT / "build" / f"{name}-stand-in.png" if stand_in else ROOT / "docs" / f"{name}.png")
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("view/theme", args.theme)
    store = Store(work / "ponder.db")
    window = MainWindow(store, settings=settings, confirm_deletes=False, engine_options={"model_dir": model, **options})
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    window.start()
    deadline = time.monotonic() + args.timeout

    def wait(predicate, what: str) -> None:
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what} (status line: {window.engine_state.text()!r})")
            app.processEvents()
            time.sleep(0.01)

    try:
        wait(lambda: window.link.client is not None and window.prompt.state == "ready", "the engine")
        question = args.question_file.read_text(encoding="utf-8") if args.question_file else args.question
        if args.documents:
            document = args.document or demo_pdf(work / "statement.pdf")
            question = question if args.question != DEFAULT_QUESTION else DEMO_QUESTION
            wait(lambda: window.documents.context_tokens is not None, "the model's context")
            window.open_documents([str(document)])
            wait(lambda: window.documents.built is not None and not window.documents.parsing, "the document")
        window.prompt.set_text(question)
        window.prompt.submit()
        message_id = window.session.state.message_id
        wait(lambda: not window.session.busy, "the answer")
        message = window.view.trace(message_id)
        window.view.set_all_expanded(message_id, True)
        cited = show_first_citation(window, message_id) if args.documents else None
        settle = time.monotonic() + 1.5  # a couple of engine events for the sparklines, the answer rendered
        while time.monotonic() < settle:
            app.processEvents()
            time.sleep(0.02)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        print(f"saved {out}: {message.status}, {len(message.steps)} steps, {len(message.answer)} answer characters, "
              f"{'stand-in' if stand_in else model}")
        ok = message.status == "complete" and len(message.steps) >= 2 and bool(message.answer.strip())
        if args.documents:
            bar = window.document_panel.budget_bar
            print(f"document: {bar.document_tokens:,} of {bar.room_tokens:,} tokens; cited: {cited}")
            ok = ok and cited is not None
        return 0 if ok else 1
    finally:
        window.close()
        store.close()


def show_first_citation(window, message_id) -> str | None:
    """Click the first cited step's link (else the answer's): the panel scrolls to the passage, highlighted."""
    import re

    labels = window.view.citation_labels(message_id)
    for name in sorted((n for n in labels if n.startswith("step")), key=lambda n: int(n.split()[1])) + ["answer"]:
        label = labels.get(name)
        match = re.search(r'href="([^"]+)"', label.text()) if label is not None else None
        if match:
            label.linkActivated.emit(match.group(1))
            return f"{name} -> {window.document_panel.highlighted_text()[:60]!r}"
    return None


if __name__ == "__main__":
    sys.exit(main())
