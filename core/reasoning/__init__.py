"""Reasoning streams, torch-free and Qt-free (the window, the client and the engine all use them).

- ``splitter``: generated text -> reasoning and answer (``<think>`` ... ``</think>``);
- ``steps``: the reasoning cut into steps with token counts and times;
- ``trace``: ``ReasoningTrace``, the one owner of a streamed answer (its text, steps, token counts, times,
  status and the server's figures), which the chat worker fills, the store saves and the window shows.
"""

from core.reasoning.splitter import THINK_CLOSE, THINK_OPEN, ReasoningSplitter, prompt_opens_think
from core.reasoning.steps import Step, StepKind, StepTracker, segment_steps, step_body, step_title
from core.reasoning.trace import FINISH_STATUSES, STREAMING, DocumentReading, PromptReading, ReasoningTrace

__all__ = ["FINISH_STATUSES", "STREAMING", "THINK_CLOSE", "THINK_OPEN", "DocumentReading", "PromptReading",
           "ReasoningSplitter", "ReasoningTrace", "Step",
           "StepKind", "StepTracker", "prompt_opens_think", "segment_steps", "step_body", "step_title"]
