"""Smoke test of the built bundle (or the Linux package), run as a user would run it, on a clean environment.

    python3 build_scripts/smoke_test.py --package dist/Ponder-0.1.0-linux-x86_64.run   # install it, then test
    python3 build_scripts/smoke_test.py --bundle dist/ponder                             # test the folder

Standard library only, so it runs with any Python 3.11+; the bundle itself runs with a scrubbed
environment: PATH=/usr/bin:/bin (no venv, no PYTHONPATH/PYTHONHOME/VIRTUAL_ENV), a throw-away HOME and
XDG folders, the working directory outside the repository, ``QT_QPA_PLATFORM=offscreen``.

1. ``--package``: the installer runs into the throw-away home (``install.sh --prefix``); the menu entry,
   icons and command must be there, the ``.desktop`` file's ``Exec`` must point at the installed window
   program (checked with ``desktop-file-validate`` when present).
2. ``ponder-engine --help`` answers as ``ponder-engine`` (the frozen engine starts at all), and the installed
   ``ponder`` runs the command line without a display: ``--help``, ``models --json``, ``plan --model`` on the
   bundled model (through its sibling ``ponder-engine``).
3. ``ponder --self-test``: the window opens, starts the engine from the bundle itself (the sibling
   ``ponder-engine``, the report shows its command line), the sample document is parsed in a worker process
   (the frozen window re-runs its executable for it; ``freeze_support`` must stop it there) and its three
   questions are answered right by the bundled model; the window closes and the engine is gone.
4. A plain start of ``ponder``, as the menu entry does: the window starts, its engine serves; the window's
   process has no torch library mapped and the engine's no Qt library (Linux: /proc/PID/maps); SIGTERM
   ends both cleanly (exit 0), no process of the bundle is left, the chat database exists in the home.
5. ``--package``: ``uninstall.sh`` removes the folder, the menu entry, the icons and the command.

The frozen engine runs eager: ``ponder-engine`` disables TorchDynamo, the server has no compile option,
and this test checks that the engine's log never mentions compiling.
Exit status 0 when every check passed; a JSON summary goes to ``--summary`` (default: next to the bundle).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GUI, ENGINE = "ponder", "ponder-engine"


class Failed(AssertionError):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--package", type=Path, help="the Linux .run (or .tar.gz) to install and test")
    src.add_argument("--bundle", type=Path, help="the bundle folder (dist/ponder) to test in place")
    p.add_argument("--expect-model", help="the model folder name the bundle must start on")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds for each run of the app")
    p.add_argument("--summary", type=Path, help="where to write the JSON summary")
    p.add_argument("--keep", action="store_true", help="keep the throw-away home (for a look afterwards)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="ponder-smoke-"))
    summary: dict = {"ok": False, "home": str(home), "checks": []}
    source = (args.package or args.bundle).resolve()
    summary_path = args.summary or source.parent / "ponder-smoke-test.json"
    try:
        env = clean_env(home)
        if args.package is not None:
            bundle = install(source, home, env, summary)
        else:
            bundle = source
        summary["bundle"] = str(bundle)
        check_engine_help(bundle, env, summary)
        check_command_line(bundle, env, summary)
        check_self_test(bundle, env, home, args, summary)
        check_plain_start(bundle, env, home, args.timeout, summary)
        if args.package is not None:
            check_uninstall(bundle, home, env, summary)
        summary["ok"] = True
    except Failed as exc:
        summary["failure"] = str(exc)
    finally:
        leftovers = bundle_processes(source if args.bundle else home)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        if leftovers:
            summary["ok"] = False
            summary.setdefault("failure", f"processes of the bundle were left running: {leftovers}")
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
        summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(("PASSED" if summary["ok"] else f"FAILED: {summary.get('failure')}") + f" (summary: {summary_path})")
    return 0 if summary["ok"] else 1


def check(summary: dict, name: str, ok: bool, detail: str = "") -> None:
    summary["checks"].append({"check": name, "ok": ok, **({"detail": detail} if detail else {})})
    print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        raise Failed(f"{name}: {detail}")


def clean_env(home: Path) -> dict[str, str]:
    """What a desktop session gives a program: no venv, no Python variables, a fresh home."""
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    (home / "work").mkdir()
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "USER": os.environ.get("USER", "user"),
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_RUNTIME_DIR": str(runtime), "QT_QPA_PLATFORM": "offscreen"}


# --- 1. install ------------------------------------------------------------------------------------------
def install(package: Path, home: Path, env: dict[str, str], summary: dict) -> Path:
    prefix = home / ".local"
    if package.name.endswith(".tar.gz"):
        unpacked = home / "unpacked"
        unpacked.mkdir()
        subprocess.run(["tar", "-xzf", str(package), "-C", str(unpacked)], check=True)
        command = ["sh", str(next(unpacked.glob("*/install.sh"))), "--prefix", str(prefix)]
    else:
        command = ["sh", str(package), "--prefix", str(prefix)]
    started = time.monotonic()
    result = subprocess.run(command, env=env, cwd=home / "work", capture_output=True, text=True)
    check(summary, "installer runs", result.returncode == 0,
          f"{time.monotonic() - started:.0f} s" if result.returncode == 0 else (result.stderr or result.stdout)[-800:])
    bundle = prefix / "opt" / "ponder"
    desktop = prefix / "share" / "applications" / "ponder.desktop"
    files = [bundle / GUI, bundle / ENGINE, desktop, prefix / "bin" / "ponder",
             prefix / "share" / "icons" / "hicolor" / "256x256" / "apps" / "ponder.png",
             prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / "ponder.svg"]
    missing = [str(f) for f in files if not f.exists()]
    check(summary, "installed: program, engine, menu entry, icons, command", not missing, ", ".join(missing))
    entry = dict(line.split("=", 1) for line in desktop.read_text(encoding="utf-8").splitlines() if "=" in line)
    exec_path = entry.get("Exec", "").split('"')[1] if entry.get("Exec", "").startswith('"') else ""
    check(summary, "menu entry starts the installed program", Path(exec_path) == bundle / GUI,
          f"Exec={entry.get('Exec')}, Icon={entry.get('Icon')}")
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(desktop)], capture_output=True, text=True)
        check(summary, "desktop-file-validate", result.returncode == 0, (result.stdout + result.stderr).strip())
    return bundle


# --- 2. the engine program ---------------------------------------------------------------------------------
def check_engine_help(bundle: Path, env: dict[str, str], summary: dict) -> None:
    result = subprocess.run([str(bundle / ENGINE), "--help"], env=env, cwd=Path(env["HOME"]) / "work",
                            capture_output=True, text=True, timeout=300)
    check(summary, "ponder-engine --help", result.returncode == 0 and "--precision" in result.stdout
          and "usage: ponder-engine" in result.stdout and "core.server" not in result.stdout,
          result.stderr[-500:] if result.returncode else result.stdout[:200])


def check_command_line(bundle: Path, env: dict[str, str], summary: dict) -> None:
    """The installed ``ponder`` has the source install's subcommands, and none of them needs a display."""
    headless = {k: v for k, v in env.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}

    def ponder(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(bundle / GUI), *args], env=headless, cwd=Path(env["HOME"]) / "work",
                              capture_output=True, text=True, timeout=300)

    result = ponder("--help")
    check(summary, "ponder --help (no display)", result.returncode == 0 and "usage: ponder" in result.stdout
          and "pull" in result.stdout, (result.stderr or result.stdout)[-300:])
    result = ponder("models", "--json")
    ok = result.returncode == 0
    local = json.loads(result.stdout)["local"] if ok else []
    bundled = next((m["path"] for m in local if m["source"] == "bundled"), None)
    check(summary, "ponder models lists the catalog and the bundled model", ok and bundled is not None,
          (result.stderr or result.stdout)[-300:] if not ok else str(bundled))
    result = ponder("plan", "--model", str(bundled))
    check(summary, "ponder plan --model <bundled model>", result.returncode == 0 and "Plan:" in result.stdout,
          (result.stderr or result.stdout)[-300:])


# --- 3. the window answers a question --------------------------------------------------------------------
def check_self_test(bundle: Path, env: dict[str, str], home: Path, args: argparse.Namespace, summary: dict) -> None:
    report_path = home / "self-test.json"
    command = [str(bundle / GUI), "--self-test", "--report", str(report_path), "--timeout", str(args.timeout)]
    started = time.monotonic()
    try:
        result = subprocess.run(command, env=env, cwd=home / "work", capture_output=True, text=True,
                                timeout=args.timeout + 120)
    except subprocess.TimeoutExpired:
        raise Failed(f"ponder --self-test did not finish within {args.timeout + 120:.0f} s") from None
    if not report_path.is_file():
        raise Failed(f"ponder --self-test wrote no report (exit {result.returncode}): {result.stderr[-1500:]}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    summary["self_test"] = {k: report.get(k) for k in (
        "ok", "error", "frozen", "engine", "model", "plan", "document", "status", "finish_reason", "steps",
        "reasoning", "answer", "stats", "engine_ready_s", "closed_s", "engine_stopped", "engine_exit_code",
        "questions")}
    summary["self_test"]["seconds"] = round(time.monotonic() - started, 1)
    check(summary, "the window ran frozen", report.get("frozen") is True, str(report.get("executable")))
    command_line = (report.get("engine") or {}).get("command") or []
    check(summary, "the window started the bundle's own engine",
          bool(command_line) and Path(command_line[0]).resolve() == (bundle / ENGINE).resolve(),
          " ".join(command_line[:1]))
    if args.expect_model:
        check(summary, "the engine serves the bundled model", report.get("model") == args.expect_model,
              f"{report.get('model')} ({(report.get('plan') or {}).get('precision')} on "
              f"{(report.get('plan') or {}).get('device')})")
    check(summary, "a document was parsed in a worker process", bool(report.get("document")),
          json.dumps(report.get("document")))
    questions = report.get("questions") or []
    right = [q for q in questions if q.get("status") == "complete" and q.get("correct") is True]
    check(summary, "the sample's questions answered right", bool(questions) and len(right) == len(questions),
          report.get("error") or "; ".join(f"{q['question']!r} -> {(q.get('answer') or '')[:100]!r} "
                                           f"({(q.get('stats') or {}).get('completion_tokens')} tokens, "
                                           f"{q.get('answer_s')} s)" for q in questions))
    check(summary, "window and engine exited cleanly",
          result.returncode == 0 and report.get("engine_stopped") is True and report.get("engine_exit_code") == 0,
          f"window exit {result.returncode}, engine exit {report.get('engine_exit_code')}, "
          f"closed in {report.get('closed_s')} s")
    engine_log = home / ".cache" / "ponder" / "logs" / "engine.log"
    text = engine_log.read_text(encoding="utf-8") if engine_log.is_file() else ""
    check(summary, "the frozen engine ran eager (no compiling)", bool(text) and "compil" not in text.lower(),
          str(engine_log) if text else "no engine log")


# --- 4. a plain start, as the menu entry does ----------------------------------------------------------------
def check_plain_start(bundle: Path, env: dict[str, str], home: Path, timeout: float, summary: dict) -> None:
    log = home / ".cache" / "ponder" / "logs" / "ponder-app.log"
    engine_log = home / ".cache" / "ponder" / "logs" / "engine.log"
    engine_log_start = engine_log.stat().st_size if engine_log.exists() else 0
    process = subprocess.Popen([str(bundle / GUI)], env=env, cwd=home / "work", stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        engine = None
        while engine is None or "ready: serving" not in _tail(engine_log, engine_log_start):
            if process.poll() is not None:
                raise Failed(f"the window exited early (exit {process.returncode}): {process.stderr.read()[-1500:]}")
            if time.monotonic() > deadline:
                raise Failed(f"the window's engine did not serve within {timeout:.0f} s")
            engine = engine or _child(process.pid, ENGINE)
            time.sleep(0.2)
        check(summary, "plain start: the window opened and its engine serves",
              "Ponder started" in log.read_text(encoding="utf-8"), f"window pid {process.pid}, engine pid {engine}")
        if sys.platform.startswith("linux"):
            gui_libs, engine_libs = _mapped(process.pid), _mapped(engine)
            torch_in_gui = sorted(n for n in gui_libs if "libtorch" in n or "libc10" in n)
            qt_in_engine = sorted(n for n in engine_libs if "libQt6" in n or "libpyside6" in n)
            check(summary, "no torch in the window's process", not torch_in_gui and any("libQt6" in n for n in gui_libs),
                  ", ".join(torch_in_gui))
            check(summary, "no Qt in the engine's process", not qt_in_engine and any("libtorch" in n for n in engine_libs),
                  ", ".join(qt_in_engine))
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        time.sleep(0.5)
        stopped_itself = "engine stopped" in _tail(engine_log, engine_log_start)  # not killed: it shut down
        check(summary, "SIGTERM closes the window and its engine", code == 0 and not _alive(engine) and stopped_itself,
              f"window exit {code}, engine alive: {_alive(engine)}, engine shut down itself: {stopped_itself}")
        database = home / ".local" / "share" / "ponder" / "ponder.db"
        check(summary, "the chat database was created in the user's home", database.is_file(), str(database))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _tail(path: Path, start: int) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(start)
        return f.read().decode("utf-8", "replace")


def _child(pid: int, name: str) -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and Path(os.readlink(proc / "exe")).name == name:
                    return int(proc.name)
            except (OSError, IndexError, ValueError):
                continue
    return None


def _mapped(pid: int | None) -> set[str]:
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return set()
    return {Path(line.split()[-1]).name for line in lines if line.split()[-1].startswith("/")}


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def bundle_processes(root: Path) -> list[int]:
    """Processes whose executable lies under ``root`` (Linux), left over after the checks."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                exe = Path(os.readlink(proc / "exe"))
            except OSError:
                continue
            if exe.is_relative_to(root) and _alive(int(proc.name)):
                found.append(int(proc.name))
    return found


# --- 5. uninstall ----------------------------------------------------------------------------------------------
def check_uninstall(bundle: Path, home: Path, env: dict[str, str], summary: dict) -> None:
    result = subprocess.run(["sh", str(bundle / "uninstall.sh")], env=env, capture_output=True, text=True)
    prefix = home / ".local"
    left = [str(p) for p in (bundle, prefix / "share" / "applications" / "ponder.desktop", prefix / "bin" / "ponder")
            if p.exists() or p.is_symlink()]
    check(summary, "uninstall.sh removes the program, menu entry and command", result.returncode == 0 and not left,
          ", ".join(left) or result.stderr[-300:])


if __name__ == "__main__":
    sys.exit(main())
