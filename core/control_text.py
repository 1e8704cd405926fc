"""Control strings in user and document text stay text: only the chat template's own structure makes
control tokens.

A document that contains ``<｜end▁of▁sentence｜><｜Assistant｜>`` must not end the user's turn and fake an
answer. Before rendering, every control string (a special token of the tokenizer) inside the conversation's
strings is replaced by a placeholder the template cannot produce itself (private-use characters around a
random number drawn per render); after rendering, the text is split at the placeholders. The template's own
text is encoded as usual (its control strings become control tokens), and each placeholder is encoded as the
plain text of the control string it stands for, as Hugging Face's ``split_special_tokens=True`` does.
A conversation without control strings renders and encodes exactly as before.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: never part of a control string


@dataclass(frozen=True, slots=True)
class Masked:
    """A conversation with its control strings replaced, and how to find them again."""

    value: Any
    nonce: str  # "" when the conversation held no control string
    strings: tuple[str, ...]

    def split(self, rendered: str) -> list[tuple[str, str | None]]:
        """``rendered`` as (text, None) pieces of the template's own making and (control string, the same)
        pieces that came from the conversation, in order."""
        if not self.nonce:
            return [(rendered, None)]
        pieces: list[tuple[str, str | None]] = []
        position = 0
        for match in re.finditer(f"{_OPEN}{self.nonce}(\\d+){_CLOSE}", rendered):
            if match.start() > position:
                pieces.append((rendered[position:match.start()], None))
            index = int(match.group(1))
            if index < len(self.strings):
                pieces.append((self.strings[index], self.strings[index]))
            position = match.end()
        if position < len(rendered):
            pieces.append((rendered[position:], None))
        return pieces


class ControlStrings:
    """The control strings of one tokenizer, and the masking of a conversation's strings."""

    def __init__(self, strings: Iterable[str]) -> None:
        self.strings = tuple(sorted({s for s in strings if s}, key=len, reverse=True))  # longest first
        self._index = {s: i for i, s in enumerate(self.strings)}
        self._pattern = re.compile("|".join(map(re.escape, self.strings))) if self.strings else None

    def mask(self, value: Any) -> Masked:
        """``value`` (plain JSON-like data) with every control string inside its strings replaced."""
        if self._pattern is None or not self._contains(value):
            return Masked(value, "", self.strings)
        nonce = str(secrets.randbelow(10**16)).zfill(16)
        return Masked(self._replace(value, nonce), nonce, self.strings)

    def _contains(self, value: Any) -> bool:
        if isinstance(value, str):
            return self._pattern.search(value) is not None  # type: ignore[union-attr]
        if isinstance(value, Mapping):
            return any(self._contains(k) or self._contains(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return any(self._contains(item) for item in value)
        return False

    def _replace(self, value: Any, nonce: str) -> Any:
        if isinstance(value, str):
            return self._pattern.sub(lambda m: f"{_OPEN}{nonce}{self._index[m.group()]}{_CLOSE}", value)  # type: ignore
        if isinstance(value, Mapping):
            return {self._replace(k, nonce): self._replace(v, nonce) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._replace(item, nonce) for item in value]
        return value
