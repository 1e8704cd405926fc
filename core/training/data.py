"""Examples -> token batches for training, rendered exactly as the engine renders a chat at inference.

The prompt is the model's own chat template applied to one user message (document, then question); the
target is the R1-style response plus end-of-sentence. Loss is on the target only. Batches are drawn
deterministically per *chunk* of steps (seeded by the chunk index), sorted by length within the chunk
to waste little on padding, which also makes training resumable at any chunk boundary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor

from core.engine.tokenizer import Tokenizer
from core.training.tasks import Example, curriculum

IGNORE = -100


@dataclass(frozen=True, slots=True)
class Encoded:
    ids: list[int]
    prompt_len: int  # tokens before the response (no loss there)
    example: Example

    def __len__(self) -> int:
        return len(self.ids)


def encode(tokenizer: Tokenizer, example: Example) -> Encoded:
    prompt = tokenizer.prompt_ids([{"role": "user", "content": example.user_message()}])
    eos = tokenizer.token_to_id(tokenizer.eos_token) if tokenizer.eos_token else None
    response = tokenizer.encode(example.response()) + ([eos] if eos is not None else [])
    return Encoded(prompt + response, len(prompt), example)


@dataclass(frozen=True, slots=True)
class Batch:
    tokens: Tensor  # [B, T] (right-padded)
    targets: Tensor  # [B, T] next-token ids, IGNORE outside responses and on padding
    n_target_tokens: int
    n_tokens: int
    prompt_targets: Tensor  # [B, T] next-token ids inside the prompt (document, question), IGNORE elsewhere


def collate(items: list[Encoded], pad_id: int) -> Batch:
    width = max(len(e) for e in items) - 1
    tokens = torch.full((len(items), width), pad_id, dtype=torch.long)
    targets = torch.full((len(items), width), IGNORE, dtype=torch.long)
    prompt_targets = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(items):
        ids = torch.tensor(e.ids)
        tokens[row, :len(ids) - 1] = ids[:-1]
        targets[row, e.prompt_len - 1:len(ids) - 1] = ids[e.prompt_len:]
        prompt_targets[row, :e.prompt_len - 1] = ids[1:e.prompt_len]
    return Batch(tokens, targets, int((targets != IGNORE).sum()), sum(len(e) for e in items), prompt_targets)


def chunk_batches(tokenizer: Tokenizer, stage: int, chunk: int, steps: int, tokens_per_batch: int, seed: int,
                  max_len: int) -> list[Batch]:
    """``steps`` batches of about ``tokens_per_batch`` tokens each, for chunk ``chunk`` of ``stage``."""
    rng = random.Random(seed * 1_000_003 + stage * 10_007 + chunk)
    stream = curriculum(stage, rng.randrange(1 << 30), count_tokens=lambda s: len(tokenizer.encode(s)))
    pool: list[Encoded] = []
    budget = steps * tokens_per_batch
    while budget > 0:
        e = encode(tokenizer, next(stream))
        if len(e) > max_len:
            continue
        pool.append(e)
        budget -= len(e)
    pool.sort(key=len)
    # exactly ``steps`` batches of similar token counts: contiguous runs of the length-sorted pool
    total, batches, acc = sum(len(e) for e in pool), [[] for _ in range(steps)], 0
    for e in pool:
        batches[min(steps - 1, acc * steps // total)].append(e)
        acc += len(e)
    batches = [b for b in batches if b]
    rng.shuffle(batches)
    pad = tokenizer.token_to_id(tokenizer.eos_token)
    return [collate(b, pad) for b in batches]
