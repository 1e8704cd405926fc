"""The process boundary holds: the import contracts in pyproject.toml, and what importing the window side loads.

The contract "window-side" (import-linter, indirect imports included, lazy ones too) is the one list of what
the window may not reach. It cannot see imports made by name at run time, so every core module the window
reaches is also imported here in a fresh interpreter, and nothing the contract forbids may have loaded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def window_contract() -> dict:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c.get("id") == "window-side")


def forbidden(name: str, names: list[str]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in names)


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency"
    result = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 kept, 0 broken" in result.stdout


def test_the_core_modules_the_window_reaches_load_nothing_forbidden_at_run_time():
    contract = window_contract()
    graph = grimp.build_graph("core", "app", cache_dir=None)
    reached = sorted(m for m in graph.find_upstream_modules("app", as_package=True) if m.startswith("core"))
    assert {"core.client", "core.api.protocol", "core.tokenizer", "core.reasoning", "core.paths"} <= set(reached)
    code = "".join(f"import {m}\n" for m in reached) + "import sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    loaded = json.loads(out.splitlines()[-1])
    assert not [m for m in loaded if forbidden(m, contract["forbidden_modules"])]
    assert not [m for m in loaded if m.startswith("PySide6")]
