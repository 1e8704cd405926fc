"""The GUI's log: a rotating file in the user cache folder (shown in Help ▸ About), plus stderr if there is one."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from core.paths import app_log_file

LOG_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def configure_logging(log_file: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Log to ``log_file`` (default: ``core.paths.app_log_file()``); returns the file, or None if it cannot be written."""
    path = log_file or app_log_file()
    root = logging.getLogger()
    root.setLevel(level)
    formatter = logging.Formatter(LOG_FORMAT)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(path, maxBytes=5 * 2**20, backupCount=3,
                                                                         encoding="utf-8")
    except OSError as exc:
        handler, path = logging.StreamHandler(sys.stderr), None
        print(f"ponder: cannot write the log file ({exc}); logging to stderr", file=sys.stderr)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    if sys.stderr is not None and path is not None and sys.stderr.isatty():
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(formatter)
        root.addHandler(console)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
