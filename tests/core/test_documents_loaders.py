"""Real files of every supported kind, generated here, parsed through the worker process: the right text out."""

from __future__ import annotations

import codecs
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.documents import ParsedDocument, iter_parse, parse_document
from core.documents.encoding import decode_text
from core.documents.loaders import load_document
from core.documents.sniff import detect_kind
from tests.core.test_documents_support import make_docx, make_pdf

ROOT = Path(__file__).resolve().parents[2]


def parse_inline(path: Path) -> ParsedDocument:
    """The loaders without the worker process (fast), for the many small text cases."""
    data = path.read_bytes()
    kind = detect_kind(path, data[:8192]).kind
    return load_document(path, kind, hashlib.sha256(data).hexdigest(), len(data))


def test_pdf_pages_are_sections_with_page_numbers(tmp_path):
    path = make_pdf(tmp_path / "report.pdf", [f"Page text number {n}: the quick brown fox." for n in (1, 2, 3)])
    seen = []
    document = parse_document(path, on_progress=seen.append)
    assert document.kind == "pdf" and document.mime == "application/pdf" and document.pages == 3
    assert [s.page for s in document.sections] == [1, 2, 3]
    for n, section in enumerate(document.sections, 1):
        assert section.text == f"Page text number {n}: the quick brown fox."
        assert document.text[section.char_start:section.char_end] == section.text
    assert document.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert document.size_bytes == path.stat().st_size and document.total_chars == len(document.text)
    assert seen and seen[-1].done == seen[-1].total == 3
    assert ParsedDocument.from_dict(json.loads(json.dumps(document.to_dict()))) == document


def test_iter_parse_yields_progress_then_the_document(tmp_path):
    path = make_pdf(tmp_path / "two.pdf", ["first page", "second page"])
    items = list(iter_parse(path))
    assert isinstance(items[-1], ParsedDocument) and items[-1].pages == 2
    assert all(not isinstance(item, ParsedDocument) for item in items[:-1])


def test_docx_headings_paragraphs_and_tables(tmp_path):
    document = parse_document(make_docx(tmp_path / "study.docx"))
    assert document.kind == "docx"
    assert [(s.title, s.level) for s in document.sections] == [(None, 0), ("Introduction", 1), ("Results", 2)]
    assert document.sections[0].text == "Preface before any heading."
    assert document.sections[1].text == "Introduction\nThe study covers three rivers."
    assert document.sections[2].text == "Results\nRiver | Length\nNile | 6650 km\nThe Nile is the longest."


def test_html_visible_text_and_heading_sections(tmp_path):
    html = ("<!DOCTYPE html><html><head><title>T</title><style>p {color: red}</style>"
            "<script>var secret = 'do not show';</script></head><body><p>Intro &amp; welcome.</p>"
            "<h1>First</h1><p>Alpha <b>bold</b>\n   text.</p><div hidden>hidden words</div>"
            "<table><tr><td>a</td><td>b</td></tr></table><h2>Second</h2><ul><li>one<li>two</ul>"
            "<img src='http://example.invalid/x.png'><noscript>enable js</noscript></body></html>")
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    document = parse_inline(path)
    assert [s.title for s in document.sections] == [None, "First", "Second"]
    assert document.sections[0].text == "Intro & welcome."
    assert document.sections[1].text == "First\nAlpha bold text.\na | b"
    assert document.sections[2].text == "Second\n- one\n- two"
    for dropped in ("secret", "color", "hidden words", "enable js"):
        assert dropped not in document.text


def test_html_meta_charset_is_honoured(tmp_path):
    path = tmp_path / "old.htm"
    path.write_bytes('<html><head><meta charset="windows-1252"></head><body><p>Crème brûlée — “fine”</p>'
                     .encode("cp1252"))
    assert parse_inline(path).text == "Crème brûlée — “fine”"


def test_markdown_headings_are_sections_but_not_inside_code(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("Lead text.\n\n# Title\nBody one.\n\n```\n# not a heading\n```\n\nSetext part\n---\nBody two.\n",
                    encoding="utf-8")
    document = parse_inline(path)
    assert [(s.title, s.level) for s in document.sections] == [(None, 0), ("Title", 1), ("Setext part", 2)]
    assert "# not a heading" in document.sections[1].text
    assert document.sections[2].text == "Setext part\n---\nBody two."


@pytest.mark.parametrize("encoding, data", [
    ("utf-8", "café naïve ☕ 日本".encode("utf-8")),
    ("utf-8 with BOM", codecs.BOM_UTF8 + "café naïve ☕ 日本".encode("utf-8")),
    ("utf-16-le", codecs.BOM_UTF16_LE + "café naïve ☕ 日本".encode("utf-16-le")),
    ("utf-16-be", codecs.BOM_UTF16_BE + "café naïve ☕ 日本".encode("utf-16-be")),
])
def test_unicode_text_files(tmp_path, encoding, data):
    path = tmp_path / "note.txt"
    path.write_bytes(data)
    document = parse_inline(path)
    assert document.text == "café naïve ☕ 日本" and document.encoding == encoding


@pytest.mark.parametrize("text, codec", [
    ("café naïve", "latin-1"),
    ("café naïve — “quoted” 5€", "cp1252"),
    ("Die Größe der Straße ist schön.", "latin-1"),
    ("Привет, мир! Это небольшой тестовый документ о погоде и городе. Сегодня солнечно.", "cp1251"),
])
def test_legacy_encodings(tmp_path, text, codec):
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.encode(codec))
    assert parse_inline(path).text == text


def test_text_through_the_worker_and_line_ends(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"line one\r\nline two\rline three\n")
    document = parse_document(path)
    assert document.text == "line one\nline two\nline three" and document.kind == "text"


def test_form_feeds_make_pages(tmp_path):
    path = tmp_path / "pdftotext.txt"
    path.write_text("first page\fsecond page\f", encoding="utf-8")
    document = parse_inline(path)
    assert [(s.page, s.text) for s in document.sections] == [(1, "first page"), (2, "second page")]


def test_bad_bytes_inside_text_never_crash():
    text, encoding = decode_text("café ".encode() * 50 + b"\xff more", "x.txt")
    assert text == "café " * 50 + "\ufffd more" and encoding.startswith("utf-8 (1 undecodable")
    text, encoding = decode_text("good text ".encode() * 50 + b"\xff\xfe\x80 more", "x.txt")
    assert text.startswith("good text") and text.endswith(" more")


def test_content_wins_over_a_wrong_extension(tmp_path):
    path = make_pdf(tmp_path / "actually-a-pdf.txt", ["Hello from a PDF."])
    document = parse_document(path)
    assert document.kind == "pdf" and document.text == "Hello from a PDF."
    assert "PDF despite its name" in document.warnings[0]


def test_package_import_stays_light():
    code = ("import sys, core.documents, core.commands.doc; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'pypdfium2', 'docx')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_a_long_text_comes_back_whole_through_the_worker_in_pieces(tmp_path):
    from core.documents.worker import TEXT_PIECE_CHARS
    line = "Plain words, café crème and an emoji 😀 now and then.\n"
    text = line * (2 * TEXT_PIECE_CHARS // len(line) + 7)  # more than two pieces, characters across the seams
    path = tmp_path / "long.txt"
    path.write_text(text, encoding="utf-8")
    document = parse_document(path)
    assert len(document.text) > 2 * TEXT_PIECE_CHARS and document.text == text.strip("\n")
