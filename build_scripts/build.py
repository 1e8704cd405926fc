"""Build Ponder's installer: the PyInstaller bundle, its size by component, the OS package, the smoke test.

    .venv/bin/pip install -c constraints.txt -e '.[gui,build]'
    .venv/bin/python build_scripts/build.py [--model DIR] [--no-package] [--no-smoke-test]

1. Checks: PyInstaller is installed, the model folder is complete (config.json, tokenizer, safetensors),
   and which torch wheel is installed (the CPU wheel brings no CUDA; a CUDA wheel brings gigabytes of it).
2. PyInstaller on build_scripts/ponder.spec -> ``dist/ponder/``: the window ``ponder`` and the engine
   ``ponder-engine`` in one folder, with the model in ``_internal/resources/models/``.
3. The size by component (model, window-only, engine-only, shared), printed and written to
   ``dist/ponder-sizes.json``.
4. The package for this OS: on Linux ``dist/Ponder-<version>-linux-<arch>.tar.gz`` (bundle, install.sh,
   .desktop file, icons) and the same as a self-extracting ``.run``. Windows (Inno Setup) and macOS (.app
   and .dmg) have their scripts in build_scripts/installer/ but are built on those systems.
5. build_scripts/smoke_test.py on the package: installed into a throw-away home, run without the venv, on
   the offscreen Qt platform; the window answers a question with the bundled model through its engine.

The model: ``resources/models/ponder-reasoner-mini`` (trained by build_scripts/train_bundled_model.py), or
``--model DIR``, any local model folder in the Hugging Face layout (e.g. a downloaded
DeepSeek-R1-Distill-Qwen-1.5B); the window then starts on that one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "build_scripts")]

import bundle_layout as layout  # noqa: E402
from core.frozen import executable_name  # noqa: E402
from core.paths import BUNDLED_MODEL  # noqa: E402

SPEC = ROOT / "build_scripts" / "ponder.spec"


class BuildError(SystemExit):
    def __init__(self, message: str) -> None:
        super().__init__(f"build.py: {message}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "resources" / "models" / BUNDLED_MODEL,
                   help=f"model folder to bundle (default: resources/models/{BUNDLED_MODEL})")
    p.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                   help="PyInstaller's work folder (default: build/pyinstaller/)")
    p.add_argument("--no-package", action="store_true", help="stop after the bundle (no installer)")
    p.add_argument("--no-smoke-test", action="store_true", help="do not run build_scripts/smoke_test.py")
    p.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model = check_model(args.model.resolve())
    check_build_environment()
    version = project_version()
    manifest = args.work / "bundle-manifest.json"
    bundle = run_pyinstaller(model, args.dist.resolve(), args.work.resolve(), manifest.resolve(), version,
                             args.clean)
    sizes = bundle_sizes(bundle, json.loads(manifest.read_text(encoding="utf-8")))
    print_sizes(sizes)
    (args.dist / "ponder-sizes.json").write_text(json.dumps(sizes, indent=2) + "\n", encoding="utf-8")
    if args.no_package:
        return 0
    package = make_package(bundle, args.dist.resolve(), version)
    if package is None or args.no_smoke_test:
        return 0
    command = [sys.executable, str(ROOT / "build_scripts" / "smoke_test.py"), "--package", str(package),
               "--expect-model", model.name]
    print(f"\n$ {' '.join(command)}", flush=True)
    return subprocess.call(command)


# --- checks ----------------------------------------------------------------------------------------------
def check_model(folder: Path) -> Path:
    if not folder.is_dir():
        if folder.name == BUNDLED_MODEL:
            raise BuildError(
                f"the bundled model is missing: {folder} does not exist.\n"
                f"  Train it:  .venv/bin/python build_scripts/train_bundled_model.py   (writes {folder})\n"
                "  or bundle another local model folder:  build.py --model path/to/model")
        raise BuildError(f"--model {folder}: no such folder")
    missing = [name for name in ("config.json", "tokenizer.json", "tokenizer_config.json")
               if not (folder / name).is_file()]
    if not any(folder.glob("*.safetensors")):
        missing.append("model.safetensors (or shards with model.safetensors.index.json)")
    if missing:
        raise BuildError(f"{folder} is not a complete model folder in the Hugging Face layout; missing: "
                         f"{', '.join(missing)}")
    return folder


def check_build_environment() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        raise BuildError("PyInstaller is not installed: .venv/bin/pip install -c constraints.txt -e '.[gui,build]'")
    others = [name for name in layout.OTHER_QT_BINDINGS if importlib.util.find_spec(name) is not None]
    if others:
        print(f"note: {', '.join(others)} installed too; excluded from both programs (one Qt binding per build)")
    torch_version = metadata.version("torch")
    cuda = "+cpu" not in torch_version and sys.platform != "darwin"
    print(f"torch {torch_version}: {'CUDA build: its CUDA libraries go into the bundle' if cuda else 'no CUDA'}")


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


# --- the bundle --------------------------------------------------------------------------------------------
def run_pyinstaller(model: Path, dist: Path, work: Path, manifest: Path, version: str, clean: bool) -> Path:
    env = {**os.environ, "PONDER_BUNDLE_MODEL": str(model), "PONDER_BUNDLE_MANIFEST": str(manifest),
           "PONDER_VERSION": version}
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), *(["--clean"] if clean else []), str(SPEC)]
    print(f"bundling {model} ({human(folder_bytes(model))})\n$ {' '.join(command)}", flush=True)
    started = time.monotonic()
    if subprocess.call(command, env=env, cwd=ROOT) != 0:
        raise BuildError("PyInstaller failed (see above)")
    bundle = dist / (f"{layout.APP_NAME}.app" if sys.platform == "darwin" else layout.APP_ID)
    print(f"built {bundle} in {time.monotonic() - started:.0f} s", flush=True)
    return bundle


def contents_dir(bundle: Path) -> Path:
    """Where the shared files are: ``_internal/`` (macOS: ``Contents/Frameworks``, data in ``Resources``)."""
    return bundle / "Contents" / "Frameworks" if bundle.suffix == ".app" else bundle / "_internal"


def bundle_sizes(bundle: Path, manifest: dict) -> dict:
    """Bytes per component: each file is attributed by which program's analysis brought it."""
    gui, engine = set(manifest["gui_files"]), set(manifest["engine_files"])
    exe_names = {executable_name(layout.GUI_NAME): "window program (ponder: its Python modules)",
                 executable_name(layout.ENGINE_NAME): "engine program (ponder-engine: its Python modules)"}
    components: dict[str, int] = {}
    packages: dict[str, dict[str, int]] = {}
    internal = contents_dir(bundle)
    for path in sorted(p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()):
        size = path.stat().st_size
        if path.name in exe_names and path.parent.name in (bundle.name, "MacOS"):
            component, top = exe_names[path.name], path.name
        else:
            rel = path.relative_to(internal if path.is_relative_to(internal) else bundle).as_posix()
            top = rel.split("/")[0]
            if rel.startswith(layout.MODELS_DEST + "/"):
                component = f"model ({manifest['model_name']})"
            elif rel.startswith("resources/"):
                component = "resources (icons)"
            elif rel in gui and rel in engine:
                component = "shared (Python runtime, libraries both use)"
            elif rel in gui:
                component = "window only (Qt, document parsers, ...)"
            elif rel in engine:
                component = "engine only (torch, server, ...)"
            else:
                component = "shared (Python runtime, libraries both use)"
        components[component] = components.get(component, 0) + size
        per = packages.setdefault(component, {})
        per[top] = per.get(top, 0) + size
    total = sum(components.values())
    return {"bundle": str(bundle), "model": manifest["model"], "total_bytes": total,
            "components": dict(sorted(components.items(), key=lambda kv: -kv[1])),
            "largest": {c: dict(sorted(p.items(), key=lambda kv: -kv[1])[:6]) for c, p in packages.items()}}


def print_sizes(sizes: dict) -> None:
    print(f"\nbundle size by component ({sizes['bundle']}):")
    for component, size in sizes["components"].items():
        top = ", ".join(f"{name} {human(b)}" for name, b in sizes["largest"][component].items())
        print(f"  {human(size):>10}  {component}\n{'':14}{top}")
    print(f"  {human(sizes['total_bytes']):>10}  total")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# --- the package -------------------------------------------------------------------------------------------
def make_package(bundle: Path, dist: Path, version: str) -> Path | None:
    if sys.platform.startswith("linux"):
        from package_linux import make_linux_package

        return make_linux_package(bundle, dist, version, machine=platform.machine())
    where = "build_scripts/installer/windows/ponder.iss" if sys.platform == "win32" else \
        "build_scripts/installer/macos/make_dmg.sh"
    print(f"the installer for this OS is built with {where} (see README: Build the installer)")
    return None


if __name__ == "__main__":
    sys.exit(main())
