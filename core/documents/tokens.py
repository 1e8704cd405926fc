"""Counting tokens for documents and prompts: exactly with the model's tokenizer, or a labelled estimate.

The GUI may talk to a remote OpenAI-compatible server whose tokenizer it does not have; then the estimate
(deliberately on the high side) decides strategies, and the server's own check (a 400 naming both token
counts) stays the last word. ``TokenCounter`` is the interface the rest of the package takes.

Counting a long text never encodes it whole: a tokenizer's encoding of 16 MB of text takes gigabytes. It is
counted in pieces of ``PIECE_CHARS`` cut at whitespace (exact for the byte-level BPE tokenizers of the
supported models, whose pieces never span a space before a word), each encoded through the call that
releases the GIL, so the window's event loop keeps running while a worker thread counts. ``count_many``
counts a list of short texts in one call (chunking counts thousands of sentences).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

# Imported with this module, not on first use: the window would import it on a worker thread, where the
# import (under PySide's import hook) holds the GIL, and so the event loop, for a quarter of a second.
from core.heap import release_after_work
from core.tokenizer import Tokenizer  # light: tokenizers + jinja2, no torch

Messages = Sequence[Mapping[str, Any]]
PIECE_CHARS = 65_536  # a longer text is counted piece by piece
BATCH_TEXTS = 2_048  # short texts counted per tokenizer call
BATCH_CHARS = 2**18  # and characters


class TokenCounter(Protocol):
    exact: bool  # False for an estimate
    label: str  # says where the counts come from, for people

    def count_tokens(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...

    def count_prompt(self, messages: Messages) -> int: ...


class TokenizerCounter:
    """Exact counts from a ``core.tokenizer.Tokenizer`` (prompt counts through its chat template)."""

    exact = True

    def __init__(self, tokenizer: Any, label: str = "model tokenizer") -> None:
        self._tokenizer = tokenizer
        self.label = label

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> TokenizerCounter:
        return cls(Tokenizer.from_dir(model_dir), f"tokenizer of {Path(model_dir).name}")

    def count_tokens(self, text: str) -> int:
        if len(text) > PIECE_CHARS:
            return self._tokenizer.count_up_to(text, sys.maxsize)  # piece by piece: bounded memory
        return len(self._tokenizer.encode(text)) if text else 0

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Each text's count; short texts go to the tokenizer in batches of at most ``BATCH_TEXTS`` texts and
        ``BATCH_CHARS`` characters (one call each, the GIL released; the encodings of one call take about
        70 bytes per token until it returns)."""
        counts = [0] * len(texts)
        batch: list[int] = []
        chars = 0
        for index, text in enumerate(texts):
            if len(text) > PIECE_CHARS:
                counts[index] = self.count_tokens(text)
            elif text:
                if batch and (len(batch) == BATCH_TEXTS or chars + len(text) > BATCH_CHARS):
                    self._count_batch(texts, batch, counts)
                    batch, chars = [], 0
                batch.append(index)
                chars += len(text)
        if batch:
            self._count_batch(texts, batch, counts)
        return counts

    def _count_batch(self, texts: Sequence[str], batch: list[int], counts: list[int]) -> None:
        for index, n in zip(batch, self._tokenizer.count_many([texts[i] for i in batch])):
            counts[index] = n
        release_after_work(sum(len(texts[i]) for i in batch))  # what the calls freed (see core.heap)

    def count_prompt(self, messages: Messages) -> int:
        return len(self._tokenizer.prompt_ids(messages, add_generation_prompt=True))


class EstimatedCounter:
    """A tokenizer-free estimate: UTF-8 bytes / ``bytes_per_token`` (3.5 is high for English, about right for
    European languages, and counts a CJK character as about one token), plus a per-message allowance."""

    exact = False

    def __init__(self, bytes_per_token: float = 3.5, message_overhead_tokens: int = 8) -> None:
        if bytes_per_token <= 0:
            raise ValueError(f"bytes_per_token must be > 0, got {bytes_per_token}")
        self.bytes_per_token, self.message_overhead_tokens = bytes_per_token, message_overhead_tokens
        self.label = f"estimated at {bytes_per_token:g} bytes per token, without the model's tokenizer"

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8", errors="replace")) / self.bytes_per_token)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [self.count_tokens(text) for text in texts]

    def count_prompt(self, messages: Messages) -> int:
        return sum(self.count_tokens(str(m.get("content") or "")) + self.message_overhead_tokens
                   for m in messages) + self.message_overhead_tokens
