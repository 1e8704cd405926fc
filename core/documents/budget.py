"""The context budget: how many tokens a document may take in one prompt.

    room for the document = context - reserve (reasoning + answer) - frame (chat template, header, question)

The reserve is the caller's choice (4,096 tokens by default: an R1-style model thinks before it answers),
never below ``MIN_RESERVE_TOKENS``, and at most half of a small context (so a 2k-context model still gets
a document in; the reason says so). ``check`` refuses a prompt over the limit with both token counts:
nothing is ever truncated to fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.documents.errors import DocumentTooLongError

DEFAULT_RESERVE_TOKENS = 4096
MIN_RESERVE_TOKENS = 256
MIN_CONTEXT_TOKENS = 64


@dataclass(frozen=True, slots=True)
class ContextBudget:
    context_tokens: int
    reserve_tokens: int  # kept free for the reasoning and the answer
    requested_reserve_tokens: int

    def __post_init__(self) -> None:
        if self.context_tokens < MIN_CONTEXT_TOKENS:
            raise ValueError(f"a context of {self.context_tokens} tokens is too small for a document; "
                             f"at least {MIN_CONTEXT_TOKENS} are needed")
        if not 0 < self.reserve_tokens < self.context_tokens:
            raise ValueError(f"reserve_tokens ({self.reserve_tokens}) must be between 1 and the context "
                             f"({self.context_tokens}) - 1")

    @classmethod
    def for_context(cls, context_tokens: int, reserve_tokens: int = DEFAULT_RESERVE_TOKENS) -> ContextBudget:
        if context_tokens < MIN_CONTEXT_TOKENS:
            raise ValueError(f"a context of {context_tokens} tokens is too small for a document; "
                             f"at least {MIN_CONTEXT_TOKENS} are needed")
        reserve = min(max(reserve_tokens, MIN_RESERVE_TOKENS), context_tokens // 2)
        return cls(context_tokens, reserve, reserve_tokens)

    @property
    def prompt_limit_tokens(self) -> int:
        """The most tokens a prompt may have."""
        return self.context_tokens - self.reserve_tokens

    def room_for_document(self, frame_tokens: int) -> int:
        """Tokens left for the document once the prompt's frame (template, header, question) is counted."""
        return max(0, self.prompt_limit_tokens - frame_tokens)

    def describe(self) -> str:
        text = (f"context {self.context_tokens:,} tokens, {self.reserve_tokens:,} kept for the reasoning and the "
                f"answer, so prompts up to {self.prompt_limit_tokens:,} tokens")
        if self.reserve_tokens > self.requested_reserve_tokens:
            text += f" (the reserve is never below {MIN_RESERVE_TOKENS:,} tokens)"
        elif self.reserve_tokens < self.requested_reserve_tokens:
            text += (f" ({self.requested_reserve_tokens:,} were asked for the reserve, more than half of this "
                     "small context)")
        return text

    def check(self, prompt_tokens: int, name: str | None = None, hint: str = "") -> None:
        """Raise ``DocumentTooLongError`` with both counts when ``prompt_tokens`` does not fit."""
        if prompt_tokens > self.prompt_limit_tokens:
            raise DocumentTooLongError(prompt_tokens, self.context_tokens, reserve_tokens=self.reserve_tokens,
                                       name=name, hint=hint)

    def to_dict(self) -> dict[str, int]:
        return {"context_tokens": self.context_tokens, "reserve_tokens": self.reserve_tokens,
                "requested_reserve_tokens": self.requested_reserve_tokens,
                "prompt_limit_tokens": self.prompt_limit_tokens}
