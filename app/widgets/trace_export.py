"""The record behind one assistant message of the reasoning view, and its text forms. No Qt here.

- ``TraceMessage``: what the view shows for one answer: the reasoning and its steps, the answer, token
  counts, how long it thought, how it ended. ``ReasoningView`` fills one while streaming;
  ``message_from_history`` rebuilds one from a stored chat message.
- ``header_text`` / ``budget_text`` / ``step_meta_text``: the one-line summaries the view shows.
- ``trace_markdown`` / ``trace_json``: what "Copy trace" and "Export…" write.
- ``history_entry``: the stored-chat dict (role, content, reasoning, status, stats) that
  ``ReasoningView.show_history`` reads back into the same view as the live one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.reasoning import Step, segment_steps

STREAMING = "streaming"
FINISH_STATUSES = ("complete", "stopped", "interrupted", "error")
LENGTH = "length"  # the finish reason when max tokens was reached


@dataclass(slots=True)
class TraceMessage:
    """One assistant answer. Times are seconds since the request started; ``steps`` as ``core.reasoning``."""

    message_id: int | str
    reasoning: str = ""
    answer: str = ""
    steps: list[Step] = field(default_factory=list)
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    thought_s: float | None = None  # when the reasoning ended (first answer text, or the end)
    finish_reason: str | None = None
    status: str = STREAMING  # streaming, then one of FINISH_STATUSES
    max_tokens: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # as given to finish() (ttft, speed, error, ...)


# --- one-line summaries --------------------------------------------------------------------------
def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def tokens_text(count: int) -> str:
    return f"{count:,} token" + ("" if count == 1 else "s")


def thought_text(message: TraceMessage) -> str:
    if message.thought_s is None and not message.reasoning_tokens:  # a stored chat without timings
        return f"Reasoned in {len(message.steps)} step" + ("" if len(message.steps) == 1 else "s")
    return f"Thought for {duration_text(message.thought_s)}, {tokens_text(message.reasoning_tokens)}"


def header_text(message: TraceMessage) -> str:
    """The line above the steps: "Thinking…" while reasoning, then how it went."""
    if message.status == STREAMING:
        if message.thought_s is None:
            return "Thinking…"
        return thought_text(message) if message.steps else "Answering…"
    if message.status == "stopped":
        return "Stopped"
    if message.status == "interrupted":
        return "Interrupted — the engine stopped; partial answer kept"
    if message.status == "error":
        detail = str(message.stats.get("error") or "").strip()
        return f"Failed: {detail}" if detail else "Failed: the request did not complete"
    if message.finish_reason == LENGTH and not message.answer.strip():
        return "Reasoning ran out of tokens before an answer (max tokens reached)"
    text = thought_text(message) if message.steps else "No reasoning steps"
    if message.finish_reason == LENGTH:
        text += " · answer cut off (max tokens reached)"
    return text


def budget_text(message: TraceMessage) -> str:
    text = f"reasoning {message.reasoning_tokens:,} · answer {message.answer_tokens:,} tokens"
    if message.max_tokens:
        text += f" of {message.max_tokens:,}"
    return text


def step_elapsed_s(step: Step, now_s: float | None = None) -> float | None:
    """Seconds the step took (so far, for the open step at ``now_s``); None when its times are unknown."""
    end = step.end_s if step.end_s is not None else now_s
    if end is None or (step.start_s == 0 and end == 0):
        return None
    return max(0.0, end - step.start_s)


def step_meta_text(step: Step, now_s: float | None = None) -> str:
    """"42 tokens · 1.3 s"; empty when neither is known (a stored chat without step timings)."""
    parts = [tokens_text(step.token_count)] if step.token_count else []
    elapsed = step_elapsed_s(step, now_s)
    if elapsed is not None:
        parts.append(duration_text(elapsed))
    return " · ".join(parts)


# --- copy / export -------------------------------------------------------------------------------
def trace_markdown(message: TraceMessage) -> str:
    """The whole trace as Markdown: the summary, each step with its numbers, then the answer."""
    lines = [f"**{header_text(message)}**", "", f"_{budget_text(message)}_", "", "## Reasoning", ""]
    if not message.steps:
        lines += ["_No reasoning steps_", ""]
    for step in message.steps:
        meta = step_meta_text(step)
        lines += [f"### Step {step.index}. {step.title}", ""] + ([f"_{meta}_", ""] if meta else [])
        lines += [step.text, ""]
    lines += ["## Answer", "", message.answer.strip() or "_No answer_", ""]
    return "\n".join(lines)


def trace_json(message: TraceMessage) -> dict[str, Any]:
    """The whole trace as JSON-ready data (steps with their token counts and times)."""
    return {
        "message_id": message.message_id,
        "status": message.status,
        "finish_reason": message.finish_reason,
        "summary": header_text(message),
        "reasoning_tokens": message.reasoning_tokens,
        "answer_tokens": message.answer_tokens,
        "thought_s": message.thought_s,
        "max_tokens": message.max_tokens,
        "steps": [{"index": s.index, "title": s.title, "kind": s.kind, "text": s.text, "token_count": s.token_count,
                   "start_s": s.start_s, "end_s": s.end_s} for s in message.steps],
        "reasoning": message.reasoning,
        "answer": message.answer,
        "stats": dict(message.stats),
    }


# --- stored chats --------------------------------------------------------------------------------
def history_entry(message: TraceMessage) -> dict[str, Any]:
    """The dict to store for this message; ``message_from_history`` turns it back into the same record."""
    stats = dict(message.stats)
    stats.update(finish_reason=message.finish_reason, reasoning_tokens=message.reasoning_tokens,
                 answer_tokens=message.answer_tokens, thought_s=message.thought_s, max_tokens=message.max_tokens,
                 step_tokens=[s.token_count for s in message.steps],
                 step_times=[[s.start_s, s.end_s] for s in message.steps])
    return {"role": "assistant", "content": message.answer, "reasoning": message.reasoning,
            "status": message.status, "stats": stats}


def message_from_history(entry: dict[str, Any], message_id: int | str) -> TraceMessage:
    """A stored assistant message as a record: steps re-cut with ``segment_steps``, numbers from ``stats``.

    A message stored while it was still streaming (the app died) comes back as interrupted.
    """
    stats = dict(entry.get("stats") or {})
    reasoning = entry.get("reasoning") or ""
    steps = segment_steps(reasoning)
    tokens, times = stats.pop("step_tokens", None), stats.pop("step_times", None)
    if isinstance(tokens, list) and len(tokens) == len(steps):
        steps = [dataclasses.replace(s, token_count=int(n)) for s, n in zip(steps, tokens)]
    if isinstance(times, list) and len(times) == len(steps):
        steps = [dataclasses.replace(s, start_s=float(a or 0.0), end_s=None if b is None else float(b))
                 for s, (a, b) in zip(steps, times)]
    status = entry.get("status") or "complete"
    status = status if status in FINISH_STATUSES else "interrupted"
    thought = stats.pop("thought_s", None)
    return TraceMessage(
        message_id=message_id, reasoning=reasoning, answer=entry.get("content") or "", steps=steps,
        reasoning_tokens=int(stats.pop("reasoning_tokens", None) or sum(s.token_count for s in steps)),
        answer_tokens=int(stats.pop("answer_tokens", None) or 0),
        thought_s=None if thought is None else float(thought),
        finish_reason=stats.pop("finish_reason", None), status=status,
        max_tokens=stats.pop("max_tokens", None), stats=stats)


__all__ = ["TraceMessage", "STREAMING", "FINISH_STATUSES", "header_text", "budget_text", "step_meta_text",
           "step_elapsed_s", "duration_text", "trace_markdown", "trace_json", "history_entry",
           "message_from_history"]
