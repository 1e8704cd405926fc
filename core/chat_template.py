"""A model folder's chat template rendered in a sandbox with a time and an output-size limit.

Templates come from downloaded folders, so they are untrusted code: Jinja's immutable sandbox already
keeps them away from Python's internals, and this module keeps them from wedging or exhausting the process
that renders them (the engine, or the window counting a prompt):

- size: every string, list and number a template builds through an operator (``*``, ``+``, ``%``), a call
  (macros, methods, ``str.format``), a filter or a ``namespace`` assignment is checked against the output
  limit before it is built, and the output is counted as it streams;
- time: ``range`` (the usual loop source) and every call, filter and attribute lookup check the deadline,
  and a watchdog raises ``TemplateTimeout`` inside the rendering thread at the deadline (CPython's
  ``PyThreadState_SetAsyncExc``), which stops any pure-Python loop, e.g. one over a long string.

``render`` raises ``TemplateLimitError`` when a limit is exceeded; ``Tokenizer`` turns it into a
``TokenizerError`` naming the template file.
"""

from __future__ import annotations

import ctypes
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

# jinja2.debug now, not when Jinja first handles a template's error: the watchdog's exception must never land
# in the middle of an import (a half-imported module stays broken for the whole process).
import jinja2
import jinja2.debug  # noqa: F401
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, _PassArg, pass_context

MAX_RANGE = 100_000  # as Jinja's sandbox: one range() never has more items
MAX_TEMPLATE_CHARS = 1024 * 1024  # real chat templates are a few kilobytes
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})  # str methods taking a width
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "tojson"})
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(\*|\d{7,})|\{[^{}]*?\d{7,}[^{}]*\}")  # printf/format widths of >= 1e6


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """How long a render may take and how much text it may make: ``base_chars`` plus ``input_factor`` times
    the characters of the conversation (a template repeats parts of it, it does not multiply it)."""

    time_s: float = 5.0
    base_chars: int = 256 * 1024
    input_factor: int = 4

    def __post_init__(self) -> None:
        if not self.time_s > 0 or self.base_chars < 1 or self.input_factor < 1:
            raise ValueError(f"invalid template limits {self}")

    def max_chars(self, input_chars: int) -> int:
        return self.base_chars + self.input_factor * input_chars


REQUEST_LIMITS = TemplateLimits()
VALIDATION_LIMITS = TemplateLimits(time_s=1.0)  # the sample conversation at load renders in microseconds


class TemplateLimitError(ValueError):
    """The template exceeded its time or size limit; the message says which."""


class TemplateTimeout(BaseException):
    """Raised inside the rendering thread at the deadline; a BaseException so template code cannot catch it."""


@dataclass(slots=True)
class _Budget:
    deadline: float
    max_chars: int
    time_s: float


_active = threading.local()  # the budget of the render running on this thread


def _budget() -> _Budget | None:
    return getattr(_active, "budget", None)


def _check_time() -> None:
    budget = _budget()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateLimitError(f"it ran longer than its {budget.time_s:g} s limit")


def _check_size(value: Any, what: str = "a value", width: bool = False) -> Any:
    """``value`` unchanged, unless it is a string or sequence longer than the output limit (or, with ``width``,
    a number larger than it: the width of ``center``, ``ljust``, ``indent`` ...)."""
    budget = _budget()
    if budget is None:
        return value
    if isinstance(value, (str, list, tuple, dict)) and len(value) > budget.max_chars:
        raise _too_large(what, len(value), budget)
    if width and isinstance(value, int) and not isinstance(value, bool) and abs(value) > budget.max_chars:
        raise TemplateLimitError(f"it asked for a width of {value:,}, more than its limit of {budget.max_chars:,}")
    return value


def _too_large(what: str, size: int, budget: _Budget) -> TemplateLimitError:
    return TemplateLimitError(f"it built {what} of {size:,} items, more than its limit of {budget.max_chars:,} "
                              "characters")


def _length(value: Any) -> int:
    """Characters a value stands for when repeated or joined (a list counts its strings' lengths)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(len(item) if isinstance(item, str) else 1 for item in value)
    return 0


def _limited_range(*args: int) -> Any:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimitError(f"it asked for a range of {len(numbers):,} numbers (at most {MAX_RANGE:,})")
    return _TimedRange(numbers)


class _TimedRange:
    """A range whose iteration checks the deadline (nested loops over ranges are the usual runaway)."""

    def __init__(self, numbers: range) -> None:
        self._numbers = numbers

    def __iter__(self):
        for count, number in enumerate(self._numbers):
            if count % 256 == 0:
                _check_time()
            yield number

    def __len__(self) -> int:
        return len(self._numbers)


class _LimitedNamespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _check_size(value, f"the value of namespace attribute {name!r}"))


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the size and time checks above, and Hugging Face's template helpers."""

    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, raise_exception: Callable[[str], None]) -> None:
        # No constant folding: the optimizer would run filters on constants at compile time, outside the limits.
        super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols], optimized=False)
        self.filters = {name: _limited_filter(f, name) for name, f in self.filters.items()}
        self.filters["tojson"] = _limited_filter(_tojson, "tojson")
        self.tests = {name: _limited_test(t) for name, t in self.tests.items()}
        self.globals["range"] = _limited_range
        self.globals["namespace"] = _LimitedNamespace
        self.globals["raise_exception"] = raise_exception
        self.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self.globals["dict"] = lambda *args, **kwargs: dict(*args, **kwargs)  # no class object in reach

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        if budget is not None:
            if operator == "*" and isinstance(right, int) and (isinstance(left, (str, list, tuple))):
                left, right = right, left
            if operator == "*" and isinstance(left, int) and isinstance(right, (str, list, tuple)):
                if left > 0 and _length(right) * left > budget.max_chars:
                    raise _too_large("a repeated value", _length(right) * left, budget)
            elif operator == "+" and isinstance(left, (str, list, tuple)) and type(left) is type(right):
                if _length(left) + _length(right) > budget.max_chars:
                    raise _too_large("a concatenation", _length(left) + _length(right), budget)
            elif operator == "%" and isinstance(left, str):
                if _WIDE_FORMAT.search(left):
                    raise TemplateLimitError("it formatted with a field width of a million characters or more")
                for item in right if isinstance(right, tuple) else (right,):
                    _check_size(item, "a format argument", width=True)
            elif operator == "**" and isinstance(right, (int, float)) and abs(right) > 256:
                raise TemplateLimitError(f"it raised a number to the power {right:,} (at most 256)")
        return _check_size(super().call_binop(context, operator, left, right), f"the result of {operator!r}")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's names
        _check_time()
        width = getattr(__obj, "__name__", "") in _WIDTH_METHODS and isinstance(getattr(__obj, "__self__", None), str)
        for value in (*args, *kwargs.values()):
            _check_size(value, "a call argument", width)
        return _check_size(super().call(__context, __obj, *args, **kwargs), "the result of a call")

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_time()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _WIDE_FORMAT.search(value.__self__):
            raise TemplateLimitError("it formatted with a field width of a million characters or more")
        return wrapped


def _limited_filter(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A filter whose arguments and result are checked against the limits (``center(10**9)``, a huge join).

    It always takes the render context, which also keeps Jinja from running it on constants at compile time
    (outside any limit); the original filter gets what it asked for (context, eval context, environment)."""
    width = name in _WIDTH_FILTERS
    wants = _PassArg.from_obj(function)

    @pass_context
    def limited(context: Any, *args: Any, **kwargs: Any) -> Any:
        _check_time()
        for value in (*args, *kwargs.values()):
            _check_size(value, "a filter argument", width)
        if name == "format" and args and isinstance(args[0], str) and _WIDE_FORMAT.search(args[0]):
            raise TemplateLimitError("it formatted with a field width of a million characters or more")
        if args and isinstance(args[0], (list, tuple)):
            budget = _budget()
            if budget is not None and _length(args[0]) > budget.max_chars:
                raise _too_large("a filtered list", _length(args[0]), budget)
        if wants is _PassArg.context:
            args = (context, *args)
        elif wants is _PassArg.eval_context:
            args = (context.eval_ctx, *args)
        elif wants is _PassArg.environment:
            args = (context.environment, *args)
        return _check_size(function(*args, **kwargs), "the result of a filter")

    limited.__name__, limited.__doc__ = getattr(function, "__name__", name), function.__doc__
    return limited


def _limited_test(function: Callable[..., Any]) -> Callable[..., Any]:
    """A test (``is divisibleby`` ...) that checks the deadline; tests only answer True or False."""
    def limited(*args: Any, **kwargs: Any) -> Any:
        _check_time()
        return function(*args, **kwargs)

    for attribute in ("jinja_pass_arg", "__name__", "__doc__"):
        if hasattr(function, attribute):
            setattr(limited, attribute, getattr(function, attribute))
    return limited


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def text_size(value: Any) -> int:
    """Characters of the strings in a template input (messages, their fields, extra variables)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(text_size(k) + text_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(text_size(item) for item in value)
    return 0


def render(template: jinja2.Template, variables: Mapping[str, Any], limits: TemplateLimits) -> str:
    """Render within ``limits`` (on this thread); raises ``TemplateLimitError`` past one of them."""
    max_chars = limits.max_chars(text_size(variables))
    budget = _Budget(time.monotonic() + limits.time_s, max_chars, limits.time_s)
    previous = _budget()
    _active.budget = budget
    watchdog = _Watchdog(threading.get_ident(), limits.time_s)
    parts, total = [], 0
    try:
        try:
            watchdog.start()  # inside the try: a timeout may arrive before start returns
            for piece in template.generate(**variables):
                total += len(piece)
                if total > max_chars:
                    raise _too_large("an output", total, budget)
                parts.append(piece)
        finally:
            watchdog.stop()
    except TemplateTimeout:
        raise TemplateLimitError(f"it ran longer than its {limits.time_s:g} s limit") from None
    except RecursionError:
        raise TemplateLimitError("it recursed too deeply") from None
    except MemoryError:
        raise TemplateLimitError("it ran out of memory") from None
    finally:
        _active.budget = previous
    return "".join(parts)


class _Watchdog:
    """Raises ``TemplateTimeout`` once in the thread ``thread_id`` at the deadline (the cooperative checks keep
    failing after it too), under a lock that ``stop`` takes to end the watch and clear anything still pending:
    once ``stop`` has run, nothing can reach the thread any more. A single shot is what makes this safe: if it
    lands before ``stop`` takes the lock, it was the one, and it ends the render as intended."""

    def __init__(self, thread_id: int, time_s: float) -> None:
        self._thread_id, self._time_s = thread_id, time_s
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._active = True

    def start(self) -> None:
        threading.Thread(target=self._watch, name="template-watchdog", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._active = False
            _set_async_exception(self._thread_id, None)
        self._done.set()

    def _watch(self) -> None:
        if self._done.wait(self._time_s):
            return
        with self._lock:
            if self._active:
                _set_async_exception(self._thread_id, TemplateTimeout)


def _set_async_exception(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exception) if exception else None)
