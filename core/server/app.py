"""The FastAPI application: thin routes over ``EngineService`` (routes map, serving modules work).

``create_app`` builds one app per engine process; nothing here is global. Every route sits behind
``SecurityMiddleware`` (Host, Origin, token, JSON bodies, size cap) and every error leaves as
``{"error": {...}}`` (``errors.install_error_handlers``). There is no CORS middleware, on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from core.server import telemetry
from core.server.benchmarking import BenchService
from core.server.chat import create_chat_completion, frame
from core.server.errors import NotFoundError, install_error_handlers, unavailable_error
from core.server.planning import plan_load
from core.api.protocol import (API_PREFIX, SSE_DONE, BenchRequest, ChatCompletionRequest, Health, LoadRequest,
                                  ModelCard, ModelList, PlanRequest)
from core.server.security import DEFAULT_MAX_BODY_BYTES, SecurityMiddleware
from core.server.bridge import Sink
from core.server.serving import EngineService, load_options

log = logging.getLogger(__name__)

EVENTS_INTERVAL_S = 0.5
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(slots=True)
class AppSettings:
    token: str
    port: int
    version: str = "0"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    shutting_down: bool = False  # set on SIGTERM/SIGINT: endless streams (events) end


def create_app(service: EngineService, settings: AppSettings) -> FastAPI:
    app = FastAPI(title="Ponder engine", version=settings.version, docs_url=None, redoc_url=None,
                  openapi_url=None)
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware, token=settings.token, port=settings.port,
                       max_body_bytes=settings.max_body_bytes)

    def require_ready() -> None:
        if service.state != "ready" or service.model is None:
            raise unavailable_error(service.load_status())

    @app.get("/health")
    async def health() -> JSONResponse:
        require_ready()
        return JSONResponse(Health(status="ok").model_dump())

    @app.get(f"{API_PREFIX}/models")
    async def models() -> JSONResponse:
        require_ready()
        m = service.model
        card = ModelCard(id=m.id, created=int(m.loaded_at), owned_by="ponder",  # type: ignore[union-attr]
                         root=m.summary().path, precision=m.launched.plan.precision,  # type: ignore[union-attr]
                         max_model_len=m.context_tokens)  # type: ignore[union-attr]
        return JSONResponse(ModelList(data=[card]).model_dump())

    @app.post(f"{API_PREFIX}/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        return await create_chat_completion(body, request, service)

    @app.post(f"{API_PREFIX}/engine/cancel/{{request_id}}")
    async def cancel(request_id: str) -> JSONResponse:
        if not service.is_active(request_id):
            raise NotFoundError(f"no running request with id {request_id!r} (it may have finished already)",
                                param="request_id", code="request_not_found")
        service.cancel(request_id)
        return JSONResponse({"id": request_id, "object": "engine.cancel", "cancelled": True})

    @app.get(f"{API_PREFIX}/engine/status")
    async def status() -> JSONResponse:
        return JSONResponse(telemetry.status(service, settings.version).model_dump())

    @app.get(f"{API_PREFIX}/engine/events")
    async def events() -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            while not settings.shutting_down:
                yield frame(telemetry.event(service).model_dump())
                await asyncio.sleep(EVENTS_INTERVAL_S)
            yield frame(SSE_DONE)

        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)

    @app.post(f"{API_PREFIX}/engine/load")
    async def load(body: LoadRequest) -> StreamingResponse:
        options = load_options(service.options, body.model, body.precision, body.context)
        sink = Sink.create()
        service.request_load(options, sink)

        async def stream() -> AsyncIterator[str]:
            while True:
                progress = await sink.queue.get()
                yield frame(progress.model_dump(exclude_none=True))
                if progress.event in ("ready", "error"):
                    break
            yield frame(SSE_DONE)

        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)

    @app.post(f"{API_PREFIX}/engine/plan")
    async def plan(body: PlanRequest) -> JSONResponse:
        result = await asyncio.to_thread(plan_load, service, body.model, body.precision, body.context)
        return JSONResponse(result.model_dump())

    bench = app.state.bench = BenchService(service)

    @app.post(f"{API_PREFIX}/bench/runs")
    async def bench_start(body: BenchRequest) -> JSONResponse:
        run = await asyncio.to_thread(bench.start, body)  # probes the model folder: off the loop
        return JSONResponse(run.model_dump(), status_code=202)

    @app.get(f"{API_PREFIX}/bench/runs/{{run_id}}")
    async def bench_progress(run_id: str) -> JSONResponse:
        return JSONResponse(bench.get(run_id).model_dump())

    @app.delete(f"{API_PREFIX}/bench/runs/{{run_id}}")
    async def bench_cancel(run_id: str) -> JSONResponse:
        return JSONResponse(bench.cancel(run_id).model_dump())

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(telemetry.prometheus_text(service),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
