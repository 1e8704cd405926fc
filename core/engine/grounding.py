"""Grounded quotes: once the output opens a quotation of the document, it can only quote what is there.

When the generated text ends with the quote opener (the bundled model writes ``The document says: "``),
every next token must continue a span of the document that starts at a sentence (or line) start, until a
token closes the quote with ``"``. The model still chooses which sentence and where to stop; it can no
longer invent one. Matching is on bytes (a token may hold part of a character) with whitespace runs
treated as one space (a PDF's line breaks inside a sentence quote as spaces); case is kept: a quote is
verbatim.

Two stricter rules, each off unless asked (the bundled model's folder asks for both): ``whole_sentences``, a
quote closes only where a sentence (or line) of the document ends; and ``near_question``, a quote opens only at
a sentence that shares the words of the question and of the step quoting it (weighted by how rare each word is
in the document) about as much as the closest sentence does. A small model often picks a sentence that
merely mentions the question's subject, or stops a quote mid-word; these leave it the choice among the
sentences a reader would consider, whole. A model folder may also name the phrase that opens its trace's
first restatement of the question, which can then only write the question out (``QuestionEcho``), and the one
after which a step names a value, which can then only be words of the sentence it just quoted
(``QuotedValue``): ``QuoteRules`` holds a model's choice.

- ``TokenBytes``: every token's bytes, indexed once per tokenizer;
- ``QuoteSource``: the document text, normalised, and its sentence starts, indexed once per request;
- ``QuoteGrounder``: one sequence's state: outside a quote (watching for the opener, and refusing tokens
  that would open it with something the document does not say), or inside one (the positions where the
  quote can still continue), with its ``QuestionEcho`` and ``QuotedValue`` when the rules have them.

``constraint()`` says which tokens the next step may (or may not) sample; ``advance(token)`` follows the
sampled one. Without a grounder nothing changes: the engine samples exactly as before.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
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
_SENTENCE_END = re.compile(rb"[.!?][\"')\]]*(?=[ \r\n]|\Z)")
_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about which sentence answers: question words, the trace's own phrases, function words.
_STOP_WORDS = frozenset("""a an the of in on at to for from by with and or but is are was were be been being do
does did done what who whom whose which when where why how many much this that these those it its as so if then
than find document says also needed check each every there their they them he she his her has have had will would
can could should may might not no yes any all some one per into about after before over under between answer
question""".split())
_WORD_END = frozenset(bytes([c]) for c in b" .,;:!?)'\"")  # what may follow a value's last word
NEAR_SHARE = 0.5  # a quote may open at a sentence scoring at least this share of the closest one's score


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
    ends: frozenset[int] = frozenset()  # where a sentence or line ends (a whole-sentence quote may close there)
    words: tuple[frozenset[str], ...] = ()  # each sentence's content words (from its start to the next one's)
    # where the tokenizer writes a space before a letter as a token of its own (a word it has no " word" token
    # for); None: not known, a lone space is allowed anywhere
    lone_spaces: frozenset[int] | None = None

    @classmethod
    def of(cls, text: str, tokenizer: Tokenizer | None = None, sentence_words: bool = False) -> QuoteSource:
        """``sentence_words``: index each sentence's content words too (``nearest_starts`` needs them)."""
        lines = _lines_kept(text.encode("utf-8"))
        starts = sorted(m.end() for m in _STARTS.finditer(lines)
                        if m.end() < len(lines) and lines[m.end()] not in b" \n\r")
        ends = {len(lines), *(m.end() for m in _SENTENCE_END.finditer(lines))}
        ends.update(m.start() for m in re.finditer(rb"\n|\r", lines) if lines[m.start():m.start() + 1] == b"\n"
                    or m.start() + 1 in starts)  # a paragraph's end; a line's where the next line starts a sentence
        flat = lines.replace(b"\n", b" ").replace(b"\r", b" ")
        words = tuple(content_words(flat[a:b].decode("utf-8", "replace"))
                      for a, b in zip(starts, [*starts[1:], len(flat)])) if sentence_words else ()
        return cls(flat, tuple(starts), frozenset(ends), words,
                   None if tokenizer is None else _lone_spaces(flat, tokenizer))

    def nearest_starts(self, query: frozenset[str]) -> tuple[int, ...]:
        """The starts of the sentences closest to ``query`` (content words): those scoring at least ``NEAR_SHARE``
        of the best, a shared word scoring its inverse document frequency over the sentences; all starts when no
        sentence shares a word."""
        frequency: dict[str, int] = {}
        for sentence in self.words:
            for word in sentence & query:
                frequency[word] = frequency.get(word, 0) + 1
        n = len(self.words)
        weight = {word: math.log((n + 1) / (count + 0.5)) for word, count in frequency.items()}
        scores = [sum(weight[w] for w in sentence & query) for sentence in self.words]
        best = max(scores, default=0.0)
        if best <= 0:
            return self.starts
        return tuple(start for start, score in zip(self.starts, scores) if score >= NEAR_SHARE * best)


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
class QuestionEcho:
    """A trace's restatement of the question, after ``opener`` (the bundled model's first step: ``1. Find:``): it
    can only write the question out, verbatim, as the prompt has it. A small model copying a question in words it
    never saw garbles it ("Who leads the late of the late of ..."), and loses the step; once written out, or if a
    token leaves it, the output is free again. Only the first restatement: later steps may rephrase."""

    text: bytes  # the question as the restatement writes it (a space, then the question), normalised
    tokens: TokenBytes
    opener: bytes
    lone_spaces: frozenset[int] | None
    _tail: bytes = b""
    _at: int | None = None  # inside the restatement: how much of ``text`` is written
    _done: bool = False

    @classmethod
    def of(cls, question: str, opener: str, tokenizer: Tokenizer) -> QuestionEcho:
        text = normalise(b" " + question.strip().encode("utf-8"))
        return cls(text, TokenBytes.of(tokenizer), opener.encode("utf-8"), _lone_spaces(text, tokenizer))

    @property
    def active(self) -> bool:
        return self._at is not None

    def constraint(self) -> tuple[Literal["allow", "deny"], list[int]] | None:
        if self._at is None:
            return None
        by_norm, ids = self.tokens.by_norm, set()
        for prefix in _writable(self.text, self._at, self.lone_spaces):
            ids.update(by_norm.get(prefix, ()))
        return ("allow", sorted(ids)) if ids else None

    def advance(self, data: bytes) -> None:
        if self._done:
            return
        if self._at is None:
            self._tail, rest = _after_opener(self._tail, data, self.opener)
            if rest is None:
                return
            self._at, data = 0, rest
        norm = normalise(data)
        if not self.text.startswith(norm, self._at):
            self._at, self._done = None, True  # a token the constraint did not allow (none was left)
            return
        self._at += len(norm)
        if self._at >= len(self.text):
            self._at, self._done = None, True


@dataclass(slots=True)
class QuotedValue:
    """The value a step takes from the sentence it just quoted, after ``opener`` (the bundled model's
    ``answers the question:``): words of that quotation, verbatim, then a full stop. A small model naming the
    value of a sentence it quoted rightly still writes "130 crates of tinned" or "6 pounds eachad"."""

    opener: bytes
    tokens: TokenBytes
    _tail: bytes = b""
    _text: bytes = b""  # active: a space, then the latest quotation
    _cursors: list[int] | None = None  # active: where in ``_text`` the value can go on
    _written: bool = False

    @property
    def active(self) -> bool:
        return self._cursors is not None

    def constraint(self) -> tuple[Literal["allow", "deny"], list[int]] | None:
        if self._cursors is None:
            return None
        text, by_norm, ids = self._text, self.tokens.by_norm, set()
        for p in set(self._cursors):
            for prefix in _writable(text, p, None):
                ids.update(by_norm.get(prefix, ()))
            if self._written and (p == len(text) or text[p:p + 1] in _WORD_END):
                ids.update(by_norm.get(b".", ()))
                ids.update(by_norm.get(b". ", ()))
        return ("allow", sorted(ids)) if ids else None

    def advance(self, data: bytes, last_quote: bytes) -> None:
        if self._cursors is None:
            self._tail, rest = _after_opener(self._tail, data, self.opener)
            if rest is None or not last_quote:
                return
            self._text, self._written, data = b" " + last_quote, False, rest
            self._cursors = [i for i, byte in enumerate(self._text) if byte == 32]
        norm = normalise(data)
        if not norm:
            return
        if norm.startswith(b"."):
            self._cursors = None
            return
        self._cursors = [p + len(norm) for p in self._cursors if self._text.startswith(norm, p)] or None
        self._written = True



@dataclass(slots=True)
class QuoteGrounder:
    """One sequence's grounding state. ``quotes``: quotations decoded under the constraint so far."""

    source: QuoteSource
    tokens: TokenBytes
    opener: bytes
    question: frozenset[str] | None = None  # near_question: the question's content words
    whole_sentences: bool = False
    echo: QuestionEcho | None = None
    value: QuotedValue | None = None
    quotes: int = 0
    _last_quote: bytes = b""  # the latest quotation, closed
    _tail: bytes = b""  # the latest output bytes, outside quotes
    _line: bytes = b""  # the output's current line, outside quotes (the step that opens a quote)
    _cursors: list[int] | None = None  # inside a quote: where in the source it can go on
    _quoted: bytes = b""  # the quote so far (normalised)
    _start_ok: set[bytes] | None = field(default=None, repr=False)  # what a quote may begin with (lazily)

    @property
    def quoting(self) -> bool:
        return self._cursors is not None

    def constraint(self) -> tuple[Literal["allow", "deny"], list[int]] | None:
        """The tokens the next step may sample (``allow``) or may not (``deny``); None: no constraint."""
        if self.echo is not None and self.echo.active:
            return self.echo.constraint()
        if self.value is not None and self.value.active:
            return self.value.constraint()
        if self._cursors is not None:
            return "allow", sorted(self._allowed(self._cursors, self._quoted))
        denied = [token_id for token_id, extra in self._opening_tokens() if not self._starts_quote(extra)]
        return ("deny", denied) if denied else None

    def advance(self, token_id: int) -> None:
        data = self.tokens.raw[token_id] if token_id < len(self.tokens.raw) else None
        if not data:
            self._tail = b""
            return
        if self.echo is not None:
            self.echo.advance(data)
        if self._cursors is not None:
            rest = self._follow(data)
            if rest is None:
                return
            data = rest
        if self.value is not None:
            self.value.advance(data, self._last_quote)
        self._line = (self._line + data).rpartition(b"\n")[2][-_LINE_BYTES:]
        tail = self._tail + data
        end = tail.rfind(self.opener)
        if end >= 0 and end + len(self.opener) > len(self._tail):  # completed by this token
            self._open()
            rest = self._follow(tail[end + len(self.opener):])
            tail = rest if rest is not None else b""
        self._tail = tail[-2 * len(self.opener):]

    # --- inside a quote ----------------------------------------------------------------------------
    def _open(self) -> None:
        starts = self.source.starts
        if self.question is not None:
            starts = self.source.nearest_starts(self.question | content_words(self._line.decode("utf-8", "replace")))
        self._cursors, self._quoted = list(starts), b""
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
        self._cursors, self._quoted, self._last_quote = None, b"", self._quoted
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
        closable = self._closable(cursors) if self.whole_sentences else prefixes
        for token_id, before in self.tokens.closing:
            if before.startswith(b" ") and quoted.endswith(b" "):
                before = before[1:]
            if before in closable and (quoted or before):  # never an empty quote
                ids.add(token_id)
        return ids

    def _closable(self, cursors: list[int]) -> set[bytes]:
        """What a token may write before it closes the quote, under ``whole_sentences``: the text from a cursor
        up to where a sentence or line ends."""
        text, ends, found = self.source.text, self.source.ends, set()
        for p in set(cursors):
            found.update(text[p:q] for q in range(p, min(len(text), p + MAX_TOKEN_BYTES) + 1) if q in ends)
        return found

    def _prefixes(self, cursors: list[int]) -> set[bytes]:
        """What a next token may write from each of ``cursors`` (``_writable``)."""
        found: set[bytes] = set()
        for p in set(cursors):
            found.update(_writable(self.source.text, p, self.source.lone_spaces))
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
        if QUOTE in norm and self.whole_sentences:  # a whole quote in this one token
            return body in self._closable(list(self.source.starts))
        return body in self._start_ok


_AFTER_DOCUMENT = re.compile(r"\n\n---\n|\n\nQuestion: ")
_LINE_BYTES = 400  # of the current output line, enough for a step's restated question
# Ponder's own lines around a document's text (``core.documents.prompt``): its header, page marks, excerpt labels
_MARKUP = re.compile(r"^(?:Document: .+ \([^()\n]+\)|\[Page \d+\]|\[Excerpt \d+[^\]\n]*\])$", re.MULTILINE)


def _after_opener(tail: bytes, data: bytes, opener: bytes) -> tuple[bytes, bytes | None]:
    """Watching output for ``opener``: (the tail to keep for the next token, the bytes after the opener when
    ``tail + data`` completes it, else None)."""
    joined = tail + data
    found = joined.find(opener)
    if found < 0:
        return joined[-len(opener):], None
    return b"", joined[found + len(opener):]


def _writable(text: bytes, p: int, lone: frozenset[int] | None) -> list[bytes]:
    """What one token may write from ``p`` of ``text``: any prefix of the text there, except one that ends in a
    space before a letter, unless the text's own tokenization has that lone space there (``lone``; None: not
    known). Byte-level BPE writes the space with the word: any other spelling is one the model never learnt, and
    leads it astray."""
    chunk = text[p:p + MAX_TOKEN_BYTES + 1]
    return [chunk[:n] for n in range(1, min(len(chunk), MAX_TOKEN_BYTES) + 1)
            if not (chunk[n - 1] == 32 and n < len(chunk) and _starts_word(chunk[n]) and lone is not None
                    and (n > 1 or p + n - 1 not in lone))]


def _starts_word(byte: int) -> bool:
    """A letter (digits are tokens of their own, the space before them too); a non-ASCII byte is, as a rule."""
    return chr(byte).isalpha() if byte < 128 else True


def quotable(message: str) -> str:
    """The document text of a user message: what comes before the instructions and the question that Ponder's
    prompts (``core.documents.prompt``) and the bundled model's training prompts put after it, without the
    header, page-mark and excerpt-label lines Ponder writes around it (a quote is of the document, not of those)."""
    found = _AFTER_DOCUMENT.search(message)
    return _MARKUP.sub("", message[:found.start()] if found else message)


@dataclass(frozen=True, slots=True)
class QuoteRules:
    """How a model's quotations are grounded: the phrase that opens one, and the stricter rules."""

    opener: str = DEFAULT_OPENER
    whole_sentences: bool = False
    near_question: bool = False
    restate_opener: str | None = None  # what opens the trace's restatement of the question (``QuestionEcho``)
    value_opener: str | None = None  # what opens a value taken from the latest quotation (``QuotedValue``)

    @classmethod
    def from_config(cls, raw: object) -> QuoteRules | None:
        """A model folder's defaults (``generation_config.json``: ``ponder_quote_opener`` turns grounded quotes
        on, ``ponder_quote_whole_sentences`` and ``ponder_quote_near_question`` the stricter rules,
        ``ponder_restate_opener`` the verbatim restatement of the question, ``ponder_value_opener`` values taken
        from the latest quotation); None: off."""
        opener = raw.get("ponder_quote_opener") if isinstance(raw, dict) else None
        if not isinstance(opener, str) or not 0 < len(opener) <= 64:
            return None

        def phrase(key: str) -> str | None:
            value = raw.get(key)
            return value if isinstance(value, str) and 0 < len(value) <= 64 else None

        return cls(opener, raw.get("ponder_quote_whole_sentences") is True,
                   raw.get("ponder_quote_near_question") is True, phrase("ponder_restate_opener"),
                   phrase("ponder_value_opener"))

    def to_config(self) -> dict[str, object]:
        """The ``generation_config.json`` keys that give these rules (``from_config``'s inverse)."""
        return {"ponder_quote_opener": self.opener, "ponder_quote_whole_sentences": self.whole_sentences,
                "ponder_quote_near_question": self.near_question,
                **({"ponder_restate_opener": self.restate_opener} if self.restate_opener else {}),
                **({"ponder_value_opener": self.value_opener} if self.value_opener else {})}

    def grounder(self, tokenizer: Tokenizer, source_text: str,
                 question_message: str | None = None) -> QuoteGrounder | None:
        """A grounder over ``source_text`` under these rules; ``question_message``: the user message whose question
        ``near_question`` measures sentences against, and the restatement writes out."""
        question = question_of(question_message) if question_message else None
        grounder = grounder_for(tokenizer, source_text, self.opener, question=question if self.near_question else None,
                                whole_sentences=self.whole_sentences)
        if grounder is not None and question and self.restate_opener:
            grounder.echo = QuestionEcho.of(question, self.restate_opener, tokenizer)
        if grounder is not None and self.value_opener:
            grounder.value = QuotedValue(self.value_opener.encode("utf-8"), grounder.tokens)
        return grounder

    def for_message(self, tokenizer: Tokenizer, message: str) -> QuoteGrounder | None:
        """A grounder for one user message written as Ponder's prompts write it (documents, then the question)."""
        return self.grounder(tokenizer, quotable(message), message)


def model_quote_rules(model_dir: Path) -> QuoteRules | None:
    """A model folder's grounded-quote defaults; None when they are off or it has no readable generation config."""
    try:
        return QuoteRules.from_config(json.loads((Path(model_dir) / "generation_config.json").read_text("utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def question_of(message: str) -> str | None:
    """The question of a user message as Ponder's prompts write it (after the last ``Question:`` line start);
    None when it has none (a message that is all question would make every sentence of itself "near")."""
    _, found, question = message.rpartition("\nQuestion: ")
    if not found and message.startswith("Question: "):
        question = message.removeprefix("Question: ")
    elif not found:
        return None
    return question.strip() or None


def content_words(text: str) -> frozenset[str]:
    """The words of ``text`` that can tell sentences apart, lower-cased, with a plural or tense ending cut
    ("manages", "managed" -> "manag")."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "er", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[:-len(suffix)]
    return word


def grounder_for(tokenizer: Tokenizer, source_text: str, opener: str = DEFAULT_OPENER, *,
                 question: str | None = None, whole_sentences: bool = False) -> QuoteGrounder | None:
    """A grounder for one request, or None when there is nothing to quote from. ``question`` (near_question's)
    limits where quotes open; ``whole_sentences`` where they close (module docstring)."""
    if not source_text.strip() or not opener:
        return None
    source = QuoteSource.of(source_text, tokenizer, sentence_words=question is not None)
    return QuoteGrounder(source, TokenBytes.of(tokenizer), opener.encode("utf-8"),
                         None if question is None else content_words(question), whole_sentences)


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
