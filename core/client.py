"""The one client of the engine API (httpx, synchronous): the GUI runs it on a worker thread, the CLI directly.

It speaks to the local Ponder engine and to any OpenAI-compatible server (vLLM, SGLang, ...):
- reasoning comes from ``reasoning_content`` (or vLLM's newer ``reasoning``) when the server splits it,
  else from a ``<think>`` block inside ``content`` (``core.reasoning.ReasoningSplitter``);
- engine-only endpoints (status, events, plan, load, cancel, cpu speed, metrics) raise ``NotSupportedError`` on a server
  that lacks them;
- every failure is a typed ``EngineError`` built from the OpenAI error body (or a connection failure).
No torch and no Qt here.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import httpx

from core.reasoning import ReasoningSplitter
from core.api.protocol import (API_PREFIX, SSE_DONE, BenchRun, ChatCompletion, ChatCompletionChunk, CpuSpeedResult,
                               EngineEvent, EngineStatus, LoadProgress, ModelCard, ModelList, PlanResult, PonderStats,
                               PromptProgress, Usage)

Message = Mapping[str, Any]


# --- errors --------------------------------------------------------------------------------------
class EngineError(Exception):
    """Any failure talking to the engine; ``status`` is the HTTP status (None for connection failures)."""

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
                 code: str | None = None, param: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message, self.status, self.type, self.code, self.param, self.body = message, status, type, code, param, body


class EngineNotRunningError(EngineError):
    """Nothing answers at the address: the engine is not running (or not yet listening)."""


class EngineTimeoutError(EngineError):
    pass


class AuthError(EngineError):
    """401 (missing or wrong token), 403 (origin refused) or 421 (host refused)."""


class NotFoundError(EngineError):
    """404: unknown model or request id."""


class NotSupportedError(EngineError):
    """The server has no such endpoint (e.g. an engine endpoint on vLLM)."""


class BadRequestError(EngineError):
    """A 4xx the request itself caused; ``param`` names the bad parameter when the server says."""


class ContextLengthError(BadRequestError):
    def __init__(self, message: str, prompt_tokens: int | None, context_tokens: int | None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.prompt_tokens, self.context_tokens = prompt_tokens, context_tokens


class BusyError(EngineError):
    """429: the queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class LoadingError(EngineError):
    """503: a model is loading (or none is loaded, or the engine is shutting down)."""


class ServerError(EngineError):
    """5xx: the engine failed; the message says what, the engine log has the details."""


class EngineStalledError(ServerError):
    """503 ``engine_stalled``: the engine answers but its engine thread makes no progress (it is wedged)."""


class LoadFailedError(EngineError):
    """``load()`` failed; the engine keeps serving ``kept_model`` (None if it has no model)."""

    def __init__(self, message: str, kept_model: str | None) -> None:
        super().__init__(message)
        self.kept_model = kept_model


def error_from_response(status: int | None, body: Any, headers: Mapping[str, str] | None = None) -> EngineError:
    """An ``EngineError`` from an OpenAI error body (``{"error": {...}}``, or vLLM's older flat form)."""
    info = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else body
    info = info if isinstance(info, dict) else {}
    message = str(info.get("message") or info.get("detail") or body or f"HTTP {status}")
    kw = dict(status=status, type=info.get("type"), code=_str_or_none(info.get("code")), param=info.get("param"),
              body=body)
    code, kind = kw["code"], kw["type"]
    if code == "context_length_exceeded" or (status == 400 and "context length" in message.lower()):
        prompt, context = info.get("prompt_tokens"), info.get("context_tokens")
        if prompt is None or context is None:  # other servers: the numbers are only in the message
            numbers = [int(n) for n in re.findall(r"\d[\d,]*", message.replace(",", ""))]
            context, prompt = (numbers + [None, None])[:2] if len(numbers) >= 2 else (None, None)
        return ContextLengthError(message, prompt, context, **kw)
    if status in (401, 403, 421) or kind == "authentication_error":
        return AuthError(message, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status == 429 or kind == "rate_limit_error":
        retry = (headers or {}).get("retry-after")
        return BusyError(message, float(retry) if retry and _is_number(retry) else None, **kw)
    if code == "engine_stalled":
        return EngineStalledError(message, **kw)
    if status == 503 or kind == "service_unavailable":
        return LoadingError(message, **kw)
    if status is not None and 400 <= status < 500 or kind == "invalid_request_error":
        return BadRequestError(message, **kw)
    return ServerError(message, **kw)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# --- results -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One piece of a streamed answer: reasoning text, answer text, and, at the end, finish reason / usage.

    The first delta (the role chunk) carries only ``request_id``: enough to cancel a request still queued.
    While the server reads a long prompt, deltas carry only ``prompt`` (its progress; Ponder and llama.cpp).
    """

    request_id: str
    reasoning: str = ""
    answer: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    stats: PonderStats | None = None  # Ponder's per-request speed (on the finishing delta)
    prompt: PromptProgress | None = None


@dataclass(slots=True)
class ChatResult:
    request_id: str
    model: str
    reasoning: str
    answer: str
    finish_reason: str | None
    usage: Usage | None = None
    stats: PonderStats | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def reasoning_unfinished(self) -> bool:
        return bool(self.stats and self.stats.reasoning_unfinished)


# --- the client ----------------------------------------------------------------------------------
class EngineClient:
    """``EngineClient("http://127.0.0.1:PORT", token)``; ``base_url`` may end in ``/v1`` (OpenAI style)."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float | httpx.Timeout = 600.0, *,
                 think_open_in_prompt: bool = False, transport: httpx.BaseTransport | None = None) -> None:
        root = base_url.rstrip("/")
        self.root_url = root[: -len(API_PREFIX)] if root.endswith(API_PREFIX) else root
        self.think_open_in_prompt = think_open_in_prompt  # a remote template that opens <think> in the prompt
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.root_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- OpenAI-compatible ---------------------------------------------------------------------
    def chat(self, messages: Sequence[Message], **params: Any) -> ChatResult:
        """One chat completion. ``params``: model, max_tokens, temperature, top_p, top_k, seed, stop, ..."""
        body = {"messages": list(messages), **params, "stream": False}  # no model: the server's own
        data = self._json("POST", f"{API_PREFIX}/chat/completions", json=body)
        parsed = ChatCompletion.model_validate(data)
        if not parsed.choices:
            raise ServerError("the server returned no choices", body=data)
        choice = parsed.choices[0]
        reasoning, answer = _reasoning_of(choice.message), choice.message.content or ""
        if reasoning is None:
            reasoning, answer = self._split(answer)
        return ChatResult(parsed.id, parsed.model, reasoning or "", answer, choice.finish_reason, parsed.usage,
                          parsed.ponder, data)

    def chat_stream(self, messages: Sequence[Message], **params: Any) -> Iterator[ChatDelta]:
        """Stream a chat completion as typed deltas; stop iterating (or close it) to abort the request."""
        include_usage = params.pop("include_usage", True)
        body = {"messages": list(messages), **params, "stream": True}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        splitter: ReasoningSplitter | None = None  # only for servers that leave <think> inside content
        server_splits = False
        request_id = ""
        for data in self._sse("POST", f"{API_PREFIX}/chat/completions", json=body):
            chunk = ChatCompletionChunk.model_validate(data)
            request_id = chunk.id or request_id
            if chunk.prompt_progress is not None:
                yield ChatDelta(request_id, prompt=chunk.prompt_progress)
            if not chunk.choices:
                if chunk.usage is not None:
                    yield ChatDelta(request_id, usage=chunk.usage)
                continue
            choice = chunk.choices[0]
            reasoning, answer = _reasoning_of(choice.delta), choice.delta.content or ""
            server_splits = server_splits or reasoning is not None
            if not server_splits and answer and splitter is None:
                splitter = ReasoningSplitter(self.think_open_in_prompt)
            if splitter is not None:
                reasoning, answer = splitter.feed(answer)
                if choice.finish_reason:
                    more = splitter.finish()
                    reasoning, answer = reasoning + more[0], answer + more[1]
            if reasoning or answer or choice.finish_reason or chunk.usage or choice.delta.role:  # role: the id, early
                yield ChatDelta(request_id, reasoning or "", answer, choice.finish_reason, chunk.usage, chunk.ponder)

    def models(self) -> list[ModelCard]:
        return ModelList.model_validate(self._json("GET", f"{API_PREFIX}/models")).data

    def health(self) -> str:
        """"ok" when the engine serves; raises ``LoadingError`` while it loads, ``EngineStalledError`` when its
        engine thread is stuck, ``EngineNotRunningError`` if down."""
        response = self._send("GET", "/health")
        if response.status_code >= 400:
            raise self._error(response)
        try:
            return str(response.json().get("status", "ok"))
        except (ValueError, AttributeError):
            return "ok"  # vLLM answers an empty 200

    # --- Ponder engine endpoints ---------------------------------------------------------------
    def status(self) -> EngineStatus:
        return EngineStatus.model_validate(self._json("GET", f"{API_PREFIX}/engine/status", engine_only=True))

    def events(self) -> Iterator[EngineEvent]:
        """Live snapshots, about two per second, until the caller stops iterating."""
        for data in self._sse("GET", f"{API_PREFIX}/engine/events", engine_only=True):
            yield EngineEvent.model_validate(data)

    def load(self, model: str | None = None, precision: str | None = None,
             context: int | None = None) -> Iterator[LoadProgress]:
        """Switch model / precision / context; yields progress, ends at "ready" or raises ``LoadFailedError``."""
        body = {k: v for k, v in (("model", model), ("precision", precision), ("context", context)) if v is not None}
        for data in self._sse("POST", f"{API_PREFIX}/engine/load", json=body, engine_only=True):
            progress = LoadProgress.model_validate(data)
            if progress.event == "error":
                raise LoadFailedError(progress.message or "the load failed", progress.model.id if progress.model else None)
            yield progress

    def plan(self, model: str | None = None, precision: str | None = None,
             context: int | None = None) -> PlanResult:
        """The plan a ``load`` with these options would get (does it fit, in what, why), without loading."""
        body = {k: v for k, v in (("model", model), ("precision", precision), ("context", context)) if v is not None}
        return PlanResult.model_validate(self._json("POST", f"{API_PREFIX}/engine/plan", json=body, engine_only=True))

    def measure_cpu_speed(self) -> CpuSpeedResult:
        """Measure bf16 against fp32 on the engine's CPU again (a busy CPU keeps the measurement in use)."""
        return CpuSpeedResult.model_validate(self._json("POST", f"{API_PREFIX}/engine/cpu-speed", engine_only=True))

    def cancel(self, request_id: str) -> None:
        """Stop a running request (its stream ends with finish_reason "abort"); NotFoundError if unknown."""
        self._json("POST", f"{API_PREFIX}/engine/cancel/{request_id}", engine_only=True)

    def bench_start(self, quick: bool = True, model: str | None = None, precisions: Sequence[str] | None = None,
                    seed: int = 0, threads: int | None = None) -> BenchRun:
        """Start a benchmark run in the engine; ``BadRequestError`` (409) while another one is running."""
        body: dict[str, Any] = {"quick": quick, "seed": seed}
        body |= {k: v for k, v in (("model", model), ("precisions", list(precisions) if precisions else None),
                                    ("threads", threads)) if v is not None}
        return BenchRun.model_validate(self._json("POST", f"{API_PREFIX}/bench/runs", json=body, engine_only=True))

    def bench_run(self, run_id: str) -> BenchRun:
        """A run's progress, and its result once finished."""
        return BenchRun.model_validate(self._json("GET", f"{API_PREFIX}/bench/runs/{run_id}", engine_only=True))

    def bench_cancel(self, run_id: str) -> BenchRun:
        """Ask the run to stop (it ends as "cancelled" with the precisions measured so far)."""
        return BenchRun.model_validate(self._json("DELETE", f"{API_PREFIX}/bench/runs/{run_id}", engine_only=True))

    def bench_watch(self, run_id: str, interval_s: float = 0.5) -> Iterator[BenchRun]:
        """Progress every ``interval_s`` until the run is no longer running (the last item is the final state)."""
        while True:
            run = self.bench_run(run_id)
            yield run
            if run.state != "running":
                return
            time.sleep(interval_s)

    def metrics_text(self) -> str:
        response = self._send("GET", "/metrics")
        if response.status_code >= 400:
            raise self._error(response, engine_only=True)
        return response.text

    # --- plumbing ------------------------------------------------------------------------------
    def _split(self, text: str) -> tuple[str, str]:
        splitter = ReasoningSplitter(self.think_open_in_prompt)
        first, last = splitter.feed(text), splitter.finish()
        return first[0] + last[0], first[1] + last[1]

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc

    def _json(self, method: str, path: str, engine_only: bool = False, **kw: Any) -> Any:
        response = self._send(method, path, **kw)
        if response.status_code >= 400:
            raise self._error(response, engine_only)
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(f"the server answered {method} {path} with something that is not JSON",
                              status=response.status_code) from exc

    def _sse(self, method: str, path: str, engine_only: bool = False, **kw: Any) -> Iterator[dict[str, Any]]:
        """``data:`` payloads of a server-sent event stream; an error chunk raises; ends at ``[DONE]``."""
        try:
            with self._http.stream(method, path, **kw) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response, engine_only)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == SSE_DONE:
                        return
                    data = json.loads(payload)
                    if isinstance(data, dict) and "error" in data and "choices" not in data:
                        raise error_from_response(None, data)
                    yield data
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        except json.JSONDecodeError as exc:
            raise ServerError(f"the server sent a malformed event on {path}: {exc}") from exc

    def _error(self, response: httpx.Response, engine_only: bool = False) -> EngineError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        error = error_from_response(response.status_code, body, response.headers)
        known = isinstance(error, NotFoundError) and error.code in ("request_not_found", "model_not_found", "bench_not_found")
        if engine_only and response.status_code in (404, 405) and not known:
            return NotSupportedError(f"{response.request.method} {response.request.url.path} is not supported by "
                                     f"this server ({self.root_url}); it is a Ponder engine endpoint",
                                     status=response.status_code, body=body)
        return error

    def _transport_error(self, exc: httpx.HTTPError) -> EngineError:
        if isinstance(exc, httpx.ConnectError):
            return EngineNotRunningError(f"the engine is not running: nothing answers at {self.root_url} ({exc})")
        if isinstance(exc, httpx.TimeoutException):
            return EngineTimeoutError(f"the engine at {self.root_url} did not answer in time ({type(exc).__name__})")
        if isinstance(exc, httpx.RemoteProtocolError):
            return ServerError(f"the engine at {self.root_url} closed the connection mid-response ({exc})")
        return EngineError(f"talking to the engine at {self.root_url} failed: {exc}")


def _reasoning_of(part: Any) -> str | None:
    """``reasoning_content`` (DeepSeek, Ponder, vLLM < 0.10) or ``reasoning`` (newer vLLM); None if absent."""
    value = getattr(part, "reasoning_content", None)
    if value is None:
        value = (part.model_extra or {}).get("reasoning")
    return value if isinstance(value, str) else None

