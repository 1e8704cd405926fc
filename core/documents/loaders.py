"""Parsers for each supported kind: PDF (pypdfium2), DOCX (python-docx), HTML, Markdown and plain text.

These run inside the parser worker process (``core.documents.worker``): pdfium is C++ and python-docx builds
an XML tree in memory, so a hostile file can crash or exhaust a process, and that must not be the app's.
Call ``load_document`` only through ``parse_document`` unless the file is trusted. The heavy libraries are
imported inside the functions that need them.

Each loader returns sections as ``(title, page, text, level)`` plus warnings; nothing is dropped without a
warning saying so (blank pages, unreadable pages). ``ExtractLimits`` bounds what a file may make: pages
(counted before any is read, so a PDF whose page tree names one page 200,000 times is refused at once),
characters of text (counted as they come), and a DOCX's inflation (``check_inflation``: every entry is
inflated in bounded reads, and the total capped, before python-docx reads any; no OS memory limit needed).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.documents.encoding import GUESSED, decode_text
from core.documents.errors import (CorruptDocumentError, DocumentError, FileTooLargeError, NoTextError,
                                   NoTextLayerError, PasswordProtectedError, UnsafeArchiveError)
from core.documents.html_text import html_sections
from core.documents.parsed import ParsedDocument, build_sections
from core.documents.sniff import ZipLimits

Progress = Callable[[int, int], None]  # (done, total) in pages or blocks
Part = tuple[str | None, int | None, str, int]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffe\uffff]")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_INFLATE_READ = 1 << 20  # bytes inflated per read while checking a ZIP


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """What one document may make: pages, characters of text, and its ZIP (DOCX) as it inflates."""

    max_pages: int = 10_000
    max_text_chars: int = 32 * 2**20
    zip: ZipLimits = field(default_factory=ZipLimits)

    def too_long(self, name: str, chars: int) -> FileTooLargeError:
        return FileTooLargeError(f"{name} holds more than {self.max_text_chars / 2**20:,.0f} million characters of "
                                 f"text ({chars:,} so far), more than Ponder reads in one document; split it into "
                                 "smaller files.", name=name)


def load_document(path: Path, kind: str, sha256: str, size_bytes: int,
                  progress: Progress = lambda done, total: None,
                  limits: ExtractLimits = ExtractLimits()) -> ParsedDocument:
    """Parse ``path`` as ``kind`` (from ``sniff.detect_kind``); raises ``DocumentError`` subclasses."""
    pages = encoding = None
    if kind == "pdf":
        parts, warnings, pages = load_pdf(path, progress, limits)
    elif kind == "docx":
        parts, warnings = load_docx(path, progress, limits)
    else:
        data = path.read_bytes()
        text, encoding = decode_text(data, path.name, html=kind == "html")
        del data
        if len(text) > limits.max_text_chars:
            raise limits.too_long(path.name, len(text))
        warnings = _encoding_warnings(path.name, encoding)
        if kind == "html":
            parts, _title = html_sections(text)
        elif kind == "markdown":
            parts = markdown_sections(text)
        else:
            parts, pages = text_sections(text)
    sections = build_sections(parts)
    if not sections:
        raise NoTextError(f"{path.name} contains no text; check that this is the right file.", name=path.name)
    return ParsedDocument(path.name, kind, sha256, size_bytes, sections, tuple(warnings), pages, encoding)


def _encoding_warnings(name: str, encoding: str) -> list[str]:
    if "undecodable" in encoding:
        return [f"{name} is {encoding}: those bytes show as \ufffd. The file is damaged or mixes encodings; if "
                "text looks wrong, save it again as UTF-8."]
    if encoding.endswith(GUESSED):
        guessed = encoding[:-len(GUESSED)].strip()
        return [f"{name} is not valid UTF-8, so it was read as {guessed}. If some characters look wrong, open it "
                "in an editor, save it as UTF-8 and add it again."]
    return []


# --- PDF -----------------------------------------------------------------------------------------
def load_pdf(path: Path, progress: Progress,
             limits: ExtractLimits = ExtractLimits()) -> tuple[list[Part], list[str], int]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    name = path.name
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise _pdf_open_error(name, getattr(exc, "err_code", None), pdfium_c) from exc
    try:
        total = len(pdf)
        if total > limits.max_pages:
            raise FileTooLargeError(f"{name} has {total:,} pages, more than the {limits.max_pages:,} Ponder reads in "
                                    "one document; split it into smaller files.", name=name)
        parts: list[Part] = []
        blank, broken, images, chars = [], [], 0, 0
        for index in range(total):
            try:
                page = pdf[index]
            except pdfium.PdfiumError:
                broken.append(index + 1)
                continue
            try:
                textpage = page.get_textpage()
                text = clean_text(textpage.get_text_range())
                textpage.close()
                if text.strip():
                    parts.append((None, index + 1, text.strip("\n"), 0))
                    chars += len(text)
                    if chars > limits.max_text_chars:
                        raise limits.too_long(name, chars)
                else:
                    blank.append(index + 1)
                    images += any(True for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=2))
            finally:
                page.close()
            progress(index + 1, total)
    finally:
        pdf.close()
    if not parts:
        if broken and not blank:
            pages = "its only page cannot" if total == 1 else f"none of its {total} pages can"
            raise CorruptDocumentError(f"{name} is damaged: {pages} be read. Re-export or "
                                       "re-download it, or open and re-save it in a PDF viewer.", name=name)
        seen = "its pages are images, as in a scanned document" if images else "its pages are blank or images"
        raise NoTextLayerError(f"{name} has no text layer ({seen}). Ponder cannot read text from images: OCR is "
                               "not supported yet. Run the file through an OCR tool (e.g. ocrmypdf) and try again.",
                               name=name)
    warnings = []
    if blank:
        has, are = ("has", "is") if len(blank) == 1 else ("have", "are")
        warnings.append(f"{_pages(blank)} of {name} {has} no text (blank, or images only: OCR is not supported "
                        f"yet) and {are} left out.")
    if broken:
        warnings.append(f"{_pages(broken)} of {name} could not be read (damaged) and "
                        f"{'is' if len(broken) == 1 else 'are'} left out.")
    return parts, warnings, total


def _pdf_open_error(name: str, code: int | None, pdfium_c) -> DocumentError:
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return PasswordProtectedError(f"{name} is password-protected; remove the password (e.g. print it to a new "
                                      "PDF or save a copy without protection) and try again.", name=name)
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return PasswordProtectedError(f"{name} uses an encryption scheme Ponder cannot open; remove the "
                                      "protection and try again.", name=name)
    return CorruptDocumentError(f"{name} is damaged or truncated and cannot be opened as a PDF; re-download or "
                                "re-export it and try again.", name=name)


def _pages(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:12])) + (f" and {len(numbers) - 12} more" if len(numbers) > 12 else "")
    return f"page {shown}" if len(numbers) == 1 else f"pages {shown}"


# --- DOCX ----------------------------------------------------------------------------------------
def check_inflation(path: Path, limits: ZipLimits) -> None:
    """Inflate every entry of the ZIP in bounded reads, stopping past the total limit; an entry whose data does
    not match its directory entry (more or other bytes than declared) fails its CRC and is refused. zipfile's
    own ``read()`` asks zlib for up to 2 GiB at once, so without this a lying entry inflates fully in one call."""
    name, total = path.name, 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as entry:
                    while chunk := entry.read(_INFLATE_READ):
                        total += len(chunk)
                        if total > limits.max_uncompressed_bytes:
                            raise UnsafeArchiveError(
                                f"{name} was refused: it inflates to more than "
                                f"{limits.max_uncompressed_bytes / 2**20:,.0f} MiB (a zip bomb, or a package that lies "
                                "about its sizes). If you trust the file, open it in Word or LibreOffice and save it "
                                "again as .docx.", name=name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise UnsafeArchiveError(f"{name} was refused: its contents do not match what its ZIP directory declares "
                                 f"({exc}); the file is damaged or crafted. Open it in Word or LibreOffice and save it "
                                 "again as .docx.", name=name) from exc


def load_docx(path: Path, progress: Progress, limits: ExtractLimits = ExtractLimits()) -> tuple[list[Part], list[str]]:
    import docx
    from docx.table import Table

    name = path.name
    check_inflation(path, limits.zip)
    try:
        document = docx.Document(str(path))
        blocks = list(document.iter_inner_content())
    except (KeyError, ValueError, OSError, AttributeError, TypeError, SyntaxError, LookupError,
            zipfile.BadZipFile) as exc:  # lxml's XMLSyntaxError is a SyntaxError
        raise CorruptDocumentError(f"{name} is not a readable Word document ({type(exc).__name__}: {exc}); open it "
                                   "in Word or LibreOffice, save it again as .docx, and try again.", name=name) from exc
    parts: list[Part] = []
    title, level, lines, chars = None, 0, [], 0
    for done, block in enumerate(blocks, 1):
        if isinstance(block, Table):
            rows = table_lines(block)
            lines.extend(rows)
            chars += sum(map(len, rows))
        else:
            text = clean_text(block.text).strip()
            heading = _heading_level(block)
            if heading and text:
                parts.append((title, None, "\n".join(lines), level))
                title, level, lines = text, heading, []
            if text:
                lines.append(text)
                chars += len(text)
        if chars > limits.max_text_chars:
            raise limits.too_long(name, chars)
        if done % 200 == 0:
            progress(done, len(blocks))
    parts.append((title, None, "\n".join(lines), level))
    progress(len(blocks), len(blocks))
    return parts, []


def _heading_level(paragraph) -> int:
    try:
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, ValueError, AttributeError):
        return 0
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading\s*(\d)", style)
    return int(match.group(1)) if match else 0


def table_lines(table) -> list[str]:
    """A table as one line per row, cells joined by " | " (a merged cell is shown once)."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(clean_text(cell.text).split())
            if not cells or text != cells[-1]:
                cells.append(text)
        if any(cells):
            lines.append(" | ".join(cells))
    return lines


# --- text and Markdown ---------------------------------------------------------------------------
def markdown_sections(text: str) -> list[Part]:
    """Sections at ATX (``# Title``) and setext (``Title`` / ``===``) headings, outside fenced code."""
    parts: list[Part] = []
    title, level, lines, fenced = None, 0, [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        atx = None if fenced else _ATX.match(line)
        setext = None if fenced or not lines or not lines[-1].strip() else _SETEXT.match(line)
        if atx or (setext and not _ATX.match(lines[-1])):
            heading_line = line if atx else lines.pop()
            parts.append((title, None, "\n".join(lines).strip("\n"), level))
            if atx:
                title, level = atx.group(2).strip(), len(atx.group(1))
            else:
                title, level = heading_line.strip(), 1 if setext.group(1)[0] == "=" else 2
            lines = [heading_line] if atx else [heading_line, line]
            continue
        lines.append(line)
    parts.append((title, None, "\n".join(lines).strip("\n"), level))
    return parts


def text_sections(text: str) -> tuple[list[Part], int | None]:
    """One section, or one per page when the text has form feeds (as ``pdftotext`` writes)."""
    pages = text.split("\f")
    if len(pages) > 1 and sum(1 for page in pages if page.strip()) > 1:
        return [(None, number, page.strip("\n"), 0) for number, page in enumerate(pages, 1)], len(pages)
    return [(None, None, text.replace("\f", "\n").strip("\n"), 0)], None


def clean_text(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
