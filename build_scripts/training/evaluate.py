"""Evaluation on the fixed, seeded held-out set, through the same engine path the app uses.

Greedy decoding on the model as the engine loads it (tokenizer, chat template, KV cache, batching, grounded
quotes), so the numbers describe what a user gets. Reports answer accuracy per task family and per document-length
bucket, the step validity rate (gold evidence quoted verbatim and gold intermediate values reached) and
the rate of well-formed ``<think>`` traces.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from core.engine.engine import Engine
from core.engine.grounding import QuoteRules
from core.engine.sampler import SamplingParams
from build_scripts.training.recipe import TrainingRecipe
from build_scripts.training.tasks import BUCKETS, Example, score_steps

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ExampleResult:
    family: str
    bucket: str
    doc_tokens: int
    correct: bool
    well_formed: bool
    step_validity: float
    reward: float
    response: str


@dataclass(slots=True)
class EvalReport:
    results: list[ExampleResult] = field(default_factory=list)
    seconds: float = 0.0

    def _rate(self, items: list[ExampleResult], attr: str) -> float:
        return sum(float(getattr(r, attr)) for r in items) / len(items) if items else float("nan")

    def accuracy(self, family: str | None = None, max_doc_tokens: int | None = None,
                 bucket: str | None = None) -> float:
        return self._rate(self._select(family, max_doc_tokens, bucket), "correct")

    def _select(self, family: str | None, max_doc_tokens: int | None, bucket: str | None) -> list[ExampleResult]:
        return [r for r in self.results if (family is None or r.family == family)
                and (max_doc_tokens is None or r.doc_tokens <= max_doc_tokens) and (bucket is None or r.bucket == bucket)]

    @property
    def well_formed_rate(self) -> float:
        return self._rate(self.results, "well_formed")

    @property
    def step_validity_rate(self) -> float:
        return self._rate(self.results, "step_validity")

    @property
    def mean_reward(self) -> float:
        return self._rate(self.results, "reward")

    def table(self) -> dict[str, dict[str, float]]:
        """family -> bucket -> accuracy, plus an "all" column and row."""
        families = sorted({r.family for r in self.results})
        buckets = [b for b in bucket_names() if any(r.bucket == b for r in self.results)]
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for f in [*families, None]:
            for b in [*buckets, None]:
                out[f or "all"][b or "all"] = self.accuracy(f, bucket=b)
        return dict(out)

    def markdown(self) -> str:
        table = self.table()
        buckets = [b for b in bucket_names() if b in table["all"]] + ["all"]
        lines = ["| family | " + " | ".join(buckets) + " |", "|---|" + "---|" * len(buckets)]
        for family, row in table.items():
            lines.append(f"| {family} | " + " | ".join(_pct(row.get(b)) for b in buckets) + " |")
        n = len(self.results)
        lines.append(f"\n{n} held-out questions, greedy. Well-formed traces: {_pct(self.well_formed_rate)}; "
                     f"step validity: {_pct(self.step_validity_rate)}; mean step reward: {self.mean_reward:.3f}.")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"table": self.table(), "well_formed_rate": self.well_formed_rate,
                "step_validity_rate": self.step_validity_rate, "mean_reward": self.mean_reward,
                "n": len(self.results), "seconds": self.seconds}


def bucket_names() -> list[str]:
    return [f"{lo}-{hi}" for lo, hi in BUCKETS]


def bucket_of(doc_tokens: int) -> str:
    for lo, hi in BUCKETS:
        if doc_tokens <= hi:
            return f"{lo}-{hi}"
    lo, hi = BUCKETS[-1]
    return f"{lo}-{hi}"


def evaluate(engine: Engine, examples: list[Example], max_tokens: int = 1536,
             on_progress: Callable[[int, int], None] | None = None, batch: int = 16,
             quotes: QuoteRules | None = None) -> EvalReport:
    """Greedy answers for ``examples`` through ``engine``, quotes grounded under ``quotes`` (None: as the
    bundled model ships them, ``TrainingRecipe.quotes``); scored against their gold traces."""
    quotes = quotes or TrainingRecipe().quotes
    started = time.perf_counter()
    tokenizer = engine.tokenizer
    report = EvalReport()
    params = SamplingParams(max_tokens=max_tokens)
    for i in range(0, len(examples), batch):
        chunk = examples[i:i + batch]
        prompts = [tokenizer.prompt_ids([{"role": "user", "content": e.user_message()}]) for e in chunk]
        grounders = [quotes.for_message(tokenizer, e.user_message()) for e in chunk]
        for example, done in zip(chunk, engine.generate_batch(prompts, params, grounders=grounders)):
            text = tokenizer.decode(done.token_ids, skip_special_tokens=True)
            score = score_steps(example, text)
            report.results.append(ExampleResult(
                example.family, bucket_of(example.doc_tokens), example.doc_tokens, score.answer_correct,
                score.well_formed, (score.evidence + score.values) / 2, score.reward, text))
        if on_progress:
            on_progress(min(i + batch, len(examples)), len(examples))
    report.seconds = time.perf_counter() - started
    return report


def _pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.0f}%"
