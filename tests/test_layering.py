"""The dependency direction holds: core never imports Qt, the GUI-facing core modules never import torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Modules the GUI process may import: they must stay free of torch (and of course of Qt).
LIGHT_CORE_MODULES = ["core.client", "core.reasoning", "core.precision", "core.hardware", "core.models.config",
                      "core.engine.tokenizer", "core.cli", "core.training.tasks", "core.store",
                      "core.server.spawn", "core.server.protocol", "core.bench.report", "core.bench.spec",
                      "core.bench.suite", "core.commands.bench"]


def _imports_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("module", LIGHT_CORE_MODULES)
def test_light_core_modules_do_not_import_torch(module):
    loaded = _imports_after(f"import {module}")
    assert "torch" not in loaded, f"{module} pulls in torch"
    assert not any(m.startswith("PySide6") for m in loaded)


def test_no_core_module_imports_qt():
    offenders = [p for p in (ROOT / "core").rglob("*.py")
                 if any(line.lstrip().startswith(("import PySide6", "from PySide6", "import shiboken6"))
                        for line in p.read_text(encoding="utf-8").splitlines())]
    assert not offenders


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency"
    result = subprocess.run([exe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:]
