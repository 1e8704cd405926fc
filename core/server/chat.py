"""``POST /v1/chat/completions``: validate -> convert -> stream (SSE) or collect (one JSON response).

- validate: every parameter that would change the output is either honoured or refused with a 400
  naming it (tools, logprobs, response_format, n > 1, min_p, unknown fields ...); never ignored.
- convert: messages to plain dicts for the model's own chat template (rendered and encoded on a prompt
  thread, never the engine thread; a request can never supply a template); the validated request goes
  along for its sampling fields.
- stream: ``responses.ChunkBuilder`` turns engine ``TokenEvent``s into OpenAI chunks; ends with
  ``data: [DONE]``. While a long prompt is read, chunks with an empty delta carry its ``prompt_progress``
  (llama.cpp's field; ``return_progress: false`` leaves them out).
- collect: the same events into one ``chat.completion`` (``responses.completion``).
A client that goes away (disconnect) or the cancel endpoint aborts the request within one engine step (a
prefill pass is kept short for that: ``EngineConfig.prefill_step_s``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import Any, AsyncIterator, Iterator

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from core.api.protocol import ChatCompletionRequest, ChatMessage
from core.engine.sequence import PrefillProgress
from core.server.bridge import Accepted, Failed, Sink
from core.server.errors import BadRequestError, InternalError, PonderError
from core.server.responses import ChunkBuilder, completion
from core.server.serving import EngineService
from core.server.wire import DONE_FRAME, frame, json_response, sse_response

log = logging.getLogger(__name__)

MAX_STOP_STRINGS = 16
DISCONNECT_POLL_S = 0.5
# Other OpenAI (and vLLM) parameters, each accepted only with a value that leaves the output unchanged;
# anything else, and any parameter not listed, is a 400 naming it.
_ACCEPTED_IF: dict[str, Any] = {
    "tools": lambda v: not v, "tool_choice": lambda v: v in (None, "none"), "functions": lambda v: not v,
    "function_call": lambda v: v in (None, "none"), "parallel_tool_calls": lambda v: True,
    "logprobs": lambda v: not v, "top_logprobs": lambda v: v in (None, 0),
    "response_format": lambda v: v is None or (isinstance(v, dict) and v.get("type") == "text"),
    "logit_bias": lambda v: not v, "modalities": lambda v: v in (None, ["text"]),
    "user": lambda v: True, "metadata": lambda v: True, "store": lambda v: not v,
    "service_tier": lambda v: True, "safety_identifier": lambda v: True, "prompt_cache_key": lambda v: True,
    "min_p": lambda v: v in (None, 0, 0.0),
    "min_tokens": lambda v: v in (None, 0),
    "return_progress": lambda v: v is None or isinstance(v, bool),  # llama.cpp's: prompt_progress chunks (on here)
}
_TEMPLATE_FIELDS = ("chat_template", "chat_template_kwargs", "add_generation_prompt", "continue_final_message")
_MESSAGE_EXTRAS = {"refusal", "reasoning"}  # echoed back by clients in assistant turns; "reasoning" is vLLM's name
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON's "\\ud800" escapes decode to these; they are not text


def validate(req: ChatCompletionRequest) -> None:
    """Refuse, with the parameter's name, whatever this server would otherwise silently not honour."""
    for name, value in (req.model_extra or {}).items():
        if name in _TEMPLATE_FIELDS:
            raise BadRequestError(f"'{name}' is not accepted: the model's own chat template is always used",
                                  param=name, code="unsupported_parameter")
        check = _ACCEPTED_IF.get(name)
        if check is None:
            raise BadRequestError(f"unknown parameter '{name}'", param=name, code="unsupported_parameter")
        if not check(value):
            raise BadRequestError(f"'{name}' is not supported by this server (got {json.dumps(value)[:80]})",
                                  param=name, code="unsupported_parameter")
    if req.n not in (None, 1):
        raise BadRequestError(f"n={req.n} is not supported: this server returns one choice per request; "
                              "send separate requests instead", param="n", code="unsupported_parameter")
    stops = req.stop_strings()
    if len(stops) > MAX_STOP_STRINGS or any(not s for s in stops):
        raise BadRequestError(f"'stop' must be at most {MAX_STOP_STRINGS} non-empty strings", param="stop")
    for param, text in _texts(req):
        if _SURROGATE.search(text):
            raise BadRequestError(f"'{param}' holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), "
                                  "which is not text; send valid Unicode", param=param)
    for i, message in enumerate(req.messages):
        for name, value in (message.model_extra or {}).items():
            if name == "tool_calls" and value:
                raise BadRequestError("tool calls are not supported by this server", param=f"messages[{i}].tool_calls",
                                      code="unsupported_parameter")
            if value is not None and name not in _MESSAGE_EXTRAS and name != "tool_calls":
                raise BadRequestError(f"unknown message field '{name}'", param=f"messages[{i}].{name}")


def _texts(req: ChatCompletionRequest) -> Iterator[tuple[str, str]]:
    """(parameter, text) of every string the request hands to the tokenizer or the stop matcher."""
    for i, message in enumerate(req.messages):
        if isinstance(message.content, str):
            yield f"messages[{i}].content", message.content
        elif message.content is not None:
            for j, part in enumerate(message.content):
                yield f"messages[{i}].content[{j}].text", part.text
        for field in ("reasoning_content", "name"):
            value = getattr(message, field)
            if isinstance(value, str):
                yield f"messages[{i}].{field}", value
        reasoning = (message.model_extra or {}).get("reasoning")
        if isinstance(reasoning, str):
            yield f"messages[{i}].reasoning", reasoning
    for i, stop in enumerate(req.stop_strings()):
        yield f"stop[{i}]" if isinstance(req.stop, list) else "stop", stop
    if req.model is not None:
        yield "model", req.model


def template_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Plain dicts for the chat template: role, text, and an assistant turn's reasoning."""
    out = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.text()}
        reasoning = m.reasoning_content if m.reasoning_content is not None else (m.model_extra or {}).get("reasoning")
        if reasoning is not None:
            item["reasoning_content"] = reasoning
        if m.name:
            item["name"] = m.name
        out.append(item)
    return out


async def create_chat_completion(req: ChatCompletionRequest, request: Request, service: EngineService) -> Response:
    validate(req)
    request_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    sink = Sink.create()
    service.submit_chat(await service.prepare_chat(request_id, req, template_messages(req.messages), sink))
    handed_over = False
    try:
        first = await sink.queue.get()
        if isinstance(first, Failed):
            raise first.error
        assert isinstance(first, Accepted)
        model = service.model.id if service.model else (req.model or "")
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            progress = (req.model_extra or {}).get("return_progress") is not False
            stream = _Stream(ChunkBuilder(request_id, model, include_usage), sink.queue, service, progress)
            handed_over = True
            # The background task also runs when the client left before the stream even started.
            return sse_response(stream.frames(), background=BackgroundTask(stream.cleanup))
        return await _collect(request_id, model, sink.queue, request, service)
    finally:
        if not handed_over:
            service.cancel(request_id)  # a no-op when it already finished
            service.release(request_id)


class _Stream:
    """One SSE response; a client disconnect cancels (or closes) ``frames``, and ``cleanup`` aborts the request."""

    def __init__(self, builder: ChunkBuilder, q: asyncio.Queue, service: EngineService, progress: bool = True) -> None:
        self.builder, self.queue, self.service, self.progress = builder, q, service, progress
        self.finished = False

    async def frames(self) -> AsyncIterator[str]:
        try:
            yield frame(self.builder.first())
            while not self.finished:
                item = await self.queue.get()
                if isinstance(item, Failed):
                    self.finished = True
                    yield frame(item.error.body())
                    break
                if isinstance(item, PrefillProgress):
                    if self.progress:
                        yield frame(self.builder.on_progress(item))
                    continue
                for chunk in self.builder.on_event(item):
                    yield frame(chunk)
                self.finished = item.finish_reason is not None
            yield DONE_FRAME
        except Exception as exc:  # noqa: BLE001 - a bug while streaming still ends the stream properly
            log.exception("chat stream %s failed", self.builder.request_id)
            yield frame(InternalError(f"internal error while streaming ({type(exc).__name__})").body())
            yield DONE_FRAME
        finally:
            await self.cleanup()

    async def cleanup(self) -> None:
        """Idempotent: abort the request unless it finished, and forget it."""
        if not self.finished:
            log.info("client left %s before it finished; aborting it", self.builder.request_id)
            self.finished = True
            self.service.cancel(self.builder.request_id)
        self.service.release(self.builder.request_id)


async def _collect(request_id: str, model: str, q: asyncio.Queue, request: Request,
                   service: EngineService) -> JSONResponse:
    """Gather the events into one response; every DISCONNECT_POLL_S, check that the client is still there."""
    reasoning, answer = [], []
    getter: asyncio.Future = asyncio.ensure_future(q.get())
    next_poll = time.monotonic() + DISCONNECT_POLL_S
    try:
        while True:
            done, _ = await asyncio.wait({getter}, timeout=max(next_poll - time.monotonic(), 0.0))
            if time.monotonic() >= next_poll:
                if await request.is_disconnected():
                    log.info("client left %s before it finished; aborting it", request_id)
                    raise _ClientGone()
                next_poll = time.monotonic() + DISCONNECT_POLL_S
            if not done:
                continue
            item = getter.result()
            if isinstance(item, Failed):
                raise item.error
            if isinstance(item, PrefillProgress):
                getter = asyncio.ensure_future(q.get())
                continue
            reasoning.append(item.reasoning)
            answer.append(item.answer)
            if item.finish_reason:
                return json_response(completion(request_id, model, "".join(reasoning), "".join(answer), item))
            getter = asyncio.ensure_future(q.get())
    finally:
        getter.cancel()


class _ClientGone(PonderError):
    status, type, code = 499, "client_closed_request", "client_closed_request"

    def __init__(self) -> None:
        super().__init__("the client closed the connection")
