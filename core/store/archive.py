"""The store's documents (parsed once, kept zlib-compressed, shared by chats) and benchmark runs.

``ArchiveMixin`` is part of ``Store``; it relies on the store's ``_reading``/``_writing`` transactions
and ``_clock``.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from core.store.records import BenchRun, Document, RowNotFound, StoreError

_DOCUMENT_COLUMNS = "d.id, d.sha256, d.name, d.mime, d.size_bytes, d.parsed_zlib, d.created_at"
_BENCH_COLUMNS = "id, model, machine, config, results, created_at"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_JSON_PIECE_CHARS = 2**20  # a long string is JSON-encoded this many characters at a time


def dump_json(value: dict[str, Any], what: str) -> str:
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict; got {type(value).__name__}")
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from exc


def dump_json_in_pieces(value: dict[str, Any], what: str) -> str:
    """``dump_json``, with every string longer than ``_JSON_PIECE_CHARS`` encoded a piece at a time: the JSON
    encoder holds the GIL for a whole string (about 90 ms for a 16 MB document's text), and a window's event
    loop would wait that long; escaping is per character, so the pieces join into the same JSON."""
    long_texts: list[str] = []
    nonce = secrets.token_hex(8)  # no text can guess it, so no text is taken for a placeholder

    def hide(item: Any) -> Any:
        if isinstance(item, str) and len(item) > _JSON_PIECE_CHARS:
            long_texts.append(item)
            return f"{nonce}:{len(long_texts) - 1}"
        if isinstance(item, dict):
            return {key: hide(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [hide(inner) for inner in item]
        return item

    skeleton = dump_json(hide(value), what)
    if not long_texts:
        return skeleton
    parts, position = [], 0
    for match in re.finditer(f'"{nonce}:(\\d+)"', skeleton):
        text = long_texts[int(match.group(1))]
        parts.append(skeleton[position:match.start()])
        parts.append('"')
        parts += [json.dumps(text[i:i + _JSON_PIECE_CHARS], ensure_ascii=False)[1:-1]
                  for i in range(0, len(text), _JSON_PIECE_CHARS)]
        parts.append('"')
        position = match.end()
    parts.append(skeleton[position:])
    return "".join(parts)


def load_json(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"the chat database holds a damaged JSON value ({exc})", reason="damaged") from exc
    if not isinstance(value, dict):
        raise StoreError("the chat database holds a JSON value that is not an object", reason="damaged")
    return value


class ArchiveMixin:
    _clock: Callable[[], float]
    _reading: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _writing: Callable[[], AbstractContextManager[sqlite3.Connection]]

    # --- documents ----------------------------------------------------------------------------------
    def add_document(self, sha256: str, name: str, mime: str, size_bytes: int, parsed: dict[str, Any]) -> Document:
        """Store a parsed document once per content hash: the same ``sha256`` again returns the existing row."""
        sha256 = sha256.lower()
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"sha256 must be 64 hex digits; got {sha256!r}")
        if size_bytes < 0:
            raise ValueError(f"size_bytes must be >= 0; got {size_bytes}")
        blob = zlib.compress(dump_json_in_pieces(parsed, "parsed document").encode("utf-8"), 6)  # outside the lock
        now = self._clock()
        with self._writing() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO documents (sha256, name, mime, size_bytes, parsed_zlib, "
                               "created_at) VALUES (?, ?, ?, ?, ?, ?)", (sha256, name, mime, size_bytes, blob, now))
            if cur.rowcount == 1:
                return Document(cur.lastrowid, sha256, name, mime, size_bytes, dict(parsed), now)
            row = conn.execute(f"SELECT {_DOCUMENT_COLUMNS} FROM documents AS d WHERE d.sha256 = ?",
                               (sha256,)).fetchone()
        return _document(row)

    def get_document(self, document_id: int) -> Document:
        with self._reading() as conn:
            row = conn.execute(f"SELECT {_DOCUMENT_COLUMNS} FROM documents AS d WHERE d.id = ?",
                               (document_id,)).fetchone()
        if row is None:
            raise RowNotFound("document", document_id)
        return _document(row)

    def link_document(self, chat_id: int, document_id: int) -> None:
        """Attach a document to a chat (attaching it twice is a no-op)."""
        now = self._clock()
        with self._writing() as conn:
            for table, kind, row_id in (("chats", "chat", chat_id), ("documents", "document", document_id)):
                if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is None:
                    raise RowNotFound(kind, row_id)
            conn.execute("INSERT OR IGNORE INTO chat_documents (chat_id, document_id, linked_at) VALUES (?, ?, ?)",
                         (chat_id, document_id, now))
            conn.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (now, chat_id))

    def unlink_document(self, chat_id: int, document_id: int) -> None:
        """Detach a document from a chat; the document stays stored (other chats may use it)."""
        with self._writing() as conn:
            if conn.execute("DELETE FROM chat_documents WHERE chat_id = ? AND document_id = ?",
                            (chat_id, document_id)).rowcount:
                conn.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (self._clock(), chat_id))

    def chat_documents(self, chat_id: int) -> list[Document]:
        """The chat's documents in the order they were attached."""
        with self._reading() as conn:
            rows = conn.execute(f"SELECT {_DOCUMENT_COLUMNS} FROM chat_documents AS l JOIN documents AS d "
                                f"ON d.id = l.document_id WHERE l.chat_id = ? ORDER BY l.linked_at, l.rowid",
                                (chat_id,)).fetchall()
        return [_document(row) for row in rows]

    # --- benchmark runs -----------------------------------------------------------------------------
    def add_bench_run(self, model: str, machine: dict[str, Any], config: dict[str, Any],
                      results: dict[str, Any]) -> BenchRun:
        values = (dump_json(machine, "machine"), dump_json(config, "config"), dump_json(results, "results"))
        now = self._clock()
        with self._writing() as conn:
            cur = conn.execute("INSERT INTO bench_runs (model, machine, config, results, created_at) "
                               "VALUES (?, ?, ?, ?, ?)", (model, *values, now))
        return BenchRun(cur.lastrowid, model, dict(machine), dict(config), dict(results), now)

    def bench_runs(self, model: str | None = None) -> list[BenchRun]:
        """Benchmark runs, newest first; only those of ``model`` when given."""
        where, args = ("WHERE model = ?", (model,)) if model is not None else ("", ())
        with self._reading() as conn:
            rows = conn.execute(f"SELECT {_BENCH_COLUMNS} FROM bench_runs {where} ORDER BY created_at DESC, id DESC",
                                args).fetchall()
        return [BenchRun(r[0], r[1], load_json(r[2]), load_json(r[3]), load_json(r[4]), r[5]) for r in rows]

    def delete_bench_run(self, run_id: int) -> None:
        with self._writing() as conn:
            if conn.execute("DELETE FROM bench_runs WHERE id = ?", (run_id,)).rowcount == 0:
                raise RowNotFound("benchmark run", run_id)


def _document(row: tuple) -> Document:
    try:
        parsed = load_json(zlib.decompress(row[5]))
    except zlib.error as exc:
        raise StoreError(f"document {row[0]} ({row[2]}) is damaged in the chat database ({exc})",
                         reason="damaged") from exc
    return Document(row[0], row[1], row[2], row[3], row[4], parsed, row[6])
