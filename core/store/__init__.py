"""Ponder's durable state in one SQLite file (WAL): chats, messages, documents, benchmark runs.

No Qt, no torch: the GUI imports it. ``Store`` (store.py) is the whole API; records.py has the row
types and ``StoreError``; schema.py the file, its checks and migrations; aside.py moving an unusable file aside. Where the file
lives: ``core.paths.default_store_path``.
"""

from core.store.records import (DEFAULT_TITLE, ROLES, STATUSES, BenchRun, Chat, Document, Message, RowNotFound,
                                StoreError)
from core.store.schema import SCHEMA_VERSION
from core.store.store import Store

__all__ = ["DEFAULT_TITLE", "ROLES", "SCHEMA_VERSION", "STATUSES", "BenchRun", "Chat", "Document", "Message",
           "RowNotFound", "Store", "StoreError"]
