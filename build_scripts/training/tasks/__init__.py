"""Synthetic long-document reasoning tasks for training the bundled model (pure stdlib, no torch).

Each example is a seeded document (company reports, inventories, org charts, timelines, rule books,
possibly mixed) with a question of one of nine families and difficulty 1-3, its gold step-by-step
trace and a short answer. Designed to be learnable by a model of a few million parameters:

- one fixed sentence template per fact, and every extraction step quotes its sentence verbatim, so
  reading is a copy operation;
- plain-digit numbers and ISO dates; arithmetic one operation per step, written column by column with
  the operands shrinking at each column (see ``scratchpad``); calendar arithmetic month by month;
- a fixed wording per step kind, and a final ``Check:`` step that re-reads the result;
- finite name lists, so every name is seen many times, unique within a document.

Modules: ``world`` (entities, relations, facts), ``documents`` and ``filler`` (rendering to a
target length), ``family_*`` (question families and their traces), ``scratchpad`` (arithmetic
text), ``exercises`` (that arithmetic practised densely: without a document, or on short notes),
``scoring`` (per-step rewards; the answer checks are ``core.bench.scoring``), ``curriculum`` (stream,
held-out set, tokenizer text).
"""

from .curriculum import (BUCKETS, HELDOUT_SEED_BASE, STAGES, Stage, curriculum, curriculum_groups,
                         heldout_set, sample_text, stage_spec)
from .documents import estimate_tokens
from .example import Example, StepKind, TraceStep
from .exercises import arithmetic_exercise, arithmetic_note
from .generate import DIFFICULTIES, FAMILIES, Drills, generate, generate_with_drills
from .scoring import StepScore, score_steps

__all__ = [
    "BUCKETS", "DIFFICULTIES", "Drills", "FAMILIES", "HELDOUT_SEED_BASE", "STAGES", "Example", "Stage",
    "StepKind", "StepScore", "TraceStep", "arithmetic_exercise", "arithmetic_note", "curriculum",
    "curriculum_groups", "estimate_tokens", "generate", "generate_with_drills", "heldout_set", "sample_text",
    "score_steps", "stage_spec",
]
