"""Where the chat database lives, and how a bad one is moved aside (never deleted)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from core.store.records import StoreError

STORE_FILE_NAME = "ponder.db"
# SQLite keeps committed data in the -wal file until a checkpoint: it moves together with the main file.
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")
_ASIDE_LABELS = {"damaged": "corrupt", "foreign": "foreign", "newer": "newer"}


def default_data_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """Ponder's per-user data folder.

    ``$PONDER_DATA_DIR`` if set; else ``~/Library/Application Support/Ponder`` on macOS,
    ``%APPDATA%\\Ponder`` on Windows, ``$XDG_DATA_HOME/ponder`` or ``~/.local/share/ponder`` elsewhere.
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if env.get("PONDER_DATA_DIR"):
        return Path(env["PONDER_DATA_DIR"]).expanduser()
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Ponder"
    if platform.startswith("win"):
        base = env.get("APPDATA")
        return (Path(base) if base else Path.home() / "AppData" / "Roaming") / "Ponder"
    base = env.get("XDG_DATA_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".local" / "share") / "ponder"


def default_store_path(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The chat database file in the user data folder (the folder is created when the store opens)."""
    return default_data_dir(environ, platform) / STORE_FILE_NAME


def move_aside(path: Path, reason: str, now: float) -> Path:
    """Rename ``path`` (and its -wal/-shm/-journal files) to ``<name>.<label>-<timestamp>``; return the new path.

    Nothing is deleted or overwritten: if the name is taken a counter is added.
    """
    label = _ASIDE_LABELS.get(reason, "unusable")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    aside = path.with_name(f"{path.name}.{label}-{stamp}")
    counter = 1
    while any(Path(f"{aside}{s}").exists() for s in ("", *SIDE_FILE_SUFFIXES)):
        aside = path.with_name(f"{path.name}.{label}-{stamp}-{counter}")
        counter += 1
    for suffix in ("", *SIDE_FILE_SUFFIXES):
        source = Path(f"{path}{suffix}")
        if not source.exists():
            continue
        try:
            os.rename(source, f"{aside}{suffix}")
        except OSError as exc:
            raise StoreError(f"Ponder could not move the unusable chat database {source} aside ({exc}). Move or "
                             f"rename it yourself, then start Ponder again.", path=path, reason=reason) from exc
    return aside
