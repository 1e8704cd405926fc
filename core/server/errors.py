"""Typed server errors, mapped once to OpenAI-shaped JSON: ``{"error": {message, type, param, code}}``.

Handlers raise a ``PonderError``; what the engine raises (its own ``ContextLengthError``, ``QueueFullError``,
``TokenizerError``, ``ValueError``) becomes one in ``api_error``, the one table from engine failures to
HTTP errors. ``install_error_handlers`` turns a ``PonderError``, FastAPI's validation errors, unknown routes
and any unexpected exception into the right status with an ``ErrorResponse`` body. Deterministic failures
are 4xx so clients do not retry them; a 500 never carries a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.api.protocol import ErrorInfo, ErrorResponse, LoadStatus
from core.engine.engine import ContextLengthError
from core.engine.scheduler import QueueFullError
from core.server.wire import json_response
from core.tokenizer import PromptTooLongError, TokenizerError

log = logging.getLogger(__name__)


class PonderError(Exception):
    """An error with its HTTP status and OpenAI error fields."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param
        self.code = code or self.code
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> ErrorResponse:
        return ErrorResponse(error=ErrorInfo(message=self.message, type=self.type, param=self.param, code=self.code,
                                             **self.extra))

    def response(self) -> JSONResponse:
        return json_response(self.body(), status_code=self.status, headers=self.headers)


class BadRequestError(PonderError):
    status, type, code = 400, "invalid_request_error", "invalid_parameter"


class AuthenticationError(PonderError):
    status, type, code = 401, "authentication_error", "invalid_api_key"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class ForbiddenError(PonderError):
    status, type, code = 403, "permission_error", "origin_not_allowed"


class NotFoundError(PonderError):
    status, type, code = 404, "not_found_error", "not_found"


class ConflictError(PonderError):
    status, type, code = 409, "conflict_error", "load_in_progress"


class PayloadTooLargeError(PonderError):
    status, type, code = 413, "invalid_request_error", "body_too_large"


class UnsupportedMediaTypeError(PonderError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class MisdirectedRequestError(PonderError):
    status, type, code = 421, "invalid_request_error", "host_not_allowed"


class TooManyRequestsError(PonderError):
    status, type, code = 429, "rate_limit_error", "queue_full"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class EngineLoadingError(PonderError):
    status, type, code = 503, "service_unavailable", "model_loading"


class EngineStalledError(PonderError):
    """503 from ``/health``: the engine thread is stuck (busy, no progress); the window restarts the engine."""

    status, type, code = 503, "service_unavailable", "engine_stalled"


class InternalError(PonderError):
    status, type, code = 500, "server_error", "internal_error"


def api_error(exc: Exception, doing: str) -> PonderError:
    """The one map from an engine failure to what the client gets; an unexpected one is a 500 whose
    message names the step (``doing``) that failed. The caller logs a 500 with its traceback."""
    if isinstance(exc, PonderError):
        return exc
    if isinstance(exc, ContextLengthError):
        return BadRequestError(str(exc), param="messages", code="context_length_exceeded",
                               extra={"prompt_tokens": exc.prompt_tokens, "context_tokens": exc.context_tokens})
    if isinstance(exc, PromptTooLongError):
        context = exc.limit_tokens + 1  # the prompt must leave at least one token for the answer
        return BadRequestError(f"the prompt has {'at least ' if exc.at_least else ''}{exc.prompt_tokens} tokens "
                               f"but the context window is {context} tokens (and at least one token is needed "
                               "for the answer); shorten the prompt or load the model with a longer context",
                               param="messages", code="context_length_exceeded",
                               extra={"prompt_tokens": exc.prompt_tokens, "context_tokens": context})
    if isinstance(exc, QueueFullError):
        return TooManyRequestsError(f"the engine is busy: {exc}")
    if isinstance(exc, TokenizerError):  # the chat template refused the messages
        return BadRequestError(str(exc), param="messages")
    if isinstance(exc, ValueError):
        return BadRequestError(str(exc))
    return InternalError(f"internal error while {doing} ({type(exc).__name__})")


def unavailable_error(load: LoadStatus) -> PonderError:
    if load.state == "failed":
        return EngineLoadingError(f"no model is loaded: {load.error}; load one with POST /v1/engine/load",
                                  code="no_model")
    return EngineLoadingError(f"a model is loading ({load.target}); retry when GET /health says ok",
                              headers={"Retry-After": "2"})


def validation_param(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """pydantic's error location as a parameter path: ("body", "messages", 0, "role") -> "messages[0].role"."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in str(part) or str(part) in ("str", "int", "float", "bool", "none"):
            continue  # a union member's type name, not a field
        else:
            out += f".{part}" if out else str(part)
    return out or None


def validation_error(exc: RequestValidationError) -> BadRequestError:
    errors = exc.errors()
    if not errors:
        return BadRequestError("the request body is not valid")
    first = max(errors, key=lambda e: len(e.get("loc", ())))  # a union's deepest error is the telling one
    param = validation_param(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        return BadRequestError(f"the request body is not valid JSON: {first.get('msg')}", param=None,
                               code="invalid_json")
    if first.get("type") == "missing":
        if param is None:
            return BadRequestError("the request has no body: send a JSON object", code="missing_body")
        return BadRequestError(f"missing required parameter '{param}'", param=param, code="missing_parameter")
    where = f"'{param}'" if param else "the request body"
    return BadRequestError(f"invalid value for {where}: {first.get('msg')}", param=param)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the server as ``{"error": {...}}`` with its status."""

    @app.exception_handler(PonderError)
    async def _ponder(_: Request, exc: PonderError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err: PonderError = NotFoundError(f"no such endpoint: {request.method} {request.url.path}",
                                             code="route_not_found")
        elif exc.status_code == 405:
            err = BadRequestError(f"{request.method} is not allowed on {request.url.path}", code="method_not_allowed")
            err.status = 405
        elif exc.status_code == 400:  # FastAPI could not read the body (nested too deeply, not UTF-8 ...)
            err = BadRequestError(f"the request body is not valid JSON ({exc.detail})", code="invalid_json")
        elif 400 <= exc.status_code < 500:
            err = BadRequestError(str(exc.detail))
            err.status = exc.status_code
        else:
            err = PonderError(str(exc.detail))
            err.status = exc.status_code
        return err.response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return InternalError(f"internal error in the engine ({type(exc).__name__}); see the engine log").response()
