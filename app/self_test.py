"""``ponder --self-test``: the real window answers the sample document's questions on its model, then closes.

The installed bundle's smoke test (``build_scripts/smoke_test.py``) runs this in a clean environment, and
anyone can run it on an installed Ponder to check it works. It takes the product's own path: the main
window starts its engine exactly as on a normal start (in a bundle: the sibling ``ponder-engine``
executable), each question goes in through the prompt box of a new chat holding the document (parsed in a
worker process, as a drop would be), the answer streams into the reasoning view and the chat store, and
closing the window stops the engine. Chats and settings go to a throw-away folder, never the user's.

    ponder --self-test [--question TEXT [--expect VALUE]] [--document FILE] [--model DIR] [--report FILE]
                       [--timeout S] [--hold S]

By default it asks the welcome screen's sample (``resources/samples``: the document and its three questions)
and grades each answer against the expected value (``core.samples.answer_matches``): a model that loops or
answers wrong fails it. ``--question`` asks that instead (about ``--document`` if given), graded only with
``--expect``. The JSON report (``--report``, else stdout) says what ran: the engine's command line and pid,
the model and its precision plan, each question with its reasoning, answer and verdict, timings, whether the
engine was gone after the window closed. Exit status 0 when every answer finished (and, where an expected
value is known, was right) and the engine stopped.
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
from core.samples import SampleQuestion, answer_matches, load_sample

log = logging.getLogger("app.self_test")



class SelfTestFailed(RuntimeError):
    pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ponder --self-test", description=__doc__.split("\n\n")[0])
    p.add_argument("--question", help="ask this instead of the sample's questions")
    p.add_argument("--expect", help="the value the answer to --question must end with (a number or a name)")
    p.add_argument("--model", type=Path, help="model folder (default: the bundled model, as on a normal start)")
    p.add_argument("--document", type=Path, help="the document to ask about (default: the sample's; with "
                                                 "--question and no --document, none)")
    p.add_argument("--report", type=Path, help="write the JSON report here (default: stdout)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for the engine and the answer together")
    p.add_argument("--hold", type=float, default=0.0, help="keep the window open this many seconds after the "
                                                           "answer (to take a screenshot), then close it")
    return p.parse_args(argv)


def run_self_test(argv: list[str]) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ponder-self-test-"))
    report: dict[str, Any] = {"ok": False, "frozen": is_frozen(), "executable": sys.executable}
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
        document, questions = what_to_ask(args)
        report["questions"] = []
        for question in questions:
            window.new_chat()
            if document is not None:
                add_document(window, document, wait, report)
            report["questions"].append(ask(window, app, question, wait, args.hold))
        report.update({k: report["questions"][-1].get(k) for k in (
            "question", "status", "finish_reason", "reasoning", "answer", "steps", "stats")})
    finally:
        closing = time.monotonic()
        window.close()  # shutdown(): stops the stream and the engine (terminate, wait, kill)
        store.close()
        report["closed_s"] = round(time.monotonic() - closing, 2)
    report["engine_stopped"] = engine_pid is not None and not _running(engine_pid)
    if child is not None and child.process is not None:
        report["engine_exit_code"] = child.process.returncode  # 0: it shut down itself; negative: killed
    asked = report.get("questions") or []
    unfinished = [q["question"] for q in asked if q.get("status") != "complete" or not (q.get("answer") or "").strip()]
    wrong = [q for q in asked if q.get("correct") is False]
    report["ok"] = bool(asked) and not unfinished and not wrong and report["engine_stopped"]
    if not asked:
        report["error"] = "no question was asked"
    elif unfinished:
        report["error"] = f"no finished answer to {unfinished[0]!r}"
    elif wrong:
        report["error"] = "; ".join(f"{q['question']!r}: expected {q['expected']!r}, the answer was {q['answer']!r}"
                                    for q in wrong)
    elif not report["engine_stopped"]:
        report["error"] = f"the engine (pid {engine_pid}) still runs after the window closed"


def what_to_ask(args: argparse.Namespace) -> tuple[Path | None, list[SampleQuestion]]:
    """The document and the questions: ``--question`` (with ``--expect``), else the sample's three."""
    if args.question:
        return args.document, [SampleQuestion(args.question, args.expect or "")]
    try:
        sample = load_sample()
    except (OSError, ValueError, KeyError) as exc:
        raise SelfTestFailed(f"the sample document is not installed: {exc}") from exc
    return args.document or sample.path, list(sample.questions)


def ask(window, app, question: SampleQuestion, wait: Callable[[Callable[[], bool], str], None],
        hold_s: float) -> dict[str, Any]:
    """One question through the prompt box, answered and graded."""
    asked = time.monotonic()
    window.prompt.set_text(question.question)
    window.prompt.submit()
    if window.session is None or window.session.state is None:
        raise SelfTestFailed("the question was not sent (the prompt box did not accept it)")
    message_id = window.session.state.message_id
    wait(lambda: not window.session.busy, "the answer")
    message = window.view.trace(message_id)
    log.info("self-test: answered %r (%s, %d steps, %d answer characters)", question.question, message.status,
             len(message.steps), len(message.answer))
    if hold_s > 0:
        window.view.set_all_expanded(message_id, True)
        hold_until = time.monotonic() + hold_s
        while time.monotonic() < hold_until:
            app.processEvents()
            time.sleep(0.02)
    result = {"question": question.question, "expected": question.answer or None, "status": message.status,
              "finish_reason": message.finish_reason, "reasoning": message.reasoning, "answer": message.answer,
              "steps": len(message.steps), "answer_s": round(time.monotonic() - asked, 2),
              "stats": _plain(message.stored_stats())}
    if question.answer:
        result["correct"] = answer_matches(question.answer, message.answer)
    return result


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
