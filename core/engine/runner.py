"""Runs a scheduled batch through the model: builds the flat input tensors and returns sampled rows.

A step that only decodes (a token of each sequence, or a token and its speculative draft) runs through
``TokenDecoder``, the same computation with less Python around the matmuls; a step that reads a prompt runs
the model's forward. Eager is the reference path. ``compile=True`` wraps the model's forward in
``torch.compile`` at call time (never at import); it needs a C++ compiler on CPU or triton on GPU and is
off by default.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from core.engine.kv_cache import KVCache
from core.engine.scheduler import ScheduledBatch
from core.models.decode import TokenDecoder
from core.models.transformer import Transformer

log = logging.getLogger(__name__)


class ModelRunner:
    def __init__(self, model: Transformer, cache: KVCache, compile: bool = False) -> None:
        self.model, self.cache = model, cache
        self.device = cache.device
        self._forward = model.forward
        # (only for the real Transformer: tests drive the engine with scripted stand-ins)
        self._decoder = TokenDecoder(model) if isinstance(model, Transformer) and not compile else None
        if compile:
            log.info("compiling the model's forward with torch.compile (dynamic shapes)")
            self._forward = torch.compile(model.forward, dynamic=True)

    @torch.inference_mode()
    def run(self, batch: ScheduledBatch) -> Tensor:
        """Logits [n_sampled, V] (float32) for the segments that sample a token this step (1 + its draft rows each)."""
        if self._decoder is not None and batch.segments and all(batch.sample) and all(
                seg.length == 1 + (batch.drafts[i] if batch.drafts else 0) for i, seg in enumerate(batch.segments)):
            self.cache.check(batch.segments)
            return self._decoder.rows(batch.tokens, [(seg.slot, seg.start, seg.length) for seg in batch.segments],
                                      self.cache.kv).float()
        positions: list[int] = []
        rows: list[int] = []
        for i, (seg, sample) in enumerate(zip(batch.segments, batch.sample)):
            positions.extend(range(seg.start, seg.start + seg.length))
            if sample:  # the last row, and one per draft token before it (each is verified)
                rows.extend(range(len(positions) - 1 - (batch.drafts[i] if batch.drafts else 0), len(positions)))
        tokens = torch.tensor([batch.tokens], device=self.device)
        pos = torch.tensor([positions], device=self.device)
        logits_at = torch.tensor(rows, dtype=torch.long, device=self.device)  # may be empty: prefill-only chunk
        return self._forward(tokens, pos, self.cache.step(batch.segments), logits_at).float()
