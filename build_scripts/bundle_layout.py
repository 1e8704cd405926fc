"""What goes into the installed bundle, as plain lists: ``ponder.spec`` builds from them, ``build.py``
reports sizes with them, and ``tests/test_packaging.py`` checks them without building anything.

One onedir bundle, two programs sharing one folder (the Python runtime, shared libraries, ``resources/``):

- ``ponder``: the window (PySide6: QtCore, QtGui, QtWidgets only). Its analysis excludes what the window may
  never reach (pyproject.toml's import contract "window-side", read here: the one list of the process
  boundary) and the packages torch drags in, so a stray import drops out of the build instead of adding a
  gigabyte.
- ``ponder-engine``: the engine server (torch, FastAPI, uvicorn). Its analysis excludes every Qt binding.

Whether torch brings CUDA is decided by the torch wheel installed in the build environment (the CPU wheel
pinned in constraints.txt brings none), never by excluding torch submodules.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from core.frozen import ENGINE_EXECUTABLE, GUI_EXECUTABLE

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
WINDOW_CONTRACT = "window-side"

APP_NAME = "Ponder"
APP_ID = "ponder"  # the bundle folder, the .desktop file, the icon name
BUNDLE_IDENTIFIER = "local.ponder.Ponder"  # macOS

GUI_NAME = GUI_EXECUTABLE
ENGINE_NAME = ENGINE_EXECUTABLE
GUI_ENTRY = "build_scripts/entries/ponder_gui.py"
ENGINE_ENTRY = "build_scripts/entries/ponder_engine.py"

# The Qt modules the window imports; every other PySide6 module is excluded by name (never collect_all).
QT_MODULES_USED = ["PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"]
QT_MODULES_EXCLUDED = [f"PySide6.{name}" for name in (
    "QtWebEngineCore", "QtWebEngineWidgets", "QtWebEngineQuick", "QtWebChannel", "QtWebSockets", "QtWebView",
    "QtQml", "QtQuick", "QtQuick3D", "QtQuickControls2", "QtQuickWidgets", "QtQuickTest",
    "Qt3DCore", "Qt3DRender", "Qt3DInput", "Qt3DLogic", "Qt3DAnimation", "Qt3DExtras",
    "QtMultimedia", "QtMultimediaWidgets", "QtSpatialAudio", "QtTextToSpeech",
    "QtCharts", "QtDataVisualization", "QtGraphs", "QtGraphsWidgets", "QtCanvasPainter",
    "QtPdf", "QtPdfWidgets", "QtDesigner", "QtUiTools", "QtHelp", "QtTest", "QtSql",
    "QtNetwork", "QtNetworkAuth", "QtHttpServer", "QtOpenGL", "QtOpenGLWidgets", "QtPrintSupport",
    "QtBluetooth", "QtNfc", "QtPositioning", "QtLocation", "QtSensors", "QtSerialPort", "QtSerialBus",
    "QtRemoteObjects", "QtScxml", "QtStateMachine", "QtConcurrent", "QtDBus", "QtSvg", "QtSvgWidgets",
    "QtAxContainer",
)]
OTHER_QT_BINDINGS = ["PyQt5", "PyQt6", "PySide2", "shiboken2"]  # one binding per build, or PyInstaller aborts

# Never in either program: test and development tools that happen to be in the build environment, and the
# build scripts (the bundled model's training among them: it builds the product, the product never runs it).
DEV_ONLY = ["pytest", "_pytest", "pytestqt", "pytest_timeout", "transformers", "openai", "fpdf", "importlinter",
            "grimp", "IPython", "matplotlib", "tkinter", "_tkinter", "PIL", "PyInstaller", "build_scripts"]


def window_forbidden(pyproject: Path = PYPROJECT) -> list[str]:
    """The modules and packages the window may never reach: the import contract's list."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return list(next(c for c in contracts if c.get("id") == WINDOW_CONTRACT)["forbidden_modules"])


# What the window may never reach (the contract), and what torch brings along when something imports it.
ENGINE_ONLY = [*window_forbidden(), "torchvision", "torchaudio", "triton", "functorch", "sympy", "networkx", "mpmath"]

GUI_EXCLUDES = ENGINE_ONLY + QT_MODULES_EXCLUDED + OTHER_QT_BINDINGS + DEV_ONLY
ENGINE_EXCLUDES = ["PySide6", "shiboken6", "app", *OTHER_QT_BINDINGS, *DEV_ONLY]

# Imported by name at run time (not visible to the analysis).
GUI_HIDDEN_IMPORTS: list[str] = []
ENGINE_HIDDEN_IMPORTS: list[str] = []  # uvicorn's protocol/loop modules come from its contrib hook

# Packages whose version is read at run time (importlib.metadata): their dist-info goes in.
GUI_METADATA = ["ponder"]
ENGINE_METADATA = ["ponder", "torch", "tokenizers", "safetensors", "huggingface-hub", "fastapi", "uvicorn",
                   "pydantic"]

# Data: (source relative to the repository, destination in the bundle). The model is added by build.py.
RESOURCE_DIRS = [("resources/icons", "resources/icons"), ("resources/samples", "resources/samples"),
                 ("resources/catalog", "resources/catalog")]
MODELS_DEST = "resources/models"
# The decode kernels: their C source (compiled at first use where the user has a compiler) and libraries
# prebuilt here for every instruction set of this architecture, which the engine loads from KERNELS_DEST.
KERNEL_SOURCE = ("core/kernels/gemv.c", "core/kernels")
KERNELS_DEST = "kernels"


def prebuilt_kernels(out_dir: Path, machine: str | None = None) -> list[tuple[str, str]]:
    """Compile the kernels for each instruction set of this machine's architecture (whatever this CPU runs:
    the compiler only needs to know the instructions) as (library, KERNELS_DEST) pairs for PyInstaller."""
    import platform

    from core.kernels.build import ISA_FLAGS, compile_library

    arm = (machine or platform.machine()).lower() in ("arm64", "aarch64")
    isas = ["neon"] if arm else [isa for isa in ISA_FLAGS if isa != "neon"]
    return [(str(compile_library(isa, out_dir)), KERNELS_DEST) for isa in isas]
