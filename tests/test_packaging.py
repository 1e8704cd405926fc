"""The installer's module lists, checked without building (a build takes many minutes; CI never runs one).

build_scripts/bundle_layout.py holds the lists build_scripts/ponder.spec builds from. Checked here:
- the window's analysis excludes torch and the engine, and keeps only QtCore/QtGui/QtWidgets of PySide6;
  the engine's analysis excludes every Qt binding and the GUI package;
- statically, every import the window program can reach (lazy ones included) stays clear of what its
  analysis excludes, except a known lazy torch import that the window never calls; the same for the engine
  and Qt (a new `import torch` under app/ fails here, not as a 2 GB bundle);
- at run time, importing the window's modules loads nothing its analysis excludes (so the bundle cannot
  miss a module the window needs at start), and importing the engine's loads no Qt;
- the spec never collects all of PySide6, and both programs call freeze_support and guard their streams;
- in a frozen bundle the engine is the window's sibling executable; a bundle built with ``--model``
  starts on that model.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build_scripts"))

import bundle_layout as layout  # noqa: E402

# Lazy imports of excluded modules that the window program reaches but never runs: (module, import).
KNOWN_LAZY = {("core.hardware", "torch")}  # the engine's hardware probe; the window uses default_cache_dir only


def excluded(name: str, excludes: list[str]) -> bool:
    return any(name == e or name.startswith(e + ".") for e in excludes)


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


class _Imports(ast.NodeVisitor):
    """Every import of one module, each marked lazy (inside a function) or not."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.package = module, module if is_package else module.rpartition(".")[0]
        self.found: list[tuple[str, bool]] = []
        self._depth = 0

    def visit_FunctionDef(self, node: ast.AST) -> None:  # noqa: N802 (ast's name)
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        self.found += [(alias.name, self._depth > 0) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        base = node.module or ""
        if node.level:
            package = self.package
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{node.module}" if node.module else package
        self.found.append((base, self._depth > 0))
        self.found += [(f"{base}.{a.name}", self._depth > 0) for a in node.names if module_file(f"{base}.{a.name}")]


def trace(entry: str, excludes: list[str]) -> tuple[set[str], set[tuple[str, str, bool]]]:
    """Our own modules (app, core) reachable from an entry script, following every import statement (as
    PyInstaller's analysis does) but not into excluded modules; and each import of an excluded module."""
    seen: set[str] = set()
    hits: set[tuple[str, str, bool]] = set()
    todo = [("__main__", ROOT / entry)]
    while todo:
        name, path = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        visitor = _Imports(name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        for imported, lazy in visitor.found:
            if excluded(imported, excludes):
                hits.add((name, imported, lazy))
                continue
            parts = imported.split(".")
            if parts[0] not in ("app", "core"):
                continue
            for i in range(1, len(parts) + 1):
                sub = ".".join(parts[:i])
                if excluded(sub, excludes):
                    hits.add((name, sub, lazy))
                    break
                found = module_file(sub)
                if found is not None:
                    todo.append((sub, found))
    return seen - {"__main__"}, hits


def loaded_after_importing(modules: list[str], prelude: str = "") -> set[str]:
    code = prelude + "".join(f"import {m}\n" for m in modules) + "import sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}).stdout
    return set(json.loads(out.splitlines()[-1]))


# --- the lists -----------------------------------------------------------------------------------------------
def test_the_window_analysis_excludes_torch_the_engine_and_unused_qt():
    for name in ("torch", "triton", "uvicorn", "fastapi", "PyQt5", "PyQt6", "PySide6.QtWebEngineCore",
                 "PySide6.QtWebEngineWidgets", "PySide6.QtQml", "PySide6.QtQuick", "core.engine.engine",
                 "core.server.runner"):
        assert name in layout.GUI_EXCLUDES, name
    assert not set(layout.QT_MODULES_USED) & set(layout.GUI_EXCLUDES)
    assert "PySide6" not in layout.GUI_EXCLUDES


def test_the_engine_analysis_excludes_every_qt_binding_and_the_gui():
    for name in ("PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2", "app"):
        assert name in layout.ENGINE_EXCLUDES, name
    assert not any(excluded(name, layout.ENGINE_EXCLUDES) for name in ("torch", "uvicorn", "fastapi", "core"))


def test_the_window_uses_only_the_qt_modules_the_layout_names():
    used = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("PySide6."):
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used |= {a.name for a in node.names if a.name.startswith("PySide6.")}
    assert used <= set(layout.QT_MODULES_USED), used - set(layout.QT_MODULES_USED)


# --- static: every import the analyses would follow ----------------------------------------------------------------
def test_the_window_program_reaches_no_torch_and_no_engine_module():
    reached, hits = trace(layout.GUI_ENTRY, layout.GUI_EXCLUDES)
    assert {"app.main_window", "app.engine_process", "app.self_test", "core.client"} <= reached
    eager = sorted((m, i) for m, i, lazy in hits if not lazy)
    assert not eager, f"imported at module level, but excluded from the window's bundle: {eager}"
    unexpected = sorted((m, i) for m, i, lazy in hits if lazy and (m, i) not in KNOWN_LAZY)
    assert not unexpected, f"the window would call into modules its bundle does not have: {unexpected}"


def test_the_engine_program_reaches_no_qt():
    reached, hits = trace(layout.ENGINE_ENTRY, layout.ENGINE_EXCLUDES)
    assert {"core.server.__main__", "core.server.runner", "core.engine.engine", "core.models.loader"} <= reached
    assert not hits, sorted(hits)
    assert not any(m.startswith("app") for m in reached)


# --- at run time -------------------------------------------------------------------------------------------------
def test_importing_the_window_loads_nothing_its_bundle_excludes():
    app_modules = sorted(f"app.{p.relative_to(ROOT / 'app').with_suffix('').as_posix().replace('/', '.')}"
                         for p in (ROOT / "app").rglob("*.py") if p.name != "__init__.py")
    loaded = loaded_after_importing(["app.launch", *app_modules])
    assert "torch" not in loaded
    assert not sorted(m for m in loaded if excluded(m, layout.GUI_EXCLUDES))


def test_importing_the_engine_loads_no_qt():
    loaded = loaded_after_importing(["core.server.__main__", "core.server.runner", "core.server.app"])
    assert "torch" in loaded  # the check would mean nothing otherwise
    assert not sorted(m for m in loaded if excluded(m, layout.ENGINE_EXCLUDES))


# --- the spec and the entry points -------------------------------------------------------------------------------------
def test_the_spec_never_collects_all_of_pyside6():
    spec = (ROOT / "build_scripts" / "ponder.spec").read_text(encoding="utf-8")
    assert "collect_all" not in spec and "collect_submodules" not in spec
    assert "layout.GUI_EXCLUDES" in spec and "layout.ENGINE_EXCLUDES" in spec


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


@pytest.mark.parametrize("path", ["app/launch.py", layout.ENGINE_ENTRY])
def test_both_programs_call_freeze_support_and_guard_their_streams(path):
    assert {"freeze_support", "guard_streams"} <= _calls(ROOT / path)


def test_the_engine_executable_is_the_window_executables_sibling(monkeypatch, tmp_path):
    from core.frozen import ENGINE_EXECUTABLE, executable_name, sibling_executable

    monkeypatch.setattr(sys, "executable", str(tmp_path / executable_name("ponder")))
    assert sibling_executable(ENGINE_EXECUTABLE) == tmp_path.resolve() / executable_name(ENGINE_EXECUTABLE)
    assert executable_name("ponder-engine", "win32") == "ponder-engine.exe"
    assert (layout.GUI_NAME, layout.ENGINE_NAME) == ("ponder", "ponder-engine")


def test_a_bundle_built_with_another_model_starts_on_it(monkeypatch, tmp_path):
    from core.server.settings import BUNDLED_MODEL, DEFAULT_MODEL_FILE, default_model_dir

    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    models = tmp_path / "resources" / "models"
    assert default_model_dir() is None  # nothing bundled
    for name in (BUNDLED_MODEL, "DeepSeek-R1-Distill-Qwen-1.5B"):
        (models / name).mkdir(parents=True)
        (models / name / "config.json").write_text("{}")
    assert default_model_dir() == models / BUNDLED_MODEL
    (models / DEFAULT_MODEL_FILE).write_text("DeepSeek-R1-Distill-Qwen-1.5B\n")  # build.py --model
    assert default_model_dir() == models / "DeepSeek-R1-Distill-Qwen-1.5B"
    (models / DEFAULT_MODEL_FILE).write_text("../../elsewhere\n")  # never a path out of models/
    assert default_model_dir() == models / BUNDLED_MODEL
