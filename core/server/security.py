"""Request gatekeeping for a loopback server that holds a token: localhost is not a security boundary.

One pure ASGI middleware, checked in this order on every HTTP request, every route included:
Host must be 127.0.0.1 / localhost / [::1] (with our port or none) -> else 421 (DNS rebinding);
a present Origin must be ours -> else 403; the bearer token must match (constant-time) -> else 401;
a POST body must be ``application/json`` -> else 415 (no browser "simple" text/plain requests);
the body may not exceed the cap, by Content-Length and while reading -> else 413.
There is no CORS: browsers cannot read our responses from another origin.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Awaitable, Callable

from core.server.errors import (AuthenticationError, ForbiddenError, MisdirectedRequestError, PayloadTooLargeError,
                                PonderError, UnsupportedMediaTypeError)

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def host_allowed(host: str, port: int) -> bool:
    """``127.0.0.1``, ``localhost`` or ``[::1]``, each alone or with our port."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]") + 1
        name, rest = host[:end], host[end:]
    else:
        name, colon, port_text = host.partition(":")
        rest = colon + port_text
    return name in LOCAL_HOSTS and rest in ("", f":{port}")


def origin_allowed(origin: str, port: int) -> bool:
    return origin.lower() in {f"http://{h}:{port}" for h in LOCAL_HOSTS}


def token_matches(authorization: str | None, token: str) -> bool:
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return secrets.compare_digest(presented.strip().encode(), token.encode())


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, token: str, port: int, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if not token:
            raise ValueError("the API token must not be empty")
        self.app, self.token, self.port, self.max_body_bytes = app, token, port, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no websocket routes: refuse before anything else sees it
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            self._check_headers(scope, headers)
            if scope["method"] == "POST":
                receive = await self._buffered_body(headers, receive)
        except PonderError as err:
            log.info("refused %s %s: %s %s", scope["method"], scope.get("path"), err.status, err.code)
            await err.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check_headers(self, scope: Scope, headers: dict[str, str]) -> None:
        host = headers.get("host", "")
        if not host_allowed(host, self.port):
            raise MisdirectedRequestError(f"the Host header {host!r} is not this server; use "
                                          f"http://127.0.0.1:{self.port} (requests for other host names are "
                                          "refused to stop DNS-rebinding attacks)")
        origin = headers.get("origin")
        if origin is not None and not origin_allowed(origin, self.port):
            raise ForbiddenError(f"requests from the web origin {origin!r} are not allowed; only "
                                 f"http://127.0.0.1:{self.port} may call this server")
        if not token_matches(headers.get("authorization"), self.token):
            missing = "authorization" not in headers
            raise AuthenticationError("missing bearer token: send 'Authorization: Bearer <token>' with the token "
                                      "from the engine's handshake" if missing else
                                      "invalid bearer token: use the token from the engine's handshake")
        if scope["method"] == "POST":
            has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if (has_body or media) and media != "application/json":
                raise UnsupportedMediaTypeError(f"the request body must be JSON with 'Content-Type: application/json'"
                                                f" (got {media or 'no content type'!r})")

    async def _buffered_body(self, headers: dict[str, str], receive: Receive) -> Receive:
        """Read the whole body (at most the cap) and replay it; then pass through (for disconnects)."""
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            raise self._too_large()
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                pending: list[Message] = [message]
                return _replay([], pending, receive)
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(body)
            more = message.get("more_body", False)
        return _replay([b"".join(chunks)], [], receive)

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"the request body is larger than {self.max_body_bytes // (1024 * 1024)} MiB; "
                                    "send less text (or split the document)")


def _replay(bodies: list[bytes], pending: list[Message], receive: Receive) -> Receive:
    queue: list[Message] = [{"type": "http.request", "body": b, "more_body": False} for b in bodies] + pending

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed
