"""Pre-checks before a document reaches a parser: size, type (by content and by extension), ZIP safety.

These run in the caller's process and read only the file's first bytes and a ZIP's central directory (never
a decompressed byte), so a refusal is instant and needs no worker process. ``detect_kind`` returns the
kind to parse and any warning; anything else raises a ``DocumentError`` that says which types Ponder reads.
A ZIP's directory is checked against the file itself: entry names given twice, compression methods Word
never writes, and compressed sizes that do not fit where the entries lie (a directory that lies about its
sizes) are refused. The worker then inflates under streaming limits (``loaders.check_inflation``).
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.documents.errors import (SUPPORTED_TYPES_TEXT, CorruptDocumentError, EmptyFileError, FileTooLargeError,
                                   NotTextError, UnsafeArchiveError, UnsupportedTypeError)

HEAD_BYTES = 8192
EXTENSIONS = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".xhtml": "html",
              ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".log": "text",
              ".csv": "text", ".rst": "text"}
# Signatures of formats Ponder does not read, so the user hears what the file is.
_BINARY_SIGNATURES = [
    (b"MZ", "a Windows program"), (b"\x7fELF", "a Linux program"), (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc/.xls/.ppt)"), (b"{\\rtf", "an RTF file"),
    (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!", "a RAR archive"),
    (b"%!PS", "a PostScript file"), (b"ID3", "an MP3 file"), (b"OggS", "an Ogg file"), (b"fLaC", "a FLAC file"),
    (b"SQLite format 3\x00", "an SQLite database"), (b"\x00asm", "a WebAssembly module"),
]
_BINARY_EXTENSIONS = {".exe", ".dll", ".so", ".dylib", ".bin", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif",
                      ".tiff", ".webp", ".heic", ".zip", ".gz", ".7z", ".rar", ".tar", ".mp3", ".mp4", ".wav",
                      ".mov", ".avi", ".doc", ".xls", ".ppt", ".xlsx", ".pptx", ".odt", ".ods", ".epub", ".rtf",
                      ".pages", ".key", ".numbers", ".sqlite", ".db", ".iso", ".dmg", ".msi", ".apk", ".jar"}
_ALLOWED_CONTROL = frozenset(b"\t\n\r\f\v\x1b")


@dataclass(frozen=True, slots=True)
class ZipLimits:
    max_entries: int = 5_000
    max_uncompressed_bytes: int = 512 * 2**20
    max_ratio: float = 100.0  # per entry, for entries above ratio_floor_bytes
    ratio_floor_bytes: int = 2**20
    max_central_directory_bytes: int = 8 * 2**20


@dataclass(frozen=True, slots=True)
class Detected:
    kind: str
    warning: str | None = None


def unsupported(name: str, what: str | None = None) -> UnsupportedTypeError:
    looks = f" looks like {what}, which" if what else ""
    return UnsupportedTypeError(f"{name}{looks} is not a type Ponder can read. Ponder reads {SUPPORTED_TYPES_TEXT}; "
                                "convert the file to one of these and try again.", name=name)


def check_size(path: Path, size_bytes: int, max_bytes: int) -> None:
    if size_bytes == 0:
        raise EmptyFileError(f"{path.name} is empty (0 bytes); choose the file that holds the document.",
                             name=path.name)
    if size_bytes > max_bytes:
        raise FileTooLargeError(f"{path.name} is {size_bytes / 2**20:,.0f} MiB, more than the "
                                f"{max_bytes / 2**20:,.0f} MiB Ponder reads; split it into smaller files.",
                                name=path.name)


def detect_kind(path: Path, head: bytes, zip_limits: ZipLimits = ZipLimits()) -> Detected:
    """The kind to parse ``path`` as, from its first bytes and its extension (content wins for PDF/DOCX)."""
    name, ext = path.name, path.suffix.lower()
    named = EXTENSIONS.get(ext)
    if b"%PDF-" in head[:1024]:
        warning = None if named == "pdf" else f"{name} is a PDF despite its name; it was read as a PDF."
        return Detected("pdf", warning)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        check_docx_package(path, zip_limits)  # raises unless a safe Word package
        warning = None if named == "docx" else f"{name} is a Word (.docx) document despite its name; read as DOCX."
        return Detected("docx", warning)
    what = _binary_format(head)
    if what is not None:
        if ext == ".doc" or what.startswith("a legacy Office"):
            raise UnsupportedTypeError(f"{name} is a legacy Word/Office file, which Ponder cannot read; open it "
                                       "in Word or LibreOffice, save it as .docx, and try again.", name=name)
        raise unsupported(name, what)
    if named == "pdf":
        raise CorruptDocumentError(f"{name} is not a valid PDF (it does not start with a PDF header); the file "
                                   "may be damaged or mislabelled. Re-export or re-download it.", name=name)
    if named == "docx":
        raise CorruptDocumentError(f"{name} is not a valid Word document (a .docx is a ZIP package and this is "
                                   "not one); re-save it from Word or LibreOffice.", name=name)
    if ext in _BINARY_EXTENSIONS:
        raise unsupported(name, f"a {ext} file")
    if not looks_like_text(head):
        if named:
            raise NotTextError(f"{name} does not look like text (it holds binary data); check that this is the "
                               "right file, or convert it to a supported type.", name=name)
        raise unsupported(name, "binary data")
    if named:
        return Detected(named)
    lowered = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return Detected("html", f"{name} has no known extension; it was read as a web page.")
    label = f"the extension {ext}" if ext else "no extension"
    return Detected("text", f"{name} has {label}; it was read as plain text.")


def _binary_format(head: bytes) -> str | None:
    """What a known binary format's signature says the file is; two-byte signatures ("MZ", "BM") also
    start ordinary text, so those count only when the bytes are not text."""
    for signature, label in _BINARY_SIGNATURES:
        if head.startswith(signature) and (len(signature) > 2 or not looks_like_text(head)):
            return label
    return None


def looks_like_text(data: bytes) -> bool:
    """True unless ``data`` is clearly binary: NUL bytes (outside UTF-16/32) or many control characters."""
    if not data:
        return True
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return True  # UTF-16/32 with a byte-order mark
    if b"\x00" in data:
        return utf16_without_bom(data) is not None
    controls = sum(1 for byte in data if byte < 32 and byte not in _ALLOWED_CONTROL)
    return controls <= max(2, len(data) // 100)


def utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when ``data`` has UTF-16's pattern of zero bytes (mostly-ASCII text), else None."""
    sample = data[:4096]
    pairs = len(sample) // 2
    if pairs < 4:
        return None
    even_zero = sum(1 for i in range(0, 2 * pairs, 2) if sample[i] == 0)
    odd_zero = sum(1 for i in range(1, 2 * pairs, 2) if sample[i] == 0)
    if odd_zero > 0.4 * pairs and even_zero < 0.05 * pairs:
        return "utf-16-le"
    if even_zero > 0.4 * pairs and odd_zero < 0.05 * pairs:
        return "utf-16-be"
    return None


# --- ZIP (DOCX) ------------------------------------------------------------------------------------
def check_docx_package(path: Path, limits: ZipLimits = ZipLimits()) -> None:
    """Refuse a ZIP that is unsafe (bomb, traversal, too many entries) or not a Word package, reading only
    its central directory. Raises ``UnsafeArchiveError``, ``UnsupportedTypeError`` or ``CorruptDocumentError``."""
    name = path.name
    entries, directory_bytes, directory_offset = _end_of_central_directory(path)
    if entries > limits.max_entries:
        raise _unsafe(name, f"it lists {entries:,} files (at most {limits.max_entries:,} are accepted)")
    if directory_bytes > limits.max_central_directory_bytes:
        raise _unsafe(name, f"its file list alone is {directory_bytes / 2**20:,.1f} MiB")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, struct.error, EOFError) as exc:
        raise CorruptDocumentError(f"{name} is a damaged ZIP package ({exc}); re-save it from Word or "
                                   "LibreOffice and try again.", name=name) from exc
    if len(infos) > limits.max_entries:
        raise _unsafe(name, f"it lists {len(infos):,} files (at most {limits.max_entries:,} are accepted)")
    _check_layout(name, infos, directory_offset)
    total = 0
    for info in infos:
        if _unsafe_entry_name(info.filename):
            raise _unsafe(name, f"it holds an entry named {info.filename!r} that points outside the package "
                                "(a path-traversal attack)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _unsafe(name, f"its entry {info.filename!r} uses compression method {info.compress_type}, which "
                                "Word never writes (only stored and deflated entries are accepted)")
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise _unsafe(name, f"its entry {info.filename!r} would expand {ratio:,.0f}-fold to "
                                f"{info.file_size / 2**20:,.0f} MiB (a zip bomb)")
    if total > limits.max_uncompressed_bytes:
        raise _unsafe(name, f"it would expand to {total / 2**20:,.0f} MiB (at most "
                            f"{limits.max_uncompressed_bytes / 2**20:,.0f} MiB are accepted)")
    names = {info.filename for info in infos}
    if "word/document.xml" not in names:
        what = ("an Excel workbook" if any(n.startswith("xl/") for n in names) else
                "a PowerPoint presentation" if any(n.startswith("ppt/") for n in names) else
                "an EPUB book" if "META-INF/container.xml" in names else "a ZIP archive")
        raise unsupported(name, what)


def _check_layout(name: str, infos: list[zipfile.ZipInfo], directory_offset: int) -> None:
    """Each name once (part names are case-insensitive), and each entry's declared compressed bytes lying
    between its own header and the next entry's (or the directory): a directory that claims more compressed
    data than the file holds would pass the ratio check with sizes it made up."""
    seen: set[str] = set()
    for info in infos:
        key = info.filename.replace("\\", "/").lower()
        if key in seen:
            raise _unsafe(name, f"it holds two entries named {info.filename!r} (which one would be read is up to "
                                "the reader: a way to hide content)")
        seen.add(key)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for info, following in zip(ordered, [*ordered[1:], None]):
        end = following.header_offset if following is not None else directory_offset
        least = info.header_offset + 30 + len(info.orig_filename.encode("utf-8", "replace")) + info.compress_size
        if least > end:
            raise _unsafe(name, f"its entry {info.filename!r} claims {info.compress_size:,} compressed bytes that "
                                "are not in the file (the package lies about its sizes, or its entries overlap)")


def _unsafe(name: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{name} was refused without being opened: {why}. If you trust the file, open it in "
                              "Word or LibreOffice and save it again as .docx.", name=name)


def _unsafe_entry_name(entry: str) -> bool:
    normal = entry.replace("\\", "/")
    if not normal or normal.startswith("/") or "\x00" in normal or (len(normal) > 1 and normal[1] == ":"):
        return True
    return ".." in PurePosixPath(normal).parts


def _end_of_central_directory(path: Path) -> tuple[int, int, int]:
    """(entry count, central directory size, where it starts) from the ZIP's end record (the file's tail)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        tail_size = min(size, 22 + 65_535)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise CorruptDocumentError(f"{path.name} is an incomplete ZIP package (its end record is missing: the "
                                   "file is truncated or damaged); re-save or re-download it.", name=path.name)
    entries, directory_bytes, directory_offset = struct.unpack("<HII", tail[at + 10:at + 20])
    if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF or directory_offset == 0xFFFFFFFF:
        raise _unsafe(path.name, "it uses the ZIP64 format, which only huge packages need")
    directory_start = size - tail_size + at - directory_bytes  # where it is (data may precede the ZIP)
    return entries, directory_bytes, directory_start
