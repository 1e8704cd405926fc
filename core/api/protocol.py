"""Wire types of the engine API (pydantic), shared by the server and ``core.client``.

OpenAI's chat-completions shapes plus DeepSeek's ``reasoning_content``, and the engine's own endpoints
(status, live events, load progress). No torch and no FastAPI here: the GUI imports this module.

Requests are strict where a wrong value would change the output (bounds, roles); unknown request fields are
kept (``extra="allow"``) so the server can name them in its 400 instead of ignoring them silently.
Responses are lenient (``extra="allow"``, optional fields) because the client also reads other
OpenAI-compatible servers (vLLM, SGLang), which add and omit fields of their own.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

API_PREFIX = "/v1"
DEFAULT_MODEL_ALIAS = "default"  # a request's ``model`` may name the served model, be omitted, or say this
SSE_DONE = "[DONE]"


class WireModel(BaseModel):
    """Base of every response type: unknown fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


class SparseWireModel(WireModel):
    """A response type some of whose fields are left out of the JSON when they are None.

    OpenAI's streaming shape needs this: a chunk's ``delta`` carries only what changed, and ``usage`` /
    ``ponder`` appear only on the chunks that report them, while ``finish_reason: null`` stays. Serialising
    with ``exclude_none`` would drop those nulls too, so each type names the fields it omits.
    """

    omitted_when_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in self.omitted_when_none:
            if name in data and data[name] is None:
                del data[name]
        return data


# --- requests ------------------------------------------------------------------------------------
class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # the server rejects unknown fields that carry a value
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    reasoning_content: str | None = None  # an assistant turn's reasoning (DeepSeek's field)
    name: str | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The content as one string (text parts joined by newlines, as vLLM does)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class PonderOptions(BaseModel):
    """Ponder's extension field ``ponder`` on a chat request; each option left out takes the model's default."""

    model_config = ConfigDict(extra="forbid")
    grounded_quotes: bool | None = None  # quotations of the documents can only quote what is there
    quote_opener: str | None = Field(None, min_length=1, max_length=64)  # what opens one ('The document says: "')
    quote_whole_sentences: bool | None = None  # a quote closes only where a sentence of the document ends
    quote_near_question: bool | None = None  # a quote opens only at a sentence close to the question's words
    repetition_guard: bool | None = None  # stop a generation that repeats itself (default on)


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # checked against the supported set by the server
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)  # extension (as vLLM): 0 = off
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)  # torch's seed range
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None  # only 1
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    repetition_penalty: float | None = Field(None, gt=0.0, le=10.0)  # extension (as vLLM); 1 = off
    ignore_eos: bool = False  # extension (as vLLM): generate up to max_tokens whatever the model says
    ponder: PonderOptions | None = None  # extension: grounded quotes, the repetition guard

    def stop_strings(self) -> list[str]:
        """``stop`` as a list (OpenAI accepts one string or several)."""
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def max_output_tokens(self) -> int | None:
        """The output cap asked for: ``max_completion_tokens`` supersedes the older ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None  # a model folder; omitted = the one loaded now
    precision: str | None = None  # auto | fp32 | bf16 | fp16 | int8 | int4; omitted = as now
    context: int | None = Field(None, ge=2)  # tokens per sequence; omitted = as now (or the new model's default)


class PlanRequest(LoadRequest):
    """``POST /v1/engine/plan``: the same fields as a load, answered without loading anything."""


# --- chat responses ------------------------------------------------------------------------------
class PromptTokensDetails(WireModel):
    cached_tokens: int | None = 0


class CompletionTokensDetails(WireModel):
    reasoning_tokens: int | None = 0


class Usage(WireModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class PonderStats(WireModel):
    """Ponder's extension on a response: per-request speed, and whether the reasoning ran out of tokens."""

    ttft_s: float | None = None
    prefill_tokens_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    reasoning_unfinished: bool = False
    stop_reason: str | None = None  # eos | stop_string | max_tokens | context | repetition | abort
    max_tokens: int | None = None  # the output cap that applied (the request's, else the model's default)
    grounded_quotes: int = 0  # quotations decoded under the grounding constraint
    grounding_overrides: int = 0  # tokens where the model's first choice was not in the document
    draft_tokens: int = 0  # prompt-lookup draft tokens verified ...
    accepted_draft_tokens: int = 0  # ... and accepted (each saved a forward pass)


class ResponseMessage(WireModel):
    role: str = "assistant"
    content: str | None = None
    reasoning_content: str | None = None


class Choice(WireModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletion(WireModel):
    id: str
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice]
    usage: Usage | None = None
    ponder: PonderStats | None = None


class Delta(SparseWireModel):
    """What one chunk adds; only the fields it sets are sent (reasoning before the answer)."""

    omitted_when_none = ("role", "reasoning_content", "content")
    role: str | None = None
    reasoning_content: str | None = None
    content: str | None = None


class ChunkChoice(WireModel):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: Any = None


class PromptProgress(WireModel):
    """How much of the prompt the server has read, on chunks sent while it reads a long one (llama.cpp's
    ``prompt_progress``, the same four fields): ``processed`` counts the tokens reused from the cache too."""

    total: int = 0
    cache: int = 0
    processed: int = 0
    time_ms: float = 0.0  # since the server started reading this prompt

    @property
    def fraction(self) -> float:
        return min(1.0, self.processed / self.total) if self.total else 0.0

    @property
    def tokens_per_s(self) -> float | None:
        computed = self.processed - self.cache
        return computed * 1000 / self.time_ms if computed > 0 and self.time_ms > 0 else None

    @property
    def eta_s(self) -> float | None:
        rate = self.tokens_per_s
        return max(0, self.total - self.processed) / rate if rate else None


class ChatCompletionChunk(SparseWireModel):
    # the finishing chunk reports ponder, the last one usage, chunks sent while a long prompt is read its progress
    omitted_when_none = ("usage", "ponder", "prompt_progress")
    id: str
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    ponder: PonderStats | None = None
    prompt_progress: PromptProgress | None = None


# --- models, errors, health ----------------------------------------------------------------------
class ModelCard(WireModel):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "ponder"
    root: str | None = None  # the model folder (vLLM's field)
    precision: str | None = None
    max_model_len: int | None = None  # the context window in tokens (vLLM's field)


class ModelList(WireModel):
    object: str = "list"
    data: list[ModelCard] = Field(default_factory=list)


class ErrorInfo(SparseWireModel):
    omitted_when_none = ("prompt_tokens", "context_tokens")
    message: str
    type: str = "server_error"
    param: str | None = None
    code: str | None = None
    prompt_tokens: int | None = None  # context_length_exceeded: the prompt's size ...
    context_tokens: int | None = None  # ... and the window it did not fit


class ErrorResponse(WireModel):
    error: ErrorInfo


class Health(WireModel):
    status: str


class CancelResult(WireModel):
    """What ``POST /v1/engine/cancel/{id}`` answers once the request is being stopped."""

    id: str
    object: str = "engine.cancel"
    cancelled: bool = True


# --- engine endpoints ----------------------------------------------------------------------------
LoadState = Literal["loading", "ready", "failed"]


class ModelSummary(WireModel):
    id: str
    path: str
    architecture: str = ""
    parameters: int = 0
    layers: int = 0
    hidden_size: int = 0
    attention_heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    vocab_size: int = 0
    max_position_embeddings: int = 0
    context_tokens: int = 0
    precision: str = ""
    loaded_at: float = 0.0  # unix time
    load_seconds: float = 0.0


class MemoryUsage(WireModel):
    weights_bytes: int = 0
    kv_cache_used_bytes: int = 0
    kv_cache_total_bytes: int = 0
    rss_bytes: int = 0
    peak_rss_bytes: int = 0
    vram_allocated_bytes: int | None = None  # None off CUDA
    vram_reserved_bytes: int | None = None


class QueueState(WireModel):
    running: int = 0
    waiting: int = 0
    max_sequences: int = 0
    max_waiting: int = 0


class LoadStatus(WireModel):
    state: LoadState
    stage: str | None = None  # while loading: planning | loading
    fraction: float | None = None
    target: str | None = None  # the folder being loaded
    error: str | None = None  # the last failed load's message


class EngineStatus(WireModel):
    version: str = ""
    load: LoadStatus
    model: ModelSummary | None = None
    plan: dict[str, Any] | None = None  # core.precision.PrecisionPlan.to_dict(), reasons included
    hardware: dict[str, Any] | None = None  # core.hardware.HardwareInfo.to_dict()
    memory: MemoryUsage = Field(default_factory=MemoryUsage)
    queue: QueueState = Field(default_factory=QueueState)
    kv_tokens_used: int = 0
    kv_tokens_total: int = 0
    notes: list[str] = Field(default_factory=list)


class EngineEvent(WireModel):
    """One live snapshot of ``GET /v1/engine/events`` (about two per second)."""

    time: float  # unix time
    state: LoadState
    tokens_per_s: float = 0.0  # generated tokens per second over the last few seconds
    last_ttft_s: float | None = None
    rss_bytes: int = 0
    vram_allocated_bytes: int | None = None
    vram_reserved_bytes: int | None = None
    kv_tokens_used: int = 0
    kv_tokens_total: int = 0
    kv_bytes_used: int = 0
    kv_bytes_total: int = 0
    running: int = 0
    waiting: int = 0
    prefilling: int = 0  # requests whose prompt is still being read (or waits for a slot)
    prefill_tokens_done: int = 0  # of their prompts, tokens read ...
    prefill_tokens_total: int = 0  # ... of this many


class LoadProgress(WireModel):
    """One event of ``POST /v1/engine/load``: planning, loading (fraction), then ready or error."""

    event: Literal["planning", "loading", "ready", "error"]
    fraction: float | None = None
    message: str | None = None
    model: ModelSummary | None = None  # ready: the new model; error: the one still serving (None if none)
    plan: dict[str, Any] | None = None


class PlanResult(WireModel):
    """What ``POST /v1/engine/plan`` answers: the plan a load with these options would get, or why it cannot.

    ``fits`` is False when the planner refuses (nothing fits, the override does not fit or cannot run here);
    then ``message`` says why with the numbers and ``needs_bytes`` is the estimate of the precision asked
    (or the smallest one, for "auto"). The budget is the free memory measured before the current model
    was loaded, i.e. what a reload that replaces it would have.
    """

    object: str = "engine.plan"
    model: str = ""  # the model folder planned for
    fits: bool
    precision: str | None = None  # the precision the load would use (None when it does not fit)
    plan: dict[str, Any] | None = None  # core.precision.PrecisionPlan.to_dict() when it fits
    needs_bytes: int = 0
    budget_bytes: int = 0
    message: str | None = None


class CpuSpeedResult(WireModel):
    """What ``POST /v1/engine/cpu-speed`` answers: bf16 against fp32 on this CPU, measured again now.

    ``replaced`` is False when other programs kept the CPU busy while it was measured: the measurement kept
    before (if any) is still the one in use, and ``message`` says so.
    """

    object: str = "engine.cpu_speed"
    replaced: bool
    bf16_faster: bool | None = None
    speedup: float | None = None  # fp32 time / bf16 time
    measured_at: float | None = None  # unix time of the measurement in use
    other_load: float | None = None  # share of the CPU other programs used during the new measurement
    message: str = ""


# --- benchmark runs --------------------------------------------------------------------------------
BenchState = Literal["running", "done", "cancelled", "failed"]


class BenchRequest(BaseModel):
    """``POST /v1/bench/runs``: quick (under two minutes for the bundled model) or full; the loaded model by
    default. ``SuiteConfig.describe`` says what each measures."""

    model_config = ConfigDict(extra="forbid")
    quick: bool = True
    model: str | None = None  # a model folder; omitted = the one the engine serves
    precisions: list[str] | None = Field(None, min_length=1)  # omitted = every precision this hardware runs
    seed: int = Field(0, ge=0)
    threads: int | None = Field(None, ge=1)


class BenchRun(WireModel):
    """A benchmark run's progress; ``result`` (``core.bench.suite``'s dict): the precisions measured so far while
    it runs, all of them once done, the partial one if cancelled."""

    object: str = "bench.run"
    id: str
    state: BenchState
    fraction: float = 0.0
    stage: str = ""
    precision: str | None = None  # the precision being measured
    index: int = 0  # its number (0-based) among ``count``
    count: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    message: str | None = None  # why it failed
    result: dict[str, Any] | None = None
