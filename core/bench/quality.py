"""What a precision loses: next-token error against fp32, long-context retention, task accuracy.

- ``next_token_logprobs``: log-probabilities at every position of the error text (``workloads.error_tokens``:
  the model's own held-out documents when it ships them; one forward, no cache); the fp32 run saves them as
  the reference, the others compare (``compare``: mean KL(p_fp32 || p), top-1 agreement, perplexity and its
  change).
- ``retention``: greedy answers to known-answer questions with the fact at several depths (``retention``).
- ``task_accuracy``: the held-out questions the model folder ships (``heldout``), answered and graded.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from core.bench import heldout
from core.bench.retention import retention_cases
from core.bench.workloads import error_tokens
from core.engine.engine import Engine
from core.engine.sampler import SamplingParams


@torch.inference_mode()
def next_token_logprobs(engine: Engine, n_tokens: int, model_dir: Path | None = None) -> tuple[Tensor, Tensor, str]:
    """(log-probs [T, V] in fp32 on the CPU, the text's token ids [T], what the text is)."""
    loaded = engine.loaded
    tokens, source = error_tokens(engine.tokenizer, min(n_tokens, engine.context_tokens), model_dir)
    ids = torch.tensor([tokens], device=loaded.device)
    positions = torch.arange(ids.shape[1], device=loaded.device)[None]
    logits = loaded.model(ids, positions)[0].float()
    return F.log_softmax(logits, dim=-1).cpu(), ids[0].cpu(), source


def perplexity(logprobs: Tensor, ids: Tensor) -> float:
    """exp(mean negative log-likelihood of each next token of the text)."""
    nll = -logprobs[:-1].gather(1, ids[1:, None]).mean()
    return float(torch.exp(nll))


def compare(reference: Tensor, logprobs: Tensor, ids: Tensor) -> dict[str, float]:
    """Error of ``logprobs`` against the fp32 ``reference`` (both [T, V] log-probabilities)."""
    kl = (reference.exp() * (reference - logprobs)).sum(-1).mean()
    top1 = (reference.argmax(-1) == logprobs.argmax(-1)).float().mean()
    ppl, ref_ppl = perplexity(logprobs, ids), perplexity(reference, ids)
    return {"mean_kl": max(float(kl), 0.0), "top1_agreement": float(top1), "perplexity": ppl,
            "perplexity_change": (ppl - ref_ppl) / ref_ppl if math.isfinite(ref_ppl) and ref_ppl else float("nan")}


def error_section(engine: Engine, n_tokens: int, reference_path: Path, is_baseline: bool,
                  model_dir: Path | None = None) -> dict[str, Any]:
    """The fp32 run writes the reference; the others compare with it (absent if fp32 did not run)."""
    logprobs, ids, source = next_token_logprobs(engine, n_tokens, model_dir)
    common = {"tokens": len(ids), "text": source}
    if is_baseline:
        torch.save({"logprobs": logprobs, "ids": ids}, reference_path)
        return {"mean_kl": 0.0, "top1_agreement": 1.0, "perplexity": perplexity(logprobs, ids),
                "perplexity_change": 0.0, **common}
    if not reference_path.exists():
        return {"perplexity": perplexity(logprobs, ids), **common,
                "note": "no fp32 reference in this run: errors against fp32 not measured"}
    ref = torch.load(reference_path)
    return {**compare(ref["logprobs"], logprobs, ref["ids"]), **common}


def retention(engine: Engine, doc_tokens: int, positions: tuple[float, ...], max_tokens: int, seed: int,
              model_dir: Path | None = None) -> dict[str, Any]:
    """Found (True/False) per case, all cases in one batch; a case that does not fit the context is skipped."""
    cases, runnable = [], []
    for case in retention_cases(engine.tokenizer, doc_tokens, positions, seed, model_dir):
        budget = min(max_tokens, engine.context_tokens - len(case.prompt_ids) - 1)
        entry = {"position": case.position, "question": case.question, "prompt_tokens": len(case.prompt_ids)}
        if budget < 4:
            cases.append({**entry, "found": None, "note": "does not fit the context"})
            continue
        cases.append(entry)
        runnable.append((entry, case, budget))
    params = [SamplingParams(max_tokens=budget) for _, _, budget in runnable]
    # the prompts decide whether <think> is open; a batch shares that flag, so it is asked per kind
    for opens in (False, True):
        group = [(entry, case, p) for (entry, case, _), p in zip(runnable, params) if case.opens_think == opens]
        if not group:
            continue
        done = engine.generate_batch([c.prompt_ids for _, c, _ in group], [p for _, _, p in group], opens)
        for (entry, case, _), completion in zip(group, done):
            entry["found"] = case.found(engine.tokenizer.decode(completion.token_ids, skip_special_tokens=True))
    measured = [c for c in cases if c["found"] is not None]
    found = sum(bool(c["found"]) for c in measured)
    return {"cases": cases, "found": found, "total": len(measured),
            "rate": found / len(measured) if measured else float("nan"),
            "kind": "known answers" if any(c.graded == "answer" for _, c, _ in runnable) else "planted code"}


def task_accuracy(engine: Engine, model_dir: Path, n_examples: int, max_tokens: int) -> dict[str, Any]:
    """Accuracy on the first ``n_examples`` of the held-out questions ``model_dir`` ships (``heldout``)."""
    started = time.perf_counter()
    questions = heldout.load_heldout(model_dir)[:n_examples]
    graded = heldout.answer_heldout(engine, questions, max_tokens, batch=min(4, engine.config.max_sequences))
    n = len(graded)
    return {"accuracy": sum(g.correct for g in graded) / n if n else float("nan"), "n": n,
            "well_formed_rate": sum(g.well_formed for g in graded) / n if n else float("nan"),
            "seconds": time.perf_counter() - started}
