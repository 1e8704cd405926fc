"""Reasoning vs answer: split generated text at ``<think>``/``</think>``, as a streaming state machine.

Feeding a text in pieces gives exactly what feeding it whole gives: the splitter holds back only the tail
that later text could still change (a partial tag). The opening tag is optional: newer DeepSeek templates
end the prompt with ``<think>\\n`` (see ``prompt_opens_think``), so the output only closes it. Pure Python.
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def prompt_opens_think(prompt_text: str) -> bool:
    """True when the rendered prompt ends inside an open ``<think>`` (output then only closes it)."""
    return prompt_text.rstrip().endswith(THINK_OPEN)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``tag`` (what to hold back)."""
    for k in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:k]):
            return k
    return 0


class ReasoningSplitter:
    """Streaming split of generated text into reasoning and answer (tags are not emitted).

    ``feed`` and ``finish`` return ``(reasoning, answer)``: within one call reasoning always comes first
    (once the answer has begun there is no way back into the reasoning), so a pair loses nothing.
    """

    def __init__(self, start_in_reasoning: bool = False):
        self._state = "reasoning" if start_in_reasoning else "start"  # start|reasoning|after_close|answer
        self._held = ""
        self._tags = (THINK_CLOSE,)  # what the answer never shows; "<think>" too once a think block has closed
        self.reasoning_unfinished = False  # set by finish() when generation ended inside <think>

    @property
    def in_reasoning(self) -> bool:
        return self._state == "reasoning"

    def feed(self, text: str) -> tuple[str, str]:
        buffer, self._held = self._held + text, ""
        reasoning = ""
        if self._state == "start":
            body = buffer.lstrip()
            if body.startswith(THINK_OPEN):
                self._state, buffer = "reasoning", body[len(THINK_OPEN):]
            elif THINK_OPEN.startswith(body):  # whitespace or a partial tag: undecided
                self._held = buffer
                return "", ""
            else:
                self._state = "answer"
        if self._state == "reasoning":
            end = buffer.find(THINK_CLOSE)
            if end < 0:
                keep = _partial_suffix(buffer, THINK_CLOSE)
                self._held = buffer[len(buffer) - keep:] if keep else ""
                return buffer[:len(buffer) - keep], ""
            reasoning = buffer[:end]
            self._state, buffer = "after_close", buffer[end + len(THINK_CLOSE):]
            self._tags = (THINK_CLOSE, THINK_OPEN)
        if self._state == "after_close":
            buffer = buffer.lstrip()  # the "\n\n" between </think> and the answer
            if buffer:
                self._state = "answer"
        return reasoning, self._answer(buffer) if self._state == "answer" else ""

    def _answer(self, buffer: str) -> str:
        """Answer text without stray tags; a tail that may still become one is held back."""
        for tag in self._tags:
            buffer = buffer.replace(tag, "")
        keep = max(_partial_suffix(buffer, tag) for tag in self._tags)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[:len(buffer) - keep]

    def finish(self) -> tuple[str, str]:
        """Release what was held back; sets ``reasoning_unfinished`` if the output never closed </think>."""
        held, self._held = self._held, ""
        if self._state == "reasoning":
            self.reasoning_unfinished = True
            return held, ""
        if self._state in ("start", "answer") and held.strip():
            return "", held  # a lone partial "<thi" is answer text after all
        return "", ""
