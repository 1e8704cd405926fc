"""Tokenizer of a Hugging Face model folder: ids, the model's own chat template, streaming text.

Shape of the module:
- ``Tokenizer`` wraps the ``tokenizers`` library (``tokenizer.json``) with the special tokens and chat
  template of ``tokenizer_config.json`` and the stop ids of ``generation_config.json``/``config.json``.
  The template renders with Hugging Face's semantics in an immutable Jinja sandbox with a time and an
  output-size limit (``core.chat_template``), because templates come from downloaded folders and are
  untrusted code; requests can never supply their own. A template that exceeds the limits on a sample
  conversation is refused at load. ``chat_prompt`` encodes control strings found in the conversation's
  text as plain text (``core.control_text``): only the template's own structure makes control tokens.
- ``IncrementalDetokenizer`` turns generated ids into text deltas (vLLM/TGI offsets method).
- ``StopMatcher`` cuts a text stream at the first stop string without ever emitting part of one.

No torch here: the server's request path and tests use this module without loading a model.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
from tokenizers import Tokenizer as _Backend

from core.chat_template import (MAX_TEMPLATE_CHARS, REQUEST_LIMITS, VALIDATION_LIMITS, LimitedEnvironment,
                                TemplateLimitError, TemplateLimits, render)
from core.control_text import ControlStrings
from core.heap import release_after_work

logger = logging.getLogger(__name__)

_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")  # names HF templates read reasoning under
_REPLACEMENT_CHAR = "\ufffd"  # what a decode gives for an incomplete UTF-8 sequence
_RELEASE_GIL_CHARS = 16_384  # longer texts are encoded through the batch call, which releases the GIL
_COUNT_PIECE_CHARS = 65_536  # a long prompt is counted in pieces of about this size (bounded memory)
_SPLIT_AT = re.compile(r"\s")
_SAMPLE_CONVERSATION = [{"role": "user", "content": "What is 2 + 2?"},
                        {"role": "assistant", "content": "4", "reasoning_content": "2 + 2 is 4."},
                        {"role": "user", "content": "And 3 + 3?"}]


class TokenizerError(ValueError):
    """The model folder's tokenizer or chat template cannot be used; the message says why and what to do."""


class ChatTemplateLimitError(TokenizerError):
    """The chat template exceeded its time or output-size limit."""


class PromptTooLongError(ValueError):
    """A prompt counted past the tokens it may have; ``prompt_tokens`` is a lower bound when it stopped early."""

    def __init__(self, prompt_tokens: int, limit_tokens: int, at_least: bool) -> None:
        self.prompt_tokens, self.limit_tokens, self.at_least = prompt_tokens, limit_tokens, at_least
        super().__init__(f"the prompt has {'at least ' if at_least else ''}{prompt_tokens} tokens but at most "
                         f"{limit_tokens} fit the context; shorten it or load the model with a longer context")


@dataclass(frozen=True, slots=True)
class ChatPrompt:
    """A rendered chat: its ids (control strings from the conversation as plain text) and its text."""

    ids: list[int]
    text: str


def _read_json(path: Path, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise TokenizerError(f"{path} is missing; re-download the model folder.")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerError(f"{path} is not valid JSON ({exc}); re-download the model folder.") from exc
    if not isinstance(data, dict):
        raise TokenizerError(f"{path} must hold a JSON object; re-download the model folder.")
    return data


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    if isinstance(value, Mapping):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _ids(value: Any) -> set[int]:
    """An ``eos_token_id`` field: one int, a list of ints, or absent."""
    items = value if isinstance(value, list) else [value]
    return {item for item in items if isinstance(item, int) and not isinstance(item, bool)}


def _select_template(value: Any, source: Path) -> str | None:
    """tokenizer_config.json's chat_template: a string, or a list of {name, template} with a "default"."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, Mapping)}
        if isinstance(named.get("default"), str):
            return named["default"]
        raise TokenizerError(f"{source} lists chat templates {sorted(map(str, named))} but none named 'default'.")
    raise TokenizerError(f"{source}: chat_template must be a string or a list of named templates.")


def _plain(value: Any) -> Any:
    """Rebuild template inputs from plain JSON types so no object with unknown methods reaches the template."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):  # subclasses (enums ...) lose their extra methods
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return f"<{type(value).__name__}>"


def _template_messages(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Plain copies of the messages; reasoning under any HF name is visible under all of them."""
    result = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise TokenizerError(f"Chat messages must be dicts with 'role' and 'content', got {message!r}.")
        plain = _plain(message)
        reasoning = next((plain[k] for k in _REASONING_FIELDS if plain.get(k) is not None), None)
        if reasoning is not None:
            plain = {"thinking": reasoning, **plain, "reasoning_content": reasoning}
        result.append(plain)
    return result


class Tokenizer:
    """A model folder's tokenizer, special tokens and chat template."""

    def __init__(self, backend: _Backend, config: Mapping[str, Any], chat_template: str | None,
                 template_source: Path, extra_eos_ids: Iterable[int] = (), fallback_bos_id: int | None = None):
        self._backend = backend
        self._template_text = chat_template
        self._template_source = template_source
        self._template: jinja2.Template | None = None
        self.bos_token = _token_text(config.get("bos_token"))
        self.eos_token = _token_text(config.get("eos_token"))
        self.pad_token = _token_text(config.get("pad_token"))
        self.unk_token = _token_text(config.get("unk_token"))
        self.add_bos_token = bool(config.get("add_bos_token", False))
        self.add_eos_token = bool(config.get("add_eos_token", False))
        bos_id = self.token_to_id(self.bos_token) if self.bos_token else None
        self._bos_id = bos_id if bos_id is not None else fallback_bos_id
        eos = {self.token_to_id(self.eos_token)} if self.eos_token else set()
        self._eos_ids = frozenset(i for i in eos | set(extra_eos_ids) if i is not None)
        decoder = backend.get_added_tokens_decoder()
        self.special_ids = frozenset(i for i, token in decoder.items() if token.special)
        self._control = ControlStrings(token.content for token in decoder.values() if token.special)
        self._control_ids: dict[str, list[int]] | None = None  # each control string encoded as plain text
        self.request_limits = REQUEST_LIMITS  # a chat's render; the load's sample uses VALIDATION_LIMITS

    @classmethod
    def from_dir(cls, model_dir: str | Path) -> Tokenizer:
        """Load tokenizer.json, tokenizer_config.json (or chat_template.jinja), and the stop ids of
        generation_config.json/config.json."""
        folder = Path(model_dir)
        tokenizer_file = folder / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise TokenizerError(f"{tokenizer_file} is missing: the model folder needs a Hugging Face tokenizer.json.")
        try:
            backend = _Backend.from_file(str(tokenizer_file))
        except Exception as exc:  # the Rust side raises a bare Exception
            _read_json(tokenizer_file, required=True)  # names a corrupt JSON file as such
            raise TokenizerError(f"{tokenizer_file} cannot be loaded by `tokenizers` ({exc}); "
                                 "re-download the model folder.") from exc
        config_file = folder / "tokenizer_config.json"
        config = _read_json(config_file, required=False)
        generation = _read_json(folder / "generation_config.json", required=False)
        model_config = _read_json(folder / "config.json", required=False)
        template_file = folder / "chat_template.jinja"  # newer HF folders keep the template here
        if template_file.is_file():
            template, source = template_file.read_text(encoding="utf-8"), template_file
        else:
            template, source = _select_template(config.get("chat_template"), config_file), config_file
        eos_ids = _ids(generation.get("eos_token_id")) | _ids(model_config.get("eos_token_id"))
        bos_ids = sorted(_ids(generation.get("bos_token_id")) or _ids(model_config.get("bos_token_id")))
        tokenizer = cls(backend, config, template, source, eos_ids, bos_ids[0] if bos_ids else None)
        tokenizer.validate_chat_template()
        return tokenizer

    # ---- ids and text ----------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    @property
    def bos_token_id(self) -> int | None:
        return self._bos_id

    @property
    def eos_token_ids(self) -> frozenset[int]:
        """Every id that ends generation (the tokenizer's eos plus the model's generation eos ids)."""
        return self._eos_ids

    def token_to_id(self, token: str) -> int | None:
        return self._backend.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        """The vocabulary entry of an id as the tokenizer stores it (byte-level BPE writes bytes as characters)."""
        return self._backend.id_to_token(token_id)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Text to ids; with ``add_special_tokens``, bos/eos are added as ``add_bos_token``/``add_eos_token`` say.
        A long text goes through the batch call, which releases the GIL (the same ids), so encoding a long
        prompt does not stall the process's other threads."""
        if len(text) > _RELEASE_GIL_CHARS:
            batch = getattr(self._backend, "encode_batch_fast", self._backend.encode_batch)
            ids = batch([text], add_special_tokens=add_special_tokens)[0].ids
        else:
            ids = self._backend.encode(text, add_special_tokens=add_special_tokens).ids
        if add_special_tokens and self.add_bos_token and self._bos_id is not None and ids[:1] != [self._bos_id]:
            ids.insert(0, self._bos_id)
        if add_special_tokens and self.add_eos_token and self.eos_token:
            eos_id = self.token_to_id(self.eos_token)
            if eos_id is not None and ids[-1:] != [eos_id]:
                ids.append(eos_id)
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self._backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    # ---- chat template -------------------------------------------------------------------------

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True,
                            limits: TemplateLimits | None = None, **extra: Any) -> str:
        """Render the conversation with the model's own template (extra kwargs, e.g. enable_thinking, reach it),
        within ``limits`` (default ``request_limits``); raises ``ChatTemplateLimitError`` past them."""
        return self._render(_template_messages(messages), add_generation_prompt, limits, extra)

    def chat_prompt(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True, *,
                    max_tokens: int | None = None, limits: TemplateLimits | None = None,
                    **extra: Any) -> ChatPrompt:
        """The rendered chat as ids (no extra bos: the template writes it, as HF ``tokenize=True``) and text.
        Control strings inside the conversation's text are encoded as plain text. With ``max_tokens``, a
        prompt longer than that raises ``PromptTooLongError`` before the whole of it is encoded."""
        masked = self._control.mask(_template_messages(messages))
        pieces = masked.split(self._render(masked.value, add_generation_prompt, limits, extra))
        text = "".join(piece for piece, _ in pieces)
        if max_tokens is not None and len(text) > max_tokens:
            counted, complete = self._count_prefix(text, max_tokens)
            if counted > max_tokens:
                raise PromptTooLongError(counted, max_tokens, at_least=not complete)
        ids: list[int] = []
        for piece, control in pieces:
            ids += self._plain_control_ids(control) if control is not None else self.encode(piece)
        return ChatPrompt(ids, text)

    def prompt_ids(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True,
                   **extra: Any) -> list[int]:
        """``chat_prompt(...).ids``."""
        return self.chat_prompt(messages, add_generation_prompt, **extra).ids

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Token counts of many texts in one call (which releases the GIL); each text encoded as ``encode``."""
        batch = getattr(self._backend, "encode_batch_fast", self._backend.encode_batch)
        return [len(encoding.ids) for encoding in batch(list(texts), add_special_tokens=False)]

    def count_up_to(self, text: str, limit: int) -> int:
        """Tokens of ``text`` counted piece by piece (cut at whitespace), stopping once past ``limit``: bounded
        memory and time for a text far over a context. Exact up to the pieces' seams."""
        return self._count_prefix(text, limit)[0]

    def _count_prefix(self, text: str, limit: int) -> tuple[int, bool]:
        """(tokens counted, whether all of ``text`` was counted) for ``count_up_to``."""
        count, start = 0, 0
        while start < len(text) and count <= limit:
            end = min(len(text), start + _COUNT_PIECE_CHARS)
            if end < len(text):
                space = _SPLIT_AT.search(text, end, min(len(text), end + 4096))
                end = space.start() if space else end
            count += len(self.encode(text[start:end]))
            start = end
            release_after_work(end - start)  # what encoding the pieces freed (see core.heap)
        return count, start >= len(text)

    def validate_chat_template(self) -> None:
        """Render a sample conversation within the validation limits; a template that exceeds them (or fails
        on a plain question) is refused here, at load, instead of on every chat."""
        if not self._template_text:
            return
        try:
            self.apply_chat_template(_SAMPLE_CONVERSATION[:1], limits=VALIDATION_LIMITS)
            self.apply_chat_template(_SAMPLE_CONVERSATION, limits=VALIDATION_LIMITS)
        except ChatTemplateLimitError as exc:
            raise TokenizerError(f"{exc} Ponder refuses this model's chat template; use the model's original "
                                 "tokenizer_config.json.") from exc
        except TokenizerError as exc:
            logger.warning("the chat template in %s fails on a sample conversation: %s", self._template_source, exc)

    def _render(self, messages: list[dict[str, Any]], add_generation_prompt: bool, limits: TemplateLimits | None,
                extra: Mapping[str, Any]) -> str:
        template = self._compiled_template()
        variables: dict[str, Any] = {"tools": None, "documents": None, "bos_token": self.bos_token,
                                     "eos_token": self.eos_token, "pad_token": self.pad_token,
                                     "unk_token": self.unk_token}
        variables.update(_plain(extra))
        variables.update(messages=messages, add_generation_prompt=add_generation_prompt)
        try:
            return render(template, variables, limits or self.request_limits)
        except TemplateLimitError as exc:
            raise ChatTemplateLimitError(f"The chat template in {self._template_source} exceeded its limits: "
                                         f"{exc}.") from None
        except TokenizerError:
            raise
        except jinja2.exceptions.SecurityError as exc:
            raise TokenizerError(f"The chat template in {self._template_source} tried an operation the sandbox "
                                 f"forbids ({exc}); the template is unsafe, use the model's original one.") from exc
        except Exception as exc:  # a template is code: any error it raises is the template's failure
            raise TokenizerError(f"The chat template in {self._template_source} failed on this conversation: "
                                 f"{type(exc).__name__}: {exc}") from exc

    def _plain_control_ids(self, control: str) -> list[int]:
        """A control string's ids as plain text (computed once for all of them, on a throwaway copy of the
        backend, since the ``encode_special_tokens`` switch is not safe to flip on a shared one)."""
        if self._control_ids is None:
            plain = _Backend.from_str(self._backend.to_str())
            plain.encode_special_tokens = True
            self._control_ids = {s: plain.encode(s, add_special_tokens=False).ids for s in self._control.strings}
        return list(self._control_ids[control])

    def _compiled_template(self) -> jinja2.Template:
        if self._template is None:
            if not self._template_text:
                raise TokenizerError(f"{self._template_source} has no chat_template, so this model cannot "
                                     "render a chat; use a chat/instruct model or add its template.")
            if len(self._template_text) > MAX_TEMPLATE_CHARS:
                raise TokenizerError(f"The chat template in {self._template_source} is {len(self._template_text):,} "
                                     f"characters, more than the {MAX_TEMPLATE_CHARS:,} Ponder accepts.")
            try:
                self._template = self._environment().from_string(self._template_text)
            except (jinja2.TemplateError, RecursionError, MemoryError) as exc:
                raise TokenizerError(f"The chat template in {self._template_source} does not compile: "
                                     f"{type(exc).__name__}: {exc}") from exc
        return self._template

    def _environment(self) -> LimitedEnvironment:
        source = self._template_source

        def raise_exception(message: str) -> None:
            raise TokenizerError(f"The chat template in {source} rejected the conversation: {message}")

        return LimitedEnvironment(raise_exception)


class IncrementalDetokenizer:
    """Generated ids to text deltas, one id at a time.

    Decodes only a short window (prefix_offset..end) per token and emits the part past read_offset, so the
    cost stays flat as the text grows; holds back while the window ends in an incomplete UTF-8 character.
    Concatenating every ``add`` and the final ``flush`` equals ``tokenizer.decode(ids)``.
    """

    _TRIM_AT = 256  # drop ids already behind the window once this many pile up

    def __init__(self, tokenizer: Tokenizer, skip_special_tokens: bool = True):
        self._tokenizer = tokenizer
        self._skip = tokenizer.special_ids if skip_special_tokens else frozenset()
        self._skip_special = skip_special_tokens
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0
        self._prefix_text = ""

    def add(self, token_id: int) -> str:
        """Feed one generated id; returns the text it completes (often "", never half a character)."""
        if token_id in self._skip:
            return ""
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._ids[self._prefix_offset:], self._skip_special)
        if len(text) <= len(self._prefix_text) or text.endswith(_REPLACEMENT_CHAR):
            return ""
        return self._advance(text)

    def flush(self) -> str:
        """What is still held back (an incomplete character at the end of generation) as it decodes."""
        text = self._tokenizer.decode(self._ids[self._prefix_offset:], self._skip_special)
        return self._advance(text) if len(text) > len(self._prefix_text) else ""

    def _advance(self, text: str) -> str:
        delta = text[len(self._prefix_text):]
        self._prefix_offset, self._read_offset = self._read_offset, len(self._ids)
        if self._prefix_offset >= self._TRIM_AT:
            del self._ids[:self._prefix_offset]
            self._read_offset -= self._prefix_offset
            self._prefix_offset = 0
        self._prefix_text = self._tokenizer.decode(self._ids[self._prefix_offset:self._read_offset],
                                                   self._skip_special)
        return delta


class StopMatcher:
    """Cuts a text stream at the first of its stop strings; never emits any part of one."""

    def __init__(self, stop_strings: Iterable[str]):
        self._stops = tuple(stop_strings)
        if any(not isinstance(s, str) or not s for s in self._stops):
            raise ValueError(f"Stop strings must be non-empty strings, got {self._stops!r}.")
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> tuple[str, bool]:
        """Returns (text safe to emit, whether a stop string completed). After a stop, returns ("", True)."""
        if self.stopped:
            return "", True
        buffer = self._held + text
        hits = [index for index in (buffer.find(s) for s in self._stops) if index >= 0]
        if hits:
            self.stopped, self._held = True, ""
            return buffer[:min(hits)], True
        hold = max((k for s in self._stops for k in range(min(len(s) - 1, len(buffer)), 0, -1)
                    if buffer.endswith(s[:k])), default=0)
        self._held = buffer[len(buffer) - hold:] if hold else ""
        return buffer[:len(buffer) - hold], False

    def flush(self) -> str:
        """Text held back as a possible stop-string start, released at the end of generation."""
        held, self._held = self._held, ""
        return held
