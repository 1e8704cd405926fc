"""The window program: ``python -m app`` from source (``ponder`` runs it), the bundle's ``ponder`` executable.

- no arguments, or document files: the window (the files added to a chat); the engine starts behind it as
  a child process (``python -m core.server``, in a bundle the sibling ``ponder-engine`` executable);
- ``--self-test [...]``: the window answers one question and closes (``app.self_test``; the installer's
  smoke test);
- anything else (``--help``, ``plan ...``, ``models``, ``pull REPO``, ``engine ...``): the ``ponder`` command line,
  which lives on the engine side: in a bundle the sibling ``ponder-engine`` executable runs it, from source
  ``python -m core.cli``; its exit status is passed on. So the installed ``ponder`` has every subcommand the
  source install has, and none of them needs a display.

It never imports the engine, so the window's bundle holds no torch. ``multiprocessing.freeze_support()``
comes first (a document parser worker re-runs a frozen executable and stops there); windowed executables
may have no stdout/stderr (``None``): they are pointed at devnull before anything writes to them.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

from core.frozen import ENGINE_EXECUTABLE, guard_streams, is_frozen, sibling_executable


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    guard_streams()
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--self-test":
        from app.self_test import run_self_test

        return run_self_test(args[1:])
    if args and not all(Path(a).is_file() for a in args):
        return run_command_line(args)
    from app.application import run_gui

    return run_gui(documents=[a for a in args if Path(a).is_file()])


def command_line(args: list[str]) -> list[str]:
    """How this program runs ``ponder ARGS`` without importing the engine side."""
    if is_frozen():
        return [str(sibling_executable(ENGINE_EXECUTABLE)), *args]
    return [sys.executable, "-m", "core.cli", *args]


def run_command_line(args: list[str]) -> int:
    try:
        return subprocess.call(command_line(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
