"""Write the held-out question set that ships beside the bundled model (``core.bench.heldout``).

    .venv/bin/python -m build_scripts.training.export_heldout [MODEL_DIR]

One question per family and length bucket from the held-out seeds (``heldout_set(1, seed=0)``), on
documents up to 1,000 tokens: shortest bucket first, families in alphabetical order within a bucket, so the
benchmark's first N questions are short documents of N different families. Only what asking and grading
need goes in, not the gold trace.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from core.bench.heldout import HELDOUT_FILE, HeldoutQuestion
from core.paths import BUNDLED_MODEL, models_dir
from build_scripts.training.tasks import BUCKETS, Example, heldout_set

SEED = 0
MAX_DOC_TOKENS = 1000


def heldout_examples() -> list[Example]:
    """The examples the set is made of, in the order it lists them."""
    examples = [e for e in heldout_set(1, seed=SEED) if e.doc_tokens <= MAX_DOC_TOKENS]
    return sorted(examples, key=lambda e: (next(i for i, (_, high) in enumerate(BUCKETS) if e.doc_tokens <= high),
                                           e.family))


def heldout_questions() -> list[HeldoutQuestion]:
    return [HeldoutQuestion(e.document, e.question, e.answer_value, e.family, e.doc_tokens)
            for e in heldout_examples()]


def heldout_json() -> str:
    questions = [asdict(q) for q in heldout_questions()]
    about = (f"written by build_scripts/training/export_heldout.py: heldout_set(1, seed={SEED}), documents up to "
             f"{MAX_DOC_TOKENS} tokens, shortest first")
    return json.dumps({"about": about, "questions": questions}, indent=1, ensure_ascii=False) + "\n"


def write_heldout(model_dir: Path) -> Path:
    path = Path(model_dir) / HELDOUT_FILE
    path.write_text(heldout_json(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_heldout(Path(sys.argv[1]) if len(sys.argv) > 1 else models_dir() / BUNDLED_MODEL))
