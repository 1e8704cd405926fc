"""Every place Ponder reads or writes on disk, in one module: user data, caches, logs, bundled resources.

- data (``$PONDER_DATA_DIR``, else the platform's per-user data folder): the chat database;
- cache (``$PONDER_CACHE_DIR``, else ``~/.cache/ponder``): logs, downloaded models, the CPU speed probe,
  the benchmark's random checkpoint; everything there can be rebuilt or downloaded again;
- resources (the source checkout's ``resources/``, or the frozen bundle's): icons and bundled models.

No torch and no Qt: both processes and the command line use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

STORE_FILE_NAME = "ponder.db"
BUNDLED_MODEL = "ponder-reasoner-mini"
DEFAULT_MODEL_FILE = "default-model.txt"  # in resources/models/ of a bundle built with another model (--model)


def default_data_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """Ponder's per-user data folder.

    ``$PONDER_DATA_DIR`` if set; else ``~/Library/Application Support/Ponder`` on macOS,
    ``%APPDATA%\\Ponder`` on Windows, ``$XDG_DATA_HOME/ponder`` or ``~/.local/share/ponder`` elsewhere.
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if env.get("PONDER_DATA_DIR"):
        return Path(env["PONDER_DATA_DIR"]).expanduser()
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Ponder"
    if platform.startswith("win"):
        base = env.get("APPDATA")
        return (Path(base) if base else Path.home() / "AppData" / "Roaming") / "Ponder"
    base = env.get("XDG_DATA_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".local" / "share") / "ponder"


def default_store_path(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The chat database file in the user data folder (the folder is created when the store opens)."""
    return default_data_dir(environ, platform) / STORE_FILE_NAME


def default_cache_dir() -> Path:
    """Machine-local caches: ``$PONDER_CACHE_DIR`` or ``~/.cache/ponder``."""
    env = os.environ.get("PONDER_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ponder"


def logs_dir() -> Path:
    return default_cache_dir() / "logs"


def app_log_file() -> Path:
    """The window's log (shown in Help ▸ About)."""
    return logs_dir() / "ponder-app.log"


def engine_log_file() -> Path:
    """The engine process's log (``--log-file`` overrides it)."""
    return logs_dir() / "engine.log"


def engine_pids_dir() -> Path:
    """Pid files of the engines windows started (``<pid>.json``): the next start stops one whose window died."""
    return default_cache_dir() / "engines"


def cpu_speed_cache_file() -> Path:
    """Measured CPU kernel speeds, per CPU and library version (the planner's bf16-or-fp32 choice)."""
    return default_cache_dir() / "cpu_bf16_speedup.json"


def kv_cache_dir() -> Path:
    """Long prompts' keys and values, one folder per model and precision (``core.engine.disk_cache``)."""
    return default_cache_dir() / "kv"


def downloads_dir() -> Path:
    """Where models downloaded from the Hugging Face hub go, one folder per repository."""
    return default_cache_dir() / "models"


def bench_dir() -> Path:
    """The benchmark's own files (the random-weight checkpoints it builds once)."""
    return default_cache_dir() / "bench"


def resources_dir() -> Path:
    """``resources/`` of a source checkout, or of a frozen (PyInstaller) bundle."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) / "resources" if frozen else Path(__file__).resolve().parents[1] / "resources"


def models_dir() -> Path:
    """The models shipped with Ponder (``resources/models``)."""
    return resources_dir() / "models"


def samples_dir() -> Path:
    """The sample document the welcome screen opens, with its questions (``resources/samples``)."""
    return resources_dir() / "samples"


def catalog_file() -> Path:
    """The curated list of real models the catalog offers, with each one's config.json fields."""
    return resources_dir() / "catalog" / "catalog.json"


def model_usage_file() -> Path:
    """When each local model folder was last loaded (the catalog's "last used")."""
    return default_cache_dir() / "models-used.json"


def default_model_dir() -> Path | None:
    """The model a start without ``--model`` loads: the one ``resources/models/default-model.txt`` names (a
    bundle built with ``build.py --model``), else the bundled ``ponder-reasoner-mini``; None if not installed."""
    models = models_dir()
    names = [BUNDLED_MODEL]
    marker = models / DEFAULT_MODEL_FILE
    if marker.is_file():
        named = marker.read_text(encoding="utf-8").strip()
        if named and Path(named).name == named:  # a folder name inside models/, never a path out of it
            names.insert(0, named)
    for name in names:
        if (models / name / "config.json").is_file():
            return models / name
    return None
