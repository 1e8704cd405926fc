"""Bytes of a text file to ``str``, in whatever common encoding it was saved, without ever crashing.

Order: a byte-order mark (UTF-8, UTF-16/32 LE/BE) -> UTF-16 without a mark (its zero-byte pattern) ->
strict UTF-8 -> an HTML ``<meta charset>`` when the caller allows it -> Western text (single accented bytes
between ASCII ones: cp1252, the superset of Latin-1 that Windows writes) -> charset-normalizer's
guess for other scripts (Cyrillic, Greek, CJK ...). Detectors are unreliable on short texts, which is why
Western text is recognised first by a simple rule. Binary data is refused with ``NotTextError``.

Nothing is guessed silently: UTF-8 with a few bad bytes is read as UTF-8, the bad bytes shown as U+FFFD and
counted in the encoding's name ("utf-8 (3 undecodable bytes replaced)"), and a file that is not UTF-8 at all
is named "cp1252 (guessed: not UTF-8)"; the loader turns both into a warning on the document.
"""

from __future__ import annotations

import codecs
import re

from core.documents.errors import NotTextError
from core.documents.sniff import looks_like_text, utf16_without_bom

_BOMS = [  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
]
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
GUESSED = "(guessed: not UTF-8)"  # ends the name of an encoding chosen by guessing


def decode_text(data: bytes, name: str, html: bool = False) -> tuple[str, str]:
    """(text, encoding name). Undecodable bytes in an otherwise good text become U+FFFD, never an exception."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data[len(bom):], encoding, name), encoding.replace("-sig", " with BOM")
    if b"\x00" in data[:4096]:
        encoding = utf16_without_bom(data)
        if encoding is None:
            raise _not_text(name)
        return _decode(data, encoding, name), encoding
    try:
        return _checked(data.decode("utf-8"), name), "utf-8"
    except UnicodeDecodeError:
        damaged = _damaged_utf8(data)
        if damaged is not None:
            text, replaced = damaged
            return _checked(text, name), f"utf-8 ({replaced:,} undecodable bytes replaced)"
    if not looks_like_text(data[:65_536]):
        raise _not_text(name)
    if html:
        declared = _meta_charset(data)
        if declared:
            return _decode(data, declared, name), declared
    guessed = "cp1252" if _western(data) else _guess(data) or "cp1252"
    return _decode(data, guessed, name), f"{guessed} {GUESSED}"


def _damaged_utf8(data: bytes) -> tuple[str, int] | None:
    """UTF-8 text with a few bad bytes (a damaged download, a stray Latin-1 character): (text, bad count) when it
    holds valid multi-byte UTF-8 characters (a legacy code page never makes those by chance: reading them as
    cp1252 would turn "é" into "Ã©" everywhere) and at most 5% bad bytes, else None (another encoding)."""
    text = data.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    wide = len(text) - len(text.encode("ascii", "ignore")) - replaced
    if wide > 0 and replaced <= len(text) // 20:
        return text, replaced
    return None


def _decode(data: bytes, encoding: str, name: str) -> str:
    return _checked(data.decode(encoding, errors="replace"), name)


def _checked(text: str, name: str) -> str:
    """The text with line ends normalised and stray control characters removed; binary in disguise refused."""
    sample = text[:65_536]
    if sample and (sample.count("\ufffd") > len(sample) // 20 or len(_CONTROL.findall(sample)) > len(sample) // 100 + 2):
        raise _not_text(name)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    if not match:
        return None
    try:
        return codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None


def _western(data: bytes) -> bool:
    """Western European text in a legacy code page: its non-ASCII bytes are mostly accented letters or
    typographic marks alone or in pairs between ASCII ones ("café", "Größe", "— “x”"). Other scripts' code
    pages (Cyrillic, Greek) and the multi-byte East Asian encodings put non-ASCII bytes in longer runs."""
    runs, run = [], 0
    for byte in data[:65_536]:
        if byte >= 0x80:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    runs += [run] if run else []
    high = sum(runs)
    return not high or sum(r for r in runs if r <= 2) >= 0.6 * high


def _guess(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional at run time: cp1252 is the fallback
        return None
    best = from_bytes(data[:262_144]).best()
    return best.encoding if best is not None else None


def _not_text(name: str) -> NotTextError:
    return NotTextError(f"{name} does not look like text (it holds binary data or an unknown encoding); check that "
                        "this is the right file, or convert it to a supported type.", name=name)
