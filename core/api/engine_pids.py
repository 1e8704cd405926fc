"""Pid files of the engines windows started, so an engine whose window died is stopped at the next start.

An engine started by a window (``PONDER_PARENT_PID`` in its environment) writes ``<pid>.json`` into
``core.paths.engine_pids_dir()``: its pid and process start time, and its parent's. The engine exits by
itself when its window goes (``core.server.parent_watch``); the file is the safety net for an engine that
could not (wedged in native code, the machine suspended at the wrong moment): ``stop_orphaned_engines``,
run when a window starts, stops every recorded engine whose parent is gone, and removes stale files.
Start times guard against pid reuse: a recorded pid now held by another program is left alone.
No torch and no Qt: both processes use it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import psutil

from core.paths import engine_pids_dir

log = logging.getLogger(__name__)

PARENT_PID_ENV = "PONDER_PARENT_PID"  # set by the window's EngineSubprocess: the engine watches this process


def process_started(pid: int) -> float | None:
    """The process's start time, or None when no such process runs (a zombie counts as gone)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.Error, OSError, ValueError):
        return None


def register(parent_pid: int, folder: Path | None = None) -> Path | None:
    """Write this engine's pid file; None (and a log line) when it cannot be written."""
    folder = folder or engine_pids_dir()
    path = folder / f"{os.getpid()}.json"
    record = {"pid": os.getpid(), "started": process_started(os.getpid()), "parent_pid": parent_pid,
              "parent_started": process_started(parent_pid)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record), encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write the engine's pid file %s (%s)", path, exc)
        return None
    return path


def unregister(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove the engine's pid file %s (%s)", path, exc)


def stop_orphaned_engines(folder: Path | None = None, wait_s: float = 3.0) -> list[int]:
    """Stop the recorded engines whose window is gone (terminate, wait, kill); returns their pids."""
    folder = folder or engine_pids_dir()
    stopped: list[int] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            pid, started = int(record["pid"]), record.get("started")
            parent, parent_started = int(record["parent_pid"]), record.get("parent_started")
        except (OSError, ValueError, KeyError, TypeError):
            unregister(path)  # unreadable: nothing can be done with it
            continue
        if started is None or process_started(pid) != started:
            unregister(path)  # that engine is gone (its pid may belong to another program now)
            continue
        if parent_started is not None and process_started(parent) == parent_started:
            continue  # its window still runs
        log.warning("stopping engine %d: the window that started it (pid %d) is gone", pid, parent)
        try:
            process = psutil.Process(pid)
            process.terminate()
            try:
                process.wait(wait_s)
            except psutil.TimeoutExpired:
                process.kill()
                process.wait(wait_s)
        except psutil.Error as exc:
            log.warning("could not stop orphaned engine %d (%s)", pid, exc)
            continue
        stopped.append(pid)
        unregister(path)
    return stopped
