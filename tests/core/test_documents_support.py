"""Builders of the files the document tests parse, and parser stubs for the worker-fault tests (no tests here).

Everything is generated at test time: PDFs with fpdf2 (or hand-written bytes for broken ones), DOCX with
python-docx or zipfile, text in several encodings. The stubs are module-level functions so the parser worker
process (multiprocessing "spawn") can import them by name; this module's top-level imports stay light for
that reason.
"""

from __future__ import annotations

import os
import random
import time
import zipfile
from pathlib import Path

FACT_PAGE = 37
FACT = "The vault access code for the Halvorsen archive is 7319, and it changes every spring."
FACT_QUESTION = "What is the vault access code for the Halvorsen archive?"
_FILLER_WORDS = ("river mountain lantern harvest copper meadow signal orchard pebble whistle canyon ember "
                 "thimble glacier saddle quarry violet tundra harbor beacon granite pollen falcon ribbon timber "
                 "marble cobalt prairie willow anchor velvet summit compass cedar lagoon thistle bramble "
                 "cinder ferry garnet hollow juniper kettle ledger mosaic nectar oyster parcel quilt rafter "
                 "satchel tallow umber vessel wicker yarrow zephyr basalt chalk dune estuary fjord grove").split()


def filler_page(page: int, sentences: int = 8) -> str:
    """Deterministic filler text for ``page`` that shares no word with ``FACT``/``FACT_QUESTION``."""
    rng = random.Random(page)
    lines = [f"Survey notes, sheet {page}."]
    for _ in range(sentences):
        lines.append(" ".join(rng.choice(_FILLER_WORDS) for _ in range(12)).capitalize() + ".")
    return " ".join(lines)


def fact_pages(count: int = 50) -> list[str]:
    pages = [filler_page(n) for n in range(1, count + 1)]
    pages[FACT_PAGE - 1] = pages[FACT_PAGE - 1] + " " + FACT
    return pages


def make_pdf(path: Path, pages: list[str], password: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def make_image_pdf(path: Path) -> Path:
    """A one-page PDF whose page is only an image, as a scanner makes."""
    from fpdf import FPDF
    from PIL import Image

    image = Image.new("RGB", (120, 80), (200, 180, 40))
    pdf = FPDF()
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=120)
    pdf.output(str(path))
    return path


def hand_written_pdf(objects: list[bytes], prev_self: bool = False) -> bytes:
    """A PDF from raw objects with a correct xref; ``prev_self`` makes the xref's /Prev point at itself."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    prev = b" /Prev %d" % xref if prev_self else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, prev, xref)
    return bytes(out)


def circular_pdf_objects(kids_loop: bool) -> list[bytes]:
    stream = b"BT /F1 24 Tf 72 720 Td (Hello circular) Tj ET"
    kids = b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>" if kids_loop else b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return [b"<< /Type /Catalog /Pages 2 0 R >>", kids,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph("Preface before any heading.")
    document.add_heading("Introduction", level=1)
    document.add_paragraph("The study covers three rivers.")
    document.add_heading("Results", level=2)
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, (("River", "Length"), ("Nile", "6650 km"))):
        for cell, value in zip(row.cells, values):
            cell.text = value
    document.add_paragraph("The Nile is the longest.")
    document.save(str(path))
    return path


_CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
                  b'2006/content-types"></Types>')


def make_zip(path: Path, entries: dict[str, bytes], big_entry: tuple[str, int] | None = None) -> Path:
    """A ZIP with ``entries`` and, optionally, one entry of ``big_entry[1]`` zero bytes (deflated: tiny on disk)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if big_entry:
            name, size = big_entry
            block = bytes(1 << 20)
            with archive.open(name, "w", force_zip64=False) as handle:
                for _ in range(size >> 20):
                    handle.write(block)
    return path


def docx_like_entries() -> dict[str, bytes]:
    return {"[Content_Types].xml": _CONTENT_TYPES, "word/document.xml": b"<w:document/>"}


# --- parser stubs for the worker-fault tests (run in the worker process) ---------------------------
def hanging_parser(path, kind, sha256, size_bytes, progress, limits=None):
    time.sleep(600)


def exiting_parser(path, kind, sha256, size_bytes, progress, limits=None):
    os._exit(3)


def segfault_parser(path, kind, sha256, size_bytes, progress, limits=None):
    import ctypes

    ctypes.string_at(0)  # reads address 0: SIGSEGV


def memory_hog_parser(path, kind, sha256, size_bytes, progress, limits=None):
    hoard = [bytearray(64 * 2**20) for _ in range(64)]  # 4 GiB, far over the limit the test sets
    return hoard


def raising_parser(path, kind, sha256, size_bytes, progress, limits=None):
    raise KeyError("/Root")


def slow_pages_parser(path, kind, sha256, size_bytes, progress, limits=None):
    for page in range(1, 201):
        progress(page, 200)
        time.sleep(0.05)
    raise AssertionError("the test cancels before the end")
