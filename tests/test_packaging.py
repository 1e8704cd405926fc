"""The installer's module lists, checked without building (a build takes many minutes; CI never runs one).

build_scripts/bundle_layout.py holds the lists build_scripts/ponder.spec builds from. Checked here:
- the window's analysis excludes torch and the engine, and keeps only QtCore/QtGui/QtWidgets of PySide6;
  the engine's analysis excludes every Qt binding and the GUI package;
- the window's excludes are the import contract's list of what the window may never reach (the contract
  itself, lazy imports included, is checked in tests/test_layering.py);
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

def excluded(name: str, excludes: list[str]) -> bool:
    return any(name == e or name.startswith(e + ".") for e in excludes)


def loaded_after_importing(modules: list[str], prelude: str = "") -> set[str]:
    code = prelude + "".join(f"import {m}\n" for m in modules) + "import sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}).stdout
    return set(json.loads(out.splitlines()[-1]))


# --- the lists -----------------------------------------------------------------------------------------------
def test_the_window_analysis_excludes_torch_the_engine_and_unused_qt():
    for name in ("torch", "triton", "uvicorn", "fastapi", "PyQt5", "PyQt6", "PySide6.QtWebEngineCore",
                 "PySide6.QtWebEngineWidgets", "PySide6.QtQml", "PySide6.QtQuick", "core.engine.engine",
                 "core.server.lifecycle"):
        assert excluded(name, layout.GUI_EXCLUDES), name
    assert not set(layout.QT_MODULES_USED) & set(layout.GUI_EXCLUDES)
    assert "PySide6" not in layout.GUI_EXCLUDES


def test_the_engine_analysis_excludes_every_qt_binding_and_the_gui():
    for name in ("PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2", "app"):
        assert name in layout.ENGINE_EXCLUDES, name
    assert excluded("build_scripts.training.pipeline", layout.ENGINE_EXCLUDES)  # training never ships
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


def test_the_window_excludes_what_the_import_contract_forbids():
    assert {"torch", "core.engine", "core.server", "core.bench", "core.cli"} <= set(layout.window_forbidden())
    assert set(layout.window_forbidden()) <= set(layout.GUI_EXCLUDES)


# --- at run time -------------------------------------------------------------------------------------------------
def test_importing_the_window_loads_nothing_its_bundle_excludes():
    app_modules = sorted(f"app.{p.relative_to(ROOT / 'app').with_suffix('').as_posix().replace('/', '.')}"
                         for p in (ROOT / "app").rglob("*.py") if p.name != "__init__.py")
    loaded = loaded_after_importing(["app.__main__", *app_modules])
    assert "torch" not in loaded
    assert not sorted(m for m in loaded if excluded(m, layout.GUI_EXCLUDES))


def test_importing_the_engine_loads_no_qt():
    loaded = loaded_after_importing(["core.server.__main__", "core.server.lifecycle", "core.server.app", "core.cli",
                                     "core.bench.precision_run"])
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


@pytest.mark.parametrize("path", ["app/__main__.py", layout.ENGINE_ENTRY])
def test_both_programs_call_freeze_support_and_guard_their_streams(path):
    assert {"freeze_support", "guard_streams"} <= _calls(ROOT / path)


def test_the_engine_executable_is_the_window_executables_sibling(monkeypatch, tmp_path):
    from core.frozen import ENGINE_EXECUTABLE, executable_name, sibling_executable

    monkeypatch.setattr(sys, "executable", str(tmp_path / executable_name("ponder")))
    assert sibling_executable(ENGINE_EXECUTABLE) == tmp_path.resolve() / executable_name(ENGINE_EXECUTABLE)
    assert executable_name("ponder-engine", "win32") == "ponder-engine.exe"
    assert (layout.GUI_NAME, layout.ENGINE_NAME) == ("ponder", "ponder-engine")


def test_a_bundle_built_with_another_model_starts_on_it(monkeypatch, tmp_path):
    from core.paths import BUNDLED_MODEL, DEFAULT_MODEL_FILE, default_model_dir

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


def test_the_installed_window_program_runs_every_subcommand_through_its_engine_sibling(monkeypatch, tmp_path):
    import app.__main__ as window_program
    from core.frozen import CLI_COMMANDS, executable_name

    monkeypatch.setattr(sys, "executable", str(tmp_path / executable_name("ponder")))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    engine = str(tmp_path.resolve() / executable_name("ponder-engine"))
    for command in CLI_COMMANDS:
        assert window_program.command_line([command, "--help"]) == [engine, command, "--help"]
    assert window_program.command_line(["--help"]) == [engine, "--help"]
    monkeypatch.setattr(sys, "frozen", False)
    assert window_program.command_line(["plan", "--help"])[1:] == ["-m", "core.cli", "plan", "--help"]


def test_the_window_program_answers_help_and_plan_without_a_display():
    env = {"PATH": "/usr/bin:/bin"}  # no DISPLAY, no QT_QPA_PLATFORM: a window would abort
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=120)

    helped = run("--help")
    assert helped.returncode == 0 and "usage: ponder" in helped.stdout and "pull" in helped.stdout
    planned = run("plan", "--model", str(ROOT / "resources" / "models" / "ponder-reasoner-mini"))
    assert planned.returncode == 0 and planned.stdout.startswith("Plan: "), planned.stderr


def test_the_engine_program_names_itself_and_runs_the_command_line():
    entry = ROOT / layout.ENGINE_ENTRY
    helped = subprocess.run([sys.executable, str(entry), "--help"], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: ponder-engine")
    assert "--precision" in helped.stdout
    assert "core.server" not in helped.stdout and "models" in helped.stdout
    pulled = subprocess.run([sys.executable, str(entry), "pull", "not a repo"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert pulled.returncode == 2 and pulled.stderr.startswith("ponder pull: ")


def test_the_bundle_carries_the_sample_and_the_catalog():
    shipped = {src for src, _dest in layout.RESOURCE_DIRS}
    assert {"resources/samples", "resources/catalog"} <= shipped
    assert all((ROOT / src).is_dir() for src in shipped)


def test_the_bundle_carries_prebuilt_kernels_the_engine_finds(tmp_path, monkeypatch):
    from core.kernels import build as kernels

    pairs = layout.prebuilt_kernels(tmp_path)
    assert {dest for _, dest in pairs} == {layout.KERNELS_DEST}
    assert (ROOT / layout.KERNEL_SOURCE[0]).is_file()
    isas = kernels.cpu_isas()
    if isas:  # the engine, told where they are, loads the prebuilt library and compiles nothing
        monkeypatch.setenv("PONDER_KERNELS_DIR", str(tmp_path))
        monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path / "empty-cache"))
        monkeypatch.setattr(kernels, "_status", None)
        try:
            status = kernels.kernel_status()
            assert status.kernels is not None and status.kernels.path.parent == tmp_path
            assert not (tmp_path / "empty-cache").exists()
        finally:
            kernels._status = None
