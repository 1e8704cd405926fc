"""The engine: requests in, token events out. ``add`` / ``step`` / ``abort``, and ``stream`` for one request.

One ``step`` is one forward pass over everything the scheduler picked (decode tokens of all running
sequences plus a prefill chunk), then sampling and output processing. The engine is single-threaded
by design; the server drives ``step`` from one thread and fans events out to requests.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence as Seq

import torch
from torch import Tensor

from core.engine.disk_cache import DiskCacheConfig, DiskPrefixCache
from core.engine.grounding import QuoteGrounder
from core.engine.kv_cache import KVCache
from core.engine.repetition import RepetitionGuard
from core.engine.output import OutputProcessor
from core.engine.runner import ModelRunner
from core.engine.sampler import SamplingParams, make_generator, sample_batch
from core.engine.scheduler import ScheduledBatch, Scheduler
from core.engine.sequence import PrefillProgress, RequestMetrics, Sequence
from core.engine.speculative import SpeculationConfig, Speculator
from core.tokenizer import Tokenizer
from core.models.loader import LoadedModel
from core.reasoning import prompt_opens_think

log = logging.getLogger(__name__)


class ContextLengthError(ValueError):
    """The prompt does not fit the context window; never truncated silently."""

    def __init__(self, prompt_tokens: int, context_tokens: int) -> None:
        self.prompt_tokens, self.context_tokens = prompt_tokens, context_tokens
        super().__init__(f"the prompt has {prompt_tokens} tokens but the context window is {context_tokens} tokens "
                         "(and at least one token is needed for the answer); shorten the prompt or load the model "
                         "with a longer context")


DEFAULT_STEP_TOKENS = 512


@dataclass(frozen=True, slots=True)
class EngineConfig:
    max_sequences: int = 4  # cache slots = sequences decoded together
    context_tokens: int = 4096  # per sequence: prompt + output
    step_token_budget: int = DEFAULT_STEP_TOKENS  # tokens per forward pass at most (prefill chunk size)
    max_waiting: int = 64  # queued requests beyond the running ones; more are refused (QueueFullError)
    # A pass with prefill aims at this long, so the streams decoding beside it keep flowing; 0: a fixed chunk.
    prefill_step_s: float = 0.25
    # ... and at this long when no stream decodes beside it: only Stop waits, and a longer chunk reads the weights
    # once for more tokens. A pass has a fixed cost (every weight read, and widened or dequantised where the CPU
    # lacks the 16-bit arithmetic: fp16 1.5B on a 2-core Zen 5, 0.3-0.5 s): a 1 s target gives chunks of 32-48
    # tokens, 2 s about 100 (prefill 75-85 tok/s against 69-78).
    prefill_alone_step_s: float = 2.0
    compile: bool = False
    speculation: SpeculationConfig = SpeculationConfig()  # prompt-lookup drafts, as many as measured to pay
    disk_cache: DiskCacheConfig | None = None  # long prompts' keys and values kept on disk (``disk_cache.py``)

    def __post_init__(self) -> None:
        if self.max_sequences < 1 or self.context_tokens < 2 or self.step_token_budget < 1:
            raise ValueError(f"invalid engine config {self}")


@dataclass(slots=True)
class TokenEvent:
    """What one step produced for one request."""

    request_id: str
    token_id: int | None
    reasoning: str = ""
    answer: str = ""
    finish_reason: str | None = None  # "stop" | "length" | "abort" when this is the last event
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    reasoning_unfinished: bool = False  # finished while still inside <think>
    error: str | None = None  # finish_reason "error": this request's own sampling or output processing failed


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """Live numbers for status pages and the metrics stream."""

    running: int
    waiting: int
    kv_tokens_used: int  # tokens held in the KV cache: running sequences plus prefixes kept for reuse
    kv_tokens_total: int
    kv_bytes_per_token: int
    tokens_generated: int  # since start
    last_ttft_s: float | None
    prefilling: int = 0  # requests whose prompt is being read (or waits for a slot)
    prefill_tokens_done: int = 0  # of their prompts, tokens already in the KV cache ...
    prefill_tokens_total: int = 0  # ... of this many

    @property
    def kv_bytes_used(self) -> int:
        return self.kv_tokens_used * self.kv_bytes_per_token

    @property
    def kv_bytes_total(self) -> int:
        return self.kv_tokens_total * self.kv_bytes_per_token


@dataclass(slots=True)
class Completion:
    """A finished request, for callers that do not stream (evaluation, RL sampling)."""

    token_ids: list[int] = field(default_factory=list)
    reasoning: str = ""
    answer: str = ""
    finish_reason: str | None = None
    reasoning_unfinished: bool = False
    metrics: RequestMetrics = field(default_factory=RequestMetrics)


class Engine:
    def __init__(self, loaded: LoadedModel, tokenizer: Tokenizer, config: EngineConfig = EngineConfig()) -> None:
        self.loaded, self.tokenizer, self.config = loaded, tokenizer, config
        mc = loaded.config
        self.context_tokens = min(config.context_tokens, mc.max_position_embeddings)
        self.cache = KVCache(mc.num_hidden_layers, config.max_sequences, self.context_tokens,
                             mc.num_key_value_heads, mc.head_dim, loaded.compute_dtype, loaded.device)
        self.runner = ModelRunner(loaded.model, self.cache, compile=config.compile)
        self.disk = DiskPrefixCache(config.disk_cache, self.cache) if config.disk_cache is not None else None
        self.scheduler = Scheduler(config.max_sequences, self.cache.copy_prefix, config.step_token_budget,
                                   config.max_waiting, restore=self.disk.restore if self.disk is not None else None)
        self._seqs: dict[str, Sequence] = {}
        self._outputs: dict[str, OutputProcessor] = {}
        self.speculator = Speculator(config.speculation, self.context_tokens) if config.speculation.enabled else None
        self._ids = itertools.count()
        self._tokens_generated = 0
        self._last_ttft_s: float | None = None

    # --- requests ---------------------------------------------------------------------------------
    def render_chat(self, messages: Seq[Mapping[str, Any]], **template_kwargs: Any) -> tuple[list[int], bool]:
        """Prompt ids for a chat (control strings in its text stay text), and whether the template already
        opened a ``<think>`` block; a prompt over the context raises ``PromptTooLongError`` early."""
        prompt = self.tokenizer.chat_prompt(messages, max_tokens=self.context_tokens - 1, **template_kwargs)
        return prompt.ids, prompt_opens_think(prompt.text)

    def add(self, prompt_ids: list[int], params: SamplingParams, start_in_reasoning: bool = False,
            request_id: str | None = None, grounder: QuoteGrounder | None = None) -> str:
        """Queue a request; ``grounder`` (``grounding.grounder_for``) keeps its quotations to the document."""
        if not prompt_ids:
            raise ValueError("the prompt is empty")
        if len(prompt_ids) >= self.context_tokens:
            raise ContextLengthError(len(prompt_ids), self.context_tokens)
        vocab = self.loaded.config.vocab_size
        if any(not 0 <= t < vocab for t in prompt_ids):
            raise ValueError(f"prompt token ids must be in [0, {vocab})")
        rid = request_id or f"req-{next(self._ids)}"
        if rid in self._seqs:
            raise ValueError(f"request id {rid!r} is already in use")
        seq = Sequence(rid, list(prompt_ids), params, make_generator(params, self.loaded.device), grounder=grounder,
                       guard=RepetitionGuard() if params.repetition_guard and not params.ignore_eos else None)
        self._seqs[rid] = seq
        self._outputs[rid] = OutputProcessor(self.tokenizer, params, start_in_reasoning)
        self.scheduler.add(seq)
        return rid

    def abort(self, request_id: str) -> TokenEvent | None:
        """Stop a request wherever it is (queued, prefilling, decoding) and free its cache slot."""
        seq = self._seqs.get(request_id)
        if seq is None:
            return None
        self.scheduler.finish(seq, "abort")
        return self._final_event(seq, "abort", None)

    def has_work(self) -> bool:
        return self.scheduler.has_work()

    def snapshot(self) -> EngineSnapshot:
        sched = self.scheduler
        used = sum(s.num_cached for s in sched.running) + sched.slots.cached_tokens()
        reading = self.prefill_progress()
        return EngineSnapshot(len(sched.running), len(sched.waiting), used, self.cache.num_slots * self.cache.max_tokens,
                              self.cache.bytes_per_token, self._tokens_generated, self._last_ttft_s, len(reading),
                              sum(p.done_tokens for p in reading), sum(p.total_tokens for p in reading))

    def prefill_progress(self) -> list[PrefillProgress]:
        """Every request whose prompt is not read yet: running ones mid-prefill, then the queued ones."""
        now = time.perf_counter()
        sched = self.scheduler
        return [s.prefill_progress(now) for s in (*sched.running, *sched.waiting) if s.prefilling]

    # --- the loop ---------------------------------------------------------------------------------
    def step(self) -> list[TokenEvent]:
        batch = self.scheduler.schedule()
        if batch is None:
            return []
        started = time.perf_counter()
        if self.speculator is not None:
            self.speculator.draft(batch)
        logits = self.runner.run(batch)
        if self.speculator is not None and batch.drafts:
            events = self._verify(batch, logits)
            self.speculator.timed(batch, time.perf_counter() - started)
            return events
        prefilled = sum(seg.length for seq, seg in zip(batch.seqs, batch.segments) if seq.prefilling)
        if prefilled and self.config.prefill_step_s:
            alone = prefilled == len(batch.tokens)
            target = max(self.config.prefill_step_s, self.config.prefill_alone_step_s) if alone \
                else self.config.prefill_step_s
            self.scheduler.tune_prefill(len(batch.tokens), time.perf_counter() - started, target)
        sampled = [s for s, flag in zip(batch.seqs, batch.sample) if flag]
        if any(s.grounder is not None for s in sampled):
            _ground(logits, sampled)
        tokens = self._sample(logits, sampled)
        for seq, seg in zip(batch.seqs, batch.segments):
            seq.num_cached = seg.start + seg.length
        if self.disk is not None:
            self._save_prompts(sampled)
        now = time.perf_counter()
        events = [self._advance(seq, tok, now) for seq, tok in zip(sampled, tokens)]
        if self.speculator is not None:  # the whole step, drafting and emitting included: what a draft must beat
            self.speculator.timed(batch, time.perf_counter() - started)
        return events

    def _save_prompts(self, sampled: list[Sequence]) -> None:
        """Prompts read just now: kept on disk when this pass ended a long prefill (not one mostly reused)."""
        for seq in sampled:
            if not seq.output_ids and len(seq.prompt_ids) - seq.metrics.cached_prompt_tokens >= self.disk.config.min_tokens:
                self.disk.save(seq.slot, seq.prompt_ids)

    def _verify(self, batch: ScheduledBatch, logits: Tensor) -> list[TokenEvent]:
        """A pass with drafts: each sampled sequence's rows in turn, token by token (``Speculator.verify``)."""
        for seq, seg, drafted in zip(batch.seqs, batch.segments, batch.drafts):
            seq.num_cached = seg.start + seg.length - drafted  # draft tokens count once accepted
        now = time.perf_counter()
        emit = lambda seq, token: self._advance(seq, token, now)  # noqa: E731
        events: list[TokenEvent] = []
        row = 0
        for seq, flag, drafted in zip(batch.seqs, batch.sample, batch.drafts):
            if flag:
                events += self.speculator.verify(seq, logits[row:row + 1 + drafted], self._choose, emit)
                row += 1 + drafted
        return events

    def _choose(self, seq: Sequence, row: Tensor) -> int | Exception:
        """One sequence's token from its logits row [1, V], as ``step`` chooses it."""
        if seq.grounder is not None:
            _ground(row, [seq])
        return self._sample(row, [seq])[0]

    def stream(self, prompt_ids: list[int], params: SamplingParams, start_in_reasoning: bool = False,
               grounder: QuoteGrounder | None = None) -> Iterator[TokenEvent]:
        """Run one request to completion (alone or alongside others already added)."""
        rid = self.add(prompt_ids, params, start_in_reasoning, grounder=grounder)
        try:
            while True:
                for event in self.step():
                    if event.request_id == rid:
                        yield event
                        if event.finish_reason:
                            return
        finally:
            if rid in self._seqs:
                self.abort(rid)

    def generate_batch(self, prompts: list[list[int]], params: SamplingParams | list[SamplingParams],
                       start_in_reasoning: bool = False,
                       grounders: list[QuoteGrounder | None] | None = None) -> list[Completion]:
        """Run many requests to completion, batched as slots allow; results in prompt order."""
        plist = params if isinstance(params, list) else [params] * len(prompts)
        glist = grounders if grounders is not None else [None] * len(prompts)
        ids = [self.add(p, sp, start_in_reasoning, grounder=g) for p, sp, g in zip(prompts, plist, glist)]
        done: dict[str, Completion] = {rid: Completion() for rid in ids}
        remaining = len(ids)
        while remaining:
            for event in self.step():
                c = done.get(event.request_id)
                if c is None:
                    continue
                if event.token_id is not None:
                    c.token_ids.append(event.token_id)
                c.reasoning += event.reasoning
                c.answer += event.answer
                if event.finish_reason:
                    c.finish_reason, c.metrics = event.finish_reason, event.metrics
                    c.reasoning_unfinished = event.reasoning_unfinished
                    remaining -= 1
        return [done[rid] for rid in ids]

    def _sample(self, logits: Tensor, sampled: list[Sequence]) -> list[int | Exception]:
        """One token per sequence; when the batch fails, each row alone, so only the failing request fails
        (its draw is its exception). A retried row's generator may have advanced once in the failed call."""
        try:
            return sample_batch(logits, [s.params for s in sampled], [s.generator for s in sampled],
                                [(s.prompt_ids, s.output_ids) for s in sampled])
        except Exception:  # noqa: BLE001 - isolated per row below
            tokens: list[int | Exception] = []
            for row, seq in zip(logits, sampled):
                try:
                    tokens += sample_batch(row[None], [seq.params], [seq.generator],
                                           [(seq.prompt_ids, seq.output_ids)])
                except Exception as exc:  # noqa: BLE001 - this request's own failure
                    tokens.append(exc)
            return tokens

    def _advance(self, seq: Sequence, token: int | Exception, now: float) -> TokenEvent:
        """``_on_token``; a request whose sampling or output processing failed finishes alone, with its error."""
        if not isinstance(token, Exception):
            try:
                return self._on_token(seq, token, now)
            except Exception as exc:  # noqa: BLE001 - this request's own failure; the batch goes on
                token = exc
        log.error("request %s failed while generating; the others go on", seq.id, exc_info=token)
        if seq.id in self._seqs:
            self.scheduler.finish(seq, "error")
            event = self._final_event(seq, "error", None)
        else:
            event = TokenEvent(seq.id, None, finish_reason="error", metrics=seq.metrics)
        event.error = f"{type(token).__name__}: {token}"
        return event

    def _on_token(self, seq: Sequence, token: int, now: float) -> TokenEvent:
        seq.output_ids.append(token)
        self._tokens_generated += 1
        m = seq.metrics
        m.completion_tokens = len(seq.output_ids)
        if m.first_token_s is None:
            m.first_token_s = now
            self._last_ttft_s = m.ttft_s
        if seq.grounder is not None:
            seq.grounder.advance(token)
            m.grounded_quotes = seq.grounder.quotes
        out = self._outputs[seq.id]
        reasoning, answer = out.add_token(token)
        m.reasoning_tokens = out.reasoning_tokens
        if out.stopped:
            reason, m.stop_reason = "stop", "eos" if token in out.eos_ids else "stop_string"
        elif seq.guard is not None and seq.guard.add(token):
            reason, m.stop_reason = "stop", "repetition"
        elif len(seq.output_ids) >= seq.params.max_tokens or seq.total_tokens >= self.context_tokens:
            reason = "length"
            m.stop_reason = "max_tokens" if len(seq.output_ids) >= seq.params.max_tokens else "context"
        else:
            return TokenEvent(seq.id, token, reasoning, answer, None, m)
        if reason != "stop" or m.stop_reason == "repetition":
            tail = out.finish()
            reasoning, answer = reasoning + tail[0], answer + tail[1]
        self.scheduler.finish(seq, reason)
        event = self._final_event(seq, reason, token)
        event.reasoning, event.answer = reasoning + event.reasoning, answer + event.answer
        return event

    def _final_event(self, seq: Sequence, reason: str, token: int | None) -> TokenEvent:
        seq.metrics.finished_s = time.perf_counter()
        out = self._outputs.pop(seq.id)
        del self._seqs[seq.id]
        if reason == "abort":
            seq.metrics.stop_reason = "abort"
        tail = out.finish() if reason == "abort" else None  # before reading reasoning_unfinished: finish sets it
        event = TokenEvent(seq.id, token, finish_reason=reason, metrics=seq.metrics,
                           reasoning_unfinished=out.reasoning_unfinished)
        if tail is not None:
            event.reasoning, event.answer = tail
        return event


@torch.inference_mode()
def _ground(logits: Tensor, sampled: list[Sequence]) -> None:
    """Restrict each grounded sequence's next token to what its quotation may take (rows of ``logits``, in
    place); counts the steps where that overrode the model's own first choice."""
    for row, seq in enumerate(sampled):
        rule = seq.grounder.constraint() if seq.grounder is not None else None
        if rule is None or not rule[1]:
            continue
        kind, ids = rule
        values = logits[row]
        top = int(values.argmax())
        index = torch.tensor(ids, dtype=torch.long, device=values.device)
        if kind == "allow":
            kept = values[index]
            values.fill_(float("-inf"))
            values[index] = kept
        else:
            values[index] = float("-inf")
        if values[top] == float("-inf"):
            seq.metrics.grounding_overrides += 1
