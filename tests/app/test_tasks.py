"""app.tasks: callables and generators on worker threads, results on the GUI thread, cancel, errors."""

from __future__ import annotations

import threading
import time

import pytest

from app.tasks import TaskRunner
from tests.app.window_support import wait_until

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def runner(qapp):
    r = TaskRunner()
    yield r
    assert r.shutdown(2000)


def test_run_returns_the_result_on_the_gui_thread(runner):
    got, threads, finished = [], [], []
    runner.run(lambda a, b: (threads.append(threading.current_thread()), a + b)[1], 2, 3,
               on_result=lambda v: (got.append(v), threads.append(threading.current_thread())),
               on_finished=lambda: finished.append(True))
    wait_until(lambda: finished, 5, "the task")
    assert got == [5] and threads[0] is not threads[1] and threads[1] is threading.main_thread()


def test_an_error_reaches_on_error_then_finished(runner):
    order: list[str] = []
    runner.run(lambda: 1 / 0, on_result=lambda v: order.append("result"),
               on_error=lambda exc: order.append(type(exc).__name__), on_finished=lambda: order.append("finished"))
    wait_until(lambda: "finished" in order, 5, "the task")
    assert order == ["ZeroDivisionError", "finished"]


def test_iterate_delivers_items_in_order(runner):
    items: list[int] = []
    done: list[bool] = []
    runner.iterate(lambda: iter(range(50)), on_item=items.append, on_finished=lambda: done.append(True))
    wait_until(lambda: done, 5, "the generator")
    assert items == list(range(50))


def test_cancel_stops_a_generator_between_items_and_closes_it(runner):
    closed = threading.Event()
    items: list[int] = []

    def endless():
        try:
            n = 0
            while True:
                time.sleep(0.01)
                yield n
                n += 1
        finally:
            closed.set()

    task = runner.iterate(endless, on_item=items.append)
    wait_until(lambda: len(items) >= 3, 5, "some items")
    task.cancel()
    assert closed.wait(2)
    seen = len(items)
    wait_until(lambda: task.done, 5, "finished")
    time.sleep(0.05)
    assert len(items) <= seen + 1  # at most the item already emitted when cancel came


def test_shutdown_cancels_streams(qapp):
    runner = TaskRunner()
    started = threading.Event()

    def endless():
        started.set()
        while True:
            time.sleep(0.01)
            yield 1

    runner.iterate(endless)
    assert started.wait(2)
    assert runner.shutdown(2000)
