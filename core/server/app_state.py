"""What the routes reach through ``request.app.state``: the engine service, the benchmark runs, the settings.

``create_app`` puts them there once; a route takes what it needs from its request, so route modules hold
no state and need no closure over ``create_app``'s arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request

from core.server.benchmarking import BenchService
from core.server.errors import unavailable_error
from core.server.model_state import ModelState
from core.server.security import DEFAULT_MAX_BODY_BYTES
from core.server.serving import EngineService


@dataclass(slots=True)
class AppSettings:
    token: str
    port: int
    version: str = "0"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    shutting_down: bool = False  # set on SIGTERM/SIGINT: endless streams (events) end


def attach(app: FastAPI, service: EngineService, settings: AppSettings) -> None:
    app.state.service, app.state.settings, app.state.bench = service, settings, BenchService(service)


def engine_service(request: Request) -> EngineService:
    return request.app.state.service


def app_settings(request: Request) -> AppSettings:
    return request.app.state.settings


def bench_service(request: Request) -> BenchService:
    return request.app.state.bench


def ready_model(request: Request) -> ModelState:
    """The model serving now; 503 while one loads (or none could be loaded)."""
    service = engine_service(request)
    if service.state != "ready" or service.model is None:
        raise unavailable_error(service.load_status())
    return service.model
