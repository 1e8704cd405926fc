"""An engine dies with the window that started it, however the window dies (issue 27, point 3): its stdin
pipe closing or its parent's pid going both stop it, and the pid file lets the next start stop an orphan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import psutil
import pytest

from core.api import engine_pids
from core.api.spawn import EngineSubprocess
from core.server.parent_watch import ParentWatch, parent_pid_from

pytestmark = pytest.mark.timeout(60)


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if engine_pids.process_started(pid) is None:
            return True
        time.sleep(0.05)
    return False


def test_the_pipe_closing_means_the_parent_is_gone():
    read_end, write_end = os.pipe()
    fired = threading.Event()
    reasons: list[str] = []
    with os.fdopen(read_end, "rb", buffering=0) as stdin:
        ParentWatch(os.getpid(), lambda why: (reasons.append(why), fired.set()), stdin=stdin, poll_s=60).start()
        time.sleep(0.1)
        assert not fired.is_set()
        os.close(write_end)
        assert fired.wait(5) and "stdin" in reasons[0]


def test_the_parent_pid_going_means_the_parent_is_gone():
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    fired = threading.Event()
    try:
        ParentWatch(parent.pid, lambda why: fired.set(), stdin=None, poll_s=0.05).start()
        time.sleep(0.2)
        assert not fired.is_set()
        parent.kill()
        parent.wait()
        assert fired.wait(5)
    finally:
        parent.kill()


def test_the_parent_is_named_in_the_environment(monkeypatch):
    assert parent_pid_from({}) is None and parent_pid_from({"PONDER_PARENT_PID": "x"}) is None
    assert parent_pid_from({"PONDER_PARENT_PID": "1234"}) == 1234
    sub = EngineSubprocess(["--model", "m"], command=["engine"])
    assert sub._env["PONDER_PARENT_PID"] == str(os.getpid())


@pytest.mark.skipif(os.name != "posix", reason="a shell child stands in for the engine")
def test_an_engine_whose_window_died_is_stopped_at_the_next_start(tmp_path):
    window = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    alive_window = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    kept = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for engine, parent in ((orphan, window), (kept, alive_window)):
            record = {"pid": engine.pid, "started": engine_pids.process_started(engine.pid), "parent_pid": parent.pid,
                      "parent_started": engine_pids.process_started(parent.pid)}
            (tmp_path / f"{engine.pid}.json").write_text(json.dumps(record))
        (tmp_path / "999999999.json").write_text(json.dumps({"pid": 999999999, "started": 1.0, "parent_pid": 1,
                                                             "parent_started": 1.0}))
        window.kill()
        window.wait()
        assert engine_pids.stop_orphaned_engines(tmp_path) == [orphan.pid]
        assert orphan.wait(5) is not None and kept.poll() is None  # the engine of a live window is left alone
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kept.pid}.json"]  # stale files removed
    finally:
        for process in (window, orphan, alive_window, kept):
            process.kill()
            process.wait()


def test_an_engine_registers_and_unregisters_its_pid_file(tmp_path):
    path = engine_pids.register(os.getpid(), tmp_path)
    record = json.loads(path.read_text())
    assert record["pid"] == os.getpid() and record["started"] == psutil.Process().create_time()
    engine_pids.unregister(path)
    assert not path.exists()
