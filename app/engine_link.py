"""The engine the window talks to: the local ``EngineProcess``, or a remote OpenAI-compatible server.

It hands out one ``EngineClient`` at a time (``connected``), takes it back when the engine goes away
(``disconnected``), says in one line what the engine is doing (``state_changed`` for the status line),
and feeds the live engine events (``event_received``) from ``client.events()`` on a worker. A server
without Ponder's engine endpoints (vLLM, SGLang, ...) gets ``events_unavailable`` instead: not an error.

Signals:
    connected(client, info)      info: mode ("local" | "remote"), url, model, plan (dict or None), engine (bool)
    disconnected(reason)
    state_changed(kind, text)    kind: starting | ready | restarting | failed | no_model | remote | connecting
    notice(text, level)          level: info | warning | error (crash and restart notices)
    event_received(EngineEvent)
    events_unavailable(reason)
    connect_failed(exception)
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.engine_process import EngineProcess
from app.tasks import Task, TaskRunner
from core.client import EngineClient, EngineError, NotSupportedError

log = logging.getLogger(__name__)

CLIENT_TIMEOUT_S = 600.0  # a long answer's stream may be quiet for a while (long prefill)
EVENTS_RETRY_MS = 2000


def probe_server(url: str, key: str | None) -> tuple[EngineClient, dict[str, Any]]:
    """Connect to a server (worker thread): its models, and whether it is a Ponder engine."""
    client = EngineClient(url, key or None, timeout=CLIENT_TIMEOUT_S)
    try:
        models = client.models()
        engine = True
        try:
            client.status()
        except NotSupportedError:
            engine = False
    except BaseException:
        client.close()
        raise
    model = models[0].id if models else None
    return client, {"mode": "remote", "url": client.root_url, "model": model, "plan": None, "engine": engine}


class EngineLink(QObject):
    connected = Signal(object, dict)
    disconnected = Signal(str)
    state_changed = Signal(str, str)
    notice = Signal(str, str)
    event_received = Signal(object)
    events_unavailable = Signal(str)
    connect_failed = Signal(object)

    def __init__(self, tasks: TaskRunner, engine: EngineProcess, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks, self.engine = tasks, engine
        self.mode = "local"
        self.client: EngineClient | None = None
        self.info: dict[str, Any] = {}
        self._events: Task | None = None
        self._events_retry = QTimer(self, singleShot=True, interval=EVENTS_RETRY_MS)
        self._events_retry.timeout.connect(self._start_events)
        engine.starting.connect(self._engine_starting)
        engine.ready.connect(self._engine_ready)
        engine.failed.connect(self._engine_failed)
        engine.no_model.connect(lambda message: self._drop_client("no model", "no_model", message))
        engine.crashed.connect(self._engine_crashed)
        engine.restarted.connect(lambda: self.notice.emit(
            "The engine was restarted after it stopped unexpectedly. The partial answer was kept (marked "
            "interrupted); you can ask again.", "warning"))

    # --- choosing the engine ---------------------------------------------------------------------------
    def start_local(self, model_dir: Any = None) -> None:
        self.mode = "local"
        self.engine.start(model_dir)

    def use_local(self) -> None:
        """Back from a remote server to the local engine."""
        if self.mode == "local" and self.engine.state in ("starting", "ready", "restarting"):
            return
        self._drop_client("switching to the local engine", "starting", "Starting the local engine…")
        self.start_local()

    def restart(self) -> None:
        if self.mode == "local":
            self.engine.restart()

    def connect_remote(self, url: str, key: str | None) -> None:
        """Check the server on a worker; on success, stop the local engine and use the server."""
        self.state_changed.emit("connecting", f"Connecting to {url}…")
        self.tasks.run(probe_server, url, key, name="connect", on_result=self._remote_ready,
                       on_error=self._remote_failed)

    def shutdown(self) -> None:
        self._stop_events()
        self.engine.stop()
        self._close_client()

    # --- local engine ----------------------------------------------------------------------------------
    def _engine_starting(self) -> None:
        if self.mode != "local":
            return
        restarting = self.engine.state == "restarting"
        self._drop_client("the engine is restarting" if restarting else "the engine is starting",
                          "restarting" if restarting else "starting",
                          "Restarting the engine…" if restarting else "Starting the engine…")

    def _engine_ready(self, base_url: str, token: str, handshake: dict) -> None:
        if self.mode != "local":
            return
        self._close_client()
        plan = handshake.get("plan") or {}
        self.client = EngineClient(base_url, token, timeout=CLIENT_TIMEOUT_S)
        self.info = {"mode": "local", "url": base_url, "model": handshake.get("model"), "plan": plan,
                     "engine": True, "model_dir": handshake.get("model_dir"), "version": handshake.get("version")}
        self.state_changed.emit("ready", ready_text(handshake.get("model"), plan))
        self.connected.emit(self.client, self.info)
        self._start_events()

    def _engine_failed(self, message: str) -> None:
        if self.mode == "local":
            self._drop_client(message, "failed", f"Engine error: {message}")

    def _engine_crashed(self, message: str) -> None:
        if self.mode != "local":
            return
        self.notice.emit(f"{message[0].upper()}{message[1:]}. Restarting it…", "error")
        self._drop_client(message, "restarting", "The engine stopped; restarting…")

    # --- remote server ---------------------------------------------------------------------------------
    def _remote_ready(self, result: tuple[EngineClient, dict[str, Any]]) -> None:
        client, info = result
        self._drop_client("switching to a server", "remote", "")
        self.engine.stop_in_background()
        self.mode = "remote"
        self.client, self.info = client, info
        self.state_changed.emit("remote", f"Server {info['url']} · {info.get('model') or 'its default model'}")
        self.connected.emit(client, info)
        if info.get("engine"):
            self._start_events()
        else:
            self.events_unavailable.emit(f"{info['url']} does not publish engine events (not a Ponder engine)")

    def _remote_failed(self, exc: BaseException) -> None:
        self.connect_failed.emit(exc)
        if self.client is not None:  # still on the previous engine: say so again
            kind = "remote" if self.mode == "remote" else "ready"
            text = (f"Server {self.info.get('url')}" if self.mode == "remote"
                    else ready_text(self.info.get("model"), self.info.get("plan") or {}))
            self.state_changed.emit(kind, text)

    # --- events ----------------------------------------------------------------------------------------
    def _start_events(self) -> None:
        self._stop_events()
        client = self.client
        if client is None:
            return
        self._events = self.tasks.iterate(client.events, name="engine events", on_item=self.event_received.emit,
                                          on_error=lambda exc: self._events_failed(client, exc))

    def _events_failed(self, client: EngineClient, exc: BaseException) -> None:
        if client is not self.client:
            return
        if isinstance(exc, NotSupportedError):
            self.events_unavailable.emit(str(exc))
            return
        log.info("engine events stopped (%s); retrying", exc)
        self._events_retry.start()  # the engine may be restarting: the crash path hands over a new client

    def _stop_events(self) -> None:
        self._events_retry.stop()
        if self._events is not None:
            self._events.cancel()
            self._events = None

    # --- plumbing --------------------------------------------------------------------------------------
    def _drop_client(self, reason: str, kind: str, text: str) -> None:
        self._stop_events()
        had_client = self.client is not None
        self._close_client()
        if text:
            self.state_changed.emit(kind, text)
        if had_client:
            self.disconnected.emit(reason)

    def _close_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            self.tasks.run(_close_quietly, client, name="close client")


def ready_text(model: str | None, plan: dict[str, Any]) -> str:
    summary = plan.get("summary") if plan else None
    return f"Ready · {model or 'model'}" + (f" · {summary}" if summary else "")


def _close_quietly(client: EngineClient) -> None:
    try:
        client.close()
    except (EngineError, OSError):
        pass
