"""The malformed corpus and worker faults: each gives the right ``DocumentError``, quickly, and this process lives.

Every case goes through ``parse_document`` (pre-checks, then the worker process), as the app does. The
faults (hang, crash, segfault, out of memory) use the parser stubs of ``test_documents_support``.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from pathlib import Path

import pytest

from core.documents import (CorruptDocumentError, EmptyFileError, FileTooLargeError, NotTextError, NoTextError,
                            NoTextLayerError, ParseCancelledError, ParseLimits, ParserCrashedError, ParserMemoryError,
                            ParserTimeoutError, PasswordProtectedError, UnreadableFileError, UnsafeArchiveError,
                            UnsupportedTypeError, iter_parse, parse_document)
from core.documents.sniff import ZipLimits
from tests.core import test_documents_support as support

QUICK_S = 5.0  # a refusal must come this fast (a worker start is ~0.1-0.5 s)


def refused(path: Path, error: type, *phrases: str, limits: ParseLimits = ParseLimits(), **kwargs) -> str:
    started = time.monotonic()
    with pytest.raises(error) as caught:
        parse_document(path, limits, **kwargs)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert type(caught.value) is error, message
    assert path.name in message, message
    for phrase in phrases:
        assert phrase in message, message
    assert elapsed < QUICK_S + (limits.time_s if error is ParserTimeoutError else 0), elapsed
    assert not multiprocessing.active_children(), "the worker process was left running"
    return message


# --- PDFs ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_pdf_bytes(tmp_path_factory) -> bytes:
    path = support.make_pdf(tmp_path_factory.mktemp("pdf") / "good.pdf", [f"Page {n} text." for n in range(1, 4)])
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_pdf(tmp_path, good_pdf_bytes, keep):
    path = tmp_path / "truncated.pdf"
    path.write_bytes(good_pdf_bytes[:int(len(good_pdf_bytes) * keep)])
    refused(path, CorruptDocumentError, "damaged or truncated", "re-download")


def test_circular_xref_and_page_tree(tmp_path):
    path = tmp_path / "circular.pdf"
    path.write_bytes(support.hand_written_pdf(support.circular_pdf_objects(kids_loop=True), prev_self=True))
    refused(path, CorruptDocumentError, "damaged")


def test_circular_xref_alone_is_survived(tmp_path):
    """An xref whose /Prev points at itself: pdfium breaks the loop and the text is read."""
    path = tmp_path / "prev-loop.pdf"
    path.write_bytes(support.hand_written_pdf(support.circular_pdf_objects(kids_loop=False), prev_self=True))
    assert parse_document(path).text == "Hello circular"


def test_encrypted_pdf(tmp_path):
    path = support.make_pdf(tmp_path / "secret.pdf", ["classified"], password="hunter2")
    refused(path, PasswordProtectedError, "password-protected; remove the password", "try again")


def test_pdf_with_blank_page(tmp_path):
    path = support.make_pdf(tmp_path / "blank.pdf", [""])
    refused(path, NoTextLayerError, "no text layer", "OCR is not supported yet")


def test_scanned_pdf(tmp_path):
    path = support.make_image_pdf(tmp_path / "scan.pdf")
    refused(path, NoTextLayerError, "scanned", "OCR is not supported yet")


def test_pdf_with_some_blank_pages_warns(tmp_path):
    document = parse_document(support.make_pdf(tmp_path / "partly.pdf", ["text one", "", "text three"]))
    assert [s.page for s in document.sections] == [1, 3] and document.pages == 3
    assert "page 2" in document.warnings[0] and "left out" in document.warnings[0]


def test_png_named_pdf(tmp_path):
    path = tmp_path / "picture.pdf"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    refused(path, UnsupportedTypeError, "looks like a PNG image", "Ponder reads PDF")


def test_text_named_pdf(tmp_path):
    path = tmp_path / "fake.pdf"
    path.write_text("just words", encoding="utf-8")
    refused(path, CorruptDocumentError, "not a valid PDF")


# --- DOCX ----------------------------------------------------------------------------------------
def test_docx_zip_bomb_is_refused_without_extracting(tmp_path):
    path = support.make_zip(tmp_path / "bomb.docx", support.docx_like_entries(), big_entry=("word/media/x.bin", 64 << 20))
    assert path.stat().st_size < 1 << 20  # 64 MiB of zeros, about 64 KiB on disk
    refused(path, UnsafeArchiveError, "zip bomb", "refused without being opened")


def test_docx_over_the_total_size_limit(tmp_path):
    path = support.make_zip(tmp_path / "big.docx", {**support.docx_like_entries(), "word/x.xml": b"<a/>" * 4000})
    limits = ParseLimits(zip=ZipLimits(max_uncompressed_bytes=10_000))
    refused(path, UnsafeArchiveError, "would expand to", limits=limits)


def test_docx_zip_slip_entry(tmp_path):
    path = support.make_zip(tmp_path / "slip.docx", {**support.docx_like_entries(), "../evil.txt": b"boo"})
    refused(path, UnsafeArchiveError, "'../evil.txt'", "path-traversal")


@pytest.mark.parametrize("entry", ["/etc/evil", "C:/evil", "word\\..\\..\\evil"])
def test_docx_absolute_entry_names(tmp_path, entry):
    path = support.make_zip(tmp_path / "abs.docx", {**support.docx_like_entries(), entry: b"boo"})
    refused(path, UnsafeArchiveError, "path-traversal")


def test_docx_with_too_many_entries(tmp_path):
    entries = {**support.docx_like_entries(), **{f"word/media/{i}.xml": b"x" for i in range(20)}}
    path = support.make_zip(tmp_path / "many.docx", entries)
    refused(path, UnsafeArchiveError, "lists 22 files", limits=ParseLimits(zip=ZipLimits(max_entries=10)))


def test_docx_that_is_not_a_zip(tmp_path):
    path = tmp_path / "plain.docx"
    path.write_text("not a zip at all", encoding="utf-8")
    refused(path, CorruptDocumentError, "not a valid Word document")


def test_truncated_docx(tmp_path):
    data = support.make_docx(tmp_path / "whole.docx").read_bytes()
    path = tmp_path / "cut.docx"
    path.write_bytes(data[:len(data) // 2])
    refused(path, CorruptDocumentError, "truncated or damaged")


def test_docx_with_a_broken_body(tmp_path):
    path = support.make_zip(tmp_path / "broken.docx", {**support.docx_like_entries(),
                                                       "word/document.xml": b"<w:document><unclosed"})
    refused(path, CorruptDocumentError, "not a readable Word document")


def test_excel_file_is_unsupported(tmp_path):
    path = support.make_zip(tmp_path / "sheet.xlsx", {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<a/>"})
    refused(path, UnsupportedTypeError, "Excel workbook")


# --- other files ---------------------------------------------------------------------------------
def test_binary_garbage_named_txt(tmp_path):
    path = tmp_path / "garbage.txt"
    path.write_bytes(bytes(range(256)) * 16)
    refused(path, NotTextError, "does not look like text")


def test_binary_garbage_without_nul_bytes(tmp_path):
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes(b for b in range(1, 32) if b not in b"\t\n\r\f\v\x1b") * 100)
    refused(path, NotTextError, "does not look like text")


def test_empty_file(tmp_path):
    path = tmp_path / "nothing.txt"
    path.write_bytes(b"")
    refused(path, EmptyFileError, "empty (0 bytes)")


def test_whitespace_only_file(tmp_path):
    path = tmp_path / "spaces.md"
    path.write_text("  \n\n \t\n", encoding="utf-8")
    refused(path, NoTextError, "contains no text")


@pytest.mark.parametrize("name, data, phrase", [
    ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200), "a Windows program"),
    ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100), "a PNG image"),
    ("letter.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "save it as .docx"),
    ("archive.zip", None, "a ZIP archive"),
])
def test_unsupported_types(tmp_path, name, data, phrase):
    path = tmp_path / name
    if data is None:
        support.make_zip(path, {"readme.txt": b"hello"})
    else:
        path.write_bytes(data)
    message = refused(path, UnsupportedTypeError, phrase)
    if name != "letter.doc":
        assert "PDF (.pdf), Word (.docx)" in message  # says which types are supported


def test_missing_file_and_folder(tmp_path):
    refused(tmp_path / "nowhere.pdf", UnreadableFileError, "cannot be opened")
    (tmp_path / "folder.pdf").mkdir()
    refused(tmp_path / "folder.pdf", UnreadableFileError, "cannot be opened")


def test_file_over_the_size_limit(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_text("x" * 5000, encoding="utf-8")
    refused(path, FileTooLargeError, "split it", limits=ParseLimits(max_file_bytes=1000))


# --- worker faults ----------------------------------------------------------------------------------
@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text("some text", encoding="utf-8")
    return path


def test_hanging_parser_is_killed_at_the_time_limit(text_file):
    message = refused(text_file, ParserTimeoutError, "longer than 1.5 s", limits=ParseLimits(time_s=1.5),
                      parser=support.hanging_parser)
    assert "stopped" in message


def test_exiting_parser(text_file):
    refused(text_file, ParserCrashedError, "crashed", "exit code 3", "Ponder itself is fine",
            parser=support.exiting_parser)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_segfaulting_parser(text_file):
    refused(text_file, ParserCrashedError, "crashed", "SIGSEGV", parser=support.segfault_parser)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux only")
def test_parser_over_the_memory_limit(text_file):
    refused(text_file, ParserMemoryError, "0.5 GiB of memory", "Split it", parser=support.memory_hog_parser,
            limits=ParseLimits(memory_bytes=512 * 2**20))


def test_parser_library_exception_becomes_a_message(text_file):
    refused(text_file, CorruptDocumentError, "KeyError", "may be damaged", parser=support.raising_parser)


def test_cancel_with_an_event_stops_the_worker(text_file):
    cancel, seen = threading.Event(), []

    def on_progress(progress):
        seen.append(progress)
        if progress.done >= 2:
            cancel.set()

    refused(text_file, ParseCancelledError, "cancelled", cancel=cancel, on_progress=on_progress,
            parser=support.slow_pages_parser)
    assert seen[-1].total == 200 and seen[-1].done < 20


def test_closing_iter_parse_kills_the_worker(text_file):
    items = iter_parse(text_file, parser=support.slow_pages_parser)
    first = next(items)
    assert first.name == "victim.txt"
    items.close()
    assert not multiprocessing.active_children()


def test_the_app_survives_many_failures_in_a_row(tmp_path, good_pdf_bytes):
    path = tmp_path / "t.pdf"
    path.write_bytes(good_pdf_bytes[:100])
    for _ in range(3):
        with pytest.raises(CorruptDocumentError):
            parse_document(path)
    path.write_bytes(good_pdf_bytes)
    assert parse_document(path).pages == 3
