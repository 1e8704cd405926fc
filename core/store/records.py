"""Row types and errors of the store: frozen dataclasses, validated on construction.

Timestamps (``created_at``, ``updated_at``) are Unix epoch seconds as floats. JSON-valued fields
(``settings``, ``stats``, ``parsed``, ``machine``, ``config``, ``results``) are plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

DEFAULT_TITLE = "New chat"
TITLE_MAX_CHARS = 60
STATUSES = ("complete", "streaming", "interrupted", "stopped", "error")
ROLES = ("system", "user", "assistant", "tool")

ErrorReason = Literal["damaged", "foreign", "newer", "unreadable", "busy", "closed", "missing"]
# The reasons that mean "this file is not a database we can use": open_or_recover moves such a file aside.
MOVABLE_REASONS = ("damaged", "foreign", "newer")


class StoreError(Exception):
    """The chat database cannot do what was asked; ``str(error)`` is a sentence for the user.

    ``reason``: "damaged" (not SQLite, or corrupt), "foreign" (another program's SQLite file), "newer"
    (written by a newer Ponder), "unreadable" (I/O or permission trouble), "busy" (locked by another
    process for longer than the busy timeout), "closed" (used after ``close()``), "missing" (no such row).
    """

    def __init__(self, message: str, *, path: Path | None = None, reason: ErrorReason = "unreadable") -> None:
        super().__init__(message)
        self.path, self.reason = path, reason


class RowNotFound(StoreError, LookupError):
    """No chat, message, document or benchmark run has that id (deleted meanwhile, or never existed)."""

    def __init__(self, kind: str, row_id: int) -> None:
        super().__init__(f"no {kind} with id {row_id} in the chat database", reason="missing")
        self.kind, self.row_id = kind, row_id


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"message status must be one of {', '.join(STATUSES)}; got {status!r}")
    return status


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"message role must be one of {', '.join(ROLES)}; got {role!r}")
    return role


def title_from_text(text: str, max_chars: int = TITLE_MAX_CHARS) -> str:
    """A chat title from a user message: its first non-blank line, shortened to about ``max_chars``."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if len(line) <= max_chars:
        return line
    cut = line[: max_chars - 1]
    space = cut.rfind(" ")
    if space >= max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    title: str
    created_at: float
    updated_at: float
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    chat_id: int
    role: str
    content: str
    reasoning: str
    status: str
    created_at: float
    updated_at: float
    stats: dict[str, Any]
    model: str | None

    def __post_init__(self) -> None:
        check_role(self.role)
        check_status(self.status)


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    sha256: str
    name: str
    mime: str
    size_bytes: int
    parsed: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class BenchRun:
    id: int
    model: str
    machine: dict[str, Any]
    config: dict[str, Any]
    results: dict[str, Any]
    created_at: float
