"""What crosses between the asyncio handlers and the engine thread: jobs in, items out through a Sink.

A handler creates a ``Sink`` (its own ``asyncio.Queue`` on the server's loop), has the prompt rendered and
encoded off the engine thread, and submits a ``ChatJob`` carrying it, the ids and the validated request (its
sampling fields, resolved on the engine thread against the model's defaults); the engine thread answers
through the sink: ``Accepted`` (queued or running), then one
``TokenEvent`` per generated token (the last has a finish reason), or ``Failed`` with the error; while the
prompt is read, a ``PrefillProgress`` after each prefill pass.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Union

from core.engine.engine import TokenEvent
from core.engine.sequence import PrefillProgress
from core.server.errors import PonderError
from core.api.protocol import ChatCompletionRequest, LoadProgress


@dataclass(frozen=True, slots=True)
class Accepted:
    """The engine took the request (it is queued or running)."""

    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class Failed:
    error: PonderError


Item = Union[Accepted, TokenEvent, PrefillProgress, Failed, LoadProgress]


class Sink:
    """Thread-safe delivery of items into one asyncio queue on the server's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, q: asyncio.Queue) -> None:
        self.loop, self.queue = loop, q

    @classmethod
    def create(cls) -> Sink:
        return cls(asyncio.get_running_loop(), asyncio.Queue())

    def __call__(self, item: Item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody listens any more
            pass


@dataclass(frozen=True, slots=True)
class ChatJob:
    """A chat request prepared off the engine thread: its prompt rendered and encoded for ``model``."""

    request_id: str
    request: ChatCompletionRequest  # validated: every field it sets is honoured
    prompt_ids: list[int]
    opened_think: bool  # the template already opened <think>
    model: Any  # the ModelState the prompt was made for (the engine refuses it after a switch)
    grounder: Any  # the request's QuoteGrounder, or None
    sink: Sink
