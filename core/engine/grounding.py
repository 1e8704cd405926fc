"""Grounded quotes: once the output opens a quotation of the document, it can only quote what is there.

When the generated text ends with the quote opener (the bundled model writes ``The document says: "``),
every next token must continue a span of the document that starts at a sentence (or line) start, until a
token closes the quote with ``"``. The model still chooses which sentence and where to stop; it can no
longer invent one. Matching is on bytes (a token may hold part of a character) with whitespace runs
treated as one space (a PDF's line breaks inside a sentence quote as spaces); case is kept: a quote is
verbatim.

- ``TokenBytes``: every token's bytes, indexed once per tokenizer;
- ``QuoteSource``: the document text, normalised, and its sentence starts, indexed once per request;
- ``QuoteGrounder``: one sequence's state: outside a quote (watching for the opener, and refusing tokens
  that would open it with something the document does not say), or inside one (the positions where the
  quote can still continue).

``constraint()`` says which tokens the next step may (or may not) sample; ``advance(token)`` follows the
sampled one. Without a grounder nothing changes: the engine samples exactly as before.
"""

from __future__ import annotations

import bisect
import re
import weakref
from dataclasses import dataclass, field
from typing import Literal

from core.tokenizer import Tokenizer

QUOTE = b'"'
DEFAULT_OPENER = 'The document says: "'
MAX_TOKEN_BYTES = 48  # longer tokens (runs of spaces or symbols) are never part of a quote
_SPACE_RUN = re.compile(rb"\s+")
# A quote may start where a sentence does: the text's start, a paragraph's, a line's that does not continue
# a sentence wrapped over lines (it opens with a capital, a digit, a bullet or a bracket), or after the end
# of a sentence (and its closing quote or bracket); each past a list bullet.
_STARTS = re.compile(rb"(?:\A|\n|\r(?=[A-Z0-9\"'(\[*-])|[.!?][\"')\]]*[ \r])(?:[-*] )?")


def normalise(data: bytes) -> bytes:
    """Whitespace runs as one space (the form both the document and the quote are compared in)."""
    return _SPACE_RUN.sub(b" ", data)


def _lines_kept(data: bytes) -> bytes:
    """Whitespace runs as one byte (a paragraph break ``\\n``, a line break ``\\r``, else a space): the same
    length as ``normalise``'s, so positions carry over."""
    def one(match: re.Match[bytes]) -> bytes:
        breaks = match.group().count(b"\n")
        return b"\n" if breaks > 1 else b"\r" if breaks else b" "

    return _SPACE_RUN.sub(one, data)


@dataclass(frozen=True, slots=True)
class TokenBytes:
    """Each token's bytes (raw and normalised); control tokens have none and never appear in a quote."""

    raw: tuple[bytes | None, ...]
    by_norm: dict[bytes, tuple[int, ...]]  # normalised bytes -> the ids that write them
    closing: tuple[tuple[int, bytes], ...]  # tokens holding a quote mark: (id, normalised bytes before it)
    sorted_raw: tuple[tuple[bytes, int], ...]  # for prefix search

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> TokenBytes:
        cached = _TABLES.get(tokenizer)
        if cached is None:
            cached = _TABLES[tokenizer] = cls._build(tokenizer)
        return cached

    @classmethod
    def _build(cls, tokenizer: Tokenizer) -> TokenBytes:
        decode = _byte_decoder()
        raw: list[bytes | None] = []
        for token_id in range(tokenizer.vocab_size):
            piece = tokenizer.id_to_token(token_id)
            if piece is None or token_id in tokenizer.special_ids:
                raw.append(None)
                continue
            raw.append(_piece_bytes(piece, decode))
        by_norm: dict[bytes, list[int]] = {}
        closing = []
        for token_id, data in enumerate(raw):
            if not data or len(data) > MAX_TOKEN_BYTES:
                continue
            norm = normalise(data)
            if QUOTE in norm:
                closing.append((token_id, norm[:norm.index(QUOTE)]))
            else:
                by_norm.setdefault(norm, []).append(token_id)
        sorted_raw = sorted((data, i) for i, data in enumerate(raw) if data)
        return cls(tuple(raw), {k: tuple(v) for k, v in by_norm.items()}, tuple(closing), tuple(sorted_raw))

    def starting_with(self, prefix: bytes) -> list[tuple[bytes, int]]:
        """Tokens whose raw bytes start with ``prefix``."""
        keys = self.sorted_raw
        i = bisect.bisect_left(keys, (prefix, -1))
        found = []
        while i < len(keys) and keys[i][0].startswith(prefix):
            found.append(keys[i])
            i += 1
        return found


_TABLES: weakref.WeakKeyDictionary[Tokenizer, TokenBytes] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class QuoteSource:
    """The text quotes must come from (the documents in the prompt), normalised, with its sentence starts."""

    text: bytes
    starts: tuple[int, ...]
    # where the tokenizer writes a space before a letter as a token of its own (a word it has no " word" token
    # for); None: not known, a lone space is allowed anywhere
    lone_spaces: frozenset[int] | None = None

    @classmethod
    def of(cls, text: str, tokenizer: Tokenizer | None = None) -> QuoteSource:
        lines = _lines_kept(text.encode("utf-8"))
        starts = {m.end() for m in _STARTS.finditer(lines) if m.end() < len(lines) and lines[m.end()] not in b" \n\r"}
        flat = lines.replace(b"\n", b" ").replace(b"\r", b" ")
        return cls(flat, tuple(sorted(starts)), None if tokenizer is None else _lone_spaces(flat, tokenizer))


def _lone_spaces(text: bytes, tokenizer: Tokenizer) -> frozenset[int] | None:
    """Offsets in ``text`` of the lone-space tokens its own tokenization has before a letter (a quote of it is
    written the same way, word by word)."""
    raw, found, at = TokenBytes.of(tokenizer).raw, set(), 0
    for token_id in tokenizer.encode(text.decode("utf-8", errors="replace")):
        data = raw[token_id] if token_id < len(raw) else None
        if data is None:
            return None
        if data == b" " and at + 1 < len(text) and _starts_word(text[at + 1]):
            found.add(at)
        at += len(data)
    return frozenset(found) if at == len(text) else None  # offsets only hold if the bytes line up


@dataclass(slots=True)
class QuoteGrounder:
    """One sequence's grounding state. ``quotes``: quotations decoded under the constraint so far."""

    source: QuoteSource
    tokens: TokenBytes
    opener: bytes
    quotes: int = 0
    _tail: bytes = b""  # the latest output bytes, outside quotes
    _cursors: list[int] | None = None  # inside a quote: where in the source it can go on
    _quoted: bytes = b""  # the quote so far (normalised)
    _start_ok: set[bytes] | None = field(default=None, repr=False)  # what a quote may begin with (lazily)

    @property
    def quoting(self) -> bool:
        return self._cursors is not None

    def constraint(self) -> tuple[Literal["allow", "deny"], list[int]] | None:
        """The tokens the next step may sample (``allow``) or may not (``deny``); None: no constraint."""
        if self._cursors is not None:
            return "allow", sorted(self._allowed(self._cursors, self._quoted))
        denied = [token_id for token_id, extra in self._opening_tokens() if not self._starts_quote(extra)]
        return ("deny", denied) if denied else None

    def advance(self, token_id: int) -> None:
        data = self.tokens.raw[token_id] if token_id < len(self.tokens.raw) else None
        if not data:
            self._tail = b""
            return
        if self._cursors is not None:
            rest = self._follow(data)
            if rest is None:
                return
            data = rest
        tail = self._tail + data
        end = tail.rfind(self.opener)
        if end >= 0 and end + len(self.opener) > len(self._tail):  # completed by this token
            self._open()
            rest = self._follow(tail[end + len(self.opener):])
            tail = rest if rest is not None else b""
        self._tail = tail[-2 * len(self.opener):]

    # --- inside a quote ----------------------------------------------------------------------------
    def _open(self) -> None:
        self._cursors, self._quoted = list(self.source.starts), b""
        self.quotes += 1

    def _follow(self, data: bytes) -> bytes | None:
        """Move the quote on by ``data``; returns the bytes after a closing quote mark (None: still open)."""
        norm = normalise(data)
        closing = norm.find(QUOTE)
        body = norm if closing < 0 else norm[:closing]
        if body.startswith(b" ") and self._quoted.endswith(b" "):
            body = body[1:]
        text = self.source.text
        self._cursors = [p + len(body) for p in self._cursors if text.startswith(body, p)]
        self._quoted += body
        if closing < 0 and self._cursors:
            return None
        self._cursors, self._quoted = None, b""
        return data[data.index(QUOTE) + 1:] if QUOTE in data else b""

    def _allowed(self, cursors: list[int], quoted: bytes) -> set[int]:
        """Tokens that continue the quote at one of ``cursors`` (or close it after what is quoted)."""
        prefixes = self._prefixes(cursors)
        ids: set[int] = set()
        by_norm = self.tokens.by_norm
        for prefix in prefixes:
            ids.update(by_norm.get(prefix, ()))
            if quoted.endswith(b" "):
                ids.update(by_norm.get(b" " + prefix, ()))  # a token's own leading space joins the one quoted
        prefixes.add(b"")
        for token_id, before in self.tokens.closing:
            if before.startswith(b" ") and quoted.endswith(b" "):
                before = before[1:]
            if before in prefixes and (quoted or before):  # never an empty quote
                ids.add(token_id)
        return ids

    def _prefixes(self, cursors: list[int]) -> set[bytes]:
        """What a next token may write from each of ``cursors``: any prefix of the text there, except one that
        ends in a space before a letter, unless the text's own tokenization has that lone space there (byte-level
        BPE writes the space with the word: any other spelling is one the model never learnt, and leads it
        astray)."""
        text, lone, found = self.source.text, self.source.lone_spaces, set()
        for p in set(cursors):
            chunk = text[p:p + MAX_TOKEN_BYTES + 1]
            found.update(chunk[:n] for n in range(1, min(len(chunk), MAX_TOKEN_BYTES) + 1)
                         if not (chunk[n - 1] == 32 and n < len(chunk) and _starts_word(chunk[n])
                                 and lone is not None and (n > 1 or p + n - 1 not in lone)))
        return found

    # --- opening a quote ---------------------------------------------------------------------------
    def _opening_tokens(self) -> list[tuple[int, bytes]]:
        """Tokens that would complete the opener now, with the bytes they would put in the quote."""
        found = []
        for k in range(max(0, len(self.opener) - MAX_TOKEN_BYTES), len(self.opener)):
            if self._tail.endswith(self.opener[:k]):
                rest = self.opener[k:]
                found += [(token_id, data[len(rest):]) for data, token_id in self.tokens.starting_with(rest)]
        return found

    def _starts_quote(self, extra: bytes) -> bool:
        """Whether a quote may begin with ``extra`` (up to a closing quote mark, if it holds one)."""
        norm = normalise(extra)
        body = norm[:norm.index(QUOTE)] if QUOTE in norm else norm
        if not body:
            return QUOTE not in norm  # an empty quote never; an opener with nothing after it yet, yes
        if self._start_ok is None:
            self._start_ok = self._prefixes(list(self.source.starts))
        return body in self._start_ok


_AFTER_DOCUMENT = re.compile(r"\n\n---\n|\n\nQuestion: ")
# Ponder's own lines around a document's text (``core.documents.prompt``): its header, page marks, excerpt labels
_MARKUP = re.compile(r"^(?:Document: .+ \([^()\n]+\)|\[Page \d+\]|\[Excerpt \d+[^\]\n]*\])$", re.MULTILINE)


def _starts_word(byte: int) -> bool:
    """A letter (digits are tokens of their own, the space before them too); a non-ASCII byte is, as a rule."""
    return chr(byte).isalpha() if byte < 128 else True


def quotable(message: str) -> str:
    """The document text of a user message: what comes before the instructions and the question that Ponder's
    prompts (``core.documents.prompt``) and the bundled model's training prompts put after it, without the
    header, page-mark and excerpt-label lines Ponder writes around it (a quote is of the document, not of those)."""
    found = _AFTER_DOCUMENT.search(message)
    return _MARKUP.sub("", message[:found.start()] if found else message)


def grounder_for(tokenizer: Tokenizer, source_text: str, opener: str = DEFAULT_OPENER) -> QuoteGrounder | None:
    """A grounder for one request, or None when there is nothing to quote from."""
    if not source_text.strip() or not opener:
        return None
    return QuoteGrounder(QuoteSource.of(source_text, tokenizer), TokenBytes.of(tokenizer), opener.encode("utf-8"))


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: the character a byte-level BPE token writes -> the byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _piece_bytes(piece: str, decode: dict[str, int]) -> bytes:
    """A vocabulary entry as the bytes it writes: byte-level BPE, SentencePiece (▁, <0xNN>) or plain text."""
    if all(ch in decode for ch in piece):
        return bytes(decode[ch] for ch in piece)
    byte = _BYTE_TOKEN.match(piece)
    if byte:
        return bytes([int(byte.group(1), 16)])
    return piece.replace("\u2581", " ").encode("utf-8")
