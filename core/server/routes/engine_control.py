"""The engine's own endpoints: status, live events, load (with progress), plan, cancel a request, and measure the
CPU's bf16 speed again."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from core.api.protocol import API_PREFIX, CancelResult, CpuSpeedResult, LoadRequest, PlanRequest
from core.engine.cpu_speed import remeasure
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


@router.post("/cpu-speed")
async def cpu_speed(request: Request) -> JSONResponse:
    """Measure bf16 against fp32 on this CPU again (a busy CPU keeps the measurement in use); the next load and
    every plan from now on use the one kept."""
    engine_service(request)
    outcome = await asyncio.to_thread(remeasure)
    speed = outcome.speed
    return json_response(CpuSpeedResult(replaced=outcome.replaced, bf16_faster=speed.bf16_faster,
                                        speedup=speed.speedup, measured_at=speed.measured_at,
                                        other_load=speed.other_load, message=outcome.message))


@router.post("/cancel/{request_id}")
async def cancel(request_id: str, request: Request) -> JSONResponse:
    service = engine_service(request)
    if not service.is_active(request_id):
        raise NotFoundError(f"no running request with id {request_id!r} (it may have finished already)",
                            param="request_id", code="request_not_found")
    service.cancel(request_id)
    return json_response(CancelResult(id=request_id))
