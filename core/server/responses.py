"""Engine ``TokenEvent``s as OpenAI chat responses, built from the protocol models the client parses.

Streaming: ``ChunkBuilder`` makes one ``chat.completion.chunk`` per event that carries text, reasoning in
``delta.reasoning_content`` and the answer in ``delta.content`` (DeepSeek's convention), then a finishing
chunk with Ponder's per-request numbers and, when asked, a last chunk with the usage. While a long prompt is
read, a chunk with an empty delta carries ``prompt_progress`` (llama.cpp's field) after each prefill pass. Not streaming:
``completion`` gathers the same into one ``chat.completion``. Pure functions of the events: unit-testable
with scripted ones.
"""

from __future__ import annotations

import time

from core.api.protocol import (ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, CompletionTokensDetails,
                               Delta, PonderStats, PromptProgress, PromptTokensDetails, ResponseMessage, Usage)
from core.engine.engine import TokenEvent
from core.engine.sequence import PrefillProgress


def usage(event: TokenEvent) -> Usage:
    m = event.metrics
    return Usage(prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens,
                 total_tokens=m.prompt_tokens + m.completion_tokens,
                 prompt_tokens_details=PromptTokensDetails(cached_tokens=m.cached_prompt_tokens),
                 completion_tokens_details=CompletionTokensDetails(reasoning_tokens=m.reasoning_tokens))


def ponder_stats(event: TokenEvent) -> PonderStats:
    m = event.metrics
    return PonderStats(ttft_s=m.ttft_s, prefill_tokens_per_s=m.prefill_tokens_per_s,
                       decode_tokens_per_s=m.decode_tokens_per_s, reasoning_unfinished=event.reasoning_unfinished,
                       stop_reason=m.stop_reason, max_tokens=m.max_tokens, grounded_quotes=m.grounded_quotes,
                       grounding_overrides=m.grounding_overrides, draft_tokens=m.draft_tokens,
                       accepted_draft_tokens=m.accepted_draft_tokens)


def prompt_progress(progress: PrefillProgress) -> PromptProgress:
    return PromptProgress(total=progress.total_tokens, cache=progress.cached_tokens, processed=progress.done_tokens,
                          time_ms=round(progress.elapsed_s * 1000, 1))


class ChunkBuilder:
    """One streamed request's events -> its ``ChatCompletionChunk``s."""

    def __init__(self, request_id: str, model: str, include_usage: bool, created: int | None = None) -> None:
        self.request_id, self.model, self.include_usage = request_id, model, include_usage
        self.created = int(time.time()) if created is None else created

    def _chunk(self, choices: list[ChunkChoice], **fields: object) -> ChatCompletionChunk:
        return ChatCompletionChunk(id=self.request_id, created=self.created, model=self.model, choices=choices,
                                   **fields)

    def first(self) -> ChatCompletionChunk:
        return self._chunk([ChunkChoice(delta=Delta(role="assistant", content=""))])

    def on_progress(self, progress: PrefillProgress) -> ChatCompletionChunk:
        return self._chunk([ChunkChoice()], prompt_progress=prompt_progress(progress))

    def on_event(self, event: TokenEvent) -> list[ChatCompletionChunk]:
        chunks = []
        if event.reasoning or event.answer:
            delta = Delta(reasoning_content=event.reasoning or None, content=event.answer or None)
            chunks.append(self._chunk([ChunkChoice(delta=delta)]))
        if event.finish_reason:
            chunks.append(self._chunk([ChunkChoice(finish_reason=event.finish_reason)], ponder=ponder_stats(event)))
            if self.include_usage:
                chunks.append(self._chunk([], usage=usage(event)))
        return chunks


def completion(request_id: str, model: str, reasoning: str, answer: str, last: TokenEvent) -> ChatCompletion:
    message = ResponseMessage(content=answer, reasoning_content=reasoning or None)
    return ChatCompletion(id=request_id, created=int(time.time()), model=model,
                          choices=[Choice(message=message, finish_reason=last.finish_reason)],
                          usage=usage(last), ponder=ponder_stats(last))
