"""The engine's own endpoints: status, live events, load (with progress), plan, and cancel a request."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from core.api.protocol import API_PREFIX, CancelResult, LoadRequest, PlanRequest
from core.server import telemetry
from core.server.app_state import app_settings, engine_service
from core.server.bridge import Sink
from core.server.errors import NotFoundError
from core.server.planning import plan_load
from core.server.serving import load_options
from core.server.wire import DONE_FRAME, frame, json_response, sse_response

router = APIRouter(prefix=f"{API_PREFIX}/engine")

EVENTS_INTERVAL_S = 0.5


@router.get("/status")
async def status(request: Request) -> JSONResponse:
    return json_response(telemetry.status(engine_service(request), app_settings(request).version))


@router.get("/events")
async def events(request: Request) -> StreamingResponse:
    service, settings = engine_service(request), app_settings(request)

    async def stream() -> AsyncIterator[str]:
        while not settings.shutting_down:
            yield frame(telemetry.event(service))
            await asyncio.sleep(EVENTS_INTERVAL_S)
        yield DONE_FRAME

    return sse_response(stream())


@router.post("/load")
async def load(body: LoadRequest, request: Request) -> StreamingResponse:
    service = engine_service(request)
    options = load_options(service.options, body.model, body.precision, body.context)
    sink = Sink.create()
    service.request_load(options, sink)

    async def stream() -> AsyncIterator[str]:
        while True:
            progress = await sink.queue.get()
            yield frame(progress, exclude_none=True)
            if progress.event in ("ready", "error"):
                break
        yield DONE_FRAME

    return sse_response(stream())


@router.post("/plan")
async def plan(body: PlanRequest, request: Request) -> JSONResponse:
    result = await asyncio.to_thread(plan_load, engine_service(request), body.model, body.precision, body.context)
    return json_response(result)


@router.post("/cancel/{request_id}")
async def cancel(request_id: str, request: Request) -> JSONResponse:
    service = engine_service(request)
    if not service.is_active(request_id):
        raise NotFoundError(f"no running request with id {request_id!r} (it may have finished already)",
                            param="request_id", code="request_not_found")
    service.cancel(request_id)
    return json_response(CancelResult(id=request_id))
