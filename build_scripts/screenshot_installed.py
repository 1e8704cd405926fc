"""Screenshot of the installed app on a real X server (Xvfb): install the package, answer, grab the screen.

    python3 build_scripts/screenshot_installed.py --package dist/Ponder-0.1.0-linux-x86_64.run [--out PNG]

The package is installed into a throw-away home (as smoke_test.py does), the installed ``ponder`` runs
with ``QT_QPA_PLATFORM=xcb`` on Xvfb (``xvfb``, ``libxcb-cursor0`` and ImageMagick's ``import`` from
Debian), adds a document, answers a question with its bundled model (``--self-test --hold``), and the
whole X screen is grabbed while the answer is shown. Default output: docs/screenshot-installed.png.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build_scripts"))

from smoke_test import QUESTION, DOCUMENT, clean_env, install  # noqa: E402

SCREEN = "1360x860"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot-installed.png")
    p.add_argument("--question", default=QUESTION)
    p.add_argument("--timeout", type=float, default=900.0)
    args = p.parse_args(argv)
    for tool in ("Xvfb", "import"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install xvfb libxcb-cursor0 imagemagick")
    home = Path(tempfile.mkdtemp(prefix="ponder-screenshot-"))
    env = clean_env(home)
    summary: dict = {"checks": []}
    bundle = install(args.package.resolve(), home, env, summary)
    display = ":97"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SCREEN}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = None
    try:
        time.sleep(1.5)
        env = {**env, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        document = home / "work" / "handbook.txt"
        document.write_text(DOCUMENT, encoding="utf-8")
        log = home / ".cache" / "ponder" / "logs" / "ponder-app.log"
        app = subprocess.Popen([str(bundle / "ponder"), "--self-test", "--document", str(document), "--question",
                                args.question, "--hold", "20", "--timeout", str(args.timeout),
                                "--report", str(home / "report.json")],
                               env=env, cwd=home / "work", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + args.timeout
        while not (log.is_file() and "self-test: answered" in log.read_text(encoding="utf-8")):
            if app.poll() is not None:
                raise SystemExit(f"ponder exited before answering: {app.stderr.read()[-1500:]}")
            if time.monotonic() > deadline:
                raise SystemExit("no answer in time")
            time.sleep(0.5)
        time.sleep(3)  # the answer rendered, the steps expanded
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-display", display, "-window", "root", str(args.out)], check=True)
        print(f"saved {args.out} (installed app in {bundle}, display {display})")
        app.wait(60)
        return 0
    finally:
        if app is not None and app.poll() is None:
            app.kill()
        xvfb.terminate()
        xvfb.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
