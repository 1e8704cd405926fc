"""The loaded model as the server sees it: its id, summary, card, plan, and default generation.

A request's sampling is the request's own values over the model folder's ``generation_config.json``
(temperature / top_p / top_k, as the model's authors recommend), else greedy. The longest answer is the
request's ``max_tokens``, else the folder's ``max_new_tokens``, else ``DEFAULT_MAX_TOKENS``: never "until
the context is full" unannounced. Grounded quotes are on when the request asks, or by default when the
folder names the phrase its model opens a quotation with (``ponder_quote_opener``; ``grounding.QuoteRules``
has the stricter rules it may ask for too). The request's fields
are declared once, in ``ChatCompletionRequest``; they become the engine's ``SamplingParams`` here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.engine.engine import Engine
from core.engine.grounding import QuoteGrounder, QuoteRules, quotable
from core.engine.launch import Launched, LaunchOptions
from core.engine.sampler import SamplingParams
from core.api.protocol import ChatCompletionRequest, ModelCard, ModelSummary
from core.server.errors import BadRequestError

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 8192  # the longest answer when neither the request nor the model folder says


@dataclass(frozen=True, slots=True)
class GenerationDefaults:
    temperature: float = 0.0  # greedy unless the model folder recommends otherwise
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0  # as transformers, applied whether or not the model samples
    max_tokens: int = DEFAULT_MAX_TOKENS  # generation_config's max_new_tokens
    quotes: QuoteRules | None = None  # grounded quotes on by default, under these rules (``ponder_quote_*``)

    @classmethod
    def from_dir(cls, model_dir: Path) -> GenerationDefaults:
        path = Path(model_dir) / "generation_config.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable %s (%s): default sampling is greedy", path, exc)
            return cls()
        if not isinstance(raw, dict):
            return cls()
        ok = lambda v, lo, hi: isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi  # noqa: E731
        r, n = raw.get("repetition_penalty"), raw.get("max_new_tokens")
        common = {"repetition_penalty": float(r) if ok(r, 1e-6, 10.0) else 1.0,
                  "max_tokens": int(n) if isinstance(n, int) and ok(n, 1, 10**7) else DEFAULT_MAX_TOKENS,
                  "quotes": QuoteRules.from_config(raw)}
        if raw.get("do_sample") is False:
            return cls(**common)
        t, p, k = raw.get("temperature"), raw.get("top_p"), raw.get("top_k")
        return cls(temperature=float(t) if ok(t, 0.0, 2.0) else 0.0,
                   top_p=float(p) if ok(p, 1e-6, 1.0) else 1.0,
                   top_k=int(k) if isinstance(k, int) and not isinstance(k, bool) and k >= 0 else 0, **common)


@dataclass(slots=True)
class ModelState:
    launched: Launched
    options: LaunchOptions
    id: str
    defaults: GenerationDefaults
    plan_dict: dict[str, Any]
    loaded_at: float

    @classmethod
    def from_launched(cls, launched: Launched, options: LaunchOptions) -> ModelState:
        folder = Path(options.model_dir)
        return cls(launched, options, model_id(folder), GenerationDefaults.from_dir(folder),
                   launched.plan.to_dict(), time.time())

    @property
    def engine(self) -> Engine:
        return self.launched.engine

    @property
    def context_tokens(self) -> int:
        return self.launched.engine.context_tokens

    def sampling_params(self, req: ChatCompletionRequest, prompt_tokens: int) -> SamplingParams:
        """The request's sampling over the model's defaults; the output fits what the context has left. An
        output cap the request asked for that does not fit next to the prompt is a 400 naming both numbers (as
        vLLM answers), never silently shortened."""
        d = self.defaults
        remaining = max(self.context_tokens - prompt_tokens, 1)
        asked = req.max_output_tokens()
        if asked is not None and prompt_tokens + asked > self.context_tokens:
            name = "max_completion_tokens" if req.max_completion_tokens else "max_tokens"
            raise BadRequestError(
                f"this model's context is {self.context_tokens:,} tokens, but {prompt_tokens:,} tokens of prompt and "
                f"{name}={asked:,} make {prompt_tokens + asked:,}; ask for at most {remaining:,} with {name} (or "
                "leave it out), or shorten the prompt", param=name, code="context_length_exceeded",
                extra={"prompt_tokens": prompt_tokens, "max_tokens": asked, "context_tokens": self.context_tokens})
        return SamplingParams(
            temperature=d.temperature if req.temperature is None else req.temperature,
            top_p=d.top_p if req.top_p is None else req.top_p,
            top_k=d.top_k if req.top_k is None else req.top_k,
            seed=req.seed, max_tokens=min(req.max_output_tokens() or d.max_tokens, remaining),
            stop=tuple(req.stop_strings()), ignore_eos=req.ignore_eos,
            frequency_penalty=req.frequency_penalty or 0.0, presence_penalty=req.presence_penalty or 0.0,
            repetition_penalty=d.repetition_penalty if req.repetition_penalty is None else req.repetition_penalty,
            repetition_guard=req.ponder is None or req.ponder.repetition_guard is not False)

    def grounder(self, req: ChatCompletionRequest) -> QuoteGrounder | None:
        """Grounded quotes for this request, over the documents in its system and user messages."""
        options = req.ponder
        asked = options.grounded_quotes if options is not None else None
        if asked is False or (asked is None and self.defaults.quotes is None):
            return None
        rules = self.defaults.quotes or QuoteRules()
        if options is not None:
            whole, near = options.quote_whole_sentences, options.quote_near_question
            rules = replace(rules, opener=options.quote_opener or rules.opener,
                            whole_sentences=rules.whole_sentences if whole is None else whole,
                            near_question=rules.near_question if near is None else near)
        users = [m.text() for m in req.messages if m.role == "user"]
        source = "\n\n".join(quotable(m.text()) for m in req.messages if m.role in ("system", "user"))
        return rules.grounder(self.engine.tokenizer, source, users[-1] if users else None)

    def card(self) -> ModelCard:
        """This model as ``GET /v1/models`` lists it."""
        return ModelCard(id=self.id, created=int(self.loaded_at), owned_by="ponder", root=self.summary().path,
                         precision=self.launched.plan.precision, max_model_len=self.context_tokens)

    def summary(self) -> ModelSummary:
        c, loaded = self.launched.loaded.config, self.launched.loaded
        return ModelSummary(
            id=self.id, path=str(Path(self.options.model_dir).resolve()), architecture=c.architecture,
            parameters=c.num_parameters(), layers=c.num_hidden_layers, hidden_size=c.hidden_size,
            attention_heads=c.num_attention_heads, kv_heads=c.num_key_value_heads, head_dim=c.head_dim,
            vocab_size=c.vocab_size, max_position_embeddings=c.max_position_embeddings,
            context_tokens=self.context_tokens, precision=loaded.precision, loaded_at=self.loaded_at,
            load_seconds=loaded.load_seconds)


def model_id(model_dir: Path) -> str:
    """The id clients send as ``model``: the folder's name (``ponder-reasoner-mini``)."""
    return Path(model_dir).resolve().name
