"""The model folders Ponder knows on this computer: the bundled one, the downloaded ones, any extra folders.

``list_local_models`` gives each with its size on disk and when it was last loaded (``record_use`` keeps that
in ``core.paths.model_usage_file()``); ``delete_local_model`` removes a downloaded one, and refuses anything
else (the bundled model, a folder outside the known places). No torch and no Qt.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from core.hub_transfer import PARTIAL_DIR
from core.paths import downloads_dir, model_usage_file, models_dir


class LocalModelError(ValueError):
    """A local model cannot be deleted (or found); the message says why."""


@dataclass(frozen=True, slots=True)
class LocalModel:
    path: Path
    name: str
    source: str  # "bundled" | "downloaded" | "folder" (a --models-dir, or a folder opened before)
    size_bytes: int
    last_used: float | None  # seconds since the epoch; None: never loaded by Ponder
    architecture: str  # config.json's first architecture ("" when unreadable)
    complete: bool  # config.json and weights present, no download in progress

    @property
    def deletable(self) -> bool:
        """Ponder deletes what it downloaded (``ponder models --delete`` also folders under a --models-dir)."""
        return self.source == "downloaded"


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


def read_usage() -> dict[str, float]:
    try:
        data = json.loads(model_usage_file().read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def record_use(path: str | Path, when: float | None = None) -> None:
    """Remember that the model in ``path`` was loaded now (best effort: a read-only cache is not an error)."""
    usage = read_usage()
    usage[str(Path(path).resolve())] = time.time() if when is None else when
    target = model_usage_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(usage, indent=1), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass


def _model_folders(parent: Path) -> list[Path]:
    if (parent / "config.json").is_file():
        return [parent]
    try:
        return sorted(p for p in parent.iterdir() if p.is_dir() and (p / "config.json").is_file())
    except OSError:
        return []


def _describe(path: Path, source: str, usage: dict[str, float]) -> LocalModel:
    try:
        archs = json.loads((path / "config.json").read_text(encoding="utf-8")).get("architectures") or [""]
        architecture = str(archs[0])
    except (OSError, ValueError, AttributeError, IndexError):
        architecture = ""
    partial = path / PARTIAL_DIR
    downloading = partial.is_dir() and any(partial.glob("*.part"))
    complete = any(path.glob("*.safetensors")) and not downloading
    name = path.name.replace("--", "/") if source == "downloaded" else path.name
    return LocalModel(path, name, source, folder_size(path), usage.get(str(path.resolve())), architecture, complete)


def list_local_models(extra_dirs: Iterable[Path] = ()) -> list[LocalModel]:
    """Bundled models, then downloaded ones, then those in ``extra_dirs`` (each a model folder or a folder of
    them), then folders loaded before that still exist; each folder once."""
    usage = read_usage()
    found: dict[Path, LocalModel] = {}
    places = [(models_dir(), "bundled"), (downloads_dir(), "downloaded"), *((Path(d), "folder") for d in extra_dirs)]
    for parent, source in places:
        for folder in _model_folders(parent):
            found.setdefault(folder.resolve(), _describe(folder, source, usage))
    for used in usage:
        folder = Path(used)
        if folder.resolve() not in found and (folder / "config.json").is_file():
            found[folder.resolve()] = _describe(folder, "folder", usage)
    return list(found.values())


def delete_local_model(path: str | Path, extra_dirs: Iterable[Path] = ()) -> int:
    """Delete a downloaded model folder (under the downloads folder or one of ``extra_dirs``); returns the bytes
    freed. The bundled model and folders elsewhere are refused with a ``LocalModelError``."""
    folder = Path(path).resolve()
    if not (folder / "config.json").is_file() and not (folder / PARTIAL_DIR).is_dir():
        raise LocalModelError(f"{folder} is not a model folder (no config.json)")
    if folder.is_relative_to(models_dir().resolve()):
        raise LocalModelError(f"{folder.name} is the bundled model: it ships with Ponder and cannot be deleted")
    allowed = [downloads_dir().resolve(), *(Path(d).resolve() for d in extra_dirs)]
    if not any(folder != parent and folder.is_relative_to(parent) for parent in allowed):
        raise LocalModelError(f"{folder} was not downloaded by Ponder, so Ponder does not delete it; "
                              "delete the folder yourself if you no longer need it")
    size = folder_size(folder)
    shutil.rmtree(folder)
    return size
