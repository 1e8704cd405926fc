"""The Linux system libraries Qt's X11 (xcb) platform plugin loads, and what to install when one is missing.

Qt aborts at start without them ("xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform
plugin") before any window can explain anything; ``missing_message`` says it first, in plain words, with the
install command (README: "System packages on Linux"). Best effort: a library found some other way (a bundle
that ships it) may be reported missing, so this only warns, it never stops the start.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from typing import Callable, Mapping

# library name (as ctypes.util.find_library takes it) -> (Debian/Ubuntu package, Fedora package)
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "xcb-cursor": ("libxcb-cursor0", "xcb-util-cursor"),
    "xkbcommon-x11": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "xcb-icccm": ("libxcb-icccm4", "xcb-util-wm"),
    "xcb-keysyms": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "xcb-render-util": ("libxcb-render-util0", "xcb-util-renderutil"),
    "xcb-image": ("libxcb-image0", "xcb-util-image"),
    "xcb-shape": ("libxcb-shape0", "libxcb"),
    "EGL": ("libegl1", "libglvnd-egl"),
    "GL": ("libgl1", "libglvnd-glx"),
    "fontconfig": ("libfontconfig1", "fontconfig"),
    "dbus-1": ("libdbus-1-3", "dbus-libs"),
}


def uses_xcb(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will load its xcb plugin: Linux, an X display, no other platform asked for."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return False
    wanted = env.get("QT_QPA_PLATFORM", "")
    if wanted:
        return wanted.startswith("xcb")
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def missing_libraries(find: Callable[[str], str | None] = ctypes.util.find_library) -> list[str]:
    return [name for name in XCB_LIBRARIES if find(name) is None]


def missing_message(missing: list[str]) -> str:
    """What to tell the user about ``missing`` libraries ("" when none)."""
    if not missing:
        return ""
    debian = " ".join(XCB_LIBRARIES[name][0] for name in missing)
    fedora = " ".join(dict.fromkeys(XCB_LIBRARIES[name][1] for name in missing))
    names = ", ".join(f"lib{name}" for name in missing)
    return (f"Ponder's window needs system libraries that seem to be missing: {names}. Install them with\n"
            f"  sudo apt install {debian}    (Debian, Ubuntu)\n"
            f"  sudo dnf install {fedora}    (Fedora)\n"
            "and start Ponder again. The command line (ponder plan, ponder generate, ...) works without them.")
