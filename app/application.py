"""The window's application: the Qt application, the store, the main window, clean exit on SIGTERM/SIGINT.

``run_gui`` is the window; ``app.__main__`` decides when it runs (the window program's entry point).
"""

from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path
from typing import Sequence

from core.frozen import is_frozen

log = logging.getLogger("app")


def run_gui(documents: Sequence[str] = ()) -> int:
    """The window; ``documents`` (files given on the command line, e.g. by the desktop's "Open with")
    are added to a chat at once."""
    from app.app_logging import configure_logging
    from core.heap import return_large_blocks_at_once

    return_large_blocks_at_once()  # a long document's indexes are built in this process (see core.heap)
    log_file = configure_logging()
    warn_missing_libraries()

    from app.main_window import MainWindow
    from core.paths import default_store_path
    from core.store import Store, StoreError

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
    gc.freeze()  # what start-up made lives as long as the window; full collections stop walking it (~50 ms each)
    if documents:
        window.open_documents([str(Path(d).resolve()) for d in documents])
    quit_on_signals(app)
    log.info("Ponder started (log %s, %s)", log_file, "frozen bundle" if is_frozen() else "source")
    code = app.exec()
    window.shutdown()
    store.close()
    log.info("Ponder stopped")
    return code


def warn_missing_libraries() -> None:
    """Before Qt aborts for want of an X11 library, say which and how to install it (stderr and the log)."""
    from app.system_libraries import missing_libraries, missing_message, uses_xcb

    message = missing_message(missing_libraries()) if uses_xcb() else ""
    if message:
        log.warning("%s", message)
        print(message, file=sys.stderr, flush=True)


def make_application():
    """The QApplication with Ponder's names (they place QSettings) and its icon."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from core.paths import resources_dir

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
