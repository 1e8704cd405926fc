"""The one place the GUI runs blocking work: a callable or a generator on a worker thread, results by signal.

Shape (Anki's ``QueryOp``, napari's ``GeneratorWorker``, Electrum's ``TaskThread``):

    tasks.run(client.status, on_result=panel.show_status, on_error=report)
    task = tasks.iterate(client.events, on_item=stats_bar.update_engine)
    task.cancel()   # a generator stops before its next item (it is closed: its ``finally`` runs there)

The work runs on a worker thread and must not touch widgets. What it produces is emitted, queued, on a
``TaskDispatcher`` (one per application, living as long as the QApplication) and handed to the callbacks on
the GUI thread: ``on_result`` / ``on_item``, ``on_error``, then always ``on_finished``, once, whether the
work succeeded, failed or was cancelled. A task with no ``on_error`` logs its failure; errors shown to the
user go through ``app.dialogs.error_dialog``.

Workers are daemon threads, one per task (streams hold theirs for minutes; a pool would queue a status
call behind them): a worker stuck in a network read can neither block quitting nor the destruction of the
window that started it. ``shutdown`` cancels every task and waits a bounded time; after it, or once the
runner is destroyed, late results are dropped instead of reaching widgets that are gone.

Cancellation granularity: a callable cannot be interrupted (its result is dropped); a generator is checked
between items, so a stream stops within one item (one token of a chat stream, one engine snapshot, one
file of a download).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterator

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)

DISPATCHER_NAME = "ponderTaskDispatcher"


class Task:
    """A handle on one piece of background work: ``cancel()``, ``cancelled``, ``done``."""

    def __init__(self, name: str, owner: _Owner, on_result: Callable[[Any], None] | None,
                 on_item: Callable[[Any], None] | None, on_error: Callable[[BaseException], None] | None,
                 on_finished: Callable[[], None] | None) -> None:
        self.name, self._owner = name, owner
        self._on_result, self._on_item, self._on_error, self._on_finished = on_result, on_item, on_error, on_finished
        self._cancel = threading.Event()
        self.done = False

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def deliver(self, kind: str, value: Any) -> None:
        """On the GUI thread: hand one outcome to its callback (nothing once the owner is gone)."""
        if not self._owner.alive:
            return
        if kind == "result" and self._on_result is not None:
            self._on_result(value)
        elif kind == "item" and self._on_item is not None:
            self._on_item(value)
        elif kind == "failed":
            if self._on_error is not None:
                self._on_error(value)
            else:
                log.warning("background task %s failed: %s", self.name, value)
        elif kind == "finished":
            self.done = True
            self._owner.live.pop(self, None)
            if self._on_finished is not None:
                self._on_finished()


class TaskDispatcher(QObject):
    """Carries worker outcomes to the GUI thread (a queued signal to a slot of this long-lived object)."""

    posted = Signal(object, str, object)  # task, kind, value

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(DISPATCHER_NAME)
        self.posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object, str, object)
    def _deliver(self, task: Task, kind: str, value: Any) -> None:
        try:
            task.deliver(kind, value)
        except Exception:  # noqa: BLE001 - a failing callback must not stop the others
            log.exception("a callback of task %s failed", task.name)

    @classmethod
    def instance(cls) -> TaskDispatcher:
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("app.tasks needs a QApplication")
        found = app.findChild(TaskDispatcher, DISPATCHER_NAME)
        return found if found is not None else cls(app)


class _Owner:
    """What a runner's tasks share: whether results may still be delivered, and the running tasks."""

    def __init__(self) -> None:
        self.alive = True
        self.live: dict[Task, threading.Thread] = {}

    def close(self, *_: Any) -> None:
        self.alive = False


def _post(dispatcher: TaskDispatcher, task: Task, kind: str, value: Any = None) -> None:
    try:
        dispatcher.posted.emit(task, kind, value)
    except RuntimeError:  # the application is gone (the process is exiting)
        pass


def _execute(dispatcher: TaskDispatcher, task: Task, work: Callable[[Callable[[str, Any], None]], None]) -> None:
    """The worker thread's body: run, report a failure, then ``finished``."""
    post = lambda kind, value=None: _post(dispatcher, task, kind, value)  # noqa: E731
    try:
        work(post)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back through on_error
        if not task.cancelled:
            log.debug("task %s failed", task.name, exc_info=exc)
            post("failed", exc)
    finally:
        post("finished")


class TaskRunner(QObject):
    """Starts tasks; ``shutdown`` cancels them all and waits a bounded time. Owned by the window."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._dispatcher = TaskDispatcher.instance()
        self._owner = _Owner()
        self.destroyed.connect(self._owner.close)

    def run(self, fn: Callable[..., Any], *args: Any, name: str = "", on_result: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None,
            on_finished: Callable[[], None] | None = None, **kwargs: Any) -> Task:
        """``fn(*args, **kwargs)`` on a worker; its return value goes to ``on_result`` unless cancelled."""
        def work(post: Callable[[str, Any], None]) -> None:
            value = fn(*args, **kwargs)
            if not task.cancelled:
                post("result", value)

        task = Task(name or getattr(fn, "__name__", "task"), self._owner, on_result, None, on_error, on_finished)
        return self._start(task, work)

    def iterate(self, make: Callable[[], Iterator[Any]], *, name: str = "",
                on_item: Callable[[Any], None] | None = None,
                on_error: Callable[[BaseException], None] | None = None,
                on_finished: Callable[[], None] | None = None) -> Task:
        """Iterate ``make()`` on a worker (the generator is created there too); each item to ``on_item``."""
        def work(post: Callable[[str, Any], None]) -> None:
            iterator = make()
            try:
                for value in iterator:
                    if task.cancelled:
                        break
                    post("item", value)
                    if task.cancelled:
                        break
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()

        task = Task(name or getattr(make, "__name__", "stream"), self._owner, None, on_item, on_error, on_finished)
        return self._start(task, work)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Cancel every task, wait up to ``timeout_ms`` for the workers, then drop late results; True if all ended."""
        for task in list(self._owner.live):
            task.cancel()
        deadline = time.monotonic() + timeout_ms / 1000
        for task, thread in list(self._owner.live.items()):
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [task.name for task, thread in self._owner.live.items() if thread.is_alive()]
        if stuck:
            log.warning("background work still running at shutdown (left to finish on its own): %s", stuck)
        self._owner.close()
        return not stuck

    def _start(self, task: Task, work: Callable[[Callable[[str, Any], None]], None]) -> Task:
        thread = threading.Thread(target=_execute, args=(self._dispatcher, task, work), name=f"task-{task.name}",
                                  daemon=True)
        self._owner.live[task] = thread
        thread.start()
        return task
