"""A chat's questions over its documents: the messages a chat turn sends, by the chosen strategy.

``DocumentContext.prepare(history, ask)`` takes the chat's messages (the last one the new question) and
returns the messages to send, yielding what happens on the way (the ``QuestionPrompt``, then, for sequential
reading, a ``ReadProgress`` before each part). It runs on a worker thread; the GUI shows the items.

- ``whole``: the documents go first in the chat's *first* user message, in their stable rendering, so every
  follow-up question shares them as a prompt prefix and the engine's prefix cache pays their prefill once.
- ``retrieval``: the passages for this question go into this question's message (earlier turns unchanged).
- ``sequential``: the parts are read with ``ask`` (notes carried forward); the final question is sent alone,
  with the notes, by the caller (so it streams like any answer).

The whole conversation is counted; a prompt over the budget raises ``DocumentTooLongError`` with both token
counts. Nothing is truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, Sequence

from core.documents.budget import ContextBudget
from core.documents.combine import DocumentSet
from core.documents.errors import ParseCancelledError
from core.documents.prompt import question_messages
from core.documents.sequential import Ask, ReadProgress
from core.documents.strategy import QuestionPrompt, IndexedDocument
from core.documents.tokens import TokenCounter

Messages = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """The outcome of ``prepare``: the messages to send, their token count and the ``QuestionPrompt`` that made them."""

    messages: Messages
    prompt_tokens: int
    prompt: QuestionPrompt


class DocumentContext:
    """A chat's documents prepared for questions (build once per set of documents and model; off the GUI thread)."""

    def __init__(self, documents: DocumentSet, counter: TokenCounter, budget: ContextBudget,
                 strategy: str | None = None, **index_options: Any) -> None:
        self.documents, self.counter, self.budget, self.strategy = documents, counter, budget, strategy
        self.indexed = IndexedDocument(documents.combined, counter, render=documents.render, **index_options)

    @property
    def document_tokens(self) -> int:
        return self.indexed.document_tokens

    def with_options(self, budget: ContextBudget | None = None, strategy: str | None = "keep") -> DocumentContext:
        """The same documents (chunks and index reused) with another budget or strategy ("auto" = None)."""
        other = object.__new__(DocumentContext)
        other.documents, other.counter, other.indexed = self.documents, self.counter, self.indexed
        other.budget = budget or self.budget
        other.strategy = self.strategy if strategy == "keep" else (None if strategy == "auto" else strategy)
        return other

    def prompt(self, question: str) -> QuestionPrompt:
        return self.indexed.prompt(question, self.budget, self.strategy)

    def prepare(self, history: Sequence[dict[str, Any]], ask: Ask) -> Generator[QuestionPrompt | ReadProgress, None,
                                                                                    Prepared]:
        """Yield the ``QuestionPrompt`` (and sequential progress); return the messages to send. See the module docstring."""
        messages = [dict(m) for m in history]
        last = _last_user(messages)
        question = str(messages[last]["content"])
        prompt = self.prompt(question)
        yield prompt
        if prompt.strategy == "sequential":
            reader = self.indexed.sequential_reader(question, self.budget, ask)
            result = yield from reader.read(answer=False)
            if result is None:
                raise ParseCancelledError("Reading the document was cancelled.", name=self.documents.combined.name)
            final = [dict(m) for m in result.final_messages]
            return Prepared(final, self.counter.count_prompt(final), prompt)
        if prompt.strategy == "whole":
            first = _first_user(messages)
            messages[first] = {**messages[first],
                               "content": question_messages(self.indexed.rendered, str(messages[first]["content"]))[0][
                                   "content"]}
        else:
            messages[last] = {**messages[last], **prompt.messages[0]}
        tokens = self.counter.count_prompt(messages)
        self.budget.check(tokens, self.documents.combined.name,
                          hint="The conversation has grown too long for the context with the document in it: start a "
                               "new chat for this question, or choose the retrieval strategy.")
        return Prepared(messages, tokens, prompt)


def _last_user(messages: Messages) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    raise ValueError("there is no question: the messages have no user turn")


def _first_user(messages: Messages) -> int:
    return next(i for i, m in enumerate(messages) if m.get("role") == "user")
