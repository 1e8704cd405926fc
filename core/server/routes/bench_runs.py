"""``/v1/bench/runs``: start a benchmark run, poll its progress, cancel it (``benchmarking.BenchService``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from core.api.protocol import API_PREFIX, BenchRequest
from core.server.app_state import bench_service
from core.server.wire import json_response

router = APIRouter(prefix=f"{API_PREFIX}/bench/runs")


@router.post("")
async def start(body: BenchRequest, request: Request) -> JSONResponse:
    run = await asyncio.to_thread(bench_service(request).start, body)  # probes the model folder: off the loop
    return json_response(run, status_code=202)


@router.get("/{run_id}")
async def progress(run_id: str, request: Request) -> JSONResponse:
    return json_response(bench_service(request).get(run_id))


@router.delete("/{run_id}")
async def cancel(run_id: str, request: Request) -> JSONResponse:
    return json_response(bench_service(request).cancel(run_id))
