"""What a precision loses: next-token error against fp32, long-context retention, task accuracy.

- ``next_token_logprobs``: log-probabilities at every position of the fixed text (one forward, no cache);
  the fp32 run saves them as the reference, the others compare (``compare``: mean KL(p_fp32 || p), top-1
  agreement, perplexity and its change).
- ``retention``: greedy answers to "what is the code?" with the fact at several depths; found or not.
- ``task_accuracy``: the held-out questions the model folder ships (``heldout``), answered and graded.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from core.bench import heldout
from core.bench.workloads import error_tokens, retention_case
from core.engine.engine import Engine
from core.engine.sampler import SamplingParams


@torch.inference_mode()
def next_token_logprobs(engine: Engine, n_tokens: int) -> tuple[Tensor, Tensor]:
    """(log-probs [T, V] in fp32 on the CPU, the text's token ids [T])."""
    loaded = engine.loaded
    ids = torch.tensor([error_tokens(engine.tokenizer, n_tokens)], device=loaded.device)
    positions = torch.arange(ids.shape[1], device=loaded.device)[None]
    logits = loaded.model(ids, positions)[0].float()
    return F.log_softmax(logits, dim=-1).cpu(), ids[0].cpu()


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


def error_section(engine: Engine, n_tokens: int, reference_path: Path, is_baseline: bool) -> dict[str, Any]:
    """The fp32 run writes the reference; the others compare with it (absent if fp32 did not run)."""
    logprobs, ids = next_token_logprobs(engine, n_tokens)
    if is_baseline:
        torch.save({"logprobs": logprobs, "ids": ids}, reference_path)
        return {"mean_kl": 0.0, "top1_agreement": 1.0, "perplexity": perplexity(logprobs, ids),
                "perplexity_change": 0.0, "tokens": len(ids)}
    if not reference_path.exists():
        return {"perplexity": perplexity(logprobs, ids), "tokens": len(ids),
                "note": "no fp32 reference in this run: errors against fp32 not measured"}
    ref = torch.load(reference_path)
    return {**compare(ref["logprobs"], logprobs, ref["ids"]), "tokens": len(ids)}


def retention(engine: Engine, doc_tokens: int, positions: tuple[float, ...], max_tokens: int, seed: int,
              on_case: Callable[[], None] | None = None) -> dict[str, Any]:
    """Found (True/False) per planted position; a case that does not fit the context is skipped."""
    cases, found = [], 0
    for position in positions:
        case = retention_case(engine.tokenizer, doc_tokens, position, seed)
        budget = min(max_tokens, engine.context_tokens - len(case.prompt_ids) - 1)
        if budget < 4:
            cases.append({"position": position, "found": None, "note": "does not fit the context"})
            continue
        done = engine.generate_batch([case.prompt_ids], SamplingParams(max_tokens=budget), case.opens_think)[0]
        ok = case.code in done.reasoning + done.answer
        found += ok
        cases.append({"position": position, "found": ok, "prompt_tokens": len(case.prompt_ids)})
        if on_case:
            on_case()
    measured = [c for c in cases if c["found"] is not None]
    return {"cases": cases, "found": found, "total": len(measured),
            "rate": found / len(measured) if measured else float("nan")}


def task_accuracy(engine: Engine, model_dir: Path, n_examples: int, max_tokens: int) -> dict[str, Any]:
    """Accuracy on the first ``n_examples`` of the held-out questions ``model_dir`` ships (``heldout``)."""
    started = time.perf_counter()
    questions = heldout.load_heldout(model_dir)[:n_examples]
    graded = heldout.answer_heldout(engine, questions, max_tokens, batch=min(4, engine.config.max_sequences))
    n = len(graded)
    return {"accuracy": sum(g.correct for g in graded) / n if n else float("nan"), "n": n,
            "well_formed_rate": sum(g.well_formed for g in graded) / n if n else float("nan"),
            "seconds": time.perf_counter() - started}
