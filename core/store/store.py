"""``Store``: chats and their messages in one SQLite file, committed as they stream.

Durability: every method that changes something commits before it returns. The file is in WAL mode
with ``synchronous=NORMAL``, so a commit survives the process being killed (``kill -9``) at any
moment; a power cut may lose the last few commits, never corrupt the file. A streamed answer is
written with ``append_to_message`` once per delta, so a crash loses at most the delta in flight;
``recover_interrupted`` at the next start marks what was streaming as "interrupted" and keeps it.

Threads: each thread gets its own SQLite connection (``threading.local``), opened on first use. The
GUI thread reads while a worker thread appends streamed tokens: WAL readers never wait for the
writer, and writers take the write lock up front (``BEGIN IMMEDIATE``) and wait up to the busy
timeout for each other. A ``Store`` may be shared by any number of threads; ``close()`` it once,
after the workers using it have stopped. Several processes may open the same file, but only one
Ponder should call ``recover_interrupted`` (it would mark another process's live stream interrupted).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.store import schema
from core.store.aside import move_aside
from core.store.archive import ArchiveMixin, dump_json, load_json
from core.store.records import (DEFAULT_TITLE, MOVABLE_REASONS, Chat, Message, RowNotFound, StoreError,
                                check_role, check_status, title_from_text)

_CHAT_COLUMNS = "id, title, created_at, updated_at, settings"
_MESSAGE_COLUMNS = "id, chat_id, role, content, reasoning, status, created_at, updated_at, stats, model"
_RECOVERY_NOTES = {
    "damaged": "The chat database {path} was damaged. Ponder moved it to {aside} and started a new one; "
               "nothing was deleted.",
    "foreign": "{path} was not a Ponder chat database (another program's file?). Ponder moved it to {aside} "
               "and started a new one; nothing was deleted.",
    "newer": "The chat database {path} was written by a newer version of Ponder. Ponder moved it to {aside} "
             "and started a new one; to get those chats back, update Ponder and move the file back.",
}


class Store(ArchiveMixin):
    """Ponder's durable state: chats, messages, documents, benchmark runs. See the module docstring."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000, clock: Callable[[], float] = time.time,
                 verify: bool = False):
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._clock = clock
        self._local = threading.local()
        self._connections: weakref.WeakSet[sqlite3.Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        self._adopt(schema.open_database(self.path, busy_timeout_ms, verify=verify))

    @classmethod
    def open_or_recover(cls, path: Path, **kwargs: Any) -> tuple[Store, str | None]:
        """Open ``path``; if it is damaged, another program's, or from a newer Ponder, move it aside and start anew.

        Meant for app start: the whole file is checked (``verify=True``), so damage inside it is found
        here rather than by some later query. Returns the store and a note for the user (``None`` when
        the file opened normally). Other failures (permissions, a full disk, a lock held by another
        process) are raised as they are: moving the file would not help, and a locked file is in use,
        not broken.
        """
        path = Path(path)
        kwargs.setdefault("verify", True)
        try:
            return cls(path, **kwargs), None
        except StoreError as exc:
            if exc.reason not in MOVABLE_REASONS:
                raise
            reason = exc.reason
        aside = move_aside(path, reason, time.time())
        store = cls(path, **kwargs)
        return store, _RECOVERY_NOTES[reason].format(path=path, aside=aside)

    # --- connections --------------------------------------------------------------------------------
    def _adopt(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                conn.close()
                raise StoreError(f"the chat database {self.path} is closed", path=self.path, reason="closed")
            self._connections.add(conn)
        self._local.conn = conn
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        if self._closed:
            raise StoreError(f"the chat database {self.path} is closed", path=self.path, reason="closed")
        try:
            return self._adopt(schema.connect(self.path, self._busy_timeout_ms, create=False))
        except sqlite3.Error as exc:
            raise schema.translate_error(exc, self.path) from exc

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn()
        except sqlite3.Error as exc:
            raise schema.translate_error(exc, self.path) from exc

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on exit (rolled back on any exception)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise schema.translate_error(exc, self.path) from exc

    def close(self) -> None:
        """Close every thread's connection; later calls raise ``StoreError`` (reason "closed")."""
        with self._lock:
            self._closed = True
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- chats --------------------------------------------------------------------------------------
    def create_chat(self, title: str = DEFAULT_TITLE, settings: dict[str, Any] | None = None) -> Chat:
        settings_json, now = dump_json(settings or {}, "chat settings"), self._clock()
        with self._writing() as conn:
            cur = conn.execute("INSERT INTO chats (title, created_at, updated_at, settings) VALUES (?, ?, ?, ?)",
                               (_check_title(title), now, now, settings_json))
        settings = dict(settings or {})
        return Chat(cur.lastrowid, title, now, now, settings)

    def list_chats(self) -> list[Chat]:
        """All chats, most recently updated first."""
        with self._reading() as conn:
            rows = conn.execute(f"SELECT {_CHAT_COLUMNS} FROM chats ORDER BY updated_at DESC, id DESC").fetchall()
        return [_chat(row) for row in rows]

    def get_chat(self, chat_id: int) -> Chat:
        with self._reading() as conn:
            row = conn.execute(f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = ?", (chat_id,)).fetchone()
        if row is None:
            raise RowNotFound("chat", chat_id)
        return _chat(row)

    def rename_chat(self, chat_id: int, title: str) -> None:
        self._update_chat(chat_id, "title", _check_title(title))

    def update_chat_settings(self, chat_id: int, settings: dict[str, Any]) -> None:
        """Replace the chat's settings (model, sampling, system prompt ...) with ``settings``."""
        self._update_chat(chat_id, "settings", dump_json(settings, "chat settings"))

    def _update_chat(self, chat_id: int, column: str, value: Any) -> None:
        with self._writing() as conn:
            cur = conn.execute(f"UPDATE chats SET {column} = ?, updated_at = ? WHERE id = ?",
                               (value, self._clock(), chat_id))
            if cur.rowcount == 0:
                raise RowNotFound("chat", chat_id)

    def delete_chat(self, chat_id: int) -> None:
        """Delete the chat with its messages and document links (the documents themselves stay)."""
        with self._writing() as conn:
            if conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,)).rowcount == 0:
                raise RowNotFound("chat", chat_id)

    def search_chats(self, text: str) -> list[Chat]:
        """Chats whose title or any message's answer contains ``text`` (case-insensitive for ASCII)."""
        if not text.strip():
            return self.list_chats()
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_CHAT_COLUMNS} FROM chats AS c WHERE c.title LIKE :p ESCAPE '\\' OR EXISTS "
                f"(SELECT 1 FROM messages AS m WHERE m.chat_id = c.id AND m.content LIKE :p ESCAPE '\\') "
                f"ORDER BY updated_at DESC, id DESC", {"p": pattern}).fetchall()
        return [_chat(row) for row in rows]

    # --- messages -----------------------------------------------------------------------------------
    def add_message(self, chat_id: int, role: str, content: str = "", reasoning: str = "",
                    status: str = "complete", stats: dict[str, Any] | None = None,
                    model: str | None = None) -> Message:
        """Append a message to the chat; the first user message names a chat still called "New chat"."""
        check_role(role)
        check_status(status)
        stats_json, now = dump_json(stats or {}, "message stats"), self._clock()
        stats = dict(stats or {})
        with self._writing() as conn:
            row = conn.execute("SELECT title FROM chats WHERE id = ?", (chat_id,)).fetchone()
            if row is None:
                raise RowNotFound("chat", chat_id)
            cur = conn.execute(
                "INSERT INTO messages (chat_id, role, status, created_at, updated_at, model, stats, reasoning, "
                "content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chat_id, role, status, now, now, model, stats_json, reasoning, content))
            title = title_from_text(content) if role == "user" and row[0] == DEFAULT_TITLE else ""
            conn.execute("UPDATE chats SET updated_at = ?, title = coalesce(nullif(?, ''), title) WHERE id = ?",
                         (now, title, chat_id))
        return Message(cur.lastrowid, chat_id, role, content, reasoning, status, now, now, stats, model)

    def append_to_message(self, message_id: int, reasoning_delta: str = "", answer_delta: str = "") -> None:
        """The streaming path: append deltas to the stored reasoning and answer, and commit."""
        if not reasoning_delta and not answer_delta:
            return
        now = self._clock()
        with self._writing() as conn:
            cur = conn.execute("UPDATE messages SET reasoning = reasoning || ?, content = content || ?, "
                               "updated_at = ? WHERE id = ?", (reasoning_delta, answer_delta, now, message_id))
            if cur.rowcount == 0:
                raise RowNotFound("message", message_id)
            conn.execute("UPDATE chats SET updated_at = ? WHERE id = (SELECT chat_id FROM messages WHERE id = ?)",
                         (now, message_id))

    def finish_message(self, message_id: int, status: str, stats: dict[str, Any] | None = None) -> None:
        """End a stream: set the final status ("complete", "stopped", "error" ...) and, if given, the stats."""
        if check_status(status) == "streaming":
            raise ValueError("finish_message needs a final status, not 'streaming'")
        self.update_message(message_id, status=status, stats=stats)

    def update_message(self, message_id: int, content: str | None = None, reasoning: str | None = None,
                       status: str | None = None, stats: dict[str, Any] | None = None) -> None:
        """Replace the given fields (those left ``None`` keep their value)."""
        fields = {"content": content, "reasoning": reasoning,
                  "status": None if status is None else check_status(status),
                  "stats": None if stats is None else dump_json(stats, "message stats")}
        fields = {name: value for name, value in fields.items() if value is not None}
        now = self._clock()
        with self._writing() as conn:
            assignments = "".join(f"{name} = :{name}, " for name in fields)
            cur = conn.execute(f"UPDATE messages SET {assignments}updated_at = :now WHERE id = :id",
                               {**fields, "now": now, "id": message_id})
            if cur.rowcount == 0:
                raise RowNotFound("message", message_id)
            conn.execute("UPDATE chats SET updated_at = ? WHERE id = (SELECT chat_id FROM messages WHERE id = ?)",
                         (now, message_id))

    def get_message(self, message_id: int) -> Message:
        with self._reading() as conn:
            row = conn.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise RowNotFound("message", message_id)
        return _message(row)

    def messages(self, chat_id: int) -> list[Message]:
        """The chat's messages in the order they were added."""
        with self._reading() as conn:
            rows = conn.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? ORDER BY id",
                                (chat_id,)).fetchall()
        return [_message(row) for row in rows]

    def delete_message(self, message_id: int) -> None:
        with self._writing() as conn:
            row = conn.execute("SELECT chat_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise RowNotFound("message", message_id)
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            conn.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (self._clock(), row[0]))

    def delete_messages_from(self, chat_id: int, message_id: int) -> int:
        """Regenerate/edit: delete ``message_id`` and every later message of the chat; return how many."""
        with self._writing() as conn:
            row = conn.execute("SELECT 1 FROM messages WHERE id = ? AND chat_id = ?", (message_id, chat_id)).fetchone()
            if row is None:
                raise RowNotFound("message", message_id)
            count = conn.execute("DELETE FROM messages WHERE chat_id = ? AND id >= ?", (chat_id, message_id)).rowcount
            conn.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (self._clock(), chat_id))
        return count

    def recover_interrupted(self) -> int:
        """At start-up: mark every message still "streaming" as "interrupted", keeping its text; return how many.

        Timestamps are left as they are, so ``updated_at`` still says when the last delta arrived.
        """
        with self._writing() as conn:
            return conn.execute("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'").rowcount


def _check_title(title: str) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValueError("a chat title must be a non-empty string")
    return title


def _chat(row: tuple) -> Chat:
    return Chat(row[0], row[1], row[2], row[3], load_json(row[4]))


def _message(row: tuple) -> Message:
    return Message(*row[:8], load_json(row[8]), row[9])
