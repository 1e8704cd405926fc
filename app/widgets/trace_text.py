"""A reasoning trace in words: the one-line summaries the view shows, and what "Copy trace" / "Export…" write.

All of it reads a ``core.reasoning.ReasoningTrace`` (a snapshot) and computes nothing of its own. No Qt here.
"""

from __future__ import annotations

from typing import Any

from core.reasoning import ReasoningTrace, Step

LENGTH = "length"  # the finish reason when max tokens was reached


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


def thought_text(trace: ReasoningTrace) -> str:
    if trace.thought_s is None and not trace.reasoning_tokens:  # a stored chat without timings
        return f"Reasoned in {len(trace.steps)} step" + ("" if len(trace.steps) == 1 else "s")
    return f"Thought for {duration_text(trace.thought_s)}, {tokens_text(trace.reasoning_tokens)}"


def header_text(trace: ReasoningTrace) -> str:
    """The line above the steps: what the wait is spent on, "Thinking…" while reasoning, then how it went."""
    if trace.streaming:
        if trace.waiting and trace.reading is not None:
            return ("Answering from the notes…" if trace.reading.answering
                    else f"Reading part {trace.reading.part} of {trace.reading.parts}…")
        if trace.waiting and trace.prompt is not None:
            return "Reading the prompt…"
        if trace.thought_s is None:
            return "Thinking…"
        return thought_text(trace) if trace.steps else "Answering…"
    if trace.status == "stopped":
        reading = trace.reading
        if reading is not None and not reading.answering and not trace.tokens:
            return f"Stopped while reading part {reading.part} of {reading.parts}"
        return "Stopped"
    if trace.stop_reason == "repetition":
        return f"The model began repeating itself; stopped after {tokens_text(trace.tokens)}"
    if trace.status == "interrupted":
        return "Interrupted — the engine stopped; partial answer kept"
    if trace.status == "error":
        detail = (trace.error or "").strip()
        return f"Failed: {detail}" if detail else "Failed: the request did not complete"
    limit = "the context is full" if trace.stop_reason == "context" else "max tokens reached"
    if trace.finish_reason == LENGTH and not trace.answer.strip():
        return f"Reasoning ran out of tokens before an answer ({limit})"
    text = thought_text(trace) if trace.steps else "No reasoning steps"
    if trace.finish_reason == LENGTH:
        text += f" · answer cut off ({limit})"
    return text


def left_text(seconds: float | None) -> str:
    """"about 18 s left" ("" when not known yet)."""
    if seconds is None:
        return ""
    return f"about {max(1, round(seconds))} s left" if seconds < 90 else f"about {round(seconds / 60)} min left"


def waiting_text(trace: ReasoningTrace) -> str:
    """Before the first token: the part of a document being read, how much of the prompt is read, the time left."""
    parts: list[str] = []
    reading, prompt = trace.reading, trace.prompt
    if reading is not None:
        parts.append("Answering from the notes" if reading.answering else f"Reading part {reading.part} of "
                     f"{reading.parts}")
        if reading.eta_s is not None and not reading.answering:
            parts.append(left_text(reading.eta_s))
    if prompt is not None:
        read = f"{prompt.done_tokens:,} of {prompt.total_tokens:,} prompt tokens read ({prompt.fraction:.0%})"
        if prompt.cached_tokens:
            read += f", {prompt.cached_tokens:,} from the cache"
        parts.append(read)
        if prompt.tokens_per_s:
            parts.append(f"{prompt.tokens_per_s:,.0f} tokens/s")
        if reading is None and prompt.eta_s is not None:
            parts.append(left_text(prompt.eta_s))
    return " · ".join(parts)


def waiting_fraction(trace: ReasoningTrace) -> float | None:
    """How far the wait has come (0..1): parts read plus the current part's prompt; None when nothing is known."""
    reading, prompt = trace.reading, trace.prompt
    if reading is not None:
        within = prompt.fraction if prompt is not None else 0.0
        return min(1.0, (min(reading.part, reading.parts + 1) - 1 + within) / (reading.parts + 1))
    return prompt.fraction if prompt is not None else None


def budget_text(trace: ReasoningTrace) -> str:
    text = f"reasoning {trace.reasoning_tokens:,} · answer {trace.answer_tokens:,} tokens"
    if trace.max_tokens:
        text += f" of {trace.max_tokens:,}"
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
def trace_markdown(trace: ReasoningTrace) -> str:
    """The whole trace as Markdown: the summary, each step with its numbers, then the answer."""
    lines = [f"**{header_text(trace)}**", "", f"_{budget_text(trace)}_", "", "## Reasoning", ""]
    if not trace.steps:
        lines += ["_No reasoning steps_", ""]
    for step in trace.steps:
        meta = step_meta_text(step)
        lines += [f"### Step {step.index}. {step.title}", ""] + ([f"_{meta}_", ""] if meta else [])
        lines += [step.text, ""]
    lines += ["## Answer", "", trace.answer.strip() or "_No answer_", ""]
    return "\n".join(lines)


def trace_json(trace: ReasoningTrace, message_id: int | str) -> dict[str, Any]:
    """The whole trace as JSON-ready data (steps with their token counts and times, every figure)."""
    return {
        "message_id": message_id,
        "status": trace.status,
        "finish_reason": trace.finish_reason,
        "summary": header_text(trace),
        "reasoning_tokens": trace.reasoning_tokens,
        "answer_tokens": trace.answer_tokens,
        "thought_s": trace.thought_s,
        "max_tokens": trace.max_tokens,
        "steps": [{"index": s.index, "title": s.title, "kind": s.kind, "text": s.text, "token_count": s.token_count,
                   "start_s": s.start_s, "end_s": s.end_s} for s in trace.steps],
        "reasoning": trace.reasoning,
        "answer": trace.answer,
        "stats": trace.stored_stats(),
    }
