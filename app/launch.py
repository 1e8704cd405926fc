"""Starting the window: the Qt application, the store, the main window, clean exit on SIGTERM/SIGINT.

``gui_main`` is the whole program of the frozen window executable (``build_scripts/entries/ponder_gui.py``):
it never imports the engine, so the window's bundle holds no torch. Its arguments:

- none, or document files: the window (the files added to a chat); the engine starts behind it (in a
  bundle: the sibling ``ponder-engine`` executable);
- ``--self-test [...]``: the window answers one question and closes (``app.self_test``; the installer's
  smoke test);
- ``engine ...``: runs the bundle's engine executable with the rest (``ponder engine --help``).

The source install's ``ponder`` command (``app.__main__``) also has the command line and runs the engine
in-process for ``ponder engine``.
"""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from core.frozen import ENGINE_EXECUTABLE, guard_streams, is_frozen, sibling_executable

log = logging.getLogger("app")


def gui_main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # a document worker ("spawn") re-runs this executable: it stops here
    guard_streams()
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--self-test":
        from app.self_test import run_self_test

        return run_self_test(args[1:])
    if args and args[0] == "engine":
        if not is_frozen():
            print("ponder: 'engine' runs the bundle's engine executable; from source use python -m core.server",
                  file=sys.stderr)
            return 2
        return subprocess.call([str(sibling_executable(ENGINE_EXECUTABLE)), *args[1:]])
    return run_gui(documents=[a for a in args if Path(a).is_file()])


def run_gui(documents: Sequence[str] = ()) -> int:
    """The window; ``documents`` (files given on the command line, e.g. by the desktop's "Open with")
    are added to a chat at once."""
    from app.app_logging import configure_logging

    log_file = configure_logging()

    from app.main_window import MainWindow
    from core.store import Store, StoreError, default_store_path

    app = make_application()
    try:
        store, note = Store.open_or_recover(default_store_path())
    except StoreError as exc:
        from app.dialogs.error_dialog import ErrorDialog, explain

        ErrorDialog(explain(exc, "Ponder cannot open its chat database")).exec()
        return 1
    window = MainWindow(store, log_file=log_file, store_note=note)
    window.show()
    window.start()
    if documents:
        window.open_documents([str(Path(d).resolve()) for d in documents])
    quit_on_signals(app)
    log.info("Ponder started (log %s, %s)", log_file, "frozen bundle" if is_frozen() else "source")
    code = app.exec()
    window.shutdown()
    store.close()
    log.info("Ponder stopped")
    return code


def make_application():
    """The QApplication with Ponder's names (they place QSettings) and its icon."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from core.server.settings import resources_dir

    QCoreApplication.setOrganizationName("Ponder")
    QCoreApplication.setOrganizationDomain("ponder.local")
    QCoreApplication.setApplicationName("Ponder")
    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("Ponder")
    app.setDesktopFileName("ponder")  # Wayland/X11: ties the window to ponder.desktop (its icon, its name)
    icon = resources_dir() / "icons" / "ponder.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def quit_on_signals(app) -> None:
    """SIGTERM/SIGINT close the app cleanly (the engine is stopped too); a timer lets Python see them."""
    import signal

    from PySide6.QtCore import QTimer

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.quit())
    heartbeat = QTimer(app, interval=250)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start()
