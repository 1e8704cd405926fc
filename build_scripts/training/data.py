"""Examples -> token batches for training, rendered exactly as the engine renders a chat at inference.

The prompt is the model's own chat template applied to one user message (document, then question); the
target is the R1-style response plus end-of-sentence. Loss is on the target only. Batches are drawn
deterministically per *chunk* of steps (seeded by the chunk index), sorted by length within the chunk
to waste little on padding, which also makes training resumable at any chunk boundary.

Several questions on one document are packed as a tree: the shared prompt prefix (template and
document) once, then each question's remaining prompt and response as a branch that sees the prefix
and itself only, at the positions it would have alone. Each branch is trained exactly as if it were
its own example, while the document is read once for all of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from core.tokenizer import Tokenizer
from core.models.transformer import TreeMask
from build_scripts.training.reading import generate_reading
from build_scripts.training.tasks import (Drills, Example, arithmetic_exercise, arithmetic_note, curriculum_groups,
                                          stage_spec)

IGNORE = -100
READING_MIN_TOKENS, READING_MAX_TOKENS = 60, 1000  # natural documents: the acceptance range, and notes shorter


@dataclass(frozen=True, slots=True)
class Encoded:
    """One row: token ids with their positions, branch ids (0 = the shared prefix) and next-token targets."""

    ids: list[int]
    positions: list[int]
    branches: list[int]
    targets: list[int]  # the response's next token, IGNORE elsewhere
    prompt_targets: list[int]  # the prompt's next token (document, question), IGNORE elsewhere

    def __len__(self) -> int:
        return len(self.ids)


def _example_ids(tokenizer: Tokenizer, example: Example) -> tuple[list[int], int]:
    prompt = tokenizer.prompt_ids([{"role": "user", "content": example.user_message()}])
    eos = tokenizer.token_to_id(tokenizer.eos_token) if tokenizer.eos_token else None
    response = tokenizer.encode(example.response()) + ([eos] if eos is not None else [])
    return prompt + response, len(prompt)


def encode(tokenizer: Tokenizer, example: Example) -> Encoded:
    return encode_group(tokenizer, [example])


def encode_group(tokenizer: Tokenizer, examples: list[Example]) -> Encoded:
    """Questions on one document as a tree (see the module docstring); one example is a plain row."""
    return _pack([_example_ids(tokenizer, e) for e in examples])


def _pack(seqs: list[tuple[list[int], int]]) -> Encoded:
    """(ids, prompt length) of each question on one document -> one row."""
    if len(seqs) == 1:
        shared, spans = len(seqs[0][0]), [(0, seqs[0], 0)]
    else:
        shared = _common_prefix([ids for ids, _ in seqs])
        if any(prompt_len <= shared for _, prompt_len in seqs):
            raise ValueError("questions packed on one document must differ before their responses")
        spans = [(0, seqs[0], 0)] + [(b, seq, shared) for b, seq in enumerate(seqs, 1)]
    ids, positions, branches, targets, prompt_targets = [], [], [], [], []
    for branch, (full, prompt_len), start in spans:
        stop = shared if branch == 0 else len(full)
        for i in range(start, stop):
            nxt = full[i + 1] if i + 1 < stop else IGNORE  # a prefix followed by branches: no one next token
            ids.append(full[i])
            positions.append(i)
            branches.append(branch)
            targets.append(nxt if i >= prompt_len - 1 else IGNORE)
            prompt_targets.append(nxt if i < prompt_len - 1 else IGNORE)
    return Encoded(ids, positions, branches, targets, prompt_targets)


def _common_prefix(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for i in range(n):
        if any(s[i] != seqs[0][i] for s in seqs[1:]):
            return i
    return n


@dataclass(frozen=True, slots=True)
class Batch:
    tokens: Tensor  # [B, T] (right-padded)
    targets: Tensor  # [B, T] next-token ids, IGNORE outside responses and on padding
    n_target_tokens: int
    n_tokens: int
    prompt_targets: Tensor  # [B, T] next-token ids inside the prompt (document, question), IGNORE elsewhere
    positions: Tensor  # [B, T]
    mask: TreeMask | None  # None = plain causal (no row has branches)


def collate(items: list[Encoded], pad_id: int) -> Batch:
    width = max(len(e) for e in items)
    tokens = torch.full((len(items), width), pad_id, dtype=torch.long)
    targets = torch.full((len(items), width), IGNORE, dtype=torch.long)
    prompt_targets = torch.full((len(items), width), IGNORE, dtype=torch.long)
    positions = torch.arange(width).repeat(len(items), 1)
    branches = torch.full((len(items), width), -1, dtype=torch.long)  # padding: a branch of its own
    for row, e in enumerate(items):
        n = len(e)
        tokens[row, :n] = torch.tensor(e.ids)
        targets[row, :n] = torch.tensor(e.targets)
        prompt_targets[row, :n] = torch.tensor(e.prompt_targets)
        positions[row, :n] = torch.tensor(e.positions)
        branches[row, :n] = torch.tensor(e.branches)
    mask = None
    in_branch = branches > 0
    if bool(in_branch.any()):
        # every row is causal up to its first branch (a row without branches: all of it)
        causal = int(torch.where(in_branch.any(1), in_branch.int().argmax(1), width).min())
        tail = branches[:, causal:]
        same = (branches[:, None, :] == 0) | (tail[:, :, None] == branches[:, None, :])  # [B, query, key]
        mask = TreeMask(causal, (same & torch.ones(width, width, dtype=torch.bool).tril()[causal:]).unsqueeze(1))
    return Batch(tokens, targets, int((targets != IGNORE).sum()), sum(len(e) for e in items), prompt_targets,
                 positions, mask)


def chunk_batches(tokenizer: Tokenizer, stage: int, chunk: int, steps: int, tokens_per_batch: int, seed: int,
                  max_len: int, drills: Drills = Drills(), chains: bool = False,
                  extra_families: tuple[str, ...] = (), exercise_share: float = 0.0,
                  note_share: float = 0.0, reading_share: float = 0.0, reading_drills: int = 0) -> list[Batch]:
    """``steps`` batches of about ``tokens_per_batch`` tokens each, for chunk ``chunk`` of ``stage``; each
    example packed with the extra questions ``drills`` asks for on its document (``tasks.generate_with_drills``;
    ``chains`` as in ``tasks.generate``); ``extra_families`` are drawn that many more times than the stage says.
    ``exercise_share`` of the tokens are stand-alone arithmetic exercises (``tasks.arithmetic_exercise``), one
    per row: being short, they sort into batches of their own, so those steps cost little. ``note_share`` of
    the tokens are short arithmetic documents with their questions (``tasks.arithmetic_note``), one per row.
    ``reading_share`` of the tokens are natural documents (``reading.generate_reading``) with ``reading_drills``
    more questions each, up to the stage's longest document or 1,000 tokens."""
    rng = random.Random(seed * 1_000_003 + stage * 10_007 + chunk)
    spec = stage_spec(stage)
    spec = replace(spec, families=spec.families + extra_families)

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text))

    stream = curriculum_groups(stage, rng.randrange(1 << 30), count_tokens=count_tokens, drills=drills, spec=spec,
                               chains=chains)
    pool: list[Encoded] = []
    full = budget = steps * tokens_per_batch
    longest = min(spec.max_tokens, READING_MAX_TOKENS)

    def reading(r: random.Random) -> list[Example]:
        return generate_reading(r.randrange(1 << 40), target_tokens=r.randint(READING_MIN_TOKENS, longest),
                                count_tokens=count_tokens, drills=reading_drills)

    practice = ((exercise_share, lambda r: [arithmetic_exercise(r)]),
                (note_share, lambda r: arithmetic_note(r, count_tokens, chains)),
                (reading_share, reading))
    # dense arithmetic practice (one exercise, or one note with its questions, a row) and natural documents
    for share, draw in practice:
        if share > 0:
            practice_rng, left = random.Random(rng.randrange(1 << 30)), int(full * share)
            budget -= left
            while left > 0:
                seqs = [_example_ids(tokenizer, e) for e in draw(practice_rng)]
                if not seqs or any(len(ids) > max_len for ids, _ in seqs):
                    continue
                pool.append(_pack(seqs))
                left -= len(pool[-1])
    while budget > 0:
        seqs = [_example_ids(tokenizer, e) for e in next(stream)]
        if any(len(ids) > max_len for ids, _ in seqs):  # each question alone must fit, drills too
            continue
        e = _pack(seqs)
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
