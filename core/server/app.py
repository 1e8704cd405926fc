"""The FastAPI application: the routers of each area over ``EngineService``, behind one security layer.

``create_app`` builds one app per engine process; nothing here is global. The services live on
``app.state`` (``app_state``), the routes in ``routes/`` take them from there. Every route sits behind
``SecurityMiddleware`` (Host, Origin, token, JSON bodies, size cap) and every error leaves as
``{"error": {...}}`` (``errors.install_error_handlers``). There is no CORS middleware, on purpose.
"""

from __future__ import annotations

from fastapi import FastAPI

from core.server.app_state import AppSettings, attach
from core.server.errors import install_error_handlers
from core.server.routes import bench_runs, completions, engine_control, monitoring
from core.server.security import SecurityMiddleware
from core.server.serving import EngineService

__all__ = ["AppSettings", "create_app"]


def create_app(service: EngineService, settings: AppSettings) -> FastAPI:
    app = FastAPI(title="Ponder engine", version=settings.version, docs_url=None, redoc_url=None,
                  openapi_url=None)
    attach(app, service, settings)
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware, token=settings.token, port=settings.port,
                       max_body_bytes=settings.max_body_bytes)
    for area in (monitoring, completions, engine_control, bench_runs):
        app.include_router(area.router)
    return app
