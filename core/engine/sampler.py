"""Next-token choice: greedy, or temperature / top-k / top-p sampling with a per-request seed, after the
request's repetition penalties.

Sampling draws by inverse CDF over the (top-k / top-p narrowed) candidates: one uniform number from the
request's own ``torch.Generator``, so a seeded request is reproducible whatever else runs in the batch.
Penalties follow the two conventions clients send: OpenAI's ``frequency_penalty`` / ``presence_penalty``
(subtracted from the logits of tokens already generated, per occurrence / once) and the CTRL-style
``repetition_penalty`` of transformers and vLLM (logits of tokens in the prompt or the output divided by it
when positive, multiplied when negative).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    seed: int | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    frequency_penalty: float = 0.0  # OpenAI: -2 .. 2, times each earlier occurrence in the output
    presence_penalty: float = 0.0  # OpenAI: -2 .. 2, once for any token already in the output
    repetition_penalty: float = 1.0  # transformers / vLLM: > 0, over prompt and output; 1 = off
    repetition_guard: bool = True  # stop a generation that repeats itself (never with ignore_eos)

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 100.0:
            raise ValueError(f"temperature must be between 0 and 100, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        for name in ("frequency_penalty", "presence_penalty"):
            if not -2.0 <= getattr(self, name) <= 2.0:
                raise ValueError(f"{name} must be between -2 and 2, got {getattr(self, name)}")
        if not 0.0 < self.repetition_penalty <= 10.0:
            raise ValueError(f"repetition_penalty must be in (0, 10], got {self.repetition_penalty}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0 or self.top_k == 1

    @property
    def penalised(self) -> bool:
        return self.frequency_penalty != 0.0 or self.presence_penalty != 0.0 or self.repetition_penalty != 1.0


def make_generator(params: SamplingParams, device: torch.device | str = "cpu") -> torch.Generator | None:
    if params.greedy:
        return None
    g = torch.Generator(device=device)
    if params.seed is not None:
        g.manual_seed(params.seed)
    else:
        g.seed()
    return g


def sample(logits: Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
    """logits [V] (any float dtype) -> token id."""
    if params.greedy:
        return int(logits.argmax())
    logits = logits.float() / params.temperature
    ids = None  # candidate token ids, most likely first, once the vocabulary has been narrowed
    if params.top_k:
        logits, ids = torch.topk(logits, min(params.top_k, logits.numel()))
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1.0:
        if ids is None:
            probs, ids = _most_likely(probs, params.top_p)
        # The smallest set reaching top_p, never empty: a top_p below float32's range (1e-300) compares as 0.
        n_keep = max(1, int(((probs.cumsum(0) - probs) < params.top_p).sum()))
        probs, ids = probs[:n_keep], ids[:n_keep]
    # Inverse-CDF draw: one uniform number and a binary search (a 150k-entry multinomial is 100x slower).
    cdf = probs.cumsum(0)
    u = torch.rand(1, generator=generator) * cdf[-1]
    j = int(torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.numel() - 1))
    return int(ids[j]) if ids is not None else j


def _most_likely(probs: Tensor, mass: float, candidates: int = 512) -> tuple[Tensor, Tensor]:
    """The most likely tokens, sorted, covering at least ``mass``: a partial top-k first (the nucleus
    almost always lies in the top few hundred), a full sort of the vocabulary only when it does not."""
    top, order = torch.topk(probs, min(candidates, probs.numel()))
    if float(top.sum()) < mass and top.numel() < probs.numel():
        top, order = torch.sort(probs, descending=True)
    return top, order


def apply_penalties(logits: Tensor, params: SamplingParams, prompt_ids: list[int], output_ids: list[int]) -> Tensor:
    """logits [V] with ``params``' penalties applied, in float32 (a new tensor; the input is left alone)."""
    logits = logits.float().clone()
    if params.repetition_penalty != 1.0:  # a token seen twice is written twice, with the same value
        seen = torch.tensor(prompt_ids + output_ids, dtype=torch.long, device=logits.device)
        seen = seen[seen < logits.numel()]
        values = logits[seen]
        logits[seen] = torch.where(values > 0, values / params.repetition_penalty,
                                   values * params.repetition_penalty)
    if output_ids and (params.frequency_penalty or params.presence_penalty):
        out = torch.tensor(output_ids, dtype=torch.long, device=logits.device)
        counts = torch.bincount(out[out < logits.numel()], minlength=logits.numel()).to(logits.dtype)
        logits -= params.frequency_penalty * counts + params.presence_penalty * (counts > 0).to(logits.dtype)
    return logits


def sample_batch(logits: Tensor, params: list[SamplingParams], generators: list[torch.Generator | None],
                 histories: list[tuple[list[int], list[int]]] | None = None) -> list[int]:
    """logits [B, V] -> one token per row, each after its request's penalties over ``histories`` (prompt ids,
    output ids so far); all-greedy batches without penalties take a single argmax."""
    if not any(p.penalised for p in params):
        if all(p.greedy for p in params):
            return logits.argmax(dim=-1).tolist()
        return [sample(row, p, g) for row, p, g in zip(logits, params, generators)]
    if histories is None:
        raise ValueError("penalties need each request's prompt and output ids")
    return [sample(apply_penalties(row, p, *h) if p.penalised else row, p, g)
            for row, p, g, h in zip(logits, params, generators, histories)]
