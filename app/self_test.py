"""``ponder --self-test``: the real window answers one question on its model, then closes.

The installed bundle's smoke test (``build_scripts/smoke_test.py``) runs this in a clean environment, and
anyone can run it on an installed Ponder to check it works. It takes the product's own path: the main
window starts its engine exactly as on a normal start (in a bundle: the sibling ``ponder-engine``
executable), the question goes in through the prompt box, the answer streams into the reasoning view and
the chat store, and closing the window stops the engine. Chats and settings go to a throw-away folder,
never the user's.

    ponder --self-test [--question TEXT] [--document FILE] [--model DIR] [--report FILE] [--timeout S] [--hold S]

The JSON report (``--report``, else stdout) says what ran: the engine's command line and pid, the
model and its precision plan, the reasoning and the answer, timings, whether the engine was gone after
the window closed. Exit status 0 when the answer finished with some text and the engine stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from core.frozen import is_frozen

log = logging.getLogger("app.self_test")

DEFAULT_QUESTION = ("Invoice A is 1,250 euros and invoice B is 730 euros. "
                    "What do the two invoices come to in total?")


class SelfTestFailed(RuntimeError):
    pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ponder --self-test", description=__doc__.split("\n\n")[0])
    p.add_argument("--question", default=DEFAULT_QUESTION)
    p.add_argument("--model", type=Path, help="model folder (default: the bundled model, as on a normal start)")
    p.add_argument("--document", type=Path, help="add this document to the chat first (parsed in a worker process, "
                                                 "as a drop would), then ask about it")
    p.add_argument("--report", type=Path, help="write the JSON report here (default: stdout)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for the engine and the answer together")
    p.add_argument("--hold", type=float, default=0.0, help="keep the window open this many seconds after the "
                                                           "answer (to take a screenshot), then close it")
    return p.parse_args(argv)


def run_self_test(argv: list[str]) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ponder-self-test-"))
    report: dict[str, Any] = {"ok": False, "frozen": is_frozen(), "executable": sys.executable,
                              "question": args.question}
    try:
        run(args, work, report)
    except SelfTestFailed as exc:
        report["error"] = str(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0 if report["ok"] else 1


def run(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> None:
    from PySide6.QtCore import QSettings

    from app.app_logging import configure_logging
    from app.application import make_application
    from app.main_window import MainWindow
    from core.store import Store

    report["log_file"] = str(configure_logging() or "")
    started = time.monotonic()
    app = make_application()
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    store = Store(work / "ponder.db")
    window = MainWindow(store, settings=settings, confirm_deletes=False,
                        engine_options={"model_dir": args.model} if args.model else None)
    window.resize(1360, 860)
    deadline = started + args.timeout

    def wait(done: Callable[[], bool], what: str) -> None:
        while not done():
            if window.engine.state in ("failed", "no_model"):
                raise SelfTestFailed(f"the engine did not start ({window.engine.state}): "
                                     f"{window.engine_state.text()}")
            if window.shown_errors:
                raise SelfTestFailed(f"the window showed an error while waiting for {what}: "
                                     f"{window.shown_errors[0].problem.message}")
            if time.monotonic() > deadline:
                raise SelfTestFailed(f"timed out waiting for {what} (status line: {window.engine_state.text()!r}, "
                                     f"notice: {getattr(window.notice, 'text', '')!r})")
            app.processEvents()
            time.sleep(0.01)

    engine_pid = child = None
    try:
        window.show()
        window.start()
        report["window_shown_s"] = round(time.monotonic() - started, 2)
        wait(lambda: window.link.client is not None and window.prompt.state == "ready", "the engine")
        report["engine_ready_s"] = round(time.monotonic() - started, 2)
        engine_pid, child = window.engine.pid, window.engine.child
        handshake = window.engine.handshake
        report["engine"] = {"pid": engine_pid, "command": _command_line(engine_pid),
                            "version": handshake.get("version")}
        report["model"] = handshake.get("model")
        plan = handshake.get("plan") or {}
        report["plan"] = {k: plan.get(k) for k in ("precision", "device", "context_tokens", "reasons")}
        if args.document is not None:
            add_document(window, args.document, wait, report)
        asked = time.monotonic()
        window.prompt.set_text(args.question)
        window.prompt.submit()
        if window.session is None or window.session.state is None:
            raise SelfTestFailed("the question was not sent (the prompt box did not accept it)")
        message_id = window.session.state.message_id
        wait(lambda: not window.session.busy, "the answer")
        report["answer_s"] = round(time.monotonic() - asked, 2)
        message = window.view.trace(message_id)
        log.info("self-test: answered (%s, %d steps, %d answer characters)", message.status, len(message.steps),
                 len(message.answer))
        if args.hold > 0:
            window.view.set_all_expanded(message_id, True)
            hold_until = time.monotonic() + args.hold
            while time.monotonic() < hold_until:
                app.processEvents()
                time.sleep(0.02)
        report.update(status=message.status, finish_reason=message.finish_reason, reasoning=message.reasoning,
                      answer=message.answer, steps=len(message.steps), stats=_plain(message.stored_stats()))
    finally:
        closing = time.monotonic()
        window.close()  # shutdown(): stops the stream and the engine (terminate, wait, kill)
        store.close()
        report["closed_s"] = round(time.monotonic() - closing, 2)
    report["engine_stopped"] = engine_pid is not None and not _running(engine_pid)
    if child is not None and child.process is not None:
        report["engine_exit_code"] = child.process.returncode  # 0: it shut down itself; negative: killed
    answered = report.get("status") == "complete" and bool((report.get("answer") or report.get("reasoning") or "")
                                                           .strip())
    report["ok"] = answered and report["engine_stopped"]
    if not answered:
        report["error"] = f"no finished answer (status {report.get('status')!r})"
    elif not report["engine_stopped"]:
        report["error"] = f"the engine (pid {engine_pid}) still runs after the window closed"


def add_document(window, path: Path, wait: Callable[[Callable[[], bool], str], None],
                 report: dict[str, Any]) -> None:
    started = time.monotonic()
    window.open_documents([str(path.resolve())])
    documents = window.documents
    wait(lambda: documents.built is not None and not documents.parsing, "the document")
    panel = window.document_panel
    report["document"] = {"path": str(path), "parsed_s": round(time.monotonic() - started, 2),
                          "tokens": getattr(panel.budget_bar, "document_tokens", None)}


def _command_line(pid: int | None) -> list[str]:
    try:
        import psutil

        return psutil.Process(pid).cmdline() if pid else []
    except Exception:  # noqa: BLE001 - a report detail, not a failure
        return []


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _plain(stats: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(stats, default=str))
