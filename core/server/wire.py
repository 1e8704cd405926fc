"""What leaves the server: protocol models as JSON responses and as Server-Sent Events.

Every body is a ``core.api.protocol`` model, the same types ``core.client`` parses, serialised here and
nowhere else. An SSE stream is ``data: {json}\\n\\n`` frames ending with ``data: [DONE]\\n\\n``.
"""

from __future__ import annotations

import json
from typing import AsyncIterator

from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from core.api.protocol import SSE_DONE

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy may buffer a stream


def json_response(body: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def frame(payload: BaseModel | str, *, exclude_none: bool = False) -> str:
    """One SSE frame; a string (``[DONE]``) goes as it is. Compact JSON, non-ASCII text unescaped."""
    data = payload if isinstance(payload, str) else json.dumps(
        payload.model_dump(exclude_none=exclude_none), ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n"


DONE_FRAME = frame(SSE_DONE)


def sse_response(frames: AsyncIterator[str], background: BackgroundTask | None = None) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS, background=background)
