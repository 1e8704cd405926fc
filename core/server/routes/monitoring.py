"""``GET /health`` (200 once a model serves and the engine thread makes progress, else 503) and Prometheus
``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from core.api.protocol import Health
from core.server import telemetry
from core.server.app_state import engine_service, ready_model
from core.server.errors import EngineStalledError
from core.server.wire import json_response

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    stall = engine_service(request).stalled()
    if stall is not None:
        raise EngineStalledError(stall.describe())
    ready_model(request)
    return json_response(Health(status="ok"))


@router.get("/metrics")
async def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(telemetry.prometheus_text(engine_service(request)),
                             media_type="text/plain; version=0.0.4; charset=utf-8")
