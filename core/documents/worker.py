"""Parse a document in a separate worker process, with a time and a memory limit, progress and cancel.

Documents are the app's largest crash surface (pdfium is C++; DOCX is XML in a ZIP), so the caller (GUI or
command line) only runs the cheap pre-checks of ``core.documents.sniff`` and hands the file to a fresh
process (multiprocessing "spawn": works the same on Linux, macOS, Windows and in frozen builds, whose
``main`` calls ``freeze_support``). Whatever happens there, the caller gets a ``ParsedDocument`` or a
``DocumentError``:

- over the time limit, or cancelled: the worker is killed -> ``ParserTimeoutError`` / ``ParseCancelledError``;
- out of memory: ``ParserMemoryError`` (Linux and macOS cap the worker's address space with
  ``RLIMIT_AS``; Windows has no such rlimit, so there the parsers' own limits bound it: pages, characters of
  text and a DOCX's streamed inflation, ``loaders.ExtractLimits``; macOS may ignore the cap, which is logged);
- crashed (segfault, abort, ``os._exit``): ``ParserCrashedError`` naming the signal or exit code.

The worker also caps its own CPU time (``RLIMIT_CPU``), so it cannot outlive a caller that was killed.
A plain-text file (text, Markdown, HTML) larger than ``max_text_chars`` is refused by the pre-checks, before
any worker starts; the size of the document a PDF or DOCX makes is checked as it is read.

Use: ``parse_document(path, on_progress=..., cancel=event)`` blocks (call it off the GUI thread), or
``iter_parse(path)`` yields ``ParseProgress`` items (at least every 0.25 s, so a consumer that cancels
between items is answered quickly) and then the ``ParsedDocument``; closing it kills the worker.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

from core.documents.errors import (DocumentError, FileTooLargeError, ParseCancelledError, ParserCrashedError,
                                   ParserMemoryError, ParserTimeoutError, UnreadableFileError, error_from_code)
from core.documents.loaders import ExtractLimits, load_document
from core.documents.parsed import ParsedDocument
from core.documents.sniff import HEAD_BYTES, ZipLimits, check_size, detect_kind

logger = logging.getLogger(__name__)

Parser = Callable[..., ParsedDocument]  # (path, kind, sha256, size_bytes, progress, limits) -> ParsedDocument
TEXT_KINDS = ("text", "markdown", "html")
_EXIT_OUT_OF_MEMORY = 86
_POLL_S = 0.05
TEXT_PIECE_CHARS = 2**20  # a section's text is sent from the worker in pieces of this size


@dataclass(frozen=True, slots=True)
class ParseLimits:
    time_s: float = 120.0
    memory_bytes: int = 2 * 2**30
    max_file_bytes: int = 256 * 2**20
    max_text_chars: int = 32 * 2**20  # the text of one document (a plain-text file: its size in bytes)
    max_pages: int = 10_000
    zip: ZipLimits = field(default_factory=ZipLimits)

    def __post_init__(self) -> None:
        if not self.time_s > 0:
            raise ValueError(f"ParseLimits.time_s must be > 0 seconds, got {self.time_s}")
        if self.memory_bytes < 64 * 2**20:
            raise ValueError(f"ParseLimits.memory_bytes must be at least 64 MiB, got {self.memory_bytes:,} bytes")
        if self.max_file_bytes < 1 or self.max_text_chars < 1 or self.max_pages < 1:
            raise ValueError(f"ParseLimits.max_file_bytes, max_text_chars and max_pages must be >= 1, got {self}")

    @property
    def extract(self) -> ExtractLimits:
        return ExtractLimits(self.max_pages, self.max_text_chars, self.zip)


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A file that passed the pre-checks: what to parse it as, and its identity."""

    path: Path
    kind: str
    sha256: str
    size_bytes: int
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class ParseProgress:
    name: str
    done: int  # pages (PDF) or blocks (DOCX) parsed so far; 0 before the parser reports
    total: int  # 0 while unknown
    elapsed_s: float

    def describe(self) -> str:
        if self.total:
            return f"Reading {self.name}: {self.done:,} of {self.total:,} ({self.elapsed_s:.0f} s)"
        return f"Reading {self.name}… ({self.elapsed_s:.0f} s)"


def check_file(path: str | Path, limits: ParseLimits = ParseLimits()) -> CheckedFile:
    """The pre-checks (size, type by content and extension, DOCX package safety) and the file's sha256."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise IsADirectoryError(f"{path} is not a file")
        check_size(path, size, limits.max_file_bytes)
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
            detected = detect_kind(path, head, limits.zip)
            if detected.kind in TEXT_KINDS and size > limits.max_text_chars:  # refused before reading it all
                raise FileTooLargeError(f"{path.name} is {size / 2**20:,.0f} MiB of text, more than the "
                                        f"{limits.max_text_chars / 2**20:,.0f} MiB Ponder reads in one document; "
                                        "split it into smaller files.", name=path.name)
            digest = hashlib.sha256(head)
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UnreadableFileError(f"{path.name} cannot be opened ({reason}); check that the file exists and that "
                                  "you may read it.", name=path.name) from exc
    return CheckedFile(path, detected.kind, digest.hexdigest(), size, detected.warning)


def parse_document(path: str | Path, limits: ParseLimits = ParseLimits(), *,
                   on_progress: Callable[[ParseProgress], None] | None = None,
                   cancel: Any = None, parser: Parser = load_document) -> ParsedDocument:
    """Pre-check and parse ``path`` in a worker process; blocks until done, failed, timed out or cancelled.

    ``cancel``: a ``threading.Event`` (anything with ``is_set``) or a callable returning True to stop.
    ``parser`` must be a module-level function (it is imported by name in the worker); tests pass stubs.
    """
    checked = check_file(path, limits)
    cancelled = _as_predicate(cancel)
    work = _supervise(checked, limits, parser, cancelled, heartbeat_s=None)
    while True:
        try:
            progress = next(work)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(progress)


def iter_parse(path: str | Path, limits: ParseLimits = ParseLimits(), *,
               parser: Parser = load_document) -> Iterator[ParseProgress | ParsedDocument]:
    """``ParseProgress`` items (at least every 0.25 s), then the ``ParsedDocument``; close it to cancel."""
    checked = check_file(path, limits)
    document = yield from _supervise(checked, limits, parser, lambda: False, heartbeat_s=0.25)
    yield document


def _as_predicate(cancel: Any) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    if callable(cancel):
        return cancel
    raise TypeError(f"cancel must be an Event or a callable, not {type(cancel).__name__}")


def _supervise(checked: CheckedFile, limits: ParseLimits, parser: Parser, cancelled: Callable[[], bool],
               heartbeat_s: float | None) -> Generator[ParseProgress, None, ParsedDocument]:
    name = checked.path.name
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_worker_main, name=f"ponder-parse-{name}", daemon=True,
                              args=(sender, str(checked.path), checked.kind, checked.sha256, checked.size_bytes,
                                    limits.memory_bytes, limits.time_s, parser, limits.extract))
    started = time.monotonic()
    done = total = 0
    last_yield = started
    pieces: dict[int, list[str]] = {}  # a long section's text arrives in pieces before "done"
    try:
        process.start()
        sender.close()
        while True:
            if cancelled():
                raise ParseCancelledError(f"Reading {name} was cancelled.", name=name)
            elapsed = time.monotonic() - started
            if elapsed > limits.time_s:
                raise ParserTimeoutError(f"Reading {name} took longer than {limits.time_s:g} s and was stopped; the "
                                         "file may be damaged or too complex. Try splitting it or exporting it again "
                                         "(e.g. as PDF or plain text).", name=name)
            ready = multiprocessing.connection.wait([receiver, process.sentinel],
                                                    timeout=min(_POLL_S, limits.time_s - elapsed + 0.01))
            if receiver in ready:
                try:
                    message = receiver.recv()
                except (EOFError, OSError):
                    raise _died(process, name, limits) from None
                if message[0] == "progress":
                    done, total = message[1], message[2]
                    last_yield = time.monotonic()
                    yield ParseProgress(name, done, total, last_yield - started)
                    continue
                if message[0] == "text":
                    pieces.setdefault(message[1], []).append(message[2])
                    continue
                if message[0] == "done":
                    for index, parts in pieces.items():
                        message[1]["sections"][index]["text"] = "".join(parts)
                    document = ParsedDocument.from_dict(message[1])
                    if checked.warning:
                        document = _with_warning(document, checked.warning)
                    logger.info("parsed %s in %.2f s", document.describe(), time.monotonic() - started)
                    return document
                raise _reported_error(message[1], message[2], name, limits)
            if process.sentinel in ready and not receiver.poll():
                raise _died(process, name, limits)
            if heartbeat_s is not None and time.monotonic() - last_yield >= heartbeat_s:
                last_yield = time.monotonic()
                yield ParseProgress(name, done, total, last_yield - started)
    finally:
        _stop(process)
        receiver.close()


def _stop(process: multiprocessing.process.BaseProcess) -> None:
    if process.pid is None:
        return
    if process.is_alive():
        process.kill()
    process.join(timeout=5)
    if process.exitcode is None:
        logger.warning("document parser process %s did not exit after being killed", process.pid)
    else:
        process.close()


def _with_warning(document: ParsedDocument, warning: str) -> ParsedDocument:
    return ParsedDocument(document.name, document.kind, document.sha256, document.size_bytes, document.sections,
                          (warning, *document.warnings), document.pages, document.encoding)


def _memory_error(name: str, limits: ParseLimits) -> ParserMemoryError:
    return ParserMemoryError(f"Reading {name} needed more than the {limits.memory_bytes / 2**30:.1f} GiB of memory "
                             "allowed and was stopped; the file is too large or too complex. Split it into smaller "
                             "files and try again.", name=name)


def _reported_error(code: str, message: str, name: str, limits: ParseLimits) -> DocumentError:
    if code == ParserMemoryError.code:
        return _memory_error(name, limits)
    return error_from_code(code, message, name)


def _died(process: multiprocessing.process.BaseProcess, name: str, limits: ParseLimits) -> DocumentError:
    process.join(timeout=5)
    code = process.exitcode
    if code == _EXIT_OUT_OF_MEMORY:
        return _memory_error(name, limits)
    if code is not None and code < 0:
        try:
            how = f"signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"signal {-code}"
    else:
        how = f"exit code {code}"
    return ParserCrashedError(f"The document reader crashed on {name} ({how}); the file is probably damaged. "
                              "Ponder itself is fine: re-export or re-download the file and try again.", name=name)


# --- the worker process ------------------------------------------------------------------------
def _worker_main(conn: multiprocessing.connection.Connection, path: str, kind: str, sha256: str, size_bytes: int,
                 memory_bytes: int, time_s: float, parser: Parser, extract: ExtractLimits) -> None:
    _limit_resources(memory_bytes, time_s)
    last_sent = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if done >= total or now - last_sent >= 0.1:
            last_sent = now
            conn.send(("progress", done, total))

    try:
        payload: tuple = ("done", parser(Path(path), kind, sha256, size_bytes, progress, extract).to_dict())
    except DocumentError as exc:
        payload = ("error", exc.code, exc.message)
    except MemoryError:
        payload = ("error", ParserMemoryError.code, "")
    except RecursionError:
        payload = ("error", "corrupt", f"{Path(path).name} is nested too deeply to read (damaged or hostile); "
                                       "re-save it and try again.")
    except Exception as exc:  # a parser library's own failure on a bad file: the file's fault, say so
        logger.debug("parser failed on %s", path, exc_info=True)
        payload = ("error", "corrupt", f"{Path(path).name} could not be read ({type(exc).__name__}: {exc}); the file "
                                       "may be damaged. Re-export or re-download it and try again.")
    try:
        if payload[0] == "done":
            _send_long_texts(conn, payload[1])
        conn.send(payload)
    except MemoryError:
        os._exit(_EXIT_OUT_OF_MEMORY)
    conn.close()


def _send_long_texts(conn: multiprocessing.connection.Connection, data: dict[str, Any]) -> None:
    """Send each long section's text ahead in pieces of ``TEXT_PIECE_CHARS`` (its place in ``data`` left
    empty): unpickling one 16 MB message would hold the receiving process's other threads (the window's
    event loop) for tens of milliseconds, a piece holds them for a few."""
    for index, section in enumerate(data["sections"]):
        text = section["text"]
        if len(text) > TEXT_PIECE_CHARS:
            for start in range(0, len(text), TEXT_PIECE_CHARS):
                conn.send(("text", index, text[start:start + TEXT_PIECE_CHARS]))
            section["text"] = ""


def _limit_resources(memory_bytes: int, time_s: float) -> None:
    """Cap the worker's address space and CPU time where the OS allows (not on Windows: no ``resource``)."""
    if sys.platform == "win32":
        return
    import resource

    for limit, value in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_CPU, int(time_s) + 5)):
        try:
            soft, hard = resource.getrlimit(limit)
            capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (capped, hard))
        except (ValueError, OSError) as exc:  # macOS refuses some RLIMIT_AS values
            logger.warning("could not limit the document parser (%s): %s", limit, exc)
