"""What a frozen (PyInstaller) build needs at run time, shared by its two programs. No torch, no Qt.

The installed bundle is one folder with two executables side by side: ``ponder`` (the window, which holds
no torch) and ``ponder-engine`` (the engine server, which holds no Qt); they share the Python runtime and
``resources/`` in the bundle's contents folder (``sys._MEIPASS``). The window starts the engine by running
its sibling executable, so nothing ever re-launches the window by mistake.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

GUI_EXECUTABLE = "ponder"
ENGINE_EXECUTABLE = "ponder-engine"
PRECISION_RUN_FLAG = "--bench-precision-run"  # ponder-engine runs one benchmark precision (core.bench.precision_run)
# The ``ponder`` subcommands (core.cli). The window program, which may not import the command line, runs them
# through ``python -m core.cli`` from source and through the sibling ``ponder-engine`` in a bundle.
CLI_COMMANDS = ("generate", "plan", "serve", "doc", "bench", "models", "pull", "engine")


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def executable_name(name: str, platform: str | None = None) -> str:
    """``ponder-engine`` -> ``ponder-engine.exe`` on Windows."""
    return name + ".exe" if (platform or sys.platform) == "win32" else name


def sibling_executable(name: str) -> Path:
    """The bundle's other program, next to the running executable (macOS: both in ``Contents/MacOS``)."""
    return Path(sys.executable).resolve().with_name(executable_name(name))


def guard_streams() -> None:
    """Windowed/frozen programs may get ``None`` for stdout/stderr; writing to them would crash: use devnull."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as the process
