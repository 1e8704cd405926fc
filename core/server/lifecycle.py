"""Run the engine process: logging, socket, engine thread, uvicorn, handshake, clean shutdown.

Order: logs go to stderr and a file (never stdout; the token is redacted from every record), the sockets
are bound on 127.0.0.1 and, where the machine has IPv6, on [::1] with the same port (port 0 = a free one;
the Host check accepts both loopback names) and handed to uvicorn, the engine thread loads the model
while the server already answers (``/health`` is 503 until then), and once the model serves, exactly
one line of JSON is announced: ``{"event": "ready", "port", "pid", "version", "model", "plan"}`` (or
``{"event": "error", "message"}`` and exit 1 if the first load fails). SIGTERM/SIGINT abort the running
requests (their streams end with an error chunk and ``[DONE]``) and exit 0. An engine a window started
(``PONDER_PARENT_PID``) writes a pid file and exits at once when that window goes (``parent_watch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import logging.handlers
import os
import signal
import socket
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import uvicorn

from core.api import engine_pids
from core.engine.launch import LaunchOptions
from core.server.app import AppSettings, create_app
from core.server.errors import EngineLoadingError
from core.server.parent_watch import ParentWatch, parent_pid_from
from core.server.serving import EngineService, Launcher
from core.server.settings import ServeOptions

log = logging.getLogger(__name__)

Announce = Callable[[dict[str, Any]], None]
HOST = "127.0.0.1"
HOST_V6 = "::1"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def version() -> str:
    try:
        return metadata.version("ponder")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class RedactFilter(logging.Filter):
    """Removes the API token from any log record, whatever logged it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret and self.secret in message:
            record.msg, record.args = message.replace(self.secret, "[token]"), None
        return True


def configure_logging(log_file: Path | None, token: str, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=5 * 2**20, backupCount=3,
                                                                 encoding="utf-8"))
        except OSError as exc:
            print(f"cannot write the log file {log_file} ({exc}); logging to stderr only", file=sys.stderr)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RedactFilter(token))
        root.addHandler(handler)


def bind_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform != "win32":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {HOST}:{port} ({exc.strerror}); choose another --port, or 0 for a free one")
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def bind_sockets(port: int) -> list[socket.socket]:
    """127.0.0.1 and, where IPv6 is available, [::1] on the same port: a client that resolves ``localhost`` to
    ::1 first reaches us too. With port 0, a port free on both is chosen."""
    for _attempt in range(20):
        v4 = bind_socket(port)
        try:
            return [v4, _bind_v6(v4.getsockname()[1])]
        except OSError as exc:
            if port == 0 and exc.errno == errno.EADDRINUSE:
                v4.close()
                continue  # the free IPv4 port is taken on ::1: pick another
            log.info("not listening on [%s] (%s); IPv4 only", HOST_V6, exc.strerror or exc)
            return [v4]
    return [bind_socket(port)]


def _bind_v6(port: int) -> socket.socket:
    if not socket.has_ipv6:
        raise OSError(errno.EAFNOSUPPORT, "no IPv6 support")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST_V6, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class EngineServer(uvicorn.Server):
    """uvicorn with our signal handling (abort requests, exit 0) and the handshake once the model serves."""

    def __init__(self, config: uvicorn.Config, service: EngineService, settings: AppSettings,
                 on_ready: Callable[[], None], on_failed: Callable[[str], None]) -> None:
        super().__init__(config)
        self.service, self.settings = service, settings
        self.on_ready, self.on_failed = on_ready, on_failed
        self.exit_code = 0
        self._announcer: asyncio.Task | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        log.info("%s: aborting running requests and shutting down", signal.Signals(sig).name)
        self.settings.shutting_down = True
        self.service.abort_all(EngineLoadingError("the engine is shutting down", code="shutting_down"))
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._announcer = asyncio.create_task(self._announce())

    async def _announce(self) -> None:
        try:
            await asyncio.wrap_future(self.service.first_load)
        except Exception as exc:  # noqa: BLE001 - the message is the load's own
            self.exit_code = 1
            self.on_failed(str(exc))
            self.should_exit = True
            return
        self.on_ready()


def _watch_parent(before_exit: Callable[[], None]) -> Path | None:
    """For an engine a window started: its pid file, and an exit within a second of the window's end (nobody
    is left to answer, so there is nothing to shut down gracefully)."""
    parent = parent_pid_from()
    if parent is None:
        return None
    pid_file = engine_pids.register(parent)

    def exit_now(_why: str) -> None:
        try:
            before_exit()
        finally:
            engine_pids.unregister(pid_file)
            logging.shutdown()
            os._exit(0)

    ParentWatch(parent, exit_now, stdin=getattr(sys.stdin, "buffer", None)).start()
    return pid_file


def serve(options: ServeOptions, token: str, token_generated: bool, announce: Announce,
          launcher: Launcher | None = None) -> int:
    """Run until SIGTERM/SIGINT. ``announce`` gets the ready (or error) handshake, exactly once."""
    configure_logging(options.log_file, token)
    sockets = bind_sockets(options.port)
    port = sockets[0].getsockname()[1]
    log.info("engine %s (pid %d) on http://%s:%d; model %s, precision %s; log %s", version(), os.getpid(), HOST, port,
             options.model_dir, options.precision, options.log_file)
    service = EngineService(LaunchOptions(options.model_dir, options.precision, options.context_tokens,
                                          options.device, options.threads, options.max_sequences,
                                          options.max_waiting, step_tokens=options.step_tokens,
                                          speculation=options.speculation, kv_disk_mib=options.kv_disk_mib),
                            launcher)
    settings = AppSettings(token=token, port=port, version=version(), max_body_bytes=options.max_body_mib * 2**20)
    app = create_app(service, settings)

    def ready() -> None:
        model = service.model
        message: dict[str, Any] = {"event": "ready", "port": port, "pid": os.getpid(), "version": version(),
                                   "model": model.id if model else None,
                                   "model_dir": model.summary().path if model else None,
                                   "plan": model.plan_dict if model else None}
        if token_generated:
            message["token"] = token
        log.info("ready: serving %s at http://%s:%d", message["model"], HOST, port)
        announce(message)

    def failed(message: str) -> None:
        log.error("the model could not be loaded: %s", message)
        announce({"event": "error", "pid": os.getpid(), "message": message})

    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5,
                            timeout_keep_alive=30)
    server = EngineServer(config, service, settings, ready, failed)
    pid_file = _watch_parent(lambda: app.state.bench.stop_all())
    service.start()
    try:
        server.run(sockets=sockets)
    finally:
        app.state.bench.stop_all()  # benchmark children end with the engine
        service.stop()
        for sock in sockets:
            sock.close()
        engine_pids.unregister(pid_file)
    log.info("engine stopped")
    return server.exit_code
