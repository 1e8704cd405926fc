"""The OpenAI surface: ``GET /v1/models`` and ``POST /v1/chat/completions``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from core.api.protocol import API_PREFIX, ChatCompletionRequest, ModelList
from core.server.app_state import engine_service, ready_model
from core.server.chat import create_chat_completion
from core.server.wire import json_response

router = APIRouter(prefix=API_PREFIX)


@router.get("/models")
async def models(request: Request) -> JSONResponse:
    return json_response(ModelList(data=[ready_model(request).card()]))


@router.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    return await create_chat_completion(body, request, engine_service(request))
