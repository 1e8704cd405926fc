"""Entry point of the ``ponder`` command: the desktop app, the engine, or the command line.

- ``ponder [FILE...]``: the window opens at once (with these documents in a chat); the engine starts behind
  it (the status line says how far).
- ``ponder --self-test``: the window answers one question and closes (``app.self_test``).
- ``ponder engine ...``: the engine server (``python -m core.server``'s main), in this process.
- ``ponder generate|plan|serve ...``: the command line (``core.cli``), which never imports Qt.

The frozen bundle's window program is ``app.launch.gui_main`` instead (no engine, no command line: those
would pull torch into the window's bundle); its engine is the sibling ``ponder-engine`` executable.
Windowed executables may have no stdout/stderr (``None``): they are pointed at devnull before anything
writes to them. ``multiprocessing.freeze_support()`` comes first.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

from app.launch import quit_on_signals, run_gui  # noqa: F401 - re-exported for callers of the old home
from core.frozen import guard_streams


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    guard_streams()
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--self-test":
        from app.self_test import run_self_test

        return run_self_test(args[1:])
    if args and args[0] == "engine":
        from core.server.__main__ import main as engine_main

        return engine_main(args[1:])
    if args and all(Path(a).is_file() for a in args):  # "Open with Ponder": the window, with these documents
        return run_gui(documents=args)
    if args:
        from core.cli import main as cli_main

        return cli_main(args)
    return run_gui()


if __name__ == "__main__":
    sys.exit(main())
