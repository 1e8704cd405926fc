"""How an unusable chat database is moved aside (renamed with its -wal/-shm files, never deleted)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.store.records import StoreError

# SQLite keeps committed data in the -wal file until a checkpoint: it moves together with the main file.
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")
_ASIDE_LABELS = {"damaged": "corrupt", "foreign": "foreign", "newer": "newer"}


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
