"""Light, dark or the system's colours (Qt 6.5+ ``QStyleHints.colorScheme``), and the About text.

"system" follows the desktop and its changes; "light"/"dark" pin the scheme with
``QStyleHints.setColorScheme`` (Qt 6.8+). Where the style ignores the scheme (some platform styles), a
plain Fusion palette of that scheme is applied instead so the choice always shows.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QActionGroup, QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMenu

from core.paths import engine_log_file

CUSTOM_PALETTE = "ponderCustomPalette"  # an application property: set while our fallback palette is in use
THEMES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


def add_theme_actions(menu: QMenu, choose: Callable[[str], None]) -> dict:
    group = QActionGroup(menu)
    actions = {}
    for key, label in THEMES.items():
        action = menu.addAction(label)
        action.setCheckable(True)
        action.triggered.connect(lambda _checked=False, k=key: choose(k))
        group.addAction(action)
        actions[key] = action
    return actions


def apply(name: str) -> None:
    app = QApplication.instance()
    if app is None:
        return
    hints = QGuiApplication.styleHints()
    if app.property(CUSTOM_PALETTE):  # undo our own palette first; the style's palette follows the scheme
        app.setPalette(QPalette())
        app.setProperty(CUSTOM_PALETTE, False)
    if name == "system":
        hints.unsetColorScheme()
        return
    scheme = Qt.ColorScheme.Dark if name == "dark" else Qt.ColorScheme.Light
    hints.setColorScheme(scheme)
    window = app.palette().color(QPalette.ColorRole.Window)
    if (window.lightness() < 128) != (name == "dark"):  # the style did not follow: use our own palette
        app.setPalette(dark_palette() if name == "dark" else app.style().standardPalette())
        app.setProperty(CUSTOM_PALETTE, True)


def dark_palette() -> QPalette:
    p = QPalette()
    colours = {
        QPalette.ColorRole.Window: QColor(37, 37, 40), QPalette.ColorRole.WindowText: QColor(225, 225, 228),
        QPalette.ColorRole.Base: QColor(28, 28, 30), QPalette.ColorRole.AlternateBase: QColor(46, 46, 50),
        QPalette.ColorRole.Text: QColor(225, 225, 228), QPalette.ColorRole.Button: QColor(48, 48, 52),
        QPalette.ColorRole.ButtonText: QColor(225, 225, 228), QPalette.ColorRole.Highlight: QColor(62, 120, 200),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255), QPalette.ColorRole.ToolTipBase: QColor(50, 50, 54),
        QPalette.ColorRole.ToolTipText: QColor(225, 225, 228), QPalette.ColorRole.PlaceholderText: QColor(140, 140, 146),
        QPalette.ColorRole.Link: QColor(110, 160, 240), QPalette.ColorRole.Mid: QColor(70, 70, 75),
    }
    for role, colour in colours.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 126))
    return p


def about_text(engine_version: str | None, log_file: Path | None) -> str:
    try:
        version = metadata.version("ponder")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return (f"<b>Ponder {version}</b><br>Reason over long documents with local DeepSeek-R1-style models."
            f"<br><br>Engine: {engine_version or 'not running'}<br>Python {platform.python_version()} · "
            f"Qt {qVersion()} · PySide6 {pyside_version}<br>{platform.platform()}"
            f"{' (frozen)' if getattr(sys, 'frozen', False) else ''}"
            f"<br><br>App log: {log_file or 'not written'}<br>Engine log: {engine_log_file()}")
