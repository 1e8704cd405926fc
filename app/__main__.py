"""Entry point of the ``ponder`` command: the desktop app, the engine (frozen builds), or the command line.

- ``ponder``: the window opens at once; the engine starts behind it (the status line says how far).
- ``ponder engine ...``: the engine server (``python -m core.server``'s main). A frozen build has no
  ``python -m``, so the GUI re-launches its own executable with this subcommand.
- ``ponder generate|plan|serve ...``: the command line (``core.cli``), which never imports Qt.

Windowed and frozen executables may have no stdout/stderr (``None``): they are pointed at devnull before
anything writes to them. ``multiprocessing.freeze_support()`` comes first, as PyInstaller requires.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def guard_streams() -> None:
    """Windowed/frozen apps get ``None`` streams; writing to them would crash. Send them to devnull."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as the app


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    guard_streams()
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "engine":
        from core.server.__main__ import main as engine_main

        return engine_main(args[1:])
    if args:
        from core.cli import main as cli_main

        return cli_main(args)
    return run_gui()


def run_gui() -> int:
    from app.app_logging import configure_logging

    log_file = configure_logging()
    import logging

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from core.store import Store, StoreError, default_store_path

    log = logging.getLogger("app")
    QCoreApplication.setOrganizationName("Ponder")
    QCoreApplication.setOrganizationDomain("ponder.local")
    QCoreApplication.setApplicationName("Ponder")
    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("Ponder")
    try:
        store, note = Store.open_or_recover(default_store_path())
    except StoreError as exc:
        from app.dialogs.error_dialog import ErrorDialog, explain

        ErrorDialog(explain(exc, "Ponder cannot open its chat database")).exec()
        return 1
    window = MainWindow(store, log_file=log_file, store_note=note)
    window.show()
    window.start()
    quit_on_signals(app)
    log.info("Ponder started (log %s)", log_file)
    code = app.exec()
    window.shutdown()
    store.close()
    log.info("Ponder stopped")
    return code


def quit_on_signals(app) -> None:
    """SIGTERM/SIGINT close the app cleanly (the engine is stopped too); a timer lets Python see them."""
    import signal

    from PySide6.QtCore import QTimer

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.quit())
    heartbeat = QTimer(app, interval=250)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start()


if __name__ == "__main__":
    sys.exit(main())
