"""The Linux package: a tarball (bundle + install.sh + .desktop file + icons) and the same as a self-extracting
``.run`` installer. Called by build.py; the templates are in build_scripts/installer/linux/.

Why not an AppImage: appimagetool and the AppImage runtime are neither in Debian nor on PyPI (the PyPI tools
that build AppImages download them from GitHub at build time), and this build must work offline from
package registries only. The ``.run`` gives the same experience: one file, run it once, and Ponder is in the
applications menu with its icon and opens PDF/DOCX/Markdown files ("Open with").

    Ponder-<version>-linux-<arch>/
        ponder/            the PyInstaller bundle (ponder, ponder-engine, _internal/)
        install.sh         per user (~/.local) or --system (/opt, /usr/local) or --prefix DIR
        uninstall.sh       copied into the install folder
        ponder.desktop     menu entry (Exec filled in by install.sh), MimeType for PDF/DOCX/Markdown
        ponder.png, ponder.svg
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "build_scripts" / "installer" / "linux"
ICONS = ROOT / "resources" / "icons"


def package_name(version: str, machine: str) -> str:
    return f"Ponder-{version}-linux-{machine}"


def make_linux_package(bundle: Path, dist: Path, version: str, machine: str) -> Path:
    """Writes ``<name>.tar.gz`` and ``<name>.run`` into ``dist``; returns the ``.run``."""
    name = package_name(version, machine)
    tarball, run = dist / f"{name}.tar.gz", dist / f"{name}.run"
    with tempfile.TemporaryDirectory(prefix="ponder-package-", dir=dist) as tmp:
        top = Path(tmp) / name
        top.mkdir()
        for src in (TEMPLATES / "install.sh", TEMPLATES / "uninstall.sh", TEMPLATES / "ponder.desktop",
                    ICONS / "ponder.png", ICONS / "ponder.svg"):
            shutil.copy2(src, top / src.name)
        print(f"packing {tarball.name} ...", flush=True)
        bundle.rename(top / "ponder")  # same file system: moved in for tar, and back (no gigabyte copy)
        try:
            subprocess.run(["tar", "-czf", str(tarball), "-C", tmp, name], check=True)
        finally:
            (top / "ponder").rename(bundle)
    header = (TEMPLATES / "run_header.sh").read_text(encoding="utf-8")
    lines = header.count("\n")
    header = (header.replace("@SKIP@", str(lines + 1)).replace("@VERSION@", version)
              .replace("@MACHINE@", machine).replace("@NAME@", run.name).replace("@TOP@", name))
    assert header.count("\n") == lines, "the header's line count must not change"
    with run.open("wb") as out:
        out.write(header.encode("utf-8"))
        with tarball.open("rb") as archive:
            shutil.copyfileobj(archive, out, 16 * 2**20)
    run.chmod(0o755)
    for path in (tarball, run):
        print(f"  {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    return run
