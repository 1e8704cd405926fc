"""The database file: connections, the schema and its migrations, and what a bad file looks like.

The schema version lives in ``PRAGMA user_version``: version N means the first N entries of
``MIGRATIONS`` have run. To change the schema, append a migration (never edit a released one); it
runs once, in one transaction together with the version bump, the first time a newer Ponder opens the
file. ``PRAGMA application_id`` marks the file as Ponder's, so another program's SQLite file is never
migrated or otherwise written to.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.store.records import StoreError

APPLICATION_ID = 0x506F6E64  # "Pond"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: chats, messages, documents, benchmark runs
        """CREATE TABLE chats (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            settings TEXT NOT NULL DEFAULT '{}')""",
        "CREATE INDEX chats_by_update ON chats (updated_at DESC, id DESC)",
        # Small columns first, the two texts that grow while streaming last.
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            model TEXT,
            stats TEXT NOT NULL DEFAULT '{}',
            reasoning TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX messages_by_chat ON messages (chat_id, id)",
        "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
        """CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sha256 TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            mime TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            parsed_zlib BLOB NOT NULL,
            created_at REAL NOT NULL)""",
        """CREATE TABLE chat_documents (
            chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
            document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            linked_at REAL NOT NULL,
            PRIMARY KEY (chat_id, document_id))""",
        "CREATE INDEX chat_documents_by_document ON chat_documents (document_id)",
        """CREATE TABLE bench_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            model TEXT NOT NULL,
            machine TEXT NOT NULL,
            config TEXT NOT NULL,
            results TEXT NOT NULL,
            created_at REAL NOT NULL)""",
        "CREATE INDEX bench_runs_by_model ON bench_runs (model, created_at DESC)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26
_SQLITE_HEADER = b"SQLite format 3\x00"


def translate_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """A sqlite3 error as a ``StoreError`` that names the file and says what to do."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StoreError(f"The chat database {path} is damaged ({exc}). Ponder can move it aside and start a "
                          f"new one; the old file is kept, nothing is deleted.", path=path, reason="damaged")
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StoreError(f"The chat database {path} stayed locked by another process ({exc}). Close other "
                          f"Ponder windows or programs using it and try again.", path=path, reason="busy")
    return StoreError(f"Cannot use the chat database {path} ({exc}). Check that the file and its folder are "
                      f"readable and writable and that the disk is not full.", path=path, reason="unreadable")


def connect(path: Path, busy_timeout_ms: int, *, create: bool) -> sqlite3.Connection:
    """One connection with Ponder's per-connection settings, in autocommit mode (transactions are explicit).

    ``check_same_thread=False`` only so that ``Store.close()`` may close every thread's connection;
    each connection is still used by one thread at a time.
    """
    uri = f"{path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None,
                           check_same_thread=False, factory=_Connection)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a commit survives a process kill, no fsync per commit
    except BaseException:
        conn.close()
        raise
    return conn


class _Connection(sqlite3.Connection):
    """A subclass only so that connections can be held in a ``weakref.WeakSet``."""


def open_database(path: Path, busy_timeout_ms: int, *, verify: bool = False) -> sqlite3.Connection:
    """Open or create the file, check it is a Ponder database we understand, migrate it, switch to WAL.

    Raises ``StoreError`` (reason "damaged", "foreign", "newer", "unreadable" or "busy"); a file
    that is not ours is never written to. ``verify`` also reads every page (``PRAGMA quick_check``,
    about 30 ms per 100 MB from the page cache) so that damage inside the file is found now.
    """
    if path.exists() and not path.is_file():
        raise StoreError(f"The chat database path {path} is not a file. Move whatever is there away or "
                         f"choose another data folder.", path=path, reason="unreadable")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the folder for the chat database {path} ({exc}).", path=path,
                         reason="unreadable") from exc
    if path.is_file() and path.stat().st_size > 0:
        _check_existing(path, busy_timeout_ms, verify)
    try:
        conn = connect(path, busy_timeout_ms, create=True)
    except sqlite3.Error as exc:
        raise translate_error(exc, path) from exc
    try:
        _check_identity(conn, path)  # again: another process may have created it meanwhile
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise StoreError(f"The chat database {path} cannot use write-ahead logging (is it on a network "
                             f"drive?). Choose a data folder on a local disk.", path=path, reason="unreadable")
        _migrate(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise translate_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _check_existing(path: Path, busy_timeout_ms: int, verify: bool) -> None:
    """Identify an existing file without writing to it (SQLite may delete a -wal it deems stale on open)."""
    try:
        with path.open("rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"Cannot read the chat database {path} ({exc}). Check its permissions.", path=path,
                         reason="unreadable") from exc
    if header != _SQLITE_HEADER:
        raise StoreError(f"The chat database {path} is damaged (it is not an SQLite file). Ponder can move it "
                         f"aside and start a new one; the old file is kept, nothing is deleted.",
                         path=path, reason="damaged")
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise translate_error(exc, path) from exc
    try:
        _check_identity(conn, path)
        problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0] if verify else "ok"
    except sqlite3.Error as exc:
        raise translate_error(exc, path) from exc
    finally:
        conn.close()
    if problem != "ok":
        raise StoreError(f"The chat database {path} is damaged ({problem}). Ponder can move it aside and start "
                         f"a new one; the old file is kept, nothing is deleted.", path=path, reason="damaged")


def _identity(conn: sqlite3.Connection) -> tuple[int, int, int]:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    return app_id, version, objects


def _check_identity(conn: sqlite3.Connection, path: Path) -> None:
    app_id, version, objects = _identity(conn)
    if app_id == 0 and version == 0 and objects == 0:
        return  # a new (empty) file
    if app_id != APPLICATION_ID:
        raise StoreError(f"{path} is not a Ponder chat database (it looks like another program's SQLite file). "
                         f"Ponder can move it aside and start a new one; the file is kept.",
                         path=path, reason="foreign")
    if version > SCHEMA_VERSION:
        raise StoreError(f"The chat database {path} was written by a newer version of Ponder (schema {version}; "
                         f"this version knows up to {SCHEMA_VERSION}). Update Ponder to open it, or let this "
                         f"version move it aside and start a new one (the file is kept).",
                         path=path, reason="newer")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")  # re-read under the write lock: another process may have migrated meanwhile
    try:
        app_id, version, objects = _identity(conn)
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and objects) or version > SCHEMA_VERSION:
            raise StoreError(f"The chat database {path} was changed by another program while Ponder opened it; "
                             f"try again.", path=path, reason="busy")
        for statements in MIGRATIONS[version:]:
            for sql in statements:
                conn.execute(sql)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
